package vae

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/models/safetensors"
	"github.com/tessera-ml/tessera/models/torchfile"
)

// fluxLike is FLUX's layout (no quant convs, no level attention, double_z,
// scale and shift) at the least width and depth.
func fluxLike() Config {
	return Config{Resolution: 32, InChannels: 3, OutChannels: 3, Ch: 32, ChMult: []int{1, 2},
		NumResBlocks: 1, ZChannels: 4, DoubleZ: true, MidAttn: true, Scale: 0.3611, Shift: 0.1159}
}

// marLike is MAR's KL-16 layout (quant convs, attention in the encoder's
// 16×16 level) at the least width and depth; tools/golden/vae_ckpt_fixture.py
// builds the same model.
func marLike() Config {
	return Config{Resolution: 32, InChannels: 3, OutChannels: 3, Ch: 32, ChMult: []int{1, 2},
		NumResBlocks: 1, AttnResolutions: []int{16}, ZChannels: 4, DoubleZ: true, QuantConv: true,
		MidAttn: true, Scale: 0.2325}
}

// roundToF16 makes m's parameters float16-exact, so that F16 and F32 files
// of them hold the same values.
func roundToF16(t *testing.T, m *VAE) {
	t.Helper()
	for _, p := range m.Params() {
		vals, err := p.Var.Value.Float32()
		require.NoError(t, err)
		st, err := safetensors.Float32Tensor(p.Name, p.Var.Shape(), vals, safetensors.F16)
		require.NoError(t, err)
		vals, err = st.Float32()
		require.NoError(t, err)
		require.NoError(t, p.Var.Value.Write(vals))
	}
}

// requireSameParams compares every parameter of a and b bit for bit.
func requireSameParams(t *testing.T, a, b *VAE) {
	t.Helper()
	pb := map[string]nn.Param{}
	for _, p := range b.Params() {
		pb[p.Name] = p
	}
	for _, p := range a.Params() {
		q, ok := pb[p.Name]
		require.True(t, ok, p.Name)
		require.Equal(t, p.Var.Shape(), q.Var.Shape(), p.Name)
		x, err := p.Var.Value.Float32()
		require.NoError(t, err)
		y, err := q.Var.Value.Float32()
		require.NoError(t, err)
		for i := range x {
			if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
				t.Fatalf("%s[%d]: %g vs %g", p.Name, i, x[i], y[i])
			}
		}
	}
}

// outputs returns the posterior mean and log-variance of a fixed 1×3×16×16
// input and the decoded mean, concatenated.
func outputs(t *testing.T, tp *autograd.Tape, m *VAE) []float32 {
	t.Helper()
	xs := make([]float32, 3*16*16)
	for i := range xs {
		xs[i] = float32(math.Sin(float64(i)*0.37)) * 0.9
	}
	x := tp.Const(tp.Engine().FromFloat32(xs, 1, 3, 16, 16))
	post := m.Encode(x)
	out := append(read(t, post.Mean()), read(t, post.LogVar())...)
	return append(out, read(t, m.Decode(post.Mean()))...)
}

func requireSameBits(t *testing.T, want, got []float32, what string) {
	t.Helper()
	require.Len(t, got, len(want), what)
	for i := range want {
		if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
			t.Fatalf("%s: element %d is %g, want %g", what, i, got[i], want[i])
		}
	}
}

// TestLoadWeightsSafetensors: a FLUX-like and a MAR-like VAE saved with
// LDM names as F32 and F16 (FLUX's ae.safetensors layout) load into a
// differently seeded VAE with every parameter bit-identical and identical
// Encode/Decode outputs.
func TestLoadWeightsSafetensors(t *testing.T) {
	tp := testTape(t)
	for name, cfg := range map[string]Config{"flux": fluxLike(), "mar": marLike()} {
		t.Run(name, func(t *testing.T) {
			src := New(nn.NewBuilder(tp, 1), cfg)
			defer nn.Release(src)
			roundToF16(t, src)
			want := outputs(t, tp, src)
			for _, dt := range []safetensors.DType{safetensors.F32, safetensors.F16} {
				path := filepath.Join(t.TempDir(), "ae.safetensors")
				require.NoError(t, nn.Save(path, src, dt, nil))
				dst := New(nn.NewBuilder(tp, 2), cfg)
				require.NotEqual(t, want, outputs(t, tp, dst), "another seed computes otherwise")
				rep, err := LoadWeights(path, dst)
				require.NoError(t, err, dt)
				require.Len(t, rep.Loaded, len(dst.Params()))
				require.Empty(t, rep.Missing)
				require.Empty(t, rep.Unexpected)
				requireSameParams(t, src, dst)
				requireSameBits(t, want, outputs(t, tp, dst), string(dt)+" outputs")
				nn.Release(dst)
			}
		})
	}
}

