package ref

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMaxAbsDiff(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name string
		a, b []float64
		want float64
	}{
		{"equal", []float64{1, 2}, []float64{1, 2}, 0},
		{"diff", []float64{1, 2}, []float64{1.5, -1}, 3},
		{"both NaN", []float64{nan, 1}, []float64{nan, 1}, 0},
		{"one NaN", []float64{nan, 1}, []float64{0, 1}, inf},
		{"equal Inf", []float64{inf, 1}, []float64{inf, 1}, 0},
		{"opposite Inf", []float64{inf}, []float64{-inf}, inf},
		{"Inf vs finite", []float64{1}, []float64{inf}, inf},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shape := []int{len(tt.a)}
			assert.Equal(t, tt.want, MaxAbsDiff(FromSlice(shape, tt.a), FromSlice(shape, tt.b)))
		})
	}
	assert.Panics(t, func() { MaxAbsDiff(New(2, 3), New(3, 2)) })
}

func TestRelErr(t *testing.T) {
	tests := []struct {
		name string
		got  []float32
		want []float64
		err  float64
	}{
		{"exact", []float32{1, -2}, []float64{1, -2}, 0},
		{"small want is absolute", []float32{0.001, 0}, []float64{0, 0}, float64(float32(0.001))},
		{"large want is relative", []float32{100, 201}, []float64{100, 200}, 1.0 / 200},
		{"scale from whole tensor", []float32{0.5, 400}, []float64{1, 400}, 0.5 / 400},
		{"NaN mismatch", []float32{float32(math.NaN())}, []float64{1}, math.Inf(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := FromSlice([]int{len(tt.want)}, tt.want)
			assert.InDelta(t, tt.err, RelErr(tt.got, w), 1e-12)
		})
	}
	assert.Panics(t, func() { RelErr([]float32{1}, New(2)) })
}

func TestClose(t *testing.T) {
	want := FromSlice([]int{2, 3}, []float64{1, 2, 3, 4, 5, 6})
	require.NoError(t, Close(want.Float32(), want, 0))
	require.NoError(t, Close([]float32{1, 2, 3, 4, 5, 6.00005}, want, 1e-5), "5e-5 <= 1e-5 * max|want| = 6e-5")
	require.Error(t, Close([]float32{1, 2, 3, 4, 5, 6.0001}, want, 1e-5), "1e-4 > 1e-5 * max|want| = 6e-5")

	err := Close([]float32{1, 2, 3, 4, 5.5, 7}, want, 1e-3)
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, "element 4 [1 1]")
	assert.Contains(t, msg, "shape [2 3]")
	assert.Contains(t, msg, "got 5.5")
	assert.Contains(t, msg, "want 5")
	assert.Contains(t, msg, "2 of 6 elements")

	err = Close([]float32{1, 2}, want, 1)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "got 2 elements, want 6")

	nanWant := FromSlice([]int{2}, []float64{math.NaN(), 1})
	require.NoError(t, Close([]float32{float32(math.NaN()), 1}, nanWant, 0))
	require.Error(t, Close([]float32{0, 1}, nanWant, 1))
}
