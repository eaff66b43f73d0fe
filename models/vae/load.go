package vae

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/models/safetensors"
	"github.com/tessera-ml/tessera/models/torchfile"
)

// Diffusers' file names inside an AutoencoderKL directory (a pipeline's
// vae/ folder).
const (
	diffusersConfig  = "config.json"
	diffusersWeights = "diffusion_pytorch_model.safetensors"
	diffusersPickle  = "diffusion_pytorch_model.bin"
)

// LoadWeights loads real VAE weights into m by name and returns the
// report. The format is detected from path:
//
//   - a .safetensors file with LDM names ("encoder.down.0.block.0.conv1.weight"),
//     such as FLUX's ae.safetensors, is used as is;
//   - a directory holding a diffusers AutoencoderKL (config.json and
//     diffusion_pytorch_model.safetensors, or .bin), or a pipeline
//     directory with one in vae/: names are mapped from diffusers to LDM
//     (see DiffusersToLDM), attention projections stored as Linear [C, C]
//     become [C, C, 1, 1], and config.json must describe m's architecture
//     (ConfigFromDiffusers); its scaling_factor and shift_factor replace
//     m.Cfg.Scale and m.Cfg.Shift, since they belong to the weights;
//   - a .ckpt, .pth, .pt or .bin file is a PyTorch checkpoint (MAR's
//     kl16.ckpt holds the state dict under "model"): read with torchfile,
//     without its "model."/"state_dict."/"module." wrapper, with LDM
//     names. Tensors under "loss." (an LDM training checkpoint's LPIPS and
//     discriminator) are dropped, as LDM's own loader does.
//
// F16, BF16 and F64 tensors are converted to float32. Loading is strict:
// missing, unexpected or mis-shaped tensors make an error that names them.
func LoadWeights(path string, m *VAE) (nn.LoadReport, error) {
	f, diffusers, err := weightsFile(path, m)
	if err != nil {
		return nn.LoadReport{}, err
	}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		switch t.DType {
		case safetensors.F32, safetensors.F16, safetensors.BF16, safetensors.F64:
		default:
			return nn.LoadReport{}, fmt.Errorf("vae: %s: tensor %s is %s, not floating point", path, t.Name, t.DType)
		}
	}
	rep, err := nn.LoadTensors(m, f, nn.LoadOptions{Strict: true})
	if err != nil {
		return rep, fmt.Errorf("vae: %s: %w", path, err)
	}
	if diffusers != nil {
		m.Cfg.Scale, m.Cfg.Shift = diffusers.Scale, diffusers.Shift
	}
	return rep, nil
}

// weightsFile reads path in whichever format it is, with LDM names; for a
// diffusers directory it also returns the config.json's Config.
func weightsFile(path string, m *VAE) (*safetensors.File, *Config, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("vae: %w", err)
	}
	if st.IsDir() {
		f, cfg, err := diffusersFile(path, m)
		if err != nil {
			return nil, nil, err
		}
		return f, &cfg, nil
	}
	var f *safetensors.File
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".safetensors":
		if f, err = safetensors.ReadFile(path); err != nil {
			err = fmt.Errorf("vae: %w", err)
		}
	case ".ckpt", ".pth", ".pt", ".bin":
		f, err = ReadTorchFile(path)
	default:
		err = fmt.Errorf("vae: %s: unknown weights format %q (want a .safetensors file with LDM names, a diffusers AutoencoderKL directory, or a PyTorch .ckpt/.pth/.pt/.bin checkpoint)", path, ext)
	}
	return f, nil, err
}

// ReadTorchFile reads a PyTorch checkpoint into an in-memory safetensors file
// (torchfile spells dtypes as safetensors does), sorted by name.
func ReadTorchFile(path string) (*safetensors.File, error) {
	ts, err := torchfile.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vae: %w", err)
	}
	ts = torchfile.StateDict(ts)
	f := &safetensors.File{}
	for _, name := range slices.Sorted(maps.Keys(ts)) {
		if strings.HasPrefix(name, "loss.") {
			continue
		}
		t := ts[name]
		f.Tensors = append(f.Tensors, safetensors.Tensor{
			Name: name, DType: safetensors.DType(t.DType), Shape: t.Shape, Data: t.Data,
		})
	}
	return f, nil
}

