package ref

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConvOutSize(t *testing.T) {
	tests := []struct {
		in, k, stride, pad, dil, want int
	}{
		{4, 2, 1, 0, 1, 3},
		{4, 2, 2, 1, 1, 3},
		{4, 2, 1, 0, 2, 2},
		{7, 3, 2, 1, 2, 3}, // (7+2-4-1)/2+1
		{5, 2, 2, 1, 2, 3}, // (5+2-2-1)/2+1
		{224, 7, 2, 3, 1, 112},
		{3, 5, 1, 0, 1, 0}, // kernel larger than input
		{2, 2, 3, 0, 2, 0}, // dilated kernel does not fit
		{1, 1, 1, 0, 1, 1},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, ConvOutSize(tt.in, tt.k, tt.stride, tt.pad, tt.dil), "%+v", tt)
	}
}

func TestConv2dHand(t *testing.T) {
	// x = 0..15 as a 4x4 image, w = 2x2 ones: each output is a window sum.
	x := iota(1, 1, 4, 4)
	ones := Full([]int{1, 1, 2, 2}, 1)
	tests := []struct {
		name  string
		p     ConvParams
		shape []int
		want  []float64
	}{
		{"plain", ConvParams{StrideH: 1, StrideW: 1, DilH: 1, DilW: 1},
			[]int{1, 1, 3, 3}, []float64{10, 14, 18, 26, 30, 34, 42, 46, 50}},
		{"stride 2 pad 1", ConvParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, DilH: 1, DilW: 1},
			[]int{1, 1, 3, 3}, []float64{0, 3, 3, 12, 30, 18, 12, 27, 15}},
		{"dilation 2", ConvParams{StrideH: 1, StrideW: 1, DilH: 2, DilW: 2},
			[]int{1, 1, 2, 2}, []float64{20, 24, 36, 40}},
		{"stride 2 pad 1 dilation 2", ConvParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, DilH: 2, DilW: 2},
			// Taps at rows/cols {-1, 1} then {1, 3}: only in-range ones count.
			[]int{1, 1, 2, 2}, []float64{5, 5 + 7, 5 + 13, 5 + 7 + 13 + 15}},
		{"asymmetric", ConvParams{StrideH: 1, StrideW: 3, PadH: 0, PadW: 1, DilH: 1, DilW: 1},
			[]int{1, 1, 3, 2}, []float64{4, 18, 12, 34, 20, 50}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Conv2d(x, ones, nil, tt.p)
			require.Equal(t, tt.shape, got.Shape)
			assert.Equal(t, tt.want, got.Data)
		})
	}
}

func TestConv2dChannelsAndBias(t *testing.T) {
	// Two input channels (x and 10*x) and two filters picking a single tap
	// from each, plus bias.
	x := FromSlice([]int{1, 2, 2, 2}, []float64{1, 2, 3, 4, 10, 20, 30, 40})
	w := FromSlice([]int{2, 2, 1, 2}, []float64{
		1, 0, 0, 1, // out 0: x[.., j] + 10x[.., j+1]
		0, 0, -1, 0, // out 1: -10x[.., j]
	})
	bias := FromSlice([]int{2}, []float64{0.5, -1})
	p := ConvParams{StrideH: 1, StrideW: 1, DilH: 1, DilW: 1}
	got := Conv2d(x, w, bias, p)
	require.Equal(t, []int{1, 2, 2, 1}, got.Shape)
	assert.Equal(t, []float64{1 + 20 + 0.5, 3 + 40 + 0.5, -10 - 1, -30 - 1}, got.Data)

	// Batches are independent.
	x2 := Concat(0, x, MulScalar(x, 2))
	got2 := Conv2d(x2, w, nil, p)
	require.Equal(t, []int{2, 2, 2, 1}, got2.Shape)
	assert.Equal(t, []float64{21, 43, -10, -30, 42, 86, -20, -60}, got2.Data)
}

func TestConv2dPanics(t *testing.T) {
	p := ConvParams{StrideH: 1, StrideW: 1, DilH: 1, DilW: 1}
	x := New(1, 2, 4, 4)
	assert.Panics(t, func() { Conv2d(x, New(1, 3, 2, 2), nil, p) }, "channel mismatch")
	assert.Panics(t, func() { Conv2d(x, New(1, 2, 5, 2), nil, p) }, "kernel too large")
	assert.Panics(t, func() { Conv2d(x, New(1, 2, 2, 2), New(2), p) }, "bias shape")
	assert.Panics(t, func() { Conv2d(x, New(1, 2, 2, 2), nil, ConvParams{}) }, "zero stride")
	assert.Panics(t, func() { Conv2d(New(2, 4, 4), New(1, 2, 2, 2), nil, p) }, "3-D input")
}
