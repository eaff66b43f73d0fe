package tensor

import (
	"math"

	"github.com/tessera-ml/tessera/vk"
)

// Backward passes of CODA's attention assignment. Like the forward, they
// never hold the N×V logits: they walk the codebook in tiles of codes,
// recompute the tile's logits with Matmul, turn them into dlogits [N, tile]
// with the forward's per-token statistics, and fold the tile into
// dq += dlogits·k_tile and dk[tile] = dlogitsᵀ·q. Everything is composed
// from existing kernels; the per-token and per-code corrections (−LSE,
// −<Soft, g>, the entropy terms) ride along as extra columns of the matmul
// operands, so each tile costs a few matmuls plus two elementwise passes.

// AttnBackwardOptions tunes the tiled backward passes.
type AttnBackwardOptions struct {
	// TileCodes is how many codes one tile covers; 0 picks it (see
	// AttnAssignTile).
	TileCodes int
	// SkipQ and SkipK leave out dq or dk (returned as nil): frozen inputs.
	SkipQ, SkipK bool
}

const (
	// attnTileBudget bounds the floats of one [N, tile] temporary (8 MiB);
	// a tile holds two of them at a time. Smaller tiles stay in cache
	// better: at N = 8192 on llvmpipe, 256-code tiles ran about a quarter
	// faster than 512 and 1024, and no slower than 128.
	attnTileBudget = 2 << 20
	// attnMinTiles keeps the tile temporaries (two [N, tile] at a time)
	// an eighth of N×V or less even when the budget would allow the whole
	// codebook.
	attnMinTiles = 16
	// attnEntropyEps is the ε of the codebook entropy −Σ P̄ log(P̄ + ε).
	attnEntropyEps = 1e-5
)

// AttnAssignTile is the number of codes per backward tile that TileCodes = 0
// picks for n tokens and v codes: about attnTileBudget/n (so an [n, tile]
// temporary stays near 8 MiB), at most a 1/attnMinTiles share of the
// codebook, a multiple of the subgroup size and at least one subgroup, and
// never more than v.
func (e *Engine) AttnAssignTile(n, v int) int {
	sg := int(e.dev.Info.SubgroupSize)
	t := min(attnTileBudget/max(n, 1), ceilDiv(v, attnMinTiles))
	t = max(t/sg*sg, sg)
	return max(min(t, v), 1)
}

// ReleaseExcept releases every result tensor of a that is not in keep: the
// statistics one caller needs stay, the rest go at once.
func (a AttnAssign) ReleaseExcept(keep ...*Tensor) {
	for _, t := range a.all() {
		if t == nil || t.err != nil || t.released {
			continue
		}
		kept := false
		for _, k := range keep {
			kept = kept || k == t
		}
		if !kept {
			t.Release()
		}
	}
}

// AttnAssignEntropy returns the entropy loss mean_n H(P_n) − H(P̄) (shape
// []) from AttnAssignForward's EntLSE and EntSum (H(P_n) = EntLSE − EntSum)
// and P̄ = AttnAssignMeanProb, with H(P̄) = −Σ_v P̄_v log(P̄_v + 1e-5). With
// no tokens both terms are 0 (the mean over no tokens is taken as 0, not
// NaN, so an empty level adds nothing to a loss).
func AttnAssignEntropy(entLSE, entSum, meanProb *Tensor) *Tensor {
	e, err := inputs("AttnAssignEntropy", entLSE, entSum, meanProb)
	if err != nil {
		return e.failed(err)
	}
	if entLSE.dtype != Float32 || entSum.dtype != Float32 || meanProb.dtype != Float32 ||
		len(entLSE.shape) != 1 || !sameShape(entLSE.shape, entSum.shape) || len(meanProb.shape) != 1 {
		return e.failed(shapeErr("AttnAssignEntropy", "want float32 entLSE [N], entSum [N], meanProb [V], got %v, %v, %v", entLSE.shape, entSum.shape, meanProb.shape))
	}
	if entLSE.shape[0] == 0 {
		return e.Zeros()
	}
	h := Sub(entLSE, entSum)
	mh := MeanAll(h)
	a := AddScalar(meanProb, attnEntropyEps)
	la := Log(a)
	pl := Mul(meanProb, la)
	neg := SumAll(pl) // −H(P̄)
	y := Add(mh, neg)
	attnRelease(h, mh, a, la, pl, neg)
	return y
}

