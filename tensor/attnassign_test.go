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

// attnTol is the tolerance of every float result against the float64 twin:
// max error relative to max(1, max |want|) (ref.Close), 1e-5.
const attnTol = 1e-5

// checkAttnAssign compares a GPU result with the twin. An argmax may differ
// only where the twin's logits tie within attnTol (float32 rounding).
func checkAttnAssign(t *testing.T, got AttnAssign, want ref.AttnAssignResult, msg string) {
	t.Helper()
	require.NoError(t, got.Err(), msg)
	idx, err := got.Idx.Int32()
	require.NoError(t, err, msg)
	v := want.Logits.Shape[1]
	for i, g := range idx {
		if int(g) == want.Idx[i] {
			continue
		}
		require.True(t, g >= 0 && int(g) < v, "%s: token %d index %d out of range", msg, i, g)
		m := want.Max.Data[i]
		require.LessOrEqual(t, m-want.Logits.Data[i*v+int(g)], attnTol*math.Max(1, math.Abs(m)),
			"%s: token %d argmax %d, want %d", msg, i, g, want.Idx[i])
	}
	requireClose(t, got.Max, want.Max, attnTol, msg+" Max")
	requireClose(t, got.LSE, want.LSE, attnTol, msg+" LSE")
	requireClose(t, got.Soft, want.Soft, attnTol, msg+" Soft")
	requireClose(t, got.EntMax, want.EntMax, attnTol, msg+" EntMax")
	requireClose(t, got.EntLSE, want.EntLSE, attnTol, msg+" EntLSE")
	requireClose(t, got.EntSum, want.EntSum, attnTol, msg+" EntSum")
}

func TestAttnAssignForward(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(7))
	cases := []struct {
		n, v, d, c  int
		scale, temp float32
		dup         bool // duplicate k rows: exact argmax ties
	}{
		{7, 13, 5, 3, 0.7, 1, false},
		{1, 1, 1, 1, 1, 1, false},
		{33, 129, 8, 4, 0.5, 0.01, false},
		{100, 1000, 32, 16, float32(1 / math.Sqrt(32)), 0.01, false},
		{65, 300, 32, 16, 0.3, 0.01, true},
		{9, 257, 7, 5, 1, 0.5, true},
		{3, 70000, 32, 16, float32(1 / math.Sqrt(32)), 0.01, false}, // V split over slices
		{5, 70000, 32, 16, 1, 0.01, true},
	}
	for _, tc := range cases {
		msg := fmt.Sprintf("N=%d V=%d d=%d C=%d T=%v dup=%v", tc.n, tc.v, tc.d, tc.c, tc.temp, tc.dup)
		qr := randRef(rng, -2, 2, tc.n, tc.d)
		kr := randRef(rng, -2, 2, tc.v, tc.d)
		vr := randRef(rng, -1, 1, tc.v, tc.c)
		if tc.dup {
			// Copy earlier rows over later ones (also across V slices), so
			// most maxima are shared by two codes.
			for j := tc.v / 2; j < tc.v; j++ {
				copy(kr.Data[j*tc.d:(j+1)*tc.d], kr.Data[(j-tc.v/2)*tc.d:])
			}
		}
		want := ref.AttnAssign(qr, kr, vr, float64(tc.scale), float64(tc.temp))
		q, k := upload(e, qr), upload(e, kr)
		got := AttnAssignForward(q, k, upload(e, vr), tc.scale, tc.temp)
		if tc.dup {
			// Ties are exact in float32 too: the index must be the first.
			idx, err := got.Idx.Int32()
			require.NoError(t, err, msg)
			for i, g := range idx {
				require.Less(t, int(g), tc.v-tc.v/2, "%s: token %d took the later duplicate %d", msg, i, g)
			}
		}
		checkAttnAssign(t, got, want, msg)
		mp := AttnAssignMeanProb(q, k, tc.scale, tc.temp, got)
		requireClose(t, mp, ref.AttnAssignMeanProb(want, float64(tc.temp)), attnTol, msg+" MeanProb")
	}
}

// TestAttnAssignMeanProbSplit covers token slices (N/SG tiles beyond one
// invocation's bound) and checks the result is bitwise reproducible.
func TestAttnAssignMeanProbSplit(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(5))
	qr := randRef(rng, -2, 2, 40001, 7)
	kr := randRef(rng, -2, 2, 11, 7)
	vr := randRef(rng, -1, 1, 11, 3)
	want := ref.AttnAssign(qr, kr, vr, 0.5, 0.01)
	q, k := upload(e, qr), upload(e, kr)
	got := AttnAssignForward(q, k, upload(e, vr), 0.5, 0.01)
	checkAttnAssign(t, got, want, "split")
	a := AttnAssignMeanProb(q, k, 0.5, 0.01, got)
	requireClose(t, a, ref.AttnAssignMeanProb(want, 0.01), attnTol, "MeanProb")
	b := AttnAssignMeanProb(q, k, 0.5, 0.01, got)
	av, err := a.Float32()
	require.NoError(t, err)
	bv, err := b.Float32()
	require.NoError(t, err)
	require.Equal(t, av, bv, "MeanProb must be deterministic")
}

