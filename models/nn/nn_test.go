package nn

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/safetensors"
	"github.com/tessera-ml/tessera/tensor/ref"
)

func hostValues(t *testing.T, v *autograd.Var) []float32 {
	t.Helper()
	out, err := v.Value.Float32()
	require.NoError(t, err)
	return out
}

func TestParamNamesAndCounts(t *testing.T) {
	tp := testTape(t)
	b := NewBuilder(tp, 1)
	seq := &Sequential{Layers: []Layer{NewConv2d(b, 3, 4, 3, 1, 1, true), SiLU, NewLinear(b, 4, 2, false)}}
	defer Release(seq)
	var names []string
	for _, p := range seq.Params() {
		names = append(names, p.Name)
	}
	assert.Equal(t, []string{"0.weight", "0.bias", "2.weight"}, names)
	total, trainable := ParamCount(seq)
	assert.Equal(t, 4*3*3*3+4+2*4, total)
	assert.Equal(t, total, trainable)
	Freeze(seq.Layers[0].(*Conv2d), true)
	_, trainable = ParamCount(seq)
	assert.Equal(t, 8, trainable)
	assert.Len(t, Trainable(seq), 1)
}

// PyTorch's default init: weights and biases of Linear/Conv are uniform in
// ±1/√fan_in; a large layer's sample must fill that range and not exceed it.
func TestDefaultInitialisation(t *testing.T) {
	tp := testTape(t)
	b := NewBuilder(tp, 2)
	conv := NewConv2d(b, 16, 64, 3, 1, 1, true)
	defer Release(conv)
	w := hostValues(t, conv.Weight)
	bound := 1 / math.Sqrt(16*9)
	var maxAbs, sum, sumsq float64
	for _, v := range w {
		maxAbs = math.Max(maxAbs, math.Abs(float64(v)))
		sum += float64(v)
		sumsq += float64(v) * float64(v)
	}
	n := float64(len(w))
	assert.LessOrEqual(t, maxAbs, bound)
	assert.Greater(t, maxAbs, 0.95*bound)
	assert.InDelta(t, 0, sum/n, 0.05*bound)
	assert.InDelta(t, bound*bound/3, sumsq/n, 0.05*bound*bound, "variance of U(-b, b) is b²/3")

	// Same seed, same model.
	again := NewConv2d(NewBuilder(tp, 2), 16, 64, 3, 1, 1, true)
	defer Release(again)
	assert.Equal(t, w, hostValues(t, again.Weight))
}

func TestLinearMatchesTwin(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	lin := NewLinear(NewBuilder(tp, 3), 7, 5, true)
	defer Release(lin)
	x := ref.Rand(4, 2, 3, 7)
	y := lin.Forward(tp.Const(e.FromFloat32(x.Float32(), x.Shape...)))
	w := ref.FromFloat32(lin.Weight.Shape(), hostValues(t, lin.Weight))
	bias := ref.FromFloat32(lin.Bias.Shape(), hostValues(t, lin.Bias))
	want := ref.Add(ref.Matmul(x, w, false, true), bias)
	got, err := y.Value.Float32()
	require.NoError(t, err)
	require.NoError(t, ref.Close(got, want, 1e-5))
}

func TestDropoutTrainAndEval(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	d := NewDropout(NewBuilder(tp, 4), 0.25)
	x := tp.Const(e.Full(1, 10000))
	y := hostValues(t, d.Forward(x))
	zeros := 0
	for _, v := range y {
		if v == 0 {
			zeros++
		} else {
			require.InDelta(t, 1/0.75, v, 1e-6)
		}
	}
	assert.InDelta(t, 2500, zeros, 200, "about P of the elements are dropped")
	SetTraining(&Sequential{Layers: []Layer{d}}, false)
	assert.Same(t, x, d.Forward(x), "eval mode is the identity")
}

