package perceptual

import (
	"fmt"
	"math"
	"strings"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/tensor"
)

// Sizes of pytorch-fid's Inception network.
const (
	// InceptionDim is the width of the pool3 features of the full network.
	InceptionDim = 2048
	// InceptionSize is the side images are resized to before the network.
	InceptionSize = 299
	// inceptionBNEps is the BatchNorm eps of torchvision's BasicConv2d.
	inceptionBNEps = 0.001
)

// inceptionCounts are the channel counts of the full network that a
// narrowed file divides (the input's 3 channels are never divided).
var inceptionCounts = []int{32, 48, 64, 80, 96, 128, 160, 192, 256, 288, 320, 384, 448, 768, 1280, 2048}

// Inception is pytorch-fid's FIDInceptionV3 up to pool3: torchvision's
// Inception3 with the blocks pytorch-fid patches to match the TensorFlow
// graph FID was defined with (FIDInceptionA, FIDInceptionC and
// FIDInceptionE_1 average-pool without counting the padding,
// FIDInceptionE_2 max-pools), evaluated as pytorch-fid's InceptionV3 with
// output_blocks=[3]: bilinear resize to 299×299 (align_corners=False),
// four blocks, global average pooling. BatchNorms (eval mode, eps 0.001)
// are folded into their convolutions at load time. Its parameters are
// frozen.
type Inception struct {
	div    int
	params []nn.Param
	stem0  []*basicConv // Conv2d_1a_3x3, Conv2d_2a_3x3, Conv2d_2b_3x3, then max pool 3/2
	stem1  []*basicConv // Conv2d_3b_1x1, Conv2d_4a_3x3, then max pool 3/2
	mixed6 []layer      // Mixed_5b … Mixed_6e
	mixed7 []layer      // Mixed_7a … Mixed_7c, then global average pooling
}

var _ FeatureNet = (*Inception)(nil)

// LoadInception reads pytorch-fid's Inception weights (the
// pt_inception-2015-12-05-6726825d.pth state dict, or a narrowed copy with
// the same key names, whose width is inferred from Conv2d_1a_3x3) into a
// frozen network on tp's engine. Every convolution and BatchNorm tensor
// must be present with its shape; fc.* (the classifier, unused by pool3)
// and BatchNorm num_batches_tracked counters are skipped; any other tensor
// is an error naming it and the file.
func LoadInception(tp *autograd.Tape, path string) (*Inception, error) {
	s, err := readState(path)
	if err != nil {
		return nil, err
	}
	return loadInception(tp, s)
}

// loadInception builds the network from s.
func loadInception(tp *autograd.Tape, s *stateDict) (*Inception, error) {
	div, err := widthDivisor(s, "Conv2d_1a_3x3.conv.weight", 32, inceptionCounts)
	if err != nil {
		return nil, err
	}
	l := &loader{s: s, tp: tp, div: div}
	w := l.ch
	m := &Inception{div: div}
	m.stem0 = []*basicConv{
		l.basic("Conv2d_1a_3x3", 3, w(32), 3, 3, 2, 0, 0),
		l.basic("Conv2d_2a_3x3", w(32), w(32), 3, 3, 1, 0, 0),
		l.basic("Conv2d_2b_3x3", w(32), w(64), 3, 3, 1, 1, 1),
	}
	m.stem1 = []*basicConv{
		l.basic("Conv2d_3b_1x1", w(64), w(80), 1, 1, 1, 0, 0),
		l.basic("Conv2d_4a_3x3", w(80), w(192), 3, 3, 1, 0, 0),
	}
	m.mixed6 = []layer{
		l.inceptionA("Mixed_5b", w(192), w(32)),
		l.inceptionA("Mixed_5c", w(256), w(64)),
		l.inceptionA("Mixed_5d", w(288), w(64)),
		l.inceptionB("Mixed_6a", w(288)),
		l.inceptionC("Mixed_6b", w(768), w(128)),
		l.inceptionC("Mixed_6c", w(768), w(160)),
		l.inceptionC("Mixed_6d", w(768), w(160)),
		l.inceptionC("Mixed_6e", w(768), w(192)),
	}
	m.mixed7 = []layer{
		l.inceptionD("Mixed_7a", w(768)),
		l.inceptionE("Mixed_7b", w(1280), false),
		l.inceptionE("Mixed_7c", w(2048), true),
	}
	m.params = l.params
	err = s.finish(func(name string) bool {
		return strings.HasPrefix(name, "fc.") || strings.HasSuffix(name, ".num_batches_tracked")
	})
	if err != nil {
		nn.Release(m)
		return nil, err
	}
	return m, nil
}

