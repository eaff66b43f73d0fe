package tensor

import (
	"math"

	"github.com/tessera-ml/tessera/vk"
)

// CODA's attention code assignment (forward): per token n, the statistics of
// logits[n, v] = scale·<q_n, k_v> over the whole codebook, computed tile by
// tile over V so the N×V logits are never stored (see shaders/attn_assign.comp
// and shaders/attn_assign_combine.comp).
var (
	attnAssignKernel        = vk.KernelSpec{Name: "attn_assign", Buffers: 4, PushWords: 6}
	attnAssignCombineKernel = vk.KernelSpec{Name: "attn_assign_combine", Buffers: 9, PushWords: 3}
	attnMeanProbKernel      = vk.KernelSpec{Name: "attn_assign_meanprob", Buffers: 5, PushWords: 7}
)

const (
	// attnMaxTiles bounds the code tiles one invocation walks, far below
	// the drivers' per-invocation loop cap (65,535 on llvmpipe).
	attnMaxTiles = 4096
	// attnTargetGroups is how many workgroups the V split aims for when few
	// token blocks would leave cores idle.
	attnTargetGroups = 128
	// attnMaxD and attnMaxC bound the widths held in registers (the kernel
	// unrolls over them).
	attnMaxD, attnMaxC = 128, 64
	// attnPartWords is the per-(slice, token) state less the C soft sums.
	attnPartWords = 5
)

// AttnAssign holds the per-token results of AttnAssignForward, where
// logits[n, v] = scale·<q_n, k_v> are recomputed tile by tile over V and
// never stored.
type AttnAssign struct {
	Idx    *Tensor // int32 [N]: argmax_v logits (first index on ties)
	Max    *Tensor // [N]: max_v logits
	LSE    *Tensor // [N]: log Σ_v exp(logits)
	Soft   *Tensor // [N, C]: Σ_v softmax(logits)_v · val[v, :]
	EntMax *Tensor // [N]: max_v logits/T
	EntLSE *Tensor // [N]: log Σ_v exp(logits/T)
	EntSum *Tensor // [N]: Σ_v P_v·logits_v/T, P = softmax(logits/T); entropy H = EntLSE − EntSum

	// entLogS [N] is log Σ_v exp((logits − Max)/T): AttnAssignMeanProb's
	// normaliser, which EntLSE − EntMax would round away at small T.
	entLogS *Tensor
}

// Release releases every result tensor.
func (a AttnAssign) Release() {
	for _, t := range a.all() {
		if t != nil && t.err == nil && !t.released {
			t.Release()
		}
	}
}

func (a AttnAssign) all() []*Tensor {
	return []*Tensor{a.Idx, a.Max, a.LSE, a.Soft, a.EntMax, a.EntLSE, a.EntSum, a.entLogS}
}

// Err is the first error of the results (they fail together).
func (a AttnAssign) Err() error { return a.Idx.err }

func attnFailed(e *Engine, err error) AttnAssign {
	f := e.failed(err)
	return AttnAssign{Idx: f, Max: f, LSE: f, Soft: f, EntMax: f, EntLSE: f, EntSum: f, entLogS: f}
}

