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

// Tolerances of the GPU backward against the float64 twin, in the sense of
// ref.Close (max error relative to max(1, max |want|)). The soft path sees
// float32 rounding only (~1e-7 measured). The entropy path recomputes
// log P = logits/T − EntLSE in float32, so it inherits the forward's
// ~1e-7·|logits|/T error in the tempered logits (and in H = EntLSE −
// EntSum); its gradients are compared within 3e-6/T (measured: up to
// 3.2e-5 at T = 0.05, where the token and codebook terms nearly cancel).
const (
	attnSoftTol  = 1e-6
	attnValueTol = 2e-6
)

func attnEntropyTol(temp float32) float64 { return 3e-6 / float64(temp) }

// attnDot is Σ a·b.
func attnDot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// requireFD checks grad against central differences of f over x's
// elements (float64, h = 1e-6).
func attnRequireFD(t *testing.T, f func() float64, x, grad *ref.Tensor, msg string) {
	t.Helper()
	const h = 1e-6
	for j := range x.Data {
		orig := x.Data[j]
		x.Data[j] = orig + h
		fp := f()
		x.Data[j] = orig - h
		fm := f()
		x.Data[j] = orig
		num := (fp - fm) / (2 * h)
		require.InDelta(t, num, grad.Data[j], 1e-6*math.Max(1, math.Abs(num)), "%s: element %d", msg, j)
	}
}

// TestAttnAssignGradTwinFD checks the float64 twins' VJPs against central
// finite differences: the soft path against Σ dy·Soft (the value of the
// straight-through path is piecewise constant, its gradient is that of the
// soft surrogate), the hard path against Σ dy·val[idx], and the entropy
// loss at T = 0.5 and 0.05. It also checks the twin entropy against the
// forward twin's statistics.
func TestAttnAssignGradTwinFD(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	for _, tc := range []struct {
		n, v, d, c  int
		scale, temp float64
	}{
		{5, 7, 3, 2, 0.9, 0.5},
		{4, 9, 4, 3, 0.7, 0.05},
		{6, 5, 2, 1, 1.3, 0.5},
		{3, 11, 5, 4, 1, 0.05},
	} {
		msg := fmt.Sprintf("N=%d V=%d d=%d C=%d T=%v", tc.n, tc.v, tc.d, tc.c, tc.temp)
		q, k := randRef(rng, -1.5, 1.5, tc.n, tc.d), randRef(rng, -1.5, 1.5, tc.v, tc.d)
		val, dy := randRef(rng, -1, 1, tc.v, tc.c), randRef(rng, -1, 1, tc.n, tc.c)

		soft := func() float64 { return attnDot(ref.AttnAssign(q, k, val, tc.scale, 1).Soft.Data, dy.Data) }
		dq, dk := ref.AttnAssignSoftVJP(q, k, val, tc.scale, dy)
		attnRequireFD(t, soft, q, dq, msg+" soft dq")
		attnRequireFD(t, soft, k, dk, msg+" soft dk")

		r := ref.AttnAssign(q, k, val, tc.scale, tc.temp)
		hard := func() float64 {
			s := 0.0
			for i, j := range r.Idx {
				s += attnDot(val.Data[j*tc.c:(j+1)*tc.c], dy.Data[i*tc.c:(i+1)*tc.c])
			}
			return s
		}
		attnRequireFD(t, hard, val, ref.AttnAssignHardVJP(r.Idx, tc.v, dy), msg+" hard dv")

		const up = 0.7
		ent := func() float64 { return up * ref.AttnAssignEntropy(q, k, tc.scale, tc.temp) }
		dq, dk = ref.AttnAssignEntropyVJP(q, k, tc.scale, tc.temp, up)
		attnRequireFD(t, ent, q, dq, msg+" entropy dq")
		attnRequireFD(t, ent, k, dk, msg+" entropy dk")

		// The loss from the forward's statistics, as the GPU computes it.
		pbar := ref.AttnAssignMeanProb(r, tc.temp)
		want := 0.0
		for i := range tc.n {
			want += (r.EntLSE.Data[i] - r.EntSum.Data[i]) / float64(tc.n)
		}
		for _, p := range pbar.Data {
			want += p * math.Log(p+1e-5)
		}
		require.InDelta(t, want, ref.AttnAssignEntropy(q, k, tc.scale, tc.temp), 1e-12, msg)
	}
	require.Equal(t, 0.0, ref.AttnAssignEntropy(ref.New(0, 3), ref.New(4, 3), 1, 0.5))
}

