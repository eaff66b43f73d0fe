package perceptual

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/tensor"
)

// vggConfig is torchvision's VGG16 ("D") feature stack: channel counts,
// 0 for a 2×2 max pool.
var vggConfig = []int{64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0}

// vggTaps are the indices into torchvision's vgg16().features after which
// LPIPS takes its five feature maps: relu1_2, relu2_2, relu3_3, relu4_3,
// relu5_3 (lpips.pretrained_networks.vgg16's slices end there).
var vggTaps = []int{3, 8, 15, 22, 29}

// LPIPS's ScalingLayer constants: inputs in [-1, 1] are shifted and scaled
// to ImageNet's normalisation.
var (
	lpipsShift = []float32{-0.030, -0.088, -0.188}
	lpipsScale = []float32{0.458, 0.448, 0.450}
)

// LPIPS is the learned perceptual image patch similarity of Zhang et al.
// (lpips.LPIPS(net='vgg', version='0.1')): both images go through VGG16's
// convolutional stack after the ScalingLayer; at five depths the features
// are normalised over channels, their squared difference is weighted by a
// learned non-negative 1×1 convolution (lin0…lin4), averaged over
// positions, and the five are summed. All weights are frozen; the distance
// is differentiable with respect to both images, for use as a training
// loss.
type LPIPS struct {
	div    int
	params []nn.Param
	convs  []*conv         // the 13 convolutions, in order
	lins   []*autograd.Var // lin0…lin4 weights [1, C, 1, 1]
	stack  []int           // vggConfig narrowed by div
}

var _ Loss = (*LPIPS)(nil)

// LoadLPIPS reads torchvision's VGG16 weights (vgg16-397923af.pth:
// features.N.weight and features.N.bias; the classifier.* tensors are
// skipped) from vggPath and LPIPS v0.1's linear heads (lpips' vgg.pth:
// lin0.model.1.weight … lin4.model.1.weight) from linPath, or narrowed
// copies of both with the same key names (the width is inferred from
// features.0.weight). Missing, mis-shaped or unexpected tensors are errors
// naming the tensor and the file.
func LoadLPIPS(tp *autograd.Tape, vggPath, linPath string) (*LPIPS, error) {
	vs, err := readState(vggPath)
	if err != nil {
		return nil, err
	}
	ls, err := readState(linPath)
	if err != nil {
		return nil, err
	}
	return loadLPIPS(tp, vs, ls)
}

// loadLPIPS builds the network from the two state dicts.
func loadLPIPS(tp *autograd.Tape, vs, ls *stateDict) (*LPIPS, error) {
	div, err := widthDivisor(vs, "features.0.weight", 64, []int{64, 128, 256, 512})
	if err != nil {
		return nil, err
	}
	m := &LPIPS{div: div}
	l := &loader{s: vs, tp: tp, div: div}
	in := 3
	for i, c := range vggConfig {
		if c == 0 {
			m.stack = append(m.stack, 0)
			continue
		}
		out := l.ch(c)
		name := "features." + strconv.Itoa(featureIndex(i))
		wt := vs.take(name+".weight", out, in, 3, 3)
		b := vs.take(name+".bias", out)
		m.convs = append(m.convs, &conv{
			Weight: l.param(name+".weight", wt, out, in, 3, 3),
			Bias:   l.param(name+".bias", b, out),
			Conv:   tensor.ConvParams{PadH: 1, PadW: 1},
		})
		m.stack = append(m.stack, out)
		in = out
	}
	if err := vs.finish(func(name string) bool { return strings.HasPrefix(name, "classifier.") }); err != nil {
		m.params = l.params
		nn.Release(m)
		return nil, err
	}
	ll := &loader{s: ls, tp: tp, div: div, params: l.params}
	for k, c := range []int{64, 128, 256, 512, 512} {
		name := fmt.Sprintf("lin%d.model.1.weight", k)
		wt := ls.take(name, 1, ll.ch(c), 1, 1)
		for i, v := range wt {
			if v < 0 {
				// lpips clamps the heads at zero while training; a
				// negative weight means another file.
				ls.fail("tensor %q has a negative weight %.6g at channel %d (LPIPS heads are non-negative)", name, v, i)
				break
			}
		}
		m.lins = append(m.lins, ll.param(name, wt, 1, ll.ch(c), 1, 1))
	}
	m.params = ll.params
	if err := ls.finish(nil); err != nil {
		nn.Release(m)
		return nil, err
	}
	return m, nil
}

