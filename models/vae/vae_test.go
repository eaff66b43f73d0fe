package vae

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/nn"
)

// presetGolden is testdata/presets.json (tools/golden/vae_tiny.py): the
// full-size PyTorch models' parameter counts and state-dict shapes.
type presetGolden struct {
	Params  int              `json:"params"`
	Tensors map[string][]int `json:"tensors"`
}

func readPresets(t *testing.T) map[string]presetGolden {
	t.Helper()
	raw, err := os.ReadFile("testdata/presets.json")
	require.NoError(t, err)
	var g map[string]presetGolden
	require.NoError(t, json.Unmarshal(raw, &g))
	return g
}

// TestPresetsMatchPyTorch builds the flux and mar-kl16 presets at full size
// (~335 and ~266 MB, under a second each on Lavapipe) and checks every
// parameter name and shape against the PyTorch models (FLUX's ae.py; MAR's
// vae.py: attention in the encoder's 16×16 level only), so their
// checkpoints load by name. The counts are FLUX's known 83,819,683 and
// MAR's 66,456,019; Config.NumParams agrees without building.
func TestPresetsMatchPyTorch(t *testing.T) {
	golden := readPresets(t)
	known := map[string]int{"flux": 83_819_683, "mar-kl16": 66_456_019}
	tp := testTape(t)
	for name, count := range known {
		t.Run(name, func(t *testing.T) {
			cfg, err := Preset(name)
			require.NoError(t, err)
			g := golden[name]
			require.Equal(t, count, g.Params, "PyTorch's count")
			require.Equal(t, count, cfg.NumParams())

			m := New(nn.NewBuilder(tp, 1), cfg)
			defer nn.Release(m)
			total, trainable := nn.ParamCount(m)
			require.Equal(t, count, total)
			require.Equal(t, count, trainable)
			got := map[string][]int{}
			for _, p := range m.Params() {
				_, dup := got[p.Name]
				require.False(t, dup, "duplicate parameter name %s", p.Name)
				got[p.Name] = p.Var.Shape()
				require.Equal(t, p.Name, p.Var.Name(), "parameters carry their full names")
			}
			require.Equal(t, g.Tensors, got)
		})
	}
	// LDM's kl-f16 attends in the decoder's 16×16 level too.
	ldm, err := Preset("mar-kl16")
	require.NoError(t, err)
	ldm.DecoderAttnResolutions = []int{16}
	require.Equal(t, golden["ldm-kl-f16"].Params, ldm.NumParams())
}

// TestPresets checks the preset values the CODA spec and the small-data
// choices rely on, and the latent geometry.
func TestPresets(t *testing.T) {
	for _, c := range []struct {
		name         string
		factor, z    int
		scale, shift float32
		quant        bool
		side, latent int
		params       int
		encAttn      []int
	}{
		{"flux", 8, 16, 0.3611, 0.1159, false, 256, 32, 83_819_683, nil},
		{"mar-kl16", 16, 16, 0.2325, 0, true, 256, 16, 66_456_019, []int{16}},
		{"small-4x", 4, 4, 1, 0, false, 28, 7, 954_475, nil},
		{"small-8x", 8, 8, 1, 0, false, 32, 4, 3_012_019, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Preset(c.name)
			require.NoError(t, err)
			require.NoError(t, cfg.Validate())
			require.Equal(t, c.factor, cfg.Factor())
			require.Equal(t, c.z, cfg.ZChannels)
			require.Equal(t, c.scale, cfg.Scale)
			require.Equal(t, c.shift, cfg.Shift)
			require.Equal(t, c.quant, cfg.QuantConv)
			require.True(t, cfg.DoubleZ)
			require.True(t, cfg.MidAttn)
			require.Equal(t, c.latent, cfg.LatentSize(c.side))
			require.Equal(t, c.params, cfg.NumParams())
			require.Equal(t, c.encAttn, cfg.AttnResolutions)
			require.Empty(t, cfg.DecoderAttnResolutions)
		})
	}
	_, err := Preset("sd")
	require.ErrorContains(t, err, "unknown preset")
}

