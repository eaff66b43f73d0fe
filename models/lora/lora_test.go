package lora

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/internal/testdev"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/models/vae"
	"github.com/tessera-ml/tessera/tensor"
)

func testTape(t *testing.T) *autograd.Tape {
	return autograd.NewTape(testdev.Engine(t))
}

// randn returns n values N(0, std²) from rng.
func randn(rng *rand.Rand, n int, std float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(rng.NormFloat64() * std)
	}
	return out
}

func read(t *testing.T, x *tensor.Tensor) []float32 {
	t.Helper()
	v, err := x.Float32()
	require.NoError(t, err)
	return v
}

// convCase is one base-conv geometry; odd sizes on purpose.
type convCase struct {
	name                           string
	cin, cout, k, stride, pad, dil int
	n, h, w, rank                  int
	scale                          float32
}

var convCases = []convCase{
	{name: "3x3 pad1", cin: 5, cout: 7, k: 3, stride: 1, pad: 1, dil: 1, n: 2, h: 9, w: 11, rank: 3, scale: 1},
	{name: "3x3 stride2 pad1", cin: 5, cout: 7, k: 3, stride: 2, pad: 1, dil: 1, n: 2, h: 9, w: 11, rank: 3, scale: 1},
	{name: "3x3 stride2 pad0", cin: 6, cout: 5, k: 3, stride: 2, pad: 0, dil: 1, n: 1, h: 10, w: 13, rank: 4, scale: 1},
	{name: "1x1", cin: 9, cout: 3, k: 1, stride: 1, pad: 0, dil: 1, n: 2, h: 7, w: 5, rank: 2, scale: 1},
	{name: "3x3 dil2 pad2 scale0.5", cin: 4, cout: 6, k: 3, stride: 1, pad: 2, dil: 2, n: 1, h: 8, w: 9, rank: 5, scale: 0.5},
}

func (c convCase) base(b *nn.Builder) *nn.Conv2d {
	l := nn.NewConv2d(b, c.cin, c.cout, c.k, c.stride, c.pad, true)
	l.Conv.DilH, l.Conv.DilW = c.dil, c.dil
	return l
}

// TestFreshAdapterIsIdentity: up starts at zero, so a freshly wrapped conv
// gives exactly the base conv's output, and Wrap freezes the base.
func TestFreshAdapterIsIdentity(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, cc := range convCases {
		t.Run(cc.name, func(t *testing.T) {
			b := nn.NewBuilder(tp, 3)
			c := Wrap(b, cc.base(b), cc.rank)
			defer nn.Release(c)
			require.Equal(t, float32(1), c.Scale)
			require.False(t, c.Base.Weight.RequiresGrad())
			require.False(t, c.Base.Bias.RequiresGrad())
			require.True(t, c.Down.Weight.RequiresGrad())
			require.True(t, c.Up.Weight.RequiresGrad())
			require.Equal(t, []int{cc.rank, cc.cin, cc.k, cc.k}, c.Down.Weight.Shape())
			require.Equal(t, []int{cc.cout, cc.rank, 1, 1}, c.Up.Weight.Shape())
			require.Nil(t, c.Down.Bias)
			require.Nil(t, c.Up.Bias)
			var names []string
			for _, p := range c.Params() {
				names = append(names, p.Name)
			}
			require.Equal(t, []string{"weight", "bias", "lora_layer.down.weight", "lora_layer.up.weight"}, names)
			for _, v := range read(t, c.Up.Weight.Value) {
				require.Zero(t, v)
			}

			x := e.FromFloat32(randn(rng, cc.n*cc.cin*cc.h*cc.w, 1), cc.n, cc.cin, cc.h, cc.w)
			got := c.Forward(tp.Const(x))
			want := tensor.Conv2d(x, c.Base.Weight.Value, c.Base.Bias.Value, c.Base.Conv)
			require.Equal(t, want.Shape(), got.Shape())
			require.Equal(t, read(t, want), read(t, got.Value))
		})
	}
}

// TestDownInit: down is N(0, (1/r)²), the CODA release's std = 1/r.
func TestDownInit(t *testing.T) {
	tp := testTape(t)
	b := nn.NewBuilder(tp, 5)
	const rank = 4
	c := Wrap(b, nn.NewConv2d(b, 33, 7, 3, 1, 1, true), rank)
	defer nn.Release(c)
	v := read(t, c.Down.Weight.Value) // 4·33·9 = 1188 samples
	var s, s2 float64
	for _, x := range v {
		s += float64(x)
		s2 += float64(x) * float64(x)
	}
	mean := s / float64(len(v))
	std := math.Sqrt(s2/float64(len(v)) - mean*mean)
	// The sample std of 1188 normals is within ±6% of σ with overwhelming
	// probability; 1/√r = 0.5 would be twice 1/r = 0.25.
	require.InDelta(t, 1.0/rank, std, 0.015)
	require.InDelta(t, 0, mean, 0.03)
}

