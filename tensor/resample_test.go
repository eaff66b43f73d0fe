package tensor

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor/ref"
)

// Tolerances: nearest resampling copies elements, so it is exact (0);
// bicubic and area averaging compute in float32 against float64 twins:
// 1e-6 relative in the sense of ref.Close.
const resampleTol = 1e-6

type resampleCase struct {
	in         []int // N, C, H, W
	outH, outW int
}

func (c resampleCase) String() string {
	return fmt.Sprintf("%v->%dx%d", c.in, c.outH, c.outW)
}

func TestUpsampleNearest(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(20))
	for _, tc := range []resampleCase{
		{[]int{2, 3, 5, 7}, 11, 16},
		{[]int{1, 2, 4, 4}, 8, 8},     // 2x
		{[]int{1, 1, 3, 5}, 12, 20},   // 4x
		{[]int{1, 3, 7, 5}, 7, 5},     // identity
		{[]int{2, 1, 9, 13}, 4, 5},    // shrinking
		{[]int{1, 1, 2, 3}, 82, 7},    // float32 rule: row 41 reads row 0
		{[]int{3, 2, 1, 1}, 3, 4},     // one pixel
		{[]int{1, 1, 129, 65}, 7, 33}, // odd
		{[]int{0, 3, 4, 4}, 8, 8},     // empty batch
	} {
		t.Run(tc.String(), func(t *testing.T) {
			checkBothDTypes(t, e, rng, tc.in,
				func(x *Tensor) *Tensor { return UpsampleNearest(x, tc.outH, tc.outW) },
				func(x *ref.Tensor) *ref.Tensor { return ref.UpsampleNearest(x, tc.outH, tc.outW) })
		})
	}
}

// TestUpsampleNearestFloat32Rule pins the PyTorch quirk itself, not just
// agreement with the twin: from 2 to 82 samples, output 41 reads input 0
// (floorf(41 * (2.0f/82)) = 0), where the exact quotient would give 1.
func TestUpsampleNearestFloat32Rule(t *testing.T) {
	e := testEngine(t)
	x := e.FromFloat32([]float32{10, 20}, 1, 1, 1, 2)
	v, err := UpsampleNearest(x, 1, 82).Float32()
	require.NoError(t, err)
	assert.Equal(t, float32(10), v[40])
	assert.Equal(t, float32(10), v[41])
	assert.Equal(t, float32(20), v[42])
}

// bicubicTorch32 is ref.UpsampleBicubic with the source coordinate taken
// in float32 the way PyTorch computes it (scale = float(in)/float(out),
// src = (dst+0.5)*scale - 0.5, t = src - floor(src)); weights and sums stay
// float64. The twin takes the coordinate in float64, which for sizes that
// do not divide (65 -> 33, 9 -> 5) moves results by up to ~1.5e-6 relative:
// more than the 1e-6 tolerance, and not what PyTorch or the kernel do.
func bicubicTorch32(x *ref.Tensor, outH, outW int) *ref.Tensor {
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	taps := func(in, out int) ([][4]int, [][4]float64) {
		const a = -0.75
		near := func(v float64) float64 { return ((a+2)*v-(a+3))*v*v + 1 }
		far := func(v float64) float64 { return ((a*v-5*a)*v+8*a)*v - 4*a }
		idx := make([][4]int, out)
		wts := make([][4]float64, out)
		scale := float32(in) / float32(out)
		for d := range out {
			// Explicit conversions round each step, as float32 C code does.
			src := float32(float32(float32(d)+0.5)*scale) - 0.5
			f := float32(math.Floor(float64(src)))
			t := float64(src - f)
			wts[d] = [4]float64{far(t + 1), near(t), near(1 - t), far(2 - t)}
			for k := range 4 {
				idx[d][k] = min(max(int(f)-1+k, 0), in-1)
			}
		}
		return idx, wts
	}
	yi, yw := taps(h, outH)
	xi, xw := taps(w, outW)
	out := ref.New(n, c, outH, outW)
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

func TestUpsampleBicubic(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(21))
	for _, tc := range []resampleCase{
		{[]int{2, 3, 5, 7}, 11, 16}, // 5->11, 7->16: non-integer factors
		{[]int{1, 2, 7, 5}, 16, 11},
		{[]int{1, 1, 4, 6}, 8, 12},   // 2x
		{[]int{1, 2, 3, 5}, 12, 20},  // 4x
		{[]int{2, 2, 7, 9}, 7, 9},    // identity
		{[]int{1, 2, 16, 13}, 5, 7},  // shrinking (no antialias, as torch)
		{[]int{1, 1, 9, 4}, 5, 11},   // one axis up, one down
		{[]int{1, 1, 1, 1}, 3, 4},    // one pixel: every tap clamps
		{[]int{1, 1, 2, 65}, 82, 33}, // odd
		{[]int{2, 0, 4, 4}, 8, 8},    // empty channels
	} {
		t.Run(tc.String(), func(t *testing.T) {
			x := randRef(rng, -1, 1, tc.in...)
			got := UpsampleBicubic(upload(e, x), tc.outH, tc.outW)
			requireClose(t, got, bicubicTorch32(x, tc.outH, tc.outW), resampleTol)
			// The float64-coordinate twin agrees to within its coordinate error.
			requireClose(t, got, ref.UpsampleBicubic(x, tc.outH, tc.outW), 1e-5, "twin")
		})
	}
}

func TestAreaDownsample(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(22))
	for _, tc := range []resampleCase{
		{[]int{2, 3, 7, 5}, 3, 4},   // 7->3, 5->4: overlapping windows
		{[]int{2, 3, 7, 5}, 2, 3},   // golden sizes
		{[]int{2, 3, 7, 5}, 4, 2},   //
		{[]int{1, 2, 16, 16}, 1, 1}, // 16->1
		{[]int{1, 2, 7, 5}, 7, 5},   // identity
		{[]int{2, 1, 8, 12}, 4, 3},  // sizes that divide
		{[]int{1, 1, 129, 65}, 7, 33},
		{[]int{1, 1, 3, 2}, 7, 5},     // larger output: windows of one or two
		{[]int{1, 1, 5, 9}, 5, 4},     // H unchanged: one pass
		{[]int{2, 1, 9, 5}, 4, 5},     // W unchanged: one pass
		{[]int{1, 2, 300, 300}, 1, 1}, // a 90000-pixel window (over llvmpipe's loop cap)
		{[]int{1, 1, 257, 263}, 2, 3},
		{[]int{0, 1, 4, 4}, 2, 2}, // empty batch
	} {
		t.Run(tc.String(), func(t *testing.T) {
			x := randRef(rng, -1, 1, tc.in...)
			requireClose(t, AreaDownsample(upload(e, x), tc.outH, tc.outW), ref.AreaDownsample(x, tc.outH, tc.outW), resampleTol)
		})
	}
}
