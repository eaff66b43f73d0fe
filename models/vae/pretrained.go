package vae

import (
	"bytes"
	_ "embed"
	"fmt"

	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/models/safetensors"
)

// pretrained holds small-4x weights trained by `tessera vae train` on the
// first 8 000 bundled Fashion-MNIST images (fed as 3 channels); the README
// gives the command and the held-out PSNR/SSIM it reached.
//
//go:embed weights/small-4x-fashionmnist.safetensors
var pretrained []byte

// PretrainedPreset is the preset of the embedded weights.
const PretrainedPreset = "small-4x"

// Pretrained builds the small-4x VAE with the embedded Fashion-MNIST
// weights: the default continuous VAE a tokenizer starts from when the
// user brings none.
func Pretrained(b *nn.Builder) (*VAE, error) {
	cfg, err := Preset(PretrainedPreset)
	if err != nil {
		return nil, err
	}
	f, err := safetensors.Read(bytes.NewReader(pretrained), int64(len(pretrained)))
	if err != nil {
		return nil, fmt.Errorf("vae: embedded weights: %w", err)
	}
	m := New(b, cfg)
	if _, err := nn.LoadTensors(m, f, nn.LoadOptions{Strict: true}); err != nil {
		nn.Release(m)
		return nil, fmt.Errorf("vae: embedded weights: %w", err)
	}
	return m, nil
}
