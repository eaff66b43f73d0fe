package optim

import "math"

// Schedule gives the learning rate of a step (0 for the first step).
type Schedule func(step int) float64

// Apply sets o's learning rate for its coming step: call it before Step.
func (s Schedule) Apply(o Optimizer) { o.SetLR(s(o.StepCount())) }

// Constant is lr at every step.
func Constant(lr float64) Schedule { return func(int) float64 { return lr } }

// LinearWarmup ramps linearly to lr over warmup steps: lr·(step+1)/warmup
// for step < warmup (so the first step is not wasted at zero), then lr.
func LinearWarmup(lr float64, warmup int) Schedule {
	return func(step int) float64 {
		if step < warmup {
			return lr * float64(step+1) / float64(warmup)
		}
		return lr
	}
}

// Cosine is LinearWarmup for warmup steps (which may be 0), then cosine
// decay from lr at step warmup to minLR at step total, and minLR after:
// minLR + (lr-minLR)·(1+cos(π·(step-warmup)/(total-warmup)))/2. With warmup
// 0 it is torch's CosineAnnealingLR(T_max=total, eta_min=minLR).
func Cosine(lr float64, warmup, total int, minLR float64) Schedule {
	return func(step int) float64 {
		switch {
		case step < warmup:
			return lr * float64(step+1) / float64(warmup)
		case step >= total:
			return minLR
		}
		progress := float64(step-warmup) / float64(total-warmup)
		return minLR + (lr-minLR)*0.5*(1+math.Cos(math.Pi*progress))
	}
}
