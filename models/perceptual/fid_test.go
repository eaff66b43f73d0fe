package perceptual

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/models/metrics"
)

// TestFIDWithDefaults: the defaults of NewFeatureNet and NewLoss (no
// files) are the embedded classifier's, and FID through it ranks as it
// should on Fashion-MNIST: two disjoint sets of real images are far closer
// to each other than to the same images under heavy noise.
func TestFIDWithDefaults(t *testing.T) {
	tp := testTape(t)
	net, err := NewFeatureNet(tp, "")
	require.NoError(t, err)
	defer net.Release()
	assert.Equal(t, "fashion-mnist-convnet (penultimate, 128-d)", net.Name())
	loss, err := NewLoss(tp, "", "")
	require.NoError(t, err)
	defer loss.Release()
	assert.Equal(t, "fashion-mnist-convnet feature loss", loss.Name())

	const n = 96
	imgs := fashion(t, 2*n)
	rng := rand.New(rand.NewPCG(21, 22))
	noisy := make([]float32, n*28*28)
	for i := range noisy {
		noisy[i] = imgs[n*28*28+i] + float32(0.6*rng.NormFloat64())
	}
	features := func(x []float32) []float32 {
		var out []float32
		tp.NoGrad(func() {
			s := tp.Engine().Scope()
			defer s.Close()
			f, err := net.Features(constant(tp, x, n, 1, 28, 28))
			require.NoError(t, err)
			out = read(t, f)
		})
		return out
	}
	fid := func(a, b []float32) float64 {
		f := metrics.NewFID(net.Dim())
		// Two batches each, as an evaluation loop would add them.
		require.NoError(t, f.AddReal(a[:len(a)/2]))
		require.NoError(t, f.AddReal(a[len(a)/2:]))
		require.NoError(t, f.AddFake(b))
		d, err := f.Distance()
		require.NoError(t, err)
		return d
	}
	real1, real2 := features(imgs[:n*28*28]), features(imgs[n*28*28:])
	same, noise := fid(real1, real2), fid(real1, features(noisy))
	t.Logf("FID real vs real %.4g, real vs noisy %.4g", same, noise)
	assert.Greater(t, noise, 2*same)
	// A set against itself: 0 up to rounding, which the singular
	// covariance (96 vectors, 128 dimensions) raises to ~1e-9 of its trace.
	assert.InDelta(t, 0, fid(real1, real1), 1e-6*same)
}

// TestNewLossNeedsBothFiles: LPIPS with one file missing is an error;
// with both it is LPIPS.
func TestNewLossNeedsBothFiles(t *testing.T) {
	tp := testTape(t)
	_, err := NewLoss(tp, vggFixture, "")
	require.ErrorContains(t, err, "needs both the VGG16 weights and the linear heads")
	l, err := NewLoss(tp, vggFixture, linFixture)
	require.NoError(t, err)
	defer l.Release()
	assert.IsType(t, &LPIPS{}, l)
	f, err := NewFeatureNet(tp, inceptionFixture)
	require.NoError(t, err)
	defer f.Release()
	assert.IsType(t, &Inception{}, f)
}