// TestAttnAssignPeaked checks stability at T = 0.01 with large logits: the
// tempered logits reach ~1e4, and every statistic must stay finite.
func TestAttnAssignPeaked(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(3))
	qr := randRef(rng, -3, 3, 17, 32)
	kr := randRef(rng, -3, 3, 1031, 32)
	vr := randRef(rng, -1, 1, 1031, 16)
	want := ref.AttnAssign(qr, kr, vr, 0.5, 0.01)
	q, k := upload(e, qr), upload(e, kr)
	got := AttnAssignForward(q, k, upload(e, vr), 0.5, 0.01)
	checkAttnAssign(t, got, want, "peaked")
	requireClose(t, AttnAssignMeanProb(q, k, 0.5, 0.01, got), ref.AttnAssignMeanProb(want, 0.01), attnTol, "peaked MeanProb")
	for _, x := range []*Tensor{got.EntLSE, got.EntSum, got.LSE} {
		v, err := x.Float32()
		require.NoError(t, err)
		for _, f := range v {
			require.False(t, math.IsInf(float64(f), 0) || math.IsNaN(float64(f)))
		}
	}
}

func TestAttnAssignEmptyAndErrors(t *testing.T) {
	e := testEngine(t)
	k, val := e.Zeros(5, 4), e.Zeros(5, 3)
	r := AttnAssignForward(e.Zeros(0, 4), k, val, 1, 1)
	require.NoError(t, r.Err())
	require.Equal(t, []int{0, 3}, r.Soft.Shape())
	require.Equal(t, []int{0}, r.Idx.Shape())
	requireClose(t, AttnAssignMeanProb(e.Zeros(0, 4), k, 1, 1, r), ref.New(5), 0)

	bad := []struct {
		name    string
		q, k, v *Tensor
		temp    float32
	}{
		{"d mismatch", e.Zeros(2, 3), k, val, 1},
		{"V mismatch", e.Zeros(2, 4), k, e.Zeros(6, 3), 1},
		{"rank", e.Zeros(2, 4, 1), k, val, 1},
		{"empty codebook", e.Zeros(2, 4), e.Zeros(0, 4), e.Zeros(0, 3), 1},
		{"zero temp", e.Zeros(2, 4), k, val, 0},
		{"int q", e.FullInt(0, 2, 4), k, val, 1},
	}
	for _, b := range bad {
		r := AttnAssignForward(b.q, b.k, b.v, 1, b.temp)
		require.ErrorIs(t, r.Err(), ErrShape, b.name)
		require.Error(t, r.Soft.Err(), b.name)
		// Sticky: a later op on the result fails too.
		require.Error(t, Matmul(r.Soft, e.Zeros(3, 2), false, false).Err(), b.name)
	}
	require.ErrorIs(t, AttnAssignMeanProb(e.Zeros(2, 3), k, 1, 1, AttnAssignForward(e.Zeros(2, 4), k, val, 1, 1)).Err(), ErrShape)
	require.ErrorIs(t, e.Sync(), ErrShape) // Sync also clears the engine's error
}

// BenchmarkAttnAssign measures the FLUX-sized level (8 images × 32×32
// tokens against V = 65,536, d = 32, C = 16) and reports the logits bytes
// that materialising them would take against the peak device memory here.
func BenchmarkAttnAssign(b *testing.B) {
	const n, v, d, c = 8 * 32 * 32, 65536, 32, 16
	dev, err := vk.Default()
	if err != nil {
		b.Skipf("no Vulkan device: %v", err)
	}
	e := New(dev)
	s := e.Scope()
	defer s.Close()
	q := e.Normal(1, 0, 1, n, d)
	k := e.Normal(2, 0, 1, v, d)
	val := e.Normal(3, 0, 1, v, c)
	scale := float32(1 / math.Sqrt(d))
	AttnAssignForward(q, k, val, scale, 0.01).Release()
	if err := e.Sync(); err != nil {
		b.Fatal(err)
	}
	dev.ResetPeak()
	base := dev.Memory().Live
	b.ResetTimer()
	for range b.N {
		r := AttnAssignForward(q, k, val, scale, 0.01)
		if err := e.Sync(); err != nil {
			b.Fatal(err)
		}
		r.Release()
	}
	b.StopTimer()
	mem := dev.Memory()
	b.ReportMetric(float64(n)*float64(v)*4/1e6, "logits_MB")
	b.ReportMetric(float64(mem.Peak)/1e6, "peak_MB")
	b.ReportMetric(float64(mem.Peak-base)/1e6, "extra_MB")
	b.ReportMetric(float64(n)*float64(v)*float64(2*d+2*c)/1e9/(b.Elapsed().Seconds()/float64(b.N)), "GFLOP/s")
}

// BenchmarkAttnAssignMeanProb measures P̄ for the same FLUX-sized level.
func BenchmarkAttnAssignMeanProb(b *testing.B) {
	const n, v, d, c = 8 * 32 * 32, 65536, 32, 16
	dev, err := vk.Default()
	if err != nil {
		b.Skipf("no Vulkan device: %v", err)
	}
	e := New(dev)
	s := e.Scope()
	defer s.Close()
	q := e.Normal(1, 0, 1, n, d)
	k := e.Normal(2, 0, 1, v, d)
	val := e.Normal(3, 0, 1, v, c)
	scale := float32(1 / math.Sqrt(d))
	st := AttnAssignForward(q, k, val, scale, 0.01)
	AttnAssignMeanProb(q, k, scale, 0.01, st).Release()
	if err := e.Sync(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		p := AttnAssignMeanProb(q, k, scale, 0.01, st)
		if err := e.Sync(); err != nil {
			b.Fatal(err)
		}
		p.Release()
	}
	b.StopTimer()
	b.ReportMetric(float64(n)*float64(v)*float64(2*d)/1e9/(b.Elapsed().Seconds()/float64(b.N)), "GFLOP/s")
}
