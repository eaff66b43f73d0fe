package tensor

import (
	"math"

	"github.com/tessera-ml/tessera/vk"
)

// Backward passes of GroupNorm, LayerNorm and RMSNorm.
//
// dx is one kernel (shaders/groupnorm_backward.comp) over the forward's
// segments, launched like the forward (normThreads): per segment it
// gathers Σg, Σg·(x−μ) and Σ(x−μ) (g = dy·γ) and then writes dx. It also
// writes, per segment, δ = mean(x−μ), the error of the float32 saved mean
// μ, so that x̂ stays exact for offset data.
//
// dgamma[c] = Σ dy·x̂ and dbeta[c] = Σ dy are sums over an [N, C, S] view
// (samples or rows, channels, spatial places), done in levels of
// shaders/groupnorm_backward_reduce.comp: each level folds chunks of rows
// and of each channel's run into partial sums, the next level sums those,
// until one value per channel is left. Fixed order, no atomics, and every
// invocation loops a bounded number of times.

var (
	normBackwardKernel = vk.KernelSpec{Name: "groupnorm_backward", Buffers: 7, PushWords: 8}
	normReduceKernel   = vk.KernelSpec{Name: "groupnorm_backward_reduce", Buffers: 7, PushWords: 8}
)

// Flags of groupnorm_backward.comp.
const (
	normBwdHasGamma   = 1
	normBwdRMS        = 2
	normBwdWriteDX    = 4
	normBwdWriteDelta = 8
)

// Modes of groupnorm_backward_reduce.comp (a specialization constant).
const (
	normRedFirst  = 1
	normRedRMS    = 2
	normRedXhat   = 4
	normRedUnroll = 8
)

// NormGrad selects the gradients a norm backward computes (a bit set).
type NormGrad uint8

// The gradients of a norm backward: with respect to x, gamma and beta.
const (
	NormGradX NormGrad = 1 << iota
	NormGradGamma
	NormGradBeta
)

// GroupNormBackward returns the gradients of GroupNorm(x, groups, gamma,
// beta, eps) for the output gradient dy, given the mean and rstd that
// GroupNormStats returned: dx (x's shape), dgamma and dbeta ([C]). Only
// those selected by want are computed; the others are nil. dgamma and
// dbeta do not need gamma or beta (beta never enters the backward); gamma
// scales dx and may be nil for the identity.
func GroupNormBackward(x, dy, mean, rstd, gamma *Tensor, groups int, want NormGrad) (dx, dgamma, dbeta *Tensor) {
	const op = "GroupNormBackward"
	e, err := normBackInputs(op, x, dy, mean, rstd, gamma)
	if err != nil {
		return normGradFailed(e, err, want)
	}
	if x.Rank() < 2 {
		return normGradFailed(e, shapeErr(op, "want x [N, C, ...], got %v", x.shape), want)
	}
	n, c := x.shape[0], x.shape[1]
	if groups <= 0 || c%groups != 0 {
		return normGradFailed(e, shapeErr(op, "%d groups do not divide %d channels", groups, c), want)
	}
	s := Numel(x.shape[2:])
	return e.normBackward(normBack{op: op, x: x, dy: dy, mean: mean, rstd: rstd, gamma: gamma,
		rows: n * groups, m: c / groups * s, s: s, cg: c / groups, g: groups, n: n, c: c,
		statShape: []int{n, groups}}, want)
}

// LayerNormBackward returns the gradients of LayerNorm(x, gamma, beta,
// eps) for the output gradient dy, given the mean and rstd that
// LayerNormStats returned: dx (x's shape), dgamma and dbeta ([D]). Only
// those selected by want are computed; the others are nil. gamma may be
// nil for the identity.
func LayerNormBackward(x, dy, mean, rstd, gamma *Tensor, want NormGrad) (dx, dgamma, dbeta *Tensor) {
	return rowNormBackward("LayerNormBackward", x, dy, mean, rstd, gamma, false, want)
}