// attnGradCase is one shape of the GPU-vs-twin backward checks.
type attnGradCase struct {
	n, v, d, c, tile int
	scale, temp      float32
}

func (tc attnGradCase) String() string {
	return fmt.Sprintf("N=%d V=%d d=%d C=%d tile=%d T=%v", tc.n, tc.v, tc.d, tc.c, tc.tile, tc.temp)
}

// checkAttnBackward runs both backward passes on random inputs and
// compares them, and the entropy value, with the twin.
func checkAttnBackward(t *testing.T, e *Engine, rng *rand.Rand, tc attnGradCase) {
	t.Helper()
	msg := tc.String()
	qr, kr := randRef(rng, -1.5, 1.5, tc.n, tc.d), randRef(rng, -1.5, 1.5, tc.v, tc.d)
	vr, dyr := randRef(rng, -1, 1, tc.v, tc.c), randRef(rng, -1, 1, tc.n, tc.c)
	const up = 1.3
	q, k, val, dy := upload(e, qr), upload(e, kr), upload(e, vr), upload(e, dyr)
	o := AttnBackwardOptions{TileCodes: tc.tile}
	s, temp := float64(tc.scale), float64(tc.temp)

	fwd := AttnAssignForward(q, k, val, tc.scale, tc.temp)
	pbar := AttnAssignMeanProb(q, k, tc.scale, tc.temp, fwd)
	dq, dk := AttnAssignSoftBackward(q, k, val, fwd.LSE, fwd.Soft, dy, tc.scale, o)
	wq, wk := ref.AttnAssignSoftVJP(qr, kr, vr, s, dyr)
	requireClose(t, dq, wq, attnSoftTol, msg+" soft dq")
	requireClose(t, dk, wk, attnSoftTol, msg+" soft dk")

	ent := AttnAssignEntropy(fwd.EntLSE, fwd.EntSum, pbar)
	requireClose(t, ent, ref.FromSlice([]int{}, []float64{ref.AttnAssignEntropy(qr, kr, s, temp)}), attnValueTol, msg+" entropy")
	g := e.Full(up)
	dq, dk = AttnAssignEntropyBackward(q, k, fwd.EntLSE, fwd.EntSum, pbar, g, tc.scale, tc.temp, o)
	wq, wk = ref.AttnAssignEntropyVJP(qr, kr, s, temp, up)
	requireClose(t, dq, wq, attnEntropyTol(tc.temp), msg+" entropy dq")
	requireClose(t, dk, wk, attnEntropyTol(tc.temp), msg+" entropy dk")
	fwd.Release()
}

// TestAttnAssignBackward compares the tiled backward passes with the twin
// on odd shapes, with tiles forced small (several tiles and a ragged last
// one, tiles that are not multiples of 4) and chosen automatically.
func TestAttnAssignBackward(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(17))
	for _, tc := range []attnGradCase{
		{7, 5, 3, 1, 2, 0.9, 0.5},
		{7, 5, 3, 1, 0, 0.9, 0.05},
		{33, 65, 8, 4, 16, 0.6, 0.5},
		{33, 65, 8, 4, 7, 0.6, 0.05},
		{129, 300, 32, 16, 64, float32(1 / math.Sqrt(32)), 0.5},
		{129, 300, 32, 16, 37, float32(1 / math.Sqrt(32)), 0.05},
		{129, 300, 32, 16, 0, float32(1 / math.Sqrt(32)), 0.05},
		{33, 300, 3, 16, 300, 1, 0.05}, // one tile
		{1, 65, 8, 1, 9, 1, 0.5},
	} {
		checkAttnBackward(t, e, rng, tc)
	}
}

