package coda

import (
	"encoding/json"
	"fmt"
	"maps"

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
	return fromFile(tp, f, cfg, path)
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
