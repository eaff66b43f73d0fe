package tensor

import (
	"math"

	"github.com/tessera-ml/tessera/vk"
)

// Backward kernels of the resampling ops (and Slice's, which is a copy).
//
// Nearest, bicubic and area resizing are all separable: y = A_H · x · A_Wᵀ
// per plane, with a small interpolation matrix per axis. Their adjoint is
// dx = A_Hᵀ · dy · A_W, computed as two one-axis passes of one kernel
// (shaders/resample_backward.comp). The host builds each axis's transposed
// matrix as CSR rows: for input index t, the outputs d that read it and
// their weights (the taps clamped onto a border pixel included), using the
// forward kernels' float32 index arithmetic so the taps are the same ones.
// Each dx element then gathers its contributions: deterministic, no float
// atomics.

var resampleBackwardKernel = vk.KernelSpec{Name: "resample_backward", Buffers: 3, PushWords: 11}

// resampleSegment is the most entries of one input's run a
// resample_backward invocation sums per dispatch, so that EPT·segment stays
// well under llvmpipe's 65535-iteration cap on extreme upscales. A variable
// so tests can exercise several segments cheaply.
var resampleSegment = 8192

type resampleKind int

const (
	resampleNearest resampleKind = iota
	resampleBicubic
	resampleArea
)

var resampleBackwardNames = [...]string{"UpsampleNearestBackward", "UpsampleBicubicBackward", "AreaDownsampleBackward"}

// UpsampleNearestBackward returns the gradient with respect to x [N, C, inH,
// inW] of y = UpsampleNearest(x, outH, outW) given dy [N, C, outH, outW]:
// each input pixel gets the sum of dy over the outputs that copied it.
func UpsampleNearestBackward(dy *Tensor, inH, inW int) *Tensor {
	return resampleBackward(resampleNearest, dy, inH, inW)
}

// UpsampleBicubicBackward returns the gradient with respect to x [N, C,
// inH, inW] of y = UpsampleBicubic(x, outH, outW) given dy [N, C, outH,
// outW]: each input pixel gets dy·weight from every tap that read it,
// including the taps clamped onto border pixels.
func UpsampleBicubicBackward(dy *Tensor, inH, inW int) *Tensor {
	return resampleBackward(resampleBicubic, dy, inH, inW)
}

// AreaDownsampleBackward returns the gradient with respect to x [N, C, inH,
// inW] of y = AreaDownsample(x, outH, outW) given dy [N, C, outH, outW]:
// each output's dy spread evenly over its window, overlaps adding up.
func AreaDownsampleBackward(dy *Tensor, inH, inW int) *Tensor {
	return resampleBackward(resampleArea, dy, inH, inW)
}

func resampleBackward(kind resampleKind, dy *Tensor, inH, inW int) *Tensor {
	op := resampleBackwardNames[kind]
	e, err := inputs(op, dy)
	if err != nil {
		return e.failed(err)
	}
	if len(dy.shape) != 4 {
		return e.failed(shapeErr(op, "want an NCHW (4-D) dy, got shape %v", dy.shape))
	}
	if dy.dtype != Float32 {
		return e.failed(shapeErr(op, "needs float32, got %s", dy.dtype))
	}
	nc, outH, outW := dy.shape[0]*dy.shape[1], dy.shape[2], dy.shape[3]
	if inH <= 0 || inW <= 0 || outH <= 0 || outW <= 0 {
		return e.failed(shapeErr(op, "input size %dx%d and dy planes %dx%d must be positive", inH, inW, outH, outW))
	}
	if (inH+1)*outH >= 1<<31 || (inW+1)*outW >= 1<<31 ||
		nc*max(inH, outH)*max(inW, outW) >= 1<<31 {
		// 32-bit index arithmetic in the kernel, as in the forward.
		return e.failed(shapeErr(op, "%v to %dx%d is too large", dy.shape, inH, inW))
	}
	dx := e.alloc(Float32, []int{dy.shape[0], dy.shape[1], inH, inW})
	if dx.err != nil || dx.Numel() == 0 {
		return dx
	}
	// Equal sizes are the identity for all three kinds (bicubic's weights
	// at t = 0 are exactly 0, 1, 0, 0).
	idH, idW := inH == outH, inW == outW
	switch {
	case idH && idW:
		e.dev.Copy(dx.st.r, dy.st.r)
	case idH:
		e.resampleAxis(kind, dy, dx, nc*inH, inW, outW, 1)
	case idW:
		e.resampleAxis(kind, dy, dx, nc, inH, outH, inW)
	case inH*outW <= outH*inW:
		// H first: the smaller intermediate [nc, inH, outW] is also the
		// cheaper order (each pass's work is proportional to its output).
		tmp := e.alloc(Float32, []int{nc, inH, outW})
		if tmp.err != nil {
			dx.Release()
			return e.failed(tmp.err)
		}
		e.resampleAxis(kind, dy, tmp, nc, inH, outH, outW)
		e.resampleAxis(kind, tmp, dx, nc*inH, inW, outW, 1)
		tmp.Release()
	default:
		tmp := e.alloc(Float32, []int{nc, outH, inW})
		if tmp.err != nil {
			dx.Release()
			return e.failed(tmp.err)
		}
		e.resampleAxis(kind, dy, tmp, nc*outH, inW, outW, 1)
		e.resampleAxis(kind, tmp, dx, nc, inH, outH, inW)
		tmp.Release()
	}
	return dx
}

