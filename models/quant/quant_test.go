package quant

import (
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/tensor"
	"github.com/tessera-ml/tessera/tensor/ref"
)

// randFloats returns n values N(0, std²) from rng.
func randFloats(rng *rand.Rand, n int, std float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(rng.NormFloat64() * std)
	}
	return out
}

func TestParamNames(t *testing.T) {
	tp := testTape(t)
	cases := []struct {
		name  string
		cfg   Config
		want  []string
		shape map[string][]int
	}{
		{"attn rms", DefaultConfig(70, 5, []int{1, 2}),
			[]string{"codebooks.weight", "attn.to_q.weight", "attn.to_q.bias", "attn.to_k.weight", "attn.to_k.bias",
				"attn.to_v.weight", "attn.to_v.bias", "attn.norm_q.weight", "attn.norm_k.weight"},
			map[string][]int{"codebooks.weight": {70, 5}, "attn.to_q.weight": {32, 5}, "attn.to_q.bias": {32},
				"attn.to_k.weight": {32, 5}, "attn.to_v.weight": {5, 5}, "attn.to_v.bias": {5}, "attn.norm_k.weight": {32}}},
		{"attn layer", Config{Kind: KindResidual, Assign: AssignAttn, Codes: 9, Channels: 3, Dim: 7, Scales: []int{2}, Norm: NormLayer},
			[]string{"codebooks.weight", "attn.to_q.weight", "attn.to_q.bias", "attn.to_k.weight", "attn.to_k.bias",
				"attn.to_v.weight", "attn.to_v.bias", "attn.norm_q.weight", "attn.norm_q.bias", "attn.norm_k.weight", "attn.norm_k.bias"},
			map[string][]int{"attn.norm_q.bias": {7}, "attn.to_q.weight": {7, 3}}},
		{"attn none", Config{Kind: KindVQ, Assign: AssignAttn, Codes: 9, Channels: 3, Dim: 4, Norm: NormNone},
			[]string{"codebooks.weight", "attn.to_q.weight", "attn.to_q.bias", "attn.to_k.weight", "attn.to_k.bias",
				"attn.to_v.weight", "attn.to_v.bias"}, nil},
		{"nn", DefaultVQConfig(11, 4), []string{"codebooks.weight"}, map[string][]int{"codebooks.weight": {11, 4}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := newQuant(t, tp, c.cfg, 3)
			var names []string
			for _, p := range q.Params() {
				names = append(names, p.Name)
				assert.Equal(t, p.Name, p.Var.Name(), "New names its parameters")
				if s, ok := c.shape[p.Name]; ok {
					assert.Equal(t, s, p.Var.Shape(), p.Name)
				}
			}
			assert.Equal(t, c.want, names)
		})
	}
}

func TestDefaults(t *testing.T) {
	c := DefaultConfig(16384, 16, MARScales)
	assert.Equal(t, Config{Kind: KindResidual, Assign: AssignAttn, Codes: 16384, Channels: 16, Dim: 32,
		Scales: MARScales, Norm: NormRMS, Beta: 0.05, EntropyTemp: 0.01, Entropy: true, Fused: true}, c)
	require.NoError(t, c.Validate())
	c.Scales[0] = 99
	assert.Equal(t, 1, MARScales[0], "DefaultConfig copies the scales")
	require.NoError(t, DefaultConfig(65536, 16, FLUXScales).Validate())
	v := DefaultVQConfig(1024, 16)
	assert.Equal(t, float32(0.25), v.Beta)
	require.NoError(t, v.Validate())

	// The codebook starts N(0, 1), as the release's nn.Embedding.
	tp := testTape(t)
	q := newQuant(t, tp, DefaultConfig(4096, 16, []int{1}), 1)
	cb := floats(t, q.Codebook.Weight.Value)
	var s, s2 float64
	for _, x := range cb {
		s += float64(x)
		s2 += float64(x) * float64(x)
	}
	mean := s / float64(len(cb))
	assert.InDelta(t, 0, mean, 0.02)
	assert.InDelta(t, 1, math.Sqrt(s2/float64(len(cb))-mean*mean), 0.02)
	assert.Equal(t, 10, newQuant(t, tp, DefaultConfig(8, 2, MARScales), 1).Levels())
	assert.Equal(t, 1, newQuant(t, tp, DefaultVQConfig(8, 2), 1).Levels())
}

