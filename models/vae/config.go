package vae

import (
	"fmt"
	"math"
	"slices"
)

// normGroups is LDM's Normalize: GroupNorm with 32 groups, eps 1e-6, on
// every block; every channel count must be a multiple of it.
const (
	normGroups = 32
	normEps    = 1e-6
)

// Config sizes the autoencoder (LDM's ddconfig plus the latent scaling).
type Config struct {
	// Resolution is the image side the attention resolutions refer to (the
	// model itself is fully convolutional and runs at any size).
	Resolution int
	// InChannels and OutChannels are the image channels (3 for RGB).
	InChannels, OutChannels int
	// Ch is the width of the first level; level i has Ch·ChMult[i]
	// channels, and there are len(ChMult)-1 stride-2 downsamplings.
	Ch     int
	ChMult []int
	// NumResBlocks is the ResnetBlocks per encoder level (the decoder has
	// one more per level).
	NumResBlocks int
	// AttnResolutions lists the resolutions at which encoder levels put an
	// AttnBlock after each ResnetBlock; DecoderAttnResolutions does the same
	// for the decoder. LDM's configs use one list for both; MAR's VAE builds
	// its decoder with none (Decoder(attn_resolutions=())), hence two lists.
	AttnResolutions        []int
	DecoderAttnResolutions []int
	// ZChannels is the latent channels.
	ZChannels int
	// DoubleZ makes the encoder emit mean and log-variance (2·ZChannels);
	// without it the posterior is deterministic (the mean alone).
	DoubleZ bool
	// QuantConv adds the 1×1 quant_conv after the encoder and
	// post_quant_conv before the decoder (LDM and MAR have them, FLUX not).
	QuantConv bool
	// MidAttn puts an AttnBlock between the two mid ResnetBlocks of the
	// encoder and the decoder (true in every LDM-family VAE).
	MidAttn bool
	// Scale and Shift normalise latents: z_s = Scale·(z − Shift).
	Scale, Shift float32
}

// Preset returns a named configuration:
//
//   - "flux": FLUX.1's autoencoder (8× downsampling, 16 latent channels,
//     83,819,683 parameters, scale 0.3611, shift 0.1159).
//   - "mar-kl16": MAR's KL-16 VAE (16×, 16 channels, quant convs,
//     attention in the encoder's 16×16 level, 66,456,019 parameters,
//     scale 0.2325).
//   - "small-4x": for 28–32 px data such as Fashion-MNIST: 4×
//     downsampling (28×28 → 7×7×4), 954,475 parameters.
//   - "small-8x": for 32–64 px data: 8× downsampling (32×32 → 4×4×8,
//     64×64 → 8×8×8), 3,012,019 parameters.
//
// The small presets keep LDM's structure at the least width GroupNorm(32)
// allows (Ch 32, widening to 64 and, for small-8x, 128 at the lowest
// level), one ResnetBlock per level and attention only in the mid blocks:
// their lowest resolutions are 7×7 and 4×4–8×8, where two 3×3 convs
// already see most of the image, so level attention would add cost for
// little reach. Their latent channels put the compression between FLUX's
// (12×) and MAR's (48×): 28²·3 values to 7²·4 is 12×, 32²·3 to 4²·8 is
// 24×. 28 px input suits only small-4x (three halvings of 28 leave 3,
// which decodes to 24). Scale 1 and Shift 0 are placeholders: after
// training set Scale to 1/std of the latents (LDM's recipe) and Shift to
// their mean if wanted. Inputs have 3 channels (grayscale replicated, as
// data.Channels(3) does); set InChannels and OutChannels to 1 for a
// grayscale-only VAE.
func Preset(name string) (Config, error) {
	switch name {
	case "flux":
		return Config{
			Resolution: 256, InChannels: 3, OutChannels: 3,
			Ch: 128, ChMult: []int{1, 2, 4, 4}, NumResBlocks: 2,
			ZChannels: 16, DoubleZ: true, MidAttn: true,
			Scale: 0.3611, Shift: 0.1159,
		}, nil
	case "mar-kl16":
		return Config{
			Resolution: 256, InChannels: 3, OutChannels: 3,
			Ch: 128, ChMult: []int{1, 1, 2, 2, 4}, NumResBlocks: 2,
			AttnResolutions: []int{16},
			ZChannels:       16, DoubleZ: true, QuantConv: true, MidAttn: true,
			Scale: 0.2325,
		}, nil
	case "small-4x":
		return Config{
			Resolution: 28, InChannels: 3, OutChannels: 3,
			Ch: 32, ChMult: []int{1, 2, 2}, NumResBlocks: 1,
			ZChannels: 4, DoubleZ: true, MidAttn: true,
			Scale: 1,
		}, nil
	case "small-8x":
		return Config{
			Resolution: 32, InChannels: 3, OutChannels: 3,
			Ch: 32, ChMult: []int{1, 2, 2, 4}, NumResBlocks: 1,
			ZChannels: 8, DoubleZ: true, MidAttn: true,
			Scale: 1,
		}, nil
	}
	return Config{}, fmt.Errorf("vae: unknown preset %q (want flux, mar-kl16, small-4x or small-8x)", name)
}

