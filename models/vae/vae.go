package vae

import (
	"slices"
	"strconv"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/nn"
)

// Encoder maps images [N, InChannels, H, W] to the posterior's moments
// [N, 2·ZChannels (or ZChannels), H/f, W/f].
type Encoder struct {
	ConvIn  nn.Layer
	Down    []*Level
	Mid     *Mid
	NormOut *nn.GroupNorm
	ConvOut nn.Layer
}

func newEncoder(b *nn.Builder, c Config) *Encoder {
	enc := &Encoder{ConvIn: conv(b, c.InChannels, c.Ch, 3, 1, 1)}
	in := c.Ch
	res := c.levelRes()
	for i, m := range c.ChMult {
		out := c.Ch * m
		l := &Level{}
		attn := slices.Contains(c.AttnResolutions, res[i])
		for j := 0; j < c.NumResBlocks; j++ {
			l.Block = append(l.Block, NewResnetBlock(b, in, out))
			in = out
			if attn {
				l.Attn = append(l.Attn, NewAttnBlock(b, out))
			}
		}
		if i != len(c.ChMult)-1 {
			l.Downsample = &Downsample{Conv: conv(b, in, in, 3, 2, 0)}
		}
		enc.Down = append(enc.Down, l)
	}
	enc.Mid = newMid(b, in, c.MidAttn)
	enc.NormOut = groupNorm(b, in)
	z := c.ZChannels
	if c.DoubleZ {
		z *= 2
	}
	enc.ConvOut = conv(b, in, z, 3, 1, 1)
	return enc
}

// Params lists conv_in, down.i, mid, norm_out and conv_out.
func (e *Encoder) Params() []nn.Param {
	ps := nn.Children("conv_in", e.ConvIn)
	for i, l := range e.Down {
		ps = append(ps, nn.Prefixed("down."+strconv.Itoa(i), l.Params())...)
	}
	return append(ps, nn.Children("mid", e.Mid, "norm_out", e.NormOut, "conv_out", e.ConvOut)...)
}

// Forward encodes x.
func (e *Encoder) Forward(x *autograd.Var) *autograd.Var {
	h := e.ConvIn.Forward(x)
	for _, l := range e.Down {
		h = l.Forward(h)
	}
	h = e.Mid.Forward(h)
	return e.ConvOut.Forward(autograd.Silu(e.NormOut.Forward(h)))
}

func (e *Encoder) convs(prefix string, fn convVisitor) {
	fn(prefix+"conv_in", &e.ConvIn)
	for i, l := range e.Down {
		l.convs(prefix+"down."+strconv.Itoa(i)+".", fn)
	}
	e.Mid.convs(prefix+"mid.", fn)
	fn(prefix+"conv_out", &e.ConvOut)
}

// Decoder maps latents [N, ZChannels, h, w] to images
// [N, OutChannels, h·f, w·f].
type Decoder struct {
	ConvIn  nn.Layer
	Mid     *Mid
	Up      []*Level // Up[i] is level i; they run from the last to Up[0]
	NormOut *nn.GroupNorm
	ConvOut nn.Layer
}

func newDecoder(b *nn.Builder, c Config) *Decoder {
	levels := len(c.ChMult)
	in := c.Ch * c.ChMult[levels-1]
	dec := &Decoder{ConvIn: conv(b, c.ZChannels, in, 3, 1, 1)}
	dec.Mid = newMid(b, in, c.MidAttn)
	dec.Up = make([]*Level, levels)
	res := c.decoderLevelRes()
	// Built from the last level down, as LDM does, so that a seeded build
	// draws its weights in PyTorch's order.
	for i := levels - 1; i >= 0; i-- {
		out := c.Ch * c.ChMult[i]
		l := &Level{}
		attn := slices.Contains(c.DecoderAttnResolutions, res[i])
		for j := 0; j <= c.NumResBlocks; j++ {
			l.Block = append(l.Block, NewResnetBlock(b, in, out))
			in = out
			if attn {
				l.Attn = append(l.Attn, NewAttnBlock(b, out))
			}
		}
		if i != 0 {
			l.Upsample = &Upsample{Conv: conv(b, in, in, 3, 1, 1)}
		}
		dec.Up[i] = l
	}
	dec.NormOut = groupNorm(b, in)
	dec.ConvOut = conv(b, in, c.OutChannels, 3, 1, 1)
	return dec
}

// Params lists conv_in, mid, up.i, norm_out and conv_out.
func (d *Decoder) Params() []nn.Param {
	ps := nn.Children("conv_in", d.ConvIn, "mid", d.Mid)
	for i, l := range d.Up {
		ps = append(ps, nn.Prefixed("up."+strconv.Itoa(i), l.Params())...)
	}
	return append(ps, nn.Children("norm_out", d.NormOut, "conv_out", d.ConvOut)...)
}

// Forward decodes z.
func (d *Decoder) Forward(z *autograd.Var) *autograd.Var {
	return d.ConvOut.Forward(d.Features(z))
}