// Name says which network this is and how wide.
func (m *Inception) Name() string {
	if m.div == 1 {
		return fmt.Sprintf("inception-v3-fid (pool3, %d-d)", m.Dim())
	}
	return fmt.Sprintf("inception-v3-fid at 1/%d width (pool3, %d-d)", m.div, m.Dim())
}

// Dim is the feature width: 2048 for the real network.
func (m *Inception) Dim() int { return InceptionDim / m.div }

// Params lists the folded convolutions under their checkpoint names
// (Mixed_5b.branch1x1.conv.weight, ….conv.bias).
func (m *Inception) Params() []nn.Param { return m.params }

// Release frees the weights.
func (m *Inception) Release() { nn.Release(m) }

// Features returns the pool3 features [B, Dim] of images x [B, C, H, W]
// in [-1, 1] (grey images are replicated to RGB). pytorch-fid takes
// [0, 1] images and maps them to 2x−1 after resizing; the resize is linear
// with weights summing to one, so [-1, 1] input goes straight in.
func (m *Inception) Features(x *autograd.Var) (*autograd.Var, error) {
	return m.forward(x, nil)
}

// forward is Features, calling tap (if not nil) with the output of each
// of pytorch-fid's four blocks.
func (m *Inception) forward(x *autograd.Var, tap func(block int, h *autograd.Var)) (*autograd.Var, error) {
	if err := checkImages("Inception", x); err != nil {
		return nil, err
	}
	if tap == nil {
		tap = func(int, *autograd.Var) {}
	}
	h := resizeBilinear(toRGB(x), InceptionSize, InceptionSize)
	h = nn.Inference(h, func() *autograd.Var { return stem(h, m.stem0) })
	tap(0, h)
	h = nn.Inference(h, func() *autograd.Var { return stem(h, m.stem1) })
	tap(1, h)
	for _, b := range m.mixed6 {
		h = nn.Inference(h, func() *autograd.Var { return b.forward(h) })
	}
	tap(2, h)
	for _, b := range m.mixed7 {
		h = nn.Inference(h, func() *autograd.Var { return b.forward(h) })
	}
	h = spatialMean(h)
	tap(3, h)
	if err := h.Value.Err(); err != nil {
		return nil, fmt.Errorf("perceptual: Inception: %w", err)
	}
	return h, nil
}

// stem applies convs, then a 3×3 max pool of stride 2.
func stem(x *autograd.Var, convs []*basicConv) *autograd.Var {
	return maxPool2d(chain(x, convs...), 3, 2, 0)
}

// layer is a block of a network.
type layer interface {
	forward(x *autograd.Var) *autograd.Var
}

// loader builds frozen layers from a state dict, collecting their
// parameters.
type loader struct {
	s      *stateDict
	tp     *autograd.Tape
	div    int
	params []nn.Param
}

// ch is the narrowed width of a full channel count.
func (l *loader) ch(c int) int { return c / l.div }

// param uploads a frozen parameter (or nothing once loading has failed).
func (l *loader) param(name string, vals []float64, shape ...int) *autograd.Var {
	if l.s.err != nil {
		return nil
	}
	p := frozen(l.tp, name, vals, shape...)
	l.params = append(l.params, nn.Param{Name: name, Var: p})
	return p
}

// basicConv is torchvision's BasicConv2d (a bias-free convolution, an
// eval-mode BatchNorm with eps 0.001, ReLU), the BatchNorm folded into the
// convolution: W' = W·γ/√(σ²+ε) per output channel, b' = β − μ·γ/√(σ²+ε).
type basicConv struct{ conv }

func (b *basicConv) forward(x *autograd.Var) *autograd.Var { return autograd.Relu(b.conv.forward(x)) }

