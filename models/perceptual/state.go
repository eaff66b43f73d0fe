package perceptual

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/safetensors"
	"github.com/tessera-ml/tessera/models/torchfile"
	"github.com/tessera-ml/tessera/tensor"
)

// stateDict hands out a checkpoint's tensors by name and remembers which
// were taken, so that a loader can name the ones it did not expect. The
// first problem is kept in err and later calls do nothing, which lets a
// loader describe a whole network without checking every line.
type stateDict struct {
	path string // the file, for error messages
	ts   map[string]torchfile.Tensor
	used map[string]bool
	err  error
}

// readState reads a PyTorch checkpoint (either torch.save format) without
// its "model."/"state_dict."/"module." wrapper.
func readState(path string) (*stateDict, error) {
	ts, err := torchfile.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("perceptual: %w", err)
	}
	return newState(path, torchfile.StateDict(ts)), nil
}

// newState wraps tensors read from path.
func newState(path string, ts map[string]torchfile.Tensor) *stateDict {
	return &stateDict{path: path, ts: ts, used: map[string]bool{}}
}

// fail records the first error, prefixed with the file.
func (s *stateDict) fail(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf("perceptual: %s: "+format, append([]any{s.path}, args...)...)
	}
}

// shape returns the shape of tensor name, or ok false (and a recorded
// error) when the file lacks it.
func (s *stateDict) shape(name string) ([]int, bool) {
	t, ok := s.ts[name]
	if !ok {
		s.fail("missing tensor %q", name)
		return nil, false
	}
	return t.Shape, true
}

// take returns the values of tensor name as float64, checking that its
// shape is want. Floating-point dtypes only: an integer tensor where
// weights belong means the wrong file.
func (s *stateDict) take(name string, want ...int) []float64 {
	if s.err != nil {
		return nil
	}
	t, ok := s.ts[name]
	if !ok {
		s.fail("missing tensor %q (want shape %v)", name, want)
		return nil
	}
	s.used[name] = true
	if !slices.Equal(t.Shape, want) {
		s.fail("tensor %q has shape %v, want %v", name, t.Shape, want)
		return nil
	}
	switch t.DType {
	case "F32", "F16", "BF16", "F64":
	default:
		s.fail("tensor %q is %s, want floating point", name, t.DType)
		return nil
	}
	st := safetensors.Tensor{Name: name, DType: safetensors.DType(t.DType), Shape: t.Shape, Data: t.Data}
	var out []float64
	if t.DType == "F64" {
		out = make([]float64, len(t.Data)/8)
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(t.Data[8*i:]))
		}
	} else {
		vals, err := st.Float32()
		if err != nil {
			s.fail("tensor %q: %v", name, err)
			return nil
		}
		out = make([]float64, len(vals))
		for i, v := range vals {
			out[i] = float64(v)
		}
	}
	for i, v := range out {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			s.fail("tensor %q has a non-finite value at element %d", name, i)
			return nil
		}
	}
	return out
}

// skip marks name as known but unused (a classifier head, a BatchNorm's
// step counter), whether or not the file has it.
func (s *stateDict) skip(name string) { s.used[name] = true }

// finish fails on tensors no loader step took, except those ignore
// accepts (parts of the real files that the features do not use).
func (s *stateDict) finish(ignore func(name string) bool) error {
	if s.err != nil {
		return s.err
	}
	var extra []string
	for _, name := range slices.Sorted(maps.Keys(s.ts)) {
		if !s.used[name] && (ignore == nil || !ignore(name)) {
			extra = append(extra, fmt.Sprintf("%q", name))
		}
	}
	if len(extra) > 0 {
		if len(extra) > 8 {
			extra = append(extra[:8], fmt.Sprintf("and %d more", len(extra)-8))
		}
		return fmt.Errorf("perceptual: %s: unexpected tensors %s (is this the right file?)", s.path, strings.Join(extra, ", "))
	}
	return nil
}

// frozen uploads vals as a named parameter that needs no gradient: the
// perceptual networks are fixed, only their inputs get gradients.
func frozen(tp *autograd.Tape, name string, vals []float64, shape ...int) *autograd.Var {
	f := make([]float32, len(vals))
	for i, v := range vals {
		f[i] = float32(v)
	}
	p := tp.Param(tp.Engine().FromFloat32(f, shape...), name)
	p.SetRequiresGrad(false)
	return p
}

// conv is a frozen convolution (with any BatchNorm folded into it).
type conv struct {
	Weight *autograd.Var // [out, in, kh, kw]
	Bias   *autograd.Var // [out] or nil
	Conv   tensor.ConvParams
}

// forward convolves x.
func (c *conv) forward(x *autograd.Var) *autograd.Var {
	return autograd.Conv2d(x, c.Weight, c.Bias, c.Conv)
}

// widthDivisor infers by how much a file's network is narrowed: the real
// width full over the width got that the file has for a first layer. Every
// base channel count must divide evenly.
func widthDivisor(s *stateDict, name string, full int, counts []int) (int, error) {
	shape, ok := s.shape(name)
	if !ok {
		return 0, s.err
	}
	if len(shape) == 0 || shape[0] <= 0 || full%shape[0] != 0 {
		return 0, fmt.Errorf("perceptual: %s: tensor %q has shape %v: %d output channels do not divide the real %d",
			s.path, name, shape, firstOr(shape), full)
	}
	div := full / shape[0]
	for _, c := range counts {
		if c%div != 0 {
			return 0, fmt.Errorf("perceptual: %s: tensor %q has shape %v: width 1/%d does not divide the channel count %d",
				s.path, name, shape, div, c)
		}
	}
	return div, nil
}

func firstOr(s []int) int {
	if len(s) == 0 {
		return 0
	}
	return s[0]
}
