package tensor

import (
	"github.com/tessera-ml/tessera/vk"
)

var matmulCPUKernel = vk.KernelSpec{Name: "matmul_cpu", Buffers: 3, PushWords: 7}

// matmulTile is the CPU kernel's register block: TR rows per workgroup and
// TC columns per lane.
var matmulTR, matmulTC = 32, 1

// matmulColsPerTC is how many output columns one TC unit covers per lane.
var matmulColsPerTC = 4

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
	nb := Numel(batch)
	c := e.alloc(Float32, append(append([]int(nil), batch...), m, n))
	if c.err != nil || c.st == nil {
		return c
	}
	if k == 0 {
		e.dev.Fill(c.st.r, 0)
		return c
	}
	sa, sb := 0, 0
	if ra > 2 {
		sa = m * k
	}
	if rb > 2 {
		sb = k * n
	}
	info := e.dev.Info
	sg := int(info.SubgroupSize)
	tr, tc := matmulTR, matmulTC
	vec := (transA && m%4 == 0 || !transA && k%4 == 0) && (transB && k%4 == 0 || !transB && n%4 == 0)
	consts := []uint32{u32(sg), u32(tr), u32(tc), b2u(transA), b2u(transB), b2u(vec)}
	cols := sg * tc * matmulColsPerTC
	gx, gy := (m+tr-1)/tr, (n+cols-1)/cols
	maxZ := int(info.MaxWorkgroupCount[2])
	if maxZ > 65535 {
		maxZ = 65535
	}
	work := vk.Work{Flops: MatmulFlops(m, n, k, nb), Bytes: 4 * float64(nb) * float64(m*k+k*n+m*n)}
	for z0 := 0; z0 < nb; z0 += maxZ {
		gz := min(nb-z0, maxZ)
		push := []uint32{u32(m), u32(n), u32(k), u32(sa), u32(sb), u32(m * n), u32(z0)}
		w := work
		w.Flops *= float64(gz) / float64(nb)
		w.Bytes *= float64(gz) / float64(nb)
		e.run(matmulCPUKernel, consts, [3]uint32{u32(gx), u32(gy), u32(gz)}, push, w, in(a), in(b), out(c))
	}
	return c
}

func b2u(v bool) uint32 {
	if v {
		return 1
	}
	return 0
}