func TestBadConfigs(t *testing.T) {
	good := DefaultConfig(64, 4, []int{1, 2, 4})
	cases := []struct {
		name string
		edit func(c *Config)
		msg  string
	}{
		{"kind", func(c *Config) { c.Kind = "pyramid" }, "unknown kind"},
		{"assign", func(c *Config) { c.Assign = "gumbel" }, "unknown assignment"},
		{"norm", func(c *Config) { c.Norm = "batch" }, "unknown norm"},
		{"no scales", func(c *Config) { c.Scales = nil }, "at least one scale"},
		{"vq scales", func(c *Config) { c.Kind = KindVQ }, "at most one scale"},
		{"zero scale", func(c *Config) { c.Scales = []int{0, 4} }, "positive"},
		{"unsorted", func(c *Config) { c.Scales = []int{1, 4, 2} }, "increase"},
		{"repeated", func(c *Config) { c.Scales = []int{2, 2, 4} }, "increase"},
		{"codes", func(c *Config) { c.Codes = 0 }, "codebook size"},
		{"channels", func(c *Config) { c.Channels = -1 }, "channels"},
		{"dim", func(c *Config) { c.Dim = 0 }, "attention width"},
		{"beta", func(c *Config) { c.Beta = -1 }, "beta"},
		{"beta nan", func(c *Config) { c.Beta = float32(math.NaN()) }, "beta"},
		{"temp", func(c *Config) { c.EntropyTemp = 0 }, "temperature"},
		{"nn entropy", func(c *Config) { c.Assign = AssignNN }, "entropy"},
		{"fused dim", func(c *Config) { c.Dim = 129 }, "use Fused: false"},
		{"fused channels", func(c *Config) { c.Channels = 65 }, "use Fused: false"},
		{"fused nn channels", func(c *Config) { c.Assign, c.Entropy, c.Channels = AssignNN, false, 128 }, "use Fused: false"},
	}
	tp := testTape(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := good
			cfg.Scales = append([]int(nil), good.Scales...)
			c.edit(&cfg)
			q, err := New(nn.NewBuilder(tp, 1), cfg)
			require.Error(t, err)
			assert.Nil(t, q)
			assert.Contains(t, err.Error(), c.msg)
		})
	}
	// Materialised paths lift the fused kernels' width limits.
	cfg := good
	cfg.Dim, cfg.Channels, cfg.Fused = 129, 65, false
	require.NoError(t, cfg.Validate())
	// No temperature is needed without the entropy loss.
	cfg = good
	cfg.Entropy, cfg.EntropyTemp = false, 0
	require.NoError(t, cfg.Validate())
}

func TestBadInputs(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	q := newQuant(t, tp, DefaultConfig(16, 3, []int{1, 2, 4}), 1)
	vq := newQuant(t, tp, DefaultVQConfig(16, 3), 1)
	lat := func(shape ...int) *autograd.Var { return tp.Const(e.Zeros(shape...)) }
	for _, c := range []struct {
		name string
		q    *Quantizer
		z    *autograd.Var
		msg  string
	}{
		{"rank", q, lat(2, 3, 4), "[B, C, H, W]"},
		{"channels", q, lat(2, 5, 4, 4), "channels"},
		{"size", q, lat(2, 3, 5, 5), "need 4×4"},
		{"not square", q, lat(2, 3, 4, 2), "need 4×4"},
		{"empty batch", q, lat(0, 3, 4, 4), "empty batch"},
		{"empty plane", vq, lat(1, 3, 0, 4), "empty latent plane"},
		{"int32", q, tp.Const(e.FullInt(0, 1, 3, 4, 4)), "float32"},
		{"failed", q, tp.Const(tensor.Add(e.Zeros(2), e.Zeros(3))), "failed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := c.q.Forward(c.z)
			require.Error(t, err)
			assert.Nil(t, out)
			assert.Contains(t, err.Error(), c.msg)
		})
	}
	require.Error(t, e.Err()) // the deliberately failed input's sticky error

	ids := []*tensor.Tensor{e.FullInt(0, 2, 1, 1), e.FullInt(0, 2, 2, 2), e.FullInt(0, 2, 4, 4)}
	for _, c := range []struct {
		name   string
		ids    []*tensor.Tensor
		levels int
		msg    string
	}{
		{"levels 0", ids, 0, "levels must be in [1, 3]"},
		{"levels 4", ids, 4, "levels must be in [1, 3]"},
		{"too few", ids[:2], 3, "needs 3 id tensors"},
		{"nil", []*tensor.Tensor{nil}, 1, "nil"},
		{"float", []*tensor.Tensor{e.Zeros(2, 1, 1)}, 1, "int32"},
		{"rank", []*tensor.Tensor{e.FullInt(0, 2, 1)}, 1, "[B, p, p]"},
		{"scale", []*tensor.Tensor{e.FullInt(0, 2, 2, 2)}, 1, "must be 1×1"},
		{"batch", []*tensor.Tensor{ids[0], e.FullInt(0, 3, 2, 2)}, 2, "batch"},
	} {
		t.Run("decode "+c.name, func(t *testing.T) {
			zq, err := q.Decode(c.ids, c.levels)
			require.Error(t, err)
			assert.Nil(t, zq)
			assert.Contains(t, err.Error(), c.msg)
		})
	}
	_, err := q.DecodeVectors(tp.Const(e.Zeros(16, 4)), ids, 1)
	require.ErrorContains(t, err, "code vectors must be [16, 3]")
	require.NoError(t, e.Err())
}

