package quant

import (
	"fmt"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/tensor"
)

// Attention is CODA's assignment module: q = Norm_q(W_q r + b_q),
// k = Norm_k(W_k Cb + b_k), v = W_v Cb + b_v (release names to_q, to_k,
// to_v, norm_q, norm_k).
type Attention struct {
	ToQ, ToK, ToV *nn.Linear
	// NormQ and NormK are *nn.RMSNorm, *nn.LayerNorm or nil (no norm).
	NormQ, NormK nn.Layer
}

// Params lists to_q, to_k, to_v, norm_q, norm_k in the release's order.
func (a *Attention) Params() []nn.Param {
	return nn.Children("to_q", a.ToQ, "to_k", a.ToK, "to_v", a.ToV, "norm_q", a.NormQ, "norm_k", a.NormK)
}

// Quantizer is a (multi-scale residual) quantizer with one codebook and,
// for attention assignment, one attention module shared by all levels.
type Quantizer struct {
	cfg Config
	// Codebook is Cb [V, C] ("codebooks.weight"), initialised N(0, 1) like
	// the release's nn.Embedding.
	Codebook *nn.Embedding
	// Attn is nil for nearest-neighbour assignment.
	Attn *Attention
}

// New builds a quantizer with PyTorch's default initialisations (the
// release's): N(0, 1) codebook, Linear's uniform ±1/√fan_in weights and
// biases, unit norm gains (and zero LayerNorm biases). Parameters are drawn
// in the order codebook, to_q, to_k, to_v. It rejects invalid configs.
func New(b *nn.Builder, cfg Config) (*Quantizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Scales = append([]int(nil), cfg.Scales...)
	q := &Quantizer{cfg: cfg, Codebook: nn.NewEmbedding(b, cfg.Codes, cfg.Channels)}
	if cfg.Assign == AssignAttn {
		a := &Attention{
			ToQ: nn.NewLinear(b, cfg.Channels, cfg.Dim, true),
			ToK: nn.NewLinear(b, cfg.Channels, cfg.Dim, true),
			ToV: nn.NewLinear(b, cfg.Channels, cfg.Channels, true),
		}
		switch cfg.normKind() {
		case NormRMS:
			a.NormQ, a.NormK = nn.NewRMSNorm(b, cfg.Dim, NormEps), nn.NewRMSNorm(b, cfg.Dim, NormEps)
		case NormLayer:
			a.NormQ, a.NormK = nn.NewLayerNorm(b, cfg.Dim, NormEps), nn.NewLayerNorm(b, cfg.Dim, NormEps)
		}
		q.Attn = a
	}
	nn.Named(q)
	return q, nil
}

// Config returns the quantizer's configuration.
func (q *Quantizer) Config() Config {
	c := q.cfg
	c.Scales = append([]int(nil), c.Scales...)
	return c
}

// Levels is the number of residual levels K.
func (q *Quantizer) Levels() int {
	if q.cfg.Kind == KindVQ {
		return 1
	}
	return len(q.cfg.Scales)
}

// Params lists codebooks.weight and, for attention, attn.* (release names).
func (q *Quantizer) Params() []nn.Param {
	return nn.Children("codebooks", q.Codebook, "attn", q.Attn)
}

// CodeVectors returns the vectors that token ids stand for, [V, C]: the
// value projection v = W_v Cb + b_v for attention, the codebook Cb itself
// for nearest neighbour. Decoding needs only these; compute them once
// (under NoGrad) to decode many batches with DecodeVectors.
func (q *Quantizer) CodeVectors() *autograd.Var {
	if q.Attn == nil {
		return q.Codebook.Weight
	}
	return q.Attn.ToV.Forward(q.Codebook.Weight)
}

// keys returns k = Norm_k(W_k Cb + b_k) [V, d].
func (q *Quantizer) keys() *autograd.Var {
	k := q.Attn.ToK.Forward(q.Codebook.Weight)
	if q.Attn.NormK != nil {
		k = q.Attn.NormK.Forward(k)
	}
	return k
}

// queries returns q = Norm_q(W_q r + b_q) [N, d] for tokens r [N, C].
func (q *Quantizer) queries(r *autograd.Var) *autograd.Var {
	x := q.Attn.ToQ.Forward(r)
	if q.Attn.NormQ != nil {
		x = q.Attn.NormQ.Forward(x)
	}
	return x
}

