package tensor

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor/ref"
	"github.com/tessera-ml/tessera/vk"
)

// normTol is the tolerance of every norm test, in the sense of ref.Close:
// max |got - want| ≤ 1e-5 · max(1, max |want|). Outputs are O(1..few), so
// this is about 1e-5 relative; the means of offset data (≈1000) are held
// to 1e-5 of their magnitude.
const normTol = 1e-5

const normEps = 1e-5

// normRefStats returns, in float64 from the twin's definition, the mean
// and 1/√(var+eps) of each consecutive block of m values of x (rms: the
// mean is 0 and var is the mean square).
func normRefStats(x *ref.Tensor, m int, eps float64, rms bool, shape []int) (mean, rstd *ref.Tensor) {
	mean, rstd = ref.New(shape...), ref.New(shape...)
	for r := range mean.Data {
		vals := x.Data[r*m : (r+1)*m]
		var mu, v float64
		if !rms {
			for _, a := range vals {
				mu += a
			}
			mu /= float64(m)
		}
		for _, a := range vals {
			v += (a - mu) * (a - mu)
		}
		v /= float64(m)
		mean.Data[r], rstd.Data[r] = mu, 1/math.Sqrt(v+eps)
	}
	return mean, rstd
}

// normData draws x: uniform in [lo, hi), or constant lo when lo == hi.
func normData(rng *rand.Rand, lo, hi float64, shape ...int) *ref.Tensor {
	return randRef(rng, lo, hi, shape...)
}

// Affine parameter combinations: none, both, gamma only, beta only.
var normAffine = []struct {
	name      string
	gamma, bt bool
}{{"plain", false, false}, {"affine", true, true}, {"gamma", true, false}, {"beta", false, true}}

// Data ranges: centred, offset by 1000 (catches E[x²]-E[x]² and an
// unshifted float32 mean), wide, and constant (zero variance).
var normRanges = []struct {
	name   string
	lo, hi float64
}{{"centred", -1, 1}, {"offset1000", 999, 1001}, {"wide", -50, 150}, {"constant", 3.25, 3.25}}

// normPolicies runs f with the device's own launch choice and, on CPU
// devices, again with the GPU one (several invocations per segment and a
// shared-memory tree), so both kernels' paths are tested on Lavapipe.
func normPolicies(t *testing.T, e *Engine, f func(t *testing.T)) {
	t.Run("native", f)
	if e.dev.Info.Type == vk.TypeCPU {
		t.Run("gpu-policy", func(t *testing.T) {
			normGPUPolicy = true
			defer func() { normGPUPolicy = false }()
			f(t)
		})
	}
}

func TestGroupNorm(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(11))
	cases := []struct {
		shape  []int
		groups int
	}{
		{[]int{2, 6, 7, 5}, 3},
		{[]int{3, 32, 9, 11}, 32},
		{[]int{1, 64, 33, 17}, 32},
		{[]int{2, 6, 7, 5}, 1},
		{[]int{2, 6, 7, 5}, 6},
		{[]int{5, 9}, 3},            // no spatial dims
		{[]int{2, 4, 3, 5, 7}, 2},   // 3-D spatial
		{[]int{1, 2, 4099}, 1},      // long group with a tail
		{[]int{0, 6, 7, 5}, 3},      // N = 0
		{[]int{0, 6}, 2},            // N = 0, no spatial dims
		{[]int{7, 33, 1, 1}, 11},    // tiny groups, many per workgroup
		{[]int{3, 130, 129, 1}, 65}, // runs that straddle strides
	}
	normPolicies(t, e, func(t *testing.T) {
		for _, tc := range cases {
			c := tc.shape[1]
			for _, dr := range normRanges {
				for _, af := range normAffine {
					t.Run(fmt.Sprintf("%v/g%d/%s/%s", tc.shape, tc.groups, dr.name, af.name), func(t *testing.T) {
						x := normData(rng, dr.lo, dr.hi, tc.shape...)
						var gamma, beta *ref.Tensor
						var gg, gb *Tensor
						if af.gamma {
							gamma = randRef(rng, 0.5, 2, c)
							gg = upload(e, gamma)
						}
						if af.bt {
							beta = randRef(rng, -1, 1, c)
							gb = upload(e, beta)
						}
						want := ref.GroupNorm(x, tc.groups, gamma, beta, normEps)
						requireClose(t, GroupNorm(upload(e, x), tc.groups, gg, gb, normEps), want, normTol)

						y, mean, rstd := GroupNormStats(upload(e, x), tc.groups, gg, gb, normEps)
						requireClose(t, y, want, normTol)
						m := 0
						if tc.shape[0] > 0 {
							m = x.Numel() / (tc.shape[0] * tc.groups)
						}
						wm, wr := normRefStats(x, m, normEps, false, []int{tc.shape[0], tc.groups})
						requireClose(t, mean, wm, normTol, "mean")
						requireClose(t, rstd, wr, normTol, "rstd")
					})
				}
			}
		}
	})
}

