package metrics

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// level returns the value in [-1, 1] that quantises to u.
func level(u int) float32 { return float32(float64(u)/127.5 - 1) }

func fill(n int, v float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func noise(rng *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(rng.Float64()*2 - 1)
	}
	return out
}

func TestToUint8(t *testing.T) {
	for _, tc := range []struct {
		x    float32
		want uint8
	}{{-1, 0}, {1, 255}, {0, 128}, {-2, 0}, {3, 255}, {float32(math.NaN()), 0}, {level(10), 10}, {level(200), 200}} {
		assert.Equal(t, tc.want, ToUint8(tc.x), "x=%g", tc.x)
	}
}

func TestPSNR(t *testing.T) {
	const n, c, h, w = 3, 3, 13, 17
	rng := rand.New(rand.NewPCG(1, 2))
	a := noise(rng, n*c*h*w)
	p, err := PSNR(a, a, n, c, h, w)
	require.NoError(t, err)
	assert.Equal(t, float64(MaxPSNR), p, "identical images")

	// A constant offset of 10 levels: MSE 100, PSNR 10·log10(255²/100).
	p, err = PSNR(fill(n*c*h*w, level(0)), fill(n*c*h*w, level(10)), n, c, h, w)
	require.NoError(t, err)
	assert.InDelta(t, 28.130803608679102, p, 1e-9)

	// The mean is over per-image PSNRs: one exact image (100 dB) and one
	// off by 10 levels.
	x := fill(2*c*h*w, level(50))
	y := append(fill(c*h*w, level(50)), fill(c*h*w, level(60))...)
	p, err = PSNR(x, y, 2, c, h, w)
	require.NoError(t, err)
	assert.InDelta(t, (100+28.130803608679102)/2, p, 1e-9)

	_, err = PSNR(a, a[:10], n, c, h, w)
	assert.Error(t, err)
	_, err = PSNR(nil, nil, 0, c, h, w)
	assert.Error(t, err)
}

func TestSSIM(t *testing.T) {
	const n, c, h, w = 2, 3, 19, 23
	rng := rand.New(rand.NewPCG(3, 4))
	a := noise(rng, n*c*h*w)
	s, err := SSIM(a, a, n, c, h, w)
	require.NoError(t, err)
	assert.InDelta(t, 1, s, 1e-12, "identical images")

	// Constant images have no variance: SSIM is the luminance term
	// (2pq + C1)/(p² + q² + C1) everywhere.
	s, err = SSIM(fill(n*c*h*w, level(100)), fill(n*c*h*w, level(140)), n, c, h, w)
	require.NoError(t, err)
	c1 := (0.01 * 255) * (0.01 * 255)
	assert.InDelta(t, (2*100*140+c1)/(100*100+140*140+c1), s, 1e-12)

	// Noisy copies: symmetric, below 1, and worse with more noise.
	b, b2 := make([]float32, len(a)), make([]float32, len(a))
	for i := range a {
		d := float32(rng.NormFloat64())
		b[i] = a[i] + 0.1*d
		b2[i] = a[i] + 0.4*d
	}
	sab, err := SSIM(a, b, n, c, h, w)
	require.NoError(t, err)
	sba, err := SSIM(b, a, n, c, h, w)
	require.NoError(t, err)
	assert.InDelta(t, sab, sba, 1e-12, "symmetric")
	assert.Less(t, sab, 1.0)
	assert.Greater(t, sab, 0.0)
	s2, err := SSIM(a, b2, n, c, h, w)
	require.NoError(t, err)
	assert.Less(t, s2, sab)

	// Independent noise is nearly uncorrelated.
	s, err = SSIM(a, noise(rng, len(a)), n, c, h, w)
	require.NoError(t, err)
	assert.Less(t, math.Abs(s), 0.1)

	_, err = SSIM(fill(10*10, 0), fill(10*10, 0), 1, 1, 10, 10)
	assert.Error(t, err, "smaller than the window")
}

func TestGaussWindow(t *testing.T) {
	g := gaussWindow()
	require.Len(t, g, 11)
	var s float64
	for i, v := range g {
		s += v
		assert.InDelta(t, v, g[10-i], 1e-15)
	}
	assert.InDelta(t, 1, s, 1e-12)
	// exp(-25/4.5) relative to the centre.
	assert.InDelta(t, math.Exp(-25/4.5), g[0]/g[5], 1e-12)
}