// RMSNormBackward returns the gradients of RMSNorm(x, gamma, eps) for the
// output gradient dy, given the rstd that RMSNormStats returned: dx (x's
// shape) and dgamma ([D]). Only those selected by want are computed (a
// NormGradBeta bit is ignored); the others are nil. gamma may be nil for
// the identity.
func RMSNormBackward(x, dy, rstd, gamma *Tensor, want NormGrad) (dx, dgamma *Tensor) {
	dx, dgamma, _ = rowNormBackward("RMSNormBackward", x, dy, nil, rstd, gamma, true, want&^NormGradBeta)
	return dx, dgamma
}

func rowNormBackward(op string, x, dy, mean, rstd, gamma *Tensor, rms bool, want NormGrad) (dx, dgamma, dbeta *Tensor) {
	e, err := normBackInputs(op, x, dy, mean, rstd, gamma)
	if err != nil {
		return normGradFailed(e, err, want)
	}
	if x.Rank() < 1 {
		return normGradFailed(e, shapeErr(op, "needs at least one dimension, got a scalar"), want)
	}
	d := x.Dim(-1)
	rows := Numel(x.shape[:x.Rank()-1])
	return e.normBackward(normBack{op: op, x: x, dy: dy, mean: mean, rstd: rstd, gamma: gamma,
		rows: rows, m: d, s: 1, cg: d, g: 1, n: rows, c: d, rms: rms, statShape: []int{rows}}, want)
}

// normBack describes a norm backward: the forward's segments (rows, m, s,
// cg, g as in normSeg) and the [n, c, s] view of the channel sums.
type normBack struct {
	op                       string
	x, dy, mean, rstd, gamma *Tensor
	rows, m, s, cg, g        int
	n, c                     int
	rms                      bool
	statShape                []int
}

// normBackInputs is inputs over the non-nil tensors, plus dtype checks.
func normBackInputs(op string, x, dy, mean, rstd, gamma *Tensor) (*Engine, error) {
	ts := []*Tensor{x, dy}
	for _, p := range []*Tensor{mean, rstd, gamma} {
		if p != nil {
			ts = append(ts, p)
		}
	}
	e, err := inputs(op, ts...)
	if err != nil {
		return e, err
	}
	for _, t := range ts {
		if t.dtype != Float32 {
			return e, shapeErr(op, "needs float32 tensors, got %s", t.dtype)
		}
	}
	return e, nil
}

// normGradFailed records err and returns it as every wanted gradient.
func normGradFailed(e *Engine, err error, want NormGrad) (dx, dgamma, dbeta *Tensor) {
	t := e.failed(err)
	if want&NormGradX != 0 {
		dx = t
	}
	if want&NormGradGamma != 0 {
		dgamma = t
	}
	if want&NormGradBeta != 0 {
		dbeta = t
	}
	return dx, dgamma, dbeta
}

