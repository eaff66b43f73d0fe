package tensor

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/tessera-ml/tessera/vk"
)

// BenchmarkMatmul times one float32 matmul per iteration, recorded and then
// synchronised. Sub-benchmarks are named MxNxK: a [M, K] times b [K, N].
func BenchmarkMatmul(b *testing.B) {
	dev, err := vk.Default()
	if err != nil {
		b.Skipf("no Vulkan device: %v", err)
	}
	e := New(dev)
	for _, s := range [][3]int{{256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024}, {2048, 2048, 2048}, {4096, 768, 768}, {4096, 3072, 768}} {
		m, n, k := s[0], s[1], s[2]
		b.Run(fmt.Sprintf("%dx%dx%d", m, n, k), func(b *testing.B) {
			sc := e.Scope()
			defer sc.Close()
			rng := rand.New(rand.NewSource(1))
			x := e.FromFloat32(matmulRandData(rng, m*k), m, k)
			y := e.FromFloat32(matmulRandData(rng, k*n), k, n)
			// Warm-up outside the timer: builds the pipeline.
			Matmul(x, y, false, false).Release()
			if err := e.Sync(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				z := Matmul(x, y, false, false)
				if err := e.Sync(); err != nil {
					b.Fatal(err)
				}
				z.Release()
			}
			b.ReportMetric(MatmulFlops(m, n, k, 1)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

func matmulRandData(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = 2*rng.Float32() - 1
	}
	return v
}
