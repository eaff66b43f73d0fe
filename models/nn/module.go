package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// Param is a named parameter (or a named buffer, which needs no gradient).
type Param struct {
	Name string
	Var  *autograd.Var
}

// Module is anything with parameters.
type Module interface {
	// Params lists the parameters with dotted names relative to the module.
	Params() []Param
}

// Layer is a module with a single-input forward pass.
type Layer interface {
	Module
	Forward(x *autograd.Var) *autograd.Var
}

// Trainer is implemented by modules whose forward pass differs between
// training and evaluation (dropout) or that contain such modules.
type Trainer interface {
	SetTraining(on bool)
}

// SetTraining switches m (and, through it, its children) between train and
// eval mode. Modules without a mode ignore it.
func SetTraining(m Module, on bool) {
	if t, ok := m.(Trainer); ok {
		t.SetTraining(on)
	}
}

// Prefixed returns ps with prefix and a dot before every name.
func Prefixed(prefix string, ps []Param) []Param {
	out := make([]Param, len(ps))
	for i, p := range ps {
		out[i] = Param{Name: prefix + "." + p.Name, Var: p.Var}
	}
	return out
}

// Children concatenates the parameters of named children, given as
// alternating names and modules; nil modules are skipped.
func Children(kv ...any) []Param {
	var out []Param
	for i := 0; i+1 < len(kv); i += 2 {
		name := kv[i].(string)
		m, _ := kv[i+1].(Module)
		if m == nil || isNil(m) {
			continue
		}
		out = append(out, Prefixed(name, m.Params())...)
	}
	return out
}

// isNil reports whether m is nil or a typed nil pointer (an optional
// child that is absent).
func isNil(m Module) bool {
	v := reflect.ValueOf(m)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// ParamCount returns the number of scalars in m's parameters, and how many
// of them are trainable.
func ParamCount(m Module) (total, trainable int) {
	for _, p := range m.Params() {
		n := p.Var.Value.Numel()
		total += n
		if p.Var.RequiresGrad() {
			trainable += n
		}
	}
	return total, trainable
}

// Freeze turns gradients off (or back on) for every parameter of m.
func Freeze(m Module, frozen bool) {
	for _, p := range m.Params() {
		p.Var.SetRequiresGrad(!frozen)
	}
}

// Named gives every parameter of m its full dotted name (layers name
// their parameters "weight", "bias" until the model they sit in is known);
// optimisers and checkpoints key their state by these names.
func Named(m Module) Module {
	for _, p := range m.Params() {
		p.Var.SetName(p.Name)
	}
	return m
}

// Trainable returns the parameters of m that require gradients, named by
// their dotted paths: what an optimiser should get.
func Trainable(m Module) []*autograd.Var {
	var out []*autograd.Var
	for _, p := range Named(m).Params() {
		if p.Var.RequiresGrad() {
			out = append(out, p.Var)
		}
	}
	return out
}

// Release frees every parameter of m.
func Release(m Module) {
	for _, p := range m.Params() {
		p.Var.Release()
	}
}

// Builder creates parameters: it knows the tape and draws initialisation
// seeds from one seeded generator, so a model built twice with the same
// seed is the same model.
type Builder struct {
	Tape *autograd.Tape
	rng  *rand.Rand
}

// NewBuilder returns a builder on tp seeded with seed.
func NewBuilder(tp *autograd.Tape, seed uint64) *Builder {
	return &Builder{Tape: tp, rng: rand.New(rand.NewPCG(seed, 0x7e55e7a))}
}

func (b *Builder) engine() *tensor.Engine { return b.Tape.Engine() }

// Uniform makes a parameter with values uniform in [-bound, bound).
func (b *Builder) Uniform(name string, bound float64, shape ...int) *autograd.Var {
	return b.Tape.Param(b.engine().Uniform(b.rng.Uint64(), float32(-bound), float32(bound), shape...), name)
}

// Normal makes a parameter with values N(mean, std²).
func (b *Builder) Normal(name string, mean, std float64, shape ...int) *autograd.Var {
	return b.Tape.Param(b.engine().Normal(b.rng.Uint64(), float32(mean), float32(std), shape...), name)
}

// Full makes a parameter filled with v.
func (b *Builder) Full(name string, v float32, shape ...int) *autograd.Var {
	return b.Tape.Param(b.engine().Full(v, shape...), name)
}

// Seed returns a fresh seed for layers that draw random numbers
// (dropout masks).
func (b *Builder) Seed() uint64 { return b.rng.Uint64() }

// kaimingBound is PyTorch's default bound for Linear and Conv weights and
// biases: kaiming_uniform_(a=√5) gives 1/√fan_in.
func kaimingBound(fanIn int) float64 {
	if fanIn <= 0 {
		return 0
	}
	return 1 / math.Sqrt(float64(fanIn))
}

func checkPositive(layer string, vals ...int) {
	for _, v := range vals {
		if v <= 0 {
			panic(fmt.Sprintf("nn.%s: sizes must be positive, got %v", layer, vals))
		}
	}
}

// Inference runs a block's forward pass fn in its own tensor scope when
// the tape records no gradients, keeping only the result: a forward pass
// without backward then holds one block's temporaries at a time instead of
// the whole network's. With gradients on it just calls fn (backward needs
// the temporaries).
func Inference(x *autograd.Var, fn func() *autograd.Var) *autograd.Var {
	tp := x.Tape()
	if tp.Recording() {
		return fn()
	}
	s := tp.Engine().Scope()
	out := fn()
	s.Keep(out.Value)
	s.Close()
	return out
}