func (e *Engine) normBackward(p normBack, want NormGrad) (dx, dgamma, dbeta *Tensor) {
	x := p.x
	if !sameShape(p.dy.shape, x.shape) {
		return normGradFailed(e, shapeErr(p.op, "dy is %v, want x's shape %v", p.dy.shape, x.shape), want)
	}
	if err := checkNormParam(p.op, "gamma", p.gamma, p.c); err != nil {
		return normGradFailed(e, err, want)
	}
	for _, st := range []struct {
		name string
		t    *Tensor
	}{{"mean", p.mean}, {"rstd", p.rstd}} {
		if st.t == nil {
			if !p.rms {
				panic("tensor." + p.op + ": " + st.name + " is nil")
			}
			continue
		}
		if !sameShape(st.t.shape, p.statShape) {
			return normGradFailed(e, shapeErr(p.op, "%s is %v, want %v", st.name, st.t.shape, p.statShape), want)
		}
	}
	if p.rows > 0 && p.m == 0 {
		return normGradFailed(e, shapeErr(p.op, "empty normalisation groups in %v", x.shape), want)
	}
	if x.Numel() > math.MaxUint32-1 {
		return normGradFailed(e, shapeErr(p.op, "%v exceeds the 32-bit element index", x.shape), want)
	}
	wg, t, ok := e.normThreads(p.m, p.rows)
	if !ok && x.Numel() > 0 {
		return normGradFailed(e, shapeErr(p.op, "segments of %d elements are too long for %s", p.m, e.dev.Info.Name), want)
	}

	wantX, wantG, wantB := want&NormGradX != 0, want&NormGradGamma != 0, want&NormGradBeta != 0
	if wantX {
		dx = e.alloc(Float32, x.shape)
	}
	if wantG {
		dgamma = e.alloc(Float32, []int{p.c})
	}
	if wantB {
		dbeta = e.alloc(Float32, []int{p.c})
	}
	for _, o := range []*Tensor{dx, dgamma, dbeta} {
		if o != nil && o.err != nil {
			return normGradRelease(e, o.err, want, dx, dgamma, dbeta)
		}
	}
	if x.Numel() == 0 {
		// Sums over no elements.
		for _, o := range []*Tensor{dgamma, dbeta} {
			if o != nil && o.st != nil {
				e.dev.Fill(o.st.r, math.Float32bits(0))
			}
		}
		return dx, dgamma, dbeta
	}

	// δ for x̂ in the channel sums: not needed by RMS (no mean).
	var delta *Tensor
	if wantG && !p.rms {
		delta = e.alloc(Float32, []int{p.rows})
		if delta.err != nil {
			return normGradRelease(e, delta.err, want, dx, dgamma, dbeta)
		}
	}
	if wantX || delta != nil {
		flags := uint32(0)
		g := x // unused bindings still need a buffer; the flags keep them unread
		if p.gamma != nil {
			flags |= normBwdHasGamma
			g = p.gamma
		}
		mn := p.rstd
		if p.rms {
			flags |= normBwdRMS
		} else {
			mn = p.mean
		}
		do, dlo := dx, delta // likewise never written without their flags
		if wantX {
			flags |= normBwdWriteDX
		} else {
			do = delta
		}
		if delta != nil {
			flags |= normBwdWriteDelta
		} else {
			dlo = dx
		}
		n := float64(x.Numel())
		work := vk.Work{Flops: 6 * n, Bytes: 8 * n}
		if wantX {
			work = vk.Work{Flops: 14 * n, Bytes: 20 * n}
		}
		e.run(normBackwardKernel, []uint32{u32(wg), u32(t)}, e.dev.Groups1D(p.rows, wg/t),
			[]uint32{u32(p.rows), u32(p.m), u32(p.s), u32(p.cg), u32(p.g), flags, u32(t / p.s), u32(t % p.s)},
			work, in(x), in(p.dy), in(g), in(mn), in(p.rstd), out(do), out(dlo))
	}
	if wantG || wantB {
		if err := e.normChannelSums(p, delta, wantG, dgamma, dbeta); err != nil {
			delta.Release()
			return normGradRelease(e, err, want, dx, dgamma, dbeta)
		}
	}
	delta.Release()
	return dx, dgamma, dbeta
}

// normGradRelease releases the gradients made so far and fails with err.
func normGradRelease(e *Engine, err error, want NormGrad, ts ...*Tensor) (dx, dgamma, dbeta *Tensor) {
	for _, t := range ts {
		t.Release()
	}
	return normGradFailed(e, err, want)
}

// normReduceForce, when positive, overrides the elements per invocation of
// the channel sums (and their coalescing width, to 1), so tests reach many
// levels with small tensors.
var normReduceForce int

// normReduceElems returns about how many elements one invocation of
// groupnorm_backward_reduce sums (normReduceLevel keeps its loop
// iterations under 2·elems) and the run width over which neighbouring
// invocations should read neighbouring addresses.
//
// GPUs: few elements per invocation, for parallelism, and a subgroup's
// width of coalesced reads. CPU devices: a thousand, so the sums take one
// or two levels with enough SIMD groups for the cores, and the levels' loops
// stay far below llvmpipe's 65535-iteration cap (see normReduceLevel).
func (e *Engine) normReduceElems() (elems, width int) {
	if normReduceForce > 0 {
		return max(2, normReduceForce), 1
	}
	sg := normCeilPow2(max(1, int(e.dev.Info.SubgroupSize)))
	if e.dev.Info.Type == vk.TypeCPU && !normGPUPolicy {
		return 1024, sg
	}
	return 64, sg
}

