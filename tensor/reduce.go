package tensor

import (
	"math"
	"math/bits"

	"github.com/tessera-ml/tessera/vk"
)

// Reductions view x as [outer, n, inner] around the reduced axis: each of
// the outer·inner "lines" holds n elements with stride inner. See
// shaders/reduce.comp and shaders/softmax.comp for the kernels.
var (
	reduceKernel       = vk.KernelSpec{Name: "reduce", Buffers: 2, PushWords: 6}
	softmaxKernel      = vk.KernelSpec{Name: "softmax", Buffers: 2, PushWords: 3}
	softmaxApplyKernel = vk.KernelSpec{Name: "softmax_apply", Buffers: 3, PushWords: 5}
)

// reduceOp codes, as in shaders/reduce.comp.
type reduceOp uint32

const (
	redSum reduceOp = iota
	redMean
	redMax
	redLSE
	redArgmax
)

const (
	// treeRadix is the fan-in of each level of the kernels' shared-memory
	// trees: 256 lanes meet in two levels (two barriers), not eight.
	treeRadix = 16
	// minPerLane is how few elements a lane should fold before a tree is
	// worth paying for; maxPerLane bounds each lane's serial float32 sum, so
	// rounding error grows with log(n), not n.
	minPerLane = 4
	maxPerLane = 256
	// splitTarget is how many workgroups a reduction with few lines aims
	// for by splitting lines; maxSplits bounds the second pass's input.
	splitTarget = 128
	maxSplits   = 4096
	// Softmax of fewer than softmaxSplitGroups workgroups of lines of at
	// least softmaxSplitN elements goes through split reductions, so a single
	// huge line does not run on one workgroup.
	softmaxSplitGroups = 32
	softmaxSplitN      = 1 << 16
	// applyPerLane is how many units each lane of softmax_apply writes.
	applyPerLane = 16
	// maxCacheUnits bounds K, the softmax kernel's register cache per lane
	// (floats or vec4s): llvmpipe's compile time explodes beyond 128 vec4s.
	maxCacheUnits = 128
)

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// pow2Ceil is the smallest power of two ≥ v (1 for v ≤ 1).
func pow2Ceil(v int) int {
	if v <= 1 {
		return 1
	}
	return 1 << bits.Len(uint(v-1))
}

// pow2Floor is the largest power of two ≤ v (v ≥ 1).
func pow2Floor(v int) int { return 1 << (bits.Len(uint(v)) - 1) }

func clampInt(v, lo, hi int) int { return max(lo, min(v, hi)) }

// lineTuning bounds the workgroup shapes of the line kernels on a device.
type lineTuning struct {
	maxWG     int // lanes per workgroup
	reduceTY  int // most lanes per line in reductions
	softmaxTY int // most lanes per line in softmax
	softmaxK  int // most floats a softmax lane caches in registers
}

// tuning picks the line kernels' limits. GPUs get wide workgroups (256
// lanes per line, 32 cached floats per lane). On a CPU device (llvmpipe)
// every barrier switches coroutines of SIMD groups and every buffer access
// is a per-lane loop, so a line gets few SIMD groups and each lane caches
// a long stretch of its row (measured on Lavapipe, softmax of 4096×4096:
// 58 CPU-ms with one 8-lane group per row caching 512 floats per lane, 86
// with 64 lanes caching 64, 102 with 256 lanes caching 16).
func (e *Engine) tuning() lineTuning {
	info := e.dev.Info
	t := lineTuning{maxWG: 256, reduceTY: 256, softmaxTY: 256, softmaxK: 32}
	if lim := int(info.MaxInvocations); lim > 0 && lim < t.maxWG {
		t.maxWG = pow2Floor(lim)
	}
	if info.Type == vk.TypeCPU {
		sg := pow2Floor(max(1, int(info.SubgroupSize)))
		t.reduceTY, t.softmaxTY, t.softmaxK = 4*sg, sg, 512
	}
	t.reduceTY = min(t.reduceTY, t.maxWG)
	t.softmaxTY = min(t.softmaxTY, t.maxWG)
	return t
}

