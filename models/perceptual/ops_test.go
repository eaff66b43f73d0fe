package perceptual

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
)

// Host float64 references of the pooling and resizing ops, written from
// PyTorch's definitions (not from the matrices the ops use).

func randImages(rng *rand.Rand, shape ...int) []float32 {
	n := 1
	for _, d := range shape {
		n *= d
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(rng.Float64()*2 - 1)
	}
	return out
}

// planes calls f for each of the b·c planes of an NCHW tensor.
func planes(shape []int, f func(p int)) {
	for p := range shape[0] * shape[1] {
		f(p)
	}
}

// maxPoolRef is F.max_pool2d (−∞ padding, floor mode), returning the
// output and, per output, the flat input index of its first maximum in
// row-major window order (where PyTorch sends the gradient).
func maxPoolRef(x []float32, shape []int, k, stride, pad int) ([]float64, []int, []int) {
	h, w := shape[2], shape[3]
	ho, wo := (h+2*pad-k)/stride+1, (w+2*pad-k)/stride+1
	out := make([]float64, shape[0]*shape[1]*ho*wo)
	arg := make([]int, len(out))
	planes(shape, func(p int) {
		for i := range ho {
			for j := range wo {
				best, at := math.Inf(-1), -1
				for di := range k {
					for dj := range k {
						y, xx := i*stride-pad+di, j*stride-pad+dj
						if y < 0 || y >= h || xx < 0 || xx >= w {
							continue
						}
						idx := (p*h+y)*w + xx
						if v := float64(x[idx]); v > best {
							best, at = v, idx
						}
					}
				}
				o := (p*ho+i)*wo + j
				out[o], arg[o] = best, at
			}
		}
	})
	return out, arg, []int{shape[0], shape[1], ho, wo}
}

// avgPool3Ref is F.avg_pool2d(3, 1, 1, count_include_pad=False).
func avgPool3Ref(x []float32, shape []int) []float64 {
	h, w := shape[2], shape[3]
	out := make([]float64, len(x))
	planes(shape, func(p int) {
		for i := range h {
			for j := range w {
				var sum float64
				n := 0
				for y := max(i-1, 0); y <= min(i+1, h-1); y++ {
					for xx := max(j-1, 0); xx <= min(j+1, w-1); xx++ {
						sum += float64(x[(p*h+y)*w+xx])
						n++
					}
				}
				out[(p*h+i)*w+j] = sum / float64(n)
			}
		}
	})
	return out
}

// bilinearRef is PyTorch's upsample_bilinear2d with align_corners=False.
func bilinearRef(x []float32, shape []int, ho, wo int) []float64 {
	h, w := shape[2], shape[3]
	src := func(dst, in, out int) (int, int, float64) {
		r := math.Max((float64(dst)+0.5)*float64(in)/float64(out)-0.5, 0)
		i0 := int(r)
		i1 := i0
		if i0 < in-1 {
			i1++
		}
		return i0, i1, r - float64(i0)
	}
	out := make([]float64, shape[0]*shape[1]*ho*wo)
	planes(shape, func(p int) {
		at := func(y, xx int) float64 { return float64(x[(p*h+y)*w+xx]) }
		for i := range ho {
			y0, y1, ly := src(i, h, ho)
			for j := range wo {
				x0, x1, lx := src(j, w, wo)
				out[(p*ho+i)*wo+j] = (1-ly)*((1-lx)*at(y0, x0)+lx*at(y0, x1)) + ly*((1-lx)*at(y1, x0)+lx*at(y1, x1))
			}
		}
	})
	return out
}

// adaptiveAvgRef is F.adaptive_avg_pool2d.
func adaptiveAvgRef(x []float32, shape []int, ho, wo int) []float64 {
	h, w := shape[2], shape[3]
	out := make([]float64, shape[0]*shape[1]*ho*wo)
	planes(shape, func(p int) {
		for i := range ho {
			y0, y1 := i*h/ho, ((i+1)*h+ho-1)/ho
			for j := range wo {
				x0, x1 := j*w/wo, ((j+1)*w+wo-1)/wo
				var sum float64
				for y := y0; y < y1; y++ {
					for xx := x0; xx < x1; xx++ {
						sum += float64(x[(p*h+y)*w+xx])
					}
				}
				out[(p*ho+i)*wo+j] = sum / float64((y1-y0)*(x1-x0))
			}
		}
	})
	return out
}

// TestMaxPool: every pooling the networks use (Inception's 3/2 and its
// E_2 block's padded 3/1, VGG's 2/2) on odd shapes equals the reference
// exactly, and the gradient of Σ r·pool(x) puts each r on its window's
// first maximum (overlapping windows accumulate).
func TestMaxPool(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct {
		name               string
		shape              []int
		k, stride, padding int
	}{
		{"3 stride 2", []int{2, 3, 11, 9}, 3, 2, 0},
		{"3 stride 1 padding 1", []int{1, 2, 7, 5}, 3, 1, 1},
		{"2 stride 2 odd size", []int{2, 1, 9, 7}, 2, 2, 0},
		{"2 stride 2 single row", []int{1, 1, 2, 5}, 2, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := testTape(t)
			e := tp.Engine()
			data := randImages(rng, tc.shape...)
			x := tp.Param(e.FromFloat32(data, tc.shape...), "x")
			defer x.Release()
			y := maxPool2d(x, tc.k, tc.stride, tc.padding)
			want, arg, wantShape := maxPoolRef(data, tc.shape, tc.k, tc.stride, tc.padding)
			require.Equal(t, wantShape, y.Shape())
			require.NoError(t, closeTo(read(t, y), want, 0, 0))

			r := randImages(rng, wantShape...)
			loss := autograd.SumAll(autograd.Mul(y, constant(tp, r, wantShape...)))
			require.NoError(t, autograd.Backward(loss))
			wantGrad := make([]float64, len(data))
			for o, i := range arg {
				wantGrad[i] += float64(r[o])
			}
			got, err := x.Grad.Float32()
			require.NoError(t, err)
			require.NoError(t, closeTo(got, wantGrad, 1e-6, 0), "gradient")
		})
	}
}