// TestLoadWeightsTorchCheckpoint reads testdata/tiny_kl.ckpt
// (tools/golden/vae_ckpt_fixture.py: {"model": state_dict, "epoch": 3},
// tensors as float32, float16, bfloat16 and float64 views into shared
// storages, plus a "loss.logvar" to drop) into a MAR-like VAE and checks
// every value against the script's formula.
func TestLoadWeightsTorchCheckpoint(t *testing.T) {
	tp := testTape(t)
	m := New(nn.NewBuilder(tp, 1), marLike())
	defer nn.Release(m)
	rep, err := LoadWeights("testdata/tiny_kl.ckpt", m)
	require.NoError(t, err, "regenerate with /usr/bin/python3 tools/golden/vae_ckpt_fixture.py")
	require.Len(t, rep.Loaded, len(m.Params()))
	require.Empty(t, rep.Unexpected, "loss.* is dropped")

	ts, err := torchfile.ReadFile("testdata/tiny_kl.ckpt")
	require.NoError(t, err)
	dtypes := map[string]bool{}
	for _, tt := range ts {
		dtypes[tt.DType] = true
	}
	require.Equal(t, map[string]bool{"F32": true, "F16": true, "BF16": true, "F64": true}, dtypes, "the fixture holds every float dtype")
	require.Contains(t, ts, "model.loss.logvar")

	params := m.Params()
	names := make([]string, len(params))
	byName := map[string]nn.Param{}
	for i, p := range params {
		names[i] = p.Name
		byName[p.Name] = p
	}
	sort.Strings(names)
	g := func(j int) float32 { return float32((31*j)%257-128) / 256 }
	for k, name := range names {
		got, err := byName[name].Var.Value.Float32()
		require.NoError(t, err)
		o := 131 * k % 1024
		for i, v := range got {
			if v != g(o+i) {
				t.Fatalf("%s[%d] = %g, want %g", name, i, v, g(o+i))
			}
		}
	}
	requireFinite(t, "outputs", outputs(t, tp, m))
}

// ldmToDiffusers is the inverse of DiffusersToLDM, written independently
// (old picks diffusers' older attention names).
func ldmToDiffusers(name string, levels int, old bool) string {
	p := strings.Split(name, ".")
	if p[0] != "encoder" && p[0] != "decoder" {
		return name
	}
	var out []string
	rest := p[1:]
	switch rest[0] {
	case "norm_out":
		out, rest = []string{"conv_norm_out"}, rest[1:]
	case "mid":
		switch rest[1] {
		case "block_1":
			out = []string{"mid_block", "resnets", "0"}
		case "block_2":
			out = []string{"mid_block", "resnets", "1"}
		case "attn_1":
			out = []string{"mid_block", "attentions", "0"}
		}
		rest = rest[2:]
	case "down", "up":
		i, _ := strconv.Atoi(rest[1])
		blocks := "down_blocks"
		if rest[0] == "up" {
			blocks, i = "up_blocks", levels-1-i
		}
		out = []string{blocks, strconv.Itoa(i)}
		switch rest[2] {
		case "block":
			out = append(out, "resnets", rest[3])
			rest = rest[4:]
		case "attn":
			out = append(out, "attentions", rest[3])
			rest = rest[4:]
		case "downsample":
			out = append(out, "downsamplers", "0")
			rest = rest[3:]
		case "upsample":
			out = append(out, "upsamplers", "0")
			rest = rest[3:]
		}
	}
	attn := map[string]string{"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"}
	if old {
		attn = map[string]string{"norm": "group_norm", "q": "query", "k": "key", "v": "value", "proj_out": "proj_attn"}
	}
	if len(out) > 1 && out[len(out)-2] == "attentions" {
		rest[0] = attn[rest[0]]
	}
	if rest[0] == "nin_shortcut" {
		rest[0] = "conv_shortcut"
	}
	return p[0] + "." + strings.Join(append(out, rest...), ".")
}

