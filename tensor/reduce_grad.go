package tensor

import "github.com/tessera-ml/tessera/vk"

var argmaxScatterKernel = vk.KernelSpec{Name: "argmax_scatter", Buffers: 3, PushWords: 7}

// MaxBackward returns the gradient of Max(x, axis) for the output gradient
// dy (x's shape without axis): dy at each line's first maximum, as
// torch.max(dim) routes it, and zero elsewhere. It runs Argmax, then one
// kernel that writes every element of the result.
func MaxBackward(x, dy *Tensor, axis int) *Tensor {
	e, err := inputs("MaxBackward", x, dy)
	if err != nil {
		return e.failed(err)
	}
	if x.dtype != Float32 || dy.dtype != Float32 {
		return e.failed(shapeErr("MaxBackward", "needs float32, got x %s and dy %s", x.dtype, dy.dtype))
	}
	a, err := normAxis("MaxBackward", axis, len(x.shape))
	if err != nil {
		return e.failed(err)
	}
	want := append(append([]int(nil), x.shape[:a]...), x.shape[a+1:]...)
	if !sameShape(dy.shape, want) {
		return e.failed(shapeErr("MaxBackward", "dy shape %v, want %v for Max of %v along %d", dy.shape, want, x.shape, axis))
	}
	n, inner := x.shape[a], Numel(x.shape[a+1:])
	if n == 0 {
		return e.failed(shapeErr("MaxBackward", "max over an empty axis of %v", x.shape))
	}
	dx := e.alloc(Float32, x.shape)
	total := dx.Numel()
	if dx.err != nil || total == 0 {
		return dx
	}
	if total >= 1<<31 {
		dx.Release()
		return e.failed(shapeErr("MaxBackward", "%v is too large for 32-bit indexing", x.shape))
	}
	idx := Argmax(x, a)
	if idx.err != nil {
		dx.Release()
		return e.failed(idx.err)
	}
	im, is := fastDiv(inner)
	nm, ns := fastDiv(n)
	e.run(argmaxScatterKernel, e.tileConsts(), e.tileGroups(total),
		[]uint32{u32(total), u32(n), u32(inner), im, is, nm, ns},
		vk.Work{Bytes: 4*float64(total) + 8*float64(dy.Numel())}, in(dy), in(idx), out(dx))
	idx.Release()
	return dx
}
