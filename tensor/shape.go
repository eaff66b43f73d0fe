package tensor

import (
	"math/bits"

	"github.com/tessera-ml/tessera/vk"
)

// Shape ops move 32-bit words without looking at them, so they serve
// float32 and int32 tensors alike.
var (
	permuteKernel     = vk.KernelSpec{Name: "permute", Buffers: 2, PushWords: 2 + 3*MaxRank + 2}
	copyRowsKernel    = vk.KernelSpec{Name: "copy_rows", Buffers: 2, PushWords: 8}
	gatherKernel      = vk.KernelSpec{Name: "gather", Buffers: 3, PushWords: 8}
	scatterAddKernel  = vk.KernelSpec{Name: "scatter_add", Buffers: 6, PushWords: 12}
	scatterSortKernel = vk.KernelSpec{Name: "scatter_add_sort", Buffers: 3, PushWords: 7}
)

// tileEPT is how many elements each invocation of the copying and
// resampling kernels handles (spec constant 1): a workgroup covers wg·EPT
// elements, invocation l taking l, l+wg, l+2wg, ... so each step's writes
// stay contiguous across the workgroup. Fewer workgroups matter on
// llvmpipe, where each costs about as much as a few hundred elements.
const tileEPT = 4

// tileConsts are the specialization constants of the tiled kernels.
func (e *Engine) tileConsts() []uint32 { return []uint32{u32(e.wg), tileEPT} }

// tileGroups is the grid of a tiled kernel over n elements.
func (e *Engine) tileGroups(n int) [3]uint32 { return e.dev.Groups1D((n+tileEPT-1)/tileEPT, e.wg) }

// fastDiv returns the pair (m, s) with which shape.glsl's fdiv divides
// n < 2^31 by d ≥ 1 as (mulhi(n, m) + n) >> s (Granlund and Montgomery's
// division by invariant integers, as PyTorch's IntDivider): s = ⌈log2 d⌉,
// m = ⌊2^32·(2^s − d)/d⌋ + 1, which fits in 32 bits.
func fastDiv(d int) (m, s uint32) {
	l := bits.Len32(uint32(d - 1))
	return uint32((uint64(1)<<32)*(uint64(1)<<l-uint64(d))/uint64(d) + 1), uint32(l)
}

// Permute returns a copy of x with its dimensions reordered: dimension d of
// the result is dimension perm[d] of x (negative entries count from the
// end), like torch.permute followed by contiguous().
func Permute(x *Tensor, perm ...int) *Tensor { return permute("Permute", x, perm) }

// Transpose returns a copy of x with dimensions i and j swapped (negative
// axes count from the end).
func Transpose(x *Tensor, i, j int) *Tensor {
	e, err := inputs("Transpose", x)
	if err != nil {
		return e.failed(err)
	}
	rank := len(x.shape)
	a, err := normAxis("Transpose", i, rank)
	if err != nil {
		return e.failed(err)
	}
	b, err := normAxis("Transpose", j, rank)
	if err != nil {
		return e.failed(err)
	}
	perm := make([]int, rank)
	for d := range perm {
		perm[d] = d
	}
	perm[a], perm[b] = b, a
	return permute("Transpose", x, perm)
}

func permute(op string, x *Tensor, perm []int) *Tensor {
	e, err := inputs(op, x)
	if err != nil {
		return e.failed(err)
	}
	rank := len(x.shape)
	if len(perm) != rank {
		return e.failed(shapeErr(op, "perm %v for shape %v", perm, x.shape))
	}
	p := make([]int, rank)
	seen := make([]bool, rank)
	for d, v := range perm {
		a, err := normAxis(op, v, rank)
		if err != nil {
			return e.failed(shapeErr(op, "perm %v for shape %v", perm, x.shape))
		}
		if seen[a] {
			return e.failed(shapeErr(op, "perm %v repeats dimension %d", perm, a))
		}
		seen[a] = true
		p[d] = a
	}
	shape := make([]int, rank)
	for d, a := range p {
		shape[d] = x.shape[a]
	}
	y := e.alloc(x.dtype, shape)
	n := y.Numel()
	if y.err != nil || n == 0 {
		return y
	}
	// Collapse the view: size-1 dims do not move anything, and neighbouring
	// output dims that are also neighbours in x act as one dim. What is
	// left is usually rank 2 or 3, which keeps the kernel's index loop short.
	inStrides := contiguousStrides(x.shape)
	var dims, strides []int
	for d, a := range p {
		sz, st := shape[d], inStrides[a]
		if sz == 1 {
			continue
		}
		if k := len(dims) - 1; k >= 0 && strides[k] == st*sz {
			dims[k] *= sz
			strides[k] = st
			continue
		}
		dims = append(dims, sz)
		strides = append(strides, st)
	}
	if len(dims) == 0 || (len(dims) == 1 && strides[0] == 1) {
		// The permutation keeps the memory order: a plain copy.
		e.dev.Copy(y.st.r, x.st.r)
		return y
	}
	push := make([]uint32, permuteKernel.PushWords)
	push[0], push[1] = u32(n), u32(len(dims))
	for d := range dims {
		m, s := fastDiv(dims[d])
		push[2+d] = u32(dims[d])
		push[2+MaxRank+d] = u32(strides[d])
		push[2+2*MaxRank+d] = m
		push[2+3*MaxRank+d/4] |= s << (8 * (d % 4))
	}
	e.run(permuteKernel, e.tileConsts(), e.tileGroups(n), push,
		vk.Work{Bytes: 8 * float64(n)}, in(x), out(y))
	return y
}