// TestLoadDiffusersNames checks names written out by hand from diffusers'
// AutoencoderKL layout (FLUX's 4 levels unless noted), including the
// decoder's block reversal and both attention spellings, then round-trips
// every real FLUX and MAR name through the test's inverse mapping.
func TestLoadDiffusersNames(t *testing.T) {
	for _, c := range []struct {
		diffusers, ldm string
		levels         int
	}{
		{"encoder.conv_in.weight", "encoder.conv_in.weight", 4},
		{"encoder.down_blocks.0.resnets.0.norm1.weight", "encoder.down.0.block.0.norm1.weight", 4},
		{"encoder.down_blocks.1.resnets.0.conv_shortcut.weight", "encoder.down.1.block.0.nin_shortcut.weight", 4},
		{"encoder.down_blocks.2.resnets.1.conv2.bias", "encoder.down.2.block.1.conv2.bias", 4},
		{"encoder.down_blocks.2.downsamplers.0.conv.bias", "encoder.down.2.downsample.conv.bias", 4},
		{"encoder.down_blocks.4.attentions.1.to_v.weight", "encoder.down.4.attn.1.v.weight", 5},
		{"encoder.mid_block.resnets.0.conv1.weight", "encoder.mid.block_1.conv1.weight", 4},
		{"encoder.mid_block.resnets.1.norm2.bias", "encoder.mid.block_2.norm2.bias", 4},
		{"encoder.mid_block.attentions.0.group_norm.weight", "encoder.mid.attn_1.norm.weight", 4},
		{"encoder.mid_block.attentions.0.to_q.weight", "encoder.mid.attn_1.q.weight", 4},
		{"encoder.mid_block.attentions.0.query.bias", "encoder.mid.attn_1.q.bias", 4},
		{"encoder.conv_norm_out.weight", "encoder.norm_out.weight", 4},
		{"encoder.conv_out.bias", "encoder.conv_out.bias", 4},
		{"decoder.mid_block.attentions.0.to_out.0.bias", "decoder.mid.attn_1.proj_out.bias", 4},
		{"decoder.mid_block.attentions.0.proj_attn.weight", "decoder.mid.attn_1.proj_out.weight", 4},
		{"decoder.mid_block.attentions.0.key.bias", "decoder.mid.attn_1.k.bias", 4},
		{"decoder.mid_block.attentions.0.to_k.weight", "decoder.mid.attn_1.k.weight", 4},
		{"decoder.up_blocks.0.resnets.2.conv2.weight", "decoder.up.3.block.2.conv2.weight", 4},
		{"decoder.up_blocks.0.upsamplers.0.conv.weight", "decoder.up.3.upsample.conv.weight", 4},
		{"decoder.up_blocks.2.upsamplers.0.conv.bias", "decoder.up.1.upsample.conv.bias", 4},
		{"decoder.up_blocks.3.resnets.0.conv_shortcut.bias", "decoder.up.0.block.0.nin_shortcut.bias", 4},
		{"decoder.up_blocks.1.attentions.2.to_out.0.weight", "decoder.up.3.attn.2.proj_out.weight", 5},
		{"decoder.conv_norm_out.bias", "decoder.norm_out.bias", 4},
		{"quant_conv.weight", "quant_conv.weight", 5},
		{"post_quant_conv.bias", "post_quant_conv.bias", 5},
	} {
		got, ok := DiffusersToLDM(c.diffusers, c.levels)
		require.True(t, ok, c.diffusers)
		require.Equal(t, c.ldm, got, c.diffusers)
	}
	for _, bad := range []string{
		"encoder.down_blocks.0.resnets.0.time_emb_proj.weight",
		"decoder.down_blocks.0.resnets.0.conv1.weight",
		"encoder.up_blocks.0.resnets.0.conv1.weight",
		"decoder.up_blocks.4.resnets.0.conv1.weight", // only 4 levels
		"encoder.down_blocks.0.downsamplers.0.conv.weight.x",
		"encoder.down_blocks.01.resnets.0.conv1.weight",
		"encoder.mid_block.resnets.2.conv1.weight",
		"encoder.mid_block.attentions.0.to_out.1.weight",
		"model.encoder.conv_in.weight",
		"encoder.conv_in",
	} {
		_, ok := DiffusersToLDM(bad, 4)
		require.False(t, ok, bad)
	}

	golden := readPresets(t)
	for preset, levels := range map[string]int{"flux": 4, "mar-kl16": 5} {
		for name := range golden[preset].Tensors {
			for _, old := range []bool{false, true} {
				d := ldmToDiffusers(name, levels, old)
				got, ok := DiffusersToLDM(d, levels)
				require.True(t, ok, "%s (from %s)", d, name)
				require.Equal(t, name, got, d)
			}
		}
	}
}