// featureIndex is the index in torchvision's vgg16().features of entry i
// of vggConfig: every convolution is followed by a ReLU, so a convolution
// or pool at config position i sits after i entries plus one ReLU per
// convolution before it.
func featureIndex(i int) int {
	idx := 0
	for _, c := range vggConfig[:i] {
		idx++
		if c != 0 {
			idx++ // its ReLU
		}
	}
	return idx
}

// Name says which loss this is and how wide.
func (m *LPIPS) Name() string {
	if m.div == 1 {
		return "lpips-vgg16 (v0.1)"
	}
	return fmt.Sprintf("lpips-vgg16 (v0.1) at 1/%d width", m.div)
}

// Params lists the VGG convolutions (features.N.weight, …) and the heads
// (linK.model.1.weight).
func (m *LPIPS) Params() []nn.Param { return m.params }

// Release frees the weights.
func (m *LPIPS) Release() { nn.Release(m) }

// Loss returns the mean over the batch of the LPIPS distance between
// images x and y [B, C, H, W] in [-1, 1] (C = 1 is replicated to RGB;
// both must have the same shape, at least 16×16 for VGG's four pools to
// leave a position), a scalar differentiable with respect to x and y.
func (m *LPIPS) Loss(x, y *autograd.Var) (*autograd.Var, error) {
	d, err := m.Distances(x, y)
	if err != nil {
		return nil, err
	}
	return autograd.MeanAll(d), nil
}

// Distances returns the LPIPS distance of each image pair: [B].
func (m *LPIPS) Distances(x, y *autograd.Var) (*autograd.Var, error) {
	if err := checkPair("LPIPS", x, y); err != nil {
		return nil, err
	}
	s := x.Shape()
	if s[2] < 16 || s[3] < 16 {
		return nil, fmt.Errorf("perceptual: LPIPS: images of %d×%d are too small for VGG16's four 2×2 pools (want at least 16×16)", s[2], s[3])
	}
	b := s[0]
	tp := x.Tape()
	e := tp.Engine()
	shift := tp.Const(e.FromFloat32(lpipsShift, 1, 3, 1, 1))
	scale := tp.Const(e.FromFloat32(lpipsScale, 1, 3, 1, 1))
	// Both batches go through VGG together: one pass of half the launches.
	h := autograd.Div(autograd.Sub(autograd.Concat(0, toRGB(x), toRGB(y)), shift), scale)
	var total *autograd.Var
	tap, ci := 0, 0
	pos := 0 // index in torchvision's features
	for _, c := range m.stack {
		if c == 0 {
			h = maxPool2d(h, 2, 2, 0)
			pos++
			continue
		}
		h = autograd.Relu(m.convs[ci].forward(h))
		ci++
		pos += 2
		if tap < len(vggTaps) && pos-1 == vggTaps[tap] {
			n := channelNormalize(h)
			hs := n.Shape()
			d := autograd.Square(autograd.Sub(autograd.Slice(n, 0, 0, b), autograd.Slice(n, 0, b, 2*b)))
			lin := autograd.Conv2d(d, m.lins[tap], nil, tensor.ConvParams{}) // [B, 1, h, w]
			v := autograd.Mean(autograd.Reshape(lin, b, hs[2]*hs[3]), 1)
			if total == nil {
				total = v
			} else {
				total = autograd.Add(total, v)
			}
			tap++
			if tap == len(vggTaps) {
				break // relu5_3: the last pool is not used
			}
		}
	}
	if err := total.Value.Err(); err != nil {
		return nil, fmt.Errorf("perceptual: LPIPS: %w", err)
	}
	return total, nil
}
