package vk

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"
)

// Access says how a dispatch uses a buffer range.
type Access uint8

// Buffer accesses; a kernel argument is read, written, or both.
const (
	Read      Access = 1
	Write     Access = 2
	ReadWrite Access = Read | Write
)

// Arg is one buffer binding of a dispatch.
type Arg struct {
	R      Range
	Access Access
}

// In and Out build read and write arguments.
func In(r Range) Arg    { return Arg{R: r, Access: Read} }
func Out(r Range) Arg   { return Arg{R: r, Access: Write} }
func InOut(r Range) Arg { return Arg{R: r, Access: ReadWrite} }

// Work is a dispatch's arithmetic and memory traffic, for the profiler.
type Work struct {
	Flops, Bytes float64
}

const (
	slotCount     = 3    // command buffers in rotation
	slotCommands  = 1024 // commands recorded before a submit
	slotSets      = slotCommands
	slotBindings  = slotCommands * 8
	trackedRanges = 512 // hazards tracked before a barrier anyway
)

type extent struct {
	blk      int
	off, end uint64
}

func (a extent) overlaps(b extent) bool { return a.blk == b.blk && a.off < b.end && b.off < a.end }

type slot struct {
	cb       vk.CommandBuffer
	fence    vk.Fence
	pool     C.VkDescriptorPool
	queries  C.VkQueryPool
	prof     []profEntry
	staging  []Range // staging ranges freed when this slot completes
	commands int
	bindings int
	open     bool
}

// StreamStats counts what the stream recorded since the device opened.
type StreamStats struct {
	Dispatches, Copies, Barriers, Submits uint64
}

type stream struct {
	d        *Device
	cmdPool  vk.CommandPool
	slots    []*slot
	idle     []*slot
	inflight []*slot
	cur      *slot
	written  []extent
	read     []extent
	stats    StreamStats
}

func newStream(d *Device) (*stream, error) {
	s := &stream{d: d}
	pci := vk.CommandPoolCreateInfo{
		SType:            vk.StructureTypeCommandPoolCreateInfo,
		Flags:            vk.CommandPoolCreateFlags(vk.CommandPoolCreateResetCommandBufferBit),
		QueueFamilyIndex: d.Info.queueFamily,
	}
	var cmdPool vk.CommandPool
	if res := vk.CreateCommandPool(d.handle, &pci, nil, &cmdPool); res != vk.Success {
		return nil, wrapResult("vkCreateCommandPool", res)
	}
	s.cmdPool = cmdPool
	cbs := make([]vk.CommandBuffer, slotCount)
	ai := vk.CommandBufferAllocateInfo{
		SType:              vk.StructureTypeCommandBufferAllocateInfo,
		CommandPool:        s.cmdPool,
		Level:              vk.CommandBufferLevelPrimary,
		CommandBufferCount: slotCount,
	}
	if res := vk.AllocateCommandBuffers(d.handle, &ai, cbs); res != vk.Success {
		return nil, wrapResult("vkAllocateCommandBuffers", res)
	}
	dev := C.VkDevice(unsafe.Pointer(d.handle))
	for _, cb := range cbs {
		var fence vk.Fence
		fci := vk.FenceCreateInfo{SType: vk.StructureTypeFenceCreateInfo}
		if res := vk.CreateFence(d.handle, &fci, nil, &fence); res != vk.Success {
			return nil, wrapResult("vkCreateFence", res)
		}
		sl := &slot{cb: cb, fence: fence}
		if !d.pushDesc {
			var pool C.VkDescriptorPool
			if res := C.tsr_descpool_create(d.fns, dev, slotSets, slotBindings, &pool); res != C.VK_SUCCESS {
				return nil, fmt.Errorf("vk: vkCreateDescriptorPool: VkResult %d", int(res))
			}
			sl.pool = pool
		}
		if d.prof != nil {
			qci := vk.QueryPoolCreateInfo{SType: vk.StructureTypeQueryPoolCreateInfo, QueryType: vk.QueryTypeTimestamp, QueryCount: 2 * slotCommands}
			var qp vk.QueryPool
			if res := vk.CreateQueryPool(d.handle, &qci, nil, &qp); res != vk.Success {
				return nil, wrapResult("vkCreateQueryPool", res)
			}
			sl.queries = C.VkQueryPool(unsafe.Pointer(qp))
		}
		s.slots = append(s.slots, sl)
		s.idle = append(s.idle, sl)
	}
	return s, nil
}

