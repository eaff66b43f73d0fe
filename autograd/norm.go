package autograd

import (
	"github.com/tessera-ml/tessera/tensor"
)

// GroupNorm normalises x [N, C, ...] in groups of channels with an optional
// per-channel affine (see tensor.GroupNorm); gamma and beta are [C] or nil.
func GroupNorm(x *Var, groups int, gamma, beta *Var, eps float32) *Var {
	ins := normVars(x, gamma, beta)
	gv, bv := normValue(gamma), normValue(beta)
	if !normRecords(ins) {
		return record("GroupNorm", tensor.GroupNorm(x.Value, groups, gv, bv, eps), ins, nil)
	}
	y, mean, rstd := tensor.GroupNormStats(x.Value, groups, gv, bv, eps)
	return record("GroupNorm", y, ins, func(g *tensor.Tensor) []*tensor.Tensor {
		dx, dg, db := tensor.GroupNormBackward(x.Value, g, mean, rstd, gv, groups, normWant(x, gamma, beta))
		return normGrads(gamma, beta, dx, dg, db)
	}, mean, rstd)
}

// LayerNorm normalises the last axis of x with an optional affine (see
// tensor.LayerNorm); gamma and beta are [D] or nil.
func LayerNorm(x *Var, gamma, beta *Var, eps float32) *Var {
	ins := normVars(x, gamma, beta)
	gv, bv := normValue(gamma), normValue(beta)
	if !normRecords(ins) {
		return record("LayerNorm", tensor.LayerNorm(x.Value, gv, bv, eps), ins, nil)
	}
	y, mean, rstd := tensor.LayerNormStats(x.Value, gv, bv, eps)
	return record("LayerNorm", y, ins, func(g *tensor.Tensor) []*tensor.Tensor {
		dx, dg, db := tensor.LayerNormBackward(x.Value, g, mean, rstd, gv, normWant(x, gamma, beta))
		return normGrads(gamma, beta, dx, dg, db)
	}, mean, rstd)
}

// RMSNorm returns x / √(mean(x²) + eps) · gamma along the last axis (see
// tensor.RMSNorm); gamma is [D] or nil.
func RMSNorm(x *Var, gamma *Var, eps float32) *Var {
	ins := normVars(x, gamma, nil)
	gv := normValue(gamma)
	if !normRecords(ins) {
		return record("RMSNorm", tensor.RMSNorm(x.Value, gv, eps), ins, nil)
	}
	y, rstd := tensor.RMSNormStats(x.Value, gv, eps)
	return record("RMSNorm", y, ins, func(g *tensor.Tensor) []*tensor.Tensor {
		dx, dg := tensor.RMSNormBackward(x.Value, g, rstd, gv, normWant(x, gamma, nil))
		return normGrads(gamma, nil, dx, dg, nil)
	}, rstd)
}

// normVars lists x and the non-nil affine parameters: the node's inputs.
func normVars(x, gamma, beta *Var) []*Var {
	ins := []*Var{x}
	for _, p := range []*Var{gamma, beta} {
		if p != nil {
			ins = append(ins, p)
		}
	}
	return ins
}

func normValue(v *Var) *tensor.Tensor {
	if v == nil {
		return nil
	}
	return v.Value
}

// normRecords reports whether record will keep a node: only then are the
// statistics worth saving.
func normRecords(ins []*Var) bool {
	if !ins[0].tape.Recording() {
		return false
	}
	for _, in := range ins {
		if in.requires {
			return true
		}
	}
	return false
}

// normWant selects the gradients the inputs need.
func normWant(x, gamma, beta *Var) tensor.NormGrad {
	var w tensor.NormGrad
	if x.requires {
		w |= tensor.NormGradX
	}
	if gamma != nil && gamma.requires {
		w |= tensor.NormGradGamma
	}
	if beta != nil && beta.requires {
		w |= tensor.NormGradBeta
	}
	return w
}

// normGrads orders the gradients like normVars' inputs.
func normGrads(gamma, beta *Var, dx, dg, db *tensor.Tensor) []*tensor.Tensor {
	out := []*tensor.Tensor{dx}
	if gamma != nil {
		out = append(out, dg)
	}
	if beta != nil {
		out = append(out, db)
	}
	return out
}