// TestNumParamsMatchesBuiltModel: Config.NumParams counts what New builds,
// across the options (deterministic posterior, quant convs, no mid
// attention, level attention in either half, a resolution that is not a
// multiple of the downsampling).
func TestNumParamsMatchesBuiltModel(t *testing.T) {
	tp := testTape(t)
	base := Config{Resolution: 32, InChannels: 3, OutChannels: 3, Ch: 32, ChMult: []int{1, 2, 2},
		NumResBlocks: 1, ZChannels: 4, DoubleZ: true, MidAttn: true, Scale: 1}
	variants := map[string]func(c *Config){
		"base":           func(c *Config) {},
		"deterministic":  func(c *Config) { c.DoubleZ = false },
		"quant":          func(c *Config) { c.QuantConv = true },
		"det+quant":      func(c *Config) { c.DoubleZ, c.QuantConv = false, true },
		"no mid attn":    func(c *Config) { c.MidAttn = false },
		"enc attn 16":    func(c *Config) { c.AttnResolutions = []int{16} },
		"dec attn 8, 32": func(c *Config) { c.DecoderAttnResolutions = []int{8, 32} },
		"grayscale":      func(c *Config) { c.InChannels, c.OutChannels = 1, 1 },
		"two blocks":     func(c *Config) { c.NumResBlocks = 2 },
		// Encoder levels at 30, 15, 7; decoder levels (LDM's curr_res) at
		// 7, 14, 28: attention at 14 is in the decoder only.
		"res 30": func(c *Config) { c.Resolution, c.AttnResolutions, c.DecoderAttnResolutions = 30, []int{14}, []int{14} },
	}
	for name, edit := range variants {
		t.Run(name, func(t *testing.T) {
			cfg := base
			cfg.ChMult = []int{1, 2, 2}
			edit(&cfg)
			m := New(nn.NewBuilder(tp, 1), cfg)
			defer nn.Release(m)
			total, _ := nn.ParamCount(m)
			require.Equal(t, total, cfg.NumParams())
		})
	}
	cfg := base
	cfg.Resolution, cfg.AttnResolutions, cfg.DecoderAttnResolutions = 30, []int{14}, []int{14}
	m := New(nn.NewBuilder(tp, 1), cfg)
	defer nn.Release(m)
	require.Empty(t, m.Encoder.Down[1].Attn, "encoder level 1 is at 15")
	require.Len(t, m.Decoder.Up[1].Attn, 2, "decoder level 1 is at 14")
}

// TestSmallPresetsTrain: one training step's forward and backward on the
// small presets at their data sizes (Fashion-MNIST's 28 px for small-4x,
// 32 px for small-8x): the shapes are right, the loss
// MSE(decode(sample)) + KL is finite, and every parameter gets a finite
// gradient.
func TestSmallPresetsTrain(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	for _, c := range []struct {
		name         string
		side, latent int
	}{{"small-4x", 28, 7}, {"small-8x", 32, 4}} {
		t.Run(c.name, func(t *testing.T) {
			s := e.Scope()
			defer s.Close()
			cfg, err := Preset(c.name)
			require.NoError(t, err)
			m := New(nn.NewBuilder(tp, 3), cfg)
			defer nn.Release(m)
			x := tp.Const(e.Uniform(5, -1, 1, 2, 3, c.side, c.side))
			post := m.Encode(x)
			require.Equal(t, []int{2, cfg.ZChannels, c.latent, c.latent}, post.Mean().Shape())
			require.Equal(t, post.Mean().Shape(), post.LogVar().Shape())
			rec := m.Decode(post.Sample(9))
			require.Equal(t, x.Shape(), rec.Shape())
			loss := autograd.Add(nn.MSE(rec, x), post.KL())
			requireFinite(t, "loss", read(t, loss))
			require.NoError(t, autograd.Backward(loss))
			for _, p := range m.Params() {
				require.NotNil(t, p.Var.Grad, "%s has no gradient", p.Name)
				g, err := p.Var.Grad.Float32()
				require.NoError(t, err)
				requireFinite(t, "gradient of "+p.Name, g)
			}
		})
	}
}

