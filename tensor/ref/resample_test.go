package ref

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNearestIndex(t *testing.T) {
	tests := []struct {
		name         string
		dst, in, out int
		want         int
	}{
		{"identity", 3, 5, 5, 3},
		{"2x up", 5, 3, 6, 2},
		{"3x up", 5, 2, 6, 1},
		{"down", 2, 7, 3, 4}, // floor(2*7/3)
		{"non-integer up", 7, 5, 11, 3},
		{"last clamps", 10, 5, 11, 4},
		// float32 rounding: floor(41 * float32(2/82)) = 0, not 41*2/82 = 1.
		{"float32 quirk 2->82", 41, 2, 82, 0},
		{"float32 quirk 3->123", 82, 3, 123, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, nearestIndex(tt.dst, tt.in, tt.out))
		})
	}
}

func TestUpsampleNearest(t *testing.T) {
	x := FromSlice([]int{1, 1, 2, 2}, []float64{1, 2, 3, 4})
	got := UpsampleNearest(x, 4, 3)
	require.Equal(t, []int{1, 1, 4, 3}, got.Shape)
	assert.Equal(t, []float64{
		1, 1, 2,
		1, 1, 2,
		3, 3, 4,
		3, 3, 4,
	}, got.Data)

	down := UpsampleNearest(iota(1, 1, 3, 3), 2, 2)
	assert.Equal(t, []float64{0, 1, 3, 4}, down.Data)
	assert.Panics(t, func() { UpsampleNearest(New(2, 2), 4, 4) })
	assert.Panics(t, func() { UpsampleNearest(x, 0, 4) })
}

func TestCubicWeights(t *testing.T) {
	assert.Equal(t, [4]float64{0, 1, 0, 0}, cubicWeights(0))
	half := cubicWeights(0.5)
	assert.InDeltaSlice(t, []float64{-0.09375, 0.59375, 0.59375, -0.09375}, half[:], 1e-15)
	for _, tc := range []float64{0.1, 0.25, 0.7, 0.99} {
		w := cubicWeights(tc)
		assert.InDelta(t, 1, w[0]+w[1]+w[2]+w[3], 1e-15, "weights must sum to 1 at t=%v", tc)
	}
}

func TestUpsampleBicubic(t *testing.T) {
	x := Rand(3, 2, 3, 5, 4)
	same := UpsampleBicubic(x, 5, 4)
	assert.InDeltaSlice(t, x.Data, same.Data, 1e-15, "same size is the identity")

	c := UpsampleBicubic(Full([]int{1, 2, 3, 4}, 2.5), 7, 9)
	require.Equal(t, []int{1, 2, 7, 9}, c.Shape)
	for _, v := range c.Data {
		assert.InDelta(t, 2.5, v, 1e-14, "a constant image stays constant")
	}

	// 1x2 -> 1x4 along W: src = (j+0.5)/2 - 0.5 = -0.25, 0.25, 0.75, 1.25.
	// j=1 has t=0.25 with taps at -1, 0, 1, 2 clamped to 0, 0, 1, 1.
	row := UpsampleBicubic(FromSlice([]int{1, 1, 1, 2}, []float64{0, 1}), 1, 4)
	w := cubicWeights(0.25)
	assert.InDelta(t, w[2]+w[3], row.Data[1], 1e-15)
	w = cubicWeights(0.75) // j=0: floor(-0.25) = -1, t = 0.75, taps -2..1
	assert.InDelta(t, w[3], row.Data[0], 1e-15)
	assert.InDelta(t, 1-row.Data[1], row.Data[2], 1e-15, "symmetric")
	assert.InDelta(t, 1-row.Data[0], row.Data[3], 1e-15, "symmetric")
}

func TestAreaDownsample(t *testing.T) {
	x := iota(1, 1, 4, 4)
	got := AreaDownsample(x, 2, 2)
	require.Equal(t, []int{1, 1, 2, 2}, got.Shape)
	assert.Equal(t, []float64{2.5, 4.5, 10.5, 12.5}, got.Data)

	// 3 -> 2 along W: windows [0, 2) and [1, 3) overlap.
	row := AreaDownsample(FromSlice([]int{1, 1, 1, 3}, []float64{1, 2, 4}), 1, 2)
	assert.Equal(t, []float64{1.5, 3}, row.Data)

	// 5 -> 3: windows [0,2) [1,4) [3,5).
	row = AreaDownsample(FromSlice([]int{1, 1, 1, 5}, []float64{1, 2, 3, 4, 5}), 1, 3)
	assert.Equal(t, []float64{1.5, 3, 4.5}, row.Data)

	one := AreaDownsample(x, 1, 1)
	assert.Equal(t, []float64{7.5}, one.Data)
	assert.Equal(t, x.Data, AreaDownsample(x, 4, 4).Data)
}