// lineGeom is a workgroup shape for line kernels: tx lines × ty lanes per
// line. layout 0 (inner == 1) puts a line's lanes side by side, so they
// read contiguous elements; layout 1 puts lines side by side (neighbouring
// inner positions), again contiguous.
type lineGeom struct{ tx, ty, layout int }

// geom picks a lineGeom for lines of n elements with stride inner: at most
// maxTY lanes per line, each taking about per elements.
func (e *Engine) geom(lines, n, inner, per, maxTY int) lineGeom {
	maxWG := e.tuning().maxWG
	minWG := min(e.wg, maxWG)
	g := lineGeom{tx: 1, layout: 0}
	if inner > 1 {
		g.layout = 1
		g.tx = min(maxWG, pow2Ceil(inner))
	}
	g.ty = clampInt(pow2Ceil(ceilDiv(n, per)), 1, min(maxTY, maxWG/g.tx))
	if g.tx*g.ty < minWG {
		// Short lines: more lines per workgroup rather than idle lanes.
		g.tx = minWG / g.ty
	}
	return g
}

func (g lineGeom) wg() int { return g.tx * g.ty }

// reduceRecord records the dispatches that reduce the lines of x into y:
// final values, or with states the (a, b) state pairs (for LSE: max, sum
// of exp) that softmax_apply reads. It fails only if a temporary does not
// fit in memory.
func (e *Engine) reduceRecord(op reduceOp, x *Tensor, lines, n, inner int, y *Tensor, states bool) error {
	// Contiguous rows of a multiple of 4 are read as vec4: fewer, wider
	// loads (llvmpipe pays per load instruction, GPUs like 16-byte loads).
	vec := 1
	if inner == 1 && n%4 == 0 {
		vec = 4
	}
	units := n / vec
	maxTY := e.tuning().reduceTY
	g := e.geom(lines, units, inner, minPerLane, maxTY)
	lineGroups := ceilDiv(lines, g.tx)
	splits := 1
	if units > g.ty*minPerLane*2 {
		splits = min(ceilDiv(splitTarget, lineGroups), ceilDiv(units, g.ty*minPerLane))
		splits = min(max(splits, ceilDiv(units, g.ty*maxPerLane)), maxSplits)
	}
	chunk := n
	if splits > 1 {
		// Whole rounds of ty per split, then drop splits left empty.
		cu := ceilDiv(ceilDiv(units, splits), g.ty) * g.ty
		splits = ceilDiv(units, cu)
		chunk = cu * vec
	}
	flops := float64(lines) * float64(n)
	if op == redLSE {
		flops *= 4
	}
	flag := func(b bool) uint32 {
		if b {
			return 1
		}
		return 0
	}
	count := math.Float32bits(float32(n))
	if splits == 1 {
		e.run(reduceKernel, []uint32{u32(g.wg()), u32(g.ty), uint32(op), u32(g.layout), 0, flag(states), treeRadix, u32(vec)},
			e.dev.Groups1D(lineGroups, 1), []uint32{u32(lines), u32(n), u32(inner), 1, u32(n), count},
			vk.Work{Flops: flops, Bytes: 4*float64(lines)*float64(n) + 4*float64(lines)}, in(x), out(y))
		return nil
	}
	part := e.alloc(Int32, []int{2 * lines * splits})
	if part.err != nil {
		return part.err
	}
	e.run(reduceKernel, []uint32{u32(g.wg()), u32(g.ty), uint32(op), u32(g.layout), 0, 1, treeRadix, u32(vec)},
		e.dev.Groups1D(lineGroups*splits, 1), []uint32{u32(lines), u32(n), u32(inner), u32(splits), u32(chunk), count},
		vk.Work{Flops: flops, Bytes: 4*float64(lines)*float64(n) + 8*float64(lines*splits)}, in(x), out(part))
	g2 := e.geom(lines, splits, 1, minPerLane, maxTY)
	e.run(reduceKernel, []uint32{u32(g2.wg()), u32(g2.ty), uint32(op), 0, 1, flag(states), treeRadix, 1},
		e.dev.Groups1D(ceilDiv(lines, g2.tx), 1), []uint32{u32(lines), u32(splits), 1, 1, u32(splits), count},
		vk.Work{Flops: float64(lines * splits), Bytes: 8*float64(lines*splits) + 4*float64(lines)}, in(part), out(y))
	part.Release()
	return nil
}