// Features is the decoder up to conv_out's input (Forward is
// ConvOut.Forward(Features(z))): the GAN's adaptive weight needs gradients
// at conv_out alone.
func (d *Decoder) Features(z *autograd.Var) *autograd.Var {
	h := d.Mid.Forward(d.ConvIn.Forward(z))
	for i := len(d.Up) - 1; i >= 0; i-- {
		h = d.Up[i].Forward(h)
	}
	return autograd.Silu(d.NormOut.Forward(h))
}

func (d *Decoder) convs(prefix string, fn convVisitor) {
	fn(prefix+"conv_in", &d.ConvIn)
	d.Mid.convs(prefix+"mid.", fn)
	for i, l := range d.Up {
		l.convs(prefix+"up."+strconv.Itoa(i)+".", fn)
	}
	fn(prefix+"conv_out", &d.ConvOut)
}

// VAE is the KL autoencoder: encoder, optional quant convs, decoder.
type VAE struct {
	Cfg           Config
	Encoder       *Encoder
	Decoder       *Decoder
	QuantConv     nn.Layer // 1×1 on the moments; nil without Cfg.QuantConv
	PostQuantConv nn.Layer // 1×1 on the latents; nil without Cfg.QuantConv
}

// New builds a VAE with PyTorch's default initialisation (weights for
// training from scratch, or to be overwritten by nn.Load). It panics on an
// invalid Config (see Config.Validate).
func New(b *nn.Builder, cfg Config) *VAE {
	if err := cfg.Validate(); err != nil {
		panic(err.Error())
	}
	cfg.ChMult = slices.Clone(cfg.ChMult)
	cfg.AttnResolutions = slices.Clone(cfg.AttnResolutions)
	cfg.DecoderAttnResolutions = slices.Clone(cfg.DecoderAttnResolutions)
	m := &VAE{Cfg: cfg, Encoder: newEncoder(b, cfg), Decoder: newDecoder(b, cfg)}
	if cfg.QuantConv {
		z2 := cfg.ZChannels
		if cfg.DoubleZ {
			z2 *= 2
		}
		m.QuantConv = conv(b, z2, z2, 1, 1, 0)
		m.PostQuantConv = conv(b, cfg.ZChannels, cfg.ZChannels, 1, 1, 0)
	}
	nn.Named(m)
	return m
}

// Params lists encoder.…, decoder.…, quant_conv.… and post_quant_conv.…,
// in PyTorch's state-dict order.
func (m *VAE) Params() []nn.Param {
	return nn.Children("encoder", m.Encoder, "decoder", m.Decoder,
		"quant_conv", m.QuantConv, "post_quant_conv", m.PostQuantConv)
}

// Convs calls fn with the full name ("decoder.up.1.block.0.conv2") and
// the field of every convolution, encoder first; fn may replace the layer
// (with a LoRA-adapted one, say). CODA adapts the convs whose names
// contain conv1, conv2, upsample or downsample.
func (m *VAE) Convs(fn func(name string, slot *nn.Layer)) {
	m.Encoder.convs("encoder.", fn)
	m.Decoder.convs("decoder.", fn)
	if m.QuantConv != nil {
		fn("quant_conv", &m.QuantConv)
	}
	if m.PostQuantConv != nil {
		fn("post_quant_conv", &m.PostQuantConv)
	}
}

// Encode maps images x [N, InChannels, H, W] (LDM works in [-1, 1]) to
// the posterior over latents [N, ZChannels, LatentSize(H), LatentSize(W)].
func (m *VAE) Encode(x *autograd.Var) *Posterior {
	h := m.Encoder.Forward(x)
	if m.QuantConv != nil {
		h = m.QuantConv.Forward(h)
	}
	return m.posterior(h)
}

// posterior splits the moments h [N, 2Z or Z, h, w] into the posterior.
func (m *VAE) posterior(h *autograd.Var) *Posterior {
	if !m.Cfg.DoubleZ {
		return &Posterior{mean: h}
	}
	z := m.Cfg.ZChannels
	mean := autograd.Slice(h, 1, 0, z)
	logvar := autograd.Slice(h, 1, z, 2*z)
	// LDM's DiagonalGaussianDistribution clamps the log-variance.
	logvar = autograd.MinScalar(autograd.MaxScalar(logvar, -30), 20)
	return &Posterior{mean: mean, logvar: logvar}
}

// Decode maps latents z [N, ZChannels, h, w] (unscaled: what the
// posterior samples) to images [N, OutChannels, h·Factor, w·Factor].
func (m *VAE) Decode(z *autograd.Var) *autograd.Var {
	if m.PostQuantConv != nil {
		z = m.PostQuantConv.Forward(z)
	}
	return m.Decoder.Forward(z)
}

// DecodeFeatures is Decode up to the decoder's conv_out input:
// Decode(z) = Decoder.ConvOut.Forward(DecodeFeatures(z)).
func (m *VAE) DecodeFeatures(z *autograd.Var) *autograd.Var {
	if m.PostQuantConv != nil {
		z = m.PostQuantConv.Forward(z)
	}
	return m.Decoder.Features(z)
}

