package autograd

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor"
)

func values(t *testing.T, x *tensor.Tensor) []float32 {
	t.Helper()
	v, err := x.Float32()
	require.NoError(t, err)
	return v
}

// A parameter used several times gets the sum of its gradients.
func TestParamUsedTwiceAccumulates(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	w := tp.Param(e.FromFloat32([]float32{1, 2, 3}, 3), "w")
	defer w.Release()
	// loss = Σ (w·w + 3w) → dloss/dw = 2w + 3
	loss := SumAll(Add(Mul(w, w), MulScalar(w, 3)))
	require.NoError(t, Backward(loss))
	assert.Equal(t, []float32{5, 7, 9}, values(t, w.Grad))

	// A second backward pass accumulates into the same gradient until ZeroGrad.
	require.NoError(t, Backward(SumAll(w)))
	assert.Equal(t, []float32{6, 8, 10}, values(t, w.Grad))
	w.ZeroGrad()
	assert.Nil(t, w.Grad)
}

func TestNoGradAndDetach(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	w := tp.Param(e.FromFloat32([]float32{1, 2}, 2), "w")
	defer w.Release()
	var y *Var
	tp.NoGrad(func() { y = Mul(w, w) })
	assert.False(t, y.RequiresGrad(), "no node is recorded under NoGrad")
	assert.True(t, tp.Recording())

	d := Mul(w, w).Detach()
	assert.False(t, d.RequiresGrad())
	// loss = Σ w·sg(w²): only the first factor carries gradient.
	require.NoError(t, Backward(SumAll(Mul(w, d))))
	assert.Equal(t, []float32{1, 4}, values(t, w.Grad))

	err := Backward(SumAll(tp.Const(e.Zeros(2))))
	require.Error(t, err, "a loss that depends on no parameter is an error")
}

func TestFrozenParamGetsNoGradient(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	w := tp.Param(e.FromFloat32([]float32{1, 2}, 2), "w")
	f := tp.Param(e.FromFloat32([]float32{3, 4}, 2), "frozen")
	defer w.Release()
	defer f.Release()
	f.SetRequiresGrad(false)
	require.NoError(t, Backward(SumAll(Mul(w, f))))
	assert.Equal(t, []float32{3, 4}, values(t, w.Grad))
	assert.Nil(t, f.Grad)
}

// Backward frees intermediate gradients as it goes: after it, only the
// parameters' gradients remain beyond what the forward pass holds.
func TestBackwardReleasesIntermediates(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	w := tp.Param(e.Full(0.5, 256, 256), "w")
	defer w.Release()
	x := tp.Const(e.Full(1, 256, 256))
	h := x
	for i := 0; i < 20; i++ {
		h = Tanh(Add(Mul(h, w), x))
	}
	loss := SumAll(h)
	require.NoError(t, e.Sync())
	before := e.Device().Memory().Live
	require.NoError(t, Backward(loss))
	require.NoError(t, e.Sync())
	grew := int64(e.Device().Memory().Live) - int64(before)
	// The persistent gradient of w is 256 KiB; the many per-node gradients
	// and VJP temporaries must not accumulate beyond a few tensors.
	assert.Less(t, grew, int64(8*256*256*4), "backward kept %d bytes", grew)
	require.NotNil(t, w.Grad)
}

func TestBackwardNeedsScalar(t *testing.T) {
	tp := testTape(t)
	w := tp.Param(tp.Engine().Zeros(3), "w")
	defer w.Release()
	require.Error(t, Backward(MulScalar(w, 2)))
}