// diffusersConfigJSON writes cfg as a diffusers AutoencoderKL config.
func diffusersConfigJSON(cfg Config) map[string]any {
	levels := len(cfg.ChMult)
	boc := make([]int, levels)
	down := make([]string, levels)
	up := make([]string, levels)
	enc, dec := attnLevels(cfg.AttnResolutions, cfg.levelRes()), attnLevels(cfg.DecoderAttnResolutions, cfg.decoderLevelRes())
	for i, m := range cfg.ChMult {
		boc[i] = cfg.Ch * m
		down[i] = "DownEncoderBlock2D"
		if enc[i] {
			down[i] = "AttnDownEncoderBlock2D"
		}
		up[levels-1-i] = "UpDecoderBlock2D"
		if dec[i] {
			up[levels-1-i] = "AttnUpDecoderBlock2D"
		}
	}
	j := map[string]any{
		"_class_name": "AutoencoderKL", "_diffusers_version": "0.30.0", "act_fn": "silu",
		"block_out_channels": boc, "down_block_types": down, "up_block_types": up,
		"in_channels": cfg.InChannels, "out_channels": cfg.OutChannels, "latent_channels": cfg.ZChannels,
		"layers_per_block": cfg.NumResBlocks, "norm_num_groups": 32, "sample_size": cfg.Resolution,
		"scaling_factor": cfg.Scale, "shift_factor": nil, "force_upcast": true,
		"use_quant_conv": cfg.QuantConv, "use_post_quant_conv": cfg.QuantConv, "mid_block_add_attention": cfg.MidAttn,
	}
	if cfg.Shift != 0 {
		j["shift_factor"] = cfg.Shift
	}
	return j
}

// writeDiffusers writes m as a diffusers AutoencoderKL directory dir:
// diffusers names, Linear-shaped attention projections, config.json.
func writeDiffusers(t *testing.T, dir string, m *VAE, config map[string]any, old bool) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	ts, err := nn.Tensors(m, safetensors.F32)
	require.NoError(t, err)
	for i := range ts {
		if isAttnWeight(ts[i].Name) {
			require.Len(t, ts[i].Shape, 4)
			ts[i].Shape = ts[i].Shape[:2]
		}
		ts[i].Name = ldmToDiffusers(ts[i].Name, len(m.Cfg.ChMult), old)
	}
	require.NoError(t, safetensors.WriteFile(filepath.Join(dir, diffusersWeights), ts, map[string]string{"format": "pt"}))
	raw, err := json.Marshal(config)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, diffusersConfig), raw, 0o644))
}

