package tensor

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
)

// Float64 twins of the optimiser kernels, written from torch's formulas
// (torch/optim/adamw.py, sgd.py with foreach=False), kept here rather than
// in tensor/ref because they update state in place.

// adamwTwin is one torch AdamW step on float64 slices.
func adamwTwin(p, g, m, v []float64, lr, b1, b2, eps, wd, gradScale float64, step int) {
	bc1 := 1 - math.Pow(b1, float64(step))
	bc2 := 1 - math.Pow(b2, float64(step))
	for i := range p {
		gi := g[i] * gradScale
		p[i] *= 1 - lr*wd
		m[i] += (1 - b1) * (gi - m[i]) // exp_avg.lerp_(grad, 1-beta1)
		v[i] = b2*v[i] + (1-b2)*gi*gi
		denom := math.Sqrt(v[i])/math.Sqrt(bc2) + eps
		p[i] -= lr / bc1 * m[i] / denom
	}
}

// sgdTwin is one torch SGD step (dampening 0); buf is nil without momentum
// and first says whether the buffer is still unset (torch clones d then).
func sgdTwin(p, g, buf []float64, lr, momentum, wd, gradScale float64, nesterov, first bool) {
	for i := range p {
		d := g[i] * gradScale
		if wd != 0 {
			d += wd * p[i]
		}
		if momentum != 0 {
			if first {
				buf[i] = d
			} else {
				buf[i] = momentum*buf[i] + d
			}
			if nesterov {
				d += momentum * buf[i]
			} else {
				d = buf[i]
			}
		}
		p[i] -= lr * d
	}
}

// randSlice returns n uniform values in [lo, hi), rounded to float32 so the
// twin sees what the GPU sees.
func randSlice(rng *rand.Rand, n int, lo, hi float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = float64(float32(lo + (hi-lo)*rng.Float64()))
	}
	return s
}

func to32(s []float64) []float32 {
	out := make([]float32, len(s))
	for i, v := range s {
		out[i] = float32(v)
	}
	return out
}

// requireRel checks got against want with max|got-want| ≤ tol·max|want|:
// an error relative to the tensor's own scale (moments can be tiny, so
// ref.Close's floor of 1 would hide everything).
func requireRel(t *testing.T, got *Tensor, want []float64, tol float64, msgAndArgs ...any) {
	t.Helper()
	g, err := got.Float32()
	require.NoError(t, err, msgAndArgs...)
	require.Len(t, g, len(want), msgAndArgs...)
	scale, worst := 0.0, 0.0
	for i := range want {
		scale = math.Max(scale, math.Abs(want[i]))
		worst = math.Max(worst, math.Abs(float64(g[i])-want[i]))
	}
	require.False(t, math.IsNaN(worst), msgAndArgs...)
	require.LessOrEqual(t, worst, tol*scale, msgAndArgs...)
}

var optimSizes = []int{1, 7, 1000, 4099, 0}

func TestAdamWStepTwin(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(11))
	cases := []struct {
		name                       string
		lr, b1, b2, eps, wd, scale float64
	}{
		{"default", 1e-3, 0.9, 0.999, 1e-8, 0.01, 1},
		{"coda", 5e-4, 0.5, 0.9, 1e-8, 0.005, 1},
		{"no-decay-scaled", 1e-2, 0.9, 0.99, 1e-6, 0, 0.25},
	}
	for _, tc := range cases {
		for _, n := range optimSizes {
			t.Run(fmt.Sprintf("%s/%d", tc.name, n), func(t *testing.T) {
				s := e.Scope()
				defer s.Close()
				p := randSlice(rng, n, -1, 1)
				m, v := make([]float64, n), make([]float64, n)
				gp, gm, gv := e.FromFloat32(to32(p), n), e.Zeros(n), e.Zeros(n)
				for step := 1; step <= 5; step++ {
					g := randSlice(rng, n, -2, 2)
					gg := e.FromFloat32(to32(g), n)
					h := AdamWParams{LR: tc.lr, Beta1: tc.b1, Beta2: tc.b2, Eps: tc.eps, WeightDecay: tc.wd,
						GradScale: tc.scale, BiasCorr1: 1 - math.Pow(tc.b1, float64(step)),
						BiasCorr2: 1 - math.Pow(tc.b2, float64(step))}
					require.NoError(t, AdamWStep(gp, gg, gm, gv, h))
					gg.Release()
					adamwTwin(p, g, m, v, tc.lr, tc.b1, tc.b2, tc.eps, tc.wd, tc.scale, step)
				}
				// Tolerance 1e-6 of each tensor's scale (float32 rounding of a few
				// operations per step, over 5 steps).
				requireRel(t, gp, p, 1e-6, "param")
				requireRel(t, gm, m, 1e-6, "exp_avg")
				requireRel(t, gv, v, 1e-6, "exp_avg_sq")
			})
		}
	}
}