// TestAttnAssignBackwardSkip checks that SkipQ and SkipK leave out one
// gradient and do not change the other.
func TestAttnAssignBackwardSkip(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(5))
	q, k := upload(e, randRef(rng, -1, 1, 9, 5)), upload(e, randRef(rng, -1, 1, 21, 5))
	val, dy := upload(e, randRef(rng, -1, 1, 21, 3)), upload(e, randRef(rng, -1, 1, 9, 3))
	fwd := AttnAssignForward(q, k, val, 0.8, 0.1)
	defer fwd.Release()
	pbar := AttnAssignMeanProb(q, k, 0.8, 0.1, fwd)
	g := e.Full(1)
	o := AttnBackwardOptions{TileCodes: 8}
	soft := func(o AttnBackwardOptions) (a, b *Tensor) {
		return AttnAssignSoftBackward(q, k, val, fwd.LSE, fwd.Soft, dy, 0.8, o)
	}
	ent := func(o AttnBackwardOptions) (a, b *Tensor) {
		return AttnAssignEntropyBackward(q, k, fwd.EntLSE, fwd.EntSum, pbar, g, 0.8, 0.1, o)
	}
	for name, f := range map[string]func(AttnBackwardOptions) (a, b *Tensor){"soft": soft, "entropy": ent} {
		dq, dk := f(o)
		wq, wk := attnValues(t, dq), attnValues(t, dk)
		o1, o2 := o, o
		o1.SkipQ, o2.SkipK = true, true
		nq, dk1 := f(o1)
		dq2, nk := f(o2)
		require.Nil(t, nq, name)
		require.Nil(t, nk, name)
		require.Equal(t, wk, attnValues(t, dk1), name)
		require.Equal(t, wq, attnValues(t, dq2), name)
	}
}

func attnValues(t *testing.T, x *Tensor) []float32 {
	t.Helper()
	v, err := x.Float32()
	require.NoError(t, err)
	return v
}

// TestAttnAssignBackwardEmptyAndErrors: no tokens give zero gradients and a
// zero loss; bad shapes are sticky shape errors.
func TestAttnAssignBackwardEmptyAndErrors(t *testing.T) {
	e := testEngine(t)
	q, k, val := e.Zeros(0, 4), e.Full(0.5, 6, 4), e.Full(1, 6, 3)
	fwd := AttnAssignForward(q, k, val, 1, 0.1)
	pbar := AttnAssignMeanProb(q, k, 1, 0.1, fwd)
	dq, dk := AttnAssignSoftBackward(q, k, val, fwd.LSE, fwd.Soft, e.Zeros(0, 3), 1, AttnBackwardOptions{})
	require.Equal(t, []int{0, 4}, dq.Shape())
	requireClose(t, dk, ref.New(6, 4), 0)
	dq, dk = AttnAssignEntropyBackward(q, k, fwd.EntLSE, fwd.EntSum, pbar, e.Full(1), 1, 0.1, AttnBackwardOptions{})
	require.Equal(t, []int{0, 4}, dq.Shape())
	requireClose(t, dk, ref.New(6, 4), 0)
	requireClose(t, AttnAssignEntropy(fwd.EntLSE, fwd.EntSum, pbar), ref.New(), 0)
	fwd.Release()

	q = e.Full(0.1, 5, 4)
	fwd = AttnAssignForward(q, k, val, 1, 0.1)
	defer fwd.Release()
	pbar = AttnAssignMeanProb(q, k, 1, 0.1, fwd)
	dy := e.Zeros(5, 3)
	bad := []struct {
		name   string
		dq, dk *Tensor
	}{}
	add := func(name string, dq, dk *Tensor) {
		bad = append(bad, struct {
			name   string
			dq, dk *Tensor
		}{name, dq, dk})
	}
	o := AttnBackwardOptions{}
	a, b := AttnAssignSoftBackward(q, e.Zeros(6, 3), val, fwd.LSE, fwd.Soft, dy, 1, o)
	add("soft d mismatch", a, b)
	a, b = AttnAssignSoftBackward(q, k, e.Zeros(7, 3), fwd.LSE, fwd.Soft, dy, 1, o)
	add("soft V mismatch", a, b)
	a, b = AttnAssignSoftBackward(q, k, val, fwd.LSE, fwd.Soft, e.Zeros(5, 2), 1, o)
	add("soft dy shape", a, b)
	a, b = AttnAssignSoftBackward(q, k, val, fwd.Soft, fwd.Soft, dy, 1, o)
	add("soft lse shape", a, b)
	a, b = AttnAssignSoftBackward(q, k, val, fwd.LSE, fwd.Soft, dy, 1, AttnBackwardOptions{TileCodes: -1})
	add("soft tile", a, b)
	a, b = AttnAssignEntropyBackward(q, k, fwd.EntLSE, fwd.EntSum, pbar, e.Zeros(2), 1, 0.1, o)
	add("entropy dy", a, b)
	a, b = AttnAssignEntropyBackward(q, k, fwd.EntLSE, fwd.EntSum, e.Zeros(5), e.Zeros(), 1, 0.1, o)
	add("entropy meanProb", a, b)
	a, b = AttnAssignEntropyBackward(q, k, fwd.EntLSE, fwd.EntSum, pbar, e.Zeros(), 1, 0, o)
	add("entropy temp", a, b)
	a, b = AttnAssignEntropyBackward(e.FullInt(0, 5, 4), k, fwd.EntLSE, fwd.EntSum, pbar, e.Zeros(), 1, 0.1, o)
	add("entropy int q", a, b)
	add("entropy value", AttnAssignEntropy(fwd.EntLSE, fwd.Soft, pbar), nil)
	for _, c := range bad {
		require.ErrorIs(t, c.dq.Err(), ErrShape, c.name)
		if c.dk != nil {
			require.ErrorIs(t, c.dk.Err(), ErrShape, c.name)
		}
		// Sticky: later ops on the result fail too.
		require.Error(t, MulScalar(c.dq, 2).Err(), c.name)
	}
	require.ErrorIs(t, e.Sync(), ErrShape) // also clears the engine's error
}

