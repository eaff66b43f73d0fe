package vae

import (
	"fmt"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/tensor"
)

// PatchGAN is taming-transformers' NLayerDiscriminator (pix2pix's PatchGAN):
// conv 4×4/2 (in→ndf) + LeakyReLU 0.2; n_layers−1 blocks of conv 4×4/2
// (no bias) + norm + LeakyReLU 0.2 with the channels doubling (at most
// 8·ndf); conv 4×4/1 + norm + LeakyReLU; a final conv 4×4/1 to one logit
// per patch. All convolutions pad by 1.
//
// taming normalises with BatchNorm; Tessera has none, so the norms are
// GroupNorm with min(32, channels) groups (eps 1e-5). GroupNorm has no
// batch statistics, so D sees real and fake batches independently and
// train and eval mode agree. Parameters are named as taming's
// ("main.0.weight", "main.3.weight", …), the norms at BatchNorm's indices.
type PatchGAN struct {
	Main *nn.Sequential
}

// DiscGroups is the GroupNorm group count PatchGAN uses in place of
// BatchNorm for ch channels.
func DiscGroups(ch int) int { return min(32, ch) }

// NewPatchGAN builds a discriminator for in-channel images with ndf
// channels in its first layer and nLayers stride-2 convolutions, with
// taming's weights_init: conv weights N(0, 0.02), norm weights
// N(1, 0.02), biases 0.
func NewPatchGAN(b *nn.Builder, in, ndf, nLayers int) *PatchGAN {
	if in <= 0 || ndf <= 0 || nLayers < 1 {
		panic(fmt.Sprintf("vae.NewPatchGAN: need positive channels and at least one layer, got in %d, ndf %d, layers %d", in, ndf, nLayers))
	}
	conv := func(cin, cout, stride int, bias bool) *nn.Conv2d {
		c := &nn.Conv2d{
			Weight: b.Normal("weight", 0, 0.02, cout, cin, 4, 4),
			Conv:   tensor.ConvParams{StrideH: stride, StrideW: stride, PadH: 1, PadW: 1, DilH: 1, DilW: 1},
		}
		if bias {
			c.Bias = b.Full("bias", 0, cout)
		}
		return c
	}
	norm := func(ch int) *nn.GroupNorm {
		return &nn.GroupNorm{Groups: DiscGroups(ch), Eps: 1e-5, Weight: b.Normal("weight", 1, 0.02, ch), Bias: b.Full("bias", 0, ch)}
	}
	lrelu := nn.Activation{Fn: func(x *autograd.Var) *autograd.Var { return autograd.LeakyRelu(x, 0.2) }}
	layers := []nn.Layer{conv(in, ndf, 2, true), lrelu}
	mult := 1
	for n := 1; n < nLayers; n++ {
		prev := mult
		mult = min(1<<n, 8)
		layers = append(layers, conv(ndf*prev, ndf*mult, 2, false), norm(ndf*mult), lrelu)
	}
	prev := mult
	mult = min(1<<nLayers, 8)
	layers = append(layers, conv(ndf*prev, ndf*mult, 1, false), norm(ndf*mult), lrelu)
	layers = append(layers, conv(ndf*mult, 1, 1, true))
	return &PatchGAN{Main: &nn.Sequential{Layers: layers}}
}

// Params lists main.<i>.weight / .bias.
func (d *PatchGAN) Params() []nn.Param { return nn.Prefixed("main", d.Main.Params()) }

// Forward maps images [N, in, H, W] to patch logits [N, 1, H', W'].
func (d *PatchGAN) Forward(x *autograd.Var) *autograd.Var { return d.Main.Forward(x) }

// HingeDLoss is the discriminator's hinge loss
// 0.5·(mean relu(1 − real) + mean relu(1 + fake)) on logits of real and
// reconstructed (detached) images.
func HingeDLoss(real, fake *autograd.Var) *autograd.Var {
	r := autograd.MeanAll(autograd.Relu(autograd.Affine(real, -1, 1)))
	f := autograd.MeanAll(autograd.Relu(autograd.AddScalar(fake, 1)))
	return autograd.MulScalar(autograd.Add(r, f), 0.5)
}

// GenAdvLoss is the generator's adversarial loss −mean D(x̂).
func GenAdvLoss(fake *autograd.Var) *autograd.Var {
	return autograd.Neg(autograd.MeanAll(fake))
}

// AdaptiveWeight is taming's calculate_adaptive_weight:
// ‖∇rec‖ / (‖∇adv‖ + 1e-6) clamped to [0, 1e4], the gradient norms taken
// at the decoder's last layer.
func AdaptiveWeight(recNorm, advNorm float64) float64 {
	return min(max(recNorm/(advNorm+1e-6), 0), 1e4)
}