// basic loads the BasicConv2d called name: in → out channels, a kh×kw
// kernel, stride, padding (padH, padW).
func (l *loader) basic(name string, in, out, kh, kw, stride, padH, padW int) *basicConv {
	s := l.s
	wt := s.take(name+".conv.weight", out, in, kh, kw)
	gamma := s.take(name+".bn.weight", out)
	beta := s.take(name+".bn.bias", out)
	mean := s.take(name+".bn.running_mean", out)
	variance := s.take(name+".bn.running_var", out)
	s.skip(name + ".bn.num_batches_tracked")
	if s.err != nil {
		return &basicConv{}
	}
	bias := make([]float64, out)
	per := in * kh * kw
	for o := range out {
		if variance[o] < 0 {
			s.fail("tensor %q has a negative variance %.6g at channel %d", name+".bn.running_var", variance[o], o)
			return &basicConv{}
		}
		scale := gamma[o] / math.Sqrt(variance[o]+inceptionBNEps)
		for i := o * per; i < (o+1)*per; i++ {
			wt[i] *= scale
		}
		bias[o] = beta[o] - mean[o]*scale
	}
	return &basicConv{conv{
		Weight: l.param(name+".conv.weight", wt, out, in, kh, kw),
		Bias:   l.param(name+".conv.bias", bias, out),
		Conv:   tensor.ConvParams{StrideH: stride, StrideW: stride, PadH: padH, PadW: padW},
	}}
}

// chain applies convs in order.
func chain(x *autograd.Var, convs ...*basicConv) *autograd.Var {
	for _, c := range convs {
		x = c.forward(x)
	}
	return x
}

// inceptionA is pytorch-fid's FIDInceptionA (Mixed_5b/c/d).
type inceptionA struct {
	b1, b5a, b5b, d1, d2, d3, pool *basicConv
}

func (l *loader) inceptionA(name string, in, poolFeatures int) *inceptionA {
	w := l.ch
	return &inceptionA{
		b1:   l.basic(name+".branch1x1", in, w(64), 1, 1, 1, 0, 0),
		b5a:  l.basic(name+".branch5x5_1", in, w(48), 1, 1, 1, 0, 0),
		b5b:  l.basic(name+".branch5x5_2", w(48), w(64), 5, 5, 1, 2, 2),
		d1:   l.basic(name+".branch3x3dbl_1", in, w(64), 1, 1, 1, 0, 0),
		d2:   l.basic(name+".branch3x3dbl_2", w(64), w(96), 3, 3, 1, 1, 1),
		d3:   l.basic(name+".branch3x3dbl_3", w(96), w(96), 3, 3, 1, 1, 1),
		pool: l.basic(name+".branch_pool", in, poolFeatures, 1, 1, 1, 0, 0),
	}
}

func (b *inceptionA) forward(x *autograd.Var) *autograd.Var {
	return autograd.Concat(1,
		b.b1.forward(x),
		chain(x, b.b5a, b.b5b),
		chain(x, b.d1, b.d2, b.d3),
		b.pool.forward(avgPool3(x)))
}

// inceptionB is torchvision's InceptionB (Mixed_6a).
type inceptionB struct {
	b3, d1, d2, d3 *basicConv
}

func (l *loader) inceptionB(name string, in int) *inceptionB {
	w := l.ch
	return &inceptionB{
		b3: l.basic(name+".branch3x3", in, w(384), 3, 3, 2, 0, 0),
		d1: l.basic(name+".branch3x3dbl_1", in, w(64), 1, 1, 1, 0, 0),
		d2: l.basic(name+".branch3x3dbl_2", w(64), w(96), 3, 3, 1, 1, 1),
		d3: l.basic(name+".branch3x3dbl_3", w(96), w(96), 3, 3, 2, 0, 0),
	}
}

func (b *inceptionB) forward(x *autograd.Var) *autograd.Var {
	return autograd.Concat(1, b.b3.forward(x), chain(x, b.d1, b.d2, b.d3), maxPool2d(x, 3, 2, 0))
}

// inceptionC is pytorch-fid's FIDInceptionC (Mixed_6b…6e): factorised
// 7×7 convolutions.
type inceptionC struct {
	b1, b7a, b7b, b7c, d1, d2, d3, d4, d5, pool *basicConv
}

func (l *loader) inceptionC(name string, in, c7 int) *inceptionC {
	w := l.ch
	return &inceptionC{
		b1:   l.basic(name+".branch1x1", in, w(192), 1, 1, 1, 0, 0),
		b7a:  l.basic(name+".branch7x7_1", in, c7, 1, 1, 1, 0, 0),
		b7b:  l.basic(name+".branch7x7_2", c7, c7, 1, 7, 1, 0, 3),
		b7c:  l.basic(name+".branch7x7_3", c7, w(192), 7, 1, 1, 3, 0),
		d1:   l.basic(name+".branch7x7dbl_1", in, c7, 1, 1, 1, 0, 0),
		d2:   l.basic(name+".branch7x7dbl_2", c7, c7, 7, 1, 1, 3, 0),
		d3:   l.basic(name+".branch7x7dbl_3", c7, c7, 1, 7, 1, 0, 3),
		d4:   l.basic(name+".branch7x7dbl_4", c7, c7, 7, 1, 1, 3, 0),
		d5:   l.basic(name+".branch7x7dbl_5", c7, w(192), 1, 7, 1, 0, 3),
		pool: l.basic(name+".branch_pool", in, w(192), 1, 1, 1, 0, 0),
	}
}