func TestAdamWStepFirstStepByHand(t *testing.T) {
	e := testEngine(t)
	// Step 1: m/bc1 = g and sqrt(v/bc2) = |g|, so p = p(1 - lr·wd) - lr·g/(|g| + eps).
	p := e.FromFloat32([]float32{1, -2, 0.5}, 3)
	g := e.FromFloat32([]float32{0.1, -0.3, 0}, 3)
	m, v := e.Zeros(3), e.Zeros(3)
	require.NoError(t, AdamWStep(p, g, m, v, AdamWParams{LR: 0.1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8,
		WeightDecay: 0.5, BiasCorr1: 0.1, BiasCorr2: 0.001, GradScale: 1}))
	requireRel(t, p, []float64{0.85, -1.8, 0.475}, 1e-6)
	requireRel(t, m, []float64{0.01, -0.03, 0}, 1e-6)
	requireRel(t, v, []float64{1e-5, 9e-5, 0}, 1e-6)
}

func TestSGDStepTwin(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(12))
	cases := []struct {
		name                    string
		lr, momentum, wd, scale float64
		nesterov                bool
	}{
		{"plain", 0.1, 0, 0, 1, false},
		{"decay-scaled", 0.05, 0, 0.01, 0.5, false},
		{"momentum", 0.1, 0.9, 1e-4, 1, false},
		{"nesterov", 0.02, 0.9, 0.01, 0.25, true},
	}
	for _, tc := range cases {
		for _, n := range optimSizes {
			t.Run(fmt.Sprintf("%s/%d", tc.name, n), func(t *testing.T) {
				s := e.Scope()
				defer s.Close()
				p := randSlice(rng, n, -1, 1)
				var buf []float64
				var gbuf *Tensor
				if tc.momentum != 0 {
					buf = make([]float64, n)
					gbuf = e.Zeros(n)
				}
				gp := e.FromFloat32(to32(p), n)
				for step := 1; step <= 5; step++ {
					g := randSlice(rng, n, -2, 2)
					gg := e.FromFloat32(to32(g), n)
					require.NoError(t, SGDStep(gp, gg, gbuf, float32(tc.lr), float32(tc.momentum), float32(tc.wd), float32(tc.scale), tc.nesterov))
					gg.Release()
					sgdTwin(p, g, buf, tc.lr, tc.momentum, tc.wd, tc.scale, tc.nesterov, step == 1)
				}
				requireRel(t, gp, p, 1e-6, "param")
				if gbuf != nil {
					requireRel(t, gbuf, buf, 1e-6, "momentum buffer")
				}
			})
		}
	}
}

func TestSGDStepByHand(t *testing.T) {
	e := testEngine(t)
	p := e.FromFloat32([]float32{1, -2, 0.5}, 3)
	g := e.FromFloat32([]float32{0.1, -0.3, 0}, 3)
	buf := e.Zeros(3)
	// d = g + 0.01p = [0.11, -0.32, 0.005]; buf = d; p -= 0.1d.
	require.NoError(t, SGDStep(p, g, buf, 0.1, 0.9, 0.01, 1, false))
	requireRel(t, p, []float64{0.989, -1.968, 0.4995}, 1e-6)
	requireRel(t, buf, []float64{0.11, -0.32, 0.005}, 1e-6)
	// d = g + 0.01p = [0.10989, -0.31968, 0.004995]; buf = 0.9buf + d.
	require.NoError(t, SGDStep(p, g, buf, 0.1, 0.9, 0.01, 1, false))
	requireRel(t, buf, []float64{0.20889, -0.60768, 0.009495}, 1e-6)
	requireRel(t, p, []float64{0.968111, -1.907232, 0.4985505}, 1e-6)

	// Nesterov, first step: d + 0.9·buf = 1.9d.
	q := e.FromFloat32([]float32{1, -2, 0.5}, 3)
	nbuf := e.Zeros(3)
	require.NoError(t, SGDStep(q, g, nbuf, 0.1, 0.9, 0.01, 1, true))
	requireRel(t, q, []float64{0.9791, -1.9392, 0.49905}, 1e-6)

	// No momentum, no buffer: p -= lr·g·scale.
	r := e.FromFloat32([]float32{1, -2, 0.5}, 3)
	require.NoError(t, SGDStep(r, g, nil, 0.5, 0, 0, 2, false))
	requireRel(t, r, []float64{0.9, -1.7, 0.5}, 1e-6)
}

