package tensor

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor/ref"
	"github.com/tessera-ml/tessera/vk"
)

// matmulTol is the tolerance of every matmul comparison: 1e-5 relative to
// max(1, max |want|) (ref.Close), ample for float32 sums of a few hundred
// products of values in [-1, 1).
const matmulTol = 1e-5

// matmulOperand returns the stored shape of a matmul operand: [batch..., r, c],
// or [batch..., c, r] when trans.
func matmulOperand(batch []int, r, c int, trans bool) []int {
	if trans {
		r, c = c, r
	}
	return append(append([]int(nil), batch...), r, c)
}

// matmulKernels runs f once per matmul kernel the device can run: the GPU
// kernel always (forced on CPU devices), and the CPU kernel on CPU devices.
func matmulKernels(t *testing.T, e *Engine, f func(t *testing.T)) {
	kernels := []string{"gpu"}
	if e.Device().Info.Type == vk.TypeCPU {
		kernels = append(kernels, "cpu")
	}
	for _, k := range kernels {
		t.Run("kernel="+k, func(t *testing.T) {
			matmulUseGPUKernel = k == "gpu"
			defer func() { matmulUseGPUKernel = false }()
			f(t)
		})
	}
}

// TestMatmul compares both kernels with ref.Matmul; cases are named MxNxK.
func TestMatmul(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(3))
	cases := []struct {
		name           string
		batchA, batchB []int
		m, n, k        int
	}{
		{"1x1x1", nil, nil, 1, 1, 1},
		{"7x5x13", nil, nil, 7, 5, 13},
		{"33x17x65", nil, nil, 33, 17, 65},
		{"129x31x3", nil, nil, 129, 31, 3},
		{"1x67x9", nil, nil, 1, 67, 9},
		{"batched", []int{3}, []int{3}, 17, 23, 9},
		{"batched-rank4", []int{2, 3}, []int{2, 3}, 5, 7, 11},
		{"broadcast-b", []int{4}, nil, 9, 19, 21},
		{"broadcast-a", nil, []int{2, 2}, 13, 10, 6},
		{"k0", nil, nil, 5, 7, 0},
		{"k0-batched", []int{2}, []int{2}, 3, 4, 0},
		{"m0", nil, nil, 0, 7, 5},
		{"n0", []int{3}, nil, 4, 0, 5},
		{"batch0", []int{0}, []int{0}, 4, 3, 5},
		// Multiples of 4 take the vec4 load paths.
		{"aligned", nil, nil, 36, 44, 20},
		{"aligned-batched", []int{2}, nil, 12, 8, 28},
		{"aligned-k-tail", nil, []int{3}, 20, 12, 7},
		// Several full tiles of every kernel configuration, plus edges.
		{"300x511x257", nil, nil, 300, 511, 257},
		{"260x136x132", nil, nil, 260, 136, 132},
	}
	matmulKernels(t, e, func(t *testing.T) {
		for _, tc := range cases {
			for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
				t.Run(fmt.Sprintf("%s/tA=%v/tB=%v", tc.name, tr[0], tr[1]), func(t *testing.T) {
					a := randRef(rng, -1, 1, matmulOperand(tc.batchA, tc.m, tc.k, tr[0])...)
					b := randRef(rng, -1, 1, matmulOperand(tc.batchB, tc.k, tc.n, tr[1])...)
					requireClose(t, Matmul(upload(e, a), upload(e, b), tr[0], tr[1]), ref.Matmul(a, b, tr[0], tr[1]), matmulTol)
				})
			}
		}
	})
}

// TestMatmulGPUBigTiles covers the GPU kernel's 128x128 tiles, used for
// products of at least 2^21 outputs.
func TestMatmulGPUBigTiles(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(4))
	matmulUseGPUKernel = true
	defer func() { matmulUseGPUKernel = false }()
	for _, tr := range [][2]bool{{false, false}, {true, true}} {
		a := randRef(rng, -1, 1, matmulOperand([]int{2}, 1030, 17, tr[0])...)
		b := randRef(rng, -1, 1, matmulOperand(nil, 17, 1100, tr[1])...)
		requireClose(t, Matmul(upload(e, a), upload(e, b), tr[0], tr[1]), ref.Matmul(a, b, tr[0], tr[1]), matmulTol)
	}
}

// TestMatmulBatchChunks has more batches than one dispatch may have
// workgroups in z. It runs the device's own kernel only: the GPU kernel's
// 64-invocation workgroups take long on Lavapipe.
func TestMatmulBatchChunks(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(5))
	for _, tr := range [][2]bool{{false, false}, {true, true}} {
		a := randRef(rng, -1, 1, matmulOperand([]int{65537}, 1, 2, tr[0])...)
		b := randRef(rng, -1, 1, matmulOperand(nil, 2, 3, tr[1])...)
		requireClose(t, Matmul(upload(e, a), upload(e, b), tr[0], tr[1]), ref.Matmul(a, b, tr[0], tr[1]), matmulTol)
	}
}

func TestMatmulShapeErrors(t *testing.T) {
	e := testEngine(t)
	cases := []struct {
		name   string
		a, b   []int
		ta, tb bool
	}{
		{"k-mismatch", []int{3, 4}, []int{5, 6}, false, false},
		{"k-mismatch-transposed", []int{3, 4}, []int{5, 6}, true, true},
		{"batch-mismatch", []int{2, 3, 4}, []int{3, 4, 5}, false, false},
		{"batch-rank-mismatch", []int{2, 3, 3, 4}, []int{2, 4, 5}, false, false},
		{"1-d", []int{4}, []int{4, 5}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Matmul(e.Zeros(tc.a...), e.Zeros(tc.b...), tc.ta, tc.tb)
			require.ErrorIs(t, c.Err(), ErrShape)
			// Sticky: ops on the failed result fail too, and the engine remembers.
			_, err := Neg(c).Float32()
			require.ErrorIs(t, err, ErrShape)
			require.ErrorIs(t, e.Err(), ErrShape)
		})
	}
	ints := e.FullInt(1, 2, 2)
	require.ErrorIs(t, Matmul(ints, e.Zeros(2, 2), false, false).Err(), ErrShape)
	require.ErrorIs(t, e.Err(), ErrShape)
}

func TestMatmulFlops(t *testing.T) {
	assert.Equal(t, 2.0*3*4*5*6, MatmulFlops(3, 4, 5, 6))
}
