package perceptual

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
)

// channelMeans averages h [B, C, H, W] (or [B, C]) over all but the
// channel axis, on the host.
func channelMeans(t *testing.T, h *autograd.Var) []float32 {
	t.Helper()
	vals := read(t, h)
	s := h.Shape()
	b, c := s[0], s[1]
	per := len(vals) / (b * c)
	out := make([]float32, c)
	for i := range b {
		for ch := range c {
			var sum float64
			for _, v := range vals[(i*c+ch)*per : (i*c+ch+1)*per] {
				sum += float64(v)
			}
			out[ch] += float32(sum / float64(b*per))
		}
	}
	return out
}

// TestInceptionMatchesPyTorch: pytorch-fid's FIDInceptionV3 at 1/16 width
// with random weights and BatchNorm statistics, loaded by LoadInception
// from the state dict PyTorch saved, gives PyTorch's pool3 features for an
// RGB batch (19×23, resized to 299) and for a grey image (replicated to
// RGB). PyTorch computes in float64, Tessera in float32 through 94
// convolutions with folded BatchNorms: features must agree within 1e-5 of
// their largest magnitude (seen: 1.3e-7), and so must each block's channel
// means, which locate a mismatch.
func TestInceptionMatchesPyTorch(t *testing.T) {
	g := readGolden(t).Inception
	tp := testTape(t)
	m, err := LoadInception(tp, inceptionFixture)
	require.NoError(t, err)
	defer m.Release()
	require.Equal(t, g.FeaturesShape[1], m.Dim())
	assert.Equal(t, "inception-v3-fid at 1/16 width (pool3, 128-d)", m.Name())
	assert.Len(t, m.Params(), 2*94, "a folded weight and bias per BasicConv2d")

	const tol = 1e-5
	tp.NoGrad(func() {
		x := constant(tp, g.X, g.XShape...)
		var means [][]float32
		feats, err := m.forward(x, func(_ int, h *autograd.Var) { means = append(means, channelMeans(t, h)) })
		require.NoError(t, err)
		require.Equal(t, g.FeaturesShape, feats.Shape())
		for i, want := range g.BlockMeans {
			require.NoError(t, closeTo(means[i], want, tol, 0), "block %d channel means", i)
		}
		got := read(t, feats)
		require.NoError(t, closeTo(got, g.Features, tol, 0), "pool3 features")
		t.Logf("RGB features: max error %.2g of max |want|", maxRelErr(got, g.Features))

		grey, err := m.Features(constant(tp, g.Grey, g.GreyShape...))
		require.NoError(t, err)
		require.Equal(t, []int{1, m.Dim()}, grey.Shape())
		got = read(t, grey)
		require.NoError(t, closeTo(got, g.GreyFeatures, tol, 0), "grey features")
	})
}

// TestLPIPSMatchesPyTorch: LPIPS (v0.1, VGG16 at 1/16 width) loaded by
// LoadLPIPS from torchvision- and lpips-layout files gives PyTorch's
// per-image distances, their mean, and the mean's gradient with respect to
// the first image (20×18 RGB, and grey replicated to RGB). PyTorch
// computes in float64: distances within 1e-5 relative, gradients within
// 1e-4 of their largest magnitude (seen: 4e-6; the gradient passes through
// 1/‖f‖ at every tap, which float32 rounds more).
func TestLPIPSMatchesPyTorch(t *testing.T) {
	g := readGolden(t).LPIPS
	tp := testTape(t)
	e := tp.Engine()
	m, err := LoadLPIPS(tp, vggFixture, linFixture)
	require.NoError(t, err)
	defer m.Release()
	assert.Equal(t, "lpips-vgg16 (v0.1) at 1/16 width", m.Name())
	assert.Len(t, m.Params(), 2*13+5)

	for _, tc := range []struct {
		name     string
		shape    []int
		x0, x1   []float32
		perImage []float64
		grad     []float64
	}{
		{"rgb", g.Shape, g.X0, g.X1, g.PerImage, g.GradX0},
		{"grey", g.GreyShape, g.Grey0, g.Grey1, g.GreyPerImage, g.GreyGrad0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := e.Scope()
			defer s.Close()
			x0 := tp.Param(e.FromFloat32(tc.x0, tc.shape...), "x0")
			defer x0.Release()
			x1 := constant(tp, tc.x1, tc.shape...)
			d, err := m.Distances(x0, x1)
			require.NoError(t, err)
			require.Equal(t, []int{tc.shape[0]}, d.Shape())
			require.NoError(t, closeTo(read(t, d), tc.perImage, 1e-5, 0), "per-image distances")
			loss, err := m.Loss(x0, x1)
			require.NoError(t, err)
			var want float64
			for _, v := range tc.perImage {
				want += v / float64(len(tc.perImage))
			}
			require.InDelta(t, want, float64(read(t, loss)[0]), 1e-5*want, "loss")
			require.NoError(t, autograd.Backward(loss))
			grad, err := x0.Grad.Float32()
			require.NoError(t, err)
			require.NoError(t, closeTo(grad, tc.grad, 1e-4, 0), "gradient with respect to x0")
			t.Logf("gradient: max error %.2g of max |want|", maxRelErr(grad, tc.grad))
		})
	}
	require.InDelta(t, g.Loss, (g.PerImage[0]+g.PerImage[1])/2, 1e-9, "fixture's loss is the mean")
}
