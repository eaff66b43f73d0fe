package vae

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/models/safetensors"
	"github.com/tessera-ml/tessera/tensor/ref"
)

// goldenPath is written by tools/golden/vae_tiny.py.
const goldenPath = "testdata/vae_tiny.safetensors"

// goldenConfig is the script's TINY dict.
type goldenConfig struct {
	Resolution             int   `json:"resolution"`
	InChannels             int   `json:"in_channels"`
	OutCh                  int   `json:"out_ch"`
	Ch                     int   `json:"ch"`
	ChMult                 []int `json:"ch_mult"`
	NumResBlocks           int   `json:"num_res_blocks"`
	AttnResolutions        []int `json:"attn_resolutions"`
	DecoderAttnResolutions []int `json:"decoder_attn_resolutions"`
	ZChannels              int   `json:"z_channels"`
	DoubleZ                bool  `json:"double_z"`
	QuantConv              bool  `json:"quant_conv"`
}

func readGolden(t *testing.T) (*safetensors.File, Config) {
	t.Helper()
	f, err := safetensors.ReadFile(goldenPath)
	require.NoError(t, err, "regenerate with /usr/bin/python3 tools/golden/vae_tiny.py")
	var g goldenConfig
	require.NoError(t, json.Unmarshal([]byte(f.Metadata["config"]), &g))
	return f, Config{
		Resolution: g.Resolution, InChannels: g.InChannels, OutChannels: g.OutCh,
		Ch: g.Ch, ChMult: g.ChMult, NumResBlocks: g.NumResBlocks,
		AttnResolutions: g.AttnResolutions, DecoderAttnResolutions: g.DecoderAttnResolutions,
		ZChannels: g.ZChannels, DoubleZ: g.DoubleZ, QuantConv: g.QuantConv, MidAttn: true,
		Scale: 1,
	}
}

// goldenTensor returns a fixture tensor as float64 (for ref.Close) and its
// shape.
func goldenTensor(t *testing.T, f *safetensors.File, name string) *ref.Tensor {
	t.Helper()
	st, ok := f.Get(name)
	require.True(t, ok, "fixture lacks %s", name)
	vals, err := st.Float32()
	require.NoError(t, err)
	data := make([]float64, len(vals))
	for i, v := range vals {
		data[i] = float64(v)
	}
	return ref.FromSlice(st.Shape, data)
}

// TestTinyMatchesPyTorch: a tiny VAE (32 channels, two levels, attention
// in an encoder level, a decoder level and both mid blocks, quant convs,
// non-square 32×24 input) loaded by name from weights PyTorch used gives
// PyTorch's posterior mean and log-variance, decoded mean, KL, loss
// (MSE + w·KL) and parameter gradients. PyTorch computes in float64 from
// the same (float16-exact) weights, Tessera in float32: values must agree
// within 1e-4 relative to max(1, max|want|) (ref.Close; seen: 6e-6),
// gradients within 1e-4 of the tensor's max|want| plus 1e-7 absolute, for
// the gradients that are zero in exact arithmetic (a bias just before a
// GroupNorm, a key bias under softmax) and float32 noise here (seen: 3e-5
// relative, 7e-9 absolute).
func TestTinyMatchesPyTorch(t *testing.T) {
	f, cfg := readGolden(t)
	tiny, err := strconv.Atoi(f.Metadata["tiny_params"])
	require.NoError(t, err)
	require.Equal(t, tiny, cfg.NumParams(), "Config.NumParams of the tiny model")

	tp := testTape(t)
	e := tp.Engine()
	m := New(nn.NewBuilder(tp, 1), cfg)
	defer nn.Release(m)
	total, _ := nn.ParamCount(m)
	require.Equal(t, tiny, total, "parameters of the tiny model")

	rep, err := nn.LoadTensors(m, f, nn.LoadOptions{Strict: true, Rename: func(name string) string {
		if strings.HasPrefix(name, "golden.") {
			return ""
		}
		return name
	}})
	require.NoError(t, err)
	require.Len(t, rep.Loaded, len(m.Params()), "every parameter loads by its PyTorch name")

	x := goldenTensor(t, f, "golden.x")
	xs := make([]float32, len(x.Data))
	for i, v := range x.Data {
		xs[i] = float32(v)
	}
	xv := tp.Const(e.FromFloat32(xs, x.Shape...))

	const tol = 1e-4
	post := m.Encode(xv)
	for _, c := range []struct {
		name string
		v    *autograd.Var
	}{{"mean", post.Mean()}, {"logvar", post.LogVar()}} {
		want := goldenTensor(t, f, "golden."+c.name)
		require.Equal(t, want.Shape, c.v.Shape(), c.name)
		require.NoError(t, ref.Close(read(t, c.v), want, tol), c.name)
	}
	dec := m.Decode(post.Mean())
	want := goldenTensor(t, f, "golden.decoded")
	require.Equal(t, want.Shape, dec.Shape())
	require.NoError(t, ref.Close(read(t, dec), want, tol), "decoded mean")

	kl := post.KL()
	wantKL := goldenTensor(t, f, "golden.kl").Data[0]
	require.InDelta(t, wantKL, float64(read(t, kl)[0]), tol*max(1, wantKL), "KL")

	klWeight, err := strconv.ParseFloat(f.Metadata["kl_weight"], 64)
	require.NoError(t, err)
	loss := autograd.Add(nn.MSE(dec, xv), autograd.MulScalar(kl, float32(klWeight)))
	wantLoss := goldenTensor(t, f, "golden.loss").Data[0]
	require.InDelta(t, wantLoss, float64(read(t, loss)[0]), tol*max(1, wantLoss), "loss")

	require.NoError(t, autograd.Backward(loss))
	checked := 0
	for _, p := range m.Params() {
		require.NotNil(t, p.Var.Grad, "%s has no gradient", p.Name)
		if _, ok := f.Get("golden.grad." + p.Name); !ok {
			continue
		}
		g, err := p.Var.Grad.Float32()
		require.NoError(t, err)
		require.NoError(t, closeGrad(g, goldenTensor(t, f, "golden.grad."+p.Name), tol, 1e-7), "gradient of %s", p.Name)
		checked++
	}
	require.Greater(t, checked, 100, "gradients compared")
}

// closeGrad checks |got − want| ≤ rel·max|want| + abs elementwise: scaled
// by the gradient's own size (ref.Close's floor of 1 would pass any small
// gradient), with an absolute floor for gradients that are zero.
func closeGrad(got []float32, want *ref.Tensor, rel, abs float64) error {
	if len(got) != len(want.Data) {
		return fmt.Errorf("got %d elements, want %d", len(got), len(want.Data))
	}
	scale := 0.0
	for _, w := range want.Data {
		scale = math.Max(scale, math.Abs(w))
	}
	bound := rel*scale + abs
	bad, first := 0, -1
	for i, g := range got {
		if d := math.Abs(float64(g) - want.Data[i]); !(d <= bound) {
			if first < 0 {
				first = i
			}
			bad++
		}
	}
	if bad == 0 {
		return nil
	}
	return fmt.Errorf("element %d: got %g, want %g (bound %.3g); %d of %d elements out of tolerance",
		first, got[first], want.Data[first], bound, bad, len(got))
}
