package tensor

import (
	"github.com/tessera-ml/tessera/vk"
)

var (
	conv2dKernel    = vk.KernelSpec{Name: "conv2d", Buffers: 4, PushWords: 18}
	conv2dSGKernel  = vk.KernelSpec{Name: "conv2d_sg", Buffers: 4, PushWords: 13}
	conv2dAnyKernel = vk.KernelSpec{Name: "conv2d_sg_any", Buffers: 4, PushWords: 18}
)

// ConvParams are a convolution's stride, padding and dilation; a zero
// stride or dilation means 1.
type ConvParams struct{ StrideH, StrideW, PadH, PadW, DilH, DilW int }

// norm returns p with zero strides and dilations replaced by 1.
func (p ConvParams) norm() ConvParams {
	one := func(v *int) {
		if *v == 0 {
			*v = 1
		}
	}
	one(&p.StrideH)
	one(&p.StrideW)
	one(&p.DilH)
	one(&p.DilW)
	return p
}

// ConvOutSize is PyTorch's output size formula:
// (in + 2*pad - dil*(k-1) - 1)/stride + 1, with floor division, so a
// kernel that does not fit the padded input gives a size ≤ 0. A zero stride
// or dilation means 1.
func ConvOutSize(in, k, stride, pad, dil int) int {
	if stride == 0 {
		stride = 1
	}
	if dil == 0 {
		dil = 1
	}
	span := in + 2*pad - dil*(k-1) - 1
	if span < 0 {
		return (span-stride+1)/stride + 1
	}
	return span/stride + 1
}

// Conv2dFlops is 2·N·Cout·Ho·Wo·Cin·KH·KW, the arithmetic of a Conv2d
// (for benchmarks); 0 when the kernel does not fit.
func Conv2dFlops(n, cin, h, w, cout, kh, kw int, p ConvParams) float64 {
	p = p.norm()
	ho := ConvOutSize(h, kh, p.StrideH, p.PadH, p.DilH)
	wo := ConvOutSize(w, kw, p.StrideW, p.PadW, p.DilW)
	if ho <= 0 || wo <= 0 {
		return 0
	}
	return 2 * float64(n) * float64(cout) * float64(ho) * float64(wo) * float64(cin) * float64(kh) * float64(kw)
}

// convPath picks a kernel: convAuto chooses from the device (and, on CPUs,
// from the window); tests force the others to cover all of them on any
// device.
type convPath int

const (
	convAuto convPath = iota
	convSG            // conv2d_sg: registers and subgroup shuffles (CPU devices)
	convGEMM          // conv2d: shared-memory implicit GEMM (GPUs)
	convAny           // conv2d_sg_any: conv2d_sg's method without unrolling the window (CPU devices)
)

// convForce overrides the kernel choice (tests and benchmarks only).
var convForce = convAuto

// convTile is conv2d_sg's register block: rows×cols output positions for
// cv vectors of output channels per invocation.
type convTile struct{ rows, cols, cv, ci int }

// convTileForce, when non-zero, overrides the sg tile (benchmarks only).
var convTileForce convTile