func (s *stream) destroy() {
	dev := C.VkDevice(unsafe.Pointer(s.d.handle))
	for _, sl := range s.slots {
		vk.DestroyFence(s.d.handle, sl.fence, nil)
		if sl.pool != nil {
			C.tsr_descpool_destroy(s.d.fns, dev, sl.pool)
		}
		if sl.queries != nil {
			vk.DestroyQueryPool(s.d.handle, vk.QueryPool(unsafe.Pointer(sl.queries)), nil)
		}
	}
	vk.DestroyCommandPool(s.d.handle, s.cmdPool, nil)
}

// idleNow reports whether no work is recorded or in flight.
func (s *stream) idleNow() bool {
	return (s.cur == nil || s.cur.commands == 0) && len(s.inflight) == 0
}

// begin returns the slot being recorded, opening one if needed. It needs
// room for one more command with nbind bindings.
func (s *stream) begin(nbind int) (*slot, error) {
	if s.cur != nil && (s.cur.commands+1 > slotCommands || s.cur.bindings+nbind > slotBindings) {
		if err := s.submit(); err != nil {
			return nil, err
		}
	}
	if s.cur != nil {
		return s.cur, nil
	}
	if len(s.idle) == 0 {
		if err := s.waitOldest(); err != nil {
			return nil, err
		}
	}
	sl := s.idle[len(s.idle)-1]
	s.idle = s.idle[:len(s.idle)-1]
	bi := vk.CommandBufferBeginInfo{SType: vk.StructureTypeCommandBufferBeginInfo, Flags: vk.CommandBufferUsageFlags(vk.CommandBufferUsageOneTimeSubmitBit)}
	if res := vk.BeginCommandBuffer(sl.cb, &bi); res != vk.Success {
		s.idle = append(s.idle, sl)
		return nil, wrapResult("vkBeginCommandBuffer", res)
	}
	cb := C.VkCommandBuffer(unsafe.Pointer(sl.cb))
	if sl.queries != nil {
		C.tsr_cmd_reset_queries(s.d.fns, cb, sl.queries, 0, 2*slotCommands)
	}
	// Work in earlier submissions is ordered before this command buffer by
	// one barrier: submission order is the only link between them.
	C.tsr_cmd_barrier(s.d.fns, cb)
	s.stats.Barriers++
	s.written, s.read = s.written[:0], s.read[:0]
	sl.open = true
	s.cur = sl
	return sl, nil
}

// hazard records args' accesses and emits a barrier first if any of them
// conflicts with an access since the last barrier.
func (s *stream) hazard(sl *slot, args []Arg) {
	conflict := len(s.written)+len(s.read)+len(args) > trackedRanges
	for _, a := range args {
		if conflict {
			break
		}
		e := extent{a.R.blk.id, a.R.Offset, a.R.Offset + a.R.Size}
		for _, w := range s.written {
			if w.overlaps(e) {
				conflict = true
				break
			}
		}
		if a.Access&Write != 0 && !conflict {
			for _, r := range s.read {
				if r.overlaps(e) {
					conflict = true
					break
				}
			}
		}
	}
	if conflict {
		C.tsr_cmd_barrier(s.d.fns, C.VkCommandBuffer(unsafe.Pointer(sl.cb)))
		s.stats.Barriers++
		s.written, s.read = s.written[:0], s.read[:0]
	}
	for _, a := range args {
		e := extent{a.R.blk.id, a.R.Offset, a.R.Offset + a.R.Size}
		if a.Access&Write != 0 {
			s.written = append(s.written, e)
		}
		if a.Access&Read != 0 {
			s.read = append(s.read, e)
		}
	}
}

// submit ends and submits the slot being recorded, without waiting.
func (s *stream) submit() error {
	sl := s.cur
	if sl == nil {
		return nil
	}
	s.cur = nil
	cb := C.VkCommandBuffer(unsafe.Pointer(sl.cb))
	C.tsr_cmd_host_barrier(s.d.fns, cb)
	if res := vk.EndCommandBuffer(sl.cb); res != vk.Success {
		s.recycle(sl)
		return wrapResult("vkEndCommandBuffer", res)
	}
	si := []vk.SubmitInfo{{
		SType:              vk.StructureTypeSubmitInfo,
		CommandBufferCount: 1,
		PCommandBuffers:    []vk.CommandBuffer{sl.cb},
	}}
	if res := vk.QueueSubmit(s.d.queue, 1, si, sl.fence); res != vk.Success {
		s.recycle(sl)
		return wrapResult("vkQueueSubmit", res)
	}
	s.stats.Submits++
	s.inflight = append(s.inflight, sl)
	return nil
}

