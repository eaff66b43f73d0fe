package nn

import (
	"math"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// Linear is y = x Wᵀ + b over the last axis (torch.nn.Linear).
type Linear struct {
	Weight *autograd.Var // [out, in]
	Bias   *autograd.Var // [out] or nil
}

// NewLinear makes a Linear layer with PyTorch's default initialisation.
func NewLinear(b *Builder, in, out int, bias bool) *Linear {
	checkPositive("Linear", in, out)
	bound := kaimingBound(in)
	l := &Linear{Weight: b.Uniform("weight", bound, out, in)}
	if bias {
		l.Bias = b.Uniform("bias", bound, out)
	}
	return l
}

// Params lists weight and bias.
func (l *Linear) Params() []Param {
	ps := []Param{{"weight", l.Weight}}
	if l.Bias != nil {
		ps = append(ps, Param{"bias", l.Bias})
	}
	return ps
}

// Forward applies the layer to x [..., in].
func (l *Linear) Forward(x *autograd.Var) *autograd.Var {
	shape := x.Shape()
	in := shape[len(shape)-1]
	flat := autograd.Reshape(x, -1, in)
	y := autograd.Matmul(flat, l.Weight, false, true)
	if l.Bias != nil {
		y = autograd.Add(y, l.Bias)
	}
	out := append(append([]int{}, shape[:len(shape)-1]...), l.Weight.Shape()[0])
	return autograd.Reshape(y, out...)
}

// Conv2d is torch.nn.Conv2d (NCHW, zero padding).
type Conv2d struct {
	Weight *autograd.Var // [out, in, kh, kw]
	Bias   *autograd.Var // [out] or nil
	Conv   tensor.ConvParams
}

// NewConv2d makes a square-kernel convolution with PyTorch's default
// initialisation.
func NewConv2d(b *Builder, in, out, kernel, stride, padding int, bias bool) *Conv2d {
	checkPositive("Conv2d", in, out, kernel, stride)
	bound := kaimingBound(in * kernel * kernel)
	c := &Conv2d{
		Weight: b.Uniform("weight", bound, out, in, kernel, kernel),
		Conv:   tensor.ConvParams{StrideH: stride, StrideW: stride, PadH: padding, PadW: padding, DilH: 1, DilW: 1},
	}
	if bias {
		c.Bias = b.Uniform("bias", bound, out)
	}
	return c
}

// Params lists weight and bias.
func (c *Conv2d) Params() []Param {
	ps := []Param{{"weight", c.Weight}}
	if c.Bias != nil {
		ps = append(ps, Param{"bias", c.Bias})
	}
	return ps
}

// Forward convolves x [N, in, H, W].
func (c *Conv2d) Forward(x *autograd.Var) *autograd.Var {
	return autograd.Conv2d(x, c.Weight, c.Bias, c.Conv)
}

// GroupNorm is torch.nn.GroupNorm with affine parameters.
type GroupNorm struct {
	Groups int
	Eps    float32
	Weight *autograd.Var // [C], init 1
	Bias   *autograd.Var // [C], init 0
}

// NewGroupNorm makes a GroupNorm over channels.
func NewGroupNorm(b *Builder, groups, channels int, eps float32) *GroupNorm {
	checkPositive("GroupNorm", groups, channels)
	return &GroupNorm{Groups: groups, Eps: eps, Weight: b.Full("weight", 1, channels), Bias: b.Full("bias", 0, channels)}
}

// Params lists weight and bias.
func (g *GroupNorm) Params() []Param { return []Param{{"weight", g.Weight}, {"bias", g.Bias}} }

// Forward normalises x [N, C, ...].
func (g *GroupNorm) Forward(x *autograd.Var) *autograd.Var {
	return autograd.GroupNorm(x, g.Groups, g.Weight, g.Bias, g.Eps)
}

// LayerNorm is torch.nn.LayerNorm over the last axis.
type LayerNorm struct {
	Eps    float32
	Weight *autograd.Var
	Bias   *autograd.Var
}

// NewLayerNorm makes a LayerNorm over a last axis of size dim.
func NewLayerNorm(b *Builder, dim int, eps float32) *LayerNorm {
	checkPositive("LayerNorm", dim)
	return &LayerNorm{Eps: eps, Weight: b.Full("weight", 1, dim), Bias: b.Full("bias", 0, dim)}
}

// Params lists weight and bias.
func (l *LayerNorm) Params() []Param { return []Param{{"weight", l.Weight}, {"bias", l.Bias}} }

// Forward normalises the last axis of x.
func (l *LayerNorm) Forward(x *autograd.Var) *autograd.Var {
	return autograd.LayerNorm(x, l.Weight, l.Bias, l.Eps)
}

// RMSNorm is x / √(mean(x²)+eps) · weight over the last axis.
type RMSNorm struct {
	Eps    float32
	Weight *autograd.Var
}

// NewRMSNorm makes an RMSNorm over a last axis of size dim.
func NewRMSNorm(b *Builder, dim int, eps float32) *RMSNorm {
	checkPositive("RMSNorm", dim)
	return &RMSNorm{Eps: eps, Weight: b.Full("weight", 1, dim)}
}

// Params lists weight.
func (r *RMSNorm) Params() []Param { return []Param{{"weight", r.Weight}} }

// Forward normalises the last axis of x.
func (r *RMSNorm) Forward(x *autograd.Var) *autograd.Var {
	return autograd.RMSNorm(x, r.Weight, r.Eps)
}

// Embedding maps int32 ids to rows of a table (torch.nn.Embedding, N(0,1) init).
type Embedding struct {
	Weight *autograd.Var // [num, dim]
}

// NewEmbedding makes an embedding table.
func NewEmbedding(b *Builder, num, dim int) *Embedding {
	checkPositive("Embedding", num, dim)
	return &Embedding{Weight: b.Normal("weight", 0, 1, num, dim)}
}

// Params lists weight.
func (m *Embedding) Params() []Param { return []Param{{"weight", m.Weight}} }

// Lookup returns the rows for ids (int32, any shape) as [ids..., dim].
func (m *Embedding) Lookup(ids *tensor.Tensor) *autograd.Var {
	shape := ids.Shape()
	rows := autograd.Gather(m.Weight, 0, ids.Reshape(-1))
	return autograd.Reshape(rows, append(shape, m.Weight.Shape()[1])...)
}

// Dropout zeroes elements with probability P in training and scales the
// rest by 1/(1-P); it is the identity in eval mode.
type Dropout struct {
	P        float32
	training bool
	seed     uint64
	calls    uint64
}

// NewDropout makes a dropout layer (in training mode).
func NewDropout(b *Builder, p float32) *Dropout {
	return &Dropout{P: p, training: true, seed: b.Seed()}
}

// Params lists nothing.
func (d *Dropout) Params() []Param { return nil }

// SetTraining switches between dropping (true) and identity (false).
func (d *Dropout) SetTraining(on bool) { d.training = on }

// Forward applies dropout with a fresh mask per call.
func (d *Dropout) Forward(x *autograd.Var) *autograd.Var {
	if !d.training || d.P == 0 {
		return x
	}
	d.calls++
	e := x.Tape().Engine()
	u := e.Uniform(d.seed^(d.calls*0x9e3779b97f4a7c15), 0, 1, x.Shape()...)
	keep := tensor.GreaterEqual(u, e.Full(d.P))
	u.Release()
	mask := tensor.MulScalar(keep, 1/(1-d.P))
	keep.Release()
	return autograd.Mul(x, x.Tape().Const(mask))
}

// Activation is a parameter-free layer applying an elementwise function.
type Activation struct {
	Fn func(*autograd.Var) *autograd.Var
}

// Params lists nothing.
func (a Activation) Params() []Param { return nil }

// Forward applies the function.
func (a Activation) Forward(x *autograd.Var) *autograd.Var { return a.Fn(x) }

// SiLU, GELU, ReLU and Tanh layers.
var (
	SiLU = Activation{Fn: autograd.Silu}
	GELU = Activation{Fn: autograd.Gelu}
	ReLU = Activation{Fn: autograd.Relu}
	Tanh = Activation{Fn: autograd.Tanh}
)

// Sequential applies layers in order; parameters are named by index
// ("0.weight"), as torch.nn.Sequential does.
type Sequential struct {
	Layers []Layer
}

// Params lists the layers' parameters under their indices.
func (s *Sequential) Params() []Param {
	var out []Param
	for i, l := range s.Layers {
		out = append(out, Prefixed(itoa(i), l.Params())...)
	}
	return out
}

// SetTraining forwards the mode to every layer.
func (s *Sequential) SetTraining(on bool) {
	for _, l := range s.Layers {
		SetTraining(l, on)
	}
}

// Forward applies the layers in order.
func (s *Sequential) Forward(x *autograd.Var) *autograd.Var {
	for _, l := range s.Layers {
		x = l.Forward(x)
	}
	return x
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

// Upsample is nearest-neighbour upsampling by an integer factor.
type Upsample struct{ Factor int }

// Params lists nothing.
func (Upsample) Params() []Param { return nil }

// Forward upsamples x [N, C, H, W].
func (u Upsample) Forward(x *autograd.Var) *autograd.Var {
	s := x.Shape()
	return autograd.UpsampleNearest(x, s[2]*u.Factor, s[3]*u.Factor)
}

// Downsample is average pooling by an integer factor (area downsampling).
type Downsample struct{ Factor int }

// Params lists nothing.
func (Downsample) Params() []Param { return nil }

// Forward downsamples x [N, C, H, W].
func (d Downsample) Forward(x *autograd.Var) *autograd.Var {
	s := x.Shape()
	return autograd.AreaDownsample(x, s[2]/d.Factor, s[3]/d.Factor)
}

// MultiheadAttention is self-attention with PyTorch's parameter layout
// (torch.nn.MultiheadAttention: in_proj_weight [3D, D], in_proj_bias,
// out_proj.weight, out_proj.bias).
type MultiheadAttention struct {
	Heads        int
	InProjWeight *autograd.Var
	InProjBias   *autograd.Var
	OutProj      *Linear
}

// NewMultiheadAttention makes attention over dim with heads heads;
// in_proj is Xavier-uniform and biases zero, as in PyTorch.
func NewMultiheadAttention(b *Builder, dim, heads int) *MultiheadAttention {
	checkPositive("MultiheadAttention", dim, heads)
	if dim%heads != 0 {
		panic("nn.MultiheadAttention: dim must be divisible by heads")
	}
	xavier := math.Sqrt(6.0 / float64(dim+3*dim))
	m := &MultiheadAttention{
		Heads:        heads,
		InProjWeight: b.Uniform("in_proj_weight", xavier, 3*dim, dim),
		InProjBias:   b.Full("in_proj_bias", 0, 3*dim),
		// out_proj keeps Linear's default weight; PyTorch zeroes its bias.
		OutProj: &Linear{Weight: b.Uniform("weight", kaimingBound(dim), dim, dim), Bias: b.Full("bias", 0, dim)},
	}
	return m
}

// Params lists the projections.
func (m *MultiheadAttention) Params() []Param {
	return append([]Param{{"in_proj_weight", m.InProjWeight}, {"in_proj_bias", m.InProjBias}},
		Prefixed("out_proj", m.OutProj.Params())...)
}

// Forward attends over x [B, T, D]; mask, if not nil, is added to the
// attention scores ([T, T] or [B·H, T, T]: 0 to keep, -inf or a large
// negative number to block).
func (m *MultiheadAttention) Forward(x *autograd.Var, mask *tensor.Tensor) *autograd.Var {
	s := x.Shape()
	bsz, t, d := s[0], s[1], s[2]
	h := m.Heads
	dh := d / h
	qkv := autograd.Add(autograd.Matmul(autograd.Reshape(x, bsz*t, d), m.InProjWeight, false, true), m.InProjBias)
	// [B, T, 3, H, dh] → [3, B, H, T, dh]
	qkv = autograd.Permute(autograd.Reshape(qkv, bsz, t, 3, h, dh), 2, 0, 3, 1, 4)
	q := autograd.Reshape(autograd.Slice(qkv, 0, 0, 1), bsz*h, t, dh)
	k := autograd.Reshape(autograd.Slice(qkv, 0, 1, 2), bsz*h, t, dh)
	v := autograd.Reshape(autograd.Slice(qkv, 0, 2, 3), bsz*h, t, dh)
	scores := autograd.MulScalar(autograd.Matmul(q, k, false, true), float32(1/math.Sqrt(float64(dh))))
	if mask != nil {
		scores = autograd.Add(scores, x.Tape().Const(mask))
	}
	attn := autograd.Softmax(scores, -1)
	o := autograd.Matmul(attn, v, false, false) // [B·H, T, dh]
	o = autograd.Reshape(autograd.Permute(autograd.Reshape(o, bsz, h, t, dh), 0, 2, 1, 3), bsz, t, d)
	return m.OutProj.Forward(o)
}
