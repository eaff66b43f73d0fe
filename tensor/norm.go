package tensor

import (
	"math"
	"runtime"

	"github.com/tessera-ml/tessera/vk"
)

// normKernel is shaders/groupnorm.comp, which serves all three norms: a
// LayerNorm or RMSNorm row is a segment of one channel run per element.
var normKernel = vk.KernelSpec{Name: "groupnorm", Buffers: 6, PushWords: 9}

// Flags of groupnorm.comp.
const (
	normHasGamma = 1
	normHasBeta  = 2
	normStats    = 4
	normRMS      = 8
)

// GroupNormBytes is the memory traffic of a GroupNorm over numel elements
// counted as one read and one write of x, for bandwidth figures.
func GroupNormBytes(numel int) float64 { return 2 * 4 * float64(numel) }

// GroupNorm normalises x [N, C, ...] like torch.nn.functional.group_norm:
// the C channels form groups contiguous groups, each (sample, group) block
// (its channels and all trailing dimensions) is normalised with its mean
// and biased variance plus eps, then channel c is scaled by gamma[c] and
// shifted by beta[c]. gamma and beta are [C], or nil for the identity.
// groups must divide C.
func GroupNorm(x *Tensor, groups int, gamma, beta *Tensor, eps float32) *Tensor {
	y, _, _ := groupNorm(x, groups, gamma, beta, eps, false)
	return y
}

// GroupNormStats is GroupNorm that also returns each (sample, group)'s
// mean and 1/√(var+eps), both [N, groups], for the backward pass.
func GroupNormStats(x *Tensor, groups int, gamma, beta *Tensor, eps float32) (y, mean, rstd *Tensor) {
	return groupNorm(x, groups, gamma, beta, eps, true)
}

// LayerNorm normalises every vector along the last dimension of x with its
// mean and biased variance plus eps, then applies gamma and beta ([D] for
// a last dimension D, or nil for the identity), like
// torch.nn.functional.layer_norm with normalized_shape [D].
func LayerNorm(x *Tensor, gamma, beta *Tensor, eps float32) *Tensor {
	y, _, _ := rowNorm("LayerNorm", x, gamma, beta, eps, false, false)
	return y
}

// LayerNormStats is LayerNorm that also returns each row's mean and
// 1/√(var+eps), both [rows] where rows = Numel(x)/D.
func LayerNormStats(x *Tensor, gamma, beta *Tensor, eps float32) (y, mean, rstd *Tensor) {
	return rowNorm("LayerNorm", x, gamma, beta, eps, false, true)
}

// RMSNorm returns x / √(mean(x²) + eps) · gamma along the last dimension
// of x. gamma is [D], or nil for the identity.
func RMSNorm(x *Tensor, gamma *Tensor, eps float32) *Tensor {
	y, _, _ := rowNorm("RMSNorm", x, gamma, nil, eps, true, false)
	return y
}

// RMSNormStats is RMSNorm that also returns each row's 1/√(mean(x²)+eps),
// [rows] where rows = Numel(x)/D.
func RMSNormStats(x *Tensor, gamma *Tensor, eps float32) (y, rstd *Tensor) {
	y, _, rstd = rowNorm("RMSNorm", x, gamma, nil, eps, true, true)
	return y, rstd
}

// normSeg describes one launch of groupnorm.comp: rows segments of m
// elements, runs of s elements per channel, cg channels per segment and g
// segments per sample.
type normSeg struct {
	op                string
	x, gamma, beta    *Tensor
	rows, m, s, cg, g int
	eps               float32
	rms, stats        bool
	statShape         []int
}