// TestForwardAndMerge: with random up and down, Forward is exactly the
// composition of tensor ops base + Scale·conv(conv(x, down), up); Merge
// folds W += Scale·up·down (checked on the host in float64, 1e-5) and the
// merged conv's output matches the adapted one within 1e-5·(1+|y|) (float32
// sums of at most 9·9 products of O(1) values).
func TestForwardAndMerge(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	rng := rand.New(rand.NewPCG(3, 4))
	for _, cc := range convCases {
		t.Run(cc.name, func(t *testing.T) {
			b := nn.NewBuilder(tp, 7)
			c := Wrap(b, cc.base(b), cc.rank)
			defer nn.Release(c)
			c.Scale = cc.scale
			down := randn(rng, cc.rank*cc.cin*cc.k*cc.k, 0.5)
			up := randn(rng, cc.cout*cc.rank, 0.5)
			require.NoError(t, c.Down.Weight.Value.Write(down))
			require.NoError(t, c.Up.Weight.Value.Write(up))
			w0 := read(t, c.Base.Weight.Value)
			bias0 := read(t, c.Base.Bias.Value)

			x := e.FromFloat32(randn(rng, cc.n*cc.cin*cc.h*cc.w, 1), cc.n, cc.cin, cc.h, cc.w)
			got := c.Forward(tp.Const(x))
			base := tensor.Conv2d(x, c.Base.Weight.Value, c.Base.Bias.Value, c.Base.Conv)
			mid := tensor.Conv2d(x, c.Down.Weight.Value, nil, c.Base.Conv)
			ad := tensor.Conv2d(mid, c.Up.Weight.Value, nil, tensor.ConvParams{})
			if cc.scale != 1 {
				ad = tensor.MulScalar(ad, cc.scale)
			}
			want := tensor.Add(base, ad)
			require.Equal(t, want.Shape(), got.Shape())
			adapted := read(t, got.Value)
			require.Equal(t, read(t, want), adapted)

			require.NoError(t, c.Merge())
			require.True(t, c.Merged())
			// W'[o,i,ky,kx] = W + Scale·Σ_r up[o,r]·down[r,i,ky,kx].
			kk := cc.cin * cc.k * cc.k
			w1 := read(t, c.Base.Weight.Value)
			for o := 0; o < cc.cout; o++ {
				for j := 0; j < kk; j++ {
					s := 0.0
					for r := 0; r < cc.rank; r++ {
						s += float64(up[o*cc.rank+r]) * float64(down[r*kk+j])
					}
					require.InDelta(t, float64(w0[o*kk+j])+float64(cc.scale)*s, float64(w1[o*kk+j]), 1e-5)
				}
			}
			require.Equal(t, bias0, read(t, c.Base.Bias.Value), "Merge leaves the bias alone")
			for _, v := range read(t, c.Up.Weight.Value) {
				require.Zero(t, v, "Merge zeroes up")
			}
			require.Equal(t, down, read(t, c.Down.Weight.Value))

			merged := read(t, c.Forward(tp.Const(x)).Value)
			for i := range merged {
				require.InDelta(t, adapted[i], merged[i], 1e-5*(1+math.Abs(float64(adapted[i]))), "element %d", i)
			}
			// Merging again changes nothing.
			require.NoError(t, c.Merge())
			require.Equal(t, w1, read(t, c.Base.Weight.Value))
		})
	}
}

// TestGradients: the frozen base gets no gradient; up gets a non-zero one
// even at init; down's is exactly zero at init, since up = 0 blocks every
// path to it.
func TestGradients(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	rng := rand.New(rand.NewPCG(5, 6))
	for _, cc := range convCases {
		t.Run(cc.name, func(t *testing.T) {
			b := nn.NewBuilder(tp, 11)
			c := Wrap(b, cc.base(b), cc.rank)
			defer nn.Release(c)
			x := e.FromFloat32(randn(rng, cc.n*cc.cin*cc.h*cc.w, 1), cc.n, cc.cin, cc.h, cc.w)
			y := c.Forward(tp.Const(x))
			g := tp.Const(e.FromFloat32(randn(rng, tensor.Numel(y.Shape()), 1), y.Shape()...))
			require.NoError(t, autograd.Backward(autograd.SumAll(autograd.Mul(y, g))))

			require.Nil(t, c.Base.Weight.Grad, "frozen base weight")
			require.Nil(t, c.Base.Bias.Grad, "frozen base bias")
			require.NotNil(t, c.Up.Weight.Grad)
			require.NotNil(t, c.Down.Weight.Grad)
			require.Equal(t, c.Up.Weight.Shape(), c.Up.Weight.Grad.Shape())
			require.Equal(t, c.Down.Weight.Shape(), c.Down.Weight.Grad.Shape())
			nonzero := 0
			for _, v := range read(t, c.Up.Weight.Grad) {
				if v != 0 {
					nonzero++
				}
			}
			require.Equal(t, c.Up.Weight.Value.Numel(), nonzero, "every up weight gets a gradient at init")
			for _, v := range read(t, c.Down.Weight.Grad) {
				require.Zero(t, v, "down's gradient is zero while up is zero")
			}
		})
	}
}

