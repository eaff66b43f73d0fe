// Package coda is the CODA tokenizer (coda-method.md §1–§4): a frozen
// continuous VAE whose convolutions carry LoRA adapters, followed by a
// multi-scale residual quantizer with attention code assignment. Encode
// turns images into token ids per level, Decode turns ids back into
// images, and Train adapts the LoRA and quantizer parameters with the
// spec's loss (L1, MSE, perceptual, adversarial, L_vq, entropy).
//
// Saved tokenizers are safetensors files holding the VAE's parameters
// under "vae.", the quantizer's under "quantizer.", and the tokenizer's
// configuration as JSON in the metadata key "coda.config", with its hash
// in "coda.config_hash". Token files (WriteTokens) record that hash so
// that tokens are never decoded by a tokenizer that did not make them.
package coda
