package autograd

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor/ref"
)

// Gradient checks of GroupNorm, LayerNorm and RMSNorm. Inputs in -2..2
// (gamma too) keep the variance well away from eps, so finite differences
// are well conditioned. Tolerance 1e-5 relative to max(1, max|want|): the
// forward is held to that in tensor's tests, and the backward's sums run
// over at most a few hundred float32 terms here.

const gradNormEps = 1e-5

// normTwinEps is the float32 eps the GPU uses, as float64 for the twins.
var normTwinEps = float64(float32(gradNormEps))

// normAffineArgs splits xs into x and the affine parameters present.
func normAffineArgs[T any](xs []T, gamma, beta bool) (x, g, b T) {
	x = xs[0]
	i := 1
	if gamma {
		g, i = xs[i], i+1
	}
	if beta {
		b = xs[i]
	}
	return x, g, b
}

// normShapes returns the input shapes: x, then gamma and beta of c
// elements where present.
func normShapes(s []int, c int, gamma, beta bool) [][]int {
	out := shapes(s)
	if gamma {
		out = append(out, sh(c))
	}
	if beta {
		out = append(out, sh(c))
	}
	return out
}

// normRefs collects the twin gradients in input order.
func normRefs(dx, dg, db *ref.Tensor, gamma, beta bool) []*ref.Tensor {
	out := []*ref.Tensor{dx}
	if gamma {
		out = append(out, dg)
	}
	if beta {
		out = append(out, db)
	}
	return out
}

func affineName(gamma, beta bool) string {
	switch {
	case gamma && beta:
		return "affine"
	case gamma:
		return "gamma"
	case beta:
		return "beta"
	}
	return "plain"
}

func groupNormCase(s []int, groups int, gamma, beta bool) gradCase {
	return gradCase{
		name:   fmt.Sprintf("GroupNorm%v/g%d/%s", s, groups, affineName(gamma, beta)),
		shapes: normShapes(s, s[1], gamma, beta), lo: -2, hi: 2, tol: 1e-5,
		gpu: func(xs []*Var) *Var {
			x, g, b := normAffineArgs(xs, gamma, beta)
			return GroupNorm(x, groups, g, b, gradNormEps)
		},
		fwd: func(xs []*ref.Tensor) *ref.Tensor {
			x, g, b := normAffineArgs(xs, gamma, beta)
			return ref.GroupNorm(x, groups, g, b, normTwinEps)
		},
		vjp: func(xs []*ref.Tensor, dy *ref.Tensor) []*ref.Tensor {
			x, g, b := normAffineArgs(xs, gamma, beta)
			dx, dg, db := ref.GroupNormVJP(x, groups, g, b, normTwinEps, dy)
			return normRefs(dx, dg, db, gamma, beta)
		},
	}
}

func layerNormCase(s []int, gamma, beta bool) gradCase {
	d := s[len(s)-1]
	return gradCase{
		name:   fmt.Sprintf("LayerNorm%v/%s", s, affineName(gamma, beta)),
		shapes: normShapes(s, d, gamma, beta), lo: -2, hi: 2, tol: 1e-5,
		gpu: func(xs []*Var) *Var {
			x, g, b := normAffineArgs(xs, gamma, beta)
			return LayerNorm(x, g, b, gradNormEps)
		},
		fwd: func(xs []*ref.Tensor) *ref.Tensor {
			x, g, b := normAffineArgs(xs, gamma, beta)
			return ref.LayerNorm(x, g, b, normTwinEps)
		},
		vjp: func(xs []*ref.Tensor, dy *ref.Tensor) []*ref.Tensor {
			x, g, b := normAffineArgs(xs, gamma, beta)
			dx, dg, db := ref.LayerNormVJP(x, g, b, normTwinEps, dy)
			return normRefs(dx, dg, db, gamma, beta)
		},
	}
}

func rmsNormCase(s []int, gamma bool) gradCase {
	d := s[len(s)-1]
	return gradCase{
		name:   fmt.Sprintf("RMSNorm%v/%s", s, affineName(gamma, false)),
		shapes: normShapes(s, d, gamma, false), lo: -2, hi: 2, tol: 1e-5,
		gpu: func(xs []*Var) *Var {
			x, g, _ := normAffineArgs(xs, gamma, false)
			return RMSNorm(x, g, gradNormEps)
		},
		fwd: func(xs []*ref.Tensor) *ref.Tensor {
			x, g, _ := normAffineArgs(xs, gamma, false)
			return ref.RMSNorm(x, g, normTwinEps)
		},
		vjp: func(xs []*ref.Tensor, dy *ref.Tensor) []*ref.Tensor {
			x, g, _ := normAffineArgs(xs, gamma, false)
			dx, dg := ref.RMSNormVJP(x, g, normTwinEps, dy)
			return normRefs(dx, dg, nil, gamma, false)
		},
	}
}

