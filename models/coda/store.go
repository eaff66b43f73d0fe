package coda

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/models/safetensors"
	"github.com/tessera-ml/tessera/models/vae"
)

// Metadata keys of a saved tokenizer.
const (
	metaConfig = "coda.config"
	metaHash   = "coda.config_hash"
	metaFormat = "tessera.format"
	// tokenizerFormat marks a saved tokenizer.
	tokenizerFormat = "coda-tokenizer"
)

// Save writes t's parameters and configuration to path (float32
// safetensors), with extra metadata.
func Save(path string, t *Tokenizer, extra map[string]string) error {
	cfg, err := json.Marshal(t.Cfg)
	if err != nil {
		return fmt.Errorf("coda: %w", err)
	}
	meta := maps.Clone(extra)
	if meta == nil {
		meta = map[string]string{}
	}
	meta[metaFormat] = tokenizerFormat
	meta[metaConfig] = string(cfg)
	meta[metaHash] = t.Cfg.Hash()
	if err := nn.Save(path, t, safetensors.F32, meta); err != nil {
		return fmt.Errorf("coda: saving %s: %w", path, err)
	}
	return nil
}

// ReadConfig returns the configuration stored in a saved tokenizer file.
func ReadConfig(f *safetensors.File, path string) (Config, error) {
	var cfg Config
	if f.Metadata[metaFormat] != tokenizerFormat || f.Metadata[metaConfig] == "" {
		return cfg, fmt.Errorf("coda: %s is not a Tessera tokenizer (no %s metadata); release checkpoints need `tessera tokenizer import` first", path, metaConfig)
	}
	if err := json.Unmarshal([]byte(f.Metadata[metaConfig]), &cfg); err != nil {
		return cfg, fmt.Errorf("coda: %s: bad %s metadata: %w", path, metaConfig, err)
	}
	if h := f.Metadata[metaHash]; h != "" && h != cfg.Hash() {
		return cfg, fmt.Errorf("coda: %s: config hash %s does not match its config (%s): the file was edited or written by an incompatible build", path, h, cfg.Hash())
	}
	return cfg, cfg.Validate()
}

// Load builds the tokenizer saved at path on tp's engine.
func Load(tp *autograd.Tape, path string) (*Tokenizer, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("coda: %w", err)
	}
	cfg, err := ReadConfig(f, path)
	if err != nil {
		return nil, err
	}
	return build(tp, f, cfg, path)
}

// fromFile builds a tokenizer with cfg and sets every parameter from f.
func fromFile(tp *autograd.Tape, f *safetensors.File, cfg Config, path string) (*Tokenizer, error) {
	b := nn.NewBuilder(tp, 0)
	t, err := New(b, vae.New(b, cfg.VAE), cfg)
	if err != nil {
		return nil, err
	}
	if _, err := nn.LoadTensors(t, f, nn.LoadOptions{Strict: true}); err != nil {
		nn.Release(t)
		return nil, fmt.Errorf("coda: %s: %w", path, err)
	}
	return t, nil
}

// metaBase names the frozen VAE a trained-only file was adapted from.
const metaBase = "coda.base"

// EmbeddedBase is the coda.base of trained-only files over the embedded
// small-4x Fashion-MNIST VAE.
const EmbeddedBase = "embedded:" + vae.PretrainedPreset + "-fashionmnist"

// trainedOnly is the module of a tokenizer's trainable parameters.
type trainedOnly struct{ t *Tokenizer }

func (m trainedOnly) Params() []nn.Param {
	var ps []nn.Param
	for _, p := range m.t.Params() {
		if p.Var.RequiresGrad() {
			ps = append(ps, p)
		}
	}
	return ps
}

// SaveTrained writes only what training changed (the adapters and the
// quantizer) with the configuration, for a tokenizer whose frozen VAE is
// the embedded one: a file a quarter the size of Save's, which
// LoadTrained completes with the embedded VAE. It fails unless every
// frozen VAE weight equals the embedded VAE's.
func SaveTrained(path string, t *Tokenizer, extra map[string]string) error {
	tp := t.Quant.Params()[0].Var.Tape()
	b := nn.NewBuilder(tp, 0)
	base, err := vae.Pretrained(b)
	if err != nil {
		return err
	}
	defer nn.Release(base)
	want := map[string]*autograd.Var{}
	for _, p := range base.Params() {
		want["vae."+p.Name] = p.Var
	}
	for _, p := range t.Params() {
		if p.Var.RequiresGrad() {
			continue
		}
		w, ok := want[p.Name]
		if !ok {
			return fmt.Errorf("coda: %s is frozen but not a weight of the embedded VAE: trained-only files need the embedded VAE as base", p.Name)
		}
		a, err := p.Var.Value.Float32()
		if err != nil {
			return err
		}
		e, err := w.Value.Float32()
		if err != nil {
			return err
		}
		if !slices.Equal(a, e) {
			return fmt.Errorf("coda: %s differs from the embedded VAE's: trained-only files need the embedded VAE as base (merged adapters change it)", p.Name)
		}
	}
	cfg, err := json.Marshal(t.Cfg)
	if err != nil {
		return fmt.Errorf("coda: %w", err)
	}
	meta := maps.Clone(extra)
	if meta == nil {
		meta = map[string]string{}
	}
	meta[metaFormat] = tokenizerFormat
	meta[metaConfig] = string(cfg)
	meta[metaHash] = t.Cfg.Hash()
	meta[metaBase] = EmbeddedBase
	if err := nn.Save(path, trainedOnly{t}, safetensors.F32, meta); err != nil {
		return fmt.Errorf("coda: saving %s: %w", path, err)
	}
	return nil
}

// loadTrained builds a tokenizer from a trained-only file over the
// embedded VAE.
func loadTrained(tp *autograd.Tape, f *safetensors.File, cfg Config, path string) (*Tokenizer, error) {
	if b := f.Metadata[metaBase]; b != EmbeddedBase {
		return nil, fmt.Errorf("coda: %s is adapted from %q, which this build does not embed", path, b)
	}
	b := nn.NewBuilder(tp, 0)
	m, err := vae.Pretrained(b)
	if err != nil {
		return nil, err
	}
	m.Cfg.Scale, m.Cfg.Shift = cfg.VAE.Scale, cfg.VAE.Shift
	if !sameJSON(m.Cfg, cfg.VAE) {
		nn.Release(m)
		return nil, fmt.Errorf("coda: %s was adapted from another VAE architecture than the embedded one", path)
	}
	t, err := New(b, m, cfg)
	if err != nil {
		nn.Release(m)
		return nil, err
	}
	rep, err := nn.LoadTensors(trainedOnly{t}, f, nn.LoadOptions{Strict: true})
	if err != nil {
		nn.Release(t)
		return nil, fmt.Errorf("coda: %s: %w", path, err)
	}
	if len(rep.Loaded) == 0 {
		nn.Release(t)
		return nil, fmt.Errorf("coda: %s holds no parameters", path)
	}
	return t, nil
}

// sameJSON reports whether a and b have the same JSON form.
func sameJSON(a, b any) bool {
	ja, ea := json.Marshal(a)
	jb, eb := json.Marshal(b)
	return ea == nil && eb == nil && string(ja) == string(jb)
}

// build makes the tokenizer a file describes: a full one, or a
// trained-only one over the embedded VAE.
func build(tp *autograd.Tape, f *safetensors.File, cfg Config, path string) (*Tokenizer, error) {
	if f.Metadata[metaBase] != "" {
		return loadTrained(tp, f, cfg, path)
	}
	return fromFile(tp, f, cfg, path)
}
