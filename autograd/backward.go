package autograd

import (
	"fmt"

	"github.com/tessera-ml/tessera/tensor"
)

// Backward computes the gradient of loss (a one-element Var) with respect
// to every Var it depends on that requires one, accumulating into their
// Grad. The graph is consumed: nodes are freed as they are processed, so
// Backward runs once per forward pass.
func Backward(loss *Var) error {
	if loss.Value.Numel() != 1 {
		return fmt.Errorf("autograd: Backward needs a one-element loss, got shape %v", loss.Shape())
	}
	return BackwardWith(loss, loss.tape.eng.Full(1, loss.Shape()...))
}

// BackwardWith runs the backward pass from out with a given output
// gradient (same shape as out).
func BackwardWith(out *Var, grad *tensor.Tensor) error {
	if err := out.Value.Err(); err != nil {
		return fmt.Errorf("autograd: the forward pass failed: %w", err)
	}
	if !out.requires {
		return fmt.Errorf("autograd: Backward from a Var that does not depend on any parameter")
	}
	order := topoOrder(out)
	accumulate(out, grad)
	for i := len(order) - 1; i >= 0; i-- {
		v := order[i]
		n := v.fn
		g := v.Grad
		v.fn = nil
		if g == nil {
			releaseAll(n.saved)
			continue
		}
		grads := n.vjp(g)
		if len(grads) != len(n.inputs) {
			panic(fmt.Sprintf("autograd: %s returned %d gradients for %d inputs", n.op, len(grads), len(n.inputs)))
		}
		for j, in := range n.inputs {
			if grads[j] == nil || !in.requires {
				if grads[j] != nil {
					grads[j].Release()
				}
				continue
			}
			if !sameShape(grads[j].Shape(), in.Value.Shape()) && grads[j].Err() == nil {
				panic(fmt.Sprintf("autograd: %s produced a gradient of shape %v for an input of shape %v", n.op, grads[j].Shape(), in.Value.Shape()))
			}
			accumulate(in, grads[j])
			grads[j].Release()
		}
		releaseAll(n.saved)
		// An intermediate's gradient is dead once its node has run.
		v.Grad.Release()
		v.Grad = nil
	}
	return loss0Err(out)
}

func loss0Err(v *Var) error {
	return v.tape.eng.Err()
}

// accumulate adds g into v.Grad. Leaves own a persistent gradient updated
// in place; intermediates take a view of g (g's storage lives as long as
// any view does), or a fresh sum.
func accumulate(v *Var, g *tensor.Tensor) {
	switch {
	case v.leaf && v.Grad == nil:
		v.Grad = tensor.Clone(g).Persist()
	case v.leaf:
		if err := tensor.AddInPlace(v.Grad, g); err != nil {
			panic(fmt.Sprintf("autograd: accumulating into %v: %v", v, err))
		}
	case v.Grad == nil:
		v.Grad = g.Reshape(g.Shape()...)
	default:
		sum := tensor.Add(v.Grad, g)
		v.Grad.Release()
		v.Grad = sum
	}
}

// topoOrder lists the non-leaf Vars reachable from out, inputs before the
// Vars computed from them.
func topoOrder(out *Var) []*Var {
	var order []*Var
	seen := map[*Var]bool{}
	// Iterative DFS: deep graphs (long training unrolls) must not blow the stack.
	type frame struct {
		v    *Var
		next int
	}
	stack := []frame{{v: out}}
	seen[out] = true
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if top.v.fn == nil || top.next >= len(top.v.fn.inputs) {
			if top.v.fn != nil {
				order = append(order, top.v)
			}
			stack = stack[:len(stack)-1]
			continue
		}
		in := top.v.fn.inputs[top.next]
		top.next++
		if !seen[in] && in.requires {
			seen[in] = true
			stack = append(stack, frame{v: in})
		}
	}
	return order
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