// TestPosterior checks Sample (μ + exp(½·logσ²)·ε with the engine's
// N(0, 1) draw for the seed), Mode, KL, the log-variance clamp and the
// deterministic posterior, against host arithmetic (float32 ops: 1e-5
// relative).
func TestPosterior(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	const n, z, h, w = 2, 3, 5, 7
	size := n * z * h * w
	meanV := make([]float32, size)
	logv := make([]float32, size)
	for i := range meanV {
		meanV[i] = float32(math.Sin(float64(i))) * 2
		logv[i] = float32(math.Cos(float64(i)*0.7))*3 - 1
	}
	logv[0], logv[1] = -45, 31 // clamped to [-30, 20]
	moments := make([]float32, 2*size)
	// [N, 2Z, H, W]: mean channels then log-variance channels per sample.
	per := z * h * w
	for b := 0; b < n; b++ {
		copy(moments[2*b*per:], meanV[b*per:(b+1)*per])
		copy(moments[(2*b+1)*per:], logv[b*per:(b+1)*per])
	}
	mv := tp.Param(e.FromFloat32(moments, n, 2*z, h, w), "moments")
	defer mv.Release()
	cfg := Config{ZChannels: z, DoubleZ: true}
	p := (&VAE{Cfg: cfg}).posterior(mv)

	require.Equal(t, meanV, read(t, p.Mean()))
	require.Same(t, p.Mean(), p.Mode())
	lv := read(t, p.LogVar())
	require.Equal(t, float32(-30), lv[0])
	require.Equal(t, float32(20), lv[1])
	require.Equal(t, logv[2:], lv[2:])

	const seed = 77
	eps, err := e.Normal(seed, 0, 1, n, z, h, w).Float32()
	require.NoError(t, err)
	got := read(t, p.Sample(seed))
	kl := 0.0
	for i := range got {
		want := float64(meanV[i]) + math.Exp(0.5*float64(lv[i]))*float64(eps[i])
		require.InDelta(t, want, float64(got[i]), 1e-5*max(1, math.Abs(want)), "sample %d", i)
		kl += 0.5 * (float64(meanV[i])*float64(meanV[i]) + math.Exp(float64(lv[i])) - 1 - float64(lv[i]))
	}
	require.Equal(t, got, read(t, p.Sample(seed)), "a seed gives one sample")
	require.NotEqual(t, got, read(t, p.Sample(seed+1)))
	gotKL := read(t, p.KL())
	require.Len(t, gotKL, 1)
	require.InEpsilon(t, kl/n, float64(gotKL[0]), 1e-5)

	// Reparameterisation: gradients reach both halves of the moments.
	require.NoError(t, autograd.Backward(autograd.SumAll(p.Sample(seed))))
	g, err := mv.Grad.Float32()
	require.NoError(t, err)
	require.InDelta(t, 1, g[5], 1e-6, "d sample / d mean")
	require.InDelta(t, 0.5*math.Exp(0.5*float64(lv[5]))*float64(eps[5]), g[per+5], 1e-5, "d sample / d logvar")
	require.Zero(t, g[per], "no gradient through the clamp")

	det := (&VAE{Cfg: Config{ZChannels: 2 * z}}).posterior(mv)
	require.Nil(t, det.LogVar())
	require.Same(t, det.Mean(), det.Sample(1))
	require.Equal(t, []float32{0}, read(t, det.KL()))
}

// TestScaleUnscale: Scale is s·(z − shift) and Unscale inverts it.
func TestScaleUnscale(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	m := &VAE{Cfg: Config{Scale: 0.3611, Shift: 0.1159}}
	vals := []float32{-2, -0.5, 0, 0.1159, 1, 3.25}
	z := tp.Const(e.FromFloat32(vals, 2, 3))
	zs := read(t, m.Scale(z))
	back := read(t, m.Unscale(m.Scale(z)))
	for i, v := range vals {
		require.InDelta(t, 0.3611*(float64(v)-0.1159), float64(zs[i]), 1e-6)
		require.InDelta(t, float64(v), float64(back[i]), 1e-6)
	}
}

