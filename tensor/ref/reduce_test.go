package ref

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReduceAxis(t *testing.T) {
	// x = [[[0 1 2 3] [4 5 6 7] [8 9 10 11]], [[12 ...] ...]], shape [2 3 4].
	x := iota(2, 3, 4)
	tests := []struct {
		name  string
		got   *Tensor
		shape []int
		want  []float64
	}{
		{"Sum 0", Sum(x, 0), []int{3, 4}, []float64{12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34}},
		{"Sum 1", Sum(x, 1), []int{2, 4}, []float64{12, 15, 18, 21, 48, 51, 54, 57}},
		{"Sum -1", Sum(x, -1), []int{2, 3}, []float64{6, 22, 38, 54, 70, 86}},
		{"Mean 1", Mean(x, 1), []int{2, 4}, []float64{4, 5, 6, 7, 16, 17, 18, 19}},
		{"Mean -3", Mean(x, -3), []int{3, 4}, []float64{6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17}},
		{"Max 2", Max(x, 2), []int{2, 3}, []float64{3, 7, 11, 15, 19, 23}},
		{"Max 0", Max(Neg(x), 0), []int{3, 4}, []float64{0, -1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11}},
		{"SumAll", SumAll(x), []int{}, []float64{276}},
		{"MeanAll", MeanAll(x), []int{}, []float64{11.5}},
		{"MaxAll", MaxAll(x), []int{}, []float64{23}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.shape, tt.got.Shape)
			assert.InDeltaSlice(t, tt.want, tt.got.Data, 1e-12)
		})
	}
	assert.Panics(t, func() { Sum(x, 3) })
	assert.Panics(t, func() { Mean(x, -4) })
	assert.Panics(t, func() { Max(New(2, 0), 1) })
}

func TestLogSumExp(t *testing.T) {
	x := FromSlice([]int{2, 2}, []float64{0, 0, 1000, 1000})
	got := LogSumExp(x, 1)
	require.Equal(t, []int{2}, got.Shape)
	// Without subtracting the max, exp(1000) overflows to +Inf.
	assert.InDeltaSlice(t, []float64{math.Ln2, 1000 + math.Ln2}, got.Data, 1e-12)
	assert.InDelta(t, 1000+math.Log(2+2*math.Exp(-1000)), LogSumExpAll(x).Data[0], 1e-12)

	inf := FromSlice([]int{3}, []float64{math.Inf(-1), math.Inf(-1), math.Inf(-1)})
	assert.Equal(t, math.Inf(-1), LogSumExpAll(inf).Data[0])
	inf.Data[1] = math.Inf(1)
	assert.Equal(t, math.Inf(1), LogSumExpAll(inf).Data[0])
}

func TestArgmax(t *testing.T) {
	tests := []struct {
		name  string
		x     *Tensor
		axis  int
		shape []int
		want  []int32
	}{
		{"rows", FromSlice([]int{2, 3}, []float64{1, 5, 2, 7, 0, 3}), 1, []int{2}, []int32{1, 0}},
		{"cols", FromSlice([]int{2, 3}, []float64{1, 5, 2, 7, 0, 3}), 0, []int{3}, []int32{1, 0, 1}},
		{"ties pick first", FromSlice([]int{2, 4}, []float64{3, 1, 3, 3, 0, 0, 0, 0}), -1, []int{2}, []int32{0, 0}},
		{"tie after smaller", FromSlice([]int{5}, []float64{-1, 2, -3, 2, 2}), 0, []int{}, []int32{1}},
		{"NaN wins", FromSlice([]int{4}, []float64{1, math.NaN(), 5, math.NaN()}), 0, []int{}, []int32{1}},
		{"all -Inf", FromSlice([]int{3}, []float64{math.Inf(-1), math.Inf(-1), math.Inf(-1)}), 0, []int{}, []int32{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shape, idx := Argmax(tt.x, tt.axis)
			assert.Equal(t, tt.shape, shape)
			assert.Equal(t, tt.want, idx)
		})
	}
	assert.Equal(t, int32(3), ArgmaxAll(FromSlice([]int{2, 3}, []float64{1, 2, 0, 9, 9, 3})))
	assert.Equal(t, int32(0), ArgmaxAll(Full([]int{2, 2}, 4)))
	assert.Panics(t, func() { ArgmaxAll(New(0)) })
}

func TestSoftmax(t *testing.T) {
	x := FromSlice([]int{3, 4}, []float64{
		1, 2, 3, 4,
		-1, 0, 1, 1000, // large logit: only stable if the max is subtracted
		5, 5, 5, 5,
	})
	for _, axis := range []int{0, 1, -1} {
		s := Softmax(x, axis)
		require.Equal(t, x.Shape, s.Shape)
		for _, v := range s.Data {
			require.False(t, math.IsNaN(v), "axis %d", axis)
		}
		sums := Sum(s, axis)
		for _, v := range sums.Data {
			assert.InDelta(t, 1, v, 1e-14, "axis %d: softmax lines must sum to 1", axis)
		}
		ls := LogSoftmax(x, axis)
		// exp(log_softmax) == softmax.
		assert.InDeltaSlice(t, s.Data, Exp(ls).Data, 1e-14, "axis %d", axis)
	}
	s := Softmax(x, 1)
	e := []float64{math.Exp(-3), math.Exp(-2), math.Exp(-1), 1}
	z := e[0] + e[1] + e[2] + e[3]
	assert.InDeltaSlice(t, []float64{e[0] / z, e[1] / z, e[2] / z, e[3] / z}, s.Data[:4], 1e-15)
	assert.InDeltaSlice(t, []float64{0, 0, 0, 1}, s.Data[4:8], 1e-15)
	assert.InDeltaSlice(t, []float64{0.25, 0.25, 0.25, 0.25}, s.Data[8:], 1e-15)
	assert.InDelta(t, -1001, LogSoftmax(x, 1).Data[4], 1e-12)
}

func TestSumIsCompensated(t *testing.T) {
	// Naive summation loses the small terms entirely.
	x := FromSlice([]int{4}, []float64{1e16, 1, 1, -1e16})
	assert.Equal(t, 2.0, SumAll(x).Data[0])
}

func TestSumWithInfinities(t *testing.T) {
	x := FromSlice([]int{4}, []float64{1, math.Inf(1), 2, 3})
	assert.True(t, math.IsInf(SumAll(x).Data[0], 1))
	assert.True(t, math.IsInf(MeanAll(x).Data[0], 1))
	y := FromSlice([]int{2}, []float64{math.Inf(1), math.Inf(-1)})
	assert.True(t, math.IsNaN(SumAll(y).Data[0]))
}
