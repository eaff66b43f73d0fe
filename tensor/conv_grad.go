package tensor

import (
	"math"

	"github.com/tessera-ml/tessera/vk"
)

// Backward passes of Conv2d.
//
// dx (Conv2dBackwardInput) is a transposed convolution gathered per input
// pixel by shaders/conv2d_backward_input.comp: conv2d_sg's register-blocked
// design with lanes on input channels and dy broadcast by shuffles; the
// stride phases are specialization constants, so only contributing taps
// are computed. Very many output channels are split across dispatches that
// accumulate, to bound every invocation's loop.
//
// dw (Conv2dBackwardWeight) is a GEMM (M = Cout, N = Cin·KH·KW, K =
// N·Ho·Wo) by shaders/conv2d_backward_weight.comp: lanes on input
// channels, one x row segment serving every kx tap, dy broadcast (or, for
// few input channels, conv2d_backward_weight_co.comp: lanes on output
// channels, x broadcast); K is split across workgroups into partial slices
// (bounded loops, and enough workgroups when Cout·Cin is small) that
// conv2d_backward_weight_reduce.comp sums in a fixed order.
//
// Geometries those kernels cannot unroll (windows over 64 taps, strides
// over 4, wide dilations) and GPUs take simple one-output-per-invocation
// kernels (conv2d_backward_*_naive.comp), split the same ways. A pointwise
// convolution (1×1, stride 1, no padding) is a GEMM: both gradients use
// Matmul, which measured faster there.

var (
	convBwdInputKernel        = vk.KernelSpec{Name: "conv2d_backward_input", Buffers: 3, PushWords: 15}
	convBwdInputNaiveKernel   = vk.KernelSpec{Name: "conv2d_backward_input_naive", Buffers: 3, PushWords: 18}
	convBwdWeightKernel       = vk.KernelSpec{Name: "conv2d_backward_weight", Buffers: 3, PushWords: 16}
	convBwdWeightCoKernel     = vk.KernelSpec{Name: "conv2d_backward_weight_co", Buffers: 3, PushWords: 16}
	convBwdWeightNaiveKernel  = vk.KernelSpec{Name: "conv2d_backward_weight_naive", Buffers: 3, PushWords: 18}
	convBwdWeightReduceKernel = vk.KernelSpec{Name: "conv2d_backward_weight_reduce", Buffers: 2, PushWords: 2}
)

// convGradNaive forces the naive kernels (tests only).
var convGradNaive = false

// convGradMatmul lets a pointwise convolution's gradients use Matmul,
// which is faster there than the convolution kernels (tests turn it off
// to cover those).
var convGradMatmul = true

// convGradMatmulMaxK bounds the positions per image of dw by Matmul: its
// CPU kernel loops over K/4 and must stay below llvmpipe's loop cap.
const convGradMatmulMaxK = 1 << 17

// convPointwise reports whether a convolution is a matmul over positions:
// a 1×1 kernel, stride 1, no padding (dilation does nothing then).
func convPointwise(g convGeom) bool {
	p := g.p
	return g.kh == 1 && g.kw == 1 && p.StrideH == 1 && p.StrideW == 1 && p.PadH == 0 && p.PadW == 0
}

// convGradLoopForce, when positive, overrides the loop bounds (dx output
// channels per dispatch, dw steps per split) so tests reach the splits
// with small tensors.
var convGradLoopForce = 0

// convGradMaxLoop bounds every backward invocation's loop iterations, far
// below llvmpipe's cap of 65,535.
const convGradMaxLoop = 8192

// convGeom is a checked convolution: sizes and normalised params.
type convGeom struct {
	n, cin, h, w, cout, kh, kw, ho, wo int
	p                                  ConvParams
}

// convGradParams checks p and returns it normalised.
func convGradParams(op string, p ConvParams) (ConvParams, error) {
	if p.StrideH < 0 || p.StrideW < 0 || p.DilH < 0 || p.DilW < 0 || p.PadH < 0 || p.PadW < 0 {
		return p, shapeErr(op, "negative stride, padding or dilation %+v", p)
	}
	return p.norm(), nil
}

