package metrics

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"
)

// fidA and fidB are golden.py's FID_A and FID_B (models/perceptual/
// testdata/golden.py): 11 and 9 correlated 5-d samples.
var (
	fidA = [][]float64{
		{0.12, -0.53, 1.70, 0.33, -0.91},
		{0.85, 0.07, 1.10, -0.42, -0.15},
		{-0.36, -1.22, 2.05, 0.61, -1.33},
		{1.41, 0.58, 0.72, -0.77, 0.26},
		{0.03, -0.19, 1.48, 0.12, -0.64},
		{-0.88, -0.95, 2.31, 0.94, -1.02},
		{0.67, 0.36, 0.95, -0.21, 0.08},
		{0.29, -0.71, 1.83, 0.47, -0.58},
		{1.02, 0.21, 1.27, -0.65, -0.37},
		{-0.45, -0.38, 1.62, 0.29, -0.83},
		{0.51, -0.02, 1.05, -0.11, 0.31},
	}
	fidB = [][]float64{
		{0.44, -0.12, 1.21, 0.08, -0.47},
		{-0.21, -0.87, 1.95, 0.71, -0.95},
		{1.17, 0.49, 0.63, -0.58, 0.12},
		{0.36, -0.44, 1.52, 0.22, -0.31},
		{-0.63, -1.05, 2.18, 0.88, -1.21},
		{0.92, 0.15, 0.88, -0.35, -0.06},
		{0.05, -0.61, 1.71, 0.41, -0.72},
		{0.73, 0.32, 1.34, -0.49, 0.19},
		{-0.14, -0.26, 1.44, 0.17, -0.55},
	}
)

// flat32 lays rows out as Add expects them.
func flat32(rows [][]float64) []float32 {
	var out []float32
	for _, r := range rows {
		for _, v := range r {
			out = append(out, float32(v))
		}
	}
	return out
}

func flat64(rows [][]float64) []float64 {
	var out []float64
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

// fidOf computes the FID of two sets given as float64 rows.
func fidOf(t *testing.T, a, b [][]float64) float64 {
	t.Helper()
	f := NewFID(len(a[0]))
	require.NoError(t, f.Real.AddFloat64(flat64(a)))
	require.NoError(t, f.Fake.AddFloat64(flat64(b)))
	d, err := f.Distance()
	require.NoError(t, err)
	return d
}

// TestFIDReference compares with golden.py's reference values: the exact
// distance (50-digit mpmath) and numpy's float64 one the way pytorch-fid
// computes it (Σ√λ of the non-symmetric Σ1Σ2; scipy's sqrtm is not
// installed where the script ran). Tolerance 1e-12 absolute against the
// exact value; numpy's is off by 1.3e-8 for singular covariances, where
// the square roots of its noise eigenvalues add up, so it is only checked
// to 1e-7.
func TestFIDReference(t *testing.T) {
	for _, tc := range []struct {
		name         string
		a, b         [][]float64
		exact, numpy float64
	}{
		{"full rank", fidA, fidB, 0.08081592628566283852, 0.08081592628564938},
		// 3 and 4 samples in 5 dimensions: covariances of rank 2 and 3.
		{"rank deficient", fidA[:3], fidB[:4], 0.46971552228113146974, 0.46971550911792326},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fidOf(t, tc.a, tc.b)
			assert.InDelta(t, tc.exact, got, 1e-12)
			assert.InDelta(t, tc.numpy, got, 1e-7)
			assert.InDelta(t, tc.exact, fidOf(t, tc.b, tc.a), 1e-12, "symmetric")
		})
	}
}

// randRows draws n rows of d values: a random linear map of Gaussian noise
// (correlated features) of rank r, plus offset.
func randRows(rng *rand.Rand, n, d, r int, offset float64) [][]float64 {
	mix := make([]float64, r*d)
	for i := range mix {
		mix[i] = rng.NormFloat64()
	}
	out := make([][]float64, n)
	for i := range out {
		z := make([]float64, r)
		for k := range z {
			z[k] = rng.NormFloat64()
		}
		row := make([]float64, d)
		for j := range row {
			row[j] = offset
			for k := range z {
				row[j] += z[k] * mix[k*d+j]
			}
		}
		out[i] = row
	}
	return out
}