// TestDecodeMatchesForward: Decode of all levels reproduces Forward's ẑ
// bit for bit (the straight-through values are exactly the code vectors,
// summed in the same order), and Decode of the first k levels is the
// float64 sum of the first k bicubic-upsampled code-vector maps.
func TestDecodeMatchesForward(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"attn fused", DefaultConfig(97, 5, []int{1, 2, 3, 5, 7})},
		{"attn materialised", func() Config { c := DefaultConfig(97, 5, []int{1, 2, 3, 5, 7}); c.Fused = false; return c }()},
		{"nn residual", Config{Kind: KindResidual, Assign: AssignNN, Codes: 33, Channels: 4, Scales: []int{1, 3, 4, 6}, Beta: VQBeta, Fused: true}},
		{"nn vq", DefaultVQConfig(33, 4)},
	} {
		t.Run(c.name, func(t *testing.T) {
			tp := testTape(t)
			e := tp.Engine()
			q := newQuant(t, tp, c.cfg, 5)
			rng := rand.New(rand.NewSource(11))
			h, w := 7, 7
			if len(c.cfg.Scales) > 0 {
				h = c.cfg.Scales[len(c.cfg.Scales)-1]
				w = h
			} else {
				w = 5 // a VQ latent need not be square
			}
			z := tp.Const(e.FromFloat32(randFloats(rng, 3*c.cfg.Channels*h*w, 1), 3, c.cfg.Channels, h, w))
			out, err := q.Forward(z)
			require.NoError(t, err)
			defer out.Release()

			k := q.Levels()
			full, err := q.Decode(out.Ids, k)
			require.NoError(t, err)
			assert.Equal(t, floats(t, out.Zq.Value), floats(t, full.Value), "Decode(ids, K) is Forward's ẑ")

			vecs := floats(t, q.CodeVectors().Value)
			partial := ref.New(3, c.cfg.Channels, h, w)
			for lv := 1; lv <= k; lv++ {
				ids := out.Ids[lv-1]
				s := ids.Shape()
				codes := ref.New(s[0], c.cfg.Channels, s[1], s[2])
				for i, id := range ints(t, ids) {
					b, y, x := i/(s[1]*s[2]), i/s[2]%s[1], i%s[2]
					for ch := 0; ch < c.cfg.Channels; ch++ {
						codes.Data[((b*c.cfg.Channels+ch)*s[1]+y)*s[2]+x] = float64(vecs[int(id)*c.cfg.Channels+ch])
					}
				}
				up := ref.UpsampleBicubic(codes, h, w)
				for i := range partial.Data {
					partial.Data[i] += up.Data[i]
				}
				got, err := q.Decode(out.Ids, lv)
				require.NoError(t, err)
				require.NoError(t, ref.Close(floats(t, got.Value), partial, 1e-5), "first %d levels", lv)
			}
		})
	}
}