// AttnAssignSoftBackward returns the gradients into q [N, d] and k [V, d] of
// Σ dy ⊙ Soft, Soft = softmax(scale·q kᵀ)·val with val [V, C] held fixed:
// the straight-through path of CODA's zq_st. Per token n and code j,
// dlogits = soft_nj·(<dy_n, val_j> − <Soft_n, dy_n>), dq = scale·dlogits·k,
// dk = scale·dlogitsᵀ·q. lse [N] and soft [N, C] are AttnAssignForward's
// LSE and Soft for the same inputs. The logits are recomputed tile by tile
// (o.TileCodes codes each); device memory beyond the inputs and results is
// O((N + V)·(d + C)) plus two [N, tile] temporaries.
func AttnAssignSoftBackward(q, k, val, lse, soft, dy *Tensor, scale float32, o AttnBackwardOptions) (dq, dk *Tensor) {
	const op = "AttnAssignSoftBackward"
	e, err := inputs(op, q, k, val, lse, soft, dy)
	if err != nil {
		return attnGradFailed(e, err, o)
	}
	n, d, v, c, err := attnGradShapes(op, q, k, val)
	if err == nil && (!attnIs(lse, Float32, n) || !attnIs(soft, Float32, n, c) || !attnIs(dy, Float32, n, c)) {
		err = shapeErr(op, "want lse [%d], soft and dy [%d, %d], got %v, %v, %v", n, n, c, lse.shape, soft.shape, dy.shape)
	}
	if err == nil {
		err = attnCheckTile(op, o)
	}
	if err != nil {
		return attnGradFailed(e, err, o)
	}
	if n == 0 || v == 0 || (o.SkipQ && o.SkipK) {
		return attnZeroGrads(e, n, d, v, o)
	}
	// Tile logits − LSE come from [scale·q | −LSE]·[k | 1]ᵀ, and
	// dy·valᵀ − <Soft, dy> from [dy | −<Soft, dy>]·[val | 1]ᵀ; the code
	// side is assembled per tile, so nothing V-sized is copied.
	tile := attnTileFor(e, n, v, o)
	qs := MulScalar(q, scale)
	nlse := Neg(lse)
	sd := Mul(soft, dy)
	s := Sum(sd, 1)
	ns := Neg(s)
	qa := attnAugment(qs, nlse)
	ga := attnAugment(dy, ns)
	kc := attnOneCols(e, tile, qa.shape[1]-d)
	vc := attnOneCols(e, tile, ga.shape[1]-c)
	attnRelease(nlse, sd, s, ns)
	dq, dk = e.attnAccumulate(qs, k, scale, tile, o, func(v0, v1 int) *Tensor {
		kt := e.attnRowsAug(k, kc, v0, v1, 0)
		p := Matmul(qa, kt, false, true)
		kt.Release()
		e.attnUnaryInPlace(p, OpExp) // softmax of the tile
		vt := e.attnRowsAug(val, vc, v0, v1, 0)
		dl := Matmul(ga, vt, false, true)
		vt.Release()
		e.attnMulInPlace(dl, p)
		p.Release()
		return dl
	})
	attnRelease(qs, qa, ga, kc, vc)
	return dq, dk
}

