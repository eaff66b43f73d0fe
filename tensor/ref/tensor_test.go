package ref

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// iota returns a tensor of the given shape holding 0, 1, 2, ... in
// row-major order.
func iota(shape ...int) *Tensor { return FromSlice(shape, Arange(Numel(shape), 0, 1).Data) }

func TestNumelAndStrides(t *testing.T) {
	tests := []struct {
		name    string
		shape   []int
		numel   int
		strides []int
	}{
		{"scalar", []int{}, 1, []int{}},
		{"vector", []int{5}, 5, []int{1}},
		{"matrix", []int{2, 3}, 6, []int{3, 1}},
		{"4d", []int{2, 3, 7, 5}, 210, []int{105, 35, 5, 1}},
		{"zero dim", []int{3, 0, 2}, 0, []int{0, 2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.numel, Numel(tt.shape))
			assert.Equal(t, tt.strides, Strides(tt.shape))
			assert.Equal(t, tt.numel, New(tt.shape...).Numel())
		})
	}
	assert.Panics(t, func() { Numel([]int{2, -1}) })
}

func TestConstructors(t *testing.T) {
	z := New(2, 3)
	assert.Equal(t, []int{2, 3}, z.Shape)
	assert.Equal(t, make([]float64, 6), z.Data)

	shape := []int{2, 2}
	x := FromSlice(shape, []float64{1, 2, 3, 4})
	shape[0] = 9
	assert.Equal(t, []int{2, 2}, x.Shape, "FromSlice must copy the shape")
	assert.Panics(t, func() { FromSlice([]int{2, 2}, []float64{1, 2, 3}) })

	f := FromFloat32([]int{3}, []float32{0.5, -1, 0.1})
	assert.Equal(t, []float64{0.5, -1, float64(float32(0.1))}, f.Data)
	assert.Panics(t, func() { FromFloat32([]int{2}, []float32{1}) })

	assert.Equal(t, []float64{7, 7, 7}, Full([]int{3}, 7).Data)
	a := Arange(4, 1, 0.5)
	assert.Equal(t, []int{4}, a.Shape)
	assert.Equal(t, []float64{1, 1.5, 2, 2.5}, a.Data)

	s := scalar(3)
	assert.Equal(t, []int{}, s.Shape)
	assert.Equal(t, 1, s.Numel())
	assert.Equal(t, 3.0, s.At())
}

func TestCloneFloat32At(t *testing.T) {
	x := FromSlice([]int{2, 3}, []float64{0, 1, 2, 3, 4, 5.25})
	c := x.Clone()
	c.Data[0], c.Shape[0] = 100, 7
	assert.Equal(t, 0.0, x.Data[0], "Clone must copy data")
	assert.Equal(t, 2, x.Shape[0], "Clone must copy shape")

	assert.Equal(t, []float32{0, 1, 2, 3, 4, 5.25}, x.Float32())
	assert.Equal(t, 5.25, x.At(1, 2))
	assert.Equal(t, 3.0, x.At(1, 0))
	assert.Panics(t, func() { x.At(2, 0) })
	assert.Panics(t, func() { x.At(0) })
	assert.Panics(t, func() { x.At(0, -1) })
}

func TestNormAxis(t *testing.T) {
	require.Equal(t, 2, normAxis("t", -1, 3))
	require.Equal(t, 0, normAxis("t", -3, 3))
	require.Equal(t, 1, normAxis("t", 1, 3))
	require.Panics(t, func() { normAxis("t", 3, 3) })
	require.Panics(t, func() { normAxis("t", -4, 3) })
}
