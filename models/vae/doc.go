// Package vae is the latent-diffusion KL autoencoder (LDM's
// Encoder/Decoder, the architecture of FLUX's and MAR's VAEs) built from
// Tessera's layers.
//
// Parameters are named as in the PyTorch models
// ("encoder.down.0.block.1.conv2.weight",
// "decoder.up.3.upsample.conv.bias", "quant_conv.weight"), so real weights
// load by name: LoadWeights reads FLUX's ae.safetensors, diffusers
// AutoencoderKL folders (names mapped) and PyTorch checkpoints such as
// MAR's kl16.ckpt. The encoder returns a diagonal-Gaussian Posterior (LDM's
// DiagonalGaussianDistribution); Scale and Unscale apply the latent
// normalisation a downstream model (CODA's quantizer) works in:
//
//	z := m.Scale(m.Encode(x).Sample(seed)) // s·(z − shift)
//	x̂ := m.Decode(m.Unscale(ẑ))            // ẑ/s + shift
//
// Every convolution sits in an nn.Layer field, so LoRA adapters (CODA §3)
// can replace the ones they adapt; VAE.Convs visits them by name.
package vae