// TestLoadWeightsDiffusers: the same weights under diffusers names (new
// and old attention names; a vae/ folder or the directory itself) with a
// config.json load bit-identically, take the config's scale and shift, and
// ConfigFromDiffusers recovers the Config.
func TestLoadWeightsDiffusers(t *testing.T) {
	tp := testTape(t)
	for name, cfg := range map[string]Config{"flux": fluxLike(), "mar": marLike()} {
		t.Run(name, func(t *testing.T) {
			src := New(nn.NewBuilder(tp, 1), cfg)
			defer nn.Release(src)
			want := outputs(t, tp, src)
			for _, old := range []bool{false, true} {
				root := t.TempDir()
				dir := root
				if old {
					dir = filepath.Join(root, "vae") // a pipeline's folder
				}
				writeDiffusers(t, dir, src, diffusersConfigJSON(cfg), old)

				got, err := ConfigFromDiffusers(root)
				require.NoError(t, err)
				require.Equal(t, cfg, got)

				other := cfg
				other.Scale, other.Shift = 1, 0
				dst := New(nn.NewBuilder(tp, 2), other)
				rep, err := LoadWeights(root, dst)
				require.NoError(t, err)
				require.Len(t, rep.Loaded, len(dst.Params()))
				require.Equal(t, cfg.Scale, dst.Cfg.Scale)
				require.Equal(t, cfg.Shift, dst.Cfg.Shift)
				requireSameParams(t, src, dst)
				requireSameBits(t, want, outputs(t, tp, dst), "outputs")
				nn.Release(dst)
			}
		})
	}
}