// contiguousStrides returns row-major element strides of shape.
func contiguousStrides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for d := len(shape) - 1; d >= 0; d-- {
		s[d] = acc
		acc *= shape[d]
	}
	return s
}

// Concat joins xs along axis (negative counts from the end). All inputs
// need the same dtype and rank and equal sizes off the axis; pieces of size
// 0 along the axis are allowed. It panics when xs is empty: there is no
// engine to record an error on.
func Concat(axis int, xs ...*Tensor) *Tensor {
	if len(xs) == 0 {
		panic("tensor.Concat: no inputs")
	}
	e, err := inputs("Concat", xs...)
	if err != nil {
		return e.failed(err)
	}
	first := xs[0]
	rank := len(first.shape)
	a, err := normAxis("Concat", axis, rank)
	if err != nil {
		return e.failed(err)
	}
	shape := append([]int(nil), first.shape...)
	shape[a] = 0
	for i, x := range xs {
		if x.dtype != first.dtype {
			return e.failed(shapeErr("Concat", "input %d is %s, input 0 is %s", i, x.dtype, first.dtype))
		}
		ok := len(x.shape) == rank
		for d := 0; ok && d < rank; d++ {
			ok = d == a || x.shape[d] == first.shape[d]
		}
		if !ok {
			return e.failed(shapeErr("Concat", "input %d shape %v does not match %v off axis %d", i, x.shape, first.shape, axis))
		}
		shape[a] += x.shape[a]
	}
	y := e.alloc(first.dtype, shape)
	if y.err != nil || y.Numel() == 0 {
		return y
	}
	outer, inner := Numel(shape[:a]), Numel(shape[a+1:])
	pos := 0
	for _, x := range xs {
		chunk := x.shape[a] * inner
		if chunk > 0 {
			e.copyRows(y, x, outer, chunk, 0, chunk, pos, shape[a]*inner)
		}
		pos += chunk
	}
	return y
}

// Slice returns a copy of the elements of x with index in [start, end)
// along axis (negative axis counts from the end); start == end gives an
// empty result.
func Slice(x *Tensor, axis, start, end int) *Tensor {
	e, err := inputs("Slice", x)
	if err != nil {
		return e.failed(err)
	}
	a, err := normAxis("Slice", axis, len(x.shape))
	if err != nil {
		return e.failed(err)
	}
	n := x.shape[a]
	if start < 0 || start > end || end > n {
		return e.failed(shapeErr("Slice", "[%d, %d) out of range for dim %d (size %d) of %v", start, end, axis, n, x.shape))
	}
	shape := append([]int(nil), x.shape...)
	shape[a] = end - start
	y := e.alloc(x.dtype, shape)
	if y.err != nil || y.Numel() == 0 {
		return y
	}
	outer, inner := Numel(shape[:a]), Numel(shape[a+1:])
	chunk := (end - start) * inner
	e.copyRows(y, x, outer, chunk, start*inner, n*inner, 0, chunk)
	return y
}

// Copies of at least this many elements per row go through the transfer
// path (vkCmdCopyBuffer) rather than a dispatch when there are few rows.
const (
	copyRowsMaxRows  = 16
	copyRowsMinChunk = 1024
)