// AttnAssignEntropyBackward returns the gradients into q [N, d] and k
// [V, d] of dy·(mean_n H(P_n) − H(P̄)) (see AttnAssignEntropy), where
// P_n = softmax(scale·q_n kᵀ/temp) and dy is a one-element tensor (the
// loss's upstream gradient, left on the device). entLSE and entSum are
// AttnAssignForward's, meanProb is AttnAssignMeanProb's for the same
// inputs. With u = logits/T, g_j = −log(P̄_j + ε) − P̄_j/(P̄_j + ε) and
// s_n = Σ_j P_nj g_j:
//
//	dL/du_nj = −(1/N)·P_nj·(log P_nj + H_n + g_j − s_n)
//
// and dlogits = dy·dL/du / T. s needs one extra pass over the tiles before
// the gradient pass. Memory as in AttnAssignSoftBackward.
func AttnAssignEntropyBackward(q, k, entLSE, entSum, meanProb, dy *Tensor, scale, temp float32, o AttnBackwardOptions) (dq, dk *Tensor) {
	const op = "AttnAssignEntropyBackward"
	e, err := inputs(op, q, k, entLSE, entSum, meanProb, dy)
	if err != nil {
		return attnGradFailed(e, err, o)
	}
	n, d, v, _, err := attnGradShapes(op, q, k, nil)
	switch {
	case err != nil:
	case !attnIs(entLSE, Float32, n) || !attnIs(entSum, Float32, n) || !attnIs(meanProb, Float32, v) ||
		dy.dtype != Float32 || dy.Numel() != 1:
		err = shapeErr(op, "want entLSE and entSum [%d], meanProb [%d], one-element dy, got %v, %v, %v, %v", n, v, entLSE.shape, entSum.shape, meanProb.shape, dy.shape)
	case !(temp > 0) || math.IsInf(float64(temp), 0):
		err = shapeErr(op, "temperature must be positive and finite, got %v", temp)
	default:
		err = attnCheckTile(op, o)
	}
	if err != nil {
		return attnGradFailed(e, err, o)
	}
	if n == 0 || v == 0 || (o.SkipQ && o.SkipK) {
		return attnZeroGrads(e, n, d, v, o)
	}
	tile := attnTileFor(e, n, v, o)

	// g_j = −log(P̄_j + ε) − P̄_j/(P̄_j + ε), the codebook term's dL/dP̄.
	pe := AddScalar(meanProb, attnEntropyEps)
	lp := Log(pe)
	rp := Div(meanProb, pe)
	sp := Add(lp, rp)
	g := Neg(sp)
	attnRelease(pe, lp, rp, sp)

	// log P of a tile is [scale·q/T | −EntLSE | 0]·[k | 1 | g]ᵀ. The code
	// side's extra columns [1 | g | 0] are V×2 to V×5; the rest is
	// assembled per tile.
	qs := MulScalar(q, scale)
	qt := MulScalar(q, scale/temp)
	ones, zeros, onesN := e.Full(1, v), e.Zeros(n), e.Full(1, n)
	nl := Neg(entLSE)
	qe := attnAugment(qt, nl, zeros)
	qe1 := attnAugment(qt, nl, onesN)
	kc := attnCols(e, v, d, ones, g)
	attnRelease(zeros, nl)

	// Pass 1: s_n = Σ_j P_nj g_j. g_j > −1 − ε (P̄ ≤ 1), so g_j + 2 > 0
	// and Σ_j P_nj (g_j + 2) = s_n + 2 is a sum of exp(log P_nj +
	// log(g_j + 2)): the matmul gives the exponents and a LogSumExp
	// reduction (one read, no N×tile write) sums each tile.
	g2 := AddScalar(g, 2)
	lg := Log(g2)
	kc1 := attnCols(e, v, d, ones, lg)
	attnRelease(g2, lg)
	acc := e.Zeros(n)
	for v0 := 0; v0 < v; v0 += tile {
		v1 := min(v0+tile, v)
		kt := e.attnRowsAug(k, kc1, v0, v1, v0)
		x := Matmul(qe1, kt, false, true)
		l := LogSumExp(x, 1)
		e.attnUnaryInPlace(l, OpExp)
		_ = AddInPlace(acc, l) // shapes match by construction; failures stick on the engine
		attnRelease(kt, x, l)
	}
	s := AddScalar(acc, -2)
	attnRelease(acc, kc1, qe1)

	// Pass 2: dlogits = −dy/(N·T)·P ⊙ (log P + H_n + g_j − s_n), the
	// bracket being [scale·q/T | −EntSum − s | 1]·[k | 1 | g]ᵀ (H_n −
	// EntLSE_n = −EntSum_n), with the factor folded into that left operand.
	es := Add(entSum, s)
	nes := Neg(es)
	qb0 := attnAugment(qt, nes, onesN)
	dy11 := dy.Reshape(1, 1)
	f := MulScalar(dy11, -1/(float32(n)*temp))
	qb := Mul(qb0, f)
	attnRelease(s, es, nes, onesN, qb0, dy11, f, qt, ones, g)
	dq, dk = e.attnAccumulate(qs, k, scale, tile, o, func(v0, v1 int) *Tensor {
		kt := e.attnRowsAug(k, kc, v0, v1, v0)
		p := Matmul(qe, kt, false, true)
		e.attnUnaryInPlace(p, OpExp)
		dl := Matmul(qb, kt, false, true)
		kt.Release()
		e.attnMulInPlace(dl, p)
		p.Release()
		return dl
	})
	attnRelease(qs, qe, kc, qb)
	return dq, dk
}

