// Package perceptual holds the frozen networks that judge images rather
// than make them: feature extractors for FID (pytorch-fid's Inception-v3,
// or the embedded Fashion-MNIST classifier when no Inception weights are
// at hand) and perceptual losses for training (LPIPS on VGG16, or a
// feature loss on the same classifier).
//
// Real weights are PyTorch files read in Go (models/torchfile) by their
// original key names: pytorch-fid's pt_inception-2015-12-05-*.pth,
// torchvision's vgg16-*.pth and lpips' vgg.pth. Loaders infer a narrowed
// width from the first layer, so the test fixtures (the same
// architectures at 1/16 width, written by testdata/golden.py) go through
// exactly the code that loads the full networks.
//
// Images are NCHW batches in [-1, 1] with one (grey) or three (RGB)
// channels; each network converts them to what it was trained on. Layers
// that models/nn lacks are built from autograd ops here: eval-mode
// BatchNorm is folded into the convolution before it, max pooling is a
// gather of each window and a max, average pooling and bilinear resizing
// are matrix products along each axis. Everything is differentiable with
// respect to the images; the weights get no gradients.
package perceptual

import (
	"fmt"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/nn"
)

// FeatureNet maps images to feature vectors, for FID.
type FeatureNet interface {
	nn.Module
	// Name says which network (and width) this is; callers print it, since
	// FIDs from different networks are not comparable.
	Name() string
	// Dim is the width of the features.
	Dim() int
	// Features maps images x [B, C, H, W] in [-1, 1] (C = 1 or 3) to
	// [B, Dim]. Run it under the tape's NoGrad to keep only one block's
	// temporaries alive at a time.
	Features(x *autograd.Var) (*autograd.Var, error)
	// Release frees the weights the network loaded.
	Release()
}

// Loss is a perceptual distance between two image batches, for training.
type Loss interface {
	nn.Module
	// Name says which loss this is.
	Name() string
	// Loss returns the batch mean of the distance between x and y
	// [B, C, H, W] in [-1, 1], a scalar differentiable with respect to both.
	Loss(x, y *autograd.Var) (*autograd.Var, error)
	// Release frees the weights the loss loaded.
	Release()
}

// NewFeatureNet returns the feature network for FID: pytorch-fid's
// Inception loaded from inceptionPath, or, when inceptionPath is empty,
// the embedded Fashion-MNIST classifier. Callers should print its Name,
// since FIDs from the two are not comparable.
func NewFeatureNet(tp *autograd.Tape, inceptionPath string) (FeatureNet, error) {
	if inceptionPath == "" {
		return PretrainedClassifier(tp)
	}
	return LoadInception(tp, inceptionPath)
}

// NewLoss returns the perceptual loss for training: LPIPS loaded from
// vggPath and linPath, or, when both are empty, the FeatureLoss on the
// embedded classifier. Giving only one of the two files is an error.
func NewLoss(tp *autograd.Tape, vggPath, linPath string) (Loss, error) {
	switch {
	case vggPath == "" && linPath == "":
		c, err := PretrainedClassifier(tp)
		if err != nil {
			return nil, err
		}
		return NewFeatureLoss(c), nil
	case vggPath == "" || linPath == "":
		return nil, fmt.Errorf("perceptual: LPIPS needs both the VGG16 weights and the linear heads (got %q and %q)", vggPath, linPath)
	}
	return LoadLPIPS(tp, vggPath, linPath)
}
