package tensor

import (
	"math/rand"
	"syscall"
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
	var r0, r1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	b.ResetTimer()
	for range b.N {
		y := Softmax(x, -1)
		if err := e.Sync(); err != nil {
			b.Fatal(err)
		}
		y.Release()
	}
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	b.ReportMetric(float64(r1.Utime.Nano()-r0.Utime.Nano()+r1.Stime.Nano()-r0.Stime.Nano())/1e6/float64(b.N), "cpu-ms/op")
	b.ReportMetric(SoftmaxBytes(rows, cols)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

func benchTmp(b *testing.B, f func(*Tensor) *Tensor) {
	const rows, cols = 4096, 4096
	dev, _ := vk.Default()
	e := New(dev)
	s := e.Scope()
	defer s.Close()
	x := e.Full(1, rows, cols)
	f(x).Release()
	e.Sync()
	var r0, r1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	b.ResetTimer()
	for range b.N {
		y := f(x)
		e.Sync()
		y.Release()
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	b.ReportMetric(float64(r1.Utime.Nano()-r0.Utime.Nano()+r1.Stime.Nano()-r0.Stime.Nano())/1e6/float64(b.N), "cpu-ms/op")
}

func BenchmarkTmpExp(b *testing.B)   { benchTmp(b, Exp) }
func BenchmarkTmpNeg(b *testing.B)   { benchTmp(b, Neg) }
func BenchmarkTmpClone(b *testing.B) { benchTmp(b, Clone) }
func BenchmarkTmpSum(b *testing.B)   { benchTmp(b, func(x *Tensor) *Tensor { return Sum(x, -1) }) }
func BenchmarkTmpSumAll(b *testing.B)   { benchTmp(b, SumAll) }
func BenchmarkTmpMax(b *testing.B)   { benchTmp(b, func(x *Tensor) *Tensor { return Max(x, -1) }) }
func BenchmarkTmpSum0(b *testing.B)   { benchTmp(b, func(x *Tensor) *Tensor { return Sum(x, 0) }) }
func BenchmarkTmpLSE(b *testing.B)   { benchTmp(b, func(x *Tensor) *Tensor { return LogSumExp(x, -1) }) }
