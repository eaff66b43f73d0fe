package tensor

import (
	"math/rand"
	"testing"

	"github.com/tessera-ml/tessera/vk"
)

// BenchmarkSoftmax measures softmax over the last axis of a 4096×4096
// tensor; GB/s counts one read and one write of every element
// (SoftmaxBytes).
func BenchmarkSoftmax(b *testing.B) {
	const rows, cols = 4096, 4096
	dev, err := vk.Default()
	if err != nil {
		b.Skipf("no Vulkan device: %v", err)
	}
	e := New(dev)
	s := e.Scope()
	defer s.Close()
	rng := rand.New(rand.NewSource(1))
	data := make([]float32, rows*cols)
	for i := range data {
		data[i] = float32(rng.NormFloat64() * 4)
	}
	x := e.FromFloat32(data, rows, cols)
	// Warm-up outside the timer: pipeline creation, first-touch allocation.
	Softmax(x, -1).Release()
	if err := e.Sync(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		y := Softmax(x, -1)
		if err := e.Sync(); err != nil {
			b.Fatal(err)
		}
		y.Release()
	}
	b.StopTimer()
	b.ReportMetric(SoftmaxBytes(rows, cols)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}
