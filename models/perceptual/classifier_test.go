package perceptual

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/data"
	"github.com/tessera-ml/tessera/tensor"
)

// fashion returns the first n bundled Fashion-MNIST images [n, 1, 28, 28]
// in [-1, 1].
func fashion(t *testing.T, n int) []float32 {
	t.Helper()
	ds, err := data.FashionMNIST()
	require.NoError(t, err)
	out := make([]float32, 0, n*28*28)
	for i := range n {
		img, _, err := ds.Get(i)
		require.NoError(t, err)
		out = append(out, img...)
	}
	return out
}

// grow2 repeats every pixel of [n, 1, h, w] images 2×2.
func grow2(img []float32, n, h, w int) []float32 {
	out := make([]float32, 0, 4*len(img))
	for p := range n {
		for y := range 2 * h {
			for x := range 2 * w {
				out = append(out, img[(p*h+y/2)*w+x/2])
			}
		}
	}
	return out
}

// rgb replicates [n, 1, h, w] images into three channels.
func rgb(img []float32, n, hw int) []float32 {
	out := make([]float32, 0, 3*len(img))
	for p := range n {
		for range 3 {
			out = append(out, img[p*hw:(p+1)*hw]...)
		}
	}
	return out
}

// TestClassifierFeatures: on 28×28 grey images the features are the
// ConvNet's own; RGB images of the same grey (luma of equal channels) and
// images twice the size (averaged back down exactly) give the same
// features to float32 rounding (1e-5 of the largest).
func TestClassifierFeatures(t *testing.T) {
	tp := testTape(t)
	c, err := PretrainedClassifier(tp)
	require.NoError(t, err)
	defer c.Release()
	assert.Equal(t, 128, c.Dim())
	assert.Equal(t, "fashion-mnist-convnet (penultimate, 128-d)", c.Name())
	const n = 5
	imgs := fashion(t, n)
	tp.NoGrad(func() {
		want := read(t, c.Net.Features(constant(tp, imgs, n, 1, 28, 28)))
		want64 := make([]float64, len(want))
		for i, v := range want {
			want64[i] = float64(v)
		}
		for _, tc := range []struct {
			name  string
			x     []float32
			shape []int
			tol   float64
		}{
			{"grey 28", imgs, []int{n, 1, 28, 28}, 0},
			{"rgb 28", rgb(imgs, n, 28*28), []int{n, 3, 28, 28}, 1e-5},
			{"grey 56", grow2(imgs, n, 28, 28), []int{n, 1, 56, 56}, 1e-5},
		} {
			f, err := c.Features(constant(tp, tc.x, tc.shape...))
			require.NoError(t, err, tc.name)
			require.Equal(t, []int{n, 128}, f.Shape(), tc.name)
			require.NoError(t, closeTo(read(t, f), want64, tc.tol, 0), tc.name)
		}
	})
}

// TestFeatureLoss: zero between equal batches, symmetric, equal to the
// definition computed on the host from the blocks' outputs (1e-5
// relative), and its gradient is the directional derivative (central
// differences in float32, 1%).
func TestFeatureLoss(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	c, err := PretrainedClassifier(tp)
	require.NoError(t, err)
	defer c.Release()
	f := NewFeatureLoss(c)
	assert.Equal(t, "fashion-mnist-convnet feature loss", f.Name())
	const n = 3
	imgs := fashion(t, n)
	rng := rand.New(rand.NewPCG(15, 16))
	noisy := make([]float32, len(imgs))
	for i, v := range imgs {
		noisy[i] = float32(math.Max(-1, math.Min(1, float64(v)+0.3*rng.NormFloat64())))
	}
	x := constant(tp, imgs, n, 1, 28, 28)
	y := constant(tp, noisy, n, 1, 28, 28)

	value := func(a, b *autograd.Var) float64 {
		var v float32
		tp.NoGrad(func() {
			l, err := f.Loss(a, b)
			require.NoError(t, err)
			require.Empty(t, l.Shape(), "a scalar")
			v = read(t, l)[0]
		})
		return float64(v)
	}
	assert.Zero(t, value(x, x), "equal batches")
	got := value(x, y)
	assert.InDelta(t, got, value(y, x), 1e-6, "symmetric")

	// The definition: per block, normalise each position's channel vector,
	// Σ_c (a−b)², mean over positions and images; sum over blocks.
	var want float64
	tp.NoGrad(func() {
		hx, hy := x, y
		for _, blk := range c.Net.Blocks {
			hx, hy = blk.Forward(hx), blk.Forward(hy)
			a, b := read(t, hx), read(t, hy)
			s := hx.Shape()
			ch, hw := s[1], s[2]*s[3]
			var sum float64
			for i := range n {
				for p := range hw {
					var na, nb float64
					for k := range ch {
						na += float64(a[(i*ch+k)*hw+p]) * float64(a[(i*ch+k)*hw+p])
						nb += float64(b[(i*ch+k)*hw+p]) * float64(b[(i*ch+k)*hw+p])
					}
					na, nb = math.Sqrt(na)+normEps, math.Sqrt(nb)+normEps
					for k := range ch {
						d := float64(a[(i*ch+k)*hw+p])/na - float64(b[(i*ch+k)*hw+p])/nb
						sum += d * d
					}
				}
			}
			want += sum / float64(n*hw)
		}
	})
	t.Logf("feature loss %.6g", got)
	assert.Greater(t, got, 0.01)
	assert.InDelta(t, want, got, 1e-5*want, "host definition")

	xv := tp.Param(e.FromFloat32(imgs, n, 1, 28, 28), "x")
	defer xv.Release()
	loss, err := f.Loss(xv, y)
	require.NoError(t, err)
	require.NoError(t, autograd.Backward(loss))
	d := e.Normal(17, 0, 1, n, 1, 28, 28)
	dot, err := tensor.SumAll(tensor.Mul(xv.Grad, d)).Item()
	require.NoError(t, err)
	shifted := func(s float32) *autograd.Var { return tp.Const(tensor.Add(xv.Value, tensor.MulScalar(d, s))) }
	// ε = 3e-3: the error falls as ε² down to ~2e-3 (0.1% there), below
	// which float32 rounding of the loss takes over.
	const eps = 3e-3
	num := (value(shifted(eps), y) - value(shifted(-eps), y)) / (2 * eps)
	t.Logf("finite difference %.6g, gradient·d %.6g", num, dot)
	assert.InDelta(t, num, float64(dot), 0.01*math.Abs(float64(dot)))
	for _, p := range c.Params() {
		assert.Nil(t, p.Var.Grad, "%s is frozen", p.Name)
	}
}

