package tensor

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor/ref"
)

// Tolerances: the resampling adjoints sum float32 products against float64
// twins: 1e-5 relative in the sense of ref.Close (max error over max(1,
// max |want|)). The bicubic twin also takes its source coordinate in
// float64 where the kernels use PyTorch's float32 (~1.5e-6 relative, see
// bicubicTorch32), which 1e-5 covers. MaxBackward and SliceBackward only
// move values: exact (0).
const resampleGradTol = 1e-5

type resampleGradCase struct {
	kind       resampleKind
	in         []int // x: N, C, H, W
	outH, outW int
}

func (c resampleGradCase) String() string {
	return fmt.Sprintf("%s/%v->%dx%d", resampleBackwardNames[c.kind], c.in, c.outH, c.outW)
}

func (c resampleGradCase) gpu(dy *Tensor) *Tensor {
	h, w := c.in[2], c.in[3]
	switch c.kind {
	case resampleNearest:
		return UpsampleNearestBackward(dy, h, w)
	case resampleBicubic:
		return UpsampleBicubicBackward(dy, h, w)
	}
	return AreaDownsampleBackward(dy, h, w)
}

func (c resampleGradCase) forward(x *Tensor) *Tensor {
	switch c.kind {
	case resampleNearest:
		return UpsampleNearest(x, c.outH, c.outW)
	case resampleBicubic:
		return UpsampleBicubic(x, c.outH, c.outW)
	}
	return AreaDownsample(x, c.outH, c.outW)
}

func (c resampleGradCase) twin(x, dy *ref.Tensor) *ref.Tensor {
	switch c.kind {
	case resampleNearest:
		return ref.UpsampleNearestVJP(x, c.outH, c.outW, dy)
	case resampleBicubic:
		return ref.UpsampleBicubicVJP(x, c.outH, c.outW, dy)
	}
	return ref.AreaDownsampleVJP(x, c.outH, c.outW, dy)
}

var resampleGradCases = []resampleGradCase{
	{resampleNearest, []int{2, 3, 37, 41}, 83, 90},
	{resampleNearest, []int{2, 1, 37, 41}, 11, 13}, // shrinking: skipped pixels get 0
	{resampleNearest, []int{1, 1, 2, 3}, 82, 7},    // float32 rule: row 41 reads row 0
	{resampleNearest, []int{1, 2, 37, 41}, 37, 90}, // H unchanged: one pass
	{resampleNearest, []int{1, 2, 33, 41}, 99, 41}, // W unchanged: one pass
	{resampleBicubic, []int{2, 3, 37, 41}, 83, 90},
	{resampleBicubic, []int{1, 2, 37, 41}, 16, 9}, // shrinking
	{resampleBicubic, []int{1, 2, 9, 41}, 20, 13}, // one axis up, one down
	{resampleBicubic, []int{1, 1, 1, 1}, 3, 4},    // one pixel: every tap clamps
	{resampleBicubic, []int{1, 1, 2, 3}, 301, 5},  // long runs (~150 entries)
	{resampleBicubic, []int{2, 2, 7, 9}, 7, 9},    // identity: a copy
	{resampleArea, []int{2, 3, 83, 90}, 37, 41},   // overlapping windows
	{resampleArea, []int{1, 2, 16, 16}, 4, 4},     // sizes that divide
	{resampleArea, []int{1, 1, 3, 2}, 7, 5},       // larger output
	{resampleArea, []int{1, 2, 300, 300}, 1, 1},   // one 90000-pixel window
	{resampleArea, []int{2, 1, 9, 5}, 4, 5},       // W unchanged
	{resampleArea, []int{0, 3, 8, 8}, 4, 4},       // empty batch
	{resampleNearest, []int{2, 0, 4, 4}, 8, 8},    // empty channels
}

// TestResampleGradVsTwin checks the three adjoint kernels against their
// float64 twin VJPs, with one segment per run and with runs split into
// segments of 3 entries (several dispatches per pass).
func TestResampleGradVsTwin(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(31))
	for _, tc := range resampleGradCases {
		for _, seg := range []int{resampleSegment, 3} {
			t.Run(fmt.Sprintf("%v/seg%d", tc, seg), func(t *testing.T) {
				old := resampleSegment
				defer func() { resampleSegment = old }()
				resampleSegment = seg
				x := ref.New(tc.in...)
				dy := randRef(rng, -1, 1, tc.in[0], tc.in[1], tc.outH, tc.outW)
				requireClose(t, tc.gpu(upload(e, dy)), tc.twin(x, dy), resampleGradTol)
			})
		}
	}
}