// diffusersDir returns the directory holding config.json: dir itself or a
// pipeline's vae/ folder.
func diffusersDir(dir string) (string, error) {
	for _, d := range []string{dir, filepath.Join(dir, "vae")} {
		if _, err := os.Stat(filepath.Join(d, diffusersConfig)); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("vae: %s is a directory but not a diffusers AutoencoderKL: expected %s and %s (or %s) in it or in its vae/ folder",
		dir, diffusersConfig, diffusersWeights, diffusersPickle)
}

// diffusersFile reads a diffusers AutoencoderKL directory, checks its
// config against m's and maps its tensors to LDM names and shapes.
func diffusersFile(dir string, m *VAE) (*safetensors.File, Config, error) {
	d, err := diffusersDir(dir)
	if err != nil {
		return nil, Config{}, err
	}
	cfg, err := ConfigFromDiffusers(d)
	if err != nil {
		return nil, Config{}, err
	}
	if diff := archDiff(cfg, m.Cfg); len(diff) > 0 {
		return nil, Config{}, fmt.Errorf("vae: %s describes another architecture than the model's: %s", filepath.Join(d, diffusersConfig), strings.Join(diff, "; "))
	}
	var src *safetensors.File
	if _, err := os.Stat(filepath.Join(d, diffusersWeights)); err == nil {
		if src, err = safetensors.ReadFile(filepath.Join(d, diffusersWeights)); err != nil {
			return nil, Config{}, fmt.Errorf("vae: %w", err)
		}
	} else if _, err := os.Stat(filepath.Join(d, diffusersPickle)); err == nil {
		if src, err = ReadTorchFile(filepath.Join(d, diffusersPickle)); err != nil {
			return nil, Config{}, err
		}
	} else {
		return nil, Config{}, fmt.Errorf("vae: %s has %s but no %s (or %s)", d, diffusersConfig, diffusersWeights, diffusersPickle)
	}
	levels := len(cfg.ChMult)
	out := &safetensors.File{Metadata: src.Metadata, Tensors: make([]safetensors.Tensor, len(src.Tensors))}
	for i, t := range src.Tensors {
		if name, ok := DiffusersToLDM(t.Name, levels); ok {
			t.Name = name
			// diffusers' attention projections are Linear layers; ours are
			// 1×1 convs with the same row-major data.
			if len(t.Shape) == 2 && isAttnWeight(name) {
				t.Shape = []int{t.Shape[0], t.Shape[1], 1, 1}
			}
		}
		out.Tensors[i] = t
	}
	return out, cfg, nil
}

// isAttnWeight reports whether an LDM name is an attention projection's
// weight.
func isAttnWeight(name string) bool {
	if !strings.Contains(name, ".attn") {
		return false
	}
	for _, s := range []string{".q.weight", ".k.weight", ".v.weight", ".proj_out.weight"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// DiffusersToLDM maps a diffusers AutoencoderKL state-dict name to LDM's
// (FLUX's, MAR's) for a model with levels resolution levels, or returns
// ok false for a name it does not know:
//
//	{en,de}coder.conv_norm_out            → norm_out
//	encoder.down_blocks.i.resnets.j       → encoder.down.i.block.j
//	encoder.down_blocks.i.attentions.j    → encoder.down.i.attn.j
//	encoder.down_blocks.i.downsamplers.0  → encoder.down.i.downsample
//	decoder.up_blocks.i.…                 → decoder.up.(levels-1-i).…
//	decoder.up_blocks.i.upsamplers.0      → decoder.up.(levels-1-i).upsample
//	mid_block.resnets.0, 1                → mid.block_1, block_2
//	mid_block.attentions.0                → mid.attn_1
//	resnet conv_shortcut                  → nin_shortcut
//	attention group_norm, to_q, to_k, to_v, to_out.0 (or the older
//	query, key, value, proj_attn)         → norm, q, k, v, proj_out
//
// conv_in, conv_out, quant_conv and post_quant_conv keep their names.
// Diffusers orders decoder blocks from the lowest resolution, LDM from the
// highest, hence the reversal.
func DiffusersToLDM(name string, levels int) (string, bool) {
	p := strings.Split(name, ".")
	if len(p) == 2 && (p[0] == "quant_conv" || p[0] == "post_quant_conv") && isWB(p[1]) {
		return name, true
	}
	if len(p) < 3 || (p[0] != "encoder" && p[0] != "decoder") {
		return "", false
	}
	dec := p[0] == "decoder"
	var body, rest []string
	switch p[1] {
	case "conv_in", "conv_out":
		if len(p) != 3 || !isWB(p[2]) {
			return "", false
		}
		return name, true
	case "conv_norm_out":
		if len(p) != 3 || !isWB(p[2]) {
			return "", false
		}
		return p[0] + ".norm_out." + p[2], true
	case "mid_block":
		if len(p) < 5 {
			return "", false
		}
		var ok bool
		switch {
		case p[2] == "resnets" && (p[3] == "0" || p[3] == "1"):
			body = []string{"mid", "block_" + strconv.Itoa(int(p[3][0]-'0')+1)}
			rest, ok = resnetPart(p[4:])
		case p[2] == "attentions" && p[3] == "0":
			body = []string{"mid", "attn_1"}
			rest, ok = attnPart(p[4:])
		}
		if !ok {
			return "", false
		}
	case "down_blocks", "up_blocks":
		if (p[1] == "up_blocks") != dec || len(p) < 6 {
			return "", false
		}
		i, err := strconv.Atoi(p[2])
		if err != nil || i < 0 || i >= levels || p[2] != strconv.Itoa(i) {
			return "", false
		}
		level := i
		if dec {
			level = levels - 1 - i
		}
		head := "down"
		if dec {
			head = "up"
		}
		body = []string{head, strconv.Itoa(level)}
		var ok bool
		switch p[3] {
		case "resnets":
			if !isIndex(p[4]) {
				return "", false
			}
			body = append(body, "block", p[4])
			rest, ok = resnetPart(p[5:])
		case "attentions":
			if !isIndex(p[4]) {
				return "", false
			}
			body = append(body, "attn", p[4])
			rest, ok = attnPart(p[5:])
		case "downsamplers", "upsamplers":
			if (p[3] == "upsamplers") != dec || p[4] != "0" || len(p) != 7 || p[5] != "conv" || !isWB(p[6]) {
				return "", false
			}
			body = append(body, strings.TrimSuffix(p[3], "rs"), "conv")
			rest, ok = p[6:], true
		}
		if !ok {
			return "", false
		}
	default:
		return "", false
	}
	return p[0] + "." + strings.Join(body, ".") + "." + strings.Join(rest, "."), true
}

// resnetPart maps the part of a name after resnets.j.
func resnetPart(p []string) ([]string, bool) {
	if len(p) != 2 || !isWB(p[1]) {
		return nil, false
	}
	switch p[0] {
	case "norm1", "conv1", "norm2", "conv2":
		return p, true
	case "conv_shortcut":
		return []string{"nin_shortcut", p[1]}, true
	}
	return nil, false
}

// attnPart maps the part of a name after attentions.j.
func attnPart(p []string) ([]string, bool) {
	if len(p) == 3 && p[0] == "to_out" && p[1] == "0" && isWB(p[2]) {
		return []string{"proj_out", p[2]}, true
	}
	if len(p) != 2 || !isWB(p[1]) {
		return nil, false
	}
	to := map[string]string{
		"group_norm": "norm",
		"to_q":       "q", "to_k": "k", "to_v": "v",
		"query": "q", "key": "k", "value": "v", "proj_attn": "proj_out",
	}[p[0]]
	if to == "" {
		return nil, false
	}
	return []string{to, p[1]}, true
}

func isWB(s string) bool { return s == "weight" || s == "bias" }

func isIndex(s string) bool {
	i, err := strconv.Atoi(s)
	return err == nil && i >= 0 && s == strconv.Itoa(i)
}

// diffusersJSON is the part of a diffusers AutoencoderKL config.json that
// shapes the model; pointers tell absent keys (diffusers' defaults apply)
// from zero values.
type diffusersJSON struct {
	ClassName        string          `json:"_class_name"`
	InChannels       *int            `json:"in_channels"`
	OutChannels      *int            `json:"out_channels"`
	DownBlockTypes   []string        `json:"down_block_types"`
	UpBlockTypes     []string        `json:"up_block_types"`
	BlockOutChannels []int           `json:"block_out_channels"`
	LayersPerBlock   *int            `json:"layers_per_block"`
	ActFn            *string         `json:"act_fn"`
	LatentChannels   *int            `json:"latent_channels"`
	NormNumGroups    *int            `json:"norm_num_groups"`
	SampleSize       json.RawMessage `json:"sample_size"`
	ScalingFactor    *float64        `json:"scaling_factor"`
	ShiftFactor      *float64        `json:"shift_factor"`
	UseQuantConv     *bool           `json:"use_quant_conv"`
	UsePostQuantConv *bool           `json:"use_post_quant_conv"`
	MidBlockAddAttn  *bool           `json:"mid_block_add_attention"`
}

func intOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

// ConfigFromDiffusers reads a diffusers AutoencoderKL config.json (path is
// the file or its directory) into a Config: Ch and ChMult from
// block_out_channels, NumResBlocks from layers_per_block, ZChannels from
// latent_channels, QuantConv from use_quant_conv/use_post_quant_conv,
// MidAttn from mid_block_add_attention, level attention from
// Attn{Down,Up}{Encoder,Decoder}Block2D entries (at the resolutions those
// levels have for Resolution = sample_size, 256 if absent), Scale and
// Shift from scaling_factor and shift_factor. Absent keys take diffusers'
// defaults; DoubleZ is always on (diffusers' AutoencoderKL has it so).
func ConfigFromDiffusers(path string) (Config, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		d, err := diffusersDir(path)
		if err != nil {
			return Config{}, err
		}
		path = filepath.Join(d, diffusersConfig)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("vae: %w", err)
	}
	var j diffusersJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return Config{}, fmt.Errorf("vae: %s: %w", path, err)
	}
	fail := func(format string, args ...any) (Config, error) {
		return Config{}, fmt.Errorf("vae: %s: "+format, append([]any{path}, args...)...)
	}
	if j.ClassName != "" && j.ClassName != "AutoencoderKL" {
		return fail("_class_name is %q, want AutoencoderKL", j.ClassName)
	}
	if j.ActFn != nil && *j.ActFn != "silu" {
		return fail("act_fn %q is not supported (want silu)", *j.ActFn)
	}
	if g := intOr(j.NormNumGroups, normGroups); g != normGroups {
		return fail("norm_num_groups %d is not supported (want %d)", g, normGroups)
	}
	boc := j.BlockOutChannels
	if boc == nil {
		boc = []int{64}
	}
	if len(boc) == 0 || boc[0] <= 0 {
		return fail("block_out_channels %v must be non-empty and positive", boc)
	}
	levels := len(boc)
	cfg := Config{
		Resolution:   256,
		InChannels:   intOr(j.InChannels, 3),
		OutChannels:  intOr(j.OutChannels, 3),
		Ch:           boc[0],
		NumResBlocks: intOr(j.LayersPerBlock, 1),
		ZChannels:    intOr(j.LatentChannels, 4),
		DoubleZ:      true,
		QuantConv:    boolOr(j.UseQuantConv, true),
		MidAttn:      boolOr(j.MidBlockAddAttn, true),
		Scale:        0.18215,
	}
	if q, pq := boolOr(j.UseQuantConv, true), boolOr(j.UsePostQuantConv, true); q != pq {
		return fail("use_quant_conv %v with use_post_quant_conv %v is not supported (both or neither)", q, pq)
	}
	for _, c := range boc {
		if c%boc[0] != 0 {
			return fail("block_out_channels %v: every entry must be a multiple of the first", boc)
		}
		cfg.ChMult = append(cfg.ChMult, c/boc[0])
	}
	if len(j.SampleSize) > 0 && string(j.SampleSize) != "null" {
		var n int
		var pair []int
		if json.Unmarshal(j.SampleSize, &n) != nil {
			if json.Unmarshal(j.SampleSize, &pair) != nil || len(pair) == 0 {
				return fail("sample_size %s is neither a number nor a list", j.SampleSize)
			}
			n = pair[0]
		}
		cfg.Resolution = n
	}
	if j.ScalingFactor != nil {
		cfg.Scale = float32(*j.ScalingFactor)
	}
	if j.ShiftFactor != nil {
		cfg.Shift = float32(*j.ShiftFactor)
	}
	if err := cfg.Validate(); err != nil {
		return fail("%v", err)
	}
	down, up := j.DownBlockTypes, j.UpBlockTypes
	if down == nil {
		down = slices.Repeat([]string{"DownEncoderBlock2D"}, levels)
	}
	if up == nil {
		up = slices.Repeat([]string{"UpDecoderBlock2D"}, levels)
	}
	if len(down) != levels || len(up) != levels {
		return fail("%d down_block_types and %d up_block_types for %d block_out_channels", len(down), len(up), levels)
	}
	encRes, decRes := cfg.levelRes(), cfg.decoderLevelRes()
	for i, t := range down {
		switch t {
		case "DownEncoderBlock2D":
		case "AttnDownEncoderBlock2D":
			cfg.AttnResolutions = append(cfg.AttnResolutions, encRes[i])
		default:
			return fail("down_block_types[%d] %q is not supported (want DownEncoderBlock2D or AttnDownEncoderBlock2D)", i, t)
		}
	}
	for i, t := range up {
		switch t {
		case "UpDecoderBlock2D":
		case "AttnUpDecoderBlock2D":
			cfg.DecoderAttnResolutions = append(cfg.DecoderAttnResolutions, decRes[levels-1-i])
		default:
			return fail("up_block_types[%d] %q is not supported (want UpDecoderBlock2D or AttnUpDecoderBlock2D)", i, t)
		}
	}
	sort.Ints(cfg.AttnResolutions)
	sort.Ints(cfg.DecoderAttnResolutions)
	if a, b := attnLevels(cfg.AttnResolutions, encRes), attnLevels(cfg.DecoderAttnResolutions, decRes); countTrue(a) != len(cfg.AttnResolutions) || countTrue(b) != len(cfg.DecoderAttnResolutions) {
		return fail("sample_size %d is too small to place the attention levels", cfg.Resolution)
	}
	return cfg, nil
}

// attnLevels says which levels attend, given their resolutions.
func attnLevels(attn, res []int) []bool {
	out := make([]bool, len(res))
	for i, r := range res {
		out[i] = slices.Contains(attn, r)
	}
	return out
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// archDiff lists how the architectures of a and b differ (Resolution only
// through which levels attend; Scale and Shift not at all).
func archDiff(a, b Config) []string {
	var d []string
	diff := func(what string, x, y any) {
		if fmt.Sprint(x) != fmt.Sprint(y) {
			d = append(d, fmt.Sprintf("%s %v vs model %v", what, x, y))
		}
	}
	widths := func(c Config) []int {
		w := make([]int, len(c.ChMult))
		for i, m := range c.ChMult {
			w[i] = c.Ch * m
		}
		return w
	}
	diff("in_channels", a.InChannels, b.InChannels)
	diff("out_channels", a.OutChannels, b.OutChannels)
	diff("block_out_channels", widths(a), widths(b))
	diff("layers_per_block", a.NumResBlocks, b.NumResBlocks)
	diff("latent_channels", a.ZChannels, b.ZChannels)
	diff("double_z", a.DoubleZ, b.DoubleZ)
	diff("use_quant_conv", a.QuantConv, b.QuantConv)
	diff("mid_block_add_attention", a.MidAttn, b.MidAttn)
	if len(a.ChMult) == len(b.ChMult) {
		diff("encoder levels with attention", attnLevels(a.AttnResolutions, a.levelRes()), attnLevels(b.AttnResolutions, b.levelRes()))
		diff("decoder levels with attention", attnLevels(a.DecoderAttnResolutions, a.decoderLevelRes()), attnLevels(b.DecoderAttnResolutions, b.decoderLevelRes()))
	}
	return d
}