func TestCrossEntropyMatchesTwin(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	logits := ref.Rand(5, 3, 4)
	targets := []int32{2, 0, 3}
	got := CrossEntropy(tp.Const(e.FromFloat32(logits.Float32(), 3, 4)), e.FromInt32(targets, 3), 0.1)
	lp := ref.LogSoftmax(logits, 1)
	want := 0.0
	for i, c := range targets {
		for j := 0; j < 4; j++ {
			q := 0.1 / 4
			if int32(j) == c {
				q += 0.9
			}
			want -= q * lp.At(i, j)
		}
	}
	want /= 3
	v, err := got.Value.Item()
	require.NoError(t, err)
	assert.InDelta(t, want, float64(v), 1e-6)
}

func TestSaveLoadRoundTripAndErrors(t *testing.T) {
	tp := testTape(t)
	b := NewBuilder(tp, 6)
	net := newSmallNet(b)
	defer Release(net)
	path := filepath.Join(t.TempDir(), "net.safetensors")
	require.NoError(t, Save(path, net, safetensors.F32, map[string]string{"format": "pt"}))

	other := newSmallNet(NewBuilder(tp, 7))
	defer Release(other)
	rep, err := Load(path, other, LoadOptions{Strict: true})
	require.NoError(t, err)
	assert.Len(t, rep.Loaded, len(net.Params()))
	for i, p := range net.Params() {
		assert.Equal(t, hostValues(t, p.Var), hostValues(t, other.Params()[i].Var), p.Name)
	}

	// A model with a differently sized layer: the error names the tensor and both shapes.
	wrong := &smallNet{Conv: NewConv2d(b, 3, 8, 3, 1, 1, true), Norm: NewGroupNorm(b, 4, 8, 1e-5), Attn: NewMultiheadAttention(b, 8, 2), FC: NewLinear(b, 8, 6, true)}
	defer Release(wrong)
	_, err = Load(path, wrong, LoadOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "fc.weight: checkpoint [5 8] vs model [6 8]")

	// Missing and unexpected tensors: reported, and fatal only when strict.
	lin := &renamed{prefix: "head", l: NewLinear(b, 8, 5, true)}
	defer Release(lin)
	rep, err = Load(path, lin, LoadOptions{})
	require.NoError(t, err)
	assert.Contains(t, rep.Missing, "head.weight")
	assert.Contains(t, rep.Unexpected, "fc.weight")
	_, err = Load(path, lin, LoadOptions{Strict: true})
	require.ErrorContains(t, err, "missing from the checkpoint: head.bias, head.weight")

	// Renaming maps checkpoint names onto the module's.
	rep, err = Load(path, lin, LoadOptions{Rename: func(n string) string {
		if n == "fc.weight" || n == "fc.bias" {
			return "head." + n[3:]
		}
		return ""
	}, Strict: true})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"head.weight", "head.bias"}, rep.Loaded)

	_, err = Load(filepath.Join(t.TempDir(), "missing.safetensors"), lin, LoadOptions{})
	require.Error(t, err)
}

// renamed puts a Linear under another name.
type renamed struct {
	prefix string
	l      *Linear
}

func (r *renamed) Params() []Param { return Prefixed(r.prefix, r.l.Params()) }

// With a mask that lets each position see only itself, attention is the
// identity on the values: the output is out_proj(v) position by position.
func TestAttentionMaskDiagonal(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	const bsz, tl, d = 2, 5, 8
	attn := NewMultiheadAttention(NewBuilder(tp, 8), d, 2)
	defer Release(attn)
	x := ref.Rand(9, bsz, tl, d)
	mask := make([]float32, tl*tl)
	for i := range mask {
		if i%(tl+1) != 0 {
			mask[i] = -1e9
		}
	}
	got, err := attn.Forward(tp.Const(e.FromFloat32(x.Float32(), bsz, tl, d)), e.FromFloat32(mask, tl, tl)).Value.Float32()
	require.NoError(t, err)

	w := ref.FromFloat32([]int{3 * d, d}, hostValues(t, attn.InProjWeight))
	b := ref.FromFloat32([]int{3 * d}, hostValues(t, attn.InProjBias))
	v := ref.Add(ref.Matmul(x, ref.Slice(w, 0, 2*d, 3*d), false, true), ref.Slice(b, 0, 2*d, 3*d))
	ow := ref.FromFloat32([]int{d, d}, hostValues(t, attn.OutProj.Weight))
	ob := ref.FromFloat32([]int{d}, hostValues(t, attn.OutProj.Bias))
	want := ref.Add(ref.Matmul(v, ow, false, true), ob)
	require.NoError(t, ref.Close(got, want, 1e-5))
}