// normReduceLevel picks the rows per chunk r and the fold j of one level
// over an [n, c, s] array: an invocation sums r·⌈s/j⌉ ≤ elems elements (or
// all n·s ≤ elems of a channel in the last level, j = 1, r = n), so its
// loops run at most 2·elems times. j keeps at least width neighbouring
// places per run (coalesced). Every level shrinks n·s (r ≥ 2 or j < s), so
// the levels end.
//
// unroll (allowed by the caller when each row's statistics are shared by
// all its columns, or not read) has each invocation sum four of the c·s
// columns when j = s, over r ≤ elems/4 rows (still ≥ 2 unless last).
func normReduceLevel(n, c, s, elems, width int, unrollOK bool) (r, j int, unroll bool) {
	if n*s <= elems {
		r, j = n, 1
	} else {
		width = min(width, elems)
		j = min(s, max(width, (s+elems-1)/elems))
		inner := (s + j - 1) / j
		r = min(n, max(1, elems/inner))
	}
	if unrollOK && j == s && c*s >= 4*width && elems >= 8 {
		unroll = true
		if r < n {
			r = min(n, elems/4)
		}
	}
	return r, j, unroll
}

// normChannelSums records the levels of dgamma = Σ dy·x̂ (when xhat) and
// dbeta = Σ dy per channel into dgamma and dbeta (either may be nil: it is
// then a temporary).
func (e *Engine) normChannelSums(p normBack, delta *Tensor, xhat bool, dgamma, dbeta *Tensor) error {
	elems, width := e.normReduceElems()
	n, c, s := p.n, p.c, p.s
	a, b := p.x, p.dy
	for first := true; ; first = false {
		// The first level reads each row's statistics unless G = 1 (one
		// segment per row) or there is no x̂.
		r, j, unroll := normReduceLevel(n, c, s, elems, width, !first || !xhat || p.g == 1)
		kn := (n + r - 1) / r
		last := kn == 1 && j == 1
		var oa, ob *Tensor
		if last {
			oa, ob = dgamma, dbeta
		}
		if oa == nil {
			oa = e.alloc(Float32, []int{kn, c, j})
		}
		if ob == nil {
			ob = e.alloc(Float32, []int{kn, c, j})
		}
		if err := normFirstErr(oa, ob); err != nil {
			normReleaseTemps(first, a, b)
			normReleaseTemps(false, normNotOut(oa, dgamma, dbeta), normNotOut(ob, dgamma, dbeta))
			return err
		}
		flags := uint32(0)
		mn, dl, rs := a, a, a // unread outside the first level
		if first {
			flags |= normRedFirst
			mn, dl, rs = b, b, b // unread without XHAT
			if xhat {
				flags |= normRedXhat
				rs = p.rstd
				if p.rms {
					flags |= normRedRMS
					mn, dl = rs, rs
				} else {
					mn, dl = p.mean, delta
				}
			}
		}
		total := kn * c * j
		if unroll {
			flags |= normRedUnroll
			total = kn * ((c*s + 3) / 4)
		}
		cnt := float64(n * c * s)
		work := vk.Work{Flops: 2 * cnt, Bytes: 8*cnt + 8*float64(total)}
		if first && xhat {
			work.Flops = 5 * cnt
		}
		e.run(normReduceKernel, []uint32{u32(e.wg), flags}, e.groups1D(total),
			[]uint32{u32(total), u32(n), u32(c), u32(s), u32(r), u32(j), u32(p.g), u32(p.cg)},
			work, in(a), in(b), in(mn), in(dl), in(rs), out(oa), out(ob))
		normReleaseTemps(first, a, b)
		if last {
			normReleaseTemps(false, normNotOut(oa, dgamma, dbeta), normNotOut(ob, dgamma, dbeta))
			return nil
		}
		a, b, n, s = oa, ob, kn, j
	}
}

// normReleaseTemps releases a level's inputs unless they are the caller's
// x and dy (the first level).
func normReleaseTemps(first bool, ts ...*Tensor) {
	if first {
		return
	}
	for _, t := range ts {
		t.Release()
	}
}

// normNotOut returns t unless it is one of the results (then nil).
func normNotOut(t *Tensor, outs ...*Tensor) *Tensor {
	for _, o := range outs {
		if t == o {
			return nil
		}
	}
	return t
}

func normFirstErr(ts ...*Tensor) error {
	for _, t := range ts {
		if t.err != nil {
			return t.err
		}
	}
	return nil
}
