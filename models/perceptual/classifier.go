package perceptual

import (
	"fmt"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/classify"
	"github.com/tessera-ml/tessera/models/nn"
)

// ClassifierFeatures measures images with the embedded Fashion-MNIST
// ConvNet (models/classify): its penultimate features. It is the feature
// network when no Inception weights are given, so FID runs without any
// download; its numbers are comparable only with each other, not with
// Inception FIDs.
type ClassifierFeatures struct {
	Net *classify.ConvNet
	// owned says Release frees Net (PretrainedClassifier made it).
	owned bool
}

var _ FeatureNet = (*ClassifierFeatures)(nil)

// NewClassifierFeatures wraps net, freezing its parameters.
func NewClassifierFeatures(net *classify.ConvNet) *ClassifierFeatures {
	nn.Freeze(net, true)
	nn.SetTraining(net, false)
	return &ClassifierFeatures{Net: net}
}

// PretrainedClassifier loads the embedded Fashion-MNIST ConvNet
// (classify.Pretrained) on tp's engine, frozen.
func PretrainedClassifier(tp *autograd.Tape) (*ClassifierFeatures, error) {
	net, err := classify.Pretrained(nn.NewBuilder(tp, 0))
	if err != nil {
		return nil, fmt.Errorf("perceptual: %w", err)
	}
	c := NewClassifierFeatures(net)
	c.owned = true
	return c, nil
}

// Name says which network this is.
func (c *ClassifierFeatures) Name() string {
	return fmt.Sprintf("fashion-mnist-convnet (penultimate, %d-d)", c.Dim())
}

// Dim is the feature width (the ConvNet's Hidden, 128 for the embedded
// one).
func (c *ClassifierFeatures) Dim() int { return c.Net.Cfg.Hidden }

// Params lists the ConvNet's parameters.
func (c *ClassifierFeatures) Params() []nn.Param { return c.Net.Params() }

// Release frees the ConvNet if PretrainedClassifier made it.
func (c *ClassifierFeatures) Release() {
	if c.owned {
		nn.Release(c.Net)
	}
}

// input turns images [B, C, H, W] in [-1, 1] into what the ConvNet was
// trained on: its channels (RGB reduced to BT.601 luma for a grey net, grey
// replicated for an RGB one) at its size (larger images averaged down,
// smaller ones interpolated up), still in [-1, 1].
func (c *ClassifierFeatures) input(who string, x *autograd.Var) (*autograd.Var, error) {
	if err := checkImages(who, x); err != nil {
		return nil, err
	}
	switch c.Net.Cfg.InChannels {
	case 1:
		x = toGrey(x)
	case 3:
		x = toRGB(x)
	default:
		return nil, fmt.Errorf("perceptual: %s: the ConvNet takes %d channels; only 1 or 3 are supported", who, c.Net.Cfg.InChannels)
	}
	n := c.Net.Cfg.Size
	return resizeTo(x, n, n), nil
}

// Features returns the ConvNet's penultimate features [B, Dim] of images x
// [B, C, H, W] in [-1, 1].
func (c *ClassifierFeatures) Features(x *autograd.Var) (*autograd.Var, error) {
	h, err := c.input("ClassifierFeatures", x)
	if err != nil {
		return nil, err
	}
	out := c.Net.Features(h)
	if err := out.Value.Err(); err != nil {
		return nil, fmt.Errorf("perceptual: ClassifierFeatures: %w", err)
	}
	return out, nil
}

// FeatureLoss is a perceptual loss without downloads, on the embedded
// classifier: LPIPS's "baseline" form (no learned heads) over the outputs
// of the ConvNet's three conv blocks. At each block the features of both
// images are normalised over channels (as LPIPS does), and the squared
// difference is summed over channels and averaged over positions; the
// blocks' terms are added and the result averaged over the batch. Each
// block contributes between 0 and 4.
type FeatureLoss struct {
	Features *ClassifierFeatures
}

var _ Loss = (*FeatureLoss)(nil)

// NewFeatureLoss makes the loss on c's ConvNet.
func NewFeatureLoss(c *ClassifierFeatures) *FeatureLoss { return &FeatureLoss{Features: c} }

// Name says which loss this is.
func (f *FeatureLoss) Name() string { return "fashion-mnist-convnet feature loss" }

// Params lists the ConvNet's parameters.
func (f *FeatureLoss) Params() []nn.Param { return f.Features.Params() }

// Release frees the ConvNet if PretrainedClassifier made it.
func (f *FeatureLoss) Release() { f.Features.Release() }

// Loss returns the batch mean of the feature distance between x and y
// [B, C, H, W] in [-1, 1] (same shape): a scalar differentiable with
// respect to both.
func (f *FeatureLoss) Loss(x, y *autograd.Var) (*autograd.Var, error) {
	if err := checkPair("FeatureLoss", x, y); err != nil {
		return nil, err
	}
	c := f.Features
	hx, err := c.input("FeatureLoss", x)
	if err != nil {
		return nil, err
	}
	hy, err := c.input("FeatureLoss", y)
	if err != nil {
		return nil, err
	}
	b := x.Shape()[0]
	h := autograd.Concat(0, hx, hy)
	var total *autograd.Var
	for _, blk := range c.Net.Blocks {
		h = blk.Forward(h)
		n := channelNormalize(h)
		s := n.Shape()
		d := autograd.Square(autograd.Sub(autograd.Slice(n, 0, 0, b), autograd.Slice(n, 0, b, 2*b)))
		// Σ over channels, mean over positions and images.
		v := autograd.MulScalar(autograd.SumAll(d), 1/float32(b*s[2]*s[3]))
		if total == nil {
			total = v
		} else {
			total = autograd.Add(total, v)
		}
	}
	if err := total.Value.Err(); err != nil {
		return nil, fmt.Errorf("perceptual: FeatureLoss: %w", err)
	}
	return total, nil
}