// AttnAssignForward computes the attention-assignment statistics of q [N, d]
// against keys k [V, d] and values val [V, C] with temperature temp > 0 for
// the entropy terms. V must be positive (an argmax over no codes is
// undefined); 1 ≤ d ≤ 128 and 1 ≤ C ≤ 64 (the kernel holds rows in
// registers). Inputs are expected finite. Peak extra device memory is one
// (5 + C)-float state per token per V slice.
func AttnAssignForward(q, k, val *Tensor, scale, temp float32) AttnAssign {
	e, err := inputs("AttnAssignForward", q, k, val)
	if err != nil {
		return attnFailed(e, err)
	}
	if q.dtype != Float32 || k.dtype != Float32 || val.dtype != Float32 {
		return attnFailed(e, shapeErr("AttnAssignForward", "needs float32 inputs"))
	}
	if len(q.shape) != 2 || len(k.shape) != 2 || len(val.shape) != 2 ||
		q.shape[1] != k.shape[1] || k.shape[0] != val.shape[0] {
		return attnFailed(e, shapeErr("AttnAssignForward", "want q [N, d], k [V, d], val [V, C], got %v, %v, %v", q.shape, k.shape, val.shape))
	}
	n, d, v, c := q.shape[0], q.shape[1], k.shape[0], val.shape[1]
	switch {
	case v == 0:
		return attnFailed(e, shapeErr("AttnAssignForward", "empty codebook (V = 0)"))
	case d < 1 || d > attnMaxD || c < 1 || c > attnMaxC:
		return attnFailed(e, shapeErr("AttnAssignForward", "needs 1 ≤ d ≤ %d and 1 ≤ C ≤ %d, got d = %d, C = %d", attnMaxD, attnMaxC, d, c))
	case !(temp > 0) || math.IsInf(float64(temp), 0):
		return attnFailed(e, shapeErr("AttnAssignForward", "temperature must be positive and finite, got %v", temp))
	}
	r := AttnAssign{
		Idx: e.alloc(Int32, []int{n}), Max: e.alloc(Float32, []int{n}), LSE: e.alloc(Float32, []int{n}),
		Soft: e.alloc(Float32, []int{n, c}), EntMax: e.alloc(Float32, []int{n}),
		EntLSE: e.alloc(Float32, []int{n}), EntSum: e.alloc(Float32, []int{n}), entLogS: e.alloc(Float32, []int{n}),
	}
	for _, t := range r.all() {
		if t.err != nil {
			r.Release()
			return attnFailed(e, t.err)
		}
	}
	if n == 0 {
		return r
	}

	sg := int(e.dev.Info.SubgroupSize)
	// Tokens per lane: 4 amortises each k/val load over more tokens, less
	// when there are few tokens or wide rows.
	tt := 4
	for tt > 1 && (tt/2*sg >= n || tt*d > 256) {
		tt /= 2
	}
	blk := sg * tt
	gx := (n + blk - 1) / blk
	tiles := (v + sg - 1) / sg
	slices := max((tiles+attnMaxTiles-1)/attnMaxTiles, min(tiles, (attnTargetGroups+gx-1)/gx))
	slices = min(slices, 65535)
	per := (tiles + slices - 1) / slices // tiles per slice
	slices = (tiles + per - 1) / per     // no empty slice

	part := e.alloc(Float32, []int{slices, n, attnPartWords + c})
	if part.err != nil {
		r.Release()
		return attnFailed(e, part.err)
	}
	consts := []uint32{u32(sg), u32(tt), u32(d), u32(c), b2u(d%4 == 0), b2u(c%4 == 0)}
	rt := math.Float32bits(1 / temp)
	maxX := min(int(e.dev.Info.MaxWorkgroupCount[0]), 65535)
	for g0 := 0; g0 < gx; g0 += maxX {
		g := min(gx-g0, maxX)
		nt := min(n-g0*blk, g*blk)
		push := []uint32{u32(n), u32(v), u32(g0 * blk), u32(per * sg), math.Float32bits(scale), rt}
		work := vk.Work{Flops: float64(nt) * float64(v) * float64(2*d+2*c+8), Bytes: 4 * (float64(g*slices)*float64(v)*float64(d+c)/float64(slices) + float64(nt)*float64(d+slices*(attnPartWords+c)))}
		e.run(attnAssignKernel, consts, [3]uint32{u32(g), u32(slices), 1}, push, work, in(q), in(k), in(val), out(part))
	}
	work := vk.Work{Flops: float64(n) * float64(slices) * float64(3*c+12), Bytes: 4 * float64(n) * float64(slices*(attnPartWords+c)+6+c)}
	e.run(attnAssignCombineKernel, []uint32{u32(e.wg), u32(c)}, e.groups1D(n), []uint32{u32(n), u32(slices), rt}, work,
		in(part), out(r.Idx), out(r.Max), out(r.LSE), out(r.Soft), out(r.EntMax), out(r.EntLSE), out(r.EntSum), out(r.entLogS))
	part.Release()
	return r
}

