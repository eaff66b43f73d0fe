package coda

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/internal/testdev"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/models/quant"
	"github.com/tessera-ml/tessera/models/safetensors"
	"github.com/tessera-ml/tessera/models/vae"
)

func testTape(t *testing.T) *autograd.Tape {
	return autograd.NewTape(testdev.Engine(t))
}

// marLike is the architecture of testdata/release_vae.pth
// (tools/golden/coda_release_fixture.py).
func marLike() vae.Config {
	return vae.Config{Resolution: 32, InChannels: 3, OutChannels: 3, Ch: 32, ChMult: []int{1, 2},
		NumResBlocks: 1, AttnResolutions: []int{16}, ZChannels: 4, DoubleZ: true, QuantConv: true,
		MidAttn: true, Scale: 0.2325}
}

// tinyConfig is a small tokenizer over a fresh marLike VAE that takes 8 px
// images (4×4 latents).
func tinyConfig(kind, assign string, rank int) Config {
	q := quant.DefaultConfig(24, 4, []int{1, 2, 4})
	if kind == quant.KindVQ {
		q = quant.DefaultVQConfig(24, 4)
		q.Scales = []int{4}
	}
	q.Assign = assign
	q.Entropy = assign == quant.AssignAttn
	q.Dim = 8
	return Config{VAE: marLike(), Quant: q, LoRA: LoRAConfig{Rank: rank, Encoder: rank > 0, Decoder: rank > 0}}
}

func newTiny(t *testing.T, tp *autograd.Tape, cfg Config, seed uint64) *Tokenizer {
	t.Helper()
	b := nn.NewBuilder(tp, seed)
	tok, err := New(b, vae.New(b, cfg.VAE), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { nn.Release(tok) })
	return tok
}

// images are n random 3×size×size images in [-1, 1].
func images(rng *rand.Rand, n, size int) []float32 {
	x := make([]float32, n*3*size*size)
	for i := range x {
		x[i] = float32(rng.Float64()*2 - 1)
	}
	return x
}

// memData is an in-memory data set.
type memData struct {
	imgs    []float32
	n, size int
}

func (d *memData) Len() int             { return d.n }
func (d *memData) Shape() (c, h, w int) { return 3, d.size, d.size }
func (d *memData) Classes() []string    { return nil }
func (d *memData) Get(i int) ([]float32, int, error) {
	k := 3 * d.size * d.size
	return append([]float32(nil), d.imgs[i*k:(i+1)*k]...), 0, nil
}

func read(t *testing.T, v *autograd.Var) []float32 {
	t.Helper()
	out, err := v.Value.Float32()
	require.NoError(t, err)
	return out
}

func maxAbsDiff(a, b []float32) float64 {
	var m float64
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}

func TestImportRelease(t *testing.T) {
	tp := testTape(t)
	tok, err := Import(tp, Release{VAE: "testdata/release_vae.pth", Quantizer: "testdata/release_quantizer.pth", VAEConfig: marLike(), Scales: []int{1, 2, 4, 8, 16}})
	require.NoError(t, err, "regenerate with /usr/bin/python3 tools/golden/coda_release_fixture.py")
	defer nn.Release(tok)
	c := tok.Cfg
	assert.Equal(t, 48, c.Quant.Codes)
	assert.Equal(t, 4, c.Quant.Channels)
	assert.Equal(t, 8, c.Quant.Dim)
	assert.Equal(t, quant.NormRMS, c.Quant.Norm)
	assert.Equal(t, LoRAConfig{Rank: 4, Encoder: true, Decoder: true, Resample: true}, c.LoRA)
	assert.Len(t, tok.Adapted, 22)

	// Every tensor of both files landed, value for value.
	params := map[string]*autograd.Var{}
	for _, p := range tok.Params() {
		params[p.Name] = p.Var
	}
	for prefix, path := range map[string]string{"vae.": "testdata/release_vae.pth", "quantizer.": "testdata/release_quantizer.pth"} {
		f, err := vae.ReadTorchFile(path)
		require.NoError(t, err)
		for _, ft := range f.Tensors {
			p, ok := params[prefix+ft.Name]
			require.True(t, ok, "no parameter for %s%s", prefix, ft.Name)
			want, err := ft.Float32()
			require.NoError(t, err)
			assert.Equal(t, want, read(t, p), ft.Name)
		}
	}
}