// TestAttnAssignBackwardMemory checks, with automatic tiles, that the
// backward passes stay correct and that their temporaries (device memory
// beyond inputs and results) peak at under a quarter of the N×V logits: a
// codebook of 70,000 codes, and N = 2048 against V = 4096.
func TestAttnAssignBackwardMemory(t *testing.T) {
	e := testEngine(t)
	dev := e.Device()
	rng := rand.New(rand.NewSource(23))
	for _, tc := range []attnGradCase{
		{129, 70000, 8, 4, 0, 0.35, 0.05},
		{2048, 4096, 32, 16, 0, float32(1 / math.Sqrt(32)), 0.05},
	} {
		msg := tc.String()
		s := e.Scope()
		qr, kr := randRef(rng, -1.5, 1.5, tc.n, tc.d), randRef(rng, -1.5, 1.5, tc.v, tc.d)
		vr, dyr := randRef(rng, -1, 1, tc.v, tc.c), randRef(rng, -1, 1, tc.n, tc.c)
		q, k, val, dy := upload(e, qr), upload(e, kr), upload(e, vr), upload(e, dyr)
		fwd := AttnAssignForward(q, k, val, tc.scale, tc.temp)
		pbar := AttnAssignMeanProb(q, k, tc.scale, tc.temp, fwd)
		g := e.Full(1)
		logits := uint64(4 * tc.n * tc.v)
		results := uint64(4 * (tc.n + tc.v) * tc.d)
		// Peak bytes a pass holds beyond its inputs and its results.
		peak := func(name string, pass func() (dq, dk *Tensor)) (dq, dk *Tensor) {
			require.NoError(t, e.Sync())
			dev.ResetPeak()
			base := dev.Memory().Live
			dq, dk = pass()
			require.NoError(t, e.Sync())
			extra := dev.Memory().Peak - base - results
			t.Logf("%s %s: tile %d, backward temporaries peak at %.2f MB; N×V logits: %.1f MB",
				msg, name, e.AttnAssignTile(tc.n, tc.v), float64(extra)/1e6, float64(logits)/1e6)
			require.Less(t, extra, logits/4, "%s %s", msg, name)
			return dq, dk
		}
		dq, dk := peak("soft", func() (dq, dk *Tensor) {
			return AttnAssignSoftBackward(q, k, val, fwd.LSE, fwd.Soft, dy, tc.scale, AttnBackwardOptions{})
		})
		dqE, dkE := peak("entropy", func() (dq, dk *Tensor) {
			return AttnAssignEntropyBackward(q, k, fwd.EntLSE, fwd.EntSum, pbar, g, tc.scale, tc.temp, AttnBackwardOptions{})
		})

		s64, t64 := float64(tc.scale), float64(tc.temp)
		wq, wk := ref.AttnAssignSoftVJP(qr, kr, vr, s64, dyr)
		requireClose(t, dq, wq, attnSoftTol, msg+" soft dq")
		requireClose(t, dk, wk, attnSoftTol, msg+" soft dk")
		wq, wk = ref.AttnAssignEntropyVJP(qr, kr, s64, t64, 1)
		requireClose(t, dqE, wq, attnEntropyTol(tc.temp), msg+" entropy dq")
		requireClose(t, dkE, wk, attnEntropyTol(tc.temp), msg+" entropy dk")
		fwd.Release()
		s.Close()
	}
}

