package coda

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/models/quant"
	"github.com/tessera-ml/tessera/models/safetensors"
	"github.com/tessera-ml/tessera/models/vae"
)

// Suffixes of the CODA release's LoRA keys: a conv at path P keeps
// P.weight and P.bias and gains P.lora_layer.down.weight and
// P.lora_layer.up.weight.
const (
	loraDownSuffix = ".lora_layer.down.weight"
	loraUpSuffix   = ".lora_layer.up.weight"
)

// Release names the files of an official CODA checkpoint: vae.pth and
// quantizer.pth (or their _ema twins), PyTorch pickles of the VAE (with
// its LoRA adapters) and of the quantizer (codebooks.weight,
// attn.to_q/to_k/to_v.*, attn.norm_q/norm_k.weight).
type Release struct {
	VAE, Quantizer string
	// VAEConfig is the base VAE's preset (mar-kl16 or flux), with its
	// latent scale and shift.
	VAEConfig vae.Config
	// Scales are the residual levels (quant.MARScales or FLUXScales).
	Scales []int
}

// Import builds a Tessera tokenizer from an official CODA checkpoint,
// inferring V, C, d, the norm and the LoRA placement and rank from the
// tensors, and loading every tensor strictly (a missing or unexpected
// key fails, naming it). Save the result with Save.
func Import(tp *autograd.Tape, r Release) (*Tokenizer, error) {
	vf, err := vae.ReadTorchFile(r.VAE)
	if err != nil {
		return nil, err
	}
	qf, err := vae.ReadTorchFile(r.Quantizer)
	if err != nil {
		return nil, err
	}
	b := nn.NewBuilder(tp, 0)
	m := vae.New(b, r.VAEConfig)
	var convNames []string
	m.Convs(func(name string, _ *nn.Layer) { convNames = append(convNames, name) })
	cfg, err := releaseConfig(vf, qf, r, convNames)
	if err != nil {
		nn.Release(m)
		return nil, err
	}
	all := &safetensors.File{}
	for _, t := range vf.Tensors {
		t.Name = "vae." + t.Name
		all.Tensors = append(all.Tensors, t)
	}
	for _, t := range qf.Tensors {
		t.Name = "quantizer." + t.Name
		all.Tensors = append(all.Tensors, t)
	}
	t, err := New(b, m, cfg)
	if err != nil {
		nn.Release(m)
		return nil, err
	}
	if _, err := nn.LoadTensors(t, all, nn.LoadOptions{Strict: true}); err != nil {
		nn.Release(t)
		return nil, fmt.Errorf("coda: importing %s + %s: %w", r.VAE, r.Quantizer, err)
	}
	return t, nil
}

// releaseConfig infers the tokenizer's configuration from the release
// tensors.
func releaseConfig(vf, qf *safetensors.File, r Release, convNames []string) (Config, error) {
	cfg := Config{VAE: r.VAEConfig}
	cb, ok := qf.Get("codebooks.weight")
	if !ok || len(cb.Shape) != 2 {
		return cfg, fmt.Errorf("coda: %s has no codebooks.weight [V, C]: not a CODA quantizer", r.Quantizer)
	}
	tq, ok := qf.Get("attn.to_q.weight")
	if !ok || len(tq.Shape) != 2 {
		return cfg, fmt.Errorf("coda: %s has no attn.to_q.weight [d, C]: not a CODA attention quantizer", r.Quantizer)
	}
	q := quant.DefaultConfig(cb.Shape[0], cb.Shape[1], r.Scales)
	q.Dim = tq.Shape[0]
	switch _, hasNorm := qf.Get("attn.norm_q.weight"); {
	case !hasNorm:
		q.Norm = quant.NormNone
	default:
		if _, hasBias := qf.Get("attn.norm_q.bias"); hasBias {
			q.Norm = quant.NormLayer
		}
	}
	cfg.Quant = q

	var convs []string
	for _, t := range vf.Tensors {
		if name, ok := strings.CutSuffix(t.Name, loraDownSuffix); ok {
			convs = append(convs, name)
			if len(t.Shape) != 4 {
				return cfg, fmt.Errorf("coda: %s: %s is %v, want a conv kernel", r.VAE, t.Name, t.Shape)
			}
			if cfg.LoRA.Rank == 0 {
				cfg.LoRA.Rank = t.Shape[0]
			} else if cfg.LoRA.Rank != t.Shape[0] {
				return cfg, fmt.Errorf("coda: %s: adapters of ranks %d and %d (%s); Tessera uses one rank", r.VAE, cfg.LoRA.Rank, t.Shape[0], t.Name)
			}
			if _, ok := vf.Get(name + loraUpSuffix); !ok {
				return cfg, fmt.Errorf("coda: %s: %s has no %s", r.VAE, t.Name, name+loraUpSuffix)
			}
			switch {
			case strings.HasPrefix(name, "encoder."):
				cfg.LoRA.Encoder = true
			case strings.HasPrefix(name, "decoder."):
				cfg.LoRA.Decoder = true
			}
		}
	}
	if len(convs) == 0 {
		return cfg, cfg.Validate()
	}
	// Name the adapted convs with the standard patterns when they
	// describe exactly the release's set, else with the names themselves.
	slices.Sort(convs)
	for _, resample := range []bool{false, true} {
		cfg.LoRA.Resample = resample
		if got := adaptedConvs(cfg, convNames); slices.Equal(got, convs) {
			return cfg, cfg.Validate()
		}
	}
	cfg.LoRA.Resample = false
	cfg.LoRA.Patterns = convs
	return cfg, cfg.Validate()
}

// adaptedConvs lists (sorted) the names among convNames that cfg's LoRA
// placement adapts.
func adaptedConvs(cfg Config, convNames []string) []string {
	var names []string
	o := cfg.LoRA.injectOptions()
	for _, n := range convNames {
		if o.Matches(n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}
