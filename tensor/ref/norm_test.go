package ref

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLayerNorm(t *testing.T) {
	x := FromSlice([]int{2, 3}, []float64{1, 2, 3, -2, 0, 5})
	s := math.Sqrt(1.5) // 1/sqrt(var) with var = 2/3
	got := LayerNorm(x, nil, nil, 0)
	require.Equal(t, x.Shape, got.Shape)
	assert.InDeltaSlice(t, []float64{-s, 0, s}, got.Data[:3], 1e-15)
	// Row 2: mean 1, biased var (9+1+16)/3.
	inv := 1 / math.Sqrt(26.0/3)
	assert.InDeltaSlice(t, []float64{-3 * inv, -inv, 4 * inv}, got.Data[3:], 1e-15)

	gamma := FromSlice([]int{3}, []float64{2, 1, -1})
	beta := FromSlice([]int{3}, []float64{0, 10, 1})
	aff := LayerNorm(x, gamma, beta, 0)
	assert.InDeltaSlice(t, []float64{-2 * s, 10, 1 - s}, aff.Data[:3], 1e-14)

	// eps enters under the square root.
	eps := LayerNorm(FromSlice([]int{2}, []float64{-1, 1}), nil, nil, 3)
	assert.InDeltaSlice(t, []float64{-0.5, 0.5}, eps.Data, 1e-15)

	assert.Panics(t, func() { LayerNorm(x, New(2), nil, 0) })
	assert.Panics(t, func() { LayerNorm(scalar(1), nil, nil, 0) })
}

func TestRMSNorm(t *testing.T) {
	x := FromSlice([]int{2, 2}, []float64{3, 4, 0, -2})
	got := RMSNorm(x, nil, 0)
	r := math.Sqrt(12.5)
	assert.InDeltaSlice(t, []float64{3 / r, 4 / r, 0, -2 / math.Sqrt2}, got.Data, 1e-15)
	g := RMSNorm(x, FromSlice([]int{2}, []float64{2, -1}), 0.5)
	r = math.Sqrt(13)
	assert.InDeltaSlice(t, []float64{6 / r, -4 / r, 0, 2 / math.Sqrt(2.5)}, g.Data, 1e-15)
	assert.Panics(t, func() { RMSNorm(x, New(3), 0) })
}

func TestGroupNorm(t *testing.T) {
	// x [1, 4, 2]: groups of two channels, each normalising 4 values.
	x := FromSlice([]int{1, 4, 2}, []float64{1, 2, 3, 4, 10, 10, 10, 14})
	got := GroupNorm(x, 2, nil, nil, 0)
	require.Equal(t, x.Shape, got.Shape)
	// Group 0: mean 2.5, var 1.25. Group 1: mean 11, var 3.
	a := 1 / math.Sqrt(1.25)
	b := 1 / math.Sqrt(3.0)
	assert.InDeltaSlice(t, []float64{-1.5 * a, -0.5 * a, 0.5 * a, 1.5 * a, -b, -b, -b, 3 * b}, got.Data, 1e-15)

	gamma := FromSlice([]int{4}, []float64{1, 2, 3, 4})
	beta := FromSlice([]int{4}, []float64{0, 0, 1, 1})
	aff := GroupNorm(x, 2, gamma, beta, 0)
	assert.InDeltaSlice(t, []float64{-1.5 * a, -0.5 * a, 1 * a, 3 * a, 1 - 3*b, 1 - 3*b, 1 - 4*b, 1 + 12*b}, aff.Data, 1e-14)

	assert.Panics(t, func() { GroupNorm(x, 3, nil, nil, 0) })
	assert.Panics(t, func() { GroupNorm(x, 2, New(2), nil, 0) })
	assert.Panics(t, func() { GroupNorm(New(4), 1, nil, nil, 0) })
}

func TestGroupNormSpecialCases(t *testing.T) {
	x := Rand(7, 2, 4, 3, 5)
	// groups == 1 is LayerNorm over everything but the batch.
	flat := LayerNorm(FromSlice([]int{2, 60}, x.Data), nil, nil, 1e-5)
	assert.InDeltaSlice(t, flat.Data, GroupNorm(x, 1, nil, nil, 1e-5).Data, 1e-13)
	// groups == C is instance norm: LayerNorm over each channel's plane.
	inst := LayerNorm(FromSlice([]int{8, 15}, x.Data), nil, nil, 1e-5)
	assert.InDeltaSlice(t, inst.Data, GroupNorm(x, 4, nil, nil, 1e-5).Data, 1e-13)
}