// Output is the result of a forward pass.
type Output struct {
	// Zq is ẑ, z's shape [B, C, H, W].
	Zq *autograd.Var
	// Ids holds each level's token ids, int32 [B, p, p] (level order,
	// coarse to fine; [B, H, W] for KindVQ).
	Ids []*tensor.Tensor
	// Loss is L_vq, the mean of the levels' quantization losses (a scalar).
	Loss *autograd.Var
	// Entropy is L_ent, the mean of the levels' entropy losses (a scalar),
	// or nil when the entropy loss is off.
	Entropy *autograd.Var
	// QuantErr is mean((ẑ − z)²) over all elements, a scalar without
	// gradient (coda-method.md §6's quantization error).
	QuantErr *tensor.Tensor

	// release frees what the assignment keeps beside the tape.
	release []func()
}

// Release frees the ids, QuantErr and the assignment statistics kept for
// the backward pass. Call it after Backward (or when no backward pass will
// run); the Vars' values belong to the engine's scope.
func (o *Output) Release() {
	for _, t := range o.Ids {
		t.Release()
	}
	if o.QuantErr != nil {
		o.QuantErr.Release()
	}
	for _, f := range o.release {
		f()
	}
	o.release = nil
}

// geometry checks z [B, C, H, W] against the config and returns the
// levels' side lengths (rows, columns) and the latent's size.
func (q *Quantizer) geometry(shape []int) (scales []int, h, w int, err error) {
	if len(shape) != 4 {
		return nil, 0, 0, fmt.Errorf("quant: want a latent [B, C, H, W], got shape %v", shape)
	}
	b, c, h, w := shape[0], shape[1], shape[2], shape[3]
	switch {
	case b < 1:
		return nil, 0, 0, fmt.Errorf("quant: empty batch in latent shape %v", shape)
	case c != q.cfg.Channels:
		return nil, 0, 0, fmt.Errorf("quant: latent has %d channels, the quantizer %d", c, q.cfg.Channels)
	case h < 1 || w < 1:
		return nil, 0, 0, fmt.Errorf("quant: empty latent plane in shape %v", shape)
	}
	if q.cfg.Kind == KindVQ && len(q.cfg.Scales) == 0 {
		return nil, h, w, nil
	}
	last := q.cfg.Scales[len(q.cfg.Scales)-1]
	if h != last || w != last {
		return nil, 0, 0, fmt.Errorf("quant: latent is %d×%d, the scales %v need %d×%d", h, w, q.cfg.Scales, last, last)
	}
	return q.cfg.Scales, h, w, nil
}

// Forward quantizes z [B, C, H, W] (coda-method.md §2): per level p,
// r = area_downsample(f_res, p×p), assign r's tokens, h = bicubic_up(zq),
// f_hat += h, f_res −= h (f_res is not detached). A KindVQ quantizer
// assigns z itself.
func (q *Quantizer) Forward(z *autograd.Var) (*Output, error) {
	if err := z.Value.Err(); err != nil {
		return nil, fmt.Errorf("quant: the latent failed: %w", err)
	}
	if z.Value.DType() != tensor.Float32 {
		return nil, fmt.Errorf("quant: the latent must be float32, got %s", z.Value.DType())
	}
	scales, h, w, err := q.geometry(z.Shape())
	if err != nil {
		return nil, err
	}
	bsz, c := z.Shape()[0], q.cfg.Channels
	levels := len(scales)
	if levels == 0 {
		levels = 1 // KindVQ at the latent's own size
	}
	out := &Output{}
	a := q.newAssigner(z.Tape())
	out.release = append(out.release, a.release)

	fRes := z // not detached: later levels' gradients reach z and earlier codes
	var fHat, loss, ent *autograd.Var
	for i := 0; i < levels; i++ {
		ph, pw := h, w
		if len(scales) > 0 {
			ph, pw = scales[i], scales[i]
		}
		r := fRes
		if ph != h || pw != w {
			r = autograd.AreaDownsample(fRes, ph, pw)
		}
		n := bsz * ph * pw
		tokens := autograd.Reshape(autograd.Permute(r, 0, 2, 3, 1), n, c)
		lv := a.assign(tokens)
		// A view: the VJPs may still read lv.idx, which the assigner frees.
		out.Ids = append(out.Ids, lv.idx.Reshape(bsz, ph, pw))
		loss = addOpt(loss, lv.loss)
		ent = addOpt(ent, lv.entropy)

		hv := autograd.Permute(autograd.Reshape(lv.zq, bsz, ph, pw, c), 0, 3, 1, 2)
		if ph != h || pw != w {
			hv = autograd.UpsampleBicubic(hv, h, w)
		}
		if fHat == nil {
			fHat = hv
		} else {
			fHat = autograd.Add(fHat, hv)
		}
		if i+1 < levels {
			fRes = autograd.Sub(fRes, hv)
		}
	}
	a.done()
	out.Zq = fHat
	out.Loss = autograd.MulScalar(loss, 1/float32(levels))
	if ent != nil {
		out.Entropy = autograd.MulScalar(ent, 1/float32(levels))
	}
	d := tensor.Sub(fHat.Value, z.Value)
	sq := tensor.Square(d)
	out.QuantErr = tensor.MeanAll(sq)
	d.Release()
	sq.Release()
	for _, v := range []*autograd.Var{out.Zq, out.Loss, out.Entropy} {
		if v == nil {
			continue
		}
		if err := v.Value.Err(); err != nil {
			out.Release()
			return nil, fmt.Errorf("quant: forward: %w", err)
		}
	}
	return out, nil
}

