package optim

import (
	"fmt"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// Optimizer is what a training loop needs from AdamW and SGD.
type Optimizer interface {
	// Step updates every parameter that has a gradient, in place.
	Step() error
	// ZeroGrad releases every parameter's gradient (PyTorch's set_to_none).
	ZeroGrad()
	// LR is the base learning rate; groups scale it.
	LR() float64
	// SetLR sets the base learning rate (schedules call it before Step).
	SetLR(float64)
	// State returns the named moment tensors for a checkpoint. They are the
	// optimiser's live tensors: read them, do not release them.
	State() map[string]*tensor.Tensor
	// LoadState replaces the moments with copies of a checkpoint's.
	LoadState(map[string]*tensor.Tensor) error
	// StepCount is how many steps have been taken.
	StepCount() int
	// SetStepCount sets the step counter (when resuming a checkpoint).
	SetStepCount(int)
	// Release frees the optimiser's state tensors.
	Release()
}

// GroupConfig is a parameter group's deviation from the optimiser's
// defaults, e.g. GroupConfig{WeightDecay: 0} for norms and biases.
type GroupConfig struct {
	// LRScale multiplies the optimiser's (scheduled) learning rate for
	// this group; zero means 1. A multiplier rather than an absolute LR, so
	// one schedule drives every group.
	LRScale float64
	// WeightDecay is the group's weight decay, taken as given (zero: none).
	WeightDecay float64
}

type group struct {
	params  []*autograd.Var
	lrScale float64
	wd      float64
}

// paramSet is the parameter groups and checkpoint names shared by the
// optimisers.
type paramSet struct {
	groups []group
	names  map[*autograd.Var]string
	used   map[string]bool
	count  int
}

// add appends a group. Each parameter's checkpoint name is its Name, or
// "param.<i>" (its position among the optimiser's parameters) if unnamed.
func (s *paramSet) add(params []*autograd.Var, g GroupConfig) {
	if s.names == nil {
		s.names = map[*autograd.Var]string{}
		s.used = map[string]bool{}
	}
	scale := g.LRScale
	if scale == 0 {
		scale = 1
	}
	for _, p := range params {
		if _, dup := s.names[p]; dup {
			panic(fmt.Sprintf("optim: %v is in two parameter groups", p))
		}
		name := p.Name()
		if name == "" {
			name = fmt.Sprintf("param.%d", s.count)
		}
		if s.used[name] {
			panic(fmt.Sprintf("optim: two parameters are named %q", name))
		}
		s.names[p] = name
		s.used[name] = true
		s.count++
	}
	s.groups = append(s.groups, group{params: append([]*autograd.Var(nil), params...), lrScale: scale, wd: g.WeightDecay})
}

// active reports whether p takes part in a step.
func active(p *autograd.Var) bool { return p.RequiresGrad() && p.Grad != nil }

func (s *paramSet) zeroGrad() {
	for _, g := range s.groups {
		for _, p := range g.params {
			p.ZeroGrad()
		}
	}
}

// NoDecay splits params into those that take weight decay (matrices and
// kernels, rank ≥ 2) and those that do not (norm gains, biases: rank ≤ 1),
// the usual split for AdamW's parameter groups.
func NoDecay(params []*autograd.Var) (decay, noDecay []*autograd.Var) {
	for _, p := range params {
		if p.Value.Rank() >= 2 {
			decay = append(decay, p)
		} else {
			noDecay = append(noDecay, p)
		}
	}
	return decay, noDecay
}

// zeroState returns a persistent zero tensor shaped like p's value.
func zeroState(p *autograd.Var) (*tensor.Tensor, error) {
	t := p.Value.Engine().Zeros(p.Value.Shape()...)
	if err := t.Err(); err != nil {
		return nil, err
	}
	return t.Persist(), nil
}

// loadTensor returns a persistent copy of src after checking that it fits
// parameter p's shape.
func loadTensor(key string, p *autograd.Var, src *tensor.Tensor) (*tensor.Tensor, error) {
	if err := checkLoad(key, p, src); err != nil {
		return nil, err
	}
	t := tensor.Clone(src)
	if err := t.Err(); err != nil {
		return nil, err
	}
	return t.Persist(), nil
}

func checkLoad(key string, p *autograd.Var, src *tensor.Tensor) error {
	if src == nil {
		return fmt.Errorf("optim: state %q is nil", key)
	}
	if err := src.Err(); err != nil {
		return fmt.Errorf("optim: state %q: %w", key, err)
	}
	if src.DType() != tensor.Float32 || !sameShape(src.Shape(), p.Value.Shape()) {
		return fmt.Errorf("optim: state %q is %v %s, the parameter %v float32", key, src.Shape(), src.DType(), p.Value.Shape())
	}
	return nil
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

// loadStates is LoadState for optimisers whose state per parameter is the
// tensors named by suffixes: it checks every key and shape first, so a
// failed load changes nothing, then replaces state with copies (parameters
// absent from the checkpoint get no state: fresh moments on their next step).
func loadStates(s *paramSet, suffixes []string, src map[string]*tensor.Tensor, state map[*autograd.Var][]*tensor.Tensor) error {
	known := map[string]bool{}
	type load struct {
		p    *autograd.Var
		srcs []*tensor.Tensor
	}
	var loads []load
	for _, g := range s.groups {
		for _, p := range g.params {
			name := s.names[p]
			var srcs []*tensor.Tensor
			for _, suf := range suffixes {
				key := name + suf
				known[key] = true
				if t, ok := src[key]; ok {
					if err := checkLoad(key, p, t); err != nil {
						return err
					}
					srcs = append(srcs, t)
				}
			}
			switch len(srcs) {
			case 0:
				loads = append(loads, load{p: p})
			case len(suffixes):
				loads = append(loads, load{p: p, srcs: srcs})
			default:
				return fmt.Errorf("optim: the checkpoint has only part of the state of %q (needs %v)", name, suffixes)
			}
		}
	}
	for key := range src {
		if !known[key] {
			return fmt.Errorf("optim: the checkpoint's state %q matches no parameter", key)
		}
	}
	// Copy everything before releasing anything: src may hold the current
	// state tensors themselves, and a failed copy must leave state intact.
	fresh := make([][]*tensor.Tensor, len(loads))
	for k, l := range loads {
		for i, t := range l.srcs {
			c, err := loadTensor(s.names[l.p]+suffixes[i], l.p, t)
			if err != nil {
				for _, ts := range fresh {
					releaseAll(ts)
				}
				return err
			}
			fresh[k] = append(fresh[k], c)
		}
	}
	for k, l := range loads {
		releaseAll(state[l.p])
		delete(state, l.p)
		if fresh[k] != nil {
			state[l.p] = fresh[k]
		}
	}
	return nil
}

// stateMap names the state tensors for State.
func stateMap(s *paramSet, suffixes []string, state map[*autograd.Var][]*tensor.Tensor) map[string]*tensor.Tensor {
	out := map[string]*tensor.Tensor{}
	for p, ts := range state {
		for i, t := range ts {
			out[s.names[p]+suffixes[i]] = t
		}
	}
	return out
}

func releaseAll(ts []*tensor.Tensor) {
	for _, t := range ts {
		t.Release()
	}
}

func releaseState(state map[*autograd.Var][]*tensor.Tensor) {
	for p, ts := range state {
		releaseAll(ts)
		delete(state, p)
	}
}
