package classify

import (
	"bytes"
	_ "embed"
	"fmt"

	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/models/safetensors"
)

// pretrained holds DefaultConfig weights trained by
// `tessera classify train` (defaults, seed 1) on the first 8 000 bundled
// Fashion-MNIST images; see the README for the command and its accuracy.
//
//go:embed weights/fashionmnist-convnet.safetensors
var pretrained []byte

// Pretrained builds a DefaultConfig ConvNet with the embedded Fashion-MNIST
// weights: the default feature extractor for FID on that data.
func Pretrained(b *nn.Builder) (*ConvNet, error) {
	f, err := safetensors.Read(bytes.NewReader(pretrained), int64(len(pretrained)))
	if err != nil {
		return nil, fmt.Errorf("classify: embedded weights: %w", err)
	}
	m := New(b, DefaultConfig())
	if _, err := nn.LoadTensors(m, f, nn.LoadOptions{Strict: true}); err != nil {
		nn.Release(m)
		return nil, fmt.Errorf("classify: embedded weights: %w", err)
	}
	return m, nil
}
