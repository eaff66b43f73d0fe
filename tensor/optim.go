package tensor

import (
	"math"
	"math/bits"

	"github.com/tessera-ml/tessera/vk"
)

// Optimiser kernels: fused in-place parameter updates and the squared norm
// that global gradient clipping needs. See shaders/adamw.comp, sgd.comp,
// sumsq.comp and sumsq_clip.comp.
var (
	adamwKernel     = vk.KernelSpec{Name: "adamw", Buffers: 4, PushWords: 10}
	sgdKernel       = vk.KernelSpec{Name: "sgd", Buffers: 3, PushWords: 5}
	sumsqKernel     = vk.KernelSpec{Name: "sumsq", Buffers: 2, PushWords: 3}
	sumsqClipKernel = vk.KernelSpec{Name: "sumsq_clip", Buffers: 2, PushWords: 3}
)

const (
	// sumsqMaxGroups bounds the workgroups (partial sums) one tensor's
	// first pass makes: the second pass then folds few values, and the grid
	// never spills into y.
	sumsqMaxGroups = 1024
	// sumsqMinPerLane is how many elements a lane folds at least before
	// another workgroup is worth starting.
	sumsqMinPerLane = 4
	// sumsqRadix is the fan-in of each level of the kernel's shared tree.
	sumsqRadix = 16
	// ClipEps is added to the norm in the clipping coefficient
	// max_norm/(norm + ClipEps), as in torch.nn.utils.clip_grad_norm_.
	ClipEps = 1e-6
)

// sumsqFinalPerLane bounds how many partials a lane of the final
// single-workgroup pass adds serially (a variable so tests can force the
// multi-pass path).
var sumsqFinalPerLane = 256

// AdamWParams are one AdamW step's hyper-parameters; BiasCorr1/2 are 1-β1^t
// and 1-β2^t computed on the host. They are float64 because the launcher
// combines them before rounding: 1-β2 from a float32 β2 = 0.999 would be off
// by 1.3e-5 relative, where torch (Python floats) is exact.
type AdamWParams struct{ LR, Beta1, Beta2, Eps, WeightDecay, BiasCorr1, BiasCorr2, GradScale float64 }

// stepArgs checks the tensors of an in-place optimiser step: all float32 of
// p's shape, and the ones written (p and states) distinct from each other
// and from g, since a kernel binding one buffer twice for writing is a race.
func stepArgs(op string, p, g *Tensor, states ...*Tensor) (*Engine, error) {
	e, err := inputs(op, append([]*Tensor{p, g}, states...)...)
	if err != nil {
		return e, err
	}
	all := append([]*Tensor{p, g}, states...)
	for i, t := range all {
		if t.dtype != Float32 {
			return e, shapeErr(op, "needs float32 tensors, argument %d is %s", i, t.dtype)
		}
		if !sameShape(t.shape, p.shape) {
			return e, shapeErr(op, "argument %d has shape %v, the parameter %v", i, t.shape, p.shape)
		}
		for _, u := range all[:i] {
			if t.st != nil && t.st == u.st {
				return e, shapeErr(op, "argument %d shares storage with another argument", i)
			}
		}
	}
	return e, nil
}

// AdamWStep updates p, m, v in place from g in ONE fused kernel, exactly as
// torch.optim.AdamW (decoupled weight decay): p -= lr·wd·p; g' = g·GradScale;
// m = β1 m + (1-β1) g'; v = β2 v + (1-β2) g'²;
// p -= lr · (m/bc1) / (sqrt(v/bc2) + eps), the last as torch computes it:
// (lr/bc1)·m / (sqrt(v)/sqrt(bc2) + eps).
func AdamWStep(p, g, m, v *Tensor, h AdamWParams) error {
	e, err := stepArgs("AdamWStep", p, g, m, v)
	if err != nil {
		return err
	}
	n := p.Numel()
	if n == 0 {
		return nil
	}
	// Scalars combine in float64 and round once, as torch's Python floats do.
	f := func(v float64) uint32 { return math.Float32bits(float32(v)) }
	push := []uint32{u32(n),
		f(h.LR / h.BiasCorr1), f(1 - h.LR*h.WeightDecay),
		f(h.Beta1), f(1 - h.Beta1), f(h.Beta2), f(1 - h.Beta2),
		f(math.Sqrt(h.BiasCorr2)), f(h.Eps), f(h.GradScale)}
	e.run(adamwKernel, []uint32{u32(e.wg)}, e.groups1D(n), push,
		vk.Work{Flops: 16 * float64(n), Bytes: 28 * float64(n)}, inout(p), in(g), inout(m), inout(v))
	return nil
}