func (b *inceptionC) forward(x *autograd.Var) *autograd.Var {
	return autograd.Concat(1,
		b.b1.forward(x),
		chain(x, b.b7a, b.b7b, b.b7c),
		chain(x, b.d1, b.d2, b.d3, b.d4, b.d5),
		b.pool.forward(avgPool3(x)))
}

// inceptionD is torchvision's InceptionD (Mixed_7a).
type inceptionD struct {
	b3a, b3b, b7a, b7b, b7c, b7d *basicConv
}

func (l *loader) inceptionD(name string, in int) *inceptionD {
	w := l.ch
	return &inceptionD{
		b3a: l.basic(name+".branch3x3_1", in, w(192), 1, 1, 1, 0, 0),
		b3b: l.basic(name+".branch3x3_2", w(192), w(320), 3, 3, 2, 0, 0),
		b7a: l.basic(name+".branch7x7x3_1", in, w(192), 1, 1, 1, 0, 0),
		b7b: l.basic(name+".branch7x7x3_2", w(192), w(192), 1, 7, 1, 0, 3),
		b7c: l.basic(name+".branch7x7x3_3", w(192), w(192), 7, 1, 1, 3, 0),
		b7d: l.basic(name+".branch7x7x3_4", w(192), w(192), 3, 3, 2, 0, 0),
	}
}

func (b *inceptionD) forward(x *autograd.Var) *autograd.Var {
	return autograd.Concat(1, chain(x, b.b3a, b.b3b), chain(x, b.b7a, b.b7b, b.b7c, b.b7d), maxPool2d(x, 3, 2, 0))
}

// inceptionE is pytorch-fid's FIDInceptionE_1 (Mixed_7b: the pooling
// branch averages without counting the padding) or FIDInceptionE_2
// (Mixed_7c: it max-pools), with split 1×3/3×1 convolutions.
type inceptionE struct {
	maxPool                                  bool
	b1, b3, b3a, b3b, d1, d2, d3a, d3b, pool *basicConv
}

func (l *loader) inceptionE(name string, in int, maxPool bool) *inceptionE {
	w := l.ch
	return &inceptionE{
		maxPool: maxPool,
		b1:      l.basic(name+".branch1x1", in, w(320), 1, 1, 1, 0, 0),
		b3:      l.basic(name+".branch3x3_1", in, w(384), 1, 1, 1, 0, 0),
		b3a:     l.basic(name+".branch3x3_2a", w(384), w(384), 1, 3, 1, 0, 1),
		b3b:     l.basic(name+".branch3x3_2b", w(384), w(384), 3, 1, 1, 1, 0),
		d1:      l.basic(name+".branch3x3dbl_1", in, w(448), 1, 1, 1, 0, 0),
		d2:      l.basic(name+".branch3x3dbl_2", w(448), w(384), 3, 3, 1, 1, 1),
		d3a:     l.basic(name+".branch3x3dbl_3a", w(384), w(384), 1, 3, 1, 0, 1),
		d3b:     l.basic(name+".branch3x3dbl_3b", w(384), w(384), 3, 1, 1, 1, 0),
		pool:    l.basic(name+".branch_pool", in, w(192), 1, 1, 1, 0, 0),
	}
}

func (b *inceptionE) forward(x *autograd.Var) *autograd.Var {
	h3 := b.b3.forward(x)
	hd := chain(x, b.d1, b.d2)
	var pooled *autograd.Var
	if b.maxPool {
		pooled = maxPool2d(x, 3, 1, 1)
	} else {
		pooled = avgPool3(x)
	}
	return autograd.Concat(1,
		b.b1.forward(x),
		autograd.Concat(1, b.b3a.forward(h3), b.b3b.forward(h3)),
		autograd.Concat(1, b.d3a.forward(hd), b.d3b.forward(hd)),
		b.pool.forward(pooled))
}