// reduce is op along axis of x (every element when all), name being the
// public op for errors.
func reduce(name string, op reduceOp, x *Tensor, all bool, axis int) *Tensor {
	e, err := inputs(name, x)
	if err != nil {
		return e.failed(err)
	}
	if x.dtype != Float32 {
		return e.failed(shapeErr(name, "needs float32, got %s", x.dtype))
	}
	lines, n, inner := 1, x.Numel(), 1
	shape := []int{}
	if !all {
		a, err := normAxis(name, axis, len(x.shape))
		if err != nil {
			return e.failed(err)
		}
		lines, n, inner = Numel(x.shape[:a]), x.shape[a], Numel(x.shape[a+1:])
		lines *= inner
		shape = append(append(shape, x.shape[:a]...), x.shape[a+1:]...)
	}
	if n == 0 && lines > 0 && (op == redMax || op == redArgmax) {
		// No identity (torch raises too); the float64 twin panics.
		return e.failed(shapeErr(name, "reduction over an empty axis of %v", x.shape))
	}
	dt := Float32
	if op == redArgmax {
		dt = Int32
	}
	y := e.alloc(dt, shape)
	if y.err != nil || lines == 0 {
		return y
	}
	if n == 0 {
		// Empty sums are 0, their mean 0/0, their logsumexp log(0), as in torch.
		fill := 0.0
		switch op {
		case redMean:
			fill = math.NaN()
		case redLSE:
			fill = math.Inf(-1)
		}
		e.dev.Fill(y.st.r, math.Float32bits(float32(fill)))
		return y
	}
	if err := e.reduceRecord(op, x, lines, n, inner, y, false); err != nil {
		y.Release()
		return e.failed(err)
	}
	return y
}

// Sum returns the sum of x along axis (negative counts from the end), with
// that axis removed. Sums are float32 trees (error ~1e-6 relative for
// millions of elements); an empty axis sums to 0.
func Sum(x *Tensor, axis int) *Tensor { return reduce("Sum", redSum, x, false, axis) }

// Mean returns the mean of x along axis, with that axis removed; the mean
// of an empty axis is NaN, as in torch.
func Mean(x *Tensor, axis int) *Tensor { return reduce("Mean", redMean, x, false, axis) }

// Max returns the maximum of x along axis, with that axis removed. NaN
// propagates, as in torch.amax; an empty axis is a shape error.
func Max(x *Tensor, axis int) *Tensor { return reduce("Max", redMax, x, false, axis) }

// LogSumExp returns log(sum(exp(x))) along axis, with that axis removed,
// computed stably (online max and rescaled sum); an empty axis gives -inf.
func LogSumExp(x *Tensor, axis int) *Tensor { return reduce("LogSumExp", redLSE, x, false, axis) }

// Argmax returns the int32 index of the maximum of x along axis, with that
// axis removed. Ties go to the first index and NaN counts as the maximum,
// as in torch.argmax; an empty axis is a shape error.
func Argmax(x *Tensor, axis int) *Tensor { return reduce("Argmax", redArgmax, x, false, axis) }

// SumAll returns the sum of every element of x as a scalar (shape []int{}).
func SumAll(x *Tensor) *Tensor { return reduce("SumAll", redSum, x, true, 0) }

// MeanAll returns the mean of every element of x as a scalar; NaN when x is
// empty.
func MeanAll(x *Tensor) *Tensor { return reduce("MeanAll", redMean, x, true, 0) }

// MaxAll returns the largest element of x as a scalar; an empty x is a
// shape error.
func MaxAll(x *Tensor) *Tensor { return reduce("MaxAll", redMax, x, true, 0) }

// LogSumExpAll returns log(sum(exp(x))) over every element as a scalar;
// -inf when x is empty.
func LogSumExpAll(x *Tensor) *Tensor { return reduce("LogSumExpAll", redLSE, x, true, 0) }

