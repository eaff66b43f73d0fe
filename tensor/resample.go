package tensor

import (
	"math"

	"github.com/tessera-ml/tessera/vk"
)

var (
	upsampleNearestKernel = vk.KernelSpec{Name: "upsample_nearest", Buffers: 2, PushWords: 11}
	upsampleBicubicKernel = vk.KernelSpec{Name: "upsample_bicubic", Buffers: 2, PushWords: 11}
	areaDownsampleKernel  = vk.KernelSpec{Name: "area_downsample", Buffers: 2, PushWords: 8}
)

// resample validates an NCHW resize to outH×outW and allocates its result.
// done is true when there is nothing to dispatch: y failed (the error is
// recorded) or is empty. float32Only rejects int32 inputs.
func resample(op string, x *Tensor, outH, outW int, float32Only bool) (e *Engine, y *Tensor, done bool) {
	e, err := inputs(op, x)
	if err != nil {
		return e, e.failed(err), true
	}
	if len(x.shape) != 4 {
		return e, e.failed(shapeErr(op, "want an NCHW (4-D) input, got shape %v", x.shape)), true
	}
	if float32Only && x.dtype != Float32 {
		return e, e.failed(shapeErr(op, "needs float32, got %s", x.dtype)), true
	}
	if outH <= 0 || outW <= 0 {
		return e, e.failed(shapeErr(op, "output size %dx%d must be positive", outH, outW)), true
	}
	if x.shape[2] == 0 || x.shape[3] == 0 {
		return e, e.failed(shapeErr(op, "input %v has empty planes", x.shape)), true
	}
	if (x.shape[2]+1)*outH >= 1<<31 || (x.shape[3]+1)*outW >= 1<<31 {
		// The kernels' index arithmetic is 32-bit (area multiplies sizes).
		return e, e.failed(shapeErr(op, "%v to %dx%d is too large", x.shape, outH, outW)), true
	}
	y = e.alloc(x.dtype, []int{x.shape[0], x.shape[1], outH, outW})
	return e, y, y.err != nil || y.Numel() == 0
}

// resamplePush is the push block shared by the resampling kernels: output
// size, output and input plane sizes, the float32 scales in/out as PyTorch
// computes them, and fdiv pairs for outW and outH.
func resamplePush(x *Tensor, outH, outW int) []uint32 {
	h, w := x.shape[2], x.shape[3]
	n := x.shape[0] * x.shape[1] * outH * outW
	wm, ws := fastDiv(outW)
	hm, hs := fastDiv(outH)
	return []uint32{u32(n), u32(outH), u32(outW), u32(h), u32(w),
		math.Float32bits(float32(h) / float32(outH)), math.Float32bits(float32(w) / float32(outW)),
		wm, ws, hm, hs}
}

// UpsampleNearest resizes x [N, C, H, W] to [N, C, outH, outW] like
// F.interpolate(mode='nearest'): output (i, j) copies input (floor(i·H/outH),
// floor(j·W/outW)), the products taken in float32 as PyTorch does (which,
// for some sizes such as 2 → 82, is one less than the exact quotient) and
// clamped to H-1, W-1. It also shrinks, and works for float32 and int32.
func UpsampleNearest(x *Tensor, outH, outW int) *Tensor {
	e, y, done := resample("UpsampleNearest", x, outH, outW, false)
	if done {
		return y
	}
	push := resamplePush(x, outH, outW)
	n := y.Numel()
	e.run(upsampleNearestKernel, e.tileConsts(), e.tileGroups(n), push,
		vk.Work{Bytes: 8 * float64(n)}, in(x), out(y))
	return y
}

// UpsampleBicubic resizes float32 x [N, C, H, W] to [N, C, outH, outW] like
// F.interpolate(mode='bicubic', align_corners=False): Keys cubic
// convolution with a = -0.75 at source coordinate (dst+0.5)·in/out - 0.5
// (in float32, as PyTorch), the 4×4 taps clamped to the border. Shrinking
// is allowed and, as in PyTorch by default, not antialiased.
func UpsampleBicubic(x *Tensor, outH, outW int) *Tensor {
	e, y, done := resample("UpsampleBicubic", x, outH, outW, true)
	if done {
		return y
	}
	push := resamplePush(x, outH, outW)
	n := y.Numel()
	e.run(upsampleBicubicKernel, e.tileConsts(), e.tileGroups(n), push,
		vk.Work{Flops: 40 * float64(n), Bytes: 4*float64(n) + 4*float64(x.Numel())}, in(x), out(y))
	return y
}

// AreaDownsample resizes float32 x [N, C, H, W] to [N, C, outH, outW] like
// F.adaptive_avg_pool2d: output (i, j) is the mean of input rows
// [floor(i·H/outH), ceil((i+1)·H/outH)) and the matching columns. It works
// for any sizes, including ones that do not divide (windows then overlap)
// and outputs larger than the input. It averages along W, then along H
// (the mean of the row means), skipping an axis whose size does not change.
func AreaDownsample(x *Tensor, outH, outW int) *Tensor {
	e, y, done := resample("AreaDownsample", x, outH, outW, true)
	if done {
		return y
	}
	nc, h, w := x.shape[0]*x.shape[1], x.shape[2], x.shape[3]
	switch {
	case h == outH && w == outW:
		e.dev.Copy(y.st.r, x.st.r)
	case h == outH:
		e.areaPass(x, y, nc*h, w, outW, 1)
	case w == outW:
		e.areaPass(x, y, nc, h, outH, w)
	default:
		rows := e.alloc(Float32, []int{nc, h, outW})
		if rows.err != nil {
			return e.failed(rows.err)
		}
		e.areaPass(x, rows, nc*h, w, outW, 1)
		e.areaPass(rows, y, nc, h, outH, outW)
		rows.Release()
	}
	return y
}

// areaPass averages x viewed as [outer, inLen, inner] into y [outer,
// outLen, inner] over adaptive-pooling windows along the middle axis.
// Each invocation handles one element (not tiled), so its loop runs over
// one window edge: llvmpipe caps an invocation's loop iterations.
func (e *Engine) areaPass(x, y *Tensor, outer, inLen, outLen, inner int) {
	n := outer * outLen * inner
	im, is := fastDiv(inner)
	om, os := fastDiv(outLen)
	e.run(areaDownsampleKernel, []uint32{u32(e.wg)}, e.groups1D(n),
		[]uint32{u32(n), u32(inLen), u32(outLen), u32(inner), im, is, om, os},
		vk.Work{Flops: float64(x.Numel()), Bytes: 4*float64(n) + 4*float64(x.Numel())}, in(x), out(y))
}