// smallVAE builds the small-4x preset.
func smallVAE(t *testing.T, tp *autograd.Tape) *vae.VAE {
	cfg, err := vae.Preset("small-4x")
	require.NoError(t, err)
	return vae.New(nn.NewBuilder(tp, 21), cfg)
}

// blockConvs lists conv1 and conv2 of the named blocks.
func blockConvs(blocks ...string) []string {
	var out []string
	for _, b := range blocks {
		out = append(out, b+".conv1", b+".conv2")
	}
	return out
}

// small-4x: ChMult {1, 2, 2}, one ResnetBlock per level (two per decoder
// level), mid attention, no quant convs.
var (
	encBlocks = blockConvs("encoder.down.0.block.0", "encoder.down.1.block.0", "encoder.down.2.block.0",
		"encoder.mid.block_1", "encoder.mid.block_2")
	decBlocks = blockConvs("decoder.mid.block_1", "decoder.mid.block_2",
		"decoder.up.0.block.0", "decoder.up.0.block.1",
		"decoder.up.1.block.0", "decoder.up.1.block.1",
		"decoder.up.2.block.0", "decoder.up.2.block.1")
	encResample = []string{
		"encoder.down.0.block.0.conv1", "encoder.down.0.block.0.conv2", "encoder.down.0.downsample.conv",
		"encoder.down.1.block.0.conv1", "encoder.down.1.block.0.conv2", "encoder.down.1.downsample.conv",
		"encoder.down.2.block.0.conv1", "encoder.down.2.block.0.conv2",
		"encoder.mid.block_1.conv1", "encoder.mid.block_1.conv2",
		"encoder.mid.block_2.conv1", "encoder.mid.block_2.conv2",
	}
	decResample = []string{
		"decoder.mid.block_1.conv1", "decoder.mid.block_1.conv2",
		"decoder.mid.block_2.conv1", "decoder.mid.block_2.conv2",
		"decoder.up.0.block.0.conv1", "decoder.up.0.block.0.conv2",
		"decoder.up.0.block.1.conv1", "decoder.up.0.block.1.conv2",
		"decoder.up.1.block.0.conv1", "decoder.up.1.block.0.conv2",
		"decoder.up.1.block.1.conv1", "decoder.up.1.block.1.conv2", "decoder.up.1.upsample.conv",
		"decoder.up.2.block.0.conv1", "decoder.up.2.block.0.conv2",
		"decoder.up.2.block.1.conv1", "decoder.up.2.block.1.conv2", "decoder.up.2.upsample.conv",
	}
)

