package perceptual

import (
	"fmt"
	"slices"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// The pooling and resizing that the networks need, built from existing
// differentiable ops: linear resamplings (bilinear, area, average pooling)
// are a matrix product along each spatial axis, max pooling is one gather
// of every window's elements followed by a max over them.

// checkImages validates an image batch [B, C, H, W] with C = 1 or 3.
func checkImages(who string, x *autograd.Var) error {
	if x == nil {
		return fmt.Errorf("perceptual: %s: nil input", who)
	}
	if err := x.Value.Err(); err != nil {
		return fmt.Errorf("perceptual: %s: input: %w", who, err)
	}
	s := x.Shape()
	if len(s) != 4 || s[0] <= 0 || s[2] <= 0 || s[3] <= 0 || (s[1] != 1 && s[1] != 3) {
		return fmt.Errorf("perceptual: %s: want images [B, 1 or 3, H, W] with B, H, W > 0, got shape %v", who, s)
	}
	return nil
}

// checkPair validates two image batches of the same shape.
func checkPair(who string, x, y *autograd.Var) error {
	if err := checkImages(who, x); err != nil {
		return err
	}
	if err := checkImages(who, y); err != nil {
		return err
	}
	if xs, ys := x.Shape(), y.Shape(); !slices.Equal(xs, ys) {
		return fmt.Errorf("perceptual: %s: inputs differ in shape: %v vs %v", who, xs, ys)
	}
	return nil
}

// toRGB replicates a grey batch into three channels (RGB input passes).
func toRGB(x *autograd.Var) *autograd.Var {
	if x.Shape()[1] == 3 {
		return x
	}
	return autograd.Concat(1, x, x, x)
}

// Luma weights of ITU-R BT.601, as the data package reduces colour images
// to grey (and PIL's "L" mode does).
var luma = []float32{0.299, 0.587, 0.114}

// toGrey reduces an RGB batch to one channel of BT.601 luma (grey input
// passes). The weights sum to 1, so [-1, 1] stays [-1, 1].
func toGrey(x *autograd.Var) *autograd.Var {
	if x.Shape()[1] == 1 {
		return x
	}
	tp := x.Tape()
	w := tp.Const(tp.Engine().FromFloat32(luma, 1, 3, 1, 1))
	return autograd.Conv2d(x, w, nil, tensor.ConvParams{})
}

// bilinearMatrix is F.interpolate(mode='bilinear', align_corners=False)
// along one axis as an [out, in] matrix: output i samples the input at
// (i+0.5)·in/out − 0.5, clamped below at 0, between its two neighbours
// (the upper one clamped to the last).
func bilinearMatrix(in, out int) []float32 {
	m := make([]float32, out*in)
	scale := float64(in) / float64(out)
	for i := range out {
		src := max((float64(i)+0.5)*scale-0.5, 0)
		i0 := int(src)
		i1 := i0
		if i0 < in-1 {
			i1 = i0 + 1
		}
		l1 := src - float64(i0)
		m[i*in+i0] += float32(1 - l1)
		m[i*in+i1] += float32(l1)
	}
	return m
}

// areaMatrix is F.adaptive_avg_pool2d along one axis as an [out, in]
// matrix: output i averages inputs floor(i·in/out) to ceil((i+1)·in/out).
func areaMatrix(in, out int) []float32 {
	m := make([]float32, out*in)
	for i := range out {
		lo := i * in / out
		hi := ((i+1)*in + out - 1) / out
		for j := lo; j < hi; j++ {
			m[i*in+j] = 1 / float32(hi-lo)
		}
	}
	return m
}

// avgPoolMatrix is F.avg_pool2d(kernel 3, stride 1, padding 1,
// count_include_pad=False) along one axis as an [n, n] matrix: each output
// averages the in-range inputs among its three neighbours. The 2-D pool is
// the product of two of these, since its divisor (the count of in-range
// cells) is the product of the per-axis counts.
func avgPoolMatrix(n int) []float32 {
	m := make([]float32, n*n)
	for i := range n {
		lo, hi := max(i-1, 0), min(i+1, n-1)
		for j := lo; j <= hi; j++ {
			m[i*n+j] = 1 / float32(hi-lo+1)
		}
	}
	return m
}

// separable applies mh [ho, H] along the height and mw [wo, W] along the
// width of x [B, C, H, W]; a nil matrix leaves its axis alone.
func separable(x *autograd.Var, mh []float32, ho int, mw []float32, wo int) *autograd.Var {
	tp := x.Tape()
	e := tp.Engine()
	s := x.Shape()
	if mw != nil {
		x = autograd.Matmul(x, tp.Const(e.FromFloat32(mw, wo, s[3])), false, true)
	}
	if mh != nil {
		x = autograd.Matmul(tp.Const(e.FromFloat32(mh, ho, s[2])), x, false, false)
	}
	return x
}

// resizeBilinear resizes x [B, C, H, W] to h×w like F.interpolate(
// mode='bilinear', align_corners=False, antialias=False); an axis already
// at its size is left as is (the interpolation is then the identity).
func resizeBilinear(x *autograd.Var, h, w int) *autograd.Var {
	s := x.Shape()
	var mh, mw []float32
	if s[2] != h {
		mh = bilinearMatrix(s[2], h)
	}
	if s[3] != w {
		mw = bilinearMatrix(s[3], w)
	}
	return separable(x, mh, h, mw, w)
}

// resizeTo resizes x [B, C, H, W] to h×w, each axis separately: shrinking
// averages (adaptive average pooling, which does not alias), growing
// interpolates bilinearly.
func resizeTo(x *autograd.Var, h, w int) *autograd.Var {
	s := x.Shape()
	pick := func(in, out int) []float32 {
		switch {
		case in > out:
			return areaMatrix(in, out)
		case in < out:
			return bilinearMatrix(in, out)
		}
		return nil
	}
	return separable(x, pick(s[2], h), h, pick(s[3], w), w)
}

// avgPool3 is F.avg_pool2d(x, 3, stride=1, padding=1,
// count_include_pad=False), the pooling branch of pytorch-fid's FID
// Inception blocks.
func avgPool3(x *autograd.Var) *autograd.Var {
	s := x.Shape()
	return separable(x, avgPoolMatrix(s[2]), s[2], avgPoolMatrix(s[3]), s[3])
}

// maxPool2d is F.max_pool2d(x, k, stride, padding) (floor mode) on
// x [B, C, H, W]: a max over the width, then over the height. Its
// gradient goes to the first maximum of each window in row-major order,
// as PyTorch's does.
func maxPool2d(x *autograd.Var, k, stride, pad int) *autograd.Var {
	return maxPool1d(maxPool1d(x, 3, k, stride, pad), 2, k, stride, pad)
}

// maxPool1d max-pools axis (2 or 3) of x with windows of k at stride,
// padding pad on both sides. One gather lays every window's k elements
// side by side, a max over them follows. PyTorch pads with −∞; here a
// padded position repeats the nearest edge element instead, which lies in
// the same window (a window always holds an element of the input), so the
// maximum is the same.
func maxPool1d(x *autograd.Var, axis, k, stride, pad int) *autograd.Var {
	s := x.Shape()
	n := s[axis]
	out := (n+2*pad-k)/stride + 1
	idx := make([]int32, 0, out*k)
	for o := range out {
		for j := range k {
			idx = append(idx, int32(min(max(o*stride-pad+j, 0), n-1)))
		}
	}
	e := x.Tape().Engine()
	g := autograd.Gather(x, axis, e.FromInt32(idx, len(idx)))
	shape := append(append(append([]int{}, s[:axis]...), out, k), s[axis+1:]...)
	return autograd.Max(autograd.Reshape(g, shape...), axis+1)
}

// spatialMean averages x [B, C, H, W] over its positions: [B, C].
func spatialMean(x *autograd.Var) *autograd.Var {
	s := x.Shape()
	return autograd.Mean(autograd.Reshape(x, s[0], s[1], s[2]*s[3]), 2)
}

// normEps is the eps of lpips.normalize_tensor.
const normEps = 1e-10

// channelNormalize divides x [B, C, H, W] at every position by its norm
// over channels plus 1e-10 (lpips.normalize_tensor). The squared norm is
// floored at 1e-20 before the square root: that changes the value only
// where every channel is within 1e-10 of zero (where it is ~0 either way)
// and keeps the gradient of √ finite at a position of dead ReLUs, which
// would otherwise be 0·∞.
func channelNormalize(x *autograd.Var) *autograd.Var {
	s := x.Shape()
	sq := autograd.Sum(autograd.Square(x), 1) // [B, H, W]
	norm := autograd.AddScalar(autograd.Sqrt(autograd.MaxScalar(sq, normEps*normEps)), normEps)
	return autograd.Div(x, autograd.Reshape(norm, s[0], 1, s[2], s[3]))
}