// attnAccumulate walks the code tiles: dlogits(v0, v1) returns the tile's
// dlogits [N, v1−v0] (the callee's to release), and the tile adds
// scale·dlogits·k[v0:v1] into dq and writes dlogitsᵀ·qs into rows
// [v0, v1) of dk (qs = scale·q).
func (e *Engine) attnAccumulate(qs, k *Tensor, scale float32, tile int, o AttnBackwardOptions, dlogits func(v0, v1 int) *Tensor) (dq, dk *Tensor) {
	d, v := qs.shape[1], k.shape[0]
	if !o.SkipK {
		dk = e.alloc(Float32, []int{v, d})
	}
	for v0 := 0; v0 < v; v0 += tile {
		v1 := min(v0+tile, v)
		dl := dlogits(v0, v1)
		if !o.SkipQ {
			kt := Slice(k, 0, v0, v1)
			part := Matmul(dl, kt, false, false)
			kt.Release()
			if dq == nil {
				dq = part
			} else {
				_ = AddInPlace(dq, part)
				part.Release()
			}
		}
		if !o.SkipK {
			part := Matmul(dl, qs, true, false)
			if part.err == nil && dk.err == nil {
				e.dev.Copy(dk.st.r.Sub(uint64(4*v0*d), uint64(4*(v1-v0)*d)), part.st.r)
			}
			part.Release()
		}
		dl.Release()
	}
	if dq != nil && dq.err == nil {
		e.attnUnaryInPlace(dq, OpAffine, scale)
	}
	return dq, dk
}

// attnAugment returns [x | cols... | 0] for x [R, w] and columns [R],
// zero-padded to a width that is a multiple of 4 (the matmul's vec4 loads).
func attnAugment(x *Tensor, cols ...*Tensor) *Tensor {
	extra := attnCols(x.eng, x.shape[0], x.shape[1], cols...)
	y := Concat(1, x, extra)
	extra.Release()
	return y
}

// attnCols returns [cols... | 0] [R, m] for columns [R], m ≥ len(cols)
// the least that makes w + m a multiple of 4.
func attnCols(e *Engine, r, w int, cols ...*Tensor) *Tensor {
	parts := make([]*Tensor, 0, len(cols)+1)
	for _, c := range cols {
		parts = append(parts, c.Reshape(r, 1))
	}
	if pad := (4 - (w+len(cols))%4) % 4; pad > 0 {
		parts = append(parts, e.Zeros(r, pad))
	}
	y := Concat(1, parts...)
	attnRelease(parts...)
	return y
}

// attnOneCols returns [1 | 0...] [r, m]: the extra columns of a code tile
// whose matching per-token column applies to every code alike.
func attnOneCols(e *Engine, r, m int) *Tensor {
	one := e.Full(1, r, 1)
	if m == 1 {
		return one
	}
	z := e.Zeros(r, m-1)
	y := Concat(1, one, z)
	attnRelease(one, z)
	return y
}

// attnRowsAug returns [x[v0:v1] | cols[c0:c0+v1−v0]], x [V, d] and cols
// [≥ c0+v1−v0, m]: one code tile of an augmented matmul operand.
func (e *Engine) attnRowsAug(x, cols *Tensor, v0, v1, c0 int) *Tensor {
	for _, t := range []*Tensor{x, cols} {
		if t.err != nil {
			return e.failed(t.err)
		}
	}
	d, m, t := x.shape[1], cols.shape[1], v1-v0
	y := e.alloc(Float32, []int{t, d + m})
	if y.err != nil {
		return y
	}
	e.copyRows(y, x, t, d, v0*d, d, 0, d+m)
	e.copyRows(y, cols, t, m, c0*m, m, d, d+m)
	return y
}