// convGradGeom derives the geometry from the input size and kernel size,
// and checks that dy is the forward's output shape.
func convGradGeom(op string, dy *Tensor, n, cin, h, w, cout, kh, kw int, p ConvParams) (convGeom, error) {
	g := convGeom{n: n, cin: cin, h: h, w: w, cout: cout, kh: kh, kw: kw, p: p}
	if kh <= 0 || kw <= 0 {
		return g, shapeErr(op, "kernel size %d×%d", kh, kw)
	}
	if h < 0 || w < 0 {
		return g, shapeErr(op, "input size %d×%d", h, w)
	}
	g.ho = ConvOutSize(h, kh, p.StrideH, p.PadH, p.DilH)
	g.wo = ConvOutSize(w, kw, p.StrideW, p.PadW, p.DilW)
	if g.ho <= 0 || g.wo <= 0 {
		return g, shapeErr(op, "a %d×%d kernel does not fit a %d×%d input with %+v", kh, kw, h, w, p)
	}
	if want := []int{n, cout, g.ho, g.wo}; !sameShape(dy.shape, want) {
		return g, shapeErr(op, "dy is %v, want %v", dy.shape, want)
	}
	if float64(n)*float64(max(cin, cout))*float64(max(h*w, g.ho*g.wo)) >= 1<<31 ||
		float64(cout)*float64(cin)*float64(kh*kw) >= 1<<31 {
		return g, shapeErr(op, "%v exceeds 32-bit indexing", dy.shape)
	}
	return g, nil
}

// convGradFast reports whether the register-blocked backward kernels suit
// the device: like conv2d_sg they are for CPU drivers, where a subgroup is
// a SIMD register (shuffles are cheap, and hundreds of accumulators spill
// to a cached stack), with whole 8-lane groups. On GPUs, where they would
// spill registers and run one subgroup per workgroup, the naive kernels
// (one output per invocation, coalesced) are the better fit.
func (e *Engine) convGradFast() bool {
	info := &e.dev.Info
	sg := int(info.SubgroupSize)
	return !convGradNaive && info.Type == vk.TypeCPU && sg >= 8 && sg%8 == 0 &&
		sg <= int(info.MaxInvocations) && sg <= int(info.MaxWorkgroupSize[0])
}

// Conv2dBackwardInput returns the gradient with respect to x [N, Cin, inH,
// inW] of Conv2d(x, w, _, p) for the output gradient dy [N, Cout, Ho, Wo];
// w is [Cout, Cin, KH, KW]. inH and inW are needed because several input
// sizes give the same output size with a stride. Shape problems are sticky
// ErrShape errors.
func Conv2dBackwardInput(dy, w *Tensor, inH, inW int, p ConvParams) *Tensor {
	const op = "Conv2dBackwardInput"
	e, err := inputs(op, dy, w)
	if err != nil {
		return e.failed(err)
	}
	if dy.dtype != Float32 || w.dtype != Float32 {
		return e.failed(shapeErr(op, "needs float32 tensors"))
	}
	if dy.Rank() != 4 || w.Rank() != 4 {
		return e.failed(shapeErr(op, "want dy [N, Cout, Ho, Wo] and w [Cout, Cin, KH, KW], got %v and %v", dy.shape, w.shape))
	}
	if p, err = convGradParams(op, p); err != nil {
		return e.failed(err)
	}
	if w.shape[0] != dy.shape[1] {
		return e.failed(shapeErr(op, "weight %v does not match the %d channels of dy %v", w.shape, dy.shape[1], dy.shape))
	}
	g, err := convGradGeom(op, dy, dy.shape[0], w.shape[1], inH, inW, w.shape[0], w.shape[2], w.shape[3], p)
	if err != nil {
		return e.failed(err)
	}
	if convGradMatmul && convPointwise(g) {
		// dx[n] = wᵀ·dy[n]: a batched GEMM with w broadcast.
		w2, dy3 := w.Reshape(g.cout, g.cin), dy.Reshape(g.n, g.cout, g.h*g.w)
		m := Matmul(w2, dy3, true, false)
		dx := m.Reshape(g.n, g.cin, g.h, g.w)
		w2.Release()
		dy3.Release()
		m.Release()
		return dx
	}
	dx := e.alloc(Float32, []int{g.n, g.cin, g.h, g.w})
	if dx.err != nil || dx.Numel() == 0 {
		return dx
	}
	if g.cout == 0 {
		e.dev.Fill(dx.st.r, math.Float32bits(0))
		return dx
	}
	if e.convGradFast() && convBwdInputGeometry(g) {
		e.conv2dBwdInput(g, dy, w, dx)
	} else {
		e.conv2dBwdInputNaive(g, dy, w, dx)
	}
	return dx
}

