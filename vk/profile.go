package vk

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"io"
	"sort"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"
)

type profEntry struct {
	label string
	work  Work
	query uint32
}

type profStat struct {
	calls int
	ns    float64
	work  Work
}

// profiler accumulates per-kernel GPU time from timestamp queries
// (TESSERA_PROFILE=1) and prints a table when the device closes.
type profiler struct {
	periodNs float64
	stats    map[string]*profStat
}

func newProfiler(period float32) *profiler {
	return &profiler{periodNs: float64(period), stats: map[string]*profStat{}}
}

// beginTimestamp writes the start timestamp of a dispatch when profiling.
func (sl *slot) beginTimestamp(d *Device, label string, w Work) int {
	if d.prof == nil || sl.queries == nil {
		return -1
	}
	q := uint32(2 * len(sl.prof))
	C.tsr_cmd_timestamp(d.fns, C.VkCommandBuffer(unsafe.Pointer(sl.cb)), sl.queries, C.uint32_t(q), 0)
	sl.prof = append(sl.prof, profEntry{label: label, work: w, query: q})
	return int(q)
}

func (sl *slot) endTimestamp(d *Device, q int) {
	if q < 0 {
		return
	}
	C.tsr_cmd_timestamp(d.fns, C.VkCommandBuffer(unsafe.Pointer(sl.cb)), sl.queries, C.uint32_t(q+1), 1)
}

func (p *profiler) collect(d *Device, sl *slot) {
	n := uint32(2 * len(sl.prof))
	data := make([]uint64, n)
	res := vk.GetQueryPoolResults(d.handle, vk.QueryPool(unsafe.Pointer(sl.queries)), 0, n, uint(8*n),
		unsafe.Pointer(&data[0]), 8, vk.QueryResultFlags(vk.QueryResult64Bit|vk.QueryResultWaitBit))
	if res != vk.Success {
		return
	}
	for _, e := range sl.prof {
		st := p.stats[e.label]
		if st == nil {
			st = &profStat{}
			p.stats[e.label] = st
		}
		st.calls++
		st.ns += float64(data[e.query+1]-data[e.query]) * p.periodNs
		st.work.Flops += e.work.Flops
		st.work.Bytes += e.work.Bytes
	}
}

// ProfileRow is one kernel's line of the profile.
type ProfileRow struct {
	Kernel  string
	Calls   int
	TotalMs float64
	GFlops  float64 // 0 when the kernel reported no arithmetic
	GBps    float64
}

// Profile returns the per-kernel totals so far, slowest first; nil unless
// TESSERA_PROFILE=1.
func (d *Device) Profile() []ProfileRow {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.prof == nil {
		return nil
	}
	_ = d.syncLocked()
	return d.prof.rows()
}

func (p *profiler) rows() []ProfileRow {
	rows := make([]ProfileRow, 0, len(p.stats))
	for label, st := range p.stats {
		r := ProfileRow{Kernel: label, Calls: st.calls, TotalMs: st.ns / 1e6}
		if st.ns > 0 {
			r.GFlops = st.work.Flops / st.ns
			r.GBps = st.work.Bytes / st.ns
		}
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].TotalMs > rows[j].TotalMs })
	return rows
}

func (p *profiler) print(w io.Writer, device string) {
	rows := p.rows()
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\nTESSERA_PROFILE: GPU time per kernel on %s\n", device)
	fmt.Fprintf(w, "%-40s %8s %12s %10s %10s\n", "kernel", "calls", "total ms", "GFLOP/s", "GB/s")
	for _, r := range rows {
		fmt.Fprintf(w, "%-40s %8d %12.3f %10.2f %10.2f\n", r.Kernel, r.Calls, r.TotalMs, r.GFlops, r.GBps)
	}
}