// TestLinearResampling: average pooling without padding counts, bilinear
// resizing (up, down, one axis only, identity) and resizeTo's area
// shrinking match their references to float32 rounding (1e-6).
func TestLinearResampling(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, tc := range []struct {
		name  string
		shape []int
		op    func(x *autograd.Var) *autograd.Var
		ref   func(x []float32, shape []int) []float64
		out   []int
	}{
		{"avg pool 3", []int{2, 3, 7, 5}, avgPool3, avgPool3Ref, []int{2, 3, 7, 5}},
		{"avg pool 3 on 1×1", []int{1, 2, 1, 1}, avgPool3, avgPool3Ref, []int{1, 2, 1, 1}},
		{"bilinear up", []int{2, 1, 7, 5}, func(x *autograd.Var) *autograd.Var { return resizeBilinear(x, 13, 17) },
			func(x []float32, s []int) []float64 { return bilinearRef(x, s, 13, 17) }, []int{2, 1, 13, 17}},
		{"bilinear to 299", []int{1, 3, 19, 23}, func(x *autograd.Var) *autograd.Var { return resizeBilinear(x, 299, 299) },
			func(x []float32, s []int) []float64 { return bilinearRef(x, s, 299, 299) }, []int{1, 3, 299, 299}},
		{"bilinear down", []int{1, 2, 33, 31}, func(x *autograd.Var) *autograd.Var { return resizeBilinear(x, 9, 14) },
			func(x []float32, s []int) []float64 { return bilinearRef(x, s, 9, 14) }, []int{1, 2, 9, 14}},
		{"bilinear width only", []int{1, 1, 6, 5}, func(x *autograd.Var) *autograd.Var { return resizeBilinear(x, 6, 11) },
			func(x []float32, s []int) []float64 { return bilinearRef(x, s, 6, 11) }, []int{1, 1, 6, 11}},
		{"area down", []int{2, 1, 61, 37}, func(x *autograd.Var) *autograd.Var { return resizeTo(x, 28, 28) },
			func(x []float32, s []int) []float64 { return adaptiveAvgRef(x, s, 28, 28) }, []int{2, 1, 28, 28}},
		{"area down exact", []int{1, 1, 56, 84}, func(x *autograd.Var) *autograd.Var { return resizeTo(x, 28, 28) },
			func(x []float32, s []int) []float64 { return adaptiveAvgRef(x, s, 28, 28) }, []int{1, 1, 28, 28}},
		{"resizeTo up", []int{1, 1, 19, 23}, func(x *autograd.Var) *autograd.Var { return resizeTo(x, 28, 28) },
			func(x []float32, s []int) []float64 { return bilinearRef(x, s, 28, 28) }, []int{1, 1, 28, 28}},
		{"resizeTo same size", []int{1, 1, 28, 28}, func(x *autograd.Var) *autograd.Var { return resizeTo(x, 28, 28) },
			func(x []float32, s []int) []float64 { return adaptiveAvgRef(x, s, 28, 28) }, []int{1, 1, 28, 28}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := testTape(t)
			data := randImages(rng, tc.shape...)
			y := tc.op(constant(tp, data, tc.shape...))
			require.Equal(t, tc.out, y.Shape())
			require.NoError(t, closeTo(read(t, y), tc.ref(data, tc.shape), 1e-6, 0))
		})
	}
}

// TestResizeMixed: resizeTo shrinks one axis by averaging and grows the
// other by interpolation: the same as doing each with its reference.
func TestResizeMixed(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	tp := testTape(t)
	shape := []int{1, 1, 40, 15}
	data := randImages(rng, shape...)
	y := resizeTo(constant(tp, data, shape...), 28, 28)
	area := adaptiveAvgRef(data, shape, 28, 15)
	mid := make([]float32, len(area))
	for i, v := range area {
		mid[i] = float32(v)
	}
	require.NoError(t, closeTo(read(t, y), bilinearRef(mid, []int{1, 1, 28, 15}, 28, 28), 1e-6, 0))
}

// TestChannelNormalize: unit norm over channels (plus LPIPS's eps), zero
// where every channel is zero, and a finite gradient there.
func TestChannelNormalize(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	// [1, 2, 1, 3]: positions (3, 4), (0, 0), (1e-3, 0).
	x := tp.Param(e.FromFloat32([]float32{3, 0, 1e-3, 4, 0, 0}, 1, 2, 1, 3), "x")
	defer x.Release()
	y := channelNormalize(x)
	want := []float64{0.6, 0, 1, 0.8, 0, 0}
	require.NoError(t, closeTo(read(t, y), want, 1e-6, 0))
	require.NoError(t, autograd.Backward(autograd.SumAll(y)))
	g, err := x.Grad.Float32()
	require.NoError(t, err)
	for i, v := range g {
		require.False(t, math.IsNaN(float64(v)) || math.IsInf(float64(v), 0), "gradient %d is %g", i, v)
	}
}