// addOpt returns a + b, where a nil a (or b) counts as absent.
func addOpt(a, b *autograd.Var) *autograd.Var {
	switch {
	case b == nil:
		return a
	case a == nil:
		return b
	}
	return autograd.Add(a, b)
}

// Decode rebuilds ẑ [B, C, H, W] from the first levels levels of ids (as
// Forward returns them): the coarse-to-fine sum of the bicubic-upsampled
// code vectors. With every level it reproduces Forward's ẑ.
func (q *Quantizer) Decode(ids []*tensor.Tensor, levels int) (*autograd.Var, error) {
	if err := q.checkIds(ids, levels); err != nil {
		return nil, err
	}
	return q.DecodeVectors(q.CodeVectors(), ids, levels)
}

// DecodeVectors is Decode with precomputed CodeVectors vecs [V, C].
func (q *Quantizer) DecodeVectors(vecs *autograd.Var, ids []*tensor.Tensor, levels int) (*autograd.Var, error) {
	if err := q.checkIds(ids, levels); err != nil {
		return nil, err
	}
	if s := vecs.Shape(); len(s) != 2 || s[0] != q.cfg.Codes || s[1] != q.cfg.Channels {
		return nil, fmt.Errorf("quant: code vectors must be [%d, %d], got %v", q.cfg.Codes, q.cfg.Channels, s)
	}
	s0 := ids[0].Shape()
	bsz, h, w := s0[0], s0[1], s0[2]
	if len(q.cfg.Scales) > 0 {
		h = q.cfg.Scales[len(q.cfg.Scales)-1]
		w = h
	}
	c := q.cfg.Channels
	var zq *autograd.Var
	for i := 0; i < levels; i++ {
		s := ids[i].Shape()
		rows := autograd.Gather(vecs, 0, ids[i].Reshape(-1))
		hv := autograd.Permute(autograd.Reshape(rows, bsz, s[1], s[2], c), 0, 3, 1, 2)
		if s[1] != h || s[2] != w {
			hv = autograd.UpsampleBicubic(hv, h, w)
		}
		if zq == nil {
			zq = hv
		} else {
			zq = autograd.Add(zq, hv)
		}
	}
	if err := zq.Value.Err(); err != nil {
		return nil, fmt.Errorf("quant: decode: %w", err)
	}
	return zq, nil
}

// checkIds validates ids for decoding their first levels levels.
func (q *Quantizer) checkIds(ids []*tensor.Tensor, levels int) error {
	k := q.Levels()
	if levels < 1 || levels > k {
		return fmt.Errorf("quant: decode levels must be in [1, %d], got %d", k, levels)
	}
	if len(ids) < levels {
		return fmt.Errorf("quant: decoding %d levels needs %d id tensors, got %d", levels, levels, len(ids))
	}
	bsz := -1
	for i := 0; i < levels; i++ {
		t := ids[i]
		if t == nil {
			return fmt.Errorf("quant: level %d ids are nil", i)
		}
		if err := t.Err(); err != nil {
			return fmt.Errorf("quant: level %d ids failed: %w", i, err)
		}
		s := t.Shape()
		if t.DType() != tensor.Int32 || len(s) != 3 {
			return fmt.Errorf("quant: level %d ids must be int32 [B, p, p], got %s %v", i, t.DType(), s)
		}
		if bsz < 0 {
			bsz = s[0]
		}
		if s[0] != bsz || s[0] < 1 {
			return fmt.Errorf("quant: level %d ids have batch %d, level 0 %d", i, s[0], bsz)
		}
		if len(q.cfg.Scales) > 0 && (s[1] != q.cfg.Scales[i] || s[2] != q.cfg.Scales[i]) {
			return fmt.Errorf("quant: level %d ids must be %d×%d, got %d×%d", i, q.cfg.Scales[i], q.cfg.Scales[i], s[1], s[2])
		}
		if s[1] < 1 || s[2] < 1 {
			return fmt.Errorf("quant: level %d ids are empty: %v", i, s)
		}
	}
	return nil
}
