// Package lora adapts convolutions with low-rank adapters (LoRA), as CODA
// does to its pretrained VAE (coda-method.md §3): every adapted conv
// computes y = W∗x + b + up(down(x)), with the base W, b frozen and only
// the rank-r down and up convs trained.
package lora

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/models/vae"
	"github.com/tessera-ml/tessera/tensor"
)

// Conv is y = W∗x + b + Scale·up(down(x)): a frozen base conv plus a
// rank-r adapter.
//
// down is a Conv2d c_in → r with the base's kernel size, stride, padding
// and dilation and no bias, so its output has the base output's spatial
// shape; up is a 1×1 Conv2d r → c_out without bias. down is initialised
// N(0, std²) with std = 1/r, not 1/√r: the spec writes "N(0, 1/r)", and the
// CODA release code it transcribes is nn.init.normal_(down.weight,
// std=1/r), so we follow the code (checkpoints trained with it start from
// that scale). up starts at zero, so a fresh adapter leaves the base's
// output unchanged.
//
// Parameter names follow the CODA release's state dict: the base keeps
// "weight" and "bias", the adapter adds "lora_layer.down.weight" and
// "lora_layer.up.weight".
type Conv struct {
	Base     *nn.Conv2d
	Down, Up *nn.Conv2d
	Rank     int
	// Scale multiplies the adapter's output; CODA uses 1.
	Scale float32
	// merged is set by Merge: the adapter lives in Base.Weight and Forward
	// skips it.
	merged bool
}

// Wrap freezes base and attaches a fresh rank-rank adapter to it; it
// panics on a rank below 1, as the nn constructors do on bad sizes.
func Wrap(b *nn.Builder, base *nn.Conv2d, rank int) *Conv {
	if rank < 1 {
		panic(fmt.Sprintf("lora.Wrap: rank must be positive, got %d", rank))
	}
	ws := base.Weight.Shape()
	cout, cin, kh, kw := ws[0], ws[1], ws[2], ws[3]
	nn.Freeze(base, true)
	return &Conv{
		Base: base,
		Down: &nn.Conv2d{
			Weight: b.Normal("weight", 0, 1/float64(rank), rank, cin, kh, kw),
			Conv:   base.Conv,
		},
		Up: &nn.Conv2d{
			Weight: b.Full("weight", 0, cout, rank, 1, 1),
			Conv:   tensor.ConvParams{StrideH: 1, StrideW: 1, DilH: 1, DilW: 1},
		},
		Rank:  rank,
		Scale: 1,
	}
}

// Params lists "weight", "bias" (the base's) and
// "lora_layer.down.weight", "lora_layer.up.weight".
func (c *Conv) Params() []nn.Param {
	return append(c.Base.Params(), nn.Children("lora_layer.down", c.Down, "lora_layer.up", c.Up)...)
}

// Merged reports whether Merge has folded the adapter into the base.
func (c *Conv) Merged() bool { return c.merged }

// Forward convolves x [N, c_in, H, W].
func (c *Conv) Forward(x *autograd.Var) *autograd.Var {
	y := c.Base.Forward(x)
	if c.merged {
		return y
	}
	a := c.Up.Forward(c.Down.Forward(x))
	if c.Scale != 1 {
		a = autograd.MulScalar(a, c.Scale)
	}
	return autograd.Add(y, a)
}

// Merge folds the adapter into the base kernel,
// W'[o,i,ky,kx] = W[o,i,ky,kx] + Scale·Σ_r up[o,r]·down[r,i,ky,kx], which
// is exact for any stride, padding and dilation because up is 1×1: the
// composite up∘down is one conv with down's geometry. Afterwards Forward
// runs the base alone and up is zeroed, so the saved parameters (base,
// down, zero up) still describe the merged function. Merging twice does
// nothing. Gradients flowing through
// the merged kernel do not reach the (frozen) base.
func (c *Conv) Merge() error {
	if c.merged {
		return nil
	}
	ws := c.Base.Weight.Shape()
	cout, r := ws[0], c.Rank
	up := c.Up.Weight.Value.Reshape(cout, r)
	down := c.Down.Weight.Value.Reshape(r, -1)
	delta := tensor.Matmul(up, down, false, false) // [cout, cin·kh·kw]
	up.Release()
	down.Release()
	if c.Scale != 1 {
		d := tensor.MulScalar(delta, c.Scale)
		delta.Release()
		delta = d
	}
	w := c.Base.Weight.Value.Reshape(cout, -1)
	err := tensor.AddInPlace(w, delta)
	w.Release()
	delta.Release()
	if err != nil {
		return fmt.Errorf("lora.Merge: %w", err)
	}
	zero := c.Up.Weight.Value.Engine().Zeros(c.Up.Weight.Shape()...)
	err = tensor.Copy(c.Up.Weight.Value, zero)
	zero.Release()
	if err != nil {
		return fmt.Errorf("lora.Merge: %w", err)
	}
	c.merged = true
	return nil
}

