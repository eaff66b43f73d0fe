package autograd

import (
	"fmt"

	"github.com/tessera-ml/tessera/tensor"
)

// Tape is the autograd state shared by the Vars of one engine.
type Tape struct {
	eng    *tensor.Engine
	noGrad int
}

// NewTape returns a tape recording ops on e.
func NewTape(e *tensor.Engine) *Tape { return &Tape{eng: e} }

// Engine is the tape's tensor engine.
func (tp *Tape) Engine() *tensor.Engine { return tp.eng }

// Recording reports whether ops record nodes for Backward.
func (tp *Tape) Recording() bool { return tp.noGrad == 0 }

// NoGrad runs fn with recording off: ops compute values only.
func (tp *Tape) NoGrad(fn func()) {
	tp.noGrad++
	defer func() { tp.noGrad-- }()
	fn()
}

// Var is a value in the graph.
type Var struct {
	Value *tensor.Tensor
	// Grad is d(loss)/d(Value) after Backward, for Vars that require it.
	Grad     *tensor.Tensor
	tape     *Tape
	requires bool
	leaf     bool
	fn       *node
	name     string
}

// node is one recorded op: its inputs and its VJP.
type node struct {
	op     string
	inputs []*Var
	// vjp maps the output's gradient to one gradient per input (nil where
	// the input needs none).
	vjp func(g *tensor.Tensor) []*tensor.Tensor
	// saved are tensors made for the VJP alone, released after it runs.
	saved []*tensor.Tensor
}

// Param returns a leaf that requires a gradient. Its value persists beyond
// scopes; its owner releases it.
func (tp *Tape) Param(t *tensor.Tensor, name string) *Var {
	return &Var{Value: t.Persist(), tape: tp, requires: true, leaf: true, name: name}
}

// Const returns a leaf that needs no gradient (an input batch, a target).
func (tp *Tape) Const(t *tensor.Tensor) *Var {
	return &Var{Value: t, tape: tp, leaf: true}
}

// Name is the name given to a parameter ("" for other Vars).
func (v *Var) Name() string { return v.name }

// SetName renames a parameter (modules give their parameters their full
// dotted path once the model is assembled).
func (v *Var) SetName(name string) { v.name = name }

// Tape is the tape v belongs to.
func (v *Var) Tape() *Tape { return v.tape }

// RequiresGrad reports whether Backward computes a gradient for v.
func (v *Var) RequiresGrad() bool { return v.requires }

// SetRequiresGrad turns gradient tracking of a leaf on or off (freezing).
func (v *Var) SetRequiresGrad(on bool) {
	if !v.leaf {
		panic("autograd: SetRequiresGrad on a non-leaf Var")
	}
	v.requires = on
}

// Shape is the value's shape.
func (v *Var) Shape() []int { return v.Value.Shape() }

// Detach returns a Var with the same value and no history.
func (v *Var) Detach() *Var { return &Var{Value: v.Value, tape: v.tape, leaf: true} }

// ZeroGrad releases v's gradient.
func (v *Var) ZeroGrad() {
	if v.Grad != nil {
		v.Grad.Release()
		v.Grad = nil
	}
}

// Release frees a parameter's value and gradient.
func (v *Var) Release() {
	v.ZeroGrad()
	v.Value.Release()
}

func (v *Var) String() string {
	if v.name != "" {
		return fmt.Sprintf("Var(%s %v)", v.name, v.Value.Shape())
	}
	return fmt.Sprintf("Var(%v)", v.Value.Shape())
}

// record makes the output Var of an op. When recording and any input needs
// a gradient, the node is kept; vjp is called lazily, so ops may build it
// from closures over their inputs and outputs.
func record(op string, value *tensor.Tensor, inputs []*Var, vjp func(g *tensor.Tensor) []*tensor.Tensor, saved ...*tensor.Tensor) *Var {
	tp := inputs[0].tape
	for _, in := range inputs[1:] {
		if in.tape != tp {
			panic(fmt.Sprintf("autograd.%s: inputs from two tapes", op))
		}
	}
	out := &Var{Value: value, tape: tp}
	if !tp.Recording() {
		releaseAll(saved)
		return out
	}
	for _, in := range inputs {
		if in.requires {
			out.requires = true
			break
		}
	}
	if !out.requires {
		releaseAll(saved)
		return out
	}
	out.fn = &node{op: op, inputs: inputs, vjp: vjp, saved: saved}
	return out
}

func releaseAll(ts []*tensor.Tensor) {
	for _, t := range ts {
		t.Release()
	}
}