// TestInputErrors: every network refuses a batch it cannot read, saying
// what it wanted.
func TestInputErrors(t *testing.T) {
	tp := testTape(t)
	c, err := PretrainedClassifier(tp)
	require.NoError(t, err)
	defer c.Release()
	lp, err := LoadLPIPS(tp, vggFixture, linFixture)
	require.NoError(t, err)
	defer lp.Release()
	inc, err := LoadInception(tp, inceptionFixture)
	require.NoError(t, err)
	defer inc.Release()
	fl := NewFeatureLoss(c)
	img := func(shape ...int) *autograd.Var { return tp.Const(tp.Engine().Zeros(shape...)) }
	for _, tc := range []struct {
		name string
		run  func() error
		want string
	}{
		{"classifier two channels", func() error { _, err := c.Features(img(1, 2, 28, 28)); return err },
			"ClassifierFeatures: want images [B, 1 or 3, H, W] with B, H, W > 0, got shape [1 2 28 28]"},
		{"inception rank 3", func() error { _, err := inc.Features(img(3, 28, 28)); return err },
			"Inception: want images [B, 1 or 3, H, W]"},
		{"inception nil", func() error { _, err := inc.Features(nil); return err }, "Inception: nil input"},
		{"lpips shapes differ", func() error { _, err := lp.Loss(img(1, 3, 32, 32), img(1, 1, 32, 32)); return err },
			"LPIPS: inputs differ in shape: [1 3 32 32] vs [1 1 32 32]"},
		{"lpips too small", func() error { _, err := lp.Loss(img(2, 3, 15, 32), img(2, 3, 15, 32)); return err },
			"images of 15×32 are too small"},
		{"feature loss shapes differ", func() error { _, err := fl.Loss(img(2, 1, 28, 28), img(1, 1, 28, 28)); return err },
			"FeatureLoss: inputs differ in shape"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.ErrorContains(t, tc.run(), tc.want)
		})
	}
}

// TestLossInterface: both perceptual losses are zero for equal batches and
// positive otherwise, through the Loss interface callers hold.
func TestLossInterface(t *testing.T) {
	tp := testTape(t)
	c, err := PretrainedClassifier(tp)
	require.NoError(t, err)
	defer c.Release()
	lp, err := LoadLPIPS(tp, vggFixture, linFixture)
	require.NoError(t, err)
	defer lp.Release()
	rng := rand.New(rand.NewPCG(19, 20))
	x := constant(tp, randImages(rng, 2, 3, 32, 32), 2, 3, 32, 32)
	y := constant(tp, randImages(rng, 2, 3, 32, 32), 2, 3, 32, 32)
	for _, l := range []Loss{lp, NewFeatureLoss(c)} {
		t.Run(l.Name(), func(t *testing.T) {
			same, err := l.Loss(x, x)
			require.NoError(t, err)
			assert.InDelta(t, 0, read(t, same)[0], 1e-7)
			diff, err := l.Loss(x, y)
			require.NoError(t, err)
			assert.Greater(t, read(t, diff)[0], float32(1e-3))
		})
	}
	var _ FeatureNet = c
}
