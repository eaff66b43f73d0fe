// Package bench holds Tessera's benchmark cases: the ops and shapes that
// `tessera bench` times and that `go test -bench` runs, from one list so the
// two never drift apart.
package bench

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tessera-ml/tessera/tensor"
)

// Case is one op at one shape.
type Case struct {
	Op    string
	Shape string
	// Flops and Bytes are the work of one run; a compute-bound case reports
	// GFLOP/s, a memory-bound one (Flops == 0) GB/s. Items (images) makes a
	// case report items per second instead.
	Flops, Bytes, Items float64
	// Prepare allocates the inputs (in the engine's current scope) and
	// returns the function that records one run, and a function releasing
	// what the scope does not own (nil if nothing).
	Prepare func(e *tensor.Engine) (run func() *tensor.Tensor, release func())
	// Note is shown beside the result (e.g. what a case is compared with).
	Note string
	// Heavy cases take minutes on a CPU device: Select leaves them out
	// unless the op or shape filter names them.
	Heavy bool
}

// Name is "op/shape".
func (c Case) Name() string { return c.Op + "/" + c.Shape }

// Result is one case's measurement, in the JSON form `tessera bench --json` prints.
type Result struct {
	Op       string  `json:"op"`
	Shape    string  `json:"shape"`
	MedianMs float64 `json:"median_ms"`
	GFlops   float64 `json:"gflops,omitempty"`
	GBps     float64 `json:"gbps,omitempty"`
	PerSec   float64 `json:"images_per_s,omitempty"`
	Runs     int     `json:"runs"`
	// PeakBytes is the device memory the case held at its peak, inputs
	// included.
	PeakBytes uint64 `json:"peak_bytes"`
	Note      string `json:"note,omitempty"`
}

// Run times c: one untimed warm-up (pipeline creation, first-touch
// allocation), then repeats runs, each recorded and synchronised; it
// reports the median.
func Run(e *tensor.Engine, c Case, repeats int) (Result, error) {
	if repeats < 1 {
		repeats = 1
	}
	if err := e.Sync(); err != nil {
		return Result{}, err
	}
	e.Device().ResetPeak()
	base := e.Device().Memory().Live
	scope := e.Scope()
	defer scope.Close()
	run, release := c.Prepare(e)
	if release != nil {
		defer release()
	}
	if err := once(e, run); err != nil {
		return Result{}, fmt.Errorf("%s: %w", c.Name(), err)
	}
	times := make([]float64, repeats)
	for i := range times {
		start := time.Now()
		if err := once(e, run); err != nil {
			return Result{}, fmt.Errorf("%s: %w", c.Name(), err)
		}
		times[i] = time.Since(start).Seconds()
	}
	sort.Float64s(times)
	med := times[len(times)/2]
	if len(times)%2 == 0 {
		med = (times[len(times)/2-1] + times[len(times)/2]) / 2
	}
	r := Result{Op: c.Op, Shape: c.Shape, MedianMs: med * 1e3, Runs: repeats, PeakBytes: e.Device().Memory().Peak - base, Note: c.Note}
	switch {
	case c.Items > 0:
		r.PerSec = c.Items / med
	case c.Flops > 0:
		r.GFlops = c.Flops / med / 1e9
	default:
		r.GBps = c.Bytes / med / 1e9
	}
	return r, nil
}

// once records one run in its own scope and waits for it.
func once(e *tensor.Engine, run func() *tensor.Tensor) error {
	s := e.Scope()
	defer s.Close()
	out := run()
	if err := out.Err(); err != nil {
		return err
	}
	return e.Sync()
}

// Select filters cases by op names and shapes (comma-separated, empty
// matches all but the heavy cases).
func Select(cases []Case, ops, shapes string) []Case {
	match := func(list, v string) bool {
		if list == "" {
			return true
		}
		for _, s := range strings.Split(list, ",") {
			if strings.EqualFold(strings.TrimSpace(s), v) {
				return true
			}
		}
		return false
	}
	var out []Case
	for _, c := range cases {
		if c.Heavy && ops == "" && shapes == "" {
			continue
		}
		if match(ops, c.Op) && match(shapes, c.Shape) {
			out = append(out, c)
		}
	}
	return out
}
