package tensor

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor/ref"
)

// Tolerance of the norm backward tests, in the sense of ref.Close (max
// |got − want| ≤ tol · max(1, max |want|)): 1e-5 for dx, dgamma and dbeta
// alike, under the 1e-4 the brief allows for the big reductions (dgamma
// and dbeta of 1000 rows of 768 sum 768,000 float32 products). The errors
// seen on Lavapipe are below 2e-6 everywhere, offset-1000 data included;
// without the kernel's correction of the float32 saved mean they reach
// 1.6e-3 there.
const normGradTol = 1e-5

// normGradEps is the float32 eps of the GPU forward, for the twins too.
var normGradEps = float64(float32(normEps))

// normGradPolicies runs f with the device's own launch choices, with the
// GPU ones on CPU devices (several invocations per segment, a shared
// tree, few elements per reduction invocation), and with tiny reduction
// chunks (many levels; 8 elements also unroll four columns, 3 do not).
func normGradPolicies(t *testing.T, e *Engine, f func(t *testing.T)) {
	normPolicies(t, e, f)
	for _, force := range []int{3, 8} {
		t.Run(fmt.Sprintf("many-levels-%d", force), func(t *testing.T) {
			normReduceForce = force
			defer func() { normReduceForce = 0 }()
			f(t)
		})
	}
}

// Gradient subsets: all, and each alone.
var normGradWants = []NormGrad{NormGradX | NormGradGamma | NormGradBeta, NormGradX, NormGradGamma, NormGradBeta}

func wantName(w NormGrad) string {
	s := ""
	for _, b := range []struct {
		bit  NormGrad
		name string
	}{{NormGradX, "x"}, {NormGradGamma, "g"}, {NormGradBeta, "b"}} {
		if w&b.bit != 0 {
			s += b.name
		}
	}
	return "d" + s
}

// normGradCheck compares the gradients selected by want with the twin's:
// present and close if wanted, nil if not.
func normGradCheck(t *testing.T, want NormGrad, got [3]*Tensor, twin [3]*ref.Tensor) {
	t.Helper()
	names := [3]string{"dx", "dgamma", "dbeta"}
	for i, bit := range []NormGrad{NormGradX, NormGradGamma, NormGradBeta} {
		if want&bit == 0 {
			require.Nil(t, got[i], names[i])
			continue
		}
		require.NotNil(t, got[i], names[i])
		requireClose(t, got[i], twin[i], normGradTol, names[i])
		got[i].Release()
	}
}

func TestNormGradGroupNorm(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(21))
	cases := []struct {
		shape  []int
		groups int
		full   bool // every range and gradient subset
	}{
		{[]int{2, 6, 7, 5}, 3, true},
		{[]int{2, 64, 33, 17}, 32, false},
		{[]int{3, 130, 129, 1}, 65, false}, // runs that straddle strides
		{[]int{7, 33, 1, 1}, 11, true},     // tiny groups, many per workgroup
		{[]int{5, 9}, 3, true},             // no spatial dims
		{[]int{2, 4, 3, 5, 7}, 2, true},    // 3-D spatial
		{[]int{2, 6, 7, 5}, 6, true},       // groups = channels
		{[]int{0, 6, 7, 5}, 3, true},       // N = 0
	}
	normGradPolicies(t, e, func(t *testing.T) {
		for _, tc := range cases {
			c := tc.shape[1]
			for _, dr := range normRanges {
				if !tc.full && dr.name != "offset1000" && dr.name != "centred" {
					continue
				}
				for _, hasGamma := range []bool{true, false} {
					for _, want := range normGradWants {
						if !tc.full && want != normGradWants[0] {
							continue
						}
						t.Run(fmt.Sprintf("%v/g%d/%s/gamma=%v/%s", tc.shape, tc.groups, dr.name, hasGamma, wantName(want)), func(t *testing.T) {
							x := normData(rng, dr.lo, dr.hi, tc.shape...)
							dy := randRef(rng, -1, 1, tc.shape...)
							var gamma *ref.Tensor
							var gg *Tensor
							if hasGamma {
								gamma = randRef(rng, 0.5, 2, c)
								gg = upload(e, gamma)
							}
							xt := upload(e, x)
							y, mean, rstd := GroupNormStats(xt, tc.groups, gg, nil, normEps)
							dx, dg, db := GroupNormBackward(xt, upload(e, dy), mean, rstd, gg, tc.groups, want)
							wx, wg, wb := ref.GroupNormVJP(x, tc.groups, gamma, nil, normGradEps, dy)
							normGradCheck(t, want, [3]*Tensor{dx, dg, db}, [3]*ref.Tensor{wx, wg, wb})
							require.NoError(t, e.Err())
							y.Release()
							mean.Release()
							rstd.Release()
						})
					}
				}
			}
		}
	})
}