// convBwdInputGeometry reports whether conv2d_backward_input can unroll
// the window and pack the geometry (6-bit strides and dilations, 3-bit
// stride phases, phases whose floor division stays in range).
func convBwdInputGeometry(g convGeom) bool {
	p := g.p
	return g.kh*g.kw <= 64 && p.StrideH <= 4 && p.StrideW <= 4 && p.DilH*(g.kh-1) <= 32 && p.DilW*(g.kw-1) <= 32
}

// convBwdTile is conv2d_backward_input's register block: rows×cols dx
// positions for cv vectors of input channels, ci output channels a step.
type convBwdTile struct{ rows, cols, cv, ci int }

// convBwdTileForce, when non-zero, overrides the dx block (benchmarks).
var convBwdTileForce convBwdTile

// convTapHits counts the (position, tap) pairs of one axis of a tile of
// size positions that contribute: position r and tap k meet when
// r + pad − k·dil is a multiple of the stride.
func convTapHits(size, k, stride, padMod, dil int) int {
	hits := 0
	for r := 0; r < size; r++ {
		for t := 0; t < k; t++ {
			if ((r+padMod-t*dil)%stride+stride)%stride == 0 {
				hits++
			}
		}
	}
	return hits
}

// convBwdInputPlan picks the dx block with conv2d_sg's cost model (see
// convSGPlan): a gathered dy value costs a gather lane and a shuffle and
// serves every tap that reaches it for cv channel vectors; a weight gather
// serves every tile position its tap reaches. The tile is scaled by the
// stride (a stride-s tile of s·8 × s·16 positions reads about as much dy
// and does about as many FMAs as a stride-1 tile of 8×16), widened while
// the dy pieces per row stay the same, and shrunk to keep the unrolled
// FMAs bounded; rows and columns stay multiples of the stride.
func convBwdInputPlan(g convGeom, sg int) convBwdTile {
	if convBwdTileForce.rows > 0 {
		return convBwdTileForce
	}
	p := g.p
	sh, sw := p.StrideH, p.StrideW
	ph, pw := p.PadH%sh, p.PadW%sw
	vecs := (g.cin + sg - 1) / sg
	t := convBwdTile{rows: 8 * sh, cols: 16 * sw, cv: min(2, vecs), ci: 1}
	if g.kh*g.kw == 1 {
		t = convBwdTile{rows: 8 * sh, cols: 8 * sw, cv: min(8, vecs), ci: 2}
	}
	pieces := func(cols int) int {
		lo := convFloorDiv(pw-(g.kw-1)*p.DilW, sw)
		return (convFloorDiv(cols-1+pw, sw) - lo + 8) / 8
	}
	for pieces(t.cols+sw) == pieces(t.cols) && t.cols < 24*sw {
		t.cols += sw
	}
	const maxFMA = 3200
	fmas := func(t convBwdTile) int {
		return t.cv * t.ci * convTapHits(t.rows, g.kh, sh, ph, p.DilH) * convTapHits(t.cols, g.kw, sw, pw, p.DilW)
	}
	for fmas(t) > maxFMA && t.rows*t.cols > sh*sw {
		if 2*t.rows >= t.cols && t.rows > sh {
			t.rows = convRoundUp((t.rows+1)/2, sh)
		} else {
			t.cols = convRoundUp((t.cols+1)/2, sw)
		}
	}
	t.rows = convRoundUp(convSpread(g.h, t.rows), sh)
	t.cols = convRoundUp(convSpread(g.w, t.cols), sw)
	return t
}

// convRoundUp is v rounded up to a multiple of m.
func convRoundUp(v, m int) int { return (v + m - 1) / m * m }

// convSpread splits n into the fewest tiles of at most most and returns
// the tile size that spreads n evenly over them (n, most ≥ 1).
func convSpread(n, most int) int {
	tiles := (n + most - 1) / most
	return (n + tiles - 1) / tiles
}