func TestGradientsNorm(t *testing.T) {
	for _, tc := range []gradCase{
		groupNormCase(sh(2, 6, 5, 3), 3, true, true),
		groupNormCase(sh(2, 6, 5, 3), 3, false, false),
		groupNormCase(sh(3, 8, 7), 4, true, true),
		groupNormCase(sh(3, 8, 7), 4, true, false),
		groupNormCase(sh(3, 8, 7), 4, false, true),
		groupNormCase(sh(2, 6, 5, 3), 6, true, true), // groups = channels
		groupNormCase(sh(2, 6, 5, 3), 1, true, true),
		groupNormCase(sh(5, 6), 3, true, true), // no spatial dims
		layerNormCase(sh(5, 7), true, true),
		layerNormCase(sh(5, 7), false, false),
		layerNormCase(sh(3, 33), true, true),
		layerNormCase(sh(3, 33), true, false),
		layerNormCase(sh(2, 3, 7), true, true),
		layerNormCase(sh(2, 3, 7), false, true),
		rmsNormCase(sh(5, 8), true),
		rmsNormCase(sh(5, 8), false),
		rmsNormCase(sh(3, 33), true),
		rmsNormCase(sh(3, 33), false),
		rmsNormCase(sh(2, 3, 8), true),
	} {
		t.Run(tc.name, func(t *testing.T) { checkGradCase(t, tc) })
	}
}

// A constant x (an input batch) with trainable gamma and beta: the
// backward computes only the parameter gradients (and, for LayerNorm and
// GroupNorm, the mean correction they need without dx).
func TestGradientsNormFrozenInput(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	rng := rand.New(rand.NewSource(5))
	x := randInput(rng, -2, 2, []int{3, 8, 7})
	gamma, beta := randInput(rng, 0.5, 2, []int{8}), randInput(rng, -1, 1, []int{8})
	gamma7 := randInput(rng, 0.5, 2, []int{7})
	dy := randInput(rng, -1, 1, x.Shape)
	up := func(r *ref.Tensor) *Var { return tp.Param(e.FromFloat32(r.Float32(), r.Shape...), "p") }
	check := func(v *Var, want *ref.Tensor) {
		t.Helper()
		require.NotNil(t, v.Grad)
		got, err := v.Grad.Float32()
		require.NoError(t, err)
		require.NoError(t, ref.Close(got, want, 1e-5))
	}

	t.Run("GroupNorm", func(t *testing.T) {
		xv, g, b := tp.Const(e.FromFloat32(x.Float32(), x.Shape...)), up(gamma), up(beta)
		defer g.Release()
		defer b.Release()
		require.NoError(t, BackwardWith(GroupNorm(xv, 4, g, b, gradNormEps), e.FromFloat32(dy.Float32(), dy.Shape...)))
		_, wg, wb := ref.GroupNormVJP(x, 4, gamma, beta, normTwinEps, dy)
		check(g, wg)
		check(b, wb)
	})
	t.Run("LayerNorm-gamma", func(t *testing.T) {
		xv, g := tp.Const(e.FromFloat32(x.Float32(), x.Shape...)), up(gamma7)
		defer g.Release()
		require.NoError(t, BackwardWith(LayerNorm(xv, g, nil, gradNormEps), e.FromFloat32(dy.Float32(), dy.Shape...)))
		_, wg, _ := ref.LayerNormVJP(x, gamma7, nil, normTwinEps, dy)
		check(g, wg)
	})
	t.Run("RMSNorm", func(t *testing.T) {
		xv, g := tp.Const(e.FromFloat32(x.Float32(), x.Shape...)), up(gamma7)
		defer g.Release()
		require.NoError(t, BackwardWith(RMSNorm(xv, g, gradNormEps), e.FromFloat32(dy.Float32(), dy.Shape...)))
		_, wg := ref.RMSNormVJP(x, gamma7, normTwinEps, dy)
		check(g, wg)
	})
}
