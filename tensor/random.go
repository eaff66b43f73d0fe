package tensor

import (
	"math"

	"github.com/tessera-ml/tessera/vk"
)

// randomKernel is shaders/random.comp: Philox4x32-10, four values per
// invocation.
var randomKernel = vk.KernelSpec{Name: "random", Buffers: 1, PushWords: 7}

const (
	randUniform = 0
	randNormal  = 1
)

// Uniform returns a float32 tensor of values uniform in [lo, hi), drawn on
// the device from a counter-based generator: element i is a function of
// (seed, i) alone, so the same seed and shape give the same tensor on
// every device and a longer tensor extends a shorter one.
//
// The generator is Philox4x32-10 keyed by the seed (low word first) with
// counter (i/4, 0, 0, 0); element i takes word i%4 of the block, keeps its
// top 24 bits u, and maps them to lo + (hi-lo)·u·2^-24 (clamped below hi).
// lo and hi must be finite with lo ≤ hi (lo == hi gives lo everywhere).
func (e *Engine) Uniform(seed uint64, lo, hi float32, shape ...int) *Tensor {
	span := hi - lo
	if !randFinite(lo) || !randFinite(hi) || !(lo <= hi) || !randFinite(span) {
		return e.failed(shapeErr("Uniform", "need finite lo ≤ hi, got [%g, %g)", lo, hi))
	}
	below := lo
	if lo < hi {
		below = math.Nextafter32(hi, float32(math.Inf(-1)))
	}
	return e.random("Uniform", randUniform, seed, lo, span, below, shape)
}

// Normal returns a float32 tensor of normal values with the given mean and
// standard deviation, from the same generator as Uniform: each pair of
// words (w0, w1) of a Philox block becomes two values by Box–Muller, with
// u1 = (w0>>8 + 1)·2^-24 in (0, 1] and θ = 2π·(w1>>8)·2^-24, as
// mean + std·√(-2 ln u1)·(cos θ, sin θ). The device computes log, sin, cos
// and √ from correctly rounded adds and multiplies only, so the values are
// bit-identical across conformant devices. std must be finite and ≥ 0.
func (e *Engine) Normal(seed uint64, mean, std float32, shape ...int) *Tensor {
	if !randFinite(mean) || !randFinite(std) || std < 0 {
		return e.failed(shapeErr("Normal", "need finite mean and std ≥ 0, got mean %g std %g", mean, std))
	}
	return e.random("Normal", randNormal, seed, mean, std, 0, shape)
}

func (e *Engine) random(op string, mode uint32, seed uint64, a, b, c float32, shape []int) *Tensor {
	// The shader indexes elements with 32-bit integers (4·block+3 must fit).
	if n := Numel(shape); n > math.MaxUint32-4 {
		return e.failed(shapeErr(op, "%d elements exceed the 32-bit element index", n))
	}
	y := e.alloc(Float32, shape)
	n := Numel(shape)
	if y.err != nil || n == 0 {
		return y
	}
	blocks := (n + 3) / 4
	e.run(randomKernel, []uint32{u32(e.wg)}, e.groups1D(blocks),
		[]uint32{u32(n), mode, uint32(seed), uint32(seed >> 32), math.Float32bits(a), math.Float32bits(b), math.Float32bits(c)},
		vk.Work{Flops: 60 * float64(n), Bytes: 4 * float64(n)}, out(y))
	return y
}

func randFinite(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
