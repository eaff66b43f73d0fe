package vae

import (
	"math"
	"strconv"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/nn"
)

// convVisitor is called with a conv's full dotted name and the field
// holding it, so the caller may replace the layer.
type convVisitor func(name string, slot *nn.Layer)

func conv(b *nn.Builder, in, out, kernel, stride, padding int) nn.Layer {
	return nn.NewConv2d(b, in, out, kernel, stride, padding, true)
}

func groupNorm(b *nn.Builder, ch int) *nn.GroupNorm {
	return nn.NewGroupNorm(b, normGroups, ch, normEps)
}

// ResnetBlock is LDM's ResnetBlock without a timestep embedding:
// x + conv2(SiLU(norm2(conv1(SiLU(norm1(x)))))), the skip through a 1×1
// nin_shortcut when the channels change. (Dropout is 0 in every LDM VAE
// and is left out.)
type ResnetBlock struct {
	Norm1, Norm2 *nn.GroupNorm
	Conv1, Conv2 nn.Layer // 3×3
	NinShortcut  nn.Layer // 1×1, nil when in == out
}

// NewResnetBlock makes a block from in to out channels.
func NewResnetBlock(b *nn.Builder, in, out int) *ResnetBlock {
	r := &ResnetBlock{Norm1: groupNorm(b, in), Conv1: conv(b, in, out, 3, 1, 1)}
	r.Norm2 = groupNorm(b, out)
	r.Conv2 = conv(b, out, out, 3, 1, 1)
	if in != out {
		r.NinShortcut = conv(b, in, out, 1, 1, 0)
	}
	return r
}

// Params lists norm1, conv1, norm2, conv2 and nin_shortcut.
func (r *ResnetBlock) Params() []nn.Param {
	return nn.Children("norm1", r.Norm1, "conv1", r.Conv1, "norm2", r.Norm2, "conv2", r.Conv2,
		"nin_shortcut", r.NinShortcut)
}

// Forward applies the block to x [N, in, H, W].
func (r *ResnetBlock) Forward(x *autograd.Var) *autograd.Var {
	return nn.Inference(x, func() *autograd.Var { return r.forward(x) })
}

func (r *ResnetBlock) forward(x *autograd.Var) *autograd.Var {
	h := r.Conv1.Forward(autograd.Silu(r.Norm1.Forward(x)))
	h = r.Conv2.Forward(autograd.Silu(r.Norm2.Forward(h)))
	if r.NinShortcut != nil {
		x = r.NinShortcut.Forward(x)
	}
	return autograd.Add(x, h)
}

func (r *ResnetBlock) convs(prefix string, fn convVisitor) {
	fn(prefix+"conv1", &r.Conv1)
	fn(prefix+"conv2", &r.Conv2)
	if r.NinShortcut != nil {
		fn(prefix+"nin_shortcut", &r.NinShortcut)
	}
}

// AttnBlock is LDM's AttnBlock: single-head self-attention over the H·W
// positions with 1×1-conv projections, x + proj_out(softmax(qᵀk/√C)·v).
type AttnBlock struct {
	Norm             *nn.GroupNorm
	Q, K, V, ProjOut nn.Layer // 1×1
}

// NewAttnBlock makes an attention block over ch channels.
func NewAttnBlock(b *nn.Builder, ch int) *AttnBlock {
	return &AttnBlock{
		Norm: groupNorm(b, ch),
		Q:    conv(b, ch, ch, 1, 1, 0), K: conv(b, ch, ch, 1, 1, 0),
		V: conv(b, ch, ch, 1, 1, 0), ProjOut: conv(b, ch, ch, 1, 1, 0),
	}
}

// Params lists norm, q, k, v and proj_out.
func (a *AttnBlock) Params() []nn.Param {
	return nn.Children("norm", a.Norm, "q", a.Q, "k", a.K, "v", a.V, "proj_out", a.ProjOut)
}

// Forward applies the block to x [N, C, H, W].
func (a *AttnBlock) Forward(x *autograd.Var) *autograd.Var {
	return nn.Inference(x, func() *autograd.Var { return a.forward(x) })
}

func (a *AttnBlock) forward(x *autograd.Var) *autograd.Var {
	s := x.Shape()
	n, c, hw := s[0], s[1], s[2]*s[3]
	h := a.Norm.Forward(x)
	// [N, C, HW] needs no permute: the matmuls transpose on the fly.
	q := autograd.Reshape(a.Q.Forward(h), n, c, hw)
	k := autograd.Reshape(a.K.Forward(h), n, c, hw)
	v := autograd.Reshape(a.V.Forward(h), n, c, hw)
	scores := autograd.Matmul(q, k, true, false) // [N, HW_q, HW_k]
	scores = autograd.MulScalar(scores, float32(1/math.Sqrt(float64(c))))
	w := autograd.Softmax(scores, -1)
	o := autograd.Matmul(v, w, false, true) // [N, C, HW_q]
	return autograd.Add(x, a.ProjOut.Forward(autograd.Reshape(o, s...)))
}