// SGDStep is one step of torch.optim.SGD (dampening 0) in place: the
// gradient g·gradScale gets L2 weight decay wd·p added, passes through the
// momentum buffer buf (nil when momentum == 0; zero-filled before the first
// step, which then matches torch's buf = d exactly), optionally Nesterov,
// and p -= lr·d.
func SGDStep(p, g, buf *Tensor, lr, momentum, weightDecay, gradScale float32, nesterov bool) error {
	var e *Engine
	var err error
	if momentum != 0 {
		if buf == nil {
			_, err = inputs("SGDStep", p, g)
			if err == nil {
				err = shapeErr("SGDStep", "momentum %g needs a momentum buffer", momentum)
			}
			return err
		}
		e, err = stepArgs("SGDStep", p, g, buf)
	} else {
		e, err = stepArgs("SGDStep", p, g)
	}
	if err != nil {
		return err
	}
	n := p.Numel()
	if n == 0 {
		return nil
	}
	consts := []uint32{u32(e.wg), 0, 0}
	// Without momentum binding 2 is never read: bind g there (read-only).
	third := in(g)
	if momentum != 0 {
		consts[1] = 1
		third = inout(buf)
		if nesterov {
			consts[2] = 1
		}
	}
	push := []uint32{u32(n), math.Float32bits(lr), math.Float32bits(momentum),
		math.Float32bits(weightDecay), math.Float32bits(gradScale)}
	e.run(sgdKernel, consts, e.groups1D(n), push,
		vk.Work{Flops: 6 * float64(n), Bytes: 20 * float64(n)}, inout(p), in(g), third)
	return nil
}

// sumsqWG is the reduction workgroup: 256 lanes, or the device's limit
// rounded down to a power of two, and at least the engine's 1-D size.
func (e *Engine) sumsqWG() int {
	wg := 256
	if lim := int(e.dev.Info.MaxInvocations); lim > 0 && lim < wg {
		wg = 1 << (bits.Len(uint(lim)) - 1)
	}
	return wg
}

// sumsqPlan is the first-pass chunk (elements per workgroup, a multiple of
// wg) and workgroup count for n elements.
func sumsqPlan(n, wg int) (chunk, groups int) {
	perGroup := (n + sumsqMaxGroups - 1) / sumsqMaxGroups
	chunk = max(wg*sumsqMinPerLane, (perGroup+wg-1)/wg*wg)
	return chunk, (n + chunk - 1) / chunk
}

// recordSumsq records one pass: workgroup j writes the (squared) sum of
// x[j·chunk : (j+1)·chunk] (n elements in all) into y[base+j].
func (e *Engine) recordSumsq(x, y *Tensor, n, chunk, base int, square bool) {
	wg := e.sumsqWG()
	groups := (n + chunk - 1) / chunk
	sq := uint32(0)
	if square {
		sq = 1
	}
	e.run(sumsqKernel, []uint32{u32(wg), sq, sumsqRadix}, e.dev.Groups1D(groups, 1),
		[]uint32{u32(n), u32(chunk), u32(base)},
		vk.Work{Flops: 2 * float64(n), Bytes: 4*float64(n) + 4*float64(groups)}, in(x), out(y))
}

// SumSquares returns Σ x² as a one-element tensor (shape [1]), computed on
// the device without a host round trip.
func SumSquares(x *Tensor) *Tensor { return sumSquares("SumSquares", []*Tensor{x}) }