// TestInject wraps the small-4x VAE's convs and checks the names, that
// only the adapters train, the parameter names and shapes, and that the
// decode of a fixed latent is unchanged by the fresh adapters.
func TestInject(t *testing.T) {
	cat := func(a, b []string) []string { return append(append([]string{}, a...), b...) }
	cases := []struct {
		name string
		o    InjectOptions
		want []string
	}{
		{"both", InjectOptions{Rank: 3, Encoder: true, Decoder: true}, cat(encBlocks, decBlocks)},
		{"encoder", InjectOptions{Rank: 2, Encoder: true}, encBlocks},
		{"decoder", InjectOptions{Rank: 2, Decoder: true}, decBlocks},
		{"both+resample", InjectOptions{Rank: 4, Encoder: true, Decoder: true, Resample: true}, cat(encResample, decResample)},
		{"decoder upsample only", InjectOptions{Rank: 1, Decoder: true, Patterns: []string{"upsample"}},
			[]string{"decoder.up.1.upsample.conv", "decoder.up.2.upsample.conv"}},
	}
	tp := testTape(t)
	e := tp.Engine()
	rng := rand.New(rand.NewPCG(7, 8))
	z := e.FromFloat32(randn(rng, 4*7*7, 1), 1, 4, 7, 7)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := smallVAE(t, tp)
			defer nn.Release(m)
			var before []float32
			tp.NoGrad(func() { before = read(t, m.Decode(tp.Const(z)).Value) })
			total0, _ := nn.ParamCount(m)
			baseNames := map[string][]int{}
			for _, p := range m.Params() {
				baseNames[p.Name] = p.Var.Shape()
			}

			got, err := Inject(nn.NewBuilder(tp, 9), m, tc.o)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)

			// Every wrapped conv is a *Conv; every other conv is not.
			wrapped := map[string]bool{}
			for _, n := range got {
				wrapped[n] = true
			}
			m.Convs(func(name string, slot *nn.Layer) {
				_, isLoRA := (*slot).(*Conv)
				require.Equal(t, wrapped[name], isLoRA, name)
			})

			// Base names and shapes are unchanged; each wrapped conv adds
			// exactly its two adapter tensors.
			adapters := map[string]*autograd.Var{}
			for _, p := range m.Params() {
				require.Equal(t, p.Name, p.Var.Name(), "full names after Inject")
				if IsAdapter(p.Name) {
					adapters[p.Name] = p.Var
					continue
				}
				require.Contains(t, baseNames, p.Name)
				require.Equal(t, baseNames[p.Name], p.Var.Shape())
				require.False(t, p.Var.RequiresGrad(), "%s stays frozen", p.Name)
			}
			require.Len(t, adapters, 2*len(got))
			extra := 0
			for _, n := range got {
				w := baseNames[n+".weight"]
				require.NotNil(t, w, n)
				down := adapters[n+".lora_layer.down.weight"]
				up := adapters[n+".lora_layer.up.weight"]
				require.NotNil(t, down, n)
				require.NotNil(t, up, n)
				require.Equal(t, []int{tc.o.Rank, w[1], w[2], w[3]}, down.Shape())
				require.Equal(t, []int{w[0], tc.o.Rank, 1, 1}, up.Shape())
				extra += down.Value.Numel() + up.Value.Numel()
			}
			total, trainable := nn.ParamCount(m)
			require.Equal(t, total0+extra, total)
			require.Equal(t, extra, trainable)

			tr := nn.Trainable(m)
			require.Len(t, tr, len(adapters))
			for _, v := range tr {
				require.Same(t, adapters[v.Name()], v, "%s is an adapter", v.Name())
			}
			require.Len(t, Adapters(m), len(adapters))

			// nn.Freeze then Unfreeze gives the same split.
			nn.Freeze(m, true)
			Unfreeze(m)
			require.Len(t, nn.Trainable(m), len(adapters))

			var after []float32
			tp.NoGrad(func() { after = read(t, m.Decode(tp.Const(z)).Value) })
			require.Equal(t, before, after, "fresh adapters leave the decode unchanged")
		})
	}
}

// TestInjectErrors: bad options and a second injection fail without
// touching the model.
func TestInjectErrors(t *testing.T) {
	tp := testTape(t)
	m := smallVAE(t, tp)
	defer nn.Release(m)
	b := nn.NewBuilder(tp, 1)
	count := func() int { n, _ := nn.ParamCount(m); return n }
	n0 := count()

	_, err := Inject(b, m, InjectOptions{Rank: 0, Encoder: true})
	require.ErrorContains(t, err, "rank")
	_, err = Inject(b, m, InjectOptions{Rank: 2})
	require.ErrorContains(t, err, "neither")
	_, err = Inject(b, m, InjectOptions{Rank: 2, Decoder: true, Patterns: []string{"nothing"}})
	require.ErrorContains(t, err, "no conv matches")
	// "conv" is not a whole component of "conv_in", "conv1", ...: only
	// the resample convs end in ".conv".
	require.False(t, InjectOptions{Encoder: true}.Matches("encoder.conv_in"))
	require.False(t, InjectOptions{Encoder: true, Decoder: true, Resample: true}.Matches("quant_conv"))
	require.True(t, InjectOptions{Decoder: true, Patterns: []string{"up.1.block"}}.Matches("decoder.up.1.block.0.conv1"))
	require.Equal(t, n0, count())

	got, err := Inject(b, m, InjectOptions{Rank: 2, Decoder: true})
	require.NoError(t, err)
	require.Len(t, got, len(decBlocks))
	n1 := count()
	_, err = Inject(b, m, InjectOptions{Rank: 2, Encoder: true, Decoder: true})
	require.ErrorContains(t, err, "not an *nn.Conv2d")
	require.Equal(t, n1, count(), "a failed Inject changes nothing")
	m.Convs(func(name string, slot *nn.Layer) {
		if _, ok := (*slot).(*Conv); ok {
			require.Contains(t, name, "decoder.")
		}
	})
}