// rowGradShapes: rows of 7, 33, 768 (1000 of them) and 4097, 3-D input, a
// single row, rows of one element, and zero rows.
var rowGradShapes = []struct {
	shape []int
	full  bool
}{
	{[]int{5, 7}, true}, {[]int{2, 3, 33}, true}, {[]int{1000, 768}, false}, {[]int{3, 4097}, false},
	{[]int{33}, true}, {[]int{6, 1}, true}, {[]int{0, 768}, true}, {[]int{1001, 8}, true},
}

func TestNormGradLayerNorm(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(22))
	normGradPolicies(t, e, func(t *testing.T) {
		for _, tc := range rowGradShapes {
			d := tc.shape[len(tc.shape)-1]
			for _, dr := range normRanges {
				if !tc.full && dr.name != "offset1000" && dr.name != "centred" {
					continue
				}
				for _, hasGamma := range []bool{true, false} {
					for _, want := range normGradWants {
						if !tc.full && want != normGradWants[0] {
							continue
						}
						t.Run(fmt.Sprintf("%v/%s/gamma=%v/%s", tc.shape, dr.name, hasGamma, wantName(want)), func(t *testing.T) {
							x := normData(rng, dr.lo, dr.hi, tc.shape...)
							dy := randRef(rng, -1, 1, tc.shape...)
							var gamma *ref.Tensor
							var gg *Tensor
							if hasGamma {
								gamma = randRef(rng, 0.5, 2, d)
								gg = upload(e, gamma)
							}
							xt := upload(e, x)
							y, mean, rstd := LayerNormStats(xt, gg, nil, normEps)
							dx, dg, db := LayerNormBackward(xt, upload(e, dy), mean, rstd, gg, want)
							wx, wg, wb := ref.LayerNormVJP(x, gamma, nil, normGradEps, dy)
							normGradCheck(t, want, [3]*Tensor{dx, dg, db}, [3]*ref.Tensor{wx, wg, wb})
							require.NoError(t, e.Err())
							y.Release()
							mean.Release()
							rstd.Release()
						})
					}
				}
			}
		}
	})
}

func TestNormGradRMSNorm(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(23))
	shapes := append(rowGradShapes[:len(rowGradShapes):len(rowGradShapes)], struct {
		shape []int
		full  bool
	}{[]int{1000, 32}, false})
	normGradPolicies(t, e, func(t *testing.T) {
		for _, tc := range shapes {
			d := tc.shape[len(tc.shape)-1]
			for _, dr := range normRanges {
				if !tc.full && dr.name != "offset1000" && dr.name != "centred" {
					continue
				}
				for _, hasGamma := range []bool{true, false} {
					for _, want := range normGradWants[:3] {
						if !tc.full && want != normGradWants[0] {
							continue
						}
						t.Run(fmt.Sprintf("%v/%s/gamma=%v/%s", tc.shape, dr.name, hasGamma, wantName(want)), func(t *testing.T) {
							x := normData(rng, dr.lo, dr.hi, tc.shape...)
							dy := randRef(rng, -1, 1, tc.shape...)
							var gamma *ref.Tensor
							var gg *Tensor
							if hasGamma {
								gamma = randRef(rng, 0.5, 2, d)
								gg = upload(e, gamma)
							}
							xt := upload(e, x)
							y, rstd := RMSNormStats(xt, gg, normEps)
							dx, dg := RMSNormBackward(xt, upload(e, dy), rstd, gg, want)
							wx, wg := ref.RMSNormVJP(x, gamma, normGradEps, dy)
							normGradCheck(t, want&^NormGradBeta, [3]*Tensor{dx, dg, nil}, [3]*ref.Tensor{wx, wg, nil})
							require.NoError(t, e.Err())
							y.Release()
							rstd.Release()
						})
					}
				}
			}
		}
	})
}

