package metrics

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// FeatureStats accumulates the mean and covariance of feature vectors in
// float64, batch by batch, without keeping the features: each batch's own
// mean and co-moment matrix Σ(x−x̄)(x−x̄)ᵀ are merged into the running ones
// with Chan et al.'s pairwise update, which stays accurate when the mean
// is large against the spread (summing x and xxᵀ would cancel).
type FeatureStats struct {
	dim  int
	n    int
	mean []float64
	m2   *mat.SymDense // Σ (x−μ)(x−μ)ᵀ over the n vectors seen
}

// NewFeatureStats returns empty statistics of dim-wide features.
func NewFeatureStats(dim int) *FeatureStats {
	if dim <= 0 {
		panic(fmt.Sprintf("metrics: NewFeatureStats: dim %d must be positive", dim))
	}
	return &FeatureStats{dim: dim, mean: make([]float64, dim), m2: mat.NewSymDense(dim, nil)}
}

// Dim is the feature width.
func (s *FeatureStats) Dim() int { return s.dim }

// Count is how many feature vectors have been added.
func (s *FeatureStats) Count() int { return s.n }

// Add adds the feature vectors in feats, row after row of Dim values (a
// [B, Dim] batch as read from the device).
func (s *FeatureStats) Add(feats []float32) error {
	f := make([]float64, len(feats))
	for i, v := range feats {
		f[i] = float64(v)
	}
	return s.AddFloat64(f)
}

// AddFloat64 is Add for float64 features.
func (s *FeatureStats) AddFloat64(feats []float64) error {
	if len(feats)%s.dim != 0 {
		return fmt.Errorf("metrics: FeatureStats: %d values are not rows of %d", len(feats), s.dim)
	}
	rows := len(feats) / s.dim
	if rows == 0 {
		return nil
	}
	for i, v := range feats {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("metrics: FeatureStats: feature %d of row %d is %g", i%s.dim, i/s.dim, v)
		}
	}
	mean := make([]float64, s.dim)
	for r := range rows {
		for j, v := range feats[r*s.dim : (r+1)*s.dim] {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(rows)
	}
	centred := mat.NewDense(rows, s.dim, nil)
	for r := range rows {
		row := centred.RawRowView(r)
		for j, v := range feats[r*s.dim : (r+1)*s.dim] {
			row[j] = v - mean[j]
		}
	}
	m2 := mat.NewSymDense(s.dim, nil)
	m2.SymOuterK(1, centred.T()) // Σ over the batch of (x−x̄)(x−x̄)ᵀ
	s.merge(rows, mean, m2)
	return nil
}

// merge folds in n vectors with mean and co-moment m2.
func (s *FeatureStats) merge(n int, mean []float64, m2 *mat.SymDense) {
	total := s.n + n
	delta := make([]float64, s.dim)
	for j := range delta {
		delta[j] = mean[j] - s.mean[j]
	}
	w := float64(s.n) * float64(n) / float64(total)
	s.m2.AddSym(s.m2, m2)
	s.m2.SymRankOne(s.m2, w, mat.NewVecDense(s.dim, delta))
	for j := range s.mean {
		s.mean[j] += delta[j] * float64(n) / float64(total)
	}
	s.n = total
}

// Merge adds o's vectors to s (statistics gathered in parallel).
func (s *FeatureStats) Merge(o *FeatureStats) error {
	if o.dim != s.dim {
		return fmt.Errorf("metrics: FeatureStats.Merge: dims %d and %d differ", s.dim, o.dim)
	}
	if o.n == 0 {
		return nil
	}
	s.merge(o.n, o.mean, o.m2)
	return nil
}

// Mean returns a copy of the mean feature vector.
func (s *FeatureStats) Mean() []float64 { return append([]float64(nil), s.mean...) }

// Cov returns the sample covariance (divided by n−1, as numpy.cov and
// pytorch-fid); it needs at least two vectors.
func (s *FeatureStats) Cov() (*mat.SymDense, error) {
	if s.n < 2 {
		return nil, fmt.Errorf("metrics: FeatureStats: a covariance needs at least 2 feature vectors, have %d", s.n)
	}
	c := mat.NewSymDense(s.dim, nil)
	c.ScaleSym(1/float64(s.n-1), s.m2)
	return c, nil
}

