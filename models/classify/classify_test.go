package classify

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/internal/testdev"
	"github.com/tessera-ml/tessera/models/data"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/tensor"
)

func testTape(t *testing.T) *autograd.Tape {
	return autograd.NewTape(testdev.Engine(t))
}

// TestGradientIsTheDirectionalDerivative checks the whole backward pass of
// the convnet at full size on a real batch: for a random direction d,
// (L(θ+εd) − L(θ−εd)) / 2ε must equal ⟨∇L, d⟩.
func TestGradientIsTheDirectionalDerivative(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	m := New(nn.NewBuilder(tp, 3), DefaultConfig())
	defer nn.Release(m)
	ds, err := data.FashionMNIST()
	require.NoError(t, err)
	var batch data.Batch
	for b, err := range data.NewLoader(ds, 32, data.LoaderOptions{}).Epoch(context.Background(), 0) {
		require.NoError(t, err)
		batch = b
		break
	}
	x := tp.Const(e.FromFloat32(batch.Images, batch.N, 1, 28, 28))
	labels := e.FromInt32(batch.Labels, batch.N)
	lossAt := func() float64 {
		var v float32
		tp.NoGrad(func() {
			s := e.Scope()
			defer s.Close()
			var err error
			v, err = nn.CrossEntropy(m.Forward(x), labels, 0).Value.Item()
			require.NoError(t, err)
		})
		return float64(v)
	}
	loss := nn.CrossEntropy(m.Forward(x), labels, 0)
	require.NoError(t, autograd.Backward(loss))

	params := nn.Trainable(m)
	dirs := make([]*tensor.Tensor, len(params))
	var dot float64
	for i, p := range params {
		dirs[i] = e.Normal(uint64(100+i), 0, 1, p.Shape()...)
		g, err := tensor.SumAll(tensor.Mul(p.Grad, dirs[i])).Item()
		require.NoError(t, err)
		dot += float64(g)
	}
	const eps = 1e-3
	step := func(scale float32) {
		for i, p := range params {
			require.NoError(t, tensor.AddInPlace(p.Value, tensor.MulScalar(dirs[i], scale)))
		}
	}
	step(eps)
	plus := lossAt()
	step(-2 * eps)
	minus := lossAt()
	step(eps)
	num := (plus - minus) / (2 * eps)
	t.Logf("finite difference %.6g, gradient·d %.6g", num, dot)
	assert.InDelta(t, num, dot, 0.02*math.Max(1, math.Abs(dot)), "directional derivative %g vs gradient·d %g", num, dot)
	for _, p := range params {
		p.ZeroGrad()
	}
}

// TestPretrainedWeightsClassify evaluates the embedded weights on the 2 000
// held-out images: they must keep the accuracy the README reports.
func TestPretrainedWeightsClassify(t *testing.T) {
	tp := testTape(t)
	m, err := Pretrained(nn.NewBuilder(tp, 0))
	require.NoError(t, err)
	defer nn.Release(m)
	ds, err := data.FashionMNIST()
	require.NoError(t, err)
	_, held := ds.Split(8000)
	acc, loss, err := Evaluate(context.Background(), tp, m, held, 250)
	require.NoError(t, err)
	t.Logf("held-out accuracy %.4f, loss %.4f", acc, loss)
	assert.GreaterOrEqual(t, acc, 0.85)
}

// TestTrainLearns runs a short training on 512 images: the loss must fall
// well below chance (ln 10 ≈ 2.30) and accuracy on other images rise above
// chance — a fast end-to-end check of the whole training stack.
func TestTrainLearns(t *testing.T) {
	tp := testTape(t)
	cfg := DefaultConfig()
	cfg.Width, cfg.Hidden = 8, 32
	m := New(nn.NewBuilder(tp, 5), cfg)
	defer nn.Release(m)
	ds, err := data.FashionMNIST()
	require.NoError(t, err)
	train, rest := ds.Split(512)
	_, eval := rest.Split(rest.Len() - 500)
	tc := DefaultTrainConfig()
	tc.Epochs, tc.Batch = 3, 32
	var first, last float64
	res, err := Train(context.Background(), tp, m, train, eval, tc, func(p Progress) {
		if p.Step == 1 {
			first = p.Loss
		}
		last = p.Loss
	})
	require.NoError(t, err)
	t.Logf("loss %.3f → %.3f, eval accuracy %.3f", first, last, res.EvalAccuracy)
	assert.Less(t, res.TrainLoss, 0.8*first)
	assert.Greater(t, res.EvalAccuracy, 0.5)
}