// countingConv wraps a layer, as a LoRA adapter would.
type countingConv struct {
	nn.Layer
	calls *int
}

func (c countingConv) Forward(x *autograd.Var) *autograd.Var {
	*c.calls++
	return c.Layer.Forward(x)
}

// TestConvs: Convs visits every convolution once under its parameter
// name, encoder first, and a replaced layer is the one Forward uses
// (names, and so checkpoint loading, stay as they were).
func TestConvs(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	cfg, err := Preset("small-4x")
	require.NoError(t, err)
	cfg.QuantConv = true
	cfg.AttnResolutions = []int{7}
	m := New(nn.NewBuilder(tp, 2), cfg)
	defer nn.Release(m)

	want := map[string]bool{}
	for _, p := range m.Params() {
		if strings.HasSuffix(p.Name, ".weight") && len(p.Var.Shape()) == 4 {
			want[strings.TrimSuffix(p.Name, ".weight")] = true
		}
	}
	names := map[string]bool{}
	var order []string
	m.Convs(func(name string, slot *nn.Layer) {
		require.False(t, names[name], "visited twice: %s", name)
		names[name] = true
		order = append(order, name)
	})
	require.Equal(t, want, names)
	require.Equal(t, "encoder.conv_in", order[0])
	require.Contains(t, names, "encoder.down.0.downsample.conv")
	require.Contains(t, names, "decoder.up.1.upsample.conv")
	require.Contains(t, names, "encoder.down.2.attn.0.proj_out")

	before := paramNames(m)
	calls, adapted := 0, 0
	m.Convs(func(name string, slot *nn.Layer) {
		if strings.Contains(name, "conv1") || strings.Contains(name, "conv2") ||
			strings.Contains(name, "upsample") || strings.Contains(name, "downsample") {
			*slot = countingConv{Layer: *slot, calls: &calls}
			adapted++
		}
	})
	require.Equal(t, before, paramNames(m), "wrapping keeps names")
	x := tp.Const(e.Uniform(1, -1, 1, 1, 3, 28, 28))
	m.Decode(m.Encode(x).Mode())
	require.Equal(t, adapted, calls, "every adapted conv runs once per encode+decode")
}

func paramNames(m nn.Module) []string {
	var out []string
	for _, p := range m.Params() {
		out = append(out, p.Name)
	}
	return out
}

// TestValidate: configurations New cannot build are refused with a reason.
func TestValidate(t *testing.T) {
	good, err := Preset("small-4x")
	require.NoError(t, err)
	for name, c := range map[string]struct {
		edit func(c *Config)
		msg  string
	}{
		"width 16":       {func(c *Config) { c.Ch = 16 }, "multiple of 32"},
		"mult 0":         {func(c *Config) { c.ChMult = []int{1, 0} }, "multiple of 32"},
		"no levels":      {func(c *Config) { c.ChMult = nil }, "ChMult is empty"},
		"no blocks":      {func(c *Config) { c.NumResBlocks = 0 }, "NumResBlocks"},
		"no latent":      {func(c *Config) { c.ZChannels = 0 }, "positive"},
		"zero scale":     {func(c *Config) { c.Scale = 0 }, "Scale"},
		"nan shift":      {func(c *Config) { c.Shift = float32(math.NaN()) }, "Shift"},
		"no resolution":  {func(c *Config) { c.Resolution = 0 }, "positive"},
		"no in channels": {func(c *Config) { c.InChannels = 0 }, "positive"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := good
			cfg.ChMult = append([]int(nil), good.ChMult...)
			c.edit(&cfg)
			require.ErrorContains(t, cfg.Validate(), c.msg)
			require.Panics(t, func() { New(nil, cfg) })
		})
	}
}
