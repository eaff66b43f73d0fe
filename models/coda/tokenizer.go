package coda

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/lora"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/models/quant"
	"github.com/tessera-ml/tessera/models/vae"
	"github.com/tessera-ml/tessera/tensor"
)

// LoRAConfig places the VAE's adapters (coda-method.md §3). Rank 0 adapts
// nothing: the VAE stays entirely frozen (the ablation's row without
// adaptation).
type LoRAConfig struct {
	Rank    int  `json:"rank"`
	Encoder bool `json:"encoder"`
	Decoder bool `json:"decoder"`
	// Resample also adapts the up/downsample convs (CODA, for MAR's VAE).
	Resample bool     `json:"resample,omitempty"`
	Patterns []string `json:"patterns,omitempty"`
}

func (c LoRAConfig) injectOptions() lora.InjectOptions {
	return lora.InjectOptions{Rank: c.Rank, Encoder: c.Encoder, Decoder: c.Decoder, Resample: c.Resample, Patterns: c.Patterns}
}

// Config is everything that determines a tokenizer's function apart from
// its weights; its hash identifies the token vocabulary.
type Config struct {
	VAE   vae.Config   `json:"vae"`
	Quant quant.Config `json:"quantizer"`
	LoRA  LoRAConfig   `json:"lora"`
}

// Hash is a short hex digest of c's JSON form.
func (c Config) Hash() string {
	b, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("coda: config does not marshal: %v", err)) // plain data: cannot happen
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:8])
}

// Validate reports what makes c unbuildable, or nil.
func (c Config) Validate() error {
	if err := c.VAE.Validate(); err != nil {
		return err
	}
	if c.Quant.Channels != c.VAE.ZChannels {
		return fmt.Errorf("coda: the quantizer has %d channels but the VAE's latents have %d", c.Quant.Channels, c.VAE.ZChannels)
	}
	if c.LoRA.Rank < 0 {
		return fmt.Errorf("coda: LoRA rank must be ≥ 0, got %d", c.LoRA.Rank)
	}
	if c.LoRA.Rank > 0 && !c.LoRA.Encoder && !c.LoRA.Decoder {
		return errors.New("coda: LoRA rank > 0 but neither encoder nor decoder adapted")
	}
	return nil
}

// Tokenizer is a CODA tokenizer: VAE (frozen, LoRA-adapted) + quantizer.
type Tokenizer struct {
	Cfg   Config
	VAE   *vae.VAE
	Quant *quant.Quantizer
	// Adapted lists the VAE convs that carry adapters.
	Adapted []string
}

// New turns base (whose config must equal cfg.VAE) into a tokenizer:
// it injects the adapters (drawn with b), freezes every other VAE weight
// and builds a fresh quantizer. The tokenizer owns base from then on.
func New(b *nn.Builder, base *vae.VAE, cfg Config) (*Tokenizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Tokenizer{Cfg: cfg, VAE: base}
	if cfg.LoRA.Rank > 0 {
		names, err := lora.Inject(b, base, cfg.LoRA.injectOptions())
		if err != nil {
			return nil, fmt.Errorf("coda: %w", err)
		}
		t.Adapted = names
	} else {
		nn.Freeze(base, true)
	}
	q, err := quant.New(b, cfg.Quant)
	if err != nil {
		return nil, fmt.Errorf("coda: %w", err)
	}
	t.Quant = q
	nn.Named(t)
	return t, nil
}

// Params lists vae.… then quantizer.….
func (t *Tokenizer) Params() []nn.Param {
	return nn.Children("vae", t.VAE, "quantizer", t.Quant)
}

// LatentSize is the latent side for images of side n.
func (t *Tokenizer) LatentSize(n int) int { return t.Cfg.VAE.LatentSize(n) }

// Levels is the number of quantization levels.
func (t *Tokenizer) Levels() int { return len(t.Cfg.Quant.Scales) }

// Output is one pass through the tokenizer.
type Output struct {
	Z     *autograd.Var // scaled latents s·(E(x).sample() − shift)
	Q     *quant.Output // ẑ, ids per level, L_vq, L_ent
	Recon *autograd.Var // D(ẑ/s + shift)
}

// Release releases the quantizer's per-level ids.
func (o *Output) Release() {
	if o != nil && o.Q != nil {
		o.Q.Release()
	}
}

// checkImages validates a batch of images against the VAE.
func (t *Tokenizer) checkImages(x *autograd.Var) error {
	s := x.Shape()
	if len(s) != 4 || s[1] != t.Cfg.VAE.InChannels || s[2] != s[3] {
		return fmt.Errorf("coda: want images [B, %d, H, H], got %v", t.Cfg.VAE.InChannels, s)
	}
	want := t.Cfg.Quant.Scales[len(t.Cfg.Quant.Scales)-1]
	if got := t.LatentSize(s[2]); got != want {
		return fmt.Errorf("coda: %d px images give %d×%d latents but the quantizer's last scale is %d (images must be %d px)", s[2], got, got, want, want*t.Cfg.VAE.Factor())
	}
	return nil
}

// Forward encodes x [B, C, H, W] in [-1, 1] with posterior noise from
// seed, quantizes and decodes.
func (t *Tokenizer) Forward(x *autograd.Var, seed uint64) (*Output, error) {
	if err := t.checkImages(x); err != nil {
		return nil, err
	}
	z := t.VAE.EncodeScaled(x, seed)
	q, err := t.Quant.Forward(z)
	if err != nil {
		return nil, fmt.Errorf("coda: %w", err)
	}
	return &Output{Z: z, Q: q, Recon: t.VAE.DecodeScaled(q.Zq)}, nil
}

// Encode returns the token ids of x per level (int32 [B, p, p], coarse to
// fine). The caller releases them.
func (t *Tokenizer) Encode(x *autograd.Var, seed uint64) ([]*tensor.Tensor, error) {
	if err := t.checkImages(x); err != nil {
		return nil, err
	}
	var ids []*tensor.Tensor
	var err error
	x.Tape().NoGrad(func() {
		e := x.Tape().Engine()
		s := e.Scope()
		defer s.Close()
		var q *quant.Output
		q, err = t.Quant.Forward(t.VAE.EncodeScaled(x, seed))
		if err != nil {
			return
		}
		ids, q.Ids = q.Ids, nil
		q.Release()
		for _, id := range ids {
			s.Keep(id)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("coda: %w", err)
	}
	return ids, nil
}

// Decode turns ids (the first levels of them are used; levels ≤ 0 means
// all) back into images.
func (t *Tokenizer) Decode(ids []*tensor.Tensor, levels int) (*autograd.Var, error) {
	if levels <= 0 {
		levels = len(ids)
	}
	zq, err := t.Quant.Decode(ids, levels)
	if err != nil {
		return nil, fmt.Errorf("coda: %w", err)
	}
	return t.VAE.DecodeScaled(zq), nil
}

// MergeLoRA folds every adapter into its base conv (for inference).
func (t *Tokenizer) MergeLoRA() error {
	var err error
	t.VAE.Convs(func(name string, slot *nn.Layer) {
		if c, ok := (*slot).(*lora.Conv); ok && err == nil {
			if e := c.Merge(); e != nil {
				err = fmt.Errorf("coda: merging %s: %w", name, e)
			}
		}
	})
	return err
}