// Segments too long for one invocation under llvmpipe's loop cap (the
// launch then shares them, as the forward does), and channel runs long
// enough to need folding in the channel sums.
func TestNormGradLongSegments(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(24))
	all := NormGradX | NormGradGamma | NormGradBeta
	normPolicies(t, e, func(t *testing.T) {
		t.Run("layernorm", func(t *testing.T) {
			x := normData(rng, 999, 1001, 6, 150001)
			dy := randRef(rng, -1, 1, 6, 150001)
			gamma := randRef(rng, 0.5, 2, 150001)
			xt, gg := upload(e, x), upload(e, gamma)
			y, mean, rstd := LayerNormStats(xt, gg, nil, normEps)
			dx, dg, db := LayerNormBackward(xt, upload(e, dy), mean, rstd, gg, all)
			wx, wg, wb := ref.LayerNormVJP(x, gamma, nil, normGradEps, dy)
			normGradCheck(t, all, [3]*Tensor{dx, dg, db}, [3]*ref.Tensor{wx, wg, wb})
			releaseNorm(y, mean, rstd)
		})
		t.Run("rmsnorm", func(t *testing.T) {
			x := normData(rng, -2, 1, 6, 150001)
			dy := randRef(rng, -1, 1, 6, 150001)
			xt := upload(e, x)
			y, rstd := RMSNormStats(xt, nil, normEps)
			dx, dg := RMSNormBackward(xt, upload(e, dy), rstd, nil, all)
			wx, wg := ref.RMSNormVJP(x, nil, normGradEps, dy)
			normGradCheck(t, NormGradX|NormGradGamma, [3]*Tensor{dx, dg, nil}, [3]*ref.Tensor{wx, wg, nil})
			releaseNorm(y, rstd)
		})
		t.Run("groupnorm", func(t *testing.T) {
			x := normData(rng, -1, 3, 3, 4, 35001)
			dy := randRef(rng, -1, 1, 3, 4, 35001)
			gamma := randRef(rng, 0.5, 2, 4)
			xt, gg := upload(e, x), upload(e, gamma)
			y, mean, rstd := GroupNormStats(xt, 1, gg, nil, normEps)
			dx, dg, db := GroupNormBackward(xt, upload(e, dy), mean, rstd, gg, 1, all)
			wx, wg, wb := ref.GroupNormVJP(x, 1, gamma, nil, normGradEps, dy)
			normGradCheck(t, all, [3]*Tensor{dx, dg, db}, [3]*ref.Tensor{wx, wg, wb})
			releaseNorm(y, mean, rstd)
		})
	})
}

func releaseNorm(ts ...*Tensor) {
	for _, t := range ts {
		t.Release()
	}
}

// Grids of more than 65535 workgroups must spill into y, in both kernels:
// one small workgroup per short row for dx, and two elements per reduce
// invocation over 8.4M elements for the first channel-sum level.
func TestNormGradManyRows(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(25))
	t.Run("dx", func(t *testing.T) {
		normForceThreads = 4
		defer func() { normForceThreads = 0 }()
		const rows, d = 65535*2 + 7, 3
		x := normData(rng, -1, 1, rows, d)
		dy := randRef(rng, -1, 1, rows, d)
		xt := upload(e, x)
		y, mean, rstd := LayerNormStats(xt, nil, nil, normEps)
		dx, _, _ := LayerNormBackward(xt, upload(e, dy), mean, rstd, nil, NormGradX)
		wx, _, _ := ref.LayerNormVJP(x, nil, nil, normGradEps, dy)
		requireClose(t, dx, wx, normGradTol)
		releaseNorm(y, mean, rstd, dx)
	})
	t.Run("sums", func(t *testing.T) {
		normReduceForce = 2
		defer func() { normReduceForce = 0 }()
		rows, d := 65535*e.wg*2/3+5, 3 // the first level has ≥ 65536 workgroups
		x := normData(rng, -1, 1, rows, d)
		dy := randRef(rng, -1, 1, rows, d)
		xt := upload(e, x)
		y, mean, rstd := LayerNormStats(xt, nil, nil, normEps)
		want := NormGradGamma | NormGradBeta
		_, dg, db := LayerNormBackward(xt, upload(e, dy), mean, rstd, nil, want)
		_, wg, wb := ref.LayerNormVJP(x, nil, nil, normGradEps, dy)
		normGradCheck(t, want, [3]*Tensor{nil, dg, db}, [3]*ref.Tensor{nil, wg, wb})
		releaseNorm(y, mean, rstd)
	})
}

