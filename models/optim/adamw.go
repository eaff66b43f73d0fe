package optim

import (
	"math"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// AdamWConfig holds AdamW's hyper-parameters. Zero Betas and Eps mean
// PyTorch's defaults (0.9, 0.999) and 1e-8; WeightDecay is taken as given
// (PyTorch's default is 0.01); zero GradScale means 1.
type AdamWConfig struct {
	LR          float64
	Betas       [2]float64
	Eps         float64
	WeightDecay float64
	GradScale   float64
}

// AdamW is torch.optim.AdamW (decoupled weight decay, amsgrad off) with
// parameter groups.
type AdamW struct {
	// GradScale multiplies every gradient as the step reads it: 1/k for k
	// accumulated micro-batches.
	GradScale float64
	cfg       AdamWConfig
	lr        float64
	steps     int
	set       paramSet
	state     map[*autograd.Var][]*tensor.Tensor // exp_avg, exp_avg_sq
}

var adamSuffixes = []string{".exp_avg", ".exp_avg_sq"}

// NewAdamW returns an AdamW over params (the first group, with cfg's weight
// decay). Add groups with other settings with AddGroup.
func NewAdamW(params []*autograd.Var, cfg AdamWConfig) *AdamW {
	if cfg.Betas == [2]float64{} {
		cfg.Betas = [2]float64{0.9, 0.999}
	}
	if cfg.Eps == 0 {
		cfg.Eps = 1e-8
	}
	if cfg.GradScale == 0 {
		cfg.GradScale = 1
	}
	o := &AdamW{GradScale: cfg.GradScale, cfg: cfg, lr: cfg.LR, state: map[*autograd.Var][]*tensor.Tensor{}}
	o.set.add(params, GroupConfig{WeightDecay: cfg.WeightDecay})
	return o
}

// AddGroup adds parameters with their own LR scale and weight decay. A
// parameter may be in one group only.
func (o *AdamW) AddGroup(params []*autograd.Var, g GroupConfig) { o.set.add(params, g) }

// Step takes one AdamW step for every parameter that requires and has a
// gradient. The bias corrections use the optimiser's step count (PyTorch
// keeps one per parameter; they differ only for a parameter that missed
// steps).
func (o *AdamW) Step() error {
	o.steps++
	t := float64(o.steps)
	b1, b2 := o.cfg.Betas[0], o.cfg.Betas[1]
	h := tensor.AdamWParams{Beta1: b1, Beta2: b2, Eps: o.cfg.Eps, GradScale: o.GradScale,
		BiasCorr1: 1 - math.Pow(b1, t), BiasCorr2: 1 - math.Pow(b2, t)}
	for _, g := range o.set.groups {
		h.LR = o.lr * g.lrScale
		h.WeightDecay = g.wd
		for _, p := range g.params {
			if !active(p) {
				continue
			}
			st := o.state[p]
			if st == nil {
				m, err := zeroState(p)
				if err != nil {
					return err
				}
				v, err := zeroState(p)
				if err != nil {
					m.Release()
					return err
				}
				st = []*tensor.Tensor{m, v}
				o.state[p] = st
			}
			if err := tensor.AdamWStep(p.Value, p.Grad, st[0], st[1], h); err != nil {
				return err
			}
		}
	}
	return nil
}

// ZeroGrad releases every parameter's gradient.
func (o *AdamW) ZeroGrad() { o.set.zeroGrad() }

// LR is the base learning rate.
func (o *AdamW) LR() float64 { return o.lr }

// SetLR sets the base learning rate.
func (o *AdamW) SetLR(lr float64) { o.lr = lr }

// StepCount is how many steps have been taken.
func (o *AdamW) StepCount() int { return o.steps }

// SetStepCount sets the step counter, which drives the bias corrections.
func (o *AdamW) SetStepCount(n int) { o.steps = n }

// State returns "<param>.exp_avg" and "<param>.exp_avg_sq" for every
// parameter that has taken a step. The tensors are live: do not release.
func (o *AdamW) State() map[string]*tensor.Tensor { return stateMap(&o.set, adamSuffixes, o.state) }

// LoadState replaces the moments with copies of st's (the caller keeps
// st). Unknown keys, shape mismatches and half-present pairs are errors and
// change nothing; parameters absent from st start with fresh moments.
func (o *AdamW) LoadState(st map[string]*tensor.Tensor) error {
	return loadStates(&o.set, adamSuffixes, st, o.state)
}

// Release frees the moments; a later Step starts fresh ones.
func (o *AdamW) Release() { releaseState(o.state) }