// InjectOptions choose which convolutions of a VAE Inject adapts.
type InjectOptions struct {
	// Rank is the adapters' rank r (CODA: 32).
	Rank int
	// Encoder and Decoder select the halves of the VAE to adapt.
	Encoder, Decoder bool
	// Resample also adapts the downsample and upsample convs (CODA does
	// for the MAR VAE).
	Resample bool
	// Patterns match conv names: a pattern matches when it equals a run of
	// whole dot-separated components of the name ("conv1" matches
	// "decoder.up.1.block.0.conv1" but not a hypothetical "conv10").
	// Empty means {"conv1", "conv2"}; Resample adds "downsample" and
	// "upsample".
	Patterns []string
}

// patterns is the effective pattern list.
func (o InjectOptions) patterns() []string {
	ps := o.Patterns
	if len(ps) == 0 {
		ps = []string{"conv1", "conv2"}
	}
	if o.Resample {
		ps = append(append([]string{}, ps...), "downsample", "upsample")
	}
	return ps
}

// Matches reports whether a conv named name (as vae.VAE.Convs names it)
// is one o adapts.
func (o InjectOptions) Matches(name string) bool {
	switch {
	case strings.HasPrefix(name, "encoder."):
		if !o.Encoder {
			return false
		}
	case strings.HasPrefix(name, "decoder."):
		if !o.Decoder {
			return false
		}
	default:
		// quant_conv and post_quant_conv belong to neither half and stay
		// frozen in CODA.
		return false
	}
	dotted := "." + name + "."
	for _, p := range o.patterns() {
		if p != "" && strings.Contains(dotted, "."+p+".") {
			return true
		}
	}
	return false
}

// Inject wraps every conv of m that o matches in a rank-o.Rank adapter
// (built with b, drawn in Convs order: encoder first) and returns the
// wrapped convs' names in that order. It then freezes every parameter of m
// except the adapters (Unfreeze), so nn.Trainable(m) is exactly the LoRA
// parameters, and gives all parameters their full dotted names. It fails,
// changing nothing, on a rank below 1, on options that select no half of
// the VAE, when a matching layer is not a plain *nn.Conv2d (already
// wrapped, say), or when nothing matches.
func Inject(b *nn.Builder, m *vae.VAE, o InjectOptions) ([]string, error) {
	if o.Rank < 1 {
		return nil, fmt.Errorf("lora.Inject: rank must be positive, got %d", o.Rank)
	}
	if !o.Encoder && !o.Decoder {
		return nil, errors.New("lora.Inject: neither Encoder nor Decoder selected")
	}
	// Check every match first so that a failure leaves m as it was.
	var names []string
	var bad error
	m.Convs(func(name string, slot *nn.Layer) {
		if !o.Matches(name) {
			return
		}
		if _, ok := (*slot).(*nn.Conv2d); !ok && bad == nil {
			bad = fmt.Errorf("lora.Inject: %s is a %T, not an *nn.Conv2d", name, *slot)
		}
		names = append(names, name)
	})
	if bad != nil {
		return nil, bad
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("lora.Inject: no conv matches %q", o.patterns())
	}
	m.Convs(func(name string, slot *nn.Layer) {
		if o.Matches(name) {
			*slot = Wrap(b, (*slot).(*nn.Conv2d), o.Rank)
		}
	})
	Unfreeze(m)
	nn.Named(m)
	return names, nil
}

// IsAdapter reports whether a parameter name belongs to a LoRA adapter.
func IsAdapter(name string) bool {
	return strings.Contains("."+name, ".lora_layer.")
}

// Unfreeze freezes every parameter of m except the LoRA adapters', which it
// makes trainable: what Inject leaves behind, and what to call again after
// an nn.Freeze(m, …) that touched the adapters.
func Unfreeze(m nn.Module) {
	for _, p := range m.Params() {
		p.Var.SetRequiresGrad(IsAdapter(p.Name))
	}
}

// Adapters lists m's LoRA parameters with their dotted names (what a LoRA
// checkpoint needs to store).
func Adapters(m nn.Module) []nn.Param {
	var out []nn.Param
	for _, p := range m.Params() {
		if IsAdapter(p.Name) {
			out = append(out, p)
		}
	}
	return out
}