// Scale normalises latents for a downstream model: Scale·(z − Shift).
func (m *VAE) Scale(z *autograd.Var) *autograd.Var {
	return autograd.Affine(z, m.Cfg.Scale, -m.Cfg.Scale*m.Cfg.Shift)
}

// Unscale inverts Scale: z_s/Scale + Shift.
func (m *VAE) Unscale(zs *autograd.Var) *autograd.Var {
	return autograd.Affine(zs, 1/m.Cfg.Scale, m.Cfg.Shift)
}

// EncodeScaled is Scale(Encode(x).Sample(seed)): the latents CODA
// quantizes (it samples the posterior in training and evaluation alike).
func (m *VAE) EncodeScaled(x *autograd.Var, seed uint64) *autograd.Var {
	return m.Scale(m.Encode(x).Sample(seed))
}

// DecodeScaled is Decode(Unscale(zs)).
func (m *VAE) DecodeScaled(zs *autograd.Var) *autograd.Var {
	return m.Decode(m.Unscale(zs))
}

// Posterior is the encoder's diagonal Gaussian over latents (LDM's
// DiagonalGaussianDistribution); with Config.DoubleZ off it is the point
// mass at the mean.
type Posterior struct {
	mean, logvar *autograd.Var
}

// Mean is μ [N, Z, h, w].
func (p *Posterior) Mean() *autograd.Var { return p.mean }

// LogVar is log σ², clamped to [-30, 20]; nil for a deterministic
// posterior.
func (p *Posterior) LogVar() *autograd.Var { return p.logvar }

// Mode is the most likely latent: the mean.
func (p *Posterior) Mode() *autograd.Var { return p.mean }

// Sample draws μ + σ·ε with ε ~ N(0, 1) from seed (the same seed gives the
// same ε); gradients reach μ and log σ² (reparameterisation). A
// deterministic posterior returns the mean.
func (p *Posterior) Sample(seed uint64) *autograd.Var {
	if p.logvar == nil {
		return p.mean
	}
	tp := p.mean.Tape()
	eps := tp.Const(tp.Engine().Normal(seed, 0, 1, p.mean.Shape()...))
	std := autograd.Exp(autograd.MulScalar(p.logvar, 0.5))
	return autograd.Add(p.mean, autograd.Mul(std, eps))
}

// KL is the KL divergence to N(0, 1) summed over a sample's elements and
// averaged over the batch: mean_n 0.5·Σ(μ² + σ² − 1 − log σ²), a scalar
// (shape []). It is a constant zero for a deterministic posterior.
func (p *Posterior) KL() *autograd.Var {
	tp := p.mean.Tape()
	if p.logvar == nil {
		return tp.Const(tp.Engine().Zeros())
	}
	t := autograd.Sub(autograd.Add(autograd.Square(p.mean), autograd.Exp(p.logvar)), autograd.AddScalar(p.logvar, 1))
	return autograd.MulScalar(autograd.SumAll(t), 0.5/float32(p.mean.Shape()[0]))
}

// DecodeSplit splits Decode at the decoder's final ResnetBlock (the last
// of level 0): head is that block's input and tail applies the block (and
// its attention, if any), norm_out, SiLU and conv_out, so
// Decode(z) = tail(head). The GAN's adaptive weight takes gradients at the
// last trainable decoder layer, inside that block, from tail applied to a
// detached head: the same gradients as the full graph at a fraction of
// its cost.
func (m *VAE) DecodeSplit(z *autograd.Var) (head *autograd.Var, tail func(*autograd.Var) *autograd.Var) {
	d := m.Decoder
	if m.PostQuantConv != nil {
		z = m.PostQuantConv.Forward(z)
	}
	h := d.Mid.Forward(d.ConvIn.Forward(z))
	for i := len(d.Up) - 1; i >= 1; i-- {
		h = d.Up[i].Forward(h)
	}
	l0 := d.Up[0]
	last := len(l0.Block) - 1
	for j := range last {
		h = l0.Block[j].Forward(h)
		if len(l0.Attn) > 0 {
			h = l0.Attn[j].Forward(h)
		}
	}
	return h, func(x *autograd.Var) *autograd.Var {
		x = l0.Block[last].Forward(x)
		if len(l0.Attn) > 0 {
			x = l0.Attn[last].Forward(x)
		}
		return d.ConvOut.Forward(autograd.Silu(d.NormOut.Forward(x)))
	}
}

// DecodeTailParams lists the parameters DecodeSplit's tail uses, in
// state-dict order: the final block's (and attention's), norm_out's and
// conv_out's.
func (m *VAE) DecodeTailParams() []nn.Param {
	d := m.Decoder
	l0 := d.Up[0]
	last := len(l0.Block) - 1
	ps := l0.Block[last].Params()
	if len(l0.Attn) > 0 {
		ps = append(ps, l0.Attn[last].Params()...)
	}
	return append(ps, nn.Children("norm_out", d.NormOut, "conv_out", d.ConvOut)...)
}