func TestImportErrors(t *testing.T) {
	tp := testTape(t)
	for _, tc := range []struct {
		name, vae, quant, want string
	}{
		{"quantizer is a VAE", "testdata/release_vae.pth", "testdata/release_vae.pth", "codebooks.weight"},
		{"missing file", "testdata/none.pth", "testdata/release_quantizer.pth", "none.pth"},
		{"not a pickle", "testdata/release_vae.pth", "coda_test.go", "coda_test.go"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Import(tp, Release{VAE: tc.vae, Quantizer: tc.quant, VAEConfig: marLike(), Scales: []int{1, 2, 4, 8, 16}})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	// A wrong architecture is named, key by key.
	cfg := marLike()
	cfg.Ch = 64
	_, err := Import(tp, Release{VAE: "testdata/release_vae.pth", Quantizer: "testdata/release_quantizer.pth", VAEConfig: cfg, Scales: []int{1, 2, 4, 8, 16}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "encoder.conv_in.weight")
}

// TestEncodeDecodeSaveLoad checks that Decode(Encode(x)) is Forward's
// reconstruction, that merging LoRA keeps the function, and that a saved
// tokenizer loads with the same hash and output.
func TestEncodeDecodeSaveLoad(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	tok := newTiny(t, tp, tinyConfig(quant.KindResidual, quant.AssignAttn, 4), 3)
	nn.SetTraining(tok, false)
	rng := rand.New(rand.NewPCG(1, 2))
	// Make the adapters matter: fresh ones are zero.
	for _, p := range tok.Params() {
		if strings.HasSuffix(p.Name, "lora_layer.up.weight") {
			vals := make([]float32, p.Var.Value.Numel())
			for i := range vals {
				vals[i] = float32(rng.NormFloat64() * 0.05)
			}
			require.NoError(t, p.Var.Value.Write(vals))
		}
	}
	x := images(rng, 3, 8)
	var recon, decoded []float32
	tp.NoGrad(func() {
		s := e.Scope()
		defer s.Close()
		xv := tp.Const(e.FromFloat32(x, 3, 3, 8, 8))
		out, err := tok.Forward(xv, 11)
		require.NoError(t, err)
		recon = read(t, out.Recon)
		out.Release()
		ids, err := tok.Encode(xv, 11)
		require.NoError(t, err)
		require.Len(t, ids, 3)
		assert.Equal(t, []int{3, 4, 4}, ids[2].Shape())
		y, err := tok.Decode(ids, 0)
		require.NoError(t, err)
		decoded = read(t, y)
	})
	assert.Less(t, maxAbsDiff(recon, decoded), 1e-5, "Decode(Encode(x)) vs Forward")

	path := filepath.Join(t.TempDir(), "tok.safetensors")
	require.NoError(t, Save(path, tok, map[string]string{"note": "test"}))
	loaded, err := Load(tp, path)
	require.NoError(t, err)
	defer nn.Release(loaded)
	assert.Equal(t, tok.Cfg.Hash(), loaded.Cfg.Hash())
	nn.SetTraining(loaded, false)
	require.NoError(t, loaded.MergeLoRA())
	tp.NoGrad(func() {
		s := e.Scope()
		defer s.Close()
		out, err := loaded.Forward(tp.Const(e.FromFloat32(x, 3, 3, 8, 8)), 11)
		require.NoError(t, err)
		defer out.Release()
		assert.Less(t, maxAbsDiff(recon, read(t, out.Recon)), 1e-4, "saved, loaded and merged")
	})

	// A file that is not a tokenizer says what to do.
	plain := filepath.Join(t.TempDir(), "plain.safetensors")
	require.NoError(t, nn.Save(plain, tok.VAE, safetensors.F32, nil))
	_, err = Load(tp, plain)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "tokenizer import")
}

func TestImageChecks(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	tok := newTiny(t, tp, tinyConfig(quant.KindResidual, quant.AssignAttn, 0), 3)
	for _, shape := range [][]int{{1, 3, 16, 16}, {1, 1, 8, 8}, {1, 3, 8, 4}} {
		x := tp.Const(e.Zeros(shape...))
		_, err := tok.Forward(x, 1)
		require.Error(t, err, "%v", shape)
		x.Release()
	}
}

func TestConfigValidate(t *testing.T) {
	good := tinyConfig(quant.KindResidual, quant.AssignAttn, 4)
	require.NoError(t, good.Validate())
	bad := good
	bad.Quant.Channels = 8
	assert.ErrorContains(t, bad.Validate(), "channels")
	bad = good
	bad.LoRA.Encoder, bad.LoRA.Decoder = false, false
	assert.ErrorContains(t, bad.Validate(), "neither")
	other := good
	other.Quant.Codes = 25
	assert.NotEqual(t, good.Hash(), other.Hash())
}

func TestTokensRoundTrip(t *testing.T) {
	tp := testTape(t)
	tok := newTiny(t, tp, tinyConfig(quant.KindResidual, quant.AssignAttn, 0), 3)
	tk := tok.NewTokens()
	tk.Metadata = map[string]string{"data": "test"}
	require.NoError(t, tk.Append(2, [][]int32{{1, 2}, {0, 1, 2, 3, 4, 5, 6, 7}, make([]int32, 32)}))
	require.Error(t, tk.Append(1, [][]int32{{1}}), "wrong level count")
	require.Error(t, tk.Append(1, [][]int32{{1}, {1}, {1}}), "wrong id count")
	dir := t.TempDir()
	path := filepath.Join(dir, "t.safetensors")
	require.NoError(t, WriteTokens(path, tk))
	got, err := ReadTokens(path)
	require.NoError(t, err)
	assert.Equal(t, tk.N, got.N)
	assert.Equal(t, tk.Levels, got.Levels)
	assert.Equal(t, tk.Scales, got.Scales)
	assert.Equal(t, "test", got.Metadata["data"])
	require.NoError(t, tok.CheckTokens(got))
	assert.Equal(t, []int32{4, 5, 6, 7}, got.Image(1)[1])

	other := newTiny(t, tp, tinyConfig(quant.KindResidual, quant.AssignNN, 0), 3)
	assert.ErrorContains(t, other.CheckTokens(got), "config")

	// Ids outside the codebook and foreign files are refused.
	tk.Levels[0][0] = 99
	require.NoError(t, WriteTokens(path, tk))
	_, err = ReadTokens(path)
	assert.ErrorContains(t, err, "outside the codebook")
	foreign := filepath.Join(dir, "f.safetensors")
	require.NoError(t, safetensors.WriteFile(foreign, []safetensors.Tensor{safetensors.Int32Tensor("level.0", []int{1, 1, 1}, []int32{0})}, nil))
	_, err = ReadTokens(foreign)
	assert.ErrorContains(t, err, "not a token file")
	require.NoError(t, os.WriteFile(foreign, []byte("garbage"), 0o644))
	_, err = ReadTokens(foreign)
	assert.Error(t, err)
}

// TestTrainResumeExact trains a tiny tokenizer (GAN on) for 4 steps in one
// go and in two halves with a resume, and requires identical weights.
func TestTrainResumeExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const px = 16 // SSIM needs 11 px
	ds := &memData{imgs: images(rng, 24, px), n: 24, size: px}
	k := 3 * px * px
	train, eval := &memData{imgs: ds.imgs[:16*k], n: 16, size: px}, &memData{imgs: ds.imgs[16*k:], n: 8, size: px}
	cfg := DefaultTrainConfig()
	cfg.Batch, cfg.Epochs, cfg.Every, cfg.EvalImages, cfg.GridImages = 4, 1, 2, 4, 2
	cfg.DiscLayers, cfg.DiscCh = 1, 32
	run := func(out string, maxSteps int, resume bool) (*Tokenizer, Result) {
		tp := testTape(t)
		tc := tinyConfig(quant.KindResidual, quant.AssignAttn, 4)
		tc.Quant.Scales = []int{1, 2, 4, 8}
		tok := newTiny(t, tp, tc, 9)
		c := cfg
		c.Out, c.MaxSteps, c.Resume = out, maxSteps, resume
		var steps []Progress
		res, err := Train(context.Background(), tp, tok, train, eval, c, EvalConfig{Batch: 4}, func(p Progress) { steps = append(steps, p) })
		require.NoError(t, err)
		for _, p := range steps {
			assert.False(t, math.IsNaN(p.Loss))
			assert.Greater(t, p.MSE, 0.0)
			assert.GreaterOrEqual(t, p.Use, 0.0)
			if p.Step > 0 {
				assert.True(t, p.GAN)
			}
		}
		return tok, res
	}
	dirA, dirB := t.TempDir(), t.TempDir()
	a, resA := run(dirA, 0, false)
	require.Equal(t, 4, resA.Steps)
	require.NotNil(t, resA.Final)
	assert.Greater(t, resA.Final.PSNR, 0.0)
	_, half := run(dirB, 2, false)
	require.True(t, half.Stopped)
	b, resB := run(dirB, 0, true)
	require.Equal(t, 2, resB.Resumed)
	require.Equal(t, 4, resB.Steps)
	pa, pb := a.Params(), b.Params()
	require.Len(t, pb, len(pa))
	for i := range pa {
		if !pa[i].Var.RequiresGrad() {
			continue
		}
		assert.Equal(t, read(t, pa[i].Var), read(t, pb[i].Var), pa[i].Name)
	}
	for _, f := range []string{"metrics.jsonl", "grid-00000002.png"} {
		_, err := os.Stat(filepath.Join(dirA, f))
		assert.NoError(t, err, f)
	}
}

func TestUsageHistogramAndUse(t *testing.T) {
	u := newUsage(4, 2)
	u.add(0, []int32{0, 1})
	u.add(1, []int32{2})
	assert.InDelta(t, 0.75, u.share(1), 1e-12)
	assert.InDelta(t, 0.25, u.share(2), 1e-12, "codes 0 and 1 fell out of the window")
	img := UsageHistogram([]int64{0, 5, 10, 0}, 4, 20)
	assert.Equal(t, 4, img.Bounds().Dx())
	// The busiest code's bar reaches near the top; unused codes are red at the base.
	assert.NotEqual(t, uint8(255), img.RGBAAt(2, 4).G)
	assert.Equal(t, uint8(220), img.RGBAAt(0, 19).R)
}

// TestSaveTrainedOverEmbeddedVAE writes only the adapters and quantizer
// of a tokenizer over the embedded VAE, loads the file back (completed by
// the embedded VAE) and requires the same reconstruction; a tokenizer over
// another VAE is refused.
func TestSaveTrainedOverEmbeddedVAE(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	b := nn.NewBuilder(tp, 4)
	base, err := vae.Pretrained(b)
	require.NoError(t, err)
	base.Cfg.Scale, base.Cfg.Shift = 0.77, 0.05
	q := quant.DefaultConfig(32, 4, []int{1, 3, 7})
	q.Dim = 8
	tok, err := New(b, base, Config{VAE: base.Cfg, Quant: q, LoRA: LoRAConfig{Rank: 2, Decoder: true}})
	require.NoError(t, err)
	defer nn.Release(tok)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, p := range tok.Params() {
		if strings.HasSuffix(p.Name, "lora_layer.up.weight") {
			vals := make([]float32, p.Var.Value.Numel())
			for i := range vals {
				vals[i] = float32(rng.NormFloat64() * 0.05)
			}
			require.NoError(t, p.Var.Value.Write(vals))
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "trained.safetensors")
	require.NoError(t, SaveTrained(path, tok, nil))
	full := filepath.Join(dir, "full.safetensors")
	require.NoError(t, Save(full, tok, nil))
	st, err := os.Stat(path)
	require.NoError(t, err)
	sf, err := os.Stat(full)
	require.NoError(t, err)
	assert.Less(t, st.Size(), sf.Size()/2, "trained-only is much smaller")

	loaded, err := Load(tp, path)
	require.NoError(t, err)
	defer nn.Release(loaded)
	assert.Equal(t, tok.Cfg.Hash(), loaded.Cfg.Hash())
	x := images(rng, 2, 28)
	recon := func(k *Tokenizer) []float32 {
		nn.SetTraining(k, false)
		var out []float32
		tp.NoGrad(func() {
			s := e.Scope()
			defer s.Close()
			o, err := k.Forward(tp.Const(e.FromFloat32(x, 2, 3, 28, 28)), 5)
			require.NoError(t, err)
			defer o.Release()
			out = read(t, o.Recon)
		})
		return out
	}
	assert.Equal(t, recon(tok), recon(loaded))

	other := newTiny(t, tp, tinyConfig(quant.KindResidual, quant.AssignAttn, 4), 3)
	assert.ErrorContains(t, SaveTrained(filepath.Join(dir, "x.safetensors"), other, nil), "embedded VAE")
}

// TestTrainStopHook stops a run from outside (the live view's --view-stop)
// after its second step: it ends like MaxSteps, with a checkpoint to
// resume from.
func TestTrainStopHook(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const px = 16
	train := &memData{imgs: images(rng, 16, px), n: 16, size: px}
	eval := &memData{imgs: images(rng, 4, px), n: 4, size: px}
	tp := testTape(t)
	tc := tinyConfig(quant.KindResidual, quant.AssignAttn, 0)
	tc.Quant.Scales = []int{1, 2, 4, 8}
	tok := newTiny(t, tp, tc, 9)
	cfg := DefaultTrainConfig()
	cfg.Batch, cfg.Every, cfg.GAN, cfg.Out = 4, 0, 0, t.TempDir()
	steps := 0
	cfg.Stop = func() bool { steps++; return steps >= 2 }
	res, err := Train(context.Background(), tp, tok, train, eval, cfg, EvalConfig{Batch: 4}, nil)
	require.NoError(t, err)
	assert.True(t, res.Stopped)
	assert.Equal(t, 2, res.Steps)
	assert.Nil(t, res.Final)
	assert.FileExists(t, filepath.Join(CheckpointDir(cfg.Out), "step-00000002.safetensors"))
}

// TestLambdaLayerGradient checks the adaptive weight's shortcut: the
// gradient norm at the last trainable decoder layer (the final block's
// conv2 adapter) taken through the decoder's tail on a detached input
// equals the full graph's.
func TestLambdaLayerGradient(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	tok := newTiny(t, tp, tinyConfig(quant.KindResidual, quant.AssignAttn, 4), 3)
	rng := rand.New(rand.NewPCG(9, 9))
	for _, p := range tok.Params() {
		if strings.HasSuffix(p.Name, "lora_layer.up.weight") {
			vals := make([]float32, p.Var.Value.Numel())
			for i := range vals {
				vals[i] = float32(rng.NormFloat64() * 0.05)
			}
			require.NoError(t, p.Var.Value.Write(vals))
		}
	}
	cfg := DefaultTrainConfig()
	tr := &trainer{tp: tp, t: tok, cfg: cfg}
	require.NoError(t, tr.newDisc())
	defer tr.dOpt.Release()
	defer nn.Release(tr.disc)
	name := ""
	for _, p := range tok.Params() {
		if p.Var == tr.last {
			name = p.Name
		}
	}
	assert.Equal(t, "vae.decoder.up.0.block.1.conv2.lora_layer.up.weight", name)

	s := e.Scope()
	defer s.Close()
	x := tp.Const(e.FromFloat32(images(rng, 2, 8), 2, 3, 8, 8))
	z := tok.VAE.EncodeScaled(x, 1)
	head, tail := tok.VAE.DecodeSplit(z)
	full := nn.MSE(tail(head), x)
	require.NoError(t, autograd.Backward(full))
	g, err := tr.last.Grad.Float32()
	require.NoError(t, err)
	var want float64
	for _, v := range g {
		want += float64(v) * float64(v)
	}
	want = math.Sqrt(want)
	for _, p := range nn.Trainable(tok) {
		p.ZeroGrad()
	}
	got, err := tr.gradNorm(nn.MSE(tail(head.Detach()), x))
	require.NoError(t, err)
	assert.Greater(t, want, 0.0)
	assert.InDelta(t, want, got, 1e-5*want)
	assert.Nil(t, tr.last.Grad, "the measurement leaves no gradient behind")
}