func (a *AttnBlock) convs(prefix string, fn convVisitor) {
	fn(prefix+"q", &a.Q)
	fn(prefix+"k", &a.K)
	fn(prefix+"v", &a.V)
	fn(prefix+"proj_out", &a.ProjOut)
}

// Downsample is LDM's Downsample with a conv: pad right and bottom by one
// (PyTorch has no asymmetric conv padding), then a stride-2 3×3 conv.
type Downsample struct {
	Conv nn.Layer
}

// Params lists conv.
func (d *Downsample) Params() []nn.Param { return nn.Children("conv", d.Conv) }

// Forward halves x [N, C, H, W] to [N, C, ⌊H/2⌋, ⌊W/2⌋].
func (d *Downsample) Forward(x *autograd.Var) *autograd.Var {
	return d.Conv.Forward(padRightBottom(x))
}

// padRightBottom appends a zero column and a zero row to x [N, C, H, W].
func padRightBottom(x *autograd.Var) *autograd.Var {
	s := x.Shape()
	tp := x.Tape()
	e := tp.Engine()
	x = autograd.Concat(3, x, tp.Const(e.Zeros(s[0], s[1], s[2], 1)))
	return autograd.Concat(2, x, tp.Const(e.Zeros(s[0], s[1], 1, s[3]+1)))
}

// Upsample is LDM's Upsample with a conv: nearest-neighbour 2×, then a
// 3×3 conv.
type Upsample struct {
	Conv nn.Layer
}

// Params lists conv.
func (u *Upsample) Params() []nn.Param { return nn.Children("conv", u.Conv) }

// Forward doubles x [N, C, H, W] to [N, C, 2H, 2W].
func (u *Upsample) Forward(x *autograd.Var) *autograd.Var {
	s := x.Shape()
	return u.Conv.Forward(autograd.UpsampleNearest(x, 2*s[2], 2*s[3]))
}

// Level is one resolution of the encoder ("down.i") or decoder ("up.i"):
// ResnetBlocks, each followed by an AttnBlock when the level attends, and
// the resampling to the next level (nil at the end).
type Level struct {
	Block      []*ResnetBlock
	Attn       []*AttnBlock // empty, or one per block
	Downsample *Downsample  // encoder levels but the last
	Upsample   *Upsample    // decoder levels but level 0
}

// Params lists block.j, attn.j and downsample or upsample.
func (l *Level) Params() []nn.Param {
	var ps []nn.Param
	for j, b := range l.Block {
		ps = append(ps, nn.Prefixed("block."+strconv.Itoa(j), b.Params())...)
	}
	for j, a := range l.Attn {
		ps = append(ps, nn.Prefixed("attn."+strconv.Itoa(j), a.Params())...)
	}
	return append(ps, nn.Children("downsample", l.Downsample, "upsample", l.Upsample)...)
}

// Forward applies the blocks (and attention) then the resampling.
func (l *Level) Forward(x *autograd.Var) *autograd.Var {
	for j, b := range l.Block {
		x = b.Forward(x)
		if len(l.Attn) > 0 {
			x = l.Attn[j].Forward(x)
		}
	}
	if l.Downsample != nil {
		x = l.Downsample.Forward(x)
	}
	if l.Upsample != nil {
		x = l.Upsample.Forward(x)
	}
	return x
}

func (l *Level) convs(prefix string, fn convVisitor) {
	for j, b := range l.Block {
		b.convs(prefix+"block."+strconv.Itoa(j)+".", fn)
	}
	for j, a := range l.Attn {
		a.convs(prefix+"attn."+strconv.Itoa(j)+".", fn)
	}
	if l.Downsample != nil {
		fn(prefix+"downsample.conv", &l.Downsample.Conv)
	}
	if l.Upsample != nil {
		fn(prefix+"upsample.conv", &l.Upsample.Conv)
	}
}

// Mid is the middle of the encoder or decoder: block_1, attn_1 (nil
// without MidAttn), block_2.
type Mid struct {
	Block1 *ResnetBlock
	Attn1  *AttnBlock
	Block2 *ResnetBlock
}

func newMid(b *nn.Builder, ch int, attn bool) *Mid {
	m := &Mid{Block1: NewResnetBlock(b, ch, ch)}
	if attn {
		m.Attn1 = NewAttnBlock(b, ch)
	}
	m.Block2 = NewResnetBlock(b, ch, ch)
	return m
}

// Params lists block_1, attn_1 and block_2.
func (m *Mid) Params() []nn.Param {
	return nn.Children("block_1", m.Block1, "attn_1", m.Attn1, "block_2", m.Block2)
}

// Forward applies the three blocks.
func (m *Mid) Forward(x *autograd.Var) *autograd.Var {
	x = m.Block1.Forward(x)
	if m.Attn1 != nil {
		x = m.Attn1.Forward(x)
	}
	return m.Block2.Forward(x)
}

func (m *Mid) convs(prefix string, fn convVisitor) {
	m.Block1.convs(prefix+"block_1.", fn)
	if m.Attn1 != nil {
		m.Attn1.convs(prefix+"attn_1.", fn)
	}
	m.Block2.convs(prefix+"block_2.", fn)
}
