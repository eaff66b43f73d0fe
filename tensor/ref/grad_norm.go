package ref

import (
	"fmt"
	"math"
)

// Vector–Jacobian products of the normalisations. Per normalised block of
// m elements with x̂ = (x−μ)·rstd and g = dy·γ (γ = 1 when nil):
//
//	dx = rstd·(g − mean(g) − x̂·mean(g·x̂))
//
// and for RMSNorm (x̂ = x·rstd, no centring) dx = rstd·(g − x̂·mean(g·x̂)).
// dgamma[c] = Σ dy·x̂ and dbeta[c] = Σ dy over every element of channel c.
// dgamma and dbeta are returned even when gamma or beta is nil: they are
// what a parameter there would get.

// normBlockVJP adds the gradients of one block: x, dy and dx are the
// block's elements, ch(k) is element k's channel.
func normBlockVJP(x, dy, dx []float64, ch func(k int) int, gamma *Tensor, eps float64, rms bool, dgamma, dbeta []float64) {
	m := float64(len(x))
	var mu float64
	if !rms {
		mu = mean(x)
	}
	var v float64
	for _, a := range x {
		v += (a - mu) * (a - mu)
	}
	rstd := 1 / math.Sqrt(v/m+eps)
	var sg, sgx float64
	for k, a := range x {
		g := dy[k]
		if gamma != nil {
			g *= gamma.Data[ch(k)]
		}
		xh := (a - mu) * rstd
		sg += g
		sgx += g * xh
		dgamma[ch(k)] += dy[k] * xh
		dbeta[ch(k)] += dy[k]
	}
	if rms {
		sg = 0
	}
	for k, a := range x {
		g := dy[k]
		if gamma != nil {
			g *= gamma.Data[ch(k)]
		}
		xh := (a - mu) * rstd
		dx[k] = rstd * (g - sg/m - xh*sgx/m)
	}
}

func checkVJPShape(op string, x, dy *Tensor) {
	if !sameShape(x.Shape, dy.Shape) {
		panic(fmt.Sprintf("ref: %s: dy shape %v, want %v", op, dy.Shape, x.Shape))
	}
}

// GroupNormVJP returns the gradients of GroupNorm(x, groups, gamma, beta,
// eps) with respect to x, gamma and beta for the output gradient dy.
func GroupNormVJP(x *Tensor, groups int, gamma, beta *Tensor, eps float64, dy *Tensor) (dx, dgamma, dbeta *Tensor) {
	if len(x.Shape) < 2 {
		panic(fmt.Sprintf("ref: GroupNormVJP: want [N, C, ...], got shape %v", x.Shape))
	}
	n, c := x.Shape[0], x.Shape[1]
	if groups <= 0 || c%groups != 0 {
		panic(fmt.Sprintf("ref: GroupNormVJP: %d groups do not divide %d channels", groups, c))
	}
	checkAffine("GroupNormVJP", "gamma", gamma, c)
	checkAffine("GroupNormVJP", "beta", beta, c)
	checkVJPShape("GroupNormVJP", x, dy)
	spatial := Numel(x.Shape[2:])
	cg := c / groups
	per := cg * spatial
	dx, dgamma, dbeta = New(x.Shape...), New(c), New(c)
	for b := range n {
		for g := range groups {
			base := (b*groups + g) * per
			normBlockVJP(x.Data[base:base+per], dy.Data[base:base+per], dx.Data[base:base+per],
				func(k int) int { return g*cg + k/spatial }, gamma, eps, false, dgamma.Data, dbeta.Data)
		}
	}
	return dx, dgamma, dbeta
}

// LayerNormVJP returns the gradients of LayerNorm(x, gamma, beta, eps)
// with respect to x, gamma and beta for the output gradient dy.
func LayerNormVJP(x, gamma, beta *Tensor, eps float64, dy *Tensor) (dx, dgamma, dbeta *Tensor) {
	d := lastDim("LayerNormVJP", x)
	checkAffine("LayerNormVJP", "gamma", gamma, d)
	checkAffine("LayerNormVJP", "beta", beta, d)
	checkVJPShape("LayerNormVJP", x, dy)
	dx, dgamma, dbeta = New(x.Shape...), New(d), New(d)
	for base := 0; base < len(x.Data); base += d {
		normBlockVJP(x.Data[base:base+d], dy.Data[base:base+d], dx.Data[base:base+d],
			func(k int) int { return k }, gamma, eps, false, dgamma.Data, dbeta.Data)
	}
	return dx, dgamma, dbeta
}

// RMSNormVJP returns the gradients of RMSNorm(x, gamma, eps) with respect
// to x and gamma for the output gradient dy.
func RMSNormVJP(x, gamma *Tensor, eps float64, dy *Tensor) (dx, dgamma *Tensor) {
	d := lastDim("RMSNormVJP", x)
	checkAffine("RMSNormVJP", "gamma", gamma, d)
	checkVJPShape("RMSNormVJP", x, dy)
	dx, dgamma = New(x.Shape...), New(d)
	dbeta := make([]float64, d)
	for base := 0; base < len(x.Data); base += d {
		normBlockVJP(x.Data[base:base+d], dy.Data[base:base+d], dx.Data[base:base+d],
			func(k int) int { return k }, gamma, eps, true, dgamma.Data, dbeta)
	}
	return dx, dgamma
}
