package ref

import "fmt"

// Permute returns x with its dimensions reordered: dimension d of the
// result is dimension perm[d] of x. Negative entries count from the end.
// It panics unless perm is a permutation of x's dimensions.
func Permute(x *Tensor, perm ...int) *Tensor {
	rank := len(x.Shape)
	if len(perm) != rank {
		panic(fmt.Sprintf("ref: Permute: perm %v for shape %v", perm, x.Shape))
	}
	p := make([]int, rank)
	seen := make([]bool, rank)
	for d, v := range perm {
		v = normAxis("Permute", v, rank)
		if seen[v] {
			panic(fmt.Sprintf("ref: Permute: perm %v repeats dimension %d", perm, v))
		}
		seen[v] = true
		p[d] = v
	}
	shape := make([]int, rank)
	for d, v := range p {
		shape[d] = x.Shape[v]
	}
	out := New(shape...)
	inStrides := Strides(x.Shape)
	idx := make([]int, rank)
	for i := range out.Data {
		unravel(i, shape, idx)
		off := 0
		for d, v := range idx {
			off += v * inStrides[p[d]]
		}
		out.Data[i] = x.Data[off]
	}
	return out
}

// Transpose returns x with dimensions i and j swapped (negative values
// count from the end).
func Transpose(x *Tensor, i, j int) *Tensor {
	rank := len(x.Shape)
	i, j = normAxis("Transpose", i, rank), normAxis("Transpose", j, rank)
	perm := make([]int, rank)
	for d := range perm {
		perm[d] = d
	}
	perm[i], perm[j] = j, i
	return Permute(x, perm...)
}

// Concat joins xs along axis. All inputs must have the same rank and agree
// on every other dimension. It panics when xs is empty or shapes disagree.
func Concat(axis int, xs ...*Tensor) *Tensor {
	if len(xs) == 0 {
		panic("ref: Concat: no tensors")
	}
	rank := len(xs[0].Shape)
	axis = normAxis("Concat", axis, rank)
	shape := cloneInts(xs[0].Shape)
	shape[axis] = 0
	for _, x := range xs {
		ok := len(x.Shape) == rank
		for d := 0; ok && d < rank; d++ {
			ok = d == axis || x.Shape[d] == xs[0].Shape[d]
		}
		if !ok {
			panic(fmt.Sprintf("ref: Concat: shape %v does not match %v off axis %d", x.Shape, xs[0].Shape, axis))
		}
		shape[axis] += x.Shape[axis]
	}
	out := New(shape...)
	outer, _, inner := splitAxis(shape, axis)
	pos := 0
	for o := range outer {
		for _, x := range xs {
			chunk := x.Shape[axis] * inner
			pos += copy(out.Data[pos:], x.Data[o*chunk:(o+1)*chunk])
		}
	}
	return out
}

// Slice returns the elements of x with index in [start, end) along axis.
// It panics unless 0 <= start <= end <= x.Shape[axis].
func Slice(x *Tensor, axis, start, end int) *Tensor {
	axis = normAxis("Slice", axis, len(x.Shape))
	if start < 0 || start > end || end > x.Shape[axis] {
		panic(fmt.Sprintf("ref: Slice: [%d, %d) out of range for dim %d of shape %v", start, end, axis, x.Shape))
	}
	idx := make([]int32, end-start)
	for i := range idx {
		idx[i] = int32(start + i)
	}
	return Gather(x, axis, idx)
}

// Gather returns the slices of x at positions idx along axis, in that
// order, like torch.index_select: the result has x's shape with dimension
// axis replaced by len(idx). Indices may repeat. It panics on an index out
// of range.
func Gather(x *Tensor, axis int, idx []int32) *Tensor {
	axis = normAxis("Gather", axis, len(x.Shape))
	outer, n, inner := splitAxis(x.Shape, axis)
	checkIndex("Gather", idx, n)
	shape := cloneInts(x.Shape)
	shape[axis] = len(idx)
	out := New(shape...)
	for o := range outer {
		for i, j := range idx {
			src := (o*n + int(j)) * inner
			dst := (o*len(idx) + i) * inner
			copy(out.Data[dst:dst+inner], x.Data[src:src+inner])
		}
	}
	return out
}

// ScatterAdd returns a copy of dst with src accumulated into it along axis,
// like torch.Tensor.index_add_(axis, idx, src): slice i of src is added to
// slice idx[i] of the result, and repeated indices accumulate. src must
// have dst's shape with dimension axis replaced by len(idx).
func ScatterAdd(dst *Tensor, axis int, idx []int32, src *Tensor) *Tensor {
	axis = normAxis("ScatterAdd", axis, len(dst.Shape))
	outer, n, inner := splitAxis(dst.Shape, axis)
	checkIndex("ScatterAdd", idx, n)
	want := cloneInts(dst.Shape)
	want[axis] = len(idx)
	if !sameShape(src.Shape, want) {
		panic(fmt.Sprintf("ref: ScatterAdd: src shape %v, want %v", src.Shape, want))
	}
	out := dst.Clone()
	for o := range outer {
		for i, j := range idx {
			to := (o*n + int(j)) * inner
			from := (o*len(idx) + i) * inner
			for k := range inner {
				out.Data[to+k] += src.Data[from+k]
			}
		}
	}
	return out
}

func checkIndex(op string, idx []int32, n int) {
	for i, j := range idx {
		if j < 0 || int(j) >= n {
			panic(fmt.Sprintf("ref: %s: idx[%d] = %d out of range [0, %d)", op, i, j, n))
		}
	}
}