func (s *stream) waitOldest() error {
	if len(s.inflight) == 0 {
		return nil
	}
	sl := s.inflight[0]
	s.inflight = s.inflight[1:]
	res := vk.WaitForFences(s.d.handle, 1, []vk.Fence{sl.fence}, vk.True, ^uint64(0))
	if res != vk.Success {
		s.recycle(sl)
		return fmt.Errorf("vk: waiting for the GPU (device lost?): %w", wrapResult("vkWaitForFences", res))
	}
	vk.ResetFences(s.d.handle, 1, []vk.Fence{sl.fence})
	if sl.queries != nil && len(sl.prof) > 0 {
		s.d.prof.collect(s.d, sl)
	}
	s.recycle(sl)
	return nil
}

func (s *stream) recycle(sl *slot) {
	vk.ResetCommandBuffer(sl.cb, 0)
	if sl.pool != nil {
		C.tsr_descpool_reset(s.d.fns, C.VkDevice(unsafe.Pointer(s.d.handle)), sl.pool)
	}
	for _, r := range sl.staging {
		s.d.staging.release(r)
	}
	sl.staging = sl.staging[:0]
	sl.prof = sl.prof[:0]
	sl.commands, sl.bindings, sl.open = 0, 0, false
	s.idle = append(s.idle, sl)
}

// waitAll submits what is recorded and waits for everything in flight.
func (s *stream) waitAll() error {
	if err := s.submit(); err != nil {
		return err
	}
	for len(s.inflight) > 0 {
		if err := s.waitOldest(); err != nil {
			return err
		}
	}
	return nil
}

// Groups1D returns a grid of at least n/wg workgroups, spilling into y
// when x would exceed the device limit. Shaders index with
// gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x.
func (d *Device) Groups1D(n, wg int) [3]uint32 {
	groups := (n + wg - 1) / wg
	if groups < 1 {
		groups = 1
	}
	maxX := int(d.Info.MaxWorkgroupCount[0])
	if maxX > 65535 {
		maxX = 65535
	}
	if groups <= maxX {
		return [3]uint32{uint32(groups), 1, 1}
	}
	y := (groups + maxX - 1) / maxX
	return [3]uint32{uint32(maxX), uint32(y), 1}
}

// Dispatch records one kernel dispatch. Errors are sticky: they are
// returned by the next Sync, Read or Err.
func (d *Device) Dispatch(k *Kernel, groups [3]uint32, push []uint32, work Work, args ...Arg) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return
	}
	if len(args) != k.Spec.Buffers || len(push) != k.Spec.PushWords {
		panic(fmt.Sprintf("vk: kernel %s takes %d buffers and %d push words; got %d and %d", k.label, k.Spec.Buffers, k.Spec.PushWords, len(args), len(push)))
	}
	if groups[0] == 0 || groups[1] == 0 || groups[2] == 0 {
		return
	}
	for i, g := range groups {
		if g > d.Info.MaxWorkgroupCount[i] {
			d.fail(fmt.Errorf("vk: kernel %s: %d workgroups in dimension %d exceeds the device limit %d", k.label, g, i, d.Info.MaxWorkgroupCount[i]))
			return
		}
	}
	sl, err := d.stream.begin(len(args))
	if err != nil {
		d.fail(err)
		return
	}
	s := d.stream
	s.hazard(sl, args)
	var bufs, offs, sizes [32]C.uint64_t
	for i, a := range args {
		if !a.R.Valid() {
			panic(fmt.Sprintf("vk: kernel %s: argument %d is not an allocated range", k.label, i))
		}
		bufs[i] = C.uint64_t(a.R.blk.handle())
		offs[i] = C.uint64_t(a.R.Offset)
		size := a.R.Size
		if size == 0 {
			size = 4 // a zero-size binding is invalid; the kernel reads nothing
		}
		sizes[i] = C.uint64_t(size)
	}
	var pushPtr unsafe.Pointer
	var pushArr [32]uint32
	if len(push) > 0 {
		copy(pushArr[:], push)
		pushPtr = unsafe.Pointer(&pushArr[0])
	}
	cb := C.VkCommandBuffer(unsafe.Pointer(sl.cb))
	q := sl.beginTimestamp(d, k.label, work)
	res := C.tsr_cmd_dispatch(d.fns, C.VkDevice(unsafe.Pointer(d.handle)), cb, k.pipeline, k.layout, k.setLayout, sl.pool,
		C.uint32_t(len(args)), &bufs[0], &offs[0], &sizes[0], C.uint32_t(len(push)*4), pushPtr,
		C.uint32_t(groups[0]), C.uint32_t(groups[1]), C.uint32_t(groups[2]))
	sl.endTimestamp(d, q)
	if res != C.VK_SUCCESS {
		d.fail(fmt.Errorf("vk: recording kernel %s: VkResult %d", k.label, int(res)))
		return
	}
	sl.commands++
	sl.bindings += len(args)
	s.stats.Dispatches++
}