func TestEmbeddingAndRowNorms(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	b := NewBuilder(tp, 10)
	emb := NewEmbedding(b, 7, 4)
	ln := NewLayerNorm(b, 4, 1e-5)
	rms := NewRMSNorm(b, 4, 1e-5)
	defer Release(emb)
	defer Release(ln)
	defer Release(rms)
	ids := []int32{3, 0, 6, 3, 1, 2}
	rows := emb.Lookup(e.FromInt32(ids, 2, 3))
	assert.Equal(t, []int{2, 3, 4}, rows.Shape())
	table := ref.FromFloat32([]int{7, 4}, hostValues(t, emb.Weight))
	want := ref.Gather(table, 0, ids)
	got := hostValues(t, rows)
	require.NoError(t, ref.Close(got, ref.FromSlice([]int{2, 3, 4}, want.Data), 0))

	require.NoError(t, ref.Close(hostValues(t, ln.Forward(rows)), ref.LayerNorm(ref.FromSlice([]int{2, 3, 4}, want.Data), nil, nil, 1e-5), 1e-5))
	require.NoError(t, ref.Close(hostValues(t, rms.Forward(rows)), ref.RMSNorm(ref.FromSlice([]int{2, 3, 4}, want.Data), nil, 1e-5), 1e-5))

	// Gradients reach the table rows that were used, twice for id 3.
	require.NoError(t, autograd.Backward(autograd.SumAll(rows)))
	g, err := emb.Weight.Grad.Float32()
	require.NoError(t, err)
	assert.Equal(t, float32(2), g[3*4])
	assert.Equal(t, float32(0), g[4*4], "id 4 was not looked up")
}

// Under NoGrad, Inference releases a block's temporaries as soon as the
// block returns; with gradients on it keeps them for backward.
func TestInferenceScopeReleasesTemporaries(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	x := tp.Const(e.Full(1, 256, 256))
	block := func() *autograd.Var {
		h := x
		for i := 0; i < 8; i++ {
			h = autograd.Tanh(autograd.AddScalar(h, 0.1))
		}
		return h
	}
	require.NoError(t, e.Sync())
	base := e.Device().Memory().Live
	var out *autograd.Var
	tp.NoGrad(func() { out = Inference(x, block) })
	require.NoError(t, e.Sync())
	assert.Equal(t, base+256*256*4, e.Device().Memory().Live, "only the result is left")
	want, err := out.Value.Float32()
	require.NoError(t, err)

	s := e.Scope()
	kept := Inference(x, block)
	require.NoError(t, e.Sync())
	assert.Greater(t, e.Device().Memory().Live, base+2*256*256*4, "with gradients on, temporaries stay")
	got, err := kept.Value.Float32()
	require.NoError(t, err)
	assert.Equal(t, want, got)
	s.Close()
}

func TestUpsampleDownsampleLayers(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	x := ref.FromFloat32([]int{2, 3, 4, 6}, ref.Rand(11, 2, 3, 4, 6).Float32())
	up := Upsample{Factor: 2}.Forward(tp.Const(e.FromFloat32(x.Float32(), x.Shape...)))
	require.NoError(t, ref.Close(hostValues(t, up), ref.UpsampleNearest(x, 8, 12), 0))
	down := Downsample{Factor: 2}.Forward(up)
	require.NoError(t, ref.Close(hostValues(t, down), x, 1e-6), "averaging a nearest 2× upsample gives the input back")
	assert.Empty(t, Upsample{}.Params())
	assert.Empty(t, Downsample{}.Params())
}