// rowShapes: rows of 7, 33, 768 and 4097 (2-D and 3-D), a single row, rows
// of one element, and zero rows.
var rowShapes = [][]int{{5, 7}, {1001, 7}, {3, 33}, {2, 3, 33}, {4, 768}, {3, 5, 768}, {2, 4097}, {33}, {6, 1}, {0, 768}, {2, 0, 7}}

func TestLayerNorm(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(12))
	normPolicies(t, e, func(t *testing.T) {
		for _, shape := range rowShapes {
			d := shape[len(shape)-1]
			for _, dr := range normRanges {
				for _, af := range normAffine {
					t.Run(fmt.Sprintf("%v/%s/%s", shape, dr.name, af.name), func(t *testing.T) {
						x := normData(rng, dr.lo, dr.hi, shape...)
						var gamma, beta *ref.Tensor
						var gg, gb *Tensor
						if af.gamma {
							gamma = randRef(rng, 0.5, 2, d)
							gg = upload(e, gamma)
						}
						if af.bt {
							beta = randRef(rng, -1, 1, d)
							gb = upload(e, beta)
						}
						want := ref.LayerNorm(x, gamma, beta, normEps)
						requireClose(t, LayerNorm(upload(e, x), gg, gb, normEps), want, normTol)

						y, mean, rstd := LayerNormStats(upload(e, x), gg, gb, normEps)
						requireClose(t, y, want, normTol)
						rows := x.Numel() / d
						wm, wr := normRefStats(x, d, normEps, false, []int{rows})
						requireClose(t, mean, wm, normTol, "mean")
						requireClose(t, rstd, wr, normTol, "rstd")
					})
				}
			}
		}
	})
}

func TestRMSNorm(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(13))
	normPolicies(t, e, func(t *testing.T) {
		for _, shape := range rowShapes {
			d := shape[len(shape)-1]
			for _, dr := range normRanges {
				for _, withGamma := range []bool{false, true} {
					t.Run(fmt.Sprintf("%v/%s/gamma=%v", shape, dr.name, withGamma), func(t *testing.T) {
						x := normData(rng, dr.lo, dr.hi, shape...)
						var gamma *ref.Tensor
						var gg *Tensor
						if withGamma {
							gamma = randRef(rng, 0.5, 2, d)
							gg = upload(e, gamma)
						}
						want := ref.RMSNorm(x, gamma, normEps)
						requireClose(t, RMSNorm(upload(e, x), gg, normEps), want, normTol)

						y, rstd := RMSNormStats(upload(e, x), gg, normEps)
						requireClose(t, y, want, normTol)
						_, wr := normRefStats(x, d, normEps, true, []int{x.Numel() / d})
						requireClose(t, rstd, wr, normTol, "rstd")
					})
				}
			}
		}
	})
}

// Segments long enough that one invocation per segment would pass
// llvmpipe's cap of 65535 loop iterations (it then silently stops looping);
// on other devices, just long segments with many rows.
func TestNormLongSegments(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(15))
	normPolicies(t, e, func(t *testing.T) {
		t.Run("layernorm", func(t *testing.T) {
			x := normData(rng, 999, 1001, 40, 150001)
			gamma, beta := randRef(rng, 0.5, 2, 150001), randRef(rng, -1, 1, 150001)
			y, mean, rstd := LayerNormStats(upload(e, x), upload(e, gamma), upload(e, beta), normEps)
			requireClose(t, y, ref.LayerNorm(x, gamma, beta, normEps), normTol)
			wm, wr := normRefStats(x, 150001, normEps, false, []int{40})
			requireClose(t, mean, wm, normTol, "mean")
			requireClose(t, rstd, wr, normTol, "rstd")
		})
		t.Run("rmsnorm", func(t *testing.T) {
			x := normData(rng, -2, 1, 40, 150001)
			requireClose(t, RMSNorm(upload(e, x), nil, normEps), ref.RMSNorm(x, nil, normEps), normTol)
		})
		t.Run("groupnorm", func(t *testing.T) {
			x := normData(rng, -1, 3, 33, 4, 35001)
			gamma, beta := randRef(rng, 0.5, 2, 4), randRef(rng, -1, 1, 4)
			requireClose(t, GroupNorm(upload(e, x), 1, upload(e, gamma), upload(e, beta), normEps),
				ref.GroupNorm(x, 1, gamma, beta, normEps), normTol)
		})
	})
}