// nnTwin is the float64 twin of the nearest-neighbour residual quantizer:
// per level area-downsample the residual, pick the code at the smallest
// squared distance (first on ties), subtract its bicubic upsampling. It
// returns the ids, ẑ and the smallest gap between a token's best and
// second-best distance.
func nnTwin(z *ref.Tensor, cb []float32, v, c int, scales []int) ([][]int32, *ref.Tensor, float64) {
	bsz, h, w := z.Shape[0], z.Shape[2], z.Shape[3]
	res := z.Clone()
	zq := ref.New(z.Shape...)
	gap := math.Inf(1)
	if len(scales) == 0 {
		scales = []int{0}
	}
	var ids [][]int32
	for _, p := range scales {
		ph, pw := p, p
		if p == 0 {
			ph, pw = h, w
		}
		r := ref.AreaDownsample(res, ph, pw)
		codes := ref.New(bsz, c, ph, pw)
		lv := make([]int32, bsz*ph*pw)
		for b := 0; b < bsz; b++ {
			for pos := 0; pos < ph*pw; pos++ {
				best, second, arg := math.Inf(1), math.Inf(1), 0
				for j := 0; j < v; j++ {
					var d float64
					for ch := 0; ch < c; ch++ {
						x := r.Data[(b*c+ch)*ph*pw+pos] - float64(cb[j*c+ch])
						d += x * x
					}
					switch {
					case d < best:
						best, second, arg = d, best, j
					case d < second:
						second = d
					}
				}
				gap = math.Min(gap, second-best)
				lv[b*ph*pw+pos] = int32(arg)
				for ch := 0; ch < c; ch++ {
					codes.Data[(b*c+ch)*ph*pw+pos] = float64(cb[arg*c+ch])
				}
			}
		}
		ids = append(ids, lv)
		up := codes
		if ph != h || pw != w {
			up = ref.UpsampleBicubic(codes, h, w)
		}
		for i := range res.Data {
			res.Data[i] -= up.Data[i]
			zq.Data[i] += up.Data[i]
		}
	}
	return ids, zq, gap
}

// TestNearestNeighbour: nearest-neighbour VQ and residual quantizers (fused
// and materialised search, a codebook large enough for the fused kernel to
// split it into slices) give the brute-force float64 ids and ẑ, and the
// straight-through estimator hands sum(ẑ ⊙ G)'s gradient to z unchanged
// (ẑ's derivative w.r.t. z is the identity: the last level is at full
// resolution). The loss is mean((sg(r) − e)²) + 0.25·mean((r − sg(e))²)
// per level; its codebook gradient is checked against the float64 formula
// for the single-level case.
func TestNearestNeighbour(t *testing.T) {
	for _, c := range []struct {
		name       string
		kind       string
		scales     []int
		v, ch, bsz int
		h, w       int
		fused      bool
	}{
		{"vq fused", KindVQ, nil, 300, 16, 2, 9, 7, true},
		{"vq materialised", KindVQ, nil, 300, 16, 2, 9, 7, false},
		{"vq large V", KindVQ, nil, 70000, 4, 1, 5, 3, true},
		{"residual fused", KindResidual, []int{1, 2, 3, 5, 8}, 129, 7, 3, 8, 8, true},
		{"residual materialised", KindResidual, []int{1, 2, 3, 5, 8}, 129, 7, 3, 8, 8, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			tp := testTape(t)
			e := tp.Engine()
			cfg := Config{Kind: c.kind, Assign: AssignNN, Codes: c.v, Channels: c.ch, Scales: c.scales, Beta: VQBeta, Fused: c.fused}
			q := newQuant(t, tp, cfg, 9)
			rng := rand.New(rand.NewSource(int64(c.v)))
			n := c.bsz * c.ch * c.h * c.w
			zData := randFloats(rng, n, 1)
			z := param(t, tp, zData, c.bsz, c.ch, c.h, c.w)
			gData := randFloats(rng, n, 1)
			g := tp.Const(e.FromFloat32(gData, c.bsz, c.ch, c.h, c.w))

			out, err := q.Forward(z)
			require.NoError(t, err)
			defer out.Release()
			cb := floats(t, q.Codebook.Weight.Value)
			wantIds, wantZq, gap := nnTwin(ref.FromFloat32([]int{c.bsz, c.ch, c.h, c.w}, zData), cb, c.v, c.ch, c.scales)
			t.Logf("smallest distance gap %.3g", gap)
			require.Greater(t, gap, 1e-4, "the test input has a near-tie: pick another seed")
			require.Len(t, out.Ids, len(wantIds))
			for i := range wantIds {
				require.Equal(t, wantIds[i], ints(t, out.Ids[i]), "level %d ids", i)
			}
			require.NoError(t, ref.Close(floats(t, out.Zq.Value), wantZq, 1e-5), "ẑ")
			require.Nil(t, out.Entropy)
			qe, err := out.QuantErr.Item()
			require.NoError(t, err)
			var wantQE float64
			for i, x := range wantZq.Data {
				d := x - float64(zData[i])
				wantQE += d * d / float64(n)
			}
			require.InDelta(t, wantQE, float64(qe), 1e-5*max(1, wantQE), "quantization error")

			loss := autograd.SumAll(autograd.Mul(out.Zq, g))
			require.NoError(t, autograd.Backward(loss))
			require.NoError(t, ref.Close(floats(t, z.Grad), ref.FromFloat32(z.Shape(), gData), 1e-5), "straight-through gradient")
			assert.Nil(t, q.Codebook.Weight.Grad, "ẑ sends no gradient to the codebook")

			if c.kind != KindVQ {
				return
			}
			// L = mean((sg(z) − e)²) + β·mean((z − sg(e))²) over the n
			// elements: dL/dz = 2β(z − e)/n, dL/de = 2(e − z)/n summed over
			// the tokens that chose e.
			// Backward consumed the graph: run the forward pass again.
			zeroGrads(q, z)
			out2, err := q.Forward(z)
			require.NoError(t, err)
			defer out2.Release()
			require.NoError(t, autograd.Backward(out2.Loss))
			var wantLoss float64
			gradZ := ref.New(z.Shape()...)
			gradCb := ref.New(c.v, c.ch)
			hw := c.h * c.w
			for i, zv := range zData {
				b, ch, pos := i/(c.ch*hw), i/hw%c.ch, i%hw
				id := int(wantIds[0][b*hw+pos])
				d := float64(cb[id*c.ch+ch]) - float64(zv)
				wantLoss += (1 + VQBeta) * d * d / float64(n)
				gradZ.Data[i] = -2 * VQBeta * d / float64(n)
				gradCb.Data[id*c.ch+ch] += 2 * d / float64(n)
			}
			require.InDelta(t, wantLoss, scalar(t, out2.Loss), 1e-5*max(1, wantLoss), "loss")
			require.NoError(t, ref.Close(floats(t, z.Grad), gradZ, 1e-5), "loss gradient of z")
			require.NoError(t, ref.Close(floats(t, q.Codebook.Weight.Grad), gradCb, 1e-5), "loss gradient of the codebook")
		})
	}
}

