package optim

import (
	"fmt"
	"math"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// EMA keeps an exponential moving average of parameters in persistent
// shadow tensors: shadow = d·shadow + (1-d)·param after each step, for
// evaluation with the averaged weights (CopyTo, Swap).
type EMA struct {
	// Decay is the long-run decay.
	Decay float64
	// DecayFn, when set, gives the decay used at a step instead of the
	// default warm-up form min(Decay, (1+step)/(10+step)); see CODAWarmup.
	DecayFn func(step int) float64
	vars    []*autograd.Var
	names   []string
	shadow  []*tensor.Tensor
	byVar   map[*autograd.Var]int
	byName  map[string]int
}

// CODAWarmup is the CODA recipe's EMA decay: min(decay, (s/2+1)/(s/2+10))
// with s/2 a real division.
func CODAWarmup(decay float64) func(step int) float64 {
	return func(step int) float64 {
		h := float64(step) / 2
		return math.Min(decay, (h+1)/(h+10))
	}
}

// NewEMA starts an average of the params that require a gradient (frozen
// ones never change, so they get no shadow), initialised to their current
// values. Names key State and let CopyTo find a parameter of another model
// instance; unnamed parameters are "param.<i>".
func NewEMA(params []*autograd.Var, decay float64) *EMA {
	m := &EMA{Decay: decay, byVar: map[*autograd.Var]int{}, byName: map[string]int{}}
	for i, p := range params {
		if !p.RequiresGrad() {
			continue
		}
		if _, dup := m.byVar[p]; dup {
			panic(fmt.Sprintf("optim: %v given to NewEMA twice", p))
		}
		name := p.Name()
		if name == "" {
			name = fmt.Sprintf("param.%d", i)
		}
		if _, dup := m.byName[name]; dup {
			panic(fmt.Sprintf("optim: two parameters are named %q", name))
		}
		m.byVar[p] = len(m.vars)
		m.byName[name] = len(m.vars)
		m.vars = append(m.vars, p)
		m.names = append(m.names, name)
		m.shadow = append(m.shadow, tensor.Clone(p.Value).Persist())
	}
	return m
}

// DecayAt is the decay Update uses at step.
func (m *EMA) DecayAt(step int) float64 {
	if m.DecayFn != nil {
		return m.DecayFn(step)
	}
	return math.Min(m.Decay, float64(1+step)/float64(10+step))
}

// Update folds the parameters' current values into the average with the
// decay of step. It is an SGD step on ½‖shadow − param‖² with learning rate
// 1 − decay (d = shadow − param; shadow −= (1−decay)·d), so it runs the
// fused SGD kernel in place: one dispatch per parameter, no temporaries.
func (m *EMA) Update(step int) error {
	lr := float32(1 - m.DecayAt(step))
	for i, p := range m.vars {
		if err := m.shadow[i].Err(); err != nil {
			return err
		}
		// g·(-1) + 1·shadow = shadow − param, exact in float32.
		if err := tensor.SGDStep(m.shadow[i], p.Value, nil, lr, 0, 1, -1, false); err != nil {
			return err
		}
	}
	return nil
}

// find returns the shadow for p: by identity, else by name (a parameter of
// another instance of the model).
func (m *EMA) find(p *autograd.Var) (int, error) {
	i, ok := m.byVar[p]
	if !ok && p.Name() != "" {
		i, ok = m.byName[p.Name()]
	}
	if !ok {
		return 0, fmt.Errorf("optim: EMA has no average of %v", p)
	}
	if !sameShape(m.shadow[i].Shape(), p.Value.Shape()) {
		return 0, fmt.Errorf("optim: EMA average %q is %v, the parameter %v", m.names[i], m.shadow[i].Shape(), p.Value.Shape())
	}
	return i, nil
}

// targets resolves params to shadows; frozen parameters without a shadow
// are skipped (they were never averaged).
func (m *EMA) targets(params []*autograd.Var) ([]int, []*autograd.Var, error) {
	var idx []int
	var ps []*autograd.Var
	for _, p := range params {
		i, err := m.find(p)
		if err != nil {
			if !p.RequiresGrad() {
				continue
			}
			return nil, nil, err
		}
		idx = append(idx, i)
		ps = append(ps, p)
	}
	return idx, ps, nil
}

// CopyTo writes the averaged values into params (the averaged parameters
// or the same-named ones of another model instance).
func (m *EMA) CopyTo(params []*autograd.Var) error {
	idx, ps, err := m.targets(params)
	if err != nil {
		return err
	}
	for k, p := range ps {
		p.Value.Engine().Device().Copy(p.Value.Range(), m.shadow[idx[k]].Range())
	}
	return nil
}

// Swap exchanges the averaged and the current values of params: swap,
// evaluate, swap back. Each parameter goes through one temporary, released
// at once.
func (m *EMA) Swap(params []*autograd.Var) error {
	idx, ps, err := m.targets(params)
	if err != nil {
		return err
	}
	for k, p := range ps {
		sh := m.shadow[idx[k]]
		tmp := tensor.Clone(p.Value)
		if err := tmp.Err(); err != nil {
			return err
		}
		dev := p.Value.Engine().Device()
		dev.Copy(p.Value.Range(), sh.Range())
		dev.Copy(sh.Range(), tmp.Range())
		tmp.Release()
	}
	return nil
}

// State returns the averages keyed by parameter name. The tensors are
// live: do not release.
func (m *EMA) State() map[string]*tensor.Tensor {
	out := make(map[string]*tensor.Tensor, len(m.names))
	for i, n := range m.names {
		out[n] = m.shadow[i]
	}
	return out
}

// LoadState copies a checkpoint's averages into the shadows. Every average
// must be present with its shape; unknown keys are errors. On error nothing
// changes.
func (m *EMA) LoadState(st map[string]*tensor.Tensor) error {
	for key := range st {
		if _, ok := m.byName[key]; !ok {
			return fmt.Errorf("optim: the checkpoint's EMA state %q matches no parameter", key)
		}
	}
	for i, n := range m.names {
		t, ok := st[n]
		if !ok {
			return fmt.Errorf("optim: the checkpoint has no EMA state %q", n)
		}
		if err := checkLoad(n, m.vars[i], t); err != nil {
			return err
		}
	}
	for i, n := range m.names {
		if src := st[n].Range(); src != m.shadow[i].Range() { // loading State() itself
			m.shadow[i].Engine().Device().Copy(m.shadow[i].Range(), src)
		}
	}
	return nil
}

// Release frees the averages.
func (m *EMA) Release() {
	releaseAll(m.shadow)
	m.shadow = nil
	m.vars, m.names = nil, nil
	m.byVar, m.byName = map[*autograd.Var]int{}, map[string]int{}
}
