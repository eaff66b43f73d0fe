// Package classify is a small convolutional image classifier: the proof
// that Tessera's training stack works on real data (Fashion-MNIST), and the
// feature extractor behind FID on that data.
package classify

import (
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/nn"
)

// Config sizes the network.
type Config struct {
	InChannels int
	Classes    int
	Width      int // channels of the first block; doubled by each stride-2 block
	Size       int // input height and width
	Hidden     int // width of the feature layer before the classifier
}

// DefaultConfig suits 28×28 grayscale images with ten classes.
func DefaultConfig() Config {
	return Config{InChannels: 1, Classes: 10, Width: 32, Size: 28, Hidden: 128}
}

// block is conv → group norm → SiLU.
type block struct {
	Conv *nn.Conv2d
	Norm *nn.GroupNorm
}

func newBlock(b *nn.Builder, in, out, stride int) *block {
	return &block{Conv: nn.NewConv2d(b, in, out, 3, stride, 1, true), Norm: nn.NewGroupNorm(b, 8, out, 1e-5)}
}

func (k *block) Params() []nn.Param { return nn.Children("conv", k.Conv, "norm", k.Norm) }

func (k *block) Forward(x *autograd.Var) *autograd.Var {
	return autograd.Silu(k.Norm.Forward(k.Conv.Forward(x)))
}

// ConvNet is three conv blocks (the second and third stride 2), a hidden
// fully connected feature layer over the flattened map, and a linear head.
// Flattening rather than pooling keeps where things are, which
// Fashion-MNIST's classes depend on.
type ConvNet struct {
	Cfg    Config
	Blocks []*block
	FC     *nn.Linear
	Head   *nn.Linear
}

// New builds a ConvNet with PyTorch's default initialisation.
func New(b *nn.Builder, cfg Config) *ConvNet {
	w := cfg.Width
	side := (cfg.Size + 3) / 4 // two stride-2 convs with padding 1
	return &ConvNet{
		Cfg: cfg,
		Blocks: []*block{
			newBlock(b, cfg.InChannels, w, 1),
			newBlock(b, w, 2*w, 2),
			newBlock(b, 2*w, 4*w, 2),
		},
		FC:   nn.NewLinear(b, 4*w*side*side, cfg.Hidden, true),
		Head: nn.NewLinear(b, cfg.Hidden, cfg.Classes, true),
	}
}

// Params names the parameters blocks.<i>.conv.weight, …, head.weight.
func (m *ConvNet) Params() []nn.Param {
	var ps []nn.Param
	for i, b := range m.Blocks {
		ps = append(ps, nn.Prefixed("blocks."+string(rune('0'+i)), b.Params())...)
	}
	ps = append(ps, nn.Prefixed("fc", m.FC.Params())...)
	return append(ps, nn.Prefixed("head", m.Head.Params())...)
}

// Features returns the penultimate features [N, Hidden]: what FID
// compares on this data.
func (m *ConvNet) Features(x *autograd.Var) *autograd.Var {
	h := x
	for _, b := range m.Blocks {
		h = b.Forward(h)
	}
	return autograd.Silu(m.FC.Forward(autograd.Reshape(h, h.Shape()[0], -1)))
}

// Forward returns the class logits [N, Classes].
func (m *ConvNet) Forward(x *autograd.Var) *autograd.Var {
	return m.Head.Forward(m.Features(x))
}