// TestFusedMatchesMaterialised: the fused assignment gives the
// materialising reference's ids, ẑ, losses and every gradient of
// sum(ẑ ⊙ G) + L_vq + 0.05·L_ent, at sizes where the fused kernel tiles
// the codebook (V = 1000, d = 32, C = 16, five levels up to 9×9).
func TestFusedMatchesMaterialised(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"attn rms", DefaultConfig(1000, 16, []int{1, 2, 4, 6, 9})},
		{"attn layer", func() Config {
			c := DefaultConfig(300, 5, []int{2, 3, 5})
			c.Norm, c.Dim = NormLayer, 7
			return c
		}()},
		{"attn no entropy", func() Config { c := DefaultConfig(257, 3, []int{1, 3}); c.Entropy = false; return c }()},
		{"nn", Config{Kind: KindResidual, Assign: AssignNN, Codes: 1000, Channels: 16, Scales: []int{1, 2, 4, 6, 9}, Beta: VQBeta}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tp := testTape(t)
			e := tp.Engine()
			fusedCfg, matCfg := c.cfg, c.cfg
			fusedCfg.Fused, matCfg.Fused = true, false
			fused := newQuant(t, tp, fusedCfg, 21)
			mat := newQuant(t, tp, matCfg, 21)
			last := c.cfg.Scales[len(c.cfg.Scales)-1]
			rng := rand.New(rand.NewSource(5))
			shape := []int{3, c.cfg.Channels, last, last}
			zData := randFloats(rng, tensor.Numel(shape), 1)
			g := tp.Const(e.FromFloat32(randFloats(rng, tensor.Numel(shape), 1), shape...))

			type result struct {
				ids            [][]int32
				zq             []float32
				lvq, lent, tot float64
				grads          map[string][]float32
			}
			run := func(q *Quantizer) result {
				z := param(t, tp, zData, shape...)
				out, err := q.Forward(z)
				require.NoError(t, err)
				defer out.Release()
				r := result{zq: floats(t, out.Zq.Value), lvq: scalar(t, out.Loss), grads: map[string][]float32{}}
				for _, ids := range out.Ids {
					r.ids = append(r.ids, ints(t, ids))
				}
				loss := autograd.Add(autograd.SumAll(autograd.Mul(out.Zq, g)), out.Loss)
				if out.Entropy != nil {
					r.lent = scalar(t, out.Entropy)
					loss = autograd.Add(loss, autograd.MulScalar(out.Entropy, 0.05))
				}
				r.tot = scalar(t, loss)
				require.NoError(t, autograd.Backward(loss))
				r.grads["z"] = floats(t, z.Grad)
				for _, p := range q.Params() {
					require.NotNil(t, p.Var.Grad, p.Name)
					r.grads[p.Name] = floats(t, p.Var.Grad)
				}
				return r
			}
			want, got := run(mat), run(fused)
			require.Equal(t, want.ids, got.ids)
			const tol = 1e-4
			wantRef := func(x []float32) *ref.Tensor { return ref.FromFloat32([]int{len(x)}, x) }
			require.NoError(t, ref.Close(got.zq, wantRef(want.zq), tol), "ẑ")
			require.InDelta(t, want.lvq, got.lvq, tol*max(1, want.lvq), "L_vq")
			require.InDelta(t, want.lent, got.lent, tol*max(1, math.Abs(want.lent)), "L_ent")
			require.InDelta(t, want.tot, got.tot, tol*max(1, math.Abs(want.tot)), "loss")
			for name, w := range want.grads {
				require.NoError(t, ref.Close(got.grads[name], wantRef(w), tol), "gradient of %s", name)
			}
		})
	}
}