// Bad arguments are sticky ErrShape errors, never panics; unwanted
// gradients stay nil.
func TestNormGradShapeErrors(t *testing.T) {
	e := testEngine(t)
	x := e.Zeros(2, 6, 5)
	dy := e.Zeros(2, 6, 5)
	st := e.Zeros(2, 3)
	row, rowDy, rowSt := e.Zeros(4, 5), e.Zeros(4, 5), e.Zeros(4)
	all := NormGradX | NormGradGamma | NormGradBeta
	cases := []struct {
		name string
		run  func() []*Tensor
	}{
		{"gn-groups", func() []*Tensor { a, b, c := GroupNormBackward(x, dy, st, st, nil, 4, all); return []*Tensor{a, b, c} }},
		{"gn-dy-shape", func() []*Tensor {
			a, b, c := GroupNormBackward(x, e.Zeros(2, 6, 4), st, st, nil, 3, all)
			return []*Tensor{a, b, c}
		}},
		{"gn-stats-shape", func() []*Tensor {
			a, b, c := GroupNormBackward(x, dy, e.Zeros(2, 2), st, nil, 3, all)
			return []*Tensor{a, b, c}
		}},
		{"gn-gamma", func() []*Tensor {
			a, b, c := GroupNormBackward(x, dy, st, st, e.Zeros(5), 3, all)
			return []*Tensor{a, b, c}
		}},
		{"gn-int-dy", func() []*Tensor {
			a, b, c := GroupNormBackward(x, e.FullInt(1, 2, 6, 5), st, st, nil, 3, all)
			return []*Tensor{a, b, c}
		}},
		{"gn-rank1", func() []*Tensor {
			a, b, c := GroupNormBackward(e.Zeros(6), e.Zeros(6), st, st, nil, 3, all)
			return []*Tensor{a, b, c}
		}},
		{"ln-rstd-shape", func() []*Tensor {
			a, b, c := LayerNormBackward(row, rowDy, rowSt, e.Zeros(5), nil, all)
			return []*Tensor{a, b, c}
		}},
		{"ln-empty-rows", func() []*Tensor {
			a, b, c := LayerNormBackward(e.Zeros(3, 0), e.Zeros(3, 0), e.Zeros(3), e.Zeros(3), nil, all)
			return []*Tensor{a, b, c}
		}},
		{"rms-gamma", func() []*Tensor { a, b := RMSNormBackward(row, rowDy, rowSt, e.Zeros(4), all); return []*Tensor{a, b} }},
		{"rms-scalar", func() []*Tensor {
			a, b := RMSNormBackward(e.Full(1), e.Full(1), rowSt, nil, all)
			return []*Tensor{a, b}
		}},
		{"propagates", func() []*Tensor {
			bad := e.Zeros(2, -1)
			require.Error(t, e.Err())
			a, b := RMSNormBackward(bad, rowDy, rowSt, nil, all)
			return []*Tensor{a, b}
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
	t.Run("unwanted-nil", func(t *testing.T) {
		a, b, c := GroupNormBackward(x, dy, st, st, nil, 4, NormGradGamma)
		require.Nil(t, a)
		require.Nil(t, c)
		require.ErrorIs(t, b.Err(), ErrShape)
		require.ErrorIs(t, e.Err(), ErrShape)
		a, b, c = GroupNormBackward(x, dy, st, st, nil, 3, 0)
		require.Nil(t, a)
		require.Nil(t, b)
		require.Nil(t, c)
		require.NoError(t, e.Err())
	})
}
