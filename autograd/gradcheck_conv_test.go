package autograd

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor"
	"github.com/tessera-ml/tessera/tensor/ref"
)

// Gradient checks of Conv2d: every geometry branch of the backward kernels
// (padding, stride, dilation, 1×1, a kernel larger than the stride,
// non-square kernels with asymmetric stride and padding) with and without
// a bias. Shapes stay small: the finite-difference check runs the twin's
// forward twice per input element. Tolerance 1e-5 relative to
// max(1, max|want|): the sums here run over at most a few hundred float32
// products.

// convCase is a Conv2d with x [N, Cin, H, W], weight [Cout, Cin, KH, KW]
// and, when bias is set, a bias [Cout].
func convCase(x, w []int, p tensor.ConvParams, bias bool) gradCase {
	ss := shapes(x, w)
	if bias {
		ss = append(ss, sh(w[0]))
	}
	rp := ref.ConvParams{StrideH: max(1, p.StrideH), StrideW: max(1, p.StrideW), PadH: p.PadH, PadW: p.PadW,
		DilH: max(1, p.DilH), DilW: max(1, p.DilW)}
	return gradCase{
		name:   fmt.Sprintf("Conv2d%v%v/s%dx%d/p%dx%d/d%dx%d/bias=%v", x, w, rp.StrideH, rp.StrideW, p.PadH, p.PadW, rp.DilH, rp.DilW, bias),
		shapes: ss, lo: -1, hi: 1, tol: 1e-5,
		gpu: func(xs []*Var) *Var {
			var b *Var
			if bias {
				b = xs[2]
			}
			return Conv2d(xs[0], xs[1], b, p)
		},
		fwd: func(xs []*ref.Tensor) *ref.Tensor {
			var b *ref.Tensor
			if bias {
				b = xs[2]
			}
			return ref.Conv2d(xs[0], xs[1], b, rp)
		},
		vjp: func(xs []*ref.Tensor, dy *ref.Tensor) []*ref.Tensor {
			dx, dw, db := ref.Conv2dVJP(xs[0], xs[1], rp, dy)
			if bias {
				return []*ref.Tensor{dx, dw, db}
			}
			return []*ref.Tensor{dx, dw}
		},
	}
}

func TestGradientsConv(t *testing.T) {
	type cp = tensor.ConvParams
	for _, tc := range []gradCase{
		convCase(sh(2, 3, 7, 6), sh(5, 3, 3, 3), cp{PadH: 1, PadW: 1}, true),
		convCase(sh(2, 3, 7, 6), sh(5, 3, 3, 3), cp{PadH: 1, PadW: 1}, false),
		convCase(sh(1, 3, 11, 9), sh(5, 3, 3, 3), cp{}, true),
		convCase(sh(2, 3, 9, 7), sh(4, 3, 3, 3), cp{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, true),
		convCase(sh(1, 3, 8, 10), sh(5, 3, 3, 3), cp{StrideH: 2, StrideW: 2}, false),
		convCase(sh(1, 3, 9, 8), sh(4, 3, 3, 3), cp{PadH: 2, PadW: 2, DilH: 2, DilW: 2}, true),
		convCase(sh(2, 5, 5, 7), sh(3, 5, 1, 1), cp{}, true),
		convCase(sh(1, 5, 7, 5), sh(3, 5, 1, 1), cp{StrideH: 2, StrideW: 2}, false),
		convCase(sh(2, 3, 8, 10), sh(5, 3, 4, 4), cp{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, true),
		convCase(sh(2, 3, 9, 8), sh(4, 3, 3, 2), cp{StrideH: 2, StrideW: 1, PadH: 0, PadW: 1}, true),
		convCase(sh(1, 3, 10, 9), sh(5, 3, 2, 3), cp{StrideH: 1, StrideW: 3, PadH: 2, PadW: 1, DilH: 2}, false),
		convCase(sh(1, 2, 11, 10), sh(3, 2, 3, 3), cp{StrideH: 3, StrideW: 2, PadH: 1, PadW: 2, DilH: 2, DilW: 1}, true),
	} {
		t.Run(tc.name, func(t *testing.T) { checkGradCase(t, tc) })
	}
}

// A constant input (an image batch) with trainable weight and bias, and a
// frozen weight: the VJP computes only the gradients that are needed.
func TestGradientsConvFrozen(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	rng := rand.New(rand.NewSource(6))
	p := tensor.ConvParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}
	rp := ref.ConvParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, DilH: 1, DilW: 1}
	x := randInput(rng, -1, 1, []int{2, 3, 9, 7})
	w := randInput(rng, -1, 1, []int{4, 3, 3, 3})
	b := randInput(rng, -1, 1, []int{4})
	dy := randInput(rng, -1, 1, []int{2, 4, 5, 4})
	wantX, wantW, wantB := ref.Conv2dVJP(x, w, rp, dy)
	up := func(r *ref.Tensor) *tensor.Tensor { return e.FromFloat32(r.Float32(), r.Shape...) }
	check := func(v *Var, want *ref.Tensor) {
		t.Helper()
		require.NotNil(t, v.Grad)
		got, err := v.Grad.Float32()
		require.NoError(t, err)
		require.NoError(t, ref.Close(got, want, 1e-5))
	}

	t.Run("const-x", func(t *testing.T) {
		xv, wv, bv := tp.Const(up(x)), tp.Param(up(w), "w"), tp.Param(up(b), "b")
		defer wv.Release()
		defer bv.Release()
		require.NoError(t, BackwardWith(Conv2d(xv, wv, bv, p), up(dy)))
		require.Nil(t, xv.Grad)
		check(wv, wantW)
		check(bv, wantB)
	})
	t.Run("frozen-w", func(t *testing.T) {
		xv, wv := tp.Param(up(x), "x"), tp.Param(up(w), "w")
		defer xv.Release()
		defer wv.Release()
		wv.SetRequiresGrad(false)
		require.NoError(t, BackwardWith(Conv2d(xv, wv, nil, p), up(dy)))
		require.Nil(t, wv.Grad)
		check(xv, wantX)
	})
}
