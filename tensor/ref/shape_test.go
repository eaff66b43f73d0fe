package ref

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPermuteTranspose(t *testing.T) {
	x := iota(2, 3, 4)
	p := Permute(x, 2, 0, 1)
	require.Equal(t, []int{4, 2, 3}, p.Shape)
	for i := range 2 {
		for j := range 3 {
			for k := range 4 {
				require.Equal(t, x.At(i, j, k), p.At(k, i, j))
			}
		}
	}
	assert.Equal(t, p.Data, Permute(x, -1, 0, -2).Data, "negative perm entries")

	tr := Transpose(FromSlice([]int{2, 3}, []float64{1, 2, 3, 4, 5, 6}), 0, -1)
	assert.Equal(t, []int{3, 2}, tr.Shape)
	assert.Equal(t, []float64{1, 4, 2, 5, 3, 6}, tr.Data)
	assert.Equal(t, x.Data, Transpose(x, 1, 1).Data)

	assert.Panics(t, func() { Permute(x, 0, 1) })
	assert.Panics(t, func() { Permute(x, 0, 1, 1) })
	assert.Panics(t, func() { Permute(x, 0, 1, 3) })
}

func TestConcat(t *testing.T) {
	a := FromSlice([]int{2, 2}, []float64{1, 2, 3, 4})
	b := FromSlice([]int{2, 1}, []float64{5, 6})
	c := FromSlice([]int{1, 2}, []float64{7, 8})
	tests := []struct {
		name  string
		got   *Tensor
		shape []int
		want  []float64
	}{
		{"axis 1", Concat(1, a, b), []int{2, 3}, []float64{1, 2, 5, 3, 4, 6}},
		{"axis -1", Concat(-1, b, a, b), []int{2, 4}, []float64{5, 1, 2, 5, 6, 3, 4, 6}},
		{"axis 0", Concat(0, a, c), []int{3, 2}, []float64{1, 2, 3, 4, 7, 8}},
		{"single", Concat(0, a), []int{2, 2}, []float64{1, 2, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.shape, tt.got.Shape)
			assert.Equal(t, tt.want, tt.got.Data)
		})
	}
	assert.Panics(t, func() { Concat(0, a, b) })
	assert.Panics(t, func() { Concat(0) })
	assert.Panics(t, func() { Concat(0, a, New(2)) })
}

func TestSliceGather(t *testing.T) {
	x := iota(2, 3, 4)
	s := Slice(x, 2, 1, 3)
	require.Equal(t, []int{2, 3, 2}, s.Shape)
	assert.Equal(t, []float64{1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22}, s.Data)
	assert.Equal(t, []int{2, 0, 4}, Slice(x, -2, 2, 2).Shape)
	assert.Panics(t, func() { Slice(x, 1, 2, 4) })
	assert.Panics(t, func() { Slice(x, 1, 2, 1) })
	assert.Panics(t, func() { Slice(x, 1, -1, 1) })

	g := Gather(x, 1, []int32{2, 0, 2})
	require.Equal(t, []int{2, 3, 4}, g.Shape)
	assert.Equal(t, []float64{
		8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11,
		20, 21, 22, 23, 12, 13, 14, 15, 20, 21, 22, 23,
	}, g.Data)
	g = Gather(x, -1, []int32{3})
	assert.Equal(t, []int{2, 3, 1}, g.Shape)
	assert.Equal(t, []float64{3, 7, 11, 15, 19, 23}, g.Data)
	assert.Panics(t, func() { Gather(x, 0, []int32{2}) })
	assert.Panics(t, func() { Gather(x, 0, []int32{-1}) })
}

func TestScatterAdd(t *testing.T) {
	dst := FromSlice([]int{3, 2}, []float64{1, 1, 1, 1, 1, 1})
	src := FromSlice([]int{4, 2}, []float64{1, 2, 3, 4, 5, 6, 7, 8})
	got := ScatterAdd(dst, 0, []int32{2, 0, 2, 2}, src)
	require.Equal(t, []int{3, 2}, got.Shape)
	// Row 2 accumulates src rows 0, 2 and 3.
	assert.Equal(t, []float64{4, 5, 1, 1, 14, 17}, got.Data)
	assert.Equal(t, []float64{1, 1, 1, 1, 1, 1}, dst.Data, "dst must not change")

	col := ScatterAdd(dst, -1, []int32{1, 1}, FromSlice([]int{3, 2}, []float64{1, 2, 3, 4, 5, 6}))
	assert.Equal(t, []float64{1, 4, 1, 8, 1, 12}, col.Data)

	// Scattering a gather of distinct indices into zeros restores those
	// slices and leaves the others zero.
	x := iota(2, 3, 4)
	idx := []int32{2, 0}
	back := ScatterAdd(New(2, 3, 4), 1, idx, Gather(x, 1, idx))
	assert.Equal(t, Gather(x, 1, idx).Data, Gather(back, 1, idx).Data)
	assert.Equal(t, make([]float64, 8), Gather(back, 1, []int32{1}).Data)

	assert.Panics(t, func() { ScatterAdd(dst, 0, []int32{3}, New(1, 2)) })
	assert.Panics(t, func() { ScatterAdd(dst, 0, []int32{0}, New(2, 2)) })
}