// Copy records a device-to-device copy of min(dst.Size, src.Size) bytes.
func (d *Device) Copy(dst, src Range) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.copyLocked(dst, src)
}

func (d *Device) copyLocked(dst, src Range) {
	if d.err != nil {
		return
	}
	n := dst.Size
	if src.Size < n {
		n = src.Size
	}
	if n == 0 {
		return
	}
	sl, err := d.stream.begin(0)
	if err != nil {
		d.fail(err)
		return
	}
	d.stream.hazard(sl, []Arg{{R: src, Access: Read}, {R: dst, Access: Write}})
	C.tsr_cmd_copy(d.fns, C.VkCommandBuffer(unsafe.Pointer(sl.cb)), C.uint64_t(src.blk.handle()), C.uint64_t(src.Offset),
		C.uint64_t(dst.blk.handle()), C.uint64_t(dst.Offset), C.uint64_t(n))
	sl.commands++
	d.stream.stats.Copies++
}

// Fill records filling r (a multiple of 4 bytes) with a 32-bit pattern.
func (d *Device) Fill(r Range, word uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil || r.Size == 0 {
		return
	}
	if r.Size%4 != 0 || r.Offset%4 != 0 {
		panic("vk: Fill needs a 4-byte aligned range")
	}
	sl, err := d.stream.begin(0)
	if err != nil {
		d.fail(err)
		return
	}
	d.stream.hazard(sl, []Arg{{R: r, Access: Write}})
	C.tsr_cmd_fill(d.fns, C.VkCommandBuffer(unsafe.Pointer(sl.cb)), C.uint64_t(r.blk.handle()), C.uint64_t(r.Offset), C.uint64_t(r.Size), C.uint32_t(word))
	sl.commands++
	d.stream.stats.Copies++
}

// Write copies data into r, ordered after all recorded work. It writes
// straight into mapped memory when the device is idle, else through a
// staging copy recorded on the stream.
func (d *Device) Write(r Range, data []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(data) == 0 {
		return nil
	}
	if uint64(len(data)) > r.Size {
		return fmt.Errorf("vk: writing %d bytes into a %d-byte range", len(data), r.Size)
	}
	if d.mem.hostVisible && d.stream.idleNow() {
		copy(r.bytes(), data)
		return nil
	}
	st, err := d.staging.alloc(uint64(len(data)))
	if err != nil {
		return err
	}
	copy(st.bytes(), data)
	d.copyLocked(r.Sub(0, uint64(len(data))), st)
	if d.err != nil || d.stream.cur == nil {
		d.staging.release(st)
		return d.err
	}
	// The staging range lives until the command buffer holding the copy completes.
	d.stream.cur.staging = append(d.stream.cur.staging, st)
	return nil
}

// Read waits for the work that writes r and copies its first len(dst)
// bytes to dst. It returns any sticky recording error.
func (d *Device) Read(r Range, dst []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if uint64(len(dst)) > r.Size {
		return fmt.Errorf("vk: reading %d bytes from a %d-byte range", len(dst), r.Size)
	}
	if d.mem.hostVisible {
		if err := d.syncLocked(); err != nil {
			return err
		}
		copy(dst, r.bytes())
		return nil
	}
	st, err := d.staging.alloc(uint64(len(dst)))
	if err != nil {
		return err
	}
	defer d.staging.release(st)
	d.copyLocked(st, r.Sub(0, uint64(len(dst))))
	if err := d.syncLocked(); err != nil {
		return err
	}
	copy(dst, st.bytes())
	return nil
}

// Stats returns the stream's counters.
func (d *Device) Stats() StreamStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stream.stats
}
