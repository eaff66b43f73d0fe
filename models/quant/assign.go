package quant

import (
	"math"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// assigner holds what the levels of one forward pass share: the keys and
// values of the attention (computed once; their gradients from all levels
// accumulate), or the augmented codebook of nearest-neighbour search.
type assigner struct {
	q  *Quantizer
	tp *autograd.Tape
	// k [V, d] and v [V, C]: the attention's keys and values.
	k, v *autograd.Var
	// kAug [V, C+1] = [2e, −‖e‖²] and noVal [V, 1] (zeros): the fused
	// kernel's keys and (unused) values for nearest-neighbour search.
	kAug, noVal *tensor.Tensor
	// frees release what the levels keep for the backward pass.
	frees []func()
}

// level is one level's assignment of tokens r [N, C].
type level struct {
	// idx is int32 [N], owned by the assigner.
	idx *tensor.Tensor
	// zq [N, C] is the straight-through quantized tokens (value: the code
	// vectors at idx).
	zq *autograd.Var
	// loss is the level's quantization loss, entropy its entropy loss (nil
	// when off).
	loss, entropy *autograd.Var
}

func (q *Quantizer) newAssigner(tp *autograd.Tape) *assigner {
	a := &assigner{q: q, tp: tp}
	if q.Attn != nil {
		a.k = q.keys()
		a.v = q.Attn.ToV.Forward(q.Codebook.Weight)
		return a
	}
	// argmax_v <[r, 1], [2e_v, −‖e_v‖²]> = argmin_v ‖r − e_v‖²: nearest
	// neighbour as a maximum inner product the fused kernel can search.
	cb := q.Codebook.Weight.Value
	two := tensor.MulScalar(cb, 2)
	sq := tensor.Square(cb)
	norms := tensor.Sum(sq, 1)
	neg := tensor.Neg(norms)
	col := neg.Reshape(q.cfg.Codes, 1)
	a.kAug = tensor.Concat(1, two, col)
	for _, t := range []*tensor.Tensor{two, sq, norms, neg, col} {
		t.Release()
	}
	if q.cfg.Fused {
		a.noVal = tp.Engine().Zeros(q.cfg.Codes, 1)
	}
	return a
}

// done frees the shared tensors that only the forward pass reads.
func (a *assigner) done() {
	for _, t := range []*tensor.Tensor{a.kAug, a.noVal} {
		if t != nil {
			t.Release()
		}
	}
	a.kAug, a.noVal = nil, nil
}

// release frees what the levels keep for the backward pass (the ids).
func (a *assigner) release() {
	for _, f := range a.frees {
		f()
	}
	a.frees = nil
	a.done()
}

// assign quantizes one level's tokens r [N, C].
func (a *assigner) assign(r *autograd.Var) level {
	var lv level
	if a.q.Attn == nil {
		lv = a.nearest(r)
	} else {
		lv = a.attention(r)
	}
	if idx := lv.idx; idx != nil {
		a.frees = append(a.frees, idx.Release)
	}
	return lv
}

// mse is mean((x − y)²).
func mse(x, y *autograd.Var) *autograd.Var {
	return autograd.MeanAll(autograd.Square(autograd.Sub(x, y)))
}

// nearest is VQGAN's nearest-neighbour quantization: e = Cb[argmin ‖r − e‖²],
// ẑ = e with the gradient of r (straight-through), loss
// mean((sg(r) − e)²) + β·mean((r − sg(e))²).
func (a *assigner) nearest(r *autograd.Var) level {
	e := a.tp.Engine()
	n := r.Shape()[0]
	ones := e.Full(1, n, 1)
	qAug := tensor.Concat(1, r.Value, ones)
	ones.Release()
	var idx *tensor.Tensor
	if a.q.cfg.Fused {
		st := tensor.AttnAssignForward(qAug, a.kAug, a.noVal, 1, 1)
		idx = st.Idx.Reshape(n) // outlives st's other statistics
		st.Release()
	} else {
		logits := tensor.Matmul(qAug, a.kAug, false, true)
		idx = tensor.Argmax(logits, 1)
		logits.Release()
	}
	qAug.Release()
	code := autograd.Gather(a.q.Codebook.Weight, 0, idx)
	rd, cd := r.Detach(), code.Detach()
	// sg(e) + (r − sg(r)): exactly e's value (r − r is 0), r's gradient.
	zq := autograd.Add(cd, autograd.Sub(r, rd))
	loss := autograd.Add(mse(rd, code), autograd.MulScalar(mse(r, cd), a.q.cfg.Beta))
	return level{idx: idx, zq: zq, loss: loss}
}

// attention is CODA's attention assignment of r [N, C] with its
// quantization loss mean((zq_st − r)²) + mean((sg(zq_hard) − r)²) +
// β·mean((zq_hard − sg(r))²) and, when on, its entropy loss.
func (a *assigner) attention(r *autograd.Var) level {
	qv := a.q.queries(r)
	scale := float32(1 / math.Sqrt(float64(a.q.cfg.Dim)))
	var lv level
	var zqHard *autograd.Var
	if a.q.cfg.Fused {
		lv, zqHard = a.attnFused(qv, scale)
	} else {
		lv, zqHard = a.attnMaterialised(qv, scale)
	}
	rd := r.Detach()
	lv.loss = autograd.Add(autograd.Add(mse(lv.zq, r), mse(zqHard.Detach(), r)),
		autograd.MulScalar(mse(zqHard, rd), a.q.cfg.Beta))
	return lv
}

// attnMaterialised is the reference formulation, as the release computes
// it: logits [N, V] = scale·q kᵀ stored, st = hard − sg(soft) + soft,
// zq_st = st·v, zq_hard = hard·v, and the entropy loss from the stored
// logits. It holds several N×V tensors per level.
func (a *assigner) attnMaterialised(qv *autograd.Var, scale float32) (level, *autograd.Var) {
	logits := autograd.MulScalar(autograd.Matmul(qv, a.k, false, true), scale)
	soft := autograd.Softmax(logits, 1)
	idx := tensor.Argmax(logits.Value, 1)
	oneHot := tensor.OneHot(idx, a.q.cfg.Codes)
	hard := a.tp.Const(oneHot)
	// soft − sg(soft) is exactly 0, so st's value is exactly hard.
	st := autograd.Add(hard, autograd.Sub(soft, soft.Detach()))
	lv := level{idx: idx, zq: autograd.Matmul(st, a.v, false, false)}
	zqHard := autograd.Matmul(hard, a.v, false, false)
	if a.q.cfg.Entropy {
		lv.entropy = entropyMaterialised(logits, a.q.cfg.EntropyTemp)
	}
	return lv, zqHard
}

// entropyMaterialised is the MAGVIT/IBQ entropy loss of logits [N, V]:
// mean_n H(P_n) − H(P̄), P = softmax(logits/T), P̄ = mean_n P_n,
// H(P̄) = −Σ P̄ log(P̄ + EntropyEps).
func entropyMaterialised(logits *autograd.Var, temp float32) *autograd.Var {
	u := autograd.MulScalar(logits, 1/temp)
	p := autograd.Softmax(u, 1)
	logP := autograd.LogSoftmax(u, 1)
	sample := autograd.Neg(autograd.MeanAll(autograd.Sum(autograd.Mul(p, logP), 1)))
	pBar := autograd.Mean(p, 0)
	avg := autograd.Neg(autograd.SumAll(autograd.Mul(pBar, autograd.Log(autograd.AddScalar(pBar, EntropyEps)))))
	return autograd.Sub(sample, avg)
}
