package ref

import "math"

// AttnAssignResult holds the float64 twin of tensor.AttnAssignForward.
type AttnAssignResult struct {
	Idx    []int   // argmax_v logits, first index on ties
	Max    *Tensor // [N]
	LSE    *Tensor // [N]
	Soft   *Tensor // [N, C]: softmax(logits) · val
	EntMax *Tensor // [N]: max logits/T
	EntLSE *Tensor // [N]: log Σ exp(logits/T)
	EntSum *Tensor // [N]: Σ P·logits/T, P = softmax(logits/T)
	Logits *Tensor // [N, V]: scale·q kᵀ, materialised (the twin can afford it)
}

// AttnAssign materialises logits = scale·q kᵀ for q [N, d], k [V, d] and
// returns the per-token assignment statistics with values val [V, C] and
// entropy temperature temp. It panics on mismatched shapes.
func AttnAssign(q, k, val *Tensor, scale, temp float64) AttnAssignResult {
	n, d, v, c := q.Shape[0], q.Shape[1], k.Shape[0], val.Shape[1]
	if k.Shape[1] != d || val.Shape[0] != v {
		panic("ref: AttnAssign: shape mismatch")
	}
	r := AttnAssignResult{
		Idx: make([]int, n), Max: New(n), LSE: New(n), Soft: New(n, c),
		EntMax: New(n), EntLSE: New(n), EntSum: New(n), Logits: New(n, v),
	}
	for i := 0; i < n; i++ {
		l := r.Logits.Data[i*v : (i+1)*v]
		m, b := math.Inf(-1), 0
		for j := 0; j < v; j++ {
			var a float64
			for t := 0; t < d; t++ {
				a += q.Data[i*d+t] * k.Data[j*d+t]
			}
			l[j] = scale * a
			if l[j] > m {
				m, b = l[j], j
			}
		}
		var s, sT, w float64
		soft := r.Soft.Data[i*c : (i+1)*c]
		for j := 0; j < v; j++ {
			p := math.Exp(l[j] - m)
			s += p
			for t := 0; t < c; t++ {
				soft[t] += p * val.Data[j*c+t]
			}
			pT := math.Exp((l[j] - m) / temp)
			sT += pT
			w += pT * l[j] / temp
		}
		for t := range soft {
			soft[t] /= s
		}
		r.Idx[i], r.Max.Data[i], r.LSE.Data[i] = b, m, m+math.Log(s)
		r.EntMax.Data[i], r.EntLSE.Data[i], r.EntSum.Data[i] = m/temp, m/temp+math.Log(sT), w/sT
	}
	return r
}

// AttnAssignMeanProb is P̄ [V] = mean_n softmax(logits_n/T) from the
// materialised logits of an AttnAssign result (zeros for N = 0).
func AttnAssignMeanProb(r AttnAssignResult, temp float64) *Tensor {
	n, v := r.Logits.Shape[0], r.Logits.Shape[1]
	p := New(v)
	for i := 0; i < n; i++ {
		for j := 0; j < v; j++ {
			p.Data[j] += math.Exp(r.Logits.Data[i*v+j]/temp-r.EntLSE.Data[i]) / float64(n)
		}
	}
	return p
}