// AttnAssignMeanProb returns P̄ [V] = mean_n softmax(logits_n/T) for the
// codebook-entropy term, recomputing logits = scale·q kᵀ from q [N, d] and
// k [V, d] and normalising with stats (Max and the entropy normaliser) from
// AttnAssignForward on the same inputs. Each code's sum runs over the tokens in a fixed order (token
// slices, then a fixed-order sum of the slices): deterministic, no atomics.
// N = 0 gives zeros.
func AttnAssignMeanProb(q, k *Tensor, scale, temp float32, stats AttnAssign) *Tensor {
	if stats.Max == nil || stats.entLogS == nil {
		panic("tensor.AttnAssignMeanProb: stats must come from AttnAssignForward")
	}
	e, err := inputs("AttnAssignMeanProb", q, k, stats.Max, stats.entLogS)
	if err != nil {
		return e.failed(err)
	}
	if q.dtype != Float32 || k.dtype != Float32 || stats.Max.dtype != Float32 {
		return e.failed(shapeErr("AttnAssignMeanProb", "needs float32 inputs"))
	}
	if len(q.shape) != 2 || len(k.shape) != 2 || q.shape[1] != k.shape[1] || !sameShape(stats.Max.shape, q.shape[:1]) {
		return e.failed(shapeErr("AttnAssignMeanProb", "want q [N, d], k [V, d], stats for N tokens, got %v, %v, %v", q.shape, k.shape, stats.Max.shape))
	}
	n, d, v := q.shape[0], q.shape[1], k.shape[0]
	switch {
	case d < 1 || d > attnMaxD:
		return e.failed(shapeErr("AttnAssignMeanProb", "needs 1 ≤ d ≤ %d, got %d", attnMaxD, d))
	case !(temp > 0) || math.IsInf(float64(temp), 0):
		return e.failed(shapeErr("AttnAssignMeanProb", "temperature must be positive and finite, got %v", temp))
	}
	if n == 0 {
		return e.Zeros(v)
	}
	if v == 0 {
		return e.alloc(Float32, []int{0})
	}
	sg := int(e.dev.Info.SubgroupSize)
	tv := 4
	for tv > 1 && (tv/2*sg >= v || tv*d > 256) {
		tv /= 2
	}
	blk := sg * tv
	gx := (v + blk - 1) / blk
	tiles := (n + sg - 1) / sg
	slices := max((tiles+attnMaxTiles-1)/attnMaxTiles, min(tiles, (attnTargetGroups+gx-1)/gx))
	slices = min(slices, 65535)
	per := (tiles + slices - 1) / slices
	slices = (tiles + per - 1) / per

	part := e.alloc(Float32, []int{slices, v})
	if part.err != nil {
		return part
	}
	consts := []uint32{u32(sg), u32(tv), u32(d), b2u(d%4 == 0)}
	maxX := min(int(e.dev.Info.MaxWorkgroupCount[0]), 65535)
	for g0 := 0; g0 < gx; g0 += maxX {
		g := min(gx-g0, maxX)
		vt := min(v-g0*blk, g*blk)
		push := []uint32{u32(n), u32(v), u32(g0 * blk), u32(per * sg), math.Float32bits(scale), math.Float32bits(1 / temp), math.Float32bits(1 / float32(n))}
		work := vk.Work{Flops: float64(n) * float64(vt) * float64(2*d+4), Bytes: 4 * (float64(g*slices)*float64(n)*float64(d+1)/float64(slices) + float64(vt)*float64(d+slices))}
		e.run(attnMeanProbKernel, consts, [3]uint32{u32(g), u32(slices), 1}, push, work, in(q), in(k), in(stats.Max), in(stats.entLogS), out(part))
	}
	y := Sum(part, 0)
	part.Release()
	return y
}
