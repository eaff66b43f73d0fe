package vae

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/checkpoint"
	"github.com/tessera-ml/tessera/models/data"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/models/optim"
	"github.com/tessera-ml/tessera/models/safetensors"
)

// TestPatchGANShape checks the patch-logit map of taming's layout
// (28 → 14 → 7 → 6 → 5 and 32 → 16 → 8 → 7 → 6 with two stride-2 layers),
// the parameter names and the initialisation.
func TestPatchGANShape(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	d := NewPatchGAN(nn.NewBuilder(tp, 3), 3, 32, 2)
	defer nn.Release(d)
	for _, c := range []struct{ size, out int }{{28, 5}, {32, 6}} {
		s := e.Scope()
		x := tp.Const(e.Uniform(1, -1, 1, 2, 3, c.size, c.size))
		y := d.Forward(x)
		assert.Equal(t, []int{2, 1, c.out, c.out}, y.Shape(), "%d×%d input", c.size, c.size)
		requireFinite(t, "logits", read(t, y))
		s.Close()
	}
	shapes := map[string][]int{}
	for _, p := range d.Params() {
		shapes[p.Name] = p.Var.Shape()
	}
	assert.Equal(t, map[string][]int{
		"main.0.weight": {32, 3, 4, 4}, "main.0.bias": {32},
		"main.2.weight": {64, 32, 4, 4}, "main.3.weight": {64}, "main.3.bias": {64},
		"main.5.weight": {128, 64, 4, 4}, "main.6.weight": {128}, "main.6.bias": {128},
		"main.8.weight": {1, 128, 4, 4}, "main.8.bias": {1},
	}, shapes)
	// weights_init: conv N(0, 0.02), norm weight N(1, 0.02), biases 0.
	for _, p := range d.Params() {
		vals := read(t, p.Var)
		var mean, sq float64
		for _, v := range vals {
			mean += float64(v)
		}
		mean /= float64(len(vals))
		for _, v := range vals {
			sq += (float64(v) - mean) * (float64(v) - mean)
		}
		std := math.Sqrt(sq / float64(len(vals)))
		switch {
		case strings.HasSuffix(p.Name, "bias"):
			assert.Equal(t, 0.0, mean, p.Name)
			assert.Equal(t, 0.0, std, p.Name)
		case p.Var.Value.Rank() == 1:
			assert.InDelta(t, 1, mean, 0.01, p.Name)
			assert.InDelta(t, 0.02, std, 0.01, p.Name)
		default:
			assert.InDelta(t, 0, mean, 0.01, p.Name)
			assert.InDelta(t, 0.02, std, 0.005, p.Name)
		}
	}
	assert.Equal(t, 32, DiscGroups(64))
	assert.Equal(t, 16, DiscGroups(16))
}

// TestHingeLoss checks the hinge losses and the adaptive weight on
// hand-set logits.
func TestHingeLoss(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	real := tp.Const(e.FromFloat32([]float32{2, -0.5, 1.5, 0}, 1, 1, 2, 2))
	fake := tp.Const(e.FromFloat32([]float32{-2, 0.5, -0.5, 1}, 1, 1, 2, 2))
	// relu(1 − real) = 0, 1.5, 0, 1 (mean 0.625); relu(1 + fake) = 0, 1.5,
	// 0.5, 2 (mean 1): 0.5·(0.625 + 1).
	d, err := HingeDLoss(real, fake).Value.Item()
	require.NoError(t, err)
	assert.InDelta(t, 0.8125, d, 1e-6)
	g, err := GenAdvLoss(fake).Value.Item()
	require.NoError(t, err)
	assert.InDelta(t, 0.25, g, 1e-6)

	assert.InDelta(t, 2, AdaptiveWeight(2, 1-1e-6), 1e-9)
	assert.Equal(t, 1e4, AdaptiveWeight(1, 0))
	assert.Equal(t, 0.0, AdaptiveWeight(0, 3))
}