// TestInference: under NoGrad the forward pass records nothing and gives
// the same ids and ẑ.
func TestInference(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	q := newQuant(t, tp, DefaultConfig(50, 4, []int{1, 2, 4}), 2)
	rng := rand.New(rand.NewSource(3))
	z := tp.Const(e.FromFloat32(randFloats(rng, 2*4*16, 1), 2, 4, 4, 4))
	out, err := q.Forward(z)
	require.NoError(t, err)
	defer out.Release()
	var inf *Output
	tp.NoGrad(func() { inf, err = q.Forward(z) })
	require.NoError(t, err)
	defer inf.Release()
	assert.False(t, inf.Zq.RequiresGrad())
	assert.True(t, out.Zq.RequiresGrad())
	assert.Equal(t, floats(t, out.Zq.Value), floats(t, inf.Zq.Value))
	for i := range out.Ids {
		assert.Equal(t, ints(t, out.Ids[i]), ints(t, inf.Ids[i]))
	}
}

// TestFusedMemory: a fused training step (forward, backward of
// sum(ẑ ⊙ G) + L_vq + 0.05·L_ent) at N = 2048 tokens and V = 4096 codes
// holds far less device memory than the N×V×4 bytes (32 MiB) of one logits
// tensor, which the materialising path stores several times over.
func TestFusedMemory(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	dev := e.Device()
	const v, c, bsz, side = 4096, 16, 2, 32
	n := bsz * side * side
	logits := uint64(n) * v * 4
	rng := rand.New(rand.NewSource(8))
	zData := randFloats(rng, bsz*c*side*side, 1)
	gData := randFloats(rng, bsz*c*side*side, 1)
	peak := map[bool]uint64{}
	for _, fused := range []bool{true, false} {
		cfg := DefaultConfig(v, c, []int{side})
		cfg.Fused = fused
		q := newQuant(t, tp, cfg, 4)
		require.NoError(t, e.Sync())
		s := e.Scope()
		dev.ResetPeak()
		base := dev.Memory().Live
		z := tp.Const(e.FromFloat32(zData, bsz, c, side, side))
		g := tp.Const(e.FromFloat32(gData, bsz, c, side, side))
		out, err := q.Forward(z)
		require.NoError(t, err)
		loss := autograd.Add(autograd.Add(autograd.SumAll(autograd.Mul(out.Zq, g)), out.Loss), autograd.MulScalar(out.Entropy, 0.05))
		require.NoError(t, autograd.Backward(loss))
		require.NoError(t, e.Sync())
		peak[fused] = dev.Memory().Peak - base
		out.Release()
		s.Close()
		zeroGrads(q)
		t.Logf("fused=%v: peak %.1f MiB beyond the parameters (one N×V logits tensor: %.0f MiB)",
			fused, float64(peak[fused])/(1<<20), float64(logits)/(1<<20))
	}
	assert.Less(t, peak[true], logits/2, "the fused step stores no N×V tensor")
	assert.Greater(t, peak[false], 2*logits, "the materialising step stores several")
}
