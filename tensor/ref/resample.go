package ref

import (
	"fmt"
	"math"
)

// checkNCHW panics unless x is 4-D and the output size is positive.
func checkNCHW(op string, x *Tensor, outH, outW int) (n, c, h, w int) {
	if len(x.Shape) != 4 {
		panic(fmt.Sprintf("ref: %s: want NCHW input, got shape %v", op, x.Shape))
	}
	if outH <= 0 || outW <= 0 {
		panic(fmt.Sprintf("ref: %s: invalid output size %dx%d", op, outH, outW))
	}
	return x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
}

// nearestIndex returns the source index that output position dst reads in
// PyTorch 'nearest' resampling from in to out samples. The ideal index is
// floor(dst*in/out), but PyTorch evaluates it in float32, as
// floorf(float(dst) * (float(in)/float(out))), clamped to in-1. For some
// sizes that is one less than the exact quotient (in=2, out=82, dst=41
// reads 0, not 1). PyTorch uses this rule for every float32 tensor (and
// for float64 ones only when N*C == 1), so the reference reproduces the
// float32 arithmetic: it is what the models and a float32 GPU kernel see.
func nearestIndex(dst, in, out int) int {
	scale := float32(in) / float32(out)
	prod := float32(dst) * scale
	return min(int(math.Floor(float64(prod))), in-1)
}

// UpsampleNearest resizes x [N, C, H, W] to [N, C, outH, outW] with
// F.interpolate(mode='nearest'): output (i, j) copies input
// (floor(i*H/outH), floor(j*W/outW)), with the index computed in float32
// exactly as PyTorch does (for a few sizes, such as 2 -> 82, this is one
// less than the exact integer quotient). Despite the name it also handles
// shrinking.
func UpsampleNearest(x *Tensor, outH, outW int) *Tensor {
	n, c, h, w := checkNCHW("UpsampleNearest", x, outH, outW)
	out := New(n, c, outH, outW)
	o := 0
	for p := range n * c {
		plane := x.Data[p*h*w : (p+1)*h*w]
		for i := range outH {
			row := plane[nearestIndex(i, h, outH)*w:]
			for j := range outW {
				out.Data[o] = row[nearestIndex(j, w, outW)]
				o++
			}
		}
	}
	return out
}

// bicubicA is the cubic convolution coefficient PyTorch uses.
const bicubicA = -0.75

// cubicWeights returns the four Keys cubic-convolution weights for the taps
// at floor(src)-1 .. floor(src)+2, given t = src - floor(src).
func cubicWeights(t float64) [4]float64 {
	const a = bicubicA
	near := func(x float64) float64 { return ((a+2)*x-(a+3))*x*x + 1 }  // |x| <= 1
	far := func(x float64) float64 { return ((a*x-5*a)*x+8*a)*x - 4*a } // 1 < |x| < 2
	return [4]float64{far(t + 1), near(t), near(1 - t), far(2 - t)}
}

// bicubicTaps returns, for every output position along one axis, the four
// clamped source indices and their weights, following PyTorch with
// align_corners=False: src = (dst+0.5)*in/out - 0.5.
func bicubicTaps(in, out int) ([][4]int, [][4]float64) {
	idx := make([][4]int, out)
	wts := make([][4]float64, out)
	scale := float64(in) / float64(out)
	for d := range out {
		src := (float64(d)+0.5)*scale - 0.5
		f := math.Floor(src)
		wts[d] = cubicWeights(src - f)
		for k := range 4 {
			idx[d][k] = min(max(int(f)-1+k, 0), in-1)
		}
	}
	return idx, wts
}

// UpsampleBicubic resizes x [N, C, H, W] to [N, C, outH, outW] with
// F.interpolate(mode='bicubic', align_corners=False): Keys cubic
// convolution with a = -0.75, source coordinate (dst+0.5)*in/out - 0.5,
// and the 4x4 taps clamped to the border. No antialiasing is applied when
// shrinking, matching PyTorch's default.
func UpsampleBicubic(x *Tensor, outH, outW int) *Tensor {
	n, c, h, w := checkNCHW("UpsampleBicubic", x, outH, outW)
	yi, yw := bicubicTaps(h, outH)
	xi, xw := bicubicTaps(w, outW)
	out := New(n, c, outH, outW)
	o := 0
	for p := range n * c {
		plane := x.Data[p*h*w : (p+1)*h*w]
		for i := range outH {
			for j := range outW {
				var s float64
				for ky := range 4 {
					row := plane[yi[i][ky]*w:]
					var r float64
					for kx := range 4 {
						r += row[xi[j][kx]] * xw[j][kx]
					}
					s += r * yw[i][ky]
				}
				out.Data[o] = s
				o++
			}
		}
	}
	return out
}

// AreaDownsample resizes x [N, C, H, W] to [N, C, outH, outW] like
// F.adaptive_avg_pool2d: output (i, j) is the mean of input rows
// [floor(i*H/outH), ceil((i+1)*H/outH)) and the matching columns. Windows
// may overlap when the sizes do not divide.
func AreaDownsample(x *Tensor, outH, outW int) *Tensor {
	n, c, h, w := checkNCHW("AreaDownsample", x, outH, outW)
	out := New(n, c, outH, outW)
	o := 0
	for p := range n * c {
		plane := x.Data[p*h*w : (p+1)*h*w]
		for i := range outH {
			y0, y1 := i*h/outH, ((i+1)*h+outH-1)/outH
			for j := range outW {
				x0, x1 := j*w/outW, ((j+1)*w+outW-1)/outW
				var s float64
				for y := y0; y < y1; y++ {
					for xx := x0; xx < x1; xx++ {
						s += plane[y*w+xx]
					}
				}
				out.Data[o] = s / float64((y1-y0)*(x1-x0))
				o++
			}
		}
	}
	return out
}