// SumSquaresAll returns Σ over all xs of Σ x² as a one-element tensor
// (shape [1]): the squared global norm of a set of gradients. Each tensor
// writes its partial sums side by side into one buffer and a last pass adds
// them, so k tensors cost k+1 dispatches and no read-back.
func SumSquaresAll(xs ...*Tensor) *Tensor { return sumSquares("SumSquaresAll", xs) }

func sumSquares(op string, xs []*Tensor) *Tensor {
	if len(xs) == 0 {
		panic("tensor." + op + ": no tensors")
	}
	e, err := inputs(op, xs...)
	if err != nil {
		return e.failed(err)
	}
	parts := 0
	wg := e.sumsqWG()
	for i, x := range xs {
		if x.dtype != Float32 {
			return e.failed(shapeErr(op, "needs float32 tensors, argument %d is %s", i, x.dtype))
		}
		if n := x.Numel(); n > 0 {
			_, g := sumsqPlan(n, wg)
			parts += g
		}
	}
	y := e.alloc(Float32, []int{1})
	if y.err != nil {
		return y
	}
	switch {
	case parts == 0:
		e.dev.Fill(y.st.r, math.Float32bits(0))
		return y
	case parts == 1:
		for _, x := range xs {
			if n := x.Numel(); n > 0 {
				chunk, _ := sumsqPlan(n, wg)
				e.recordSumsq(x, y, n, chunk, 0, true)
			}
		}
		return y
	}
	part := e.alloc(Float32, []int{parts})
	if part.err != nil {
		y.Release()
		return e.failed(part.err)
	}
	base := 0
	for _, x := range xs {
		if n := x.Numel(); n > 0 {
			chunk, groups := sumsqPlan(n, wg)
			e.recordSumsq(x, part, n, chunk, base, true)
			base += groups
		}
	}
	// One workgroup adds the partials while each lane folds at most
	// sumsqFinalPerLane of them (every realistic parameter count); beyond,
	// passes of plain sums shrink them first.
	for parts > wg*sumsqFinalPerLane {
		chunk, groups := sumsqPlan(parts, wg)
		next := e.alloc(Float32, []int{groups})
		if next.err != nil {
			part.Release()
			y.Release()
			return e.failed(next.err)
		}
		e.recordSumsq(part, next, parts, chunk, 0, false)
		part.Release()
		part, parts = next, groups
	}
	e.recordSumsq(part, y, parts, (parts+wg-1)/wg*wg, 0, false)
	part.Release()
	return y
}

// ClipWithNorm scales every x in place by maxNorm/(√sumSq + ClipEps) when
// √sumSq > maxNorm and leaves it untouched otherwise: the clipping half of
// torch.nn.utils.clip_grad_norm_, given the squared total norm sumSq (a
// one-element tensor, e.g. from SumSquaresAll). The comparison is made on
// the device, so nothing waits for sumSq to reach the host.
func ClipWithNorm(xs []*Tensor, sumSq *Tensor, maxNorm float32) error {
	e, err := inputs("ClipWithNorm", append([]*Tensor{sumSq}, xs...)...)
	if err != nil {
		return err
	}
	if sumSq.dtype != Float32 || sumSq.Numel() != 1 {
		return shapeErr("ClipWithNorm", "the squared norm must be one float32 element, got %v %s", sumSq.shape, sumSq.dtype)
	}
	for i, x := range xs {
		if x.dtype != Float32 {
			return shapeErr("ClipWithNorm", "needs float32 tensors, argument %d is %s", i, x.dtype)
		}
		if x.st != nil && x.st == sumSq.st {
			return shapeErr("ClipWithNorm", "argument %d shares storage with the squared norm", i)
		}
	}
	for _, x := range xs {
		n := x.Numel()
		if n == 0 {
			continue
		}
		e.run(sumsqClipKernel, []uint32{u32(e.wg)}, e.groups1D(n),
			[]uint32{u32(n), math.Float32bits(maxNorm), math.Float32bits(ClipEps)},
			vk.Work{Flops: float64(n), Bytes: 8 * float64(n)}, inout(x), in(sumSq))
	}
	return nil
}
