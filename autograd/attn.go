package autograd

import (
	"math"

	"github.com/tessera-ml/tessera/tensor"
)

// AttnAssignOptions configures AttnAssign.
type AttnAssignOptions struct {
	// Scale multiplies <q, k>; 0 means 1/√d.
	Scale float32
	// Temp is the entropy temperature; 0 means CODA's 0.01.
	Temp float32
	// Entropy computes the entropy loss (AttnAssignResult.Entropy).
	Entropy bool
	// TileCodes is how many codes one backward tile covers; 0 picks it so a
	// tile's [N, tile] temporaries stay near 8 MiB (tensor.AttnAssignTile).
	TileCodes int
}

// AttnAssignResult holds the outputs of AttnAssign.
type AttnAssignResult struct {
	// Idx is int32 [N]: argmax_v logits, the token ids.
	Idx *tensor.Tensor
	// ZqST [N, C] has the value v[idx]; its gradient flows into q and k
	// through the soft path (softmax(logits)·v with v held fixed) and into
	// v through the hard path only (rows idx): st = hard − sg(soft) + soft.
	ZqST *Var
	// ZqHard [N, C] has the value v[idx]; its gradient flows only into v.
	ZqHard *Var
	// Entropy is the scalar mean_n H(P_n) − H(P̄), P_n =
	// softmax(logits_n/Temp), P̄ = mean_n P_n, H(P̄) = −Σ P̄ log(P̄ + 1e-5),
	// with gradient into q and k; nil unless Options.Entropy.
	Entropy *Var
}

// Release releases Idx. The backward passes of ZqST and ZqHard read it, so
// release after Backward (or let the scope do it).
func (r *AttnAssignResult) Release() {
	r.Idx.Release()
}

// AttnAssign is CODA's attention code assignment of queries q [N, d] to
// keys k [V, d] with values v [V, C]: logits = Scale·q kᵀ (q and k arrive
// normed), idx = argmax, and the straight-through and hard code vectors
// (both equal to v[idx]). The forward is tensor.AttnAssignForward; the
// backward recomputes logits in tiles of codes (tensor.AttnAssignSoft
// Backward, tensor.AttnAssignEntropyBackward), so neither pass stores N×V
// values. Shape errors (see tensor.AttnAssignForward) are sticky: every
// output carries them.
func AttnAssign(q, k, v *Var, o AttnAssignOptions) *AttnAssignResult {
	scale, temp := o.Scale, o.Temp
	if s := q.Value.Shape(); scale == 0 && len(s) == 2 && s[1] > 0 {
		scale = float32(1 / math.Sqrt(float64(s[1])))
	}
	if temp == 0 {
		temp = 0.01
	}
	fwd := tensor.AttnAssignForward(q.Value, k.Value, v.Value, scale, temp)
	var pbar *tensor.Tensor
	if o.Entropy {
		pbar = tensor.AttnAssignMeanProb(q.Value, k.Value, scale, temp, fwd)
	}
	lse, soft, entLSE, entSum := fwd.LSE, fwd.Soft, fwd.EntLSE, fwd.EntSum
	keep := []*tensor.Tensor{fwd.Idx, lse, soft}
	if o.Entropy {
		keep = append(keep, entLSE, entSum)
	}
	fwd.ReleaseExcept(keep...)
	bo := tensor.AttnBackwardOptions{TileCodes: o.TileCodes}

	r := &AttnAssignResult{Idx: fwd.Idx}
	r.ZqHard = Gather(v, 0, r.Idx)
	idx := r.Idx
	r.ZqST = record("AttnAssignST", tensor.Gather(v.Value, 0, idx), []*Var{q, k, v}, func(g *tensor.Tensor) []*tensor.Tensor {
		out := make([]*tensor.Tensor, 3)
		if q.requires || k.requires {
			so := bo
			so.SkipQ, so.SkipK = !q.requires, !k.requires
			out[0], out[1] = tensor.AttnAssignSoftBackward(q.Value, k.Value, v.Value, lse, soft, g, scale, so)
		}
		if v.requires {
			z := q.tape.eng.Zeros(v.Value.Shape()...)
			out[2] = tensor.ScatterAdd(z, 0, idx, g)
			z.Release()
		}
		return out
	}, lse, soft)
	if !o.Entropy {
		return r
	}
	val := tensor.AttnAssignEntropy(entLSE, entSum, pbar)
	r.Entropy = record("AttnAssignEntropy", val, []*Var{q, k}, func(g *tensor.Tensor) []*tensor.Tensor {
		eo := bo
		eo.SkipQ, eo.SkipK = !q.requires, !k.requires
		dq, dk := tensor.AttnAssignEntropyBackward(q.Value, k.Value, entLSE, entSum, pbar, g, scale, temp, eo)
		return []*tensor.Tensor{dq, dk}
	}, entLSE, entSum, pbar)
	return r
}