// attnUnaryInPlace applies op (alpha being its scalar) to x in place: the
// tile loop's temporaries are rewritten rather than doubled.
func (e *Engine) attnUnaryInPlace(x *Tensor, op UnaryOp, alpha ...float32) {
	n := x.Numel()
	if x.err != nil || n == 0 {
		return
	}
	var a float32
	if len(alpha) > 0 {
		a = alpha[0]
	}
	// Each invocation reads and writes only its own element.
	wg := e.attnElemWG()
	e.run(unaryKernel, []uint32{u32(wg)}, e.dev.Groups1D(n, wg),
		[]uint32{u32(n), uint32(op), math.Float32bits(a), 0},
		vk.Work{Flops: float64(n), Bytes: 8 * float64(n)}, in(x), out(x))
}

// attnElemWG is the workgroup size of the tile loop's elementwise passes:
// 256 rather than the engine's 64, which halves their time on llvmpipe,
// where each workgroup costs about as much as a few hundred elements
// (measured: exp of 8192×512 floats, 66 ms at 64, 35 ms at 256, no better
// beyond).
func (e *Engine) attnElemWG() int {
	sg := int(e.dev.Info.SubgroupSize)
	wg := min(256, int(e.dev.Info.MaxInvocations), int(e.dev.Info.MaxWorkgroupSize[0]))
	return max(wg/sg*sg, e.wg)
}

// attnMulInPlace sets dst = dst ⊙ src (same shapes) in place.
func (e *Engine) attnMulInPlace(dst, src *Tensor) {
	n := dst.Numel()
	if dst.err != nil || src.err != nil || n == 0 {
		return
	}
	push := make([]uint32, binaryKernel.PushWords)
	push[0], push[1] = u32(n), uint32(opMul)
	wg := e.attnElemWG()
	e.run(binaryKernel, []uint32{u32(wg)}, e.dev.Groups1D(n, wg), push,
		vk.Work{Flops: float64(n), Bytes: 12 * float64(n)}, in(dst), in(src), out(dst))
}

// attnGradShapes checks q [N, d], k [V, d] and (when val is not nil)
// val [V, C], all float32.
func attnGradShapes(op string, q, k, val *Tensor) (n, d, v, c int, err error) {
	ok := attnIs(q, Float32, -1, -1) && attnIs(k, Float32, -1, -1) && q.shape[1] == k.shape[1] && q.shape[1] > 0
	if ok && val != nil {
		ok = attnIs(val, Float32, k.shape[0], -1) && val.shape[1] > 0
	}
	if !ok {
		vs := []int(nil)
		if val != nil {
			vs = val.shape
		}
		return 0, 0, 0, 0, shapeErr(op, "want float32 q [N, d], k [V, d], val [V, C] with d, C ≥ 1, got %v, %v, %v", q.shape, k.shape, vs)
	}
	if val != nil {
		c = val.shape[1]
	}
	return q.shape[0], q.shape[1], k.shape[0], c, nil
}

// attnIs reports whether t has dtype dt and shape dims (−1 matching any size).
func attnIs(t *Tensor, dt DType, dims ...int) bool {
	if t.dtype != dt || len(t.shape) != len(dims) {
		return false
	}
	for i, s := range dims {
		if s >= 0 && t.shape[i] != s {
			return false
		}
	}
	return true
}

func attnCheckTile(op string, o AttnBackwardOptions) error {
	if o.TileCodes < 0 {
		return shapeErr(op, "TileCodes must be ≥ 0, got %d", o.TileCodes)
	}
	return nil
}

func attnTileFor(e *Engine, n, v int, o AttnBackwardOptions) int {
	if o.TileCodes > 0 {
		return min(o.TileCodes, v)
	}
	return e.AttnAssignTile(n, v)
}

// attnGradFailed returns err as the requested gradients.
func attnGradFailed(e *Engine, err error, o AttnBackwardOptions) (dq, dk *Tensor) {
	f := e.failed(err)
	if !o.SkipQ {
		dq = f
	}
	if !o.SkipK {
		dk = f
	}
	return dq, dk
}

// attnZeroGrads returns the requested gradients as zeros (no tokens or no
// codes: nothing flows).
func attnZeroGrads(e *Engine, n, d, v int, o AttnBackwardOptions) (dq, dk *Tensor) {
	if !o.SkipQ {
		dq = e.Zeros(n, d)
	}
	if !o.SkipK {
		dk = e.Zeros(v, d)
	}
	return dq, dk
}

func attnRelease(ts ...*Tensor) {
	for _, t := range ts {
		t.Release()
	}
}
