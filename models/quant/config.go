package quant

import (
	"fmt"
	"math"
)

// Quantizer kinds (Config.Kind).
const (
	// KindVQ is a single level at the latent's full resolution.
	KindVQ = "vq"
	// KindResidual is CODA's multi-scale residual quantizer: one level per
	// entry of Config.Scales, coarse to fine.
	KindResidual = "residual"
)

// Assignment rules (Config.Assign).
const (
	// AssignNN is nearest-neighbour assignment with VQGAN's straight-through
	// estimator: ẑ = r + sg(e − r), codebook loss ‖sg(r) − e‖² + β‖r − sg(e)‖².
	AssignNN = "nn"
	// AssignAttn is CODA's attention assignment (coda-method.md §2).
	AssignAttn = "attn"
)

// Norms of the attention's queries and keys (Config.Norm).
const (
	NormRMS   = "rms"
	NormLayer = "layer"
	NormNone  = "none"
)

// Spec values.
const (
	// AttnBeta is β of CODA's attention (IBQ-style) loss.
	AttnBeta = 0.05
	// VQBeta is VQGAN's commitment weight β for plain nearest-neighbour VQ.
	VQBeta = 0.25
	// DefaultDim is the attention head width d.
	DefaultDim = 32
	// DefaultEntropyTemp is the entropy loss's temperature T.
	DefaultEntropyTemp = 0.01
	// NormEps is the epsilon of the query/key norms.
	NormEps = 1e-5
	// EntropyEps is added to P̄ inside the log of the codebook entropy.
	EntropyEps = 1e-5
)

// Fused-kernel limits (tensor.AttnAssignForward holds rows in registers).
const (
	maxFusedDim      = 128
	maxFusedChannels = 64
)

// MARScales and FLUXScales are CODA's residual levels for the 16×16 MAR and
// the 32×32 FLUX latents.
var (
	MARScales  = []int{1, 2, 3, 4, 5, 6, 8, 10, 13, 16}
	FLUXScales = []int{1, 2, 3, 4, 6, 9, 13, 18, 24, 32}
)

// Config describes a quantizer.
type Config struct {
	// Kind is KindVQ (one level at full latent resolution) or KindResidual.
	Kind string
	// Assign is AssignNN or AssignAttn.
	Assign string
	// Codes is the codebook size V.
	Codes int
	// Channels is the latent channel count C.
	Channels int
	// Dim is the attention width d (attn only; CODA: 32).
	Dim int
	// Scales are the residual levels' side lengths p, strictly increasing;
	// the last must equal the latent's H and W. A KindVQ quantizer takes at
	// most one entry: none accepts any latent size.
	Scales []int
	// Norm is NormRMS (empty means NormRMS), NormLayer or NormNone: the
	// norm of queries and keys, eps NormEps (attn only).
	Norm string
	// Beta weighs the commitment term: AttnBeta (0.05) for attention's
	// loss, VQBeta (0.25, VQGAN) for nearest-neighbour VQ.
	Beta float32
	// EntropyTemp is the entropy loss's temperature T (CODA: 0.01).
	EntropyTemp float32
	// Entropy turns on the entropy loss (attn only).
	Entropy bool
	// Fused selects the tiled kernels that never hold the N×V logits;
	// false runs the materialising reference formulation.
	Fused bool
}

// DefaultConfig is CODA's quantizer: attention assignment over a residual
// pyramid, d = 32, RMSNorm, β = 0.05, entropy loss at T = 0.01, fused.
func DefaultConfig(codes, channels int, scales []int) Config {
	return Config{
		Kind: KindResidual, Assign: AssignAttn, Codes: codes, Channels: channels,
		Dim: DefaultDim, Scales: append([]int(nil), scales...), Norm: NormRMS,
		Beta: AttnBeta, EntropyTemp: DefaultEntropyTemp, Entropy: true, Fused: true,
	}
}

// DefaultVQConfig is the plain VQ baseline of CODA's Table 1: one
// full-resolution level, nearest-neighbour assignment, β = 0.25 (VQGAN).
func DefaultVQConfig(codes, channels int) Config {
	return Config{Kind: KindVQ, Assign: AssignNN, Codes: codes, Channels: channels, Beta: VQBeta, Fused: true}
}

// normKind is the effective norm ("" is RMS).
func (c Config) normKind() string {
	if c.Norm == "" {
		return NormRMS
	}
	return c.Norm
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("quant: "+format, args...)
	}
	switch c.Kind {
	case KindVQ:
		if len(c.Scales) > 1 {
			return bad("kind %q is one level: want at most one scale, got %v", c.Kind, c.Scales)
		}
	case KindResidual:
		if len(c.Scales) == 0 {
			return bad("kind %q needs at least one scale", c.Kind)
		}
	default:
		return bad("unknown kind %q (want %q or %q)", c.Kind, KindVQ, KindResidual)
	}
	for i, p := range c.Scales {
		if p < 1 {
			return bad("scales must be positive, got %v", c.Scales)
		}
		if i > 0 && p <= c.Scales[i-1] {
			return bad("scales must increase strictly, got %v", c.Scales)
		}
	}
	if c.Codes < 1 {
		return bad("codebook size must be positive, got %d", c.Codes)
	}
	if c.Codes > math.MaxInt32 {
		return bad("codebook size %d does not fit int32 ids", c.Codes)
	}
	if c.Channels < 1 {
		return bad("channels must be positive, got %d", c.Channels)
	}
	if !(c.Beta >= 0) || math.IsInf(float64(c.Beta), 0) {
		return bad("beta must be finite and non-negative, got %v", c.Beta)
	}
	switch c.Assign {
	case AssignNN:
		if c.Entropy {
			return bad("the entropy loss needs attention assignment")
		}
		if c.Fused && c.Channels+1 > maxFusedDim {
			return bad("fused nearest-neighbour search needs channels ≤ %d, got %d (use Fused: false)", maxFusedDim-1, c.Channels)
		}
	case AssignAttn:
		if c.Dim < 1 {
			return bad("attention width must be positive, got %d", c.Dim)
		}
		switch c.normKind() {
		case NormRMS, NormLayer, NormNone:
		default:
			return bad("unknown norm %q (want %q, %q or %q)", c.Norm, NormRMS, NormLayer, NormNone)
		}
		if c.Entropy && (!(c.EntropyTemp > 0) || math.IsInf(float64(c.EntropyTemp), 0)) {
			return bad("entropy temperature must be positive and finite, got %v", c.EntropyTemp)
		}
		if c.Fused && (c.Dim > maxFusedDim || c.Channels > maxFusedChannels) {
			return bad("fused attention needs d ≤ %d and channels ≤ %d, got d = %d, C = %d (use Fused: false)",
				maxFusedDim, maxFusedChannels, c.Dim, c.Channels)
		}
	default:
		return bad("unknown assignment %q (want %q or %q)", c.Assign, AssignNN, AssignAttn)
	}
	return nil
}