// Conv2d returns the 2-D cross-correlation of x [N, Cin, H, W] with
// w [Cout, Cin, KH, KW], plus bias [Cout] when bias is non-nil, as
// [N, Cout, Ho, Wo] (PyTorch's conv2d with groups = 1 and zero padding).
// Shape problems are sticky ErrShape errors.
func Conv2d(x, w, bias *Tensor, p ConvParams) *Tensor {
	ts := []*Tensor{x, w}
	if bias != nil {
		ts = append(ts, bias)
	}
	e, err := inputs("Conv2d", ts...)
	if err != nil {
		return e.failed(err)
	}
	if x.dtype != Float32 || w.dtype != Float32 || (bias != nil && bias.dtype != Float32) {
		return e.failed(shapeErr("Conv2d", "needs float32 tensors"))
	}
	if x.Rank() != 4 || w.Rank() != 4 {
		return e.failed(shapeErr("Conv2d", "want x [N, Cin, H, W] and w [Cout, Cin, KH, KW], got %v and %v", x.shape, w.shape))
	}
	if p.StrideH < 0 || p.StrideW < 0 || p.DilH < 0 || p.DilW < 0 || p.PadH < 0 || p.PadW < 0 {
		return e.failed(shapeErr("Conv2d", "negative stride, padding or dilation %+v", p))
	}
	p = p.norm()
	n, cin, h, wd := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	cout, kh, kw := w.shape[0], w.shape[2], w.shape[3]
	if w.shape[1] != cin {
		return e.failed(shapeErr("Conv2d", "weight %v does not match the %d input channels of x %v", w.shape, cin, x.shape))
	}
	if kh == 0 || kw == 0 {
		return e.failed(shapeErr("Conv2d", "empty kernel %v", w.shape))
	}
	if bias != nil && (bias.Rank() != 1 || bias.shape[0] != cout) {
		return e.failed(shapeErr("Conv2d", "bias %v, want [%d] for weight %v", bias.shape, cout, w.shape))
	}
	ho := ConvOutSize(h, kh, p.StrideH, p.PadH, p.DilH)
	wo := ConvOutSize(wd, kw, p.StrideW, p.PadW, p.DilW)
	if ho <= 0 || wo <= 0 {
		return e.failed(shapeErr("Conv2d", "kernel %v does not fit input %v with padding (%d, %d), dilation (%d, %d): output %d×%d",
			w.shape, x.shape, p.PadH, p.PadW, p.DilH, p.DilW, ho, wo))
	}
	y := e.alloc(Float32, []int{n, cout, ho, wo})
	if y.err != nil || y.Numel() == 0 {
		return y
	}
	if cin == 0 {
		// An empty sum: the result is the bias alone.
		e.dev.Fill(y.st.r, 0)
		if bias != nil {
			b := bias.Reshape(cout, 1, 1)
			z := Add(y, b)
			b.Release()
			y.Release()
			return z
		}
		return y
	}
	path := convForce
	if path == convAuto {
		path = convGEMM
		if e.convSGDevice() {
			path = convSG
		}
	}
	if path == convSG && !convSGGeometry(kh, kw, p) {
		path = convAny
	}
	switch path {
	case convSG:
		e.conv2dSG(x, w, bias, y, p)
	case convAny:
		e.conv2dAny(x, w, bias, y, p)
	default:
		e.conv2dGEMM(x, w, bias, y, p)
	}
	return y
}

// convSGDevice reports whether conv2d_sg suits the device: it is for CPU
// drivers, where a subgroup is a SIMD register (so shuffles are cheap and
// shared memory is no faster than a gather), with whole 8-lane groups.
func (e *Engine) convSGDevice() bool {
	info := &e.dev.Info
	sg := int(info.SubgroupSize)
	return info.Type == vk.TypeCPU && sg >= 8 && sg%8 == 0 && sg <= int(info.MaxInvocations)
}

// convSGGeometry reports whether conv2d_sg can take a kernel window: it
// unrolls the window, so that must stay small, and packs strides and
// dilations into 6 bits each.
func convSGGeometry(kh, kw int, p ConvParams) bool {
	return kh*kw <= 64 && p.StrideH <= 4 && p.StrideW <= 4 && p.DilH*(kh-1) <= 32 && p.DilW*(kw-1) <= 32
}

// convSGPlan chooses conv2d_sg's register block from costs measured on
// Lavapipe, where every buffer load is a per-lane gather (~10 ns for 8
// lanes), a constant-index shuffle ~1 ns and an FMA a fraction of that: an
// input value costs a gather lane and a shuffle and serves cv·KH·KW FMAs; a
// weight gather serves rows·cols FMAs. A window of 3×3 or more reuses each
// input value enough with two channel vectors (16 channels) over about 8×16
// positions, widened until the last 8-wide piece of each input row is full;
// a 1×1 kernel reuses it only across channels, so it takes 8 channel
// vectors and two input channels per step (which halves the accumulator
// spill traffic). Tiles are then fitted to the output so that edge tiles
// waste little, and the unrolled window is bounded so that compile time and
// spills stay reasonable.
func convSGPlan(cout, ho, wo, kh, kw int, p ConvParams, sg int) convTile {
	if convTileForce.rows > 0 {
		return convTileForce
	}
	vecs := (cout + sg - 1) / sg
	t := convTile{rows: 8, cols: 16, cv: min(2, vecs), ci: 1}
	if kh*kw == 1 {
		t = convTile{rows: 8, cols: 8, cv: min(8, vecs), ci: 2}
	}
	pieces := func(cols int) int { return ((cols-1)*p.StrideW + (kw-1)*p.DilW + 8) / 8 }
	for pieces(t.cols+1) == pieces(t.cols) && t.cols < 24 {
		t.cols++
	}
	const maxFMA = 3200 // unrolled FMAs per step (8·22·2·3·3 = 3168)
	// Shrink the longer side: a squarer tile shares more of its halo.
	for t.cv*t.ci*t.rows*t.cols*kh*kw > maxFMA && t.rows*t.cols > 1 {
		if 2*t.rows >= t.cols {
			t.rows = (t.rows + 1) / 2
		} else {
			t.cols = (t.cols + 1) / 2
		}
	}
	t.rows = fitTile(ho, t.rows)
	t.cols = fitTile(wo, t.cols)
	return t
}

