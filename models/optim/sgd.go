package optim

import (
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// SGDConfig holds SGD's hyper-parameters (torch.optim.SGD, dampening 0).
// WeightDecay is L2: added to the gradient. Zero GradScale means 1.
type SGDConfig struct {
	LR          float64
	Momentum    float64
	WeightDecay float64
	Nesterov    bool
	GradScale   float64
}

// SGD is torch.optim.SGD with momentum, Nesterov and parameter groups.
type SGD struct {
	// GradScale multiplies every gradient as the step reads it: 1/k for k
	// accumulated micro-batches.
	GradScale float64
	cfg       SGDConfig
	lr        float64
	steps     int
	set       paramSet
	state     map[*autograd.Var][]*tensor.Tensor // momentum_buffer
}

var sgdSuffixes = []string{".momentum_buffer"}

// NewSGD returns an SGD over params (the first group, with cfg's weight
// decay).
func NewSGD(params []*autograd.Var, cfg SGDConfig) *SGD {
	if cfg.GradScale == 0 {
		cfg.GradScale = 1
	}
	o := &SGD{GradScale: cfg.GradScale, cfg: cfg, lr: cfg.LR, state: map[*autograd.Var][]*tensor.Tensor{}}
	o.set.add(params, GroupConfig{WeightDecay: cfg.WeightDecay})
	return o
}

// AddGroup adds parameters with their own LR scale and weight decay.
func (o *SGD) AddGroup(params []*autograd.Var, g GroupConfig) { o.set.add(params, g) }

// Step takes one SGD step for every parameter that requires and has a
// gradient. Momentum buffers start at zero, which gives PyTorch's first
// step (buffer = gradient) exactly.
func (o *SGD) Step() error {
	o.steps++
	for _, g := range o.set.groups {
		lr := float32(o.lr * g.lrScale)
		for _, p := range g.params {
			if !active(p) {
				continue
			}
			var buf *tensor.Tensor
			if o.cfg.Momentum != 0 {
				st := o.state[p]
				if st == nil {
					b, err := zeroState(p)
					if err != nil {
						return err
					}
					st = []*tensor.Tensor{b}
					o.state[p] = st
				}
				buf = st[0]
			}
			if err := tensor.SGDStep(p.Value, p.Grad, buf, lr, float32(o.cfg.Momentum), float32(g.wd),
				float32(o.GradScale), o.cfg.Nesterov); err != nil {
				return err
			}
		}
	}
	return nil
}

// ZeroGrad releases every parameter's gradient.
func (o *SGD) ZeroGrad() { o.set.zeroGrad() }

// LR is the base learning rate.
func (o *SGD) LR() float64 { return o.lr }

// SetLR sets the base learning rate.
func (o *SGD) SetLR(lr float64) { o.lr = lr }

// StepCount is how many steps have been taken.
func (o *SGD) StepCount() int { return o.steps }

// SetStepCount sets the step counter.
func (o *SGD) SetStepCount(n int) { o.steps = n }

// State returns "<param>.momentum_buffer" for every parameter that has
// taken a step with momentum. The tensors are live: do not release.
func (o *SGD) State() map[string]*tensor.Tensor { return stateMap(&o.set, sgdSuffixes, o.state) }

// LoadState replaces the momentum buffers with copies of st's (the caller
// keeps st); see AdamW.LoadState for the rules.
func (o *SGD) LoadState(st map[string]*tensor.Tensor) error {
	return loadStates(&o.set, sgdSuffixes, st, o.state)
}

// Release frees the momentum buffers.
func (o *SGD) Release() { releaseState(o.state) }
