package ref

import "math"

// Float64 twins of the attention-assignment backward (tensor.AttnAssign*
// Backward, autograd.AttnAssign). They materialise the N×V logits and
// probabilities, which the twin can afford, and write each gradient out
// from the chain rule directly; the tests check them against central
// finite differences of AttnAssign.

// attnLogits returns scale·q kᵀ [N, V].
func attnLogits(q, k *Tensor, scale float64) []float64 {
	n, d, v := q.Shape[0], q.Shape[1], k.Shape[0]
	if k.Shape[1] != d {
		panic("ref: attention assignment: q and k widths differ")
	}
	l := make([]float64, n*v)
	for i := 0; i < n; i++ {
		for j := 0; j < v; j++ {
			var a float64
			for t := 0; t < d; t++ {
				a += q.Data[i*d+t] * k.Data[j*d+t]
			}
			l[i*v+j] = scale * a
		}
	}
	return l
}

// softmaxRows returns softmax(x/temp) of each length-v row of x.
func softmaxRows(x []float64, v int, temp float64) []float64 {
	p := make([]float64, len(x))
	for r := 0; r*v < len(x); r++ {
		row, out := x[r*v:(r+1)*v], p[r*v:(r+1)*v]
		m := math.Inf(-1)
		for _, a := range row {
			m = math.Max(m, a/temp)
		}
		var s float64
		for j, a := range row {
			out[j] = math.Exp(a/temp - m)
			s += out[j]
		}
		for j := range out {
			out[j] /= s
		}
	}
	return p
}

// attnLogitsVJP turns dlogits [N, V] into dq = scale·dlogits·k and
// dk = scale·dlogitsᵀ·q.
func attnLogitsVJP(q, k *Tensor, scale float64, dl []float64) (dq, dk *Tensor) {
	n, d, v := q.Shape[0], q.Shape[1], k.Shape[0]
	dq, dk = New(n, d), New(v, d)
	for i := 0; i < n; i++ {
		for j := 0; j < v; j++ {
			g := scale * dl[i*v+j]
			for t := 0; t < d; t++ {
				dq.Data[i*d+t] += g * k.Data[j*d+t]
				dk.Data[j*d+t] += g * q.Data[i*d+t]
			}
		}
	}
	return dq, dk
}

// AttnAssignSoftVJP returns the gradients into q [N, d] and k [V, d] of
// Σ dy ⊙ Soft for dy [N, C], Soft = softmax(scale·q kᵀ)·val with val
// [V, C] held fixed: the soft half of zq_st = (hard − sg(soft) + soft)·val.
func AttnAssignSoftVJP(q, k, val *Tensor, scale float64, dy *Tensor) (dq, dk *Tensor) {
	n, v, c := q.Shape[0], k.Shape[0], val.Shape[1]
	if val.Shape[0] != v || dy.Shape[0] != n || dy.Shape[1] != c {
		panic("ref: AttnAssignSoftVJP: shape mismatch")
	}
	p := softmaxRows(attnLogits(q, k, scale), v, 1)
	dl := make([]float64, n*v)
	for i := 0; i < n; i++ {
		// dsoft_j = <dy_i, val_j>; dlogits = p ⊙ (dsoft − <p, dsoft>).
		ds := make([]float64, v)
		var mean float64
		for j := 0; j < v; j++ {
			for t := 0; t < c; t++ {
				ds[j] += dy.Data[i*c+t] * val.Data[j*c+t]
			}
			mean += p[i*v+j] * ds[j]
		}
		for j := 0; j < v; j++ {
			dl[i*v+j] = p[i*v+j] * (ds[j] - mean)
		}
	}
	return attnLogitsVJP(q, k, scale, dl)
}

// AttnAssignHardVJP returns the gradient into val [V, C] of Σ dy ⊙ val[idx]
// for dy [N, C]: dy's rows added into rows idx (the hard half of zq_st and
// all of zq_hard).
func AttnAssignHardVJP(idx []int, v int, dy *Tensor) *Tensor {
	n, c := dy.Shape[0], dy.Shape[1]
	if len(idx) != n {
		panic("ref: AttnAssignHardVJP: idx length differs from dy rows")
	}
	dv := New(v, c)
	for i, j := range idx {
		for t := 0; t < c; t++ {
			dv.Data[j*c+t] += dy.Data[i*c+t]
		}
	}
	return dv
}

// AttnAssignEntropy returns CODA's entropy loss mean_n H(P_n) − H(P̄) with
// P_n = softmax(scale·q_n kᵀ/temp), P̄ = mean_n P_n, H(p) = −Σ p log p for
// the tokens and −Σ P̄ log(P̄ + 1e-5) for the mean. No tokens give 0.
func AttnAssignEntropy(q, k *Tensor, scale, temp float64) float64 {
	n, v := q.Shape[0], k.Shape[0]
	if n == 0 {
		return 0
	}
	p := softmaxRows(attnLogits(q, k, scale), v, temp)
	pbar := make([]float64, v)
	var h float64
	for i := 0; i < n; i++ {
		for j := 0; j < v; j++ {
			if x := p[i*v+j]; x > 0 {
				h -= x * math.Log(x) / float64(n)
			}
			pbar[j] += p[i*v+j] / float64(n)
		}
	}
	for _, x := range pbar {
		h += x * math.Log(x+1e-5)
	}
	return h
}

// AttnAssignEntropyVJP returns the gradients into q and k of
// dy·AttnAssignEntropy(q, k, scale, temp).
func AttnAssignEntropyVJP(q, k *Tensor, scale, temp, dy float64) (dq, dk *Tensor) {
	n, v := q.Shape[0], k.Shape[0]
	if n == 0 {
		return New(q.Shape...), New(k.Shape...)
	}
	p := softmaxRows(attnLogits(q, k, scale), v, temp)
	pbar := make([]float64, v)
	for i := 0; i < n; i++ {
		for j := 0; j < v; j++ {
			pbar[j] += p[i*v+j] / float64(n)
		}
	}
	// dL/dP_nj through both terms: the token entropy's −(log P + 1)/N and
	// the mean's (log(P̄ + ε) + P̄/(P̄ + ε))/N; then back through each row's
	// softmax: du = P ⊙ (dP − <P, dP>), and dlogits = dy·du/T.
	dl := make([]float64, n*v)
	dp := make([]float64, v)
	for i := 0; i < n; i++ {
		row := p[i*v : (i+1)*v]
		var mean float64
		for j, x := range row {
			dp[j] = (math.Log(pbar[j]+1e-5) + pbar[j]/(pbar[j]+1e-5)) / float64(n)
			if x > 0 {
				dp[j] -= (math.Log(x) + 1) / float64(n)
			}
			mean += x * dp[j]
		}
		for j, x := range row {
			dl[i*v+j] = dy * x * (dp[j] - mean) / temp
		}
	}
	return attnLogitsVJP(q, k, scale, dl)
}