// resampleAxis records the adjoint along the middle axis of dy viewed as
// [outer, outLen, inner] into dx [outer, inLen, inner].
func (e *Engine) resampleAxis(kind resampleKind, dy, dx *Tensor, outer, inLen, outLen, inner int) {
	tab, maxRun := adjointTable(kind, inLen, outLen)
	tt := e.FromInt32(tab, len(tab))
	if tt.err != nil {
		return
	}
	n := outer * inLen * inner
	entries := (len(tab) - inLen - 1) / 2
	im, is := fastDiv(inner)
	lm, ls := fastDiv(inLen)
	segLen := resampleSegment
	work := vk.Work{Flops: 2 * float64(outer*inner*entries), Bytes: 4*float64(n) + 4*float64(dy.Numel())}
	for seg := 0; seg == 0 || seg*segLen < maxRun; seg++ {
		if seg == 1 {
			work = vk.Work{Bytes: 8 * float64(n)} // mostly early exits
		}
		e.run(resampleBackwardKernel, e.tileConsts(), e.tileGroups(n),
			[]uint32{u32(n), u32(inLen), u32(outLen), u32(inner), im, is, lm, ls, u32(inLen + 1), u32(seg), u32(segLen)},
			work, in(tt), in(dy), inout(dx))
	}
	tt.Release()
}

// adjointTable returns the transposed interpolation matrix of one axis
// (in input samples, out output samples) in the layout
// resample_backward.comp reads: in+1 run starts, then (d, float32 weight
// bits) pairs, each input's run in ascending d. maxRun is the longest run.
func adjointTable(kind resampleKind, in, out int) (tab []int32, maxRun int) {
	type entry struct {
		t, d int
		w    float64
	}
	ents := make([]entry, 0, 4*out)
	add := func(t, d int, w float64) {
		// A tap clamped onto the same pixel as the previous one of the
		// same output merges with it: one entry, the weights summed.
		if k := len(ents) - 1; k >= 0 && ents[k].t == t && ents[k].d == d {
			ents[k].w += w
			return
		}
		ents = append(ents, entry{t, d, w})
	}
	switch kind {
	case resampleNearest:
		// floor(float32(d) * float32(in/out)), as upsample_nearest.comp.
		scale := float32(in) / float32(out)
		for d := range out {
			add(min(int(math.Floor(float64(float32(d)*scale))), in-1), d, 1)
		}
	case resampleBicubic:
		// The source coordinate in float32 step by step, as
		// upsample_bicubic.comp (its `precise` forbids fusing).
		scale := float32(in) / float32(out)
		for d := range out {
			src := float32(float32(float32(d)+0.5)*scale) - 0.5
			f := float32(math.Floor(float64(src)))
			t := float64(src - f)
			w := [4]float64{cubicFar(t + 1), cubicNear(t), cubicNear(1 - t), cubicFar(2 - t)}
			for k := range 4 {
				add(min(max(int(f)-1+k, 0), in-1), d, w[k])
			}
		}
	case resampleArea:
		for d := range out {
			t0, t1 := d*in/out, ((d+1)*in+out-1)/out
			w := float64(float32(1) / float32(t1-t0))
			for t := t0; t < t1; t++ {
				add(t, d, w)
			}
		}
	}
	// Counting sort by input index; stable, so runs keep ascending d.
	tab = make([]int32, in+1+2*len(ents))
	for _, en := range ents {
		tab[en.t+1]++
	}
	for t := range in {
		maxRun = max(maxRun, int(tab[t+1]))
		tab[t+1] += tab[t]
	}
	next := make([]int32, in)
	copy(next, tab[:in])
	for _, en := range ents {
		p := in + 1 + 2*int(next[en.t])
		next[en.t]++
		tab[p] = int32(en.d)
		tab[p+1] = int32(math.Float32bits(float32(en.w)))
	}
	return tab, maxRun
}

// Keys cubic convolution with A = -0.75, as in upsample_bicubic.comp.
const cubicA = -0.75

func cubicNear(v float64) float64 { return ((cubicA+2)*v-(cubicA+3))*v*v + 1 }             // |v| <= 1
func cubicFar(v float64) float64  { return ((cubicA*v-5*cubicA)*v+8*cubicA)*v - 4*cubicA } // 1 < |v| < 2

// SliceBackward returns the gradient of Slice(x, axis, start, start +
// dy.Dim(axis)) for x with size n along axis: dy placed at [start, start +
// len) along axis of a zero tensor. One fill and one copy, cheaper than
// concatenating zero pieces.
func SliceBackward(dy *Tensor, axis, start, n int) *Tensor {
	e, err := inputs("SliceBackward", dy)
	if err != nil {
		return e.failed(err)
	}
	a, err := normAxis("SliceBackward", axis, len(dy.shape))
	if err != nil {
		return e.failed(err)
	}
	m := dy.shape[a]
	if start < 0 || start+m > n {
		return e.failed(shapeErr("SliceBackward", "[%d, %d) out of range for size %d", start, start+m, n))
	}
	shape := append([]int(nil), dy.shape...)
	shape[a] = n
	dx := e.alloc(dy.dtype, shape)
	if dx.err != nil || dx.Numel() == 0 {
		return dx
	}
	if m < n {
		e.dev.Fill(dx.st.r, 0)
	}
	if dy.Numel() > 0 {
		outer, inner := Numel(shape[:a]), Numel(shape[a+1:])
		chunk := m * inner
		e.copyRows(dx, dy, outer, chunk, 0, chunk, start*inner, n*inner)
	}
	return dx
}