// convFloorDiv is a/b rounded down (b > 0).
func convFloorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func (e *Engine) conv2dBwdInput(g convGeom, dy, w, dx *Tensor) {
	p := g.p
	h, wd, ho, wo := g.h, g.w, g.ho, g.wo
	kh, kw := g.kh, g.kw
	if kh == 1 {
		p.DilH = 1
	}
	if kw == 1 {
		p.DilW = 1
	}
	if kh == 1 && kw == 1 && p.StrideH == 1 && p.StrideW == 1 && p.PadH == 0 && p.PadW == 0 && (h*wd)%8 == 0 {
		// Pointwise: view the positions as rows of 8, which tile exactly.
		h, wd = h*wd/8, 8
		ho, wo = h, wd
	}
	gg := g
	gg.h, gg.w, gg.ho, gg.wo, gg.p = h, wd, ho, wo, p
	sg := int(e.dev.Info.SubgroupSize)
	t := convBwdInputPlan(gg, sg)
	tilesX := (wd + t.cols - 1) / t.cols
	tilesY := (h + t.rows - 1) / t.rows
	ciTiles := (g.cin + sg*t.cv - 1) / (sg * t.cv)
	tiles := g.n * tilesY * tilesX * ciTiles
	sd := p.StrideH | p.StrideW<<6 | p.DilH<<12 | p.DilW<<18 | (p.PadH%p.StrideH)<<24 | (p.PadW%p.StrideW)<<27
	if wd%4 == 0 && t.cols%4 == 0 {
		sd |= 1 << 30
	}
	consts := []uint32{u32(sg), u32(kh), u32(kw), u32(sd), u32(t.rows), u32(t.cols), u32(t.cv), u32(t.ci)}
	chunk := convGradMaxLoop * t.ci
	if convGradLoopForce > 0 {
		chunk = convGradLoopForce
	}
	work := convGradWork(g, dy, w, dx)
	for co0 := 0; co0 < g.cout; co0 += chunk {
		co1 := min(co0+chunk, g.cout)
		push := []uint32{u32(g.cin), u32(h), u32(wd), u32(g.cout), u32(ho), u32(wo), u32(p.PadH), u32(p.PadW),
			u32(tilesX), u32(tilesY), u32(ciTiles), u32(tiles), u32(co0), u32(co1), b2u(co0 > 0)}
		arg := out(dx)
		if co0 > 0 {
			arg = inout(dx)
		}
		e.run(convBwdInputKernel, consts, e.dev.Groups1D(tiles, 1), push, convGradShare(work, co1-co0, g.cout), in(dy), in(w), arg)
	}
}

func (e *Engine) conv2dBwdInputNaive(g convGeom, dy, w, dx *Tensor) {
	p := g.p
	total := dx.Numel()
	chunk := max(1, convGradMaxLoop/(g.kh*g.kw))
	if convGradLoopForce > 0 {
		chunk = convGradLoopForce
	}
	work := convGradWork(g, dy, w, dx)
	for co0 := 0; co0 < g.cout; co0 += chunk {
		co1 := min(co0+chunk, g.cout)
		push := []uint32{u32(g.cin), u32(g.h), u32(g.w), u32(g.cout), u32(g.ho), u32(g.wo),
			u32(g.kh), u32(g.kw), u32(p.StrideH), u32(p.StrideW), u32(p.PadH), u32(p.PadW), u32(p.DilH), u32(p.DilW),
			u32(total), u32(co0), u32(co1), b2u(co0 > 0)}
		arg := out(dx)
		if co0 > 0 {
			arg = inout(dx)
		}
		e.run(convBwdInputNaiveKernel, []uint32{u32(e.wg)}, e.groups1D(total), push, convGradShare(work, co1-co0, g.cout), in(dy), in(w), arg)
	}
}

// convGradWork is the arithmetic and traffic of either backward: the
// forward's flops.
func convGradWork(g convGeom, a, b, c *Tensor) vk.Work {
	flops := 2 * float64(g.n) * float64(g.cout) * float64(g.ho*g.wo) * float64(g.cin*g.kh*g.kw)
	return vk.Work{Flops: flops, Bytes: 4 * float64(a.Numel()+b.Numel()+c.Numel())}
}