// ArgmaxAll returns the flat row-major index of the first maximum of x as
// an int32 scalar; an empty x is a shape error.
func ArgmaxAll(x *Tensor) *Tensor { return reduce("ArgmaxAll", redArgmax, x, true, 0) }

// Softmax returns exp(x - max)/sum(exp(x - max)) along axis, with x's
// shape: stable for any finite input. A line of -inf, or one holding +inf
// or NaN, is NaN, as in torch; an empty x gives an empty result.
func Softmax(x *Tensor, axis int) *Tensor { return softmax("Softmax", x, axis, false) }

// LogSoftmax returns (x - max) - log(sum(exp(x - max))) along axis, with
// x's shape; special values follow the float64 twin (x - logsumexp(x)).
func LogSoftmax(x *Tensor, axis int) *Tensor { return softmax("LogSoftmax", x, axis, true) }

// softmax records Softmax or (log) LogSoftmax. Lines that fit a
// workgroup's registers take one read and one write; longer ones two
// reads; a few huge lines go through split reductions plus softmax_apply.
func softmax(name string, x *Tensor, axis int, log bool) *Tensor {
	e, err := inputs(name, x)
	if err != nil {
		return e.failed(err)
	}
	if x.dtype != Float32 {
		return e.failed(shapeErr(name, "needs float32, got %s", x.dtype))
	}
	a, err := normAxis(name, axis, len(x.shape))
	if err != nil {
		return e.failed(err)
	}
	y := e.alloc(Float32, x.shape)
	if y.err != nil || x.Numel() == 0 {
		return y
	}
	n, inner := x.shape[a], Numel(x.shape[a+1:])
	lines := Numel(x.shape[:a]) * inner
	logFlag := uint32(0)
	if log {
		logFlag = 1
	}
	numel := float64(x.Numel())
	vec := 1
	if inner == 1 && n%4 == 0 {
		vec = 4
	}
	units := n / vec
	tu := e.tuning()
	kmax := clampInt(tu.softmaxK/vec, 1, maxCacheUnits) // in units
	g := e.geom(lines, units, inner, kmax, tu.softmaxTY)
	if n >= softmaxSplitN && ceilDiv(lines, g.tx) < softmaxSplitGroups {
		// Few, huge lines: (max, sum) states from split workgroups, then a
		// write pass spread over the whole grid.
		st := e.alloc(Int32, []int{2 * lines})
		if st.err == nil {
			err = e.reduceRecord(redLSE, x, lines, n, inner, st, true)
		} else {
			err = st.err
		}
		if err != nil {
			st.Release()
			y.Release()
			return e.failed(err)
		}
		wg := tu.maxWG
		chunk := wg * applyPerLane * vec
		chunks := ceilDiv(n, chunk)
		e.run(softmaxApplyKernel, []uint32{u32(wg), logFlag, u32(vec)}, e.dev.Groups1D(lines*chunks, 1),
			[]uint32{u32(lines), u32(n), u32(inner), u32(chunks), u32(chunk)},
			vk.Work{Flops: 3 * numel, Bytes: 8 * numel}, in(x), in(st), out(y))
		st.Release()
		return y
	}
	k := 1 // streaming: the cached path is dead code
	if units <= g.ty*kmax {
		k = pow2Ceil(ceilDiv(units, g.ty))
	}
	e.run(softmaxKernel, []uint32{u32(g.wg()), u32(g.ty), u32(g.layout), u32(k), logFlag, treeRadix, u32(vec)},
		e.dev.Groups1D(ceilDiv(lines, g.tx), 1), []uint32{u32(lines), u32(n), u32(inner)},
		vk.Work{Flops: 4 * numel, Bytes: 8 * numel}, in(x), out(y))
	return y
}

// SoftmaxBytes is the memory traffic of a softmax over rows×cols float32
// values: one read and one write of each, the figure GB/s reports use.
func SoftmaxBytes(rows, cols int) float64 { return 2 * 4 * float64(rows) * float64(cols) }