// TestLoadConfigFromDiffusers: absent keys take diffusers' defaults
// (block_out_channels [64], one layer per block, 4 latent channels, quant
// convs, scale 0.18215), and unsupported settings are refused by name.
func TestLoadConfigFromDiffusers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"_class_name": "AutoencoderKL"}`), 0o644))
	cfg, err := ConfigFromDiffusers(path)
	require.NoError(t, err)
	require.Equal(t, Config{Resolution: 256, InChannels: 3, OutChannels: 3, Ch: 64, ChMult: []int{1},
		NumResBlocks: 1, ZChannels: 4, DoubleZ: true, QuantConv: true, MidAttn: true, Scale: 0.18215}, cfg)

	for _, c := range []struct{ json, want string }{
		{`{"act_fn": "relu"}`, "act_fn"},
		{`{"norm_num_groups": 16}`, "norm_num_groups"},
		{`{"_class_name": "AutoencoderTiny"}`, "_class_name"},
		{`{"block_out_channels": [64, 96]}`, "block_out_channels"},
		{`{"block_out_channels": [64, 128], "down_block_types": ["DownEncoderBlock2D"]}`, "down_block_types"},
		{`{"down_block_types": ["CrossAttnDownBlock2D"]}`, "CrossAttnDownBlock2D"},
		{`{"use_quant_conv": true, "use_post_quant_conv": false}`, "use_post_quant_conv"},
		{`{"scaling_factor": 0}`, "Scale"},
		{`{`, "config.json"},
	} {
		require.NoError(t, os.WriteFile(path, []byte(c.json), 0o644))
		_, err := ConfigFromDiffusers(path)
		require.ErrorContains(t, err, c.want, c.json)
	}
}

// TestLoadWeightsErrors: a missing, an extra and a mis-shaped tensor are
// errors naming them; so are a directory that is not a diffusers model, a
// config.json for another architecture, integer tensors and unknown file
// types.
func TestLoadWeightsErrors(t *testing.T) {
	tp := testTape(t)
	cfg := fluxLike()
	m := New(nn.NewBuilder(tp, 1), cfg)
	defer nn.Release(m)
	good, err := nn.Tensors(m, safetensors.F16)
	require.NoError(t, err)

	write := func(ts []safetensors.Tensor) string {
		path := filepath.Join(t.TempDir(), "ae.safetensors")
		require.NoError(t, safetensors.WriteFile(path, ts, nil))
		return path
	}
	edit := func(fn func([]safetensors.Tensor) []safetensors.Tensor) string {
		return write(fn(append([]safetensors.Tensor(nil), good...)))
	}
	find := func(ts []safetensors.Tensor, name string) int {
		for i := range ts {
			if ts[i].Name == name {
				return i
			}
		}
		t.Fatalf("no tensor %s", name)
		return -1
	}

	for _, c := range []struct {
		name string
		path string
		want []string
	}{
		{"missing", edit(func(ts []safetensors.Tensor) []safetensors.Tensor {
			i := find(ts, "decoder.up.1.block.0.conv2.weight")
			return append(ts[:i], ts[i+1:]...)
		}), []string{"missing", "decoder.up.1.block.0.conv2.weight"}},
		{"unexpected", edit(func(ts []safetensors.Tensor) []safetensors.Tensor {
			extra, err := safetensors.Float32Tensor("encoder.down.0.attn.0.q.weight", []int{32, 32, 1, 1}, make([]float32, 32*32), safetensors.F16)
			require.NoError(t, err)
			return append(ts, extra)
		}), []string{"not in the model", "encoder.down.0.attn.0.q.weight"}},
		{"mis-shaped", edit(func(ts []safetensors.Tensor) []safetensors.Tensor {
			i := find(ts, "encoder.conv_out.weight")
			bad, err := safetensors.Float32Tensor(ts[i].Name, []int{4, 64, 3, 3}, make([]float32, 4*64*9), safetensors.F16)
			require.NoError(t, err)
			ts[i] = bad
			return ts
		}), []string{"shape", "encoder.conv_out.weight", "[4 64 3 3]", "[8 64 3 3]"}},
		{"integer", edit(func(ts []safetensors.Tensor) []safetensors.Tensor {
			i := find(ts, "encoder.conv_in.bias")
			ts[i] = safetensors.Int32Tensor(ts[i].Name, ts[i].Shape, make([]int32, 32))
			return ts
		}), []string{"encoder.conv_in.bias", "I32"}},
		{"not diffusers", t.TempDir(), []string{"config.json", "diffusion_pytorch_model.safetensors"}},
		{"unknown type", filepath.Join(t.TempDir(), "ae.onnx"), []string{".onnx", "safetensors", ".ckpt"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "unknown type" {
				require.NoError(t, os.WriteFile(c.path, []byte("x"), 0o644))
			}
			dst := New(nn.NewBuilder(tp, 2), cfg)
			defer nn.Release(dst)
			_, err := LoadWeights(c.path, dst)
			require.Error(t, err)
			for _, w := range c.want {
				require.ErrorContains(t, err, w)
			}
		})
	}

	t.Run("diffusers config mismatch", func(t *testing.T) {
		dir := t.TempDir()
		j := diffusersConfigJSON(cfg)
		j["latent_channels"] = 8
		j["use_quant_conv"], j["use_post_quant_conv"] = true, true
		writeDiffusers(t, dir, m, j, false)
		dst := New(nn.NewBuilder(tp, 2), cfg)
		defer nn.Release(dst)
		_, err := LoadWeights(dir, dst)
		require.ErrorContains(t, err, "latent_channels 8 vs model 4")
		require.ErrorContains(t, err, "use_quant_conv true vs model false")
		require.Equal(t, cfg.Scale, dst.Cfg.Scale, "a refused load leaves the model alone")
	})

	t.Run("diffusers missing tensor", func(t *testing.T) {
		dir := t.TempDir()
		j := diffusersConfigJSON(cfg)
		j["scaling_factor"] = 0.5
		writeDiffusers(t, dir, m, j, false)
		f, err := safetensors.ReadFile(filepath.Join(dir, diffusersWeights))
		require.NoError(t, err)
		i := find(f.Tensors, "decoder.up_blocks.0.upsamplers.0.conv.weight")
		f.Tensors = append(f.Tensors[:i], f.Tensors[i+1:]...)
		require.NoError(t, safetensors.WriteFile(filepath.Join(dir, diffusersWeights), f.Tensors, nil))
		dst := New(nn.NewBuilder(tp, 2), cfg)
		defer nn.Release(dst)
		_, err = LoadWeights(dir, dst)
		require.ErrorContains(t, err, "missing from the checkpoint: decoder.up.1.upsample.conv.weight")
		require.Equal(t, cfg.Scale, dst.Cfg.Scale, "a failed load keeps the model's scale")
	})

	t.Run("config without weights", func(t *testing.T) {
		dir := t.TempDir()
		raw, err := json.Marshal(diffusersConfigJSON(cfg))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644))
		dst := New(nn.NewBuilder(tp, 2), cfg)
		defer nn.Release(dst)
		_, err = LoadWeights(dir, dst)
		require.ErrorContains(t, err, "no diffusion_pytorch_model.safetensors")
	})
}
