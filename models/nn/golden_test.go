package nn

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor/ref"
)

// smallNet is tools/golden/small_net.py's SmallNet built from Tessera layers.
type smallNet struct {
	Conv *Conv2d
	Norm *GroupNorm
	Attn *MultiheadAttention
	FC   *Linear
}

func newSmallNet(b *Builder) *smallNet {
	return &smallNet{
		Conv: NewConv2d(b, 3, 8, 3, 1, 1, true),
		Norm: NewGroupNorm(b, 4, 8, 1e-5),
		Attn: NewMultiheadAttention(b, 8, 2),
		FC:   NewLinear(b, 8, 5, true),
	}
}

func (n *smallNet) Params() []Param {
	return Children("conv", n.Conv, "norm", n.Norm, "attn", n.Attn, "fc", n.FC)
}

func (n *smallNet) Forward(x *autograd.Var) *autograd.Var {
	h := autograd.Silu(n.Norm.Forward(n.Conv.Forward(x)))
	s := h.Shape()
	t := autograd.Permute(autograd.Reshape(h, s[0], s[1], s[2]*s[3]), 0, 2, 1) // [B, HW, C]
	t = autograd.Add(t, n.Attn.Forward(t, nil))
	return n.FC.Forward(autograd.Mean(t, 1))
}

type goldenTensor struct {
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
}

func (g goldenTensor) ref() *ref.Tensor { return ref.FromSlice(g.Shape, g.Data) }

func (g goldenTensor) f32() []float32 {
	out := make([]float32, len(g.Data))
	for i, v := range g.Data {
		out[i] = float32(v)
	}
	return out
}

type smallNetGolden struct {
	Params         map[string]goldenTensor `json:"params"`
	Grads          map[string]goldenTensor `json:"grads"`
	X              goldenTensor            `json:"x"`
	Y              []int32                 `json:"y"`
	Logits         goldenTensor            `json:"logits"`
	Loss           float64                 `json:"loss"`
	LabelSmoothing float32                 `json:"label_smoothing"`
}

// TestSmallNetMatchesPyTorch: forward output, loss and every parameter's
// gradient of a conv → group norm → SiLU → self-attention → linear →
// cross-entropy network match PyTorch (float64 reference; Tessera computes
// in float32, hence the 1e-4 relative tolerance).
func TestSmallNetMatchesPyTorch(t *testing.T) {
	raw, err := os.ReadFile("testdata/small_net.json")
	require.NoError(t, err)
	var g smallNetGolden
	require.NoError(t, json.Unmarshal(raw, &g))

	tp := testTape(t)
	e := tp.Engine()
	net := newSmallNet(NewBuilder(tp, 1))
	defer Release(net)
	params := net.Params()
	require.Len(t, params, len(g.Params), "the Go network has the PyTorch network's parameters")
	for _, p := range params {
		want, ok := g.Params[p.Name]
		require.True(t, ok, "PyTorch has no parameter %q", p.Name)
		require.Equal(t, want.Shape, p.Var.Shape(), p.Name)
		require.NoError(t, p.Var.Value.Write(want.f32()))
	}

	x := tp.Const(e.FromFloat32(g.X.f32(), g.X.Shape...))
	logits := net.Forward(x)
	loss := CrossEntropy(logits, e.FromInt32(g.Y, len(g.Y)), g.LabelSmoothing)

	const tol = 1e-4
	got, err := logits.Value.Float32()
	require.NoError(t, err)
	require.NoError(t, ref.Close(got, g.Logits.ref(), tol), "logits")
	l, err := loss.Value.Item()
	require.NoError(t, err)
	require.InDelta(t, g.Loss, float64(l), tol*max(1, g.Loss), "loss")

	require.NoError(t, autograd.Backward(loss))
	for _, p := range params {
		require.NotNil(t, p.Var.Grad, "%s has no gradient", p.Name)
		got, err := p.Var.Grad.Float32()
		require.NoError(t, err)
		require.NoError(t, ref.Close(got, g.Grads[p.Name].ref(), tol), "gradient of %s", p.Name)
	}
}