// copyRows records dst[dstOff + r*dstStride + k] = src[srcOff + r*srcStride
// + k] for r < rows, k < chunk (element units). Contiguous blocks and a
// few long rows become plain device copies of sub-ranges; anything else is
// one copy_rows dispatch.
func (e *Engine) copyRows(dst, src *Tensor, rows, chunk, srcOff, srcStride, dstOff, dstStride int) {
	if rows == 1 || (srcStride == chunk && dstStride == chunk) {
		// One contiguous block on both sides.
		chunk, rows = rows*chunk, 1
	}
	if rows == 1 || (rows <= copyRowsMaxRows && chunk >= copyRowsMinChunk) {
		size := uint64(4 * chunk)
		for r := range rows {
			e.dev.Copy(dst.st.r.Sub(uint64(4*(dstOff+r*dstStride)), size),
				src.st.r.Sub(uint64(4*(srcOff+r*srcStride)), size))
		}
		return
	}
	n := rows * chunk
	m, s := fastDiv(chunk)
	e.run(copyRowsKernel, e.tileConsts(), e.tileGroups(n),
		[]uint32{u32(n), u32(chunk), u32(srcOff), u32(srcStride), u32(dstOff), u32(dstStride), m, s},
		vk.Work{Bytes: 8 * float64(n)}, in(src), out(dst))
}

// checkIndex validates an index tensor: int32 and 1-D.
func checkIndex(op string, idx *Tensor) error {
	if idx.dtype != Int32 {
		return shapeErr(op, "idx must be int32, got %s", idx.dtype)
	}
	if len(idx.shape) != 1 {
		return shapeErr(op, "idx must be 1-D, got shape %v", idx.shape)
	}
	return nil
}

// Gather returns the slices of x at positions idx along axis, in idx's
// order, like torch.index_select: x's shape with dimension axis replaced by
// len(idx). idx is a 1-D int32 tensor; indices may repeat. It lives on the
// device, so out-of-range indices cannot be reported: an index outside
// [0, x.Dim(axis)) reads zeros.
func Gather(x *Tensor, axis int, idx *Tensor) *Tensor {
	e, err := inputs("Gather", x, idx)
	if err != nil {
		return e.failed(err)
	}
	if err := checkIndex("Gather", idx); err != nil {
		return e.failed(err)
	}
	a, err := normAxis("Gather", axis, len(x.shape))
	if err != nil {
		return e.failed(err)
	}
	m := idx.shape[0]
	shape := append([]int(nil), x.shape...)
	shape[a] = m
	y := e.alloc(x.dtype, shape)
	n := y.Numel()
	if y.err != nil || n == 0 {
		return y
	}
	if x.st == nil {
		// x is empty along the axis, so every index is out of range.
		e.dev.Fill(y.st.r, 0)
		return y
	}
	inner := Numel(shape[a+1:])
	im, is := fastDiv(inner)
	mm, ms := fastDiv(m)
	e.run(gatherKernel, e.tileConsts(), e.tileGroups(n),
		[]uint32{u32(n), u32(inner), u32(m), u32(x.shape[a]), im, is, mm, ms},
		vk.Work{Bytes: 8 * float64(n)}, in(x), in(idx), out(y))
	return y
}

// scatterScanMax is the longest idx that ScatterAdd scans directly from
// every output element; longer ones are sorted first. A variable so tests
// can force either path.
var scatterScanMax = 32

// scatterSegment is how many entries of one index's run a scatter_add
// invocation adds per dispatch: llvmpipe stops an invocation after 65535
// loop iterations, and one index may repeat more often than that. A
// variable so tests can exercise several segments cheaply.
var scatterSegment = 16384