// FrechetDistance is the Fréchet distance between the Gaussians N(mu1,
// sigma1) and N(mu2, sigma2):
//
//	‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2 (Σ1^½ Σ2 Σ1^½)^½)
//
// computed in a symmetric form (not √(Σ1 Σ2) of a non-symmetric product,
// as scipy's sqrtm in pytorch-fid): factor Σ1 = A Aᵀ, then Σ1^½ Σ2 Σ1^½
// has the non-zero eigenvalues of Aᵀ Σ2 A, a symmetric positive
// semi-definite matrix, and the trace term is the sum of the square roots
// of those. A is a pivoted Cholesky factor that stops at the numerical
// rank, so a singular covariance (fewer vectors than dimensions) is
// handled, its null space (whose eigenvalues would come out as ±1e-16
// noise, and their square roots as 1e-8 errors) left out, and the work
// shrinks with the rank; the covariance of lower rank is the one factored
// (the trace term is symmetric in Σ1, Σ2). Eigenvalues that rounding
// makes negative are taken as zero, and so is such a distance. The cost is
// a few d³ flops: ~20 s on two busy cores for Inception's d = 2048.
func FrechetDistance(mu1 []float64, sigma1 mat.Symmetric, mu2 []float64, sigma2 mat.Symmetric) (float64, error) {
	d := len(mu1)
	if d == 0 || len(mu2) != d || sigma1.SymmetricDim() != d || sigma2.SymmetricDim() != d {
		return 0, fmt.Errorf("metrics: FrechetDistance: sizes differ: means %d and %d, covariances %d and %d",
			len(mu1), len(mu2), sigma1.SymmetricDim(), sigma2.SymmetricDim())
	}
	var diff float64
	for i := range mu1 {
		diff += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i])
	}
	a, piv := lowRankFactor(sigma1)
	other := sigma2
	if a2, piv2 := lowRankFactor(sigma2); a2.RawMatrix().Rows < a.RawMatrix().Rows {
		a, piv, other = a2, piv2, sigma1
	}
	trSqrt, err := traceSqrt(a, piv, other)
	if err != nil {
		return 0, err
	}
	dist := diff + mat.Trace(sigma1) + mat.Trace(sigma2) - 2*trSqrt
	return max(dist, 0), nil
}

// lowRankFactor returns the pivoted Cholesky factor of the positive
// semi-definite s, Pᵀ S P = Uᵀ U, as the r×d matrix of U's first r rows
// (r the numerical rank at LAPACK's default tolerance d·ε·max S_ii; the
// other rows are rounding noise) and the pivots (P[piv[k], k] = 1). A rank
// of zero gives a 0×d matrix (nil data).
func lowRankFactor(s mat.Symmetric) (*mat.Dense, []int) {
	d := s.SymmetricDim()
	var pc mat.PivotedCholesky
	pc.Factorize(s, -1)
	r := pc.Rank()
	piv := pc.ColumnPivots(nil)
	if r == 0 {
		return &mat.Dense{}, piv
	}
	u := pc.RawU().(mat.RawTriangular).RawTriangular()
	ur := mat.NewDense(r, d, nil)
	for i := range r {
		copy(ur.RawRowView(i)[i:], u.Data[i*u.Stride+i:i*u.Stride+d])
	}
	return ur, piv
}

// traceSqrt is tr((Aᵀ Pᵀ S P A)^½) for the factor a (r×d) and pivots of
// lowRankFactor: Σ√λ over the eigenvalues of the r×r matrix
// U_r (Pᵀ S P) U_rᵀ.
func traceSqrt(ur *mat.Dense, piv []int, s mat.Symmetric) (float64, error) {
	if ur.IsEmpty() {
		return 0, nil
	}
	r, d := ur.Dims()
	sp := mat.NewSymDense(d, nil)
	for i := range d {
		for j := i; j < d; j++ {
			sp.SetSym(i, j, s.At(piv[i], piv[j]))
		}
	}
	var t, m mat.Dense
	t.Mul(sp, ur.T())
	m.Mul(ur, &t)
	sym := mat.NewSymDense(r, nil)
	for i := range r {
		for j := i; j < r; j++ {
			sym.SetSym(i, j, (m.At(i, j)+m.At(j, i))/2)
		}
	}
	var es mat.EigenSym
	if !es.Factorize(sym, false) {
		return 0, errors.New("metrics: FrechetDistance: the eigendecomposition of Σ1^½ Σ2 Σ1^½ did not converge")
	}
	var tr float64
	for _, l := range es.Values(nil) {
		tr += math.Sqrt(max(l, 0))
	}
	return tr, nil
}

// FID accumulates the features of two image sets (real images and
// generated or reconstructed ones) and gives the Fréchet distance between
// their Gaussian fits: the Fréchet Inception Distance when the features are
// Inception-v3 pool3's.
type FID struct {
	Real, Fake *FeatureStats
}

// NewFID returns an empty FID over dim-wide features.
func NewFID(dim int) *FID {
	return &FID{Real: NewFeatureStats(dim), Fake: NewFeatureStats(dim)}
}

// AddReal adds a batch of real images' features (rows of Dim values).
func (f *FID) AddReal(feats []float32) error { return f.Real.Add(feats) }

// AddFake adds a batch of generated images' features (rows of Dim values).
func (f *FID) AddFake(feats []float32) error { return f.Fake.Add(feats) }

// Distance is the Fréchet distance between the two sets' statistics; each
// needs at least two vectors.
func (f *FID) Distance() (float64, error) {
	if f.Real.dim != f.Fake.dim {
		return 0, fmt.Errorf("metrics: FID: feature widths %d and %d differ", f.Real.dim, f.Fake.dim)
	}
	c1, err := f.Real.Cov()
	if err != nil {
		return 0, fmt.Errorf("%w (real set)", err)
	}
	c2, err := f.Fake.Cov()
	if err != nil {
		return 0, fmt.Errorf("%w (generated set)", err)
	}
	return FrechetDistance(f.Real.mean, c1, f.Fake.mean, c2)
}
