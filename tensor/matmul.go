package tensor

import (
	"github.com/tessera-ml/tessera/vk"
)

// Two matmul kernels share one interface: buffers a, b, c and push
// constants M, N, K, the batch strides of a, b and c, the first batch of the
// dispatch, the row and column tile counts, and a tile-walk group size.
// matmul_cpu is built for CPU drivers such as Lavapipe, where each memory
// access is a scalar loop over the SIMD lanes: no shared memory, vec4
// loads, and one operand broadcast across the subgroup by shuffles from
// few loads (see the shader). matmul is a conventional shared-memory tiled
// kernel for GPUs.
var (
	matmulCPUKernel = vk.KernelSpec{Name: "matmul_cpu", Buffers: 3, PushWords: 10}
	matmulGPUKernel = vk.KernelSpec{Name: "matmul", Buffers: 3, PushWords: 10}
)

// matmulUseGPUKernel selects the GPU kernel on CPU devices too (tests use it
// to check that kernel on Lavapipe).
var matmulUseGPUKernel = false

// MatmulFlops is the arithmetic of a batched matmul: 2·m·n·k per batch.
func MatmulFlops(m, n, k, batch int) float64 {
	return 2 * float64(m) * float64(n) * float64(k) * float64(batch)
}

// Matmul returns a @ b for a [..., M, K] (or [..., K, M] when transA) and b
// [..., K, N] (or [..., N, K] when transB). Batch dims must be equal, or
// either operand is 2-D and broadcast over the other's batch. Output
// [..., M, N].
func Matmul(a, b *Tensor, transA, transB bool) *Tensor {
	e, err := inputs("Matmul", a, b)
	if err != nil {
		return e.failed(err)
	}
	if a.dtype != Float32 || b.dtype != Float32 {
		return e.failed(shapeErr("Matmul", "needs float32 inputs, got %s and %s", a.dtype, b.dtype))
	}
	ra, rb := len(a.shape), len(b.shape)
	if ra < 2 || rb < 2 {
		return e.failed(shapeErr("Matmul", "operands must be at least 2-D, got %v and %v", a.shape, b.shape))
	}
	m, ka := a.shape[ra-2], a.shape[ra-1]
	if transA {
		m, ka = ka, m
	}
	kb, n := b.shape[rb-2], b.shape[rb-1]
	if transB {
		kb, n = n, kb
	}
	if ka != kb {
		return e.failed(shapeErr("Matmul", "inner dimensions differ: a %v (transA=%v), b %v (transB=%v)", a.shape, transA, b.shape, transB))
	}
	k := ka
	batchA, batchB := a.shape[:ra-2], b.shape[:rb-2]
	var batch []int
	switch {
	case ra == 2:
		batch = batchB
	case rb == 2 || sameShape(batchA, batchB):
		batch = batchA
	default:
		return e.failed(shapeErr("Matmul", "batch dimensions differ: %v vs %v", a.shape, b.shape))
	}
	c := e.alloc(Float32, append(append([]int(nil), batch...), m, n))
	if c.err != nil || c.st == nil {
		return c // failed, or empty (M, N or a batch dim is 0)
	}
	if k == 0 {
		e.dev.Fill(c.st.r, 0)
		return c
	}
	nb := Numel(batch)
	sa, sb := 0, 0 // a 2-D operand is reused by every batch
	if ra > 2 {
		sa = m * k
	}
	if rb > 2 {
		sb = k * n
	}
	// vec4 loads need the contiguous dimension of each operand (and so
	// every row and batch start) to be a multiple of 4 elements.
	vec := (transA && m%4 == 0 || !transA && k%4 == 0) && (transB && k%4 == 0 || !transB && n%4 == 0)
	spec, consts, tm, tn, gm := matmulPlan(e.dev.Info, m, n, k, nb, transA, transB, vec)

	info := e.dev.Info
	grid := e.dev.Groups1D(tm*tn, 1)
	maxZ := min(int(info.MaxWorkgroupCount[2]), 65535)
	for z0 := 0; z0 < nb; z0 += maxZ {
		gz := min(nb-z0, maxZ)
		push := []uint32{u32(m), u32(n), u32(k), u32(sa), u32(sb), u32(m * n), u32(z0), u32(tm), u32(tn), u32(gm)}
		work := vk.Work{Flops: MatmulFlops(m, n, k, gz), Bytes: 4 * float64(gz) * float64(m*k+k*n+m*n)}
		e.run(spec, consts, [3]uint32{grid[0], grid[1], u32(gz)}, push, work, in(a), in(b), out(c))
	}
	return c
}

// matmulPlan picks the kernel and its tiles for the device and shape. It
// returns the kernel's specialization constants, the number of row and
// column tiles, and (CPU kernel) how many row tiles to walk as a group.
func matmulPlan(info vk.DeviceInfo, m, n, k, batch int, transA, transB, vec bool) (vk.KernelSpec, []uint32, int, int, int) {
	if info.Type == vk.TypeCPU && !matmulUseGPUKernel {
		// A workgroup (one subgroup) computes tr rows by sg·tq·4 columns.
		// 64 × 2 measured fastest on llvmpipe: bigger blocks save load
		// loops but their accumulators and code outgrow L1. Small matrices
		// get smaller blocks so less work is thrown away on the edges.
		sg := int(info.SubgroupSize)
		tr := 64
		for tr > 8 && tr/2 >= m {
			tr /= 2
		}
		tq := 2
		if n <= 4*sg {
			tq = 1
		}
		tm, tn := (m+tr-1)/tr, (n+4*sg*tq-1)/(4*sg*tq)
		// Group enough row tiles that their a panels (tr·k floats each)
		// fill about 1 MiB of cache while the group sweeps the columns.
		gm := max(1, (1<<20)/(4*tr*k))
		consts := []uint32{u32(sg), u32(tr), u32(tq), b2u(transA), b2u(transB), b2u(vec)}
		return matmulCPUKernel, consts, tm, tn, gm
	}
	// GPU: square tiles, BK = 16, a T×T register block per invocation.
	// 128×128 tiles (T = 8) for big products on devices that fit them,
	// 64×64 (T = 4) otherwise, and 32×32 for small matrices or devices.
	bm, t := 32, 4
	fits := func(bm, t int) bool {
		wg := (bm / t) * (bm / t)
		return wg <= int(info.MaxInvocations) && wg <= int(info.MaxWorkgroupSize[0]) &&
			2*16*(bm+1)*4 <= int(info.MaxSharedMemory)
	}
	switch {
	case fits(128, 8) && float64(m)*float64(n)*float64(batch) >= 1<<21:
		bm, t = 128, 8
	case fits(64, 4) && max(m, n) > 32:
		bm, t = 64, 4
	}
	wg := (bm / t) * (bm / t)
	consts := []uint32{u32(wg), u32(bm), u32(bm), 16, u32(t), b2u(transA), b2u(transB), b2u(vec)}
	return matmulGPUKernel, consts, (m + bm - 1) / bm, (n + bm - 1) / bm, 1
}

func b2u(v bool) uint32 {
	if v {
		return 1
	}
	return 0
}
