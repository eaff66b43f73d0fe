// Package metrics measures reconstruction quality the way CODA reports it:
// images in [-1, 1] are first quantised to 8-bit RGB, then PSNR and SSIM
// are computed on the uint8 values (peak 255), per image, and averaged.
// Everything runs on the host in float64; the images are small.
package metrics

import (
	"fmt"
	"math"
)

// MaxPSNR is what PSNR reports for identical images (infinite PSNR), so
// that averages stay finite.
const MaxPSNR = 100

// ToUint8 quantises a value in [-1, 1] as CODA saves images:
// round((x+1)·127.5), clamped to [0, 255].
func ToUint8(x float32) uint8 {
	v := math.Round((float64(x) + 1) * 127.5)
	switch {
	case v < 0 || math.IsNaN(v):
		return 0
	case v > 255:
		return 255
	}
	return uint8(v)
}

// checkShape validates that a and b hold n images of c×h×w values.
func checkShape(name string, a, b []float32, n, c, h, w int) error {
	if n <= 0 || c <= 0 || h <= 0 || w <= 0 {
		return fmt.Errorf("metrics: %s: shape %d×%d×%d×%d must be positive", name, n, c, h, w)
	}
	if len(a) != n*c*h*w || len(b) != n*c*h*w {
		return fmt.Errorf("metrics: %s: got %d and %d values, want %d×%d×%d×%d = %d", name, len(a), len(b), n, c, h, w, n*c*h*w)
	}
	return nil
}

// PSNR is the mean over the n images (NCHW, values in [-1, 1]) of
// 10·log10(255² / MSE), MSE over each image's uint8 values; an image
// reconstructed exactly counts as MaxPSNR.
func PSNR(a, b []float32, n, c, h, w int) (float64, error) {
	if err := checkShape("PSNR", a, b, n, c, h, w); err != nil {
		return 0, err
	}
	size := c * h * w
	var sum float64
	for i := range n {
		var se float64
		for j := i * size; j < (i+1)*size; j++ {
			d := float64(ToUint8(a[j])) - float64(ToUint8(b[j]))
			se += d * d
		}
		sum += psnr(se / float64(size))
	}
	return sum / float64(n), nil
}

func psnr(mse float64) float64 {
	if mse == 0 {
		return MaxPSNR
	}
	return math.Min(MaxPSNR, 10*math.Log10(255*255/mse))
}

// SSIM window and constants (Wang et al. 2004, as skimage's
// structural_similarity with gaussian_weights=True and torchmetrics use).
const (
	ssimWin   = 11
	ssimSigma = 1.5
	ssimK1    = 0.01
	ssimK2    = 0.03
)

// gaussWindow is the normalised 1-D Gaussian of ssimWin taps; the 2-D
// window is its outer product, so filtering runs separably.
func gaussWindow() []float64 {
	g := make([]float64, ssimWin)
	var s float64
	for i := range g {
		d := float64(i - ssimWin/2)
		g[i] = math.Exp(-d * d / (2 * ssimSigma * ssimSigma))
		s += g[i]
	}
	for i := range g {
		g[i] /= s
	}
	return g
}

// SSIM is the mean structural similarity of n image pairs (NCHW, values
// in [-1, 1], quantised to uint8 first): per channel with an 11×11
// Gaussian window (σ 1.5), K1 0.01, K2 0.03 and data range 255, over the
// valid window positions (no padding), averaged over channels and then
// images. Images must be at least 11×11.
func SSIM(a, b []float32, n, c, h, w int) (float64, error) {
	if err := checkShape("SSIM", a, b, n, c, h, w); err != nil {
		return 0, err
	}
	if h < ssimWin || w < ssimWin {
		return 0, fmt.Errorf("metrics: SSIM needs images of at least %d×%d, got %d×%d", ssimWin, ssimWin, h, w)
	}
	g := gaussWindow()
	hw := h * w
	x, y := make([]float64, hw), make([]float64, hw)
	prods := [3][]float64{make([]float64, hw), make([]float64, hw), make([]float64, hw)}
	var total float64
	for i := range n * c {
		for j := range hw {
			x[j] = float64(ToUint8(a[i*hw+j]))
			y[j] = float64(ToUint8(b[i*hw+j]))
			prods[0][j] = x[j] * x[j]
			prods[1][j] = y[j] * y[j]
			prods[2][j] = x[j] * y[j]
		}
		total += ssimPlane(g, x, y, prods, h, w)
	}
	// Every image has c channels, so the mean over planes is the mean over
	// channels and then images.
	return total / float64(n*c), nil
}

// ssimPlane is the mean SSIM map of one channel.
func ssimPlane(g, x, y []float64, prods [3][]float64, h, w int) float64 {
	const (
		c1 = (ssimK1 * 255) * (ssimK1 * 255)
		c2 = (ssimK2 * 255) * (ssimK2 * 255)
	)
	mx, my := filter(g, x, h, w), filter(g, y, h, w)
	sxx, syy, sxy := filter(g, prods[0], h, w), filter(g, prods[1], h, w), filter(g, prods[2], h, w)
	var sum float64
	for k := range mx {
		vx := sxx[k] - mx[k]*mx[k]
		vy := syy[k] - my[k]*my[k]
		cov := sxy[k] - mx[k]*my[k]
		sum += (2*mx[k]*my[k] + c1) * (2*cov + c2) / ((mx[k]*mx[k] + my[k]*my[k] + c1) * (vx + vy + c2))
	}
	return sum / float64(len(mx))
}

// filter is the valid-mode separable 2-D filtering of an h×w plane by g⊗g:
// (h-10)×(w-10) outputs.
func filter(g, p []float64, h, w int) []float64 {
	k := len(g)
	ow, oh := w-k+1, h-k+1
	rows := make([]float64, h*ow)
	for r := range h {
		for c := range ow {
			var s float64
			for t, gv := range g {
				s += gv * p[r*w+c+t]
			}
			rows[r*ow+c] = s
		}
	}
	out := make([]float64, oh*ow)
	for r := range oh {
		for c := range ow {
			var s float64
			for t, gv := range g {
				s += gv * rows[(r+t)*ow+c]
			}
			out[r*ow+c] = s
		}
	}
	return out
}
