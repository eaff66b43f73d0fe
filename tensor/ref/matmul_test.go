package ref

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMatmul2D(t *testing.T) {
	a := FromSlice([]int{2, 3}, []float64{1, 2, 3, 4, 5, 6})
	b := FromSlice([]int{3, 2}, []float64{7, 8, 9, 10, 11, 12})
	// [1 2 3; 4 5 6] x [7 8; 9 10; 11 12] = [58 64; 139 154].
	want := []float64{58, 64, 139, 154}
	tests := []struct {
		name           string
		a, b           *Tensor
		transA, transB bool
	}{
		{"plain", a, b, false, false},
		{"transA", Transpose(a, 0, 1), b, true, false},
		{"transB", a, Transpose(b, 0, 1), false, true},
		{"both", Transpose(a, 0, 1), Transpose(b, 0, 1), true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Matmul(tt.a, tt.b, tt.transA, tt.transB)
			require.Equal(t, []int{2, 2}, got.Shape)
			assert.Equal(t, want, got.Data)
		})
	}
}

func TestMatmulBatched(t *testing.T) {
	// Two batches: identity and 2*identity applied to the same b.
	a := FromSlice([]int{2, 2, 2}, []float64{1, 0, 0, 1, 2, 0, 0, 2})
	b := FromSlice([]int{2, 3}, []float64{1, 2, 3, 4, 5, 6})
	got := Matmul(a, b, false, false)
	require.Equal(t, []int{2, 2, 3}, got.Shape)
	assert.Equal(t, []float64{1, 2, 3, 4, 5, 6, 2, 4, 6, 8, 10, 12}, got.Data)

	// 2-D a broadcast over a batched b: [1 1] sums the rows of each batch.
	ones := FromSlice([]int{1, 2}, []float64{1, 1})
	bb := FromSlice([]int{3, 2, 2}, []float64{1, 2, 3, 4, 0, 0, 1, 1, -1, 5, 2, 2})
	got = Matmul(ones, bb, false, false)
	require.Equal(t, []int{3, 1, 2}, got.Shape)
	assert.Equal(t, []float64{4, 6, 1, 1, 1, 7}, got.Data)

	// Batched with equal batch dims and transposes agrees with explicit
	// transposition.
	x := Rand(1, 2, 3, 4, 5)
	y := Rand(2, 2, 3, 6, 4)
	want := Matmul(Transpose(x, -1, -2), Transpose(y, -1, -2), false, false)
	got = Matmul(x, y, true, true)
	require.Equal(t, []int{2, 3, 5, 6}, got.Shape)
	assert.InDeltaSlice(t, want.Data, got.Data, 1e-15)
}

func TestMatmulPanics(t *testing.T) {
	tests := []struct {
		name string
		a, b *Tensor
	}{
		{"inner mismatch", New(2, 3), New(2, 3)},
		{"1-D operand", New(3), New(3, 2)},
		{"batch mismatch", New(2, 2, 3), New(3, 3, 2)},
		{"batch rank mismatch", New(2, 2, 3), New(1, 2, 3, 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Panics(t, func() { Matmul(tt.a, tt.b, false, false) })
		})
	}
}
