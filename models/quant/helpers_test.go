package quant

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/internal/testdev"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/tensor"
)

// testTape opens the default device with one scope for the test and
// checks at cleanup for leaks and validation messages.
func testTape(t *testing.T) *autograd.Tape {
	return autograd.NewTape(testdev.Engine(t))
}

// newQuant builds a quantizer released at cleanup.
func newQuant(t *testing.T, tp *autograd.Tape, cfg Config, seed uint64) *Quantizer {
	t.Helper()
	q, err := New(nn.NewBuilder(tp, seed), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { nn.Release(q) })
	return q
}

// param makes a parameter leaf from host values, released at cleanup.
func param(t *testing.T, tp *autograd.Tape, data []float32, shape ...int) *autograd.Var {
	t.Helper()
	v := tp.Param(tp.Engine().FromFloat32(data, shape...), "")
	t.Cleanup(v.Release)
	return v
}

// floats reads a tensor, failing the test on a device error.
func floats(t *testing.T, x *tensor.Tensor) []float32 {
	t.Helper()
	out, err := x.Float32()
	require.NoError(t, err)
	return out
}

// ints reads an int32 tensor.
func ints(t *testing.T, x *tensor.Tensor) []int32 {
	t.Helper()
	out, err := x.Int32()
	require.NoError(t, err)
	return out
}

// scalar reads a one-element Var.
func scalar(t *testing.T, v *autograd.Var) float64 {
	t.Helper()
	x, err := v.Value.Item()
	require.NoError(t, err)
	return float64(x)
}

// zeroGrads clears the gradients of q's parameters and of extra leaves.
func zeroGrads(q *Quantizer, extra ...*autograd.Var) {
	for _, p := range q.Params() {
		p.Var.ZeroGrad()
	}
	for _, v := range extra {
		v.ZeroGrad()
	}
}