// fitTile splits n into the fewest tiles of at most most and returns the
// tile size that spreads n evenly over them.
func fitTile(n, most int) int {
	tiles := (n + most - 1) / most
	return (n + tiles - 1) / tiles
}

func (e *Engine) conv2dSG(x, w, bias, y *Tensor, p ConvParams) {
	n, cin, h, wd := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	cout, kh, kw := w.shape[0], w.shape[2], w.shape[3]
	ho, wo := y.shape[2], y.shape[3]
	// A dilation does nothing along an axis of kernel size 1: normalising it
	// saves building another pipeline.
	if kh == 1 {
		p.DilH = 1
	}
	if kw == 1 {
		p.DilW = 1
	}
	if kh == 1 && kw == 1 && p.StrideH == 1 && p.StrideW == 1 && p.PadH == 0 && p.PadW == 0 && (h*wd)%8 == 0 {
		// A plain 1×1 convolution is a GEMM over each image's positions:
		// viewed as rows of 8 they tile exactly, whatever the image width.
		h, wd = h*wd/8, 8
		ho, wo = h, wd
	}
	sg := int(e.dev.Info.SubgroupSize)
	t := convSGPlan(cout, ho, wo, kh, kw, p, sg)
	tilesX := (wo + t.cols - 1) / t.cols
	tilesY := (ho + t.rows - 1) / t.rows
	coTiles := (cout + sg*t.cv - 1) / (sg * t.cv)
	tiles := n * tilesY * tilesX * coTiles
	hasBias, b := 0, w
	if bias != nil {
		hasBias, b = 1, bias
	}
	sd := p.StrideH | p.StrideW<<6 | p.DilH<<12 | p.DilW<<18
	if wo%4 == 0 && t.cols%4 == 0 {
		sd |= 1 << 24
	}
	consts := []uint32{u32(sg), u32(kh), u32(kw), u32(sd), u32(t.rows), u32(t.cols), u32(t.cv), u32(max(t.ci, 1))}
	push := []uint32{u32(cin), u32(h), u32(wd), u32(cout), u32(ho), u32(wo), u32(p.PadH), u32(p.PadW),
		u32(hasBias), u32(tilesX), u32(tilesY), u32(coTiles), u32(tiles)}
	e.run(conv2dSGKernel, consts, e.dev.Groups1D(tiles, 1), push, convWork(x, w, y), in(x), in(w), in(b), out(y))
}

// convAnyTile is conv2d_sg_any's register block: pos output positions (a
// multiple of 8) for cv vectors of output channels per invocation.
type convAnyTile struct{ pos, cv int }

// convAnyForce, when non-zero, overrides conv2d_sg_any's block (tests and
// benchmarks only).
var convAnyForce convAnyTile

