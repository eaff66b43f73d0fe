package tensor

import (
	"testing"

	"github.com/tessera-ml/tessera/vk"
)

// BenchmarkGroupNorm times GroupNorm on 8×128×64×64 with 32 groups (the
// bench CLI's case), one op recorded and synchronised per iteration, and
// reports GB/s counted as GroupNormBytes (one read and one write of x).
func BenchmarkGroupNorm(b *testing.B) {
	dev, err := vk.Default()
	if err != nil {
		b.Skipf("no Vulkan device: %v", err)
	}
	e := New(dev)
	sc := e.Scope()
	defer sc.Close()
	const n, c, h, w, groups = 8, 128, 64, 64, 32
	x := e.Normal(1, 0, 1, n, c, h, w)
	gamma := e.Full(1, c)
	beta := e.Zeros(c)
	// Warm-up outside the timer: builds the pipelines.
	GroupNorm(x, groups, gamma, beta, 1e-6).Release()
	if err := e.Sync(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		y := GroupNorm(x, groups, gamma, beta, 1e-6)
		if err := e.Sync(); err != nil {
			b.Fatal(err)
		}
		y.Release()
	}
	b.ReportMetric(GroupNormBytes(n*c*h*w)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}