// TestResampleGradAdjoint checks that each backward kernel is the exact
// transpose of its GPU forward, taps included: <F(x), dy> = <x, Fᵀ(dy)>
// to float32 accuracy: within 1e-6·Σ|F(x)·dy| (observed ≤ 6e-8). One tap
// chosen differently from the forward's would move it by ~|x·dy·w|, far
// more.
func TestResampleGradAdjoint(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(32))
	for _, tc := range resampleGradCases {
		if Numel(tc.in) == 0 {
			continue
		}
		t.Run(tc.String(), func(t *testing.T) {
			x := randRef(rng, -1, 1, tc.in...)
			dy := randRef(rng, -1, 1, tc.in[0], tc.in[1], tc.outH, tc.outW)
			y, err := tc.forward(upload(e, x)).Float32()
			require.NoError(t, err)
			dx, err := tc.gpu(upload(e, dy)).Float32()
			require.NoError(t, err)
			var lhs, rhs, scale float64
			for i, v := range y {
				lhs += float64(v) * dy.Data[i]
				scale += math.Abs(float64(v) * dy.Data[i])
			}
			for i, v := range dx {
				rhs += x.Data[i] * float64(v)
			}
			require.InDelta(t, lhs, rhs, 1e-6*scale)
		})
	}
}

func TestResampleGradErrors(t *testing.T) {
	e := testEngine(t)
	for name, f := range map[string]func() *Tensor{
		"3-D":      func() *Tensor { return UpsampleNearestBackward(e.Zeros(2, 4, 4), 2, 2) },
		"int32":    func() *Tensor { return UpsampleBicubicBackward(e.FullInt(1, 1, 1, 4, 4), 2, 2) },
		"zero-in":  func() *Tensor { return AreaDownsampleBackward(e.Zeros(1, 1, 4, 4), 0, 2) },
		"zero-out": func() *Tensor { return AreaDownsampleBackward(e.Zeros(1, 1, 0, 4), 2, 2) },
		"too-big":  func() *Tensor { return UpsampleNearestBackward(e.Zeros(1, 1, 1, 1<<16), 1, 1<<15) },
	} {
		t.Run(name, func(t *testing.T) {
			require.ErrorIs(t, f().Err(), ErrShape)
			require.ErrorIs(t, e.Err(), ErrShape)
		})
	}
}

func TestMaxBackward(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(33))
	for _, tc := range []struct {
		shape []int
		axis  int
	}{
		{[]int{3, 37, 65}, 0},
		{[]int{3, 37, 65}, 1},
		{[]int{3, 37, 65}, -1},
		{[]int{129}, 0},
		{[]int{5, 1, 7}, 1}, // a one-element axis: the gradient passes through
		{[]int{2, 3, 4, 5}, 2},
		{[]int{0, 4}, 1}, // no lines
	} {
		t.Run(fmt.Sprintf("%v/%d", tc.shape, tc.axis), func(t *testing.T) {
			x := randRef(rng, -1, 1, tc.shape...)
			a := tc.axis
			if a < 0 {
				a += len(tc.shape)
			}
			dyShape := append(append([]int{}, tc.shape[:a]...), tc.shape[a+1:]...)
			dy := randRef(rng, -1, 1, dyShape...)
			requireClose(t, MaxBackward(upload(e, x), upload(e, dy), tc.axis), ref.MaxVJP(x, tc.axis, dy), 0)
		})
	}
	t.Run("ties-go-first", func(t *testing.T) {
		x := ref.FromSlice([]int{2, 4}, []float64{1, 3, 3, 2, 5, 5, 5, 5})
		dy := ref.FromSlice([]int{2}, []float64{7, 9})
		got, err := MaxBackward(upload(e, x), upload(e, dy), 1).Float32()
		require.NoError(t, err)
		require.Equal(t, []float32{0, 7, 0, 0, 9, 0, 0, 0}, got)
	})
	t.Run("errors", func(t *testing.T) {
		require.ErrorIs(t, MaxBackward(e.Zeros(3, 0), e.Zeros(3), 1).Err(), ErrShape)
		require.ErrorIs(t, MaxBackward(e.Zeros(3, 4), e.Zeros(4), 1).Err(), ErrShape)
		require.ErrorIs(t, MaxBackward(e.Zeros(3, 4), e.Zeros(3), 2).Err(), ErrShape)
		require.ErrorIs(t, e.Err(), ErrShape)
	})
}

func TestSliceBackward(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(34))
	for _, tc := range []struct {
		shape             []int // x
		axis, start, stop int
	}{
		{[]int{5, 7, 3}, 1, 2, 5},
		{[]int{5, 7, 3}, 0, 0, 5}, // the whole axis: no fill
		{[]int{33, 65}, -1, 64, 65},
		{[]int{3, 4, 2048}, 2, 1000, 2047}, // long rows: transfer copies
		{[]int{3, 4}, 1, 2, 2},             // empty slice: zeros
	} {
		t.Run(fmt.Sprintf("%v/%d[%d:%d]", tc.shape, tc.axis, tc.start, tc.stop), func(t *testing.T) {
			x := ref.New(tc.shape...)
			dyShape := append([]int{}, tc.shape...)
			a := tc.axis
			if a < 0 {
				a += len(tc.shape)
			}
			dyShape[a] = tc.stop - tc.start
			dy := randRef(rng, -1, 1, dyShape...)
			requireClose(t, SliceBackward(upload(e, dy), tc.axis, tc.start, tc.shape[a]),
				ref.SliceVJP(x, tc.axis, tc.start, tc.stop, dy), 0)
		})
	}
	require.ErrorIs(t, SliceBackward(e.Zeros(2, 3), 1, 1, 3).Err(), ErrShape)
	require.ErrorIs(t, e.Err(), ErrShape)
}