// convGradShare is the part of w done by a dispatch covering part of all.
func convGradShare(w vk.Work, part, all int) vk.Work {
	f := float64(part) / float64(all)
	return vk.Work{Flops: w.Flops * f, Bytes: w.Bytes * f}
}

// Conv2dBackwardWeight returns the gradient with respect to w [Cout, Cin,
// kh, kw] of Conv2d(x, w, _, p) for the output gradient dy [N, Cout, Ho,
// Wo]; x is [N, Cin, H, W]. Shape problems are sticky ErrShape errors.
func Conv2dBackwardWeight(x, dy *Tensor, kh, kw int, p ConvParams) *Tensor {
	const op = "Conv2dBackwardWeight"
	e, err := inputs(op, x, dy)
	if err != nil {
		return e.failed(err)
	}
	if x.dtype != Float32 || dy.dtype != Float32 {
		return e.failed(shapeErr(op, "needs float32 tensors"))
	}
	if x.Rank() != 4 || dy.Rank() != 4 {
		return e.failed(shapeErr(op, "want x [N, Cin, H, W] and dy [N, Cout, Ho, Wo], got %v and %v", x.shape, dy.shape))
	}
	if p, err = convGradParams(op, p); err != nil {
		return e.failed(err)
	}
	g, err := convGradGeom(op, dy, x.shape[0], x.shape[1], x.shape[2], x.shape[3], dy.shape[1], kh, kw, p)
	if err != nil {
		return e.failed(err)
	}
	if convGradMatmul && convPointwise(g) && g.h*g.w <= convGradMatmulMaxK {
		// dw = Σ_n dy[n]·x[n]ᵀ: a batched GEMM, then a sum over the batch.
		dy3, x3 := dy.Reshape(g.n, g.cout, g.h*g.w), x.Reshape(g.n, g.cin, g.h*g.w)
		m := Matmul(dy3, x3, false, true)
		dy3.Release()
		x3.Release()
		s := m
		if g.n != 1 {
			s = Sum(m, 0)
			m.Release()
		}
		dw := s.Reshape(g.cout, g.cin, 1, 1)
		s.Release()
		return dw
	}
	dw := e.alloc(Float32, []int{g.cout, g.cin, kh, kw})
	if dw.err != nil || dw.Numel() == 0 {
		return dw
	}
	if g.n == 0 {
		e.dev.Fill(dw.st.r, math.Float32bits(0))
		return dw
	}
	var run func(convGeom, *Tensor, *Tensor, *Tensor) error
	if e.convGradFast() && convBwdWeightGeometry(g) {
		run = e.conv2dBwdWeight
	} else {
		run = e.conv2dBwdWeightNaive
	}
	if err := run(g, x, dy, dw); err != nil {
		dw.Release()
		return e.failed(err)
	}
	return dw
}

// convWTile is a dw block: p output positions a step and, for
// conv2d_backward_weight (lanes on input channels), cv vectors of input
// channels and co output channels per invocation, or, with coLanes, for
// conv2d_backward_weight_co, cv vectors of output channels and ci input
// channels.
type convWTile struct {
	p, cv, co, ci int
	coLanes       bool
}

// tiles is the number of output blocks: workgroups per split.
func (t convWTile) tiles(g convGeom, sg int) (coTiles, ciTiles int) {
	if t.coLanes {
		return (g.cout + sg*t.cv - 1) / (sg * t.cv), (g.cin + t.ci - 1) / t.ci
	}
	return (g.cout + t.co - 1) / t.co, (g.cin + sg*t.cv - 1) / (sg * t.cv)
}

// convWTileForce, when non-zero, overrides the dw block (benchmarks).
var convWTileForce convWTile

// convWSeg is how many x columns a step of p positions spans.
func convWSeg(g convGeom, p int) int { return (p-1)*g.p.StrideW + (g.kw-1)*g.p.DilW + 1 }

// convBwdWeightGeometry reports whether conv2d_backward_weight can unroll
// the window and its row segment.
func convBwdWeightGeometry(g convGeom) bool {
	return g.kh*g.kw <= 64 && g.p.StrideW <= 8 && convWSeg(g, 8) <= 64
}