// ScatterAdd returns a new tensor equal to dst.clone().index_add_(axis,
// idx, src): slice i of src along axis is added to slice idx[i] of the
// result, repeated indices accumulating. src must have dst's dtype (float32
// or int32) and shape with dimension axis replaced by len(idx); idx is a
// 1-D int32 tensor. Indices outside [0, dst.Dim(axis)) are skipped: they
// contribute nothing. The result is deterministic: no atomics are used, and
// each element adds its contributions in ascending i, starting from dst's
// value (PyTorch's CPU order).
func ScatterAdd(dst *Tensor, axis int, idx *Tensor, src *Tensor) *Tensor {
	e, err := inputs("ScatterAdd", dst, idx, src)
	if err != nil {
		return e.failed(err)
	}
	if err := checkIndex("ScatterAdd", idx); err != nil {
		return e.failed(err)
	}
	a, err := normAxis("ScatterAdd", axis, len(dst.shape))
	if err != nil {
		return e.failed(err)
	}
	if src.dtype != dst.dtype {
		return e.failed(shapeErr("ScatterAdd", "src is %s, dst is %s", src.dtype, dst.dtype))
	}
	m := idx.shape[0]
	want := append([]int(nil), dst.shape...)
	want[a] = m
	if !sameShape(src.shape, want) {
		return e.failed(shapeErr("ScatterAdd", "src shape %v, want %v", src.shape, want))
	}
	y := e.alloc(dst.dtype, dst.shape)
	n := y.Numel()
	if y.err != nil || n == 0 {
		return y
	}
	if m == 0 {
		e.dev.Copy(y.st.r, dst.st.r)
		return y
	}
	nAxis, inner := dst.shape[a], Numel(dst.shape[a+1:])
	isInt := uint32(0)
	if dst.dtype == Int32 {
		isInt = 1
	}
	im, is := fastDiv(inner)
	nm, ns := fastDiv(nAxis)
	// One element per invocation (not tiled): llvmpipe's loop cap counts
	// all of an invocation's iterations, so each loops over one run only.
	consts := []uint32{u32(e.wg)}
	groups := e.dev.Groups1D(n, e.wg)
	work := vk.Work{Flops: float64(src.Numel()), Bytes: 4 * float64(2*n+src.Numel())}
	if m <= scatterScanMax {
		// Mode 0: every element scans idx; the pairs and starts bindings
		// are unused, so idx stands in for them.
		e.run(scatterAddKernel, consts, groups,
			[]uint32{u32(n), u32(inner), u32(nAxis), u32(m), 0, isInt, im, is, nm, ns, 0, 0},
			work, in(idx), in(idx), in(idx), in(dst), in(src), inout(y))
		return y
	}
	pairs, starts := e.sortIndex(idx, nAxis)
	defer pairs.Release()
	defer starts.Release()
	for _, t := range []*Tensor{pairs, starts} {
		if t.err != nil {
			y.Release()
			return e.failed(t.err)
		}
	}
	// A run can be no longer than m; segments past a run's end return at
	// once.
	for seg := 0; seg*scatterSegment < m; seg++ {
		if seg == 1 {
			work = vk.Work{Bytes: 8 * float64(n)} // mostly early exits
		}
		e.run(scatterAddKernel, consts, groups,
			[]uint32{u32(n), u32(inner), u32(nAxis), u32(m), 1, isInt, im, is, nm, ns, u32(seg), u32(scatterSegment)},
			work, in(idx), in(pairs), in(starts), in(dst), in(src), inout(y))
	}
	return y
}

// sortIndex records the sort of idx's (value, position) pairs by value then
// position, and the start of each value's run: pairs[starts[j] ..
// starts[j+1]) are the positions i with idx[i] == j, ascending. The pairs
// are padded to a power of two p ≥ 2·wg and sorted by a bitonic network:
// one local pass for all stages inside a block of 2·wg pairs, then for each
// larger stage k its global steps j ≥ 2·wg and one local pass for the
// rest. For len(idx) = 30000 and wg = 64 that is 45 dispatches. Temporaries
// are the caller's to release.
func (e *Engine) sortIndex(idx *Tensor, nAxis int) (pairs, starts *Tensor) {
	m := idx.shape[0]
	block := 2 * e.wg
	p := block
	for p < m {
		p *= 2
	}
	pairs = e.alloc(Int32, []int{2 * p})
	starts = e.alloc(Int32, []int{nAxis + 1})
	if pairs.err != nil || starts.err != nil {
		return pairs, starts
	}
	consts := []uint32{u32(e.wg)}
	pass := func(kind, k, j, kHi uint32, threads int) {
		e.run(scatterSortKernel, consts, e.groups1D(threads),
			[]uint32{kind, u32(m), u32(p), u32(nAxis), k, j, kHi},
			vk.Work{Bytes: 16 * float64(p)}, in(idx), inout(pairs), out(starts))
	}
	const (
		passInit   = 0
		passGlobal = 1
		passStarts = 2
		passLocal  = 3
	)
	pass(passInit, 0, 0, 0, p)
	// The local pass runs one workgroup per block: wg threads, one
	// compare-exchange each.
	pass(passLocal, 2, 1, u32(block), p/2)
	for k := 2 * block; k <= p; k *= 2 {
		for j := k / 2; j >= block; j /= 2 {
			pass(passGlobal, u32(k), u32(j), 0, p/2)
		}
		pass(passLocal, u32(k), u32(block/2), u32(k), p/2)
	}
	pass(passStarts, 0, 0, 0, nAxis+1)
	return pairs, starts
}