// TestFIDProperties: a set against itself is 0, a shifted copy is ‖Δμ‖²
// (the covariances are equal), for full-rank and singular covariances
// (clamped eigenvalues), within 1e-9 relative to the traces involved.
func TestFIDProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name    string
		n, d, r int
	}{
		{"full rank", 300, 17, 17},
		{"low rank", 300, 17, 4},
		{"fewer samples than dims", 9, 33, 33},
		{"two samples", 2, 5, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := randRows(rng, tc.n, tc.d, tc.r, 0.5)
			s := NewFeatureStats(tc.d)
			require.NoError(t, s.AddFloat64(flat64(a)))
			c, err := s.Cov()
			require.NoError(t, err)
			scale := mat.Trace(c)

			assert.InDelta(t, 0, fidOf(t, a, a), 1e-9*scale, "identical sets")

			shift := make([]float64, tc.d)
			var want float64
			for j := range shift {
				shift[j] = rng.NormFloat64()
				want += shift[j] * shift[j]
			}
			b := make([][]float64, len(a))
			for i, row := range a {
				b[i] = make([]float64, tc.d)
				for j, v := range row {
					b[i][j] = v + shift[j]
				}
			}
			assert.InDelta(t, want, fidOf(t, a, b), 1e-9*(want+scale), "shifted means")
		})
	}
}

// TestFeatureStatsMatchesTwoPass: the running statistics, fed in uneven
// batches and through Merge, equal the two-pass mean and covariance, also
// when the mean is 10⁴ times the spread (where Σx and Σxxᵀ would lose
// eight digits to cancellation). Tolerance 1e-9 relative.
func TestFeatureStatsMatchesTwoPass(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		name    string
		offset  float64
		batches []int
	}{
		{"one batch", 0, []int{41}},
		{"uneven batches", 0, []int{1, 7, 2, 19, 12}},
		{"large mean", 1e4, []int{5, 1, 30, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const d = 6
			n := 0
			for _, b := range tc.batches {
				n += b
			}
			rows := randRows(rng, n, d, d, tc.offset)
			s := NewFeatureStats(d)
			other := NewFeatureStats(d)
			at := 0
			for i, b := range tc.batches {
				dst := s
				if i%2 == 1 {
					dst = other // half the batches go through Merge
				}
				require.NoError(t, dst.AddFloat64(flat64(rows[at:at+b])))
				at += b
			}
			require.NoError(t, s.Merge(other))
			require.Equal(t, n, s.Count())

			mean := make([]float64, d)
			for _, r := range rows {
				for j, v := range r {
					mean[j] += v / float64(n)
				}
			}
			got := s.Mean()
			for j := range mean {
				assert.InDelta(t, mean[j], got[j], 1e-9*math.Max(1, math.Abs(mean[j])), "mean[%d]", j)
			}
			cov, err := s.Cov()
			require.NoError(t, err)
			for i := range d {
				for j := range d {
					var want float64
					for _, r := range rows {
						want += (r[i] - mean[i]) * (r[j] - mean[j])
					}
					want /= float64(n - 1)
					assert.InDelta(t, want, cov.At(i, j), 1e-9*math.Max(1, math.Abs(want)), "cov[%d][%d]", i, j)
				}
			}
		})
	}
}

// eigenRoute is tr((Σ1^½ Σ2 Σ1^½)^½) the textbook way, an independent
// check of the pivoted-Cholesky route: Σ1^½ from an eigendecomposition
// (negative eigenvalues clamped), then the eigenvalues of the product.
func eigenRoute(t *testing.T, s1, s2 *mat.SymDense) float64 {
	t.Helper()
	d := s1.SymmetricDim()
	var es mat.EigenSym
	require.True(t, es.Factorize(s1, true))
	var v mat.Dense
	es.VectorsTo(&v)
	lam := es.Values(nil)
	root := mat.NewSymDense(d, nil)
	for i := range d {
		for j := range d {
			var x float64
			for k := range d {
				x += v.At(i, k) * math.Sqrt(math.Max(lam[k], 0)) * v.At(j, k)
			}
			root.SetSym(i, j, x)
		}
	}
	var a, m mat.Dense
	a.Mul(root, s2)
	m.Mul(&a, root)
	sym := mat.NewSymDense(d, nil)
	for i := range d {
		for j := i; j < d; j++ {
			sym.SetSym(i, j, (m.At(i, j)+m.At(j, i))/2)
		}
	}
	require.True(t, es.Factorize(sym, false))
	var tr float64
	for _, l := range es.Values(nil) {
		tr += math.Sqrt(math.Max(l, 0))
	}
	return tr
}