// convWMaxFMA bounds the unrolled FMAs of a dw step (and so its
// accumulators), which bounds compile time and spills.
const convWMaxFMA = 4608

// convBwdWeightPlan picks the dw kernel and block by a cost model of
// Lavapipe (see convSGPlan): per step, a gather costs about 100
// instructions, a shuffle 1 and an FMA (with its share of accumulator
// spills) 1.25; the plan with the fewest instructions over all its tiles
// wins.
//
// Lanes on input channels: x costs cv·KH·seg gathers, dy co gathers of 8
// positions and 8·co shuffles, for cv·KH·KW·co·p FMAs: many output
// channels make x cheap, the shared row segment makes dy cheap. 64 output
// channels with one channel vector measured fastest for 3×3 windows; fewer
// output channels or taps take more channel vectors within the budget.
//
// Lanes on output channels: dy costs cv·p gathers, x ci·KH·⌈seg/8⌉
// gathers and 8 shuffles each, for cv·ci·KH·KW·p FMAs. It wins when few
// input channels would leave most lanes of the other idle (an image's 1
// or 3 channels).
func convBwdWeightPlan(g convGeom, sg int) convWTile {
	if convWTileForce.p > 0 {
		return convWTileForce
	}
	kk := g.kh * g.kw
	seg := convWSeg(g, 8)
	// Channel counts not held in lanes are spread evenly over their tiles.
	a := convWTile{p: 8, co: convSpread(g.cout, 64)}
	a.cv = max(1, min(convWMaxFMA/(kk*a.co*a.p), 8, (g.cin+sg-1)/sg))
	b := convWTile{p: 8, cv: min(4, (g.cout+sg-1)/sg), coLanes: true}
	b.ci = convSpread(g.cin, max(1, convWMaxFMA/(kk*b.cv*b.p)))
	cost := func(t convWTile) float64 {
		var gathers, shuffles, fmas int
		if t.coLanes {
			gathers = t.cv*t.p + t.ci*g.kh*((seg+7)/8)
			shuffles = 8 * t.ci * g.kh * ((seg + 7) / 8)
			fmas = t.cv * t.ci * kk * t.p
		} else {
			gathers = t.cv*g.kh*seg + t.co*t.p/8
			shuffles = t.co * t.p
			fmas = t.cv * kk * t.co * t.p
		}
		co, ci := t.tiles(g, sg)
		return float64(co*ci) * (100*float64(gathers) + float64(shuffles) + 1.25*float64(fmas))
	}
	if cost(b) < cost(a) {
		return b
	}
	return a
}

// convWSplits splits units steps of work over enough workgroups: each
// loops at most maxLoop times, and tiles·splits reaches the device's
// appetite for workgroups unless a split would get under 16 steps.
func (e *Engine) convWSplits(units, tiles, maxLoop int) (splits, per int) {
	target := 64
	if e.dev.Info.Type != vk.TypeCPU {
		target = 4096
	}
	splits = (units + maxLoop - 1) / maxLoop
	if tiles*splits < target {
		splits = max(splits, min((target+tiles-1)/tiles, units/16))
	}
	splits = max(splits, 1)
	per = (units + splits - 1) / splits
	return (units + per - 1) / per, per
}