// Validate reports what makes c unbuildable, or nil.
func (c Config) Validate() error {
	switch {
	case c.Resolution <= 0 || c.InChannels <= 0 || c.OutChannels <= 0 || c.Ch <= 0 || c.ZChannels <= 0:
		return fmt.Errorf("vae: Resolution, InChannels, OutChannels, Ch and ZChannels must be positive (%+v)", c)
	case len(c.ChMult) == 0:
		return fmt.Errorf("vae: ChMult is empty")
	case c.NumResBlocks <= 0:
		return fmt.Errorf("vae: NumResBlocks must be positive, got %d", c.NumResBlocks)
	case c.Scale == 0 || math.IsNaN(float64(c.Scale)) || math.IsInf(float64(c.Scale), 0):
		return fmt.Errorf("vae: Scale must be finite and non-zero, got %g", c.Scale)
	case math.IsNaN(float64(c.Shift)) || math.IsInf(float64(c.Shift), 0):
		return fmt.Errorf("vae: Shift must be finite, got %g", c.Shift)
	}
	for _, m := range c.ChMult {
		if m <= 0 || c.Ch*m%normGroups != 0 {
			return fmt.Errorf("vae: every level's channels Ch·ChMult[i] must be a positive multiple of %d (GroupNorm groups); Ch %d, ChMult %v", normGroups, c.Ch, c.ChMult)
		}
	}
	return nil
}

// Factor is the spatial downsampling of the latents: 2^(len(ChMult)-1).
func (c Config) Factor() int { return 1 << (len(c.ChMult) - 1) }

// LatentSize is the latent side for an image side n (each stride-2
// downsampling halves it, rounding down); the decoder returns
// LatentSize(n)·Factor().
func (c Config) LatentSize(n int) int { return n >> (len(c.ChMult) - 1) }

// levelRes is the resolution of each level: Resolution halved (rounding
// down) once per level, as LDM's curr_res.
func (c Config) levelRes() []int {
	res := make([]int, len(c.ChMult))
	r := c.Resolution
	for i := range res {
		res[i] = r
		r /= 2
	}
	return res
}

// decoderLevelRes is the decoder's curr_res per level: LDM starts it at
// Resolution / 2^(levels-1) and doubles it, which differs from levelRes
// when Resolution is not a multiple of Factor.
func (c Config) decoderLevelRes() []int {
	res := make([]int, len(c.ChMult))
	r := c.Resolution / c.Factor()
	for i := len(res) - 1; i >= 0; i-- {
		res[i] = r
		r *= 2
	}
	return res
}

// NumParams is the parameter count of New(b, c), computed without building
// it (a full-size model is hundreds of megabytes).
func (c Config) NumParams() int {
	conv := func(in, out, k int) int { return out*in*k*k + out }
	norm := func(ch int) int { return 2 * ch }
	res := func(in, out int) int {
		n := norm(in) + conv(in, out, 3) + norm(out) + conv(out, out, 3)
		if in != out {
			n += conv(in, out, 1)
		}
		return n
	}
	attn := func(ch int) int { return norm(ch) + 4*conv(ch, ch, 1) }
	mid := func(ch int) int {
		n := 2 * res(ch, ch)
		if c.MidAttn {
			n += attn(ch)
		}
		return n
	}
	levels := len(c.ChMult)
	z2 := c.ZChannels
	if c.DoubleZ {
		z2 *= 2
	}

	// Encoder.
	n := conv(c.InChannels, c.Ch, 3)
	in := c.Ch
	encRes := c.levelRes()
	for i, m := range c.ChMult {
		out := c.Ch * m
		for j := 0; j < c.NumResBlocks; j++ {
			n += res(in, out)
			in = out
			if slices.Contains(c.AttnResolutions, encRes[i]) {
				n += attn(out)
			}
		}
		if i != levels-1 {
			n += conv(in, in, 3)
		}
	}
	n += mid(in) + norm(in) + conv(in, z2, 3)

	// Decoder.
	in = c.Ch * c.ChMult[levels-1]
	n += conv(c.ZChannels, in, 3) + mid(in)
	decRes := c.decoderLevelRes()
	for i := levels - 1; i >= 0; i-- {
		out := c.Ch * c.ChMult[i]
		for j := 0; j <= c.NumResBlocks; j++ {
			n += res(in, out)
			in = out
			if slices.Contains(c.DecoderAttnResolutions, decRes[i]) {
				n += attn(out)
			}
		}
		if i != 0 {
			n += conv(in, in, 3)
		}
	}
	n += norm(in) + conv(in, c.OutChannels, 3)

	if c.QuantConv {
		n += conv(z2, z2, 1) + conv(c.ZChannels, c.ZChannels, 1)
	}
	return n
}