func TestOptimStepErrors(t *testing.T) {
	e := testEngine(t)
	p, g, m, v := e.Zeros(5), e.Zeros(5), e.Zeros(5), e.Zeros(5)
	h := AdamWParams{LR: 1, Beta1: 0.9, Beta2: 0.999, BiasCorr1: 0.1, BiasCorr2: 0.001, GradScale: 1}
	tests := []struct {
		name string
		err  error
	}{
		{"adamw-shape", AdamWStep(p, e.Zeros(4), m, v, h)},
		{"adamw-int", AdamWStep(p, g, m, e.FullInt(0, 5), h)},
		{"adamw-alias", AdamWStep(p, g, m, m, h)},
		{"adamw-alias-view", AdamWStep(p, g, m, m.Reshape(5), h)},
		{"sgd-no-buffer", SGDStep(p, g, nil, 1, 0.9, 0, 1, false)},
		{"sgd-buffer-shape", SGDStep(p, g, e.Zeros(1, 5), 1, 0.9, 0, 1, false)},
		{"sgd-alias", SGDStep(p, p, nil, 1, 0, 0, 1, false)},
		{"clip-not-scalar", ClipWithNorm([]*Tensor{p}, g, 1)},
	}
	for _, tc := range tests {
		require.True(t, errors.Is(tc.err, ErrShape), "%s: %v", tc.name, tc.err)
	}
	// Zero-size parameters are a no-op.
	require.NoError(t, AdamWStep(e.Zeros(0), e.Zeros(0), e.Zeros(0), e.Zeros(0), h))
	require.NoError(t, SGDStep(e.Zeros(3, 0), e.Zeros(3, 0), e.Zeros(3, 0), 1, 0.9, 0, 1, true))
	// A failed input propagates its own error.
	bad := e.Zeros(-1)
	require.Error(t, AdamWStep(bad, g, m, v, h))
	require.Error(t, e.Err()) // clear the engine's record of bad
}

// sumSq64 is Σx² in float64.
func sumSq64(xs ...[]float64) float64 {
	s := 0.0
	for _, x := range xs {
		for _, v := range x {
			s += v * v
		}
	}
	return s
}

func TestSumSquares(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(13))
	for _, n := range []int{1, 7, 1000, 1025, 4099, 300001, 0} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			x := randSlice(rng, n, -3, 3)
			y := SumSquares(e.FromFloat32(to32(x), n))
			require.Equal(t, []int{1}, y.Shape())
			want := sumSq64(x)
			got, err := y.Item()
			require.NoError(t, err)
			// Float32 lanes fold at most a few hundred terms, then a tree.
			require.InDelta(t, want, float64(got), 1e-6*math.Max(want, 1e-30))
		})
	}
}

func TestSumSquaresAll(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(14))
	sizes := []int{7, 0, 1, 4099, 300001, 33, 2048}
	run := func(t *testing.T) {
		var host [][]float64
		var dev []*Tensor
		for _, n := range sizes {
			x := randSlice(rng, n, -1, 1)
			host = append(host, x)
			dev = append(dev, e.FromFloat32(to32(x), n))
		}
		got, err := SumSquaresAll(dev...).Item()
		require.NoError(t, err)
		want := sumSq64(host...)
		require.InDelta(t, want, float64(got), 1e-6*want)
	}
	t.Run("one-final-pass", run)
	t.Run("extra-passes", func(t *testing.T) {
		// Force partials through intermediate passes of plain sums.
		defer func(v int) { sumsqFinalPerLane = v }(sumsqFinalPerLane)
		sumsqFinalPerLane = 1
		run(t)
	})
	t.Run("all-empty", func(t *testing.T) {
		got, err := SumSquaresAll(e.Zeros(0), e.Zeros(2, 0)).Item()
		require.NoError(t, err)
		require.Equal(t, float32(0), got)
	})
}

func TestClipWithNorm(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(15))
	sizes := []int{7, 4099, 0, 1}
	for _, maxNorm := range []float64{0.5, 1e6} {
		t.Run(fmt.Sprint(maxNorm), func(t *testing.T) {
			s := e.Scope()
			defer s.Close()
			var host [][]float64
			var dev []*Tensor
			for _, n := range sizes {
				x := randSlice(rng, n, -1, 1)
				host = append(host, x)
				dev = append(dev, e.FromFloat32(to32(x), n))
			}
			sq := SumSquaresAll(dev...)
			require.NoError(t, ClipWithNorm(dev, sq, float32(maxNorm)))
			norm := math.Sqrt(sumSq64(host...))
			coef := 1.0
			if norm > maxNorm {
				coef = maxNorm / (norm + ClipEps)
			}
			for i, x := range host {
				got, err := dev[i].Float32()
				require.NoError(t, err)
				for j := range x {
					if coef == 1 {
						// Below the threshold the values are not touched at all.
						require.Equal(t, float32(x[j]), got[j])
					} else {
						require.InDelta(t, x[j]*coef, float64(got[j]), 1e-6)
					}
				}
			}
		})
	}
}