func groupNorm(x *Tensor, groups int, gamma, beta *Tensor, eps float32, stats bool) (y, mean, rstd *Tensor) {
	const op = "GroupNorm"
	e, err := normInputs(op, x, gamma, beta)
	if err != nil {
		return normFailed(e, err)
	}
	if x.Rank() < 2 {
		return normFailed(e, shapeErr(op, "want x [N, C, ...], got %v", x.shape))
	}
	n, c := x.shape[0], x.shape[1]
	if groups <= 0 || c%groups != 0 {
		return normFailed(e, shapeErr(op, "%d groups do not divide %d channels", groups, c))
	}
	if err := checkNormParam(op, "gamma", gamma, c); err != nil {
		return normFailed(e, err)
	}
	if err := checkNormParam(op, "beta", beta, c); err != nil {
		return normFailed(e, err)
	}
	s := Numel(x.shape[2:])
	return e.norm(normSeg{op: op, x: x, gamma: gamma, beta: beta, rows: n * groups, m: c / groups * s, s: s,
		cg: c / groups, g: groups, eps: eps, stats: stats, statShape: []int{n, groups}})
}

func rowNorm(op string, x, gamma, beta *Tensor, eps float32, rms, stats bool) (y, mean, rstd *Tensor) {
	e, err := normInputs(op, x, gamma, beta)
	if err != nil {
		return normFailed(e, err)
	}
	if x.Rank() < 1 {
		return normFailed(e, shapeErr(op, "needs at least one dimension, got a scalar"))
	}
	d := x.Dim(-1)
	if err := checkNormParam(op, "gamma", gamma, d); err != nil {
		return normFailed(e, err)
	}
	if err := checkNormParam(op, "beta", beta, d); err != nil {
		return normFailed(e, err)
	}
	rows := Numel(x.shape[:x.Rank()-1])
	return e.norm(normSeg{op: op, x: x, gamma: gamma, beta: beta, rows: rows, m: d, s: 1, cg: d, g: 1,
		eps: eps, rms: rms, stats: stats, statShape: []int{rows}})
}

// normInputs is inputs over x and the non-nil affine parameters, plus the
// float32 check on x.
func normInputs(op string, x, gamma, beta *Tensor) (*Engine, error) {
	ts := []*Tensor{x}
	for _, p := range []*Tensor{gamma, beta} {
		if p != nil {
			ts = append(ts, p)
		}
	}
	e, err := inputs(op, ts...)
	if err == nil && x.dtype != Float32 {
		err = shapeErr(op, "needs float32 x, got %s", x.dtype)
	}
	return e, err
}

func checkNormParam(op, name string, p *Tensor, n int) error {
	if p == nil {
		return nil
	}
	if p.dtype != Float32 || p.Rank() != 1 || p.shape[0] != n {
		return shapeErr(op, "%s is %s %v, want float32 [%d]", name, p.dtype, p.shape, n)
	}
	return nil
}

func normFailed(e *Engine, err error) (a, b, c *Tensor) {
	t := e.failed(err)
	return t, t, t
}

// normThreads picks the workgroup size wg and the invocations per segment
// t (both powers of two, t ≤ wg) for rows segments of m elements.
//
// GPUs: about four elements per invocation, at least a subgroup (or m
// rounded up, if smaller) so loads stay coalesced, 256 per workgroup.
//
// CPU devices (Lavapipe runs a subgroup as one SIMD group and a barrier as
// a coroutine switch across the workgroup): one invocation per segment, so
// the kernel has no barrier at all, unless the segments are too few to give
// every core a couple of SIMD groups, or a segment is too long for
// llvmpipe's cap on loop iterations; workgroups grow to a few subgroups
// only while every core still gets several of them. ok is false when even
// the largest workgroup cannot stay under that cap.
func (e *Engine) normThreads(m, rows int) (wg, t int, ok bool) {
	info := e.dev.Info
	limit := int(info.MaxInvocations)
	if sh := int(info.MaxSharedMemory) / 12; sh < limit { // three shared words per invocation
		limit = sh
	}
	sg := normCeilPow2(max(1, int(info.SubgroupSize)))
	if normForceThreads > 0 {
		return normForceThreads, normForceThreads, true
	}
	if info.Type == vk.TypeCPU && !normGPUPolicy {
		limit = normFloorPow2(limit)
		cores := runtime.NumCPU()
		t = 1
		for t < limit && (rows*t < 2*cores*sg && m >= 512*t || normLoopIters(m, t) > normLoopBudget) {
			t *= 2
		}
		wg = min(max(t, sg), limit)
		for 2*wg <= min(64, limit) && rows*t/(2*wg) >= 4*cores {
			wg *= 2
		}
		return wg, t, normLoopIters(m, t) <= normLoopBudget
	}
	limit = normFloorPow2(min(256, limit))
	t = normCeilPow2((m + 3) / 4)
	t = max(t, min(normCeilPow2(m), sg))
	return limit, min(t, limit), true
}