// Bad shapes are sticky ErrShape errors, never panics, for every variant;
// a failed input propagates.
func TestNormShapeErrors(t *testing.T) {
	e := testEngine(t)
	x := e.Zeros(2, 6, 5)
	g6, g5, g23 := e.Full(1, 6), e.Full(1, 5), e.Zeros(2, 3)
	idx := e.FullInt(1, 2, 6, 5)
	gi := e.FullInt(1, 6)
	row := e.Zeros(4, 5)
	cases := []struct {
		name string
		run  func() []*Tensor
	}{
		{"gn-groups-not-dividing", func() []*Tensor { return []*Tensor{GroupNorm(x, 4, nil, nil, 1e-5)} }},
		{"gn-zero-groups", func() []*Tensor { return []*Tensor{GroupNorm(x, 0, nil, nil, 1e-5)} }},
		{"gn-rank1", func() []*Tensor { return []*Tensor{GroupNorm(e.Zeros(6), 3, nil, nil, 1e-5)} }},
		{"gn-gamma-length", func() []*Tensor { return []*Tensor{GroupNorm(x, 3, g5, nil, 1e-5)} }},
		{"gn-beta-rank", func() []*Tensor { return []*Tensor{GroupNorm(x, 3, g6, g23, 1e-5)} }},
		{"gn-int-x", func() []*Tensor { return []*Tensor{GroupNorm(idx, 3, nil, nil, 1e-5)} }},
		{"gn-int-gamma", func() []*Tensor { return []*Tensor{GroupNorm(x, 3, gi, nil, 1e-5)} }},
		{"gn-empty-groups", func() []*Tensor { return []*Tensor{GroupNorm(e.Zeros(2, 6, 0), 3, nil, nil, 1e-5)} }},
		{"gn-stats", func() []*Tensor { y, m, r := GroupNormStats(x, 4, nil, nil, 1e-5); return []*Tensor{y, m, r} }},
		{"ln-scalar", func() []*Tensor { return []*Tensor{LayerNorm(e.Full(1), nil, nil, 1e-5)} }},
		{"ln-gamma-length", func() []*Tensor { return []*Tensor{LayerNorm(row, g6, nil, 1e-5)} }},
		{"ln-beta-length", func() []*Tensor { return []*Tensor{LayerNorm(row, g5, g6, 1e-5)} }},
		{"ln-empty-rows", func() []*Tensor { return []*Tensor{LayerNorm(e.Zeros(3, 0), nil, nil, 1e-5)} }},
		{"ln-stats", func() []*Tensor { y, m, r := LayerNormStats(row, g6, nil, 1e-5); return []*Tensor{y, m, r} }},
		{"rms-gamma-length", func() []*Tensor { return []*Tensor{RMSNorm(row, g6, 1e-5)} }},
		{"rms-int-x", func() []*Tensor { return []*Tensor{RMSNorm(idx, nil, 1e-5)} }},
		{"rms-stats", func() []*Tensor { y, r := RMSNormStats(e.Full(1), nil, 1e-5); return []*Tensor{y, r} }},
		{"propagates", func() []*Tensor {
			bad := e.Zeros(2, -1)
			require.Error(t, e.Err())
			return []*Tensor{LayerNorm(bad, nil, nil, 1e-5)}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, y := range tc.run() {
				require.ErrorIs(t, y.Err(), ErrShape)
			}
			require.ErrorIs(t, e.Err(), ErrShape, "the error is sticky on the engine")
		})
	}
}

// Rows spread over more than 65535 workgroups: the grid must spill into y.
// One small workgroup per short row keeps the tensor small.
func TestLayerNormManyRows(t *testing.T) {
	e := testEngine(t)
	normForceThreads = 4 // not a multiple of any subgroup size, too
	defer func() { normForceThreads = 0 }()
	const rows, d = 65535*2 + 7, 3
	rng := rand.New(rand.NewSource(14))
	x := normData(rng, -1, 1, rows, d)
	y, mean, rstd := LayerNormStats(upload(e, x), nil, nil, normEps)
	requireClose(t, y, ref.LayerNorm(x, nil, nil, normEps), normTol)
	wm, wr := normRefStats(x, d, normEps, false, []int{rows})
	requireClose(t, mean, wm, normTol, "mean")
	requireClose(t, rstd, wr, normTol, "rstd")
	y, rstd = RMSNormStats(upload(e, x), nil, normEps)
	requireClose(t, y, ref.RMSNorm(x, nil, normEps), normTol)
	_, wr = normRefStats(x, d, normEps, true, []int{rows})
	requireClose(t, rstd, wr, normTol, "rms rstd")
}