func (e *Engine) conv2dBwdWeight(g convGeom, x, dy, dw *Tensor) error {
	p := g.p
	kh, kw := g.kh, g.kw
	h, wd, ho, wo := g.h, g.w, g.ho, g.wo
	if kh == 1 && kw == 1 && p.StrideH == 1 && p.StrideW == 1 && p.PadH == 0 && p.PadW == 0 && (h*wd)%8 == 0 {
		h, wd = h*wd/8, 8
		ho, wo = h, wd
	}
	if kw == 1 {
		p.DilW = 1
	}
	gg := g
	gg.h, gg.w, gg.ho, gg.wo, gg.p = h, wd, ho, wo, p
	sg := int(e.dev.Info.SubgroupSize)
	t := convBwdWeightPlan(gg, sg)
	tilesX := (wo + t.p - 1) / t.p
	units := g.n * ho * tilesX
	coTiles, ciTiles := t.tiles(gg, sg)
	spec, last := convBwdWeightKernel, t.co
	if t.coLanes {
		spec, last = convBwdWeightCoKernel, t.ci
	}
	maxLoop := convGradMaxLoop
	if convGradLoopForce > 0 {
		maxLoop = convGradLoopForce
	}
	splits, per := e.convWSplits(units, coTiles*ciTiles, maxLoop)
	groups := coTiles * ciTiles * splits
	consts := []uint32{u32(sg), u32(kh), u32(kw), u32(p.StrideW | p.DilW<<8), u32(t.p), u32(t.cv), u32(last)}
	push := []uint32{u32(g.cin), u32(h), u32(wd), u32(g.cout), u32(ho), u32(wo),
		u32(p.StrideH), u32(p.DilH), u32(p.PadH), u32(p.PadW),
		u32(tilesX), u32(coTiles), u32(ciTiles), u32(units), u32(per), u32(groups)}
	return e.convWPasses(spec, consts, e.dev.Groups1D(groups, 1), push, splits, convGradWork(g, x, dy, dw), x, dy, dw)
}

func (e *Engine) conv2dBwdWeightNaive(g convGeom, x, dy, dw *Tensor) error {
	p := g.p
	m := dw.Numel()
	units := g.n * g.ho * g.wo
	maxLoop := convGradMaxLoop
	if convGradLoopForce > 0 {
		maxLoop = convGradLoopForce
	}
	splits, per := e.convWSplits(units, (m+e.wg-1)/e.wg, maxLoop)
	total := m * splits
	push := []uint32{u32(g.cin), u32(g.h), u32(g.w), u32(g.cout), u32(g.ho), u32(g.wo),
		u32(g.kh), u32(g.kw), u32(p.StrideH), u32(p.StrideW), u32(p.PadH), u32(p.PadW), u32(p.DilH), u32(p.DilW),
		u32(m), u32(total), u32(units), u32(per)}
	return e.convWPasses(convBwdWeightNaiveKernel, []uint32{u32(e.wg)}, e.groups1D(total), push, splits, convGradWork(g, x, dy, dw), x, dy, dw)
}

// convWPasses records a dw kernel, into dw directly when there is one
// split, else into partial slices that a second pass sums.
func (e *Engine) convWPasses(spec vk.KernelSpec, consts []uint32, groups [3]uint32, push []uint32, splits int, work vk.Work, x, dy, dw *Tensor) error {
	if splits == 1 {
		e.run(spec, consts, groups, push, work, in(x), in(dy), out(dw))
		return nil
	}
	m := dw.Numel()
	if float64(splits)*float64(m) >= 1<<31 {
		return shapeErr("Conv2dBackwardWeight", "%d partial sums of %v exceed 32-bit indexing", splits, dw.shape)
	}
	part := e.alloc(Float32, []int{splits, m})
	if part.err != nil {
		return part.err
	}
	e.run(spec, consts, groups, push, work, in(x), in(dy), out(part))
	e.run(convBwdWeightReduceKernel, []uint32{u32(e.wg)}, e.groups1D(m), []uint32{u32(m), u32(splits)},
		vk.Work{Flops: float64(m * splits), Bytes: 4 * float64(m*(splits+1))}, in(part), out(dw))
	part.Release()
	return nil
}

// Conv2dBackwardBias returns the gradient with respect to the bias [Cout]
// of Conv2d for the output gradient dy [N, Cout, Ho, Wo]: the sum of dy
// over N, Ho and Wo.
func Conv2dBackwardBias(dy *Tensor) *Tensor {
	const op = "Conv2dBackwardBias"
	e, err := inputs(op, dy)
	if err != nil {
		return e.failed(err)
	}
	if dy.dtype != Float32 || dy.Rank() != 4 {
		return e.failed(shapeErr(op, "want float32 dy [N, Cout, Ho, Wo], got %v %s", dy.shape, dy.dtype))
	}
	n, c := dy.shape[0], dy.shape[1]
	v := dy.Reshape(n, c, dy.shape[2]*dy.shape[3])
	s := Sum(v, 2)
	v.Release()
	if n == 1 {
		db := s.Reshape(c)
		s.Release()
		return db
	}
	db := Sum(s, 0)
	s.Release()
	return db
}