// TestFrechetMatchesEigenRoute: on wider random data, full rank, singular
// on one side or both, and a zero covariance, FrechetDistance agrees with
// the eigendecomposition route to 1e-9 of the traces (the route's noise
// eigenvalues of a singular covariance add up to ~1e-8·√tr each, so the
// singular cases get 1e-6).
func TestFrechetMatchesEigenRoute(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		name   string
		n1, n2 int
		tol    float64
	}{
		{"both full rank", 200, 150, 1e-9},
		{"first singular", 12, 150, 1e-6},
		{"second singular", 150, 7, 1e-6},
		{"both singular", 9, 14, 1e-6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const d = 41
			stats := func(n int) ([]float64, *mat.SymDense) {
				s := NewFeatureStats(d)
				require.NoError(t, s.AddFloat64(flat64(randRows(rng, n, d, d, rng.NormFloat64()))))
				c, err := s.Cov()
				require.NoError(t, err)
				return s.Mean(), c
			}
			mu1, s1 := stats(tc.n1)
			mu2, s2 := stats(tc.n2)
			var diff float64
			for i := range mu1 {
				diff += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i])
			}
			scale := mat.Trace(s1) + mat.Trace(s2)
			want := diff + scale - 2*eigenRoute(t, s1, s2)
			got, err := FrechetDistance(mu1, s1, mu2, s2)
			require.NoError(t, err)
			assert.InDelta(t, want, got, tc.tol*scale)
		})
	}
	t.Run("constant features", func(t *testing.T) {
		a := [][]float64{{1, 2, 3}, {1, 2, 3}, {1, 2, 3}}
		b := [][]float64{{1, 2, 5}, {1, 2, 5}}
		assert.InDelta(t, 4, fidOf(t, a, b), 1e-12, "zero covariances: only ‖Δμ‖² remains")
		c := [][]float64{{0, 2, 3}, {2, 2, 3}}
		// Σ2 has one non-zero entry, 2 at (0, 0): tr Σ2 = 2, and
		// Σ1^½ Σ2 Σ1^½ = 0.
		assert.InDelta(t, 2, fidOf(t, a, c), 1e-12)
	})
}

// TestFIDFloat32: AddReal/AddFake take device features (float32 rows).
func TestFIDFloat32(t *testing.T) {
	f := NewFID(5)
	require.NoError(t, f.AddReal(flat32(fidA)))
	require.NoError(t, f.AddFake(flat32(fidB)))
	d, err := f.Distance()
	require.NoError(t, err)
	// The rows were rounded to float32: agreement to float32 precision.
	assert.InDelta(t, 0.08081592628564938, d, 1e-6)
}

// TestFIDErrors: misuse is an error that says what is wrong.
func TestFIDErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func() error
		want string
	}{
		{"ragged rows", func() error { return NewFeatureStats(5).Add(make([]float32, 7)) }, "not rows of 5"},
		{"NaN", func() error {
			return NewFeatureStats(2).Add([]float32{1, float32(math.NaN())})
		}, "feature 1 of row 0 is NaN"},
		{"Inf", func() error {
			return NewFeatureStats(2).Add([]float32{1, 2, float32(math.Inf(-1)), 0})
		}, "feature 0 of row 1 is -Inf"},
		{"one vector", func() error {
			f := NewFID(2)
			_ = f.AddReal([]float32{1, 2})
			_ = f.AddFake([]float32{1, 2, 3, 4})
			_, err := f.Distance()
			return err
		}, "at least 2 feature vectors, have 1 (real set)"},
		{"empty", func() error {
			_, err := NewFID(3).Distance()
			return err
		}, "have 0 (real set)"},
		{"merge widths", func() error { return NewFeatureStats(2).Merge(NewFeatureStats(3)) }, "dims 2 and 3 differ"},
		{"distance sizes", func() error {
			_, err := FrechetDistance([]float64{0, 0}, mat.NewSymDense(2, nil), []float64{0}, mat.NewSymDense(2, nil))
			return err
		}, "means 2 and 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestAddEmptyBatch: an empty batch changes nothing.
func TestAddEmptyBatch(t *testing.T) {
	s := NewFeatureStats(3)
	require.NoError(t, s.Add(nil))
	assert.Equal(t, 0, s.Count())
}
