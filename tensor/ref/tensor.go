package ref

import (
	"fmt"
	"math"
)

// Tensor is a dense row-major float64 array.
//
// A Tensor with an empty Shape is a scalar holding one element.
type Tensor struct {
	Shape []int
	Data  []float64
}

// New returns a zero-filled tensor of the given shape.
func New(shape ...int) *Tensor {
	return &Tensor{Shape: cloneInts(shape), Data: make([]float64, Numel(shape))}
}

// FromSlice wraps data in a tensor of the given shape. The shape is copied;
// data is not. It panics if len(data) does not match the shape.
func FromSlice(shape []int, data []float64) *Tensor {
	if n := Numel(shape); n != len(data) {
		panic(fmt.Sprintf("ref: FromSlice: shape %v needs %d elements, got %d", shape, n, len(data)))
	}
	return &Tensor{Shape: cloneInts(shape), Data: data}
}

// FromFloat32 returns a tensor of the given shape holding data widened to
// float64. It panics if len(data) does not match the shape.
func FromFloat32(shape []int, data []float32) *Tensor {
	if n := Numel(shape); n != len(data) {
		panic(fmt.Sprintf("ref: FromFloat32: shape %v needs %d elements, got %d", shape, n, len(data)))
	}
	out := make([]float64, len(data))
	for i, v := range data {
		out[i] = float64(v)
	}
	return &Tensor{Shape: cloneInts(shape), Data: out}
}

// Full returns a tensor of the given shape with every element set to v.
func Full(shape []int, v float64) *Tensor {
	t := New(shape...)
	for i := range t.Data {
		t.Data[i] = v
	}
	return t
}

// Arange returns the 1-D tensor [start, start+step, ..., start+(n-1)*step].
func Arange(n int, start, step float64) *Tensor {
	t := New(n)
	for i := range t.Data {
		t.Data[i] = start + float64(i)*step
	}
	return t
}

// Numel returns the number of elements of t.
func (t *Tensor) Numel() int { return Numel(t.Shape) }

// Float32 returns the elements of t narrowed to float32, in row-major order.
func (t *Tensor) Float32() []float32 {
	out := make([]float32, len(t.Data))
	for i, v := range t.Data {
		out[i] = float32(v)
	}
	return out
}

// Clone returns a deep copy of t.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: cloneInts(t.Shape), Data: append([]float64(nil), t.Data...)}
}

// At returns the element at the given multi-index. It panics if the number
// of indices differs from the rank or an index is out of range.
func (t *Tensor) At(idx ...int) float64 {
	if len(idx) != len(t.Shape) {
		panic(fmt.Sprintf("ref: At: %d indices for shape %v", len(idx), t.Shape))
	}
	off := 0
	for d, i := range idx {
		if i < 0 || i >= t.Shape[d] {
			panic(fmt.Sprintf("ref: At: index %v out of range for shape %v", idx, t.Shape))
		}
		off = off*t.Shape[d] + i
	}
	return t.Data[off]
}

// String returns a short description of t: its shape and, for small
// tensors, its elements.
func (t *Tensor) String() string {
	if len(t.Data) <= 16 {
		return fmt.Sprintf("Tensor%v%v", t.Shape, t.Data)
	}
	return fmt.Sprintf("Tensor%v[%d elements]", t.Shape, len(t.Data))
}

// Numel returns the number of elements of a tensor with the given shape;
// the empty shape (a scalar) has one element. It panics on a negative
// dimension.
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("ref: negative dimension in shape %v", shape))
		}
		n *= d
	}
	return n
}

// Strides returns the row-major element strides of shape: the last
// dimension has stride 1.
func Strides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for d := len(shape) - 1; d >= 0; d-- {
		s[d] = acc
		acc *= shape[d]
	}
	return s
}

// normAxis resolves a possibly negative axis against rank, panicking when
// it is out of range. op names the caller in the panic message.
func normAxis(op string, axis, rank int) int {
	if axis < -rank || axis >= rank {
		panic(fmt.Sprintf("ref: %s: axis %d out of range for rank %d", op, axis, rank))
	}
	if axis < 0 {
		axis += rank
	}
	return axis
}

// splitAxis views shape as [outer, shape[axis], inner].
func splitAxis(shape []int, axis int) (outer, n, inner int) {
	return Numel(shape[:axis]), shape[axis], Numel(shape[axis+1:])
}

// unravel writes the multi-index of flat offset off in shape into idx.
func unravel(off int, shape, idx []int) {
	for d := len(shape) - 1; d >= 0; d-- {
		if shape[d] == 0 {
			idx[d] = 0
			continue
		}
		idx[d] = off % shape[d]
		off /= shape[d]
	}
}

func cloneInts(s []int) []int {
	if s == nil {
		return []int{}
	}
	return append([]int{}, s...)
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// maxNaN returns the larger of a and b, propagating NaN like torch.max.
func maxNaN(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	if b > a {
		return b
	}
	return a
}
