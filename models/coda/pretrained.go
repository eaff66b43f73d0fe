package coda

import (
	"bytes"
	"embed"
	"errors"
	"fmt"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/safetensors"
)

// weights holds the embedded tokenizer's trained parameters (adapters and
// quantizer, SaveTrained's format): the embedded small-4x VAE adapted on
// the first 8 000 bundled Fashion-MNIST images by `tessera tokenizer
// train` (the README gives the commands and its held-out metrics).
//
//go:embed weights
var weights embed.FS

// PretrainedFile is the embedded tokenizer's file name inside weights/.
const PretrainedFile = "weights/fashion-mnist.safetensors"

// Pretrained builds the embedded Fashion-MNIST tokenizer: the default of
// every command that takes a tokenizer.
func Pretrained(tp *autograd.Tape) (*Tokenizer, error) {
	b, err := weights.ReadFile(PretrainedFile)
	if err != nil {
		return nil, errors.New("coda: this build embeds no tokenizer; pass --tokenizer FILE")
	}
	f, err := safetensors.Read(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, fmt.Errorf("coda: embedded tokenizer: %w", err)
	}
	cfg, err := ReadConfig(f, "the embedded tokenizer")
	if err != nil {
		return nil, err
	}
	return build(tp, f, cfg, "the embedded tokenizer")
}
