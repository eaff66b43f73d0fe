package ref

import (
	"fmt"
	"math"
)

// checkAffine panics unless p is nil or a 1-D tensor of length n.
func checkAffine(op, name string, p *Tensor, n int) {
	if p != nil && !sameShape(p.Shape, []int{n}) {
		panic(fmt.Sprintf("ref: %s: %s shape %v, want [%d]", op, name, p.Shape, n))
	}
}

// affine returns v*gamma[i] + beta[i], treating a nil gamma as 1 and a nil
// beta as 0.
func affine(v float64, gamma, beta *Tensor, i int) float64 {
	if gamma != nil {
		v *= gamma.Data[i]
	}
	if beta != nil {
		v += beta.Data[i]
	}
	return v
}

// meanVar returns the mean and biased (population) variance of vals.
func meanVar(vals []float64) (m, v float64) {
	m = mean(vals)
	var s float64
	for _, x := range vals {
		s += (x - m) * (x - m)
	}
	return m, s / float64(len(vals))
}

// GroupNorm normalises x [N, C, ...] like F.group_norm: the C channels are
// split into groups contiguous groups, each (sample, group) is normalised
// with its mean and biased variance over the group's channels and all
// trailing dimensions, then channel c is scaled by gamma[c] and shifted by
// beta[c]. gamma and beta are [C] or nil (identity). It panics unless
// groups divides C.
func GroupNorm(x *Tensor, groups int, gamma, beta *Tensor, eps float64) *Tensor {
	if len(x.Shape) < 2 {
		panic(fmt.Sprintf("ref: GroupNorm: want [N, C, ...], got shape %v", x.Shape))
	}
	n, c := x.Shape[0], x.Shape[1]
	if groups <= 0 || c%groups != 0 {
		panic(fmt.Sprintf("ref: GroupNorm: %d groups do not divide %d channels", groups, c))
	}
	checkAffine("GroupNorm", "gamma", gamma, c)
	checkAffine("GroupNorm", "beta", beta, c)
	spatial := Numel(x.Shape[2:])
	perGroup := c / groups * spatial
	out := New(x.Shape...)
	for b := range n {
		for g := range groups {
			base := (b*groups + g) * perGroup
			m, v := meanVar(x.Data[base : base+perGroup])
			inv := 1 / math.Sqrt(v+eps)
			for k := range perGroup {
				ch := g*(c/groups) + k/spatial
				out.Data[base+k] = affine((x.Data[base+k]-m)*inv, gamma, beta, ch)
			}
		}
	}
	return out
}

// LayerNorm normalises every vector along the last dimension of x with its
// mean and biased variance, then applies gamma and beta (shape [D], where D
// is the last dimension, or nil for identity), like F.layer_norm with
// normalized_shape=[D].
func LayerNorm(x *Tensor, gamma, beta *Tensor, eps float64) *Tensor {
	d := lastDim("LayerNorm", x)
	checkAffine("LayerNorm", "gamma", gamma, d)
	checkAffine("LayerNorm", "beta", beta, d)
	out := New(x.Shape...)
	for base := 0; base < len(x.Data); base += d {
		m, v := meanVar(x.Data[base : base+d])
		inv := 1 / math.Sqrt(v+eps)
		for i := range d {
			out.Data[base+i] = affine((x.Data[base+i]-m)*inv, gamma, beta, i)
		}
	}
	return out
}

// RMSNorm returns x / sqrt(mean(x^2) + eps) * gamma along the last
// dimension of x. gamma has shape [D] or is nil (identity).
func RMSNorm(x *Tensor, gamma *Tensor, eps float64) *Tensor {
	d := lastDim("RMSNorm", x)
	checkAffine("RMSNorm", "gamma", gamma, d)
	out := New(x.Shape...)
	sq := make([]float64, d)
	for base := 0; base < len(x.Data); base += d {
		for i, v := range x.Data[base : base+d] {
			sq[i] = v * v
		}
		inv := 1 / math.Sqrt(mean(sq)+eps)
		for i := range d {
			out.Data[base+i] = affine(x.Data[base+i]*inv, gamma, nil, i)
		}
	}
	return out
}

// lastDim returns the size of x's last dimension, panicking on a scalar or
// an empty last dimension.
func lastDim(op string, x *Tensor) int {
	if len(x.Shape) == 0 || x.Shape[len(x.Shape)-1] == 0 {
		panic(fmt.Sprintf("ref: %s: need a non-empty last dimension, got shape %v", op, x.Shape))
	}
	return x.Shape[len(x.Shape)-1]
}