// BenchmarkAttnAssignBackward measures both backward passes for the
// FLUX-sized level (8 images × 32×32 tokens, V = 65,536, d = 32, C = 16)
// with automatic tiles, and reports each pass's seconds, the peak device
// memory and the bytes the N×V logits would take.
func BenchmarkAttnAssignBackward(b *testing.B) {
	const n, v, d, c = 8 * 32 * 32, 65536, 32, 16
	dev, err := vk.Default()
	if err != nil {
		b.Skipf("no Vulkan device: %v", err)
	}
	e := New(dev)
	s := e.Scope()
	defer s.Close()
	// Unit-RMS rows, as the quantizer's RMSNorm gives.
	q := e.Normal(1, 0, 1, n, d)
	k := e.Normal(2, 0, 1, v, d)
	val := e.Normal(3, 0, 1, v, c)
	dy := e.Normal(4, 0, 1e-3, n, c)
	g := e.Full(0.05)
	scale, temp := float32(1/math.Sqrt(d)), float32(0.01)
	fwd := AttnAssignForward(q, k, val, scale, temp)
	pbar := AttnAssignMeanProb(q, k, scale, temp, fwd)
	if err := e.Sync(); err != nil {
		b.Fatal(err)
	}
	dev.ResetPeak()
	base := dev.Memory().Live
	var softSec, entSec float64
	b.ResetTimer()
	for range b.N {
		t0 := b.Elapsed()
		dq, dk := AttnAssignSoftBackward(q, k, val, fwd.LSE, fwd.Soft, dy, scale, AttnBackwardOptions{})
		if err := e.Sync(); err != nil {
			b.Fatal(err)
		}
		t1 := b.Elapsed()
		dqE, dkE := AttnAssignEntropyBackward(q, k, fwd.EntLSE, fwd.EntSum, pbar, g, scale, temp, AttnBackwardOptions{})
		if err := e.Sync(); err != nil {
			b.Fatal(err)
		}
		softSec += (t1 - t0).Seconds()
		entSec += (b.Elapsed() - t1).Seconds()
		attnRelease(dq, dk, dqE, dkE)
	}
	b.StopTimer()
	mem := dev.Memory()
	b.ReportMetric(softSec/float64(b.N), "soft_s")
	b.ReportMetric(entSec/float64(b.N), "entropy_s")
	b.ReportMetric(float64(n)*float64(v)*4/1e6, "logits_MB")
	b.ReportMetric(float64(mem.Peak)/1e6, "peak_MB")
	b.ReportMetric(float64(mem.Peak-base)/1e6, "extra_MB")
	b.ReportMetric(float64(e.AttnAssignTile(n, v)), "tile")
}