// normLoopBudget keeps groupnorm.comp under llvmpipe's limit of 65535 loop
// iterations per invocation, summed over all its loops (past it, llvmpipe
// silently leaves the loop).
const normLoopBudget = 60000

// normLoopIters bounds the loop iterations of groupnorm.comp for segments
// of m elements and t invocations each: two passes unrolled by four, their
// tails, the tree, and slack for loop exits.
func normLoopIters(m, t int) int {
	iters := 2*((m+4*t-1)/(4*t)) + 16
	for s := t; s > 1; s >>= 1 {
		iters++
	}
	return iters
}

// normForceThreads, when positive (a power of two), overrides both the
// workgroup size and the invocations per segment: one segment per
// workgroup lets tests reach grids of more than 65535 workgroups with
// small tensors.
var normForceThreads int

// normGPUPolicy makes CPU devices use the GPU choice of normThreads, so
// tests on Lavapipe also cover the shared-memory tree.
var normGPUPolicy bool

func (e *Engine) norm(p normSeg) (y, mean, rstd *Tensor) {
	x := p.x
	if p.rows > 0 && p.m == 0 {
		return normFailed(e, shapeErr(p.op, "empty normalisation groups in %v", x.shape))
	}
	if x.Numel() > math.MaxUint32-1 {
		return normFailed(e, shapeErr(p.op, "%v exceeds the 32-bit element index", x.shape))
	}
	wg, t, ok := e.normThreads(p.m, p.rows)
	if !ok && x.Numel() > 0 {
		return normFailed(e, shapeErr(p.op, "segments of %d elements are too long for %s", p.m, e.dev.Info.Name))
	}
	y = e.alloc(Float32, x.shape)
	if p.stats {
		if !p.rms {
			mean = e.alloc(Float32, p.statShape)
		}
		rstd = e.alloc(Float32, p.statShape)
	}
	for _, o := range []*Tensor{y, mean, rstd} {
		if o != nil && o.err != nil {
			return normFailed(e, o.err)
		}
	}
	if x.Numel() == 0 {
		return y, mean, rstd
	}
	flags := uint32(0)
	g, b := x, x // unused bindings still need a buffer; the flags keep them unread
	if p.gamma != nil {
		flags |= normHasGamma
		g = p.gamma
	}
	if p.beta != nil {
		flags |= normHasBeta
		b = p.beta
	}
	mo, ro := y, y // likewise never written without the STATS flag
	if p.stats {
		flags |= normStats
		ro = rstd
		if mean != nil {
			mo = mean
		} else {
			mo = rstd // RMS writes no mean
		}
	}
	if p.rms {
		flags |= normRMS
	}
	n := float64(x.Numel())
	e.run(normKernel, []uint32{u32(wg), u32(t)}, e.dev.Groups1D(p.rows, wg/t),
		[]uint32{u32(p.rows), u32(p.m), u32(p.s), u32(p.cg), u32(p.g), math.Float32bits(p.eps), flags,
			u32(t / p.s), u32(t % p.s)},
		vk.Work{Flops: 10 * n, Bytes: GroupNormBytes(x.Numel())},
		in(x), in(g), in(b), out(y), out(mo), out(ro))
	return y, mean, rstd
}

func normCeilPow2(v int) int {
	p := 1
	for p < v {
		p <<= 1
	}
	return p
}

func normFloorPow2(v int) int {
	p := 1
	for p*2 <= v {
		p <<= 1
	}
	return p
}