func (e *Engine) conv2dAny(x, w, bias, y *Tensor, p ConvParams) {
	n, cin, h, wd := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	cout, kh, kw := w.shape[0], w.shape[2], w.shape[3]
	ho, wo := y.shape[2], y.shape[3]
	sg := int(e.dev.Info.SubgroupSize)
	// Each input value serves cv FMAs and each weight gather pos FMAs; 64
	// positions × 4 channel vectors balances that against spilling.
	t := convAnyTile{pos: 64, cv: min(4, (cout+sg-1)/sg)}
	if convAnyForce.pos > 0 {
		t = convAnyForce
	}
	npos := n * ho * wo
	t.pos = min(t.pos, (npos+7)/8*8)
	coTiles := (cout + sg*t.cv - 1) / (sg * t.cv)
	tiles := coTiles * ((npos + t.pos - 1) / t.pos)
	hasBias, b := 0, w
	if bias != nil {
		hasBias, b = 1, bias
	}
	consts := []uint32{u32(sg), u32(t.pos), u32(t.cv)}
	push := []uint32{u32(cin), u32(h), u32(wd), u32(cout), u32(ho), u32(wo),
		u32(kh), u32(kw), u32(p.StrideH), u32(p.StrideW), u32(p.PadH), u32(p.PadW), u32(p.DilH), u32(p.DilW),
		u32(hasBias), u32(npos), u32(coTiles), u32(tiles)}
	e.run(conv2dAnyKernel, consts, e.dev.Groups1D(tiles, 1), push, convWork(x, w, y), in(x), in(w), in(b), out(y))
}

// convGEMMConfig is conv2d's workgroup tile: bm channels × bn positions,
// staged bk deep, tm×tn per invocation.
type convGEMMConfig struct{ bm, bn, bk, tm, tn int }

// convGEMMForce, when non-zero, overrides conv2d's tiles (tests only).
var convGEMMForce convGEMMConfig

func (c convGEMMConfig) invocations() int { return (c.bm / c.tm) * (c.bn / c.tn) }

// convGEMMPlan sizes conv2d's tiles from the device: 256 invocations with
// 64×64 tiles where the device allows (32 channels × 128 positions when
// there are few output channels), a quarter of that otherwise.
func (e *Engine) convGEMMPlan(cout int) convGEMMConfig {
	if convGEMMForce.bm > 0 {
		return convGEMMForce
	}
	c := convGEMMConfig{bm: 64, bn: 64, bk: 16, tm: 4, tn: 4}
	if cout <= 32 {
		c = convGEMMConfig{bm: 32, bn: 128, bk: 16, tm: 2, tn: 8}
	}
	info := &e.dev.Info
	shared := 4 * c.bk * (c.bm + c.bn)
	if c.invocations() <= int(info.MaxInvocations) && c.invocations() <= int(info.MaxWorkgroupSize[0]) &&
		shared <= int(info.MaxSharedMemory) {
		return c
	}
	return convGEMMConfig{bm: 32, bn: 32, bk: 8, tm: 4, tn: 4}
}

func (e *Engine) conv2dGEMM(x, w, bias, y *Tensor, p ConvParams) {
	n, cin, h, wd := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	cout, kh, kw := w.shape[0], w.shape[2], w.shape[3]
	ho, wo := y.shape[2], y.shape[3]
	c := e.convGEMMPlan(cout)
	npos := n * ho * wo
	coTiles := (cout + c.bm - 1) / c.bm
	tiles := coTiles * ((npos + c.bn - 1) / c.bn)
	hasBias, b := 0, w
	if bias != nil {
		hasBias, b = 1, bias
	}
	consts := []uint32{u32(c.invocations()), u32(c.bm), u32(c.bn), u32(c.bk), u32(c.tm), u32(c.tn)}
	push := []uint32{u32(cin), u32(h), u32(wd), u32(cout), u32(ho), u32(wo),
		u32(kh), u32(kw), u32(p.StrideH), u32(p.StrideW), u32(p.PadH), u32(p.PadW), u32(p.DilH), u32(p.DilW),
		u32(hasBias), u32(npos), u32(coTiles), u32(tiles)}
	e.run(conv2dKernel, consts, e.dev.Groups1D(tiles, 1), push, convWork(x, w, y), in(x), in(w), in(b), out(y))
}

func convWork(x, w, y *Tensor) vk.Work {
	n, cin := x.shape[0], x.shape[1]
	cout, kh, kw := w.shape[0], w.shape[2], w.shape[3]
	ho, wo := y.shape[2], y.shape[3]
	flops := 2 * float64(n) * float64(cout) * float64(ho*wo) * float64(cin*kh*kw)
	return vk.Work{Flops: flops, Bytes: 4 * float64(x.Numel()+w.Numel()+y.Numel())}
}