// TestTrainGAN trains small-4x for one epoch of 64 images with the GAN
// on from the second step: the discriminator's loss is finite and
// changes, λ is finite and in [0, 1e4]. A run interrupted after two steps
// and resumed ends bit-identical to the straight run (autoencoder and
// discriminator parameters, and the discriminator's optimiser state).
func TestTrainGAN(t *testing.T) {
	tp := testTape(t)
	ds, err := data.FashionMNIST()
	require.NoError(t, err)
	trainSet, rest := ds.Split(64)
	evalSet, _ := rest.Split(8)
	train, eval := trainSet.Channels(3), evalSet.Channels(3)
	cfg, err := Preset("small-4x")
	require.NoError(t, err)
	ctx := context.Background()

	tc := DefaultTrainConfig()
	tc.Epochs, tc.Batch, tc.Every, tc.EvalImages, tc.GridImages = 1, 16, 0, 8, 2
	tc.GANWeight, tc.GANStart = 0.1, 1

	run := func(out string, maxSteps int, resume bool, progress func(Progress)) *VAE {
		m := New(nn.NewBuilder(tp, 7), cfg)
		c := tc
		c.Out, c.MaxSteps, c.Resume = out, maxSteps, resume
		_, err := Train(ctx, tp, m, train, eval, c, progress)
		require.NoError(t, err)
		return m
	}

	straight := t.TempDir()
	var dLosses []float64
	a := run(straight, 0, false, func(p Progress) {
		assert.Equal(t, p.Step > 1, p.GAN, "GAN from the second step")
		if !p.GAN {
			return
		}
		assert.False(t, math.IsNaN(p.DiscLoss) || math.IsInf(p.DiscLoss, 0), "disc loss %g", p.DiscLoss)
		assert.False(t, math.IsNaN(p.Loss) || math.IsInf(p.Loss, 0), "loss %g", p.Loss)
		assert.False(t, math.IsNaN(p.GANLambda), "λ")
		assert.GreaterOrEqual(t, p.GANLambda, 0.0)
		assert.LessOrEqual(t, p.GANLambda, 1e4)
		dLosses = append(dLosses, p.DiscLoss)
		t.Logf("step %d: loss %.4f, disc loss %.4f, λ %.4g", p.Step, p.Loss, p.DiscLoss, p.GANLambda)
	})
	defer nn.Release(a)
	require.Len(t, dLosses, 3)
	assert.NotEqual(t, dLosses[0], dLosses[2], "the discriminator's loss changes")

	split := t.TempDir()
	nn.Release(run(split, 2, false, nil))
	assert.FileExists(t, checkpoint.Path(DiscCheckpointDir(split), 2))
	b := run(split, 0, true, nil)
	defer nn.Release(b)

	pa, pb := a.Params(), b.Params()
	require.Equal(t, len(pa), len(pb))
	for i := range pa {
		require.Equal(t, read(t, pa[i].Var), read(t, pb[i].Var), "autoencoder %s", pa[i].Name)
	}
	fa, err := safetensors.ReadFile(checkpoint.Path(DiscCheckpointDir(straight), 4))
	require.NoError(t, err)
	fb, err := safetensors.ReadFile(checkpoint.Path(DiscCheckpointDir(split), 4))
	require.NoError(t, err)
	require.Equal(t, len(fa.Tensors), len(fb.Tensors))
	disc := 0
	for i, ta := range fa.Tensors {
		tb := fb.Tensors[i]
		require.Equal(t, ta.Name, tb.Name)
		require.Equal(t, ta.Data, tb.Data, "discriminator %s", ta.Name)
		if strings.HasPrefix(ta.Name, "model.") {
			disc++
		}
	}
	assert.Equal(t, 10, disc, "all discriminator parameters compared")
}

// TestLastGradNormMatchesFullGraph checks the adaptive weight's shortcut:
// the gradient norm at conv_out from the graph recomputed on the detached
// decoder features equals the one from the full graph's backward pass.
func TestLastGradNormMatchesFullGraph(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	cfg, err := Preset("small-4x")
	require.NoError(t, err)
	m := New(nn.NewBuilder(tp, 5), cfg)
	defer nn.Release(m)
	tc := DefaultTrainConfig()
	conv := m.Decoder.ConvOut.(*nn.Conv2d)
	s := e.Scope()
	defer s.Close()
	x := tp.Const(e.Uniform(2, -1, 1, 2, 3, 28, 28))
	z := m.Encode(x).Sample(9)

	require.NoError(t, autograd.Backward(recLoss(m.Decode(z), x, tc)))
	full, err := optim.ClipGradNorm([]*autograd.Var{conv.Weight}, math.Inf(1))
	require.NoError(t, err)
	for _, p := range m.Params() {
		p.Var.ZeroGrad()
	}

	h := m.DecodeFeatures(z).Detach()
	short, err := LastGradNorm(recLoss(conv.Forward(h), x, tc), conv)
	require.NoError(t, err)
	assert.Greater(t, full, 0.0)
	assert.InDelta(t, full, short, 1e-6*full)
	for _, p := range m.Params() {
		assert.Nil(t, p.Var.Grad, "%s has a gradient left", p.Name)
	}
}
