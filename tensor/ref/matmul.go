package ref

import "fmt"

// Matmul returns the batched matrix product of a and b.
//
// a has shape [..., M, K], or [..., K, M] when transA is set; b has shape
// [..., K, N], or [..., N, K] when transB is set. Both operands must be at
// least 2-D. Their batch dimensions (all but the last two) must be equal,
// or one operand must be exactly 2-D, in which case it is reused for every
// batch of the other. The result has shape [batch..., M, N].
func Matmul(a, b *Tensor, transA, transB bool) *Tensor {
	ra, rb := len(a.Shape), len(b.Shape)
	if ra < 2 || rb < 2 {
		panic(fmt.Sprintf("ref: Matmul: operands must be at least 2-D, got %v and %v", a.Shape, b.Shape))
	}
	m, ka := a.Shape[ra-2], a.Shape[ra-1]
	if transA {
		m, ka = ka, m
	}
	kb, n := b.Shape[rb-2], b.Shape[rb-1]
	if transB {
		kb, n = n, kb
	}
	if ka != kb {
		panic(fmt.Sprintf("ref: Matmul: inner dimensions differ: a %v (transA=%v), b %v (transB=%v)",
			a.Shape, transA, b.Shape, transB))
	}
	k := ka

	batchA, batchB := a.Shape[:ra-2], b.Shape[:rb-2]
	var batch []int
	switch {
	case ra == 2:
		batch = batchB
	case rb == 2 || sameShape(batchA, batchB):
		batch = batchA
	default:
		panic(fmt.Sprintf("ref: Matmul: batch dimensions differ: %v vs %v", a.Shape, b.Shape))
	}
	nb := Numel(batch)
	out := New(append(cloneInts(batch), m, n)...)

	// Element (i, j) of each (possibly transposed) operand matrix.
	aAt := func(base, i, j int) float64 { return a.Data[base+i*k+j] }
	if transA {
		aAt = func(base, i, j int) float64 { return a.Data[base+j*m+i] }
	}
	bAt := func(base, i, j int) float64 { return b.Data[base+i*n+j] }
	if transB {
		bAt = func(base, i, j int) float64 { return b.Data[base+j*k+i] }
	}

	for bi := range nb {
		baseA, baseB := 0, 0
		if ra > 2 {
			baseA = bi * m * k
		}
		if rb > 2 {
			baseB = bi * k * n
		}
		baseO := bi * m * n
		for i := range m {
			for j := range n {
				var s float64
				for p := range k {
					s += aAt(baseA, i, p) * bAt(baseB, p, j)
				}
				out.Data[baseO+i*n+j] = s
			}
		}
	}
	return out
}
