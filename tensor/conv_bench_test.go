package tensor

import (
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"syscall"
	"testing"

	"github.com/tessera-ml/tessera/vk"
)

type convBenchCase struct {
	n, cin, h, w, cout, k int
	p                     ConvParams
}

func (c convBenchCase) name() string {
	s := fmt.Sprintf("%dx%dx%dx%d-%d-k%d", c.n, c.cin, c.h, c.w, c.cout, c.k)
	if c.p.StrideH > 1 {
		s += fmt.Sprintf("-s%d", c.p.StrideH)
	}
	return s
}

// BenchmarkConv2d times one Conv2d per iteration, recorded and then
// synchronised, on the reference cases (3×3, padding 1) and a 1×1 one.
// Besides wall-clock GFLOP/s it reports cpu-GFLOP/s: the flops per CPU
// second of this process times the CPU count, which is what an idle machine
// would give under Lavapipe (its worker threads are in this process) and is
// steadier than the wall clock on a shared machine.
//
// For tuning, TESSERA_CONV_PATH=sg|any|gemm forces a kernel and
// TESSERA_CONV_TILE=rows,cols,cv,ci forces conv2d_sg's register block and
// TESSERA_CONV_ANY=pos,cv conv2d_sg_any's.
func BenchmarkConv2d(b *testing.B) {
	runConvBenchmarks(b, []convBenchCase{
		{8, 128, 64, 64, 128, 3, ConvParams{PadH: 1, PadW: 1}},
		{8, 256, 32, 32, 256, 3, ConvParams{PadH: 1, PadW: 1}},
		{8, 256, 32, 32, 256, 1, ConvParams{}},
	})
}

// BenchmarkConv2dShapes covers the other shapes a diffusion UNet uses (few
// input or output channels, small images, stride 2, 1×1 projections from a
// low rank) and those of the Fashion-MNIST classifier (28×28, stride 2).
func BenchmarkConv2dShapes(b *testing.B) {
	p1 := ConvParams{PadH: 1, PadW: 1}
	s2 := ConvParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}
	runConvBenchmarks(b, []convBenchCase{
		{64, 1, 28, 28, 32, 3, p1},
		{64, 32, 28, 28, 64, 3, s2},
		{64, 64, 14, 14, 128, 3, s2},
		{2, 4, 64, 64, 320, 3, p1},
		{2, 320, 64, 64, 4, 3, p1},
		{2, 320, 64, 64, 320, 3, s2},
		{2, 640, 32, 32, 640, 3, p1},
		{2, 1280, 8, 8, 1280, 3, p1},
		{2, 320, 32, 32, 640, 1, ConvParams{}},
		{2, 8, 64, 64, 320, 1, ConvParams{}},
		{1, 3, 13, 11, 5, 3, p1},
	})
}

// BenchmarkConv2dWeightGrad is a weight gradient written as a convolution
// (the batch as channels, the output gradient as an image-sized kernel),
// for the classifier's second block: too large a window for conv2d_sg.
func BenchmarkConv2dWeightGrad(b *testing.B) {
	runConvBenchmarks(b, []convBenchCase{
		{32, 64, 28, 28, 64, 14, ConvParams{PadH: 1, PadW: 1, DilH: 2, DilW: 2}},
	})
}

func runConvBenchmarks(b *testing.B, cases []convBenchCase) {
	if s := os.Getenv("TESSERA_CONV_TILE"); s != "" {
		var t convTile
		if _, err := fmt.Sscanf(s, "%d,%d,%d,%d", &t.rows, &t.cols, &t.cv, &t.ci); err != nil {
			b.Fatalf("TESSERA_CONV_TILE=%q: want rows,cols,cv,ci: %v", s, err)
		}
		convTileForce = t
		defer func() { convTileForce = convTile{} }()
	}
	if s := os.Getenv("TESSERA_CONV_ANY"); s != "" {
		if _, err := fmt.Sscanf(s, "%d,%d", &convAnyForce.pos, &convAnyForce.cv); err != nil {
			b.Fatalf("TESSERA_CONV_ANY=%q: want pos,cv: %v", s, err)
		}
		defer func() { convAnyForce = convAnyTile{} }()
	}
	switch os.Getenv("TESSERA_CONV_PATH") {
	case "sg":
		convForce = convSG
	case "gemm":
		convForce = convGEMM
	case "any":
		convForce = convAny
	}
	defer func() { convForce = convAuto }()
	dev, err := vk.Default()
	if err != nil {
		b.Skipf("no Vulkan device: %v", err)
	}
	e := New(dev)
	for _, c := range cases {
		b.Run(c.name(), func(b *testing.B) {
			sc := e.Scope()
			defer sc.Close()
			rng := rand.New(rand.NewSource(1))
			x := upload(e, randRef(rng, -1, 1, c.n, c.cin, c.h, c.w))
			w := upload(e, randRef(rng, -1, 1, c.cout, c.cin, c.k, c.k))
			bias := upload(e, randRef(rng, -1, 1, c.cout))
			// Warm-up outside the timer: builds the pipeline.
			Conv2d(x, w, bias, c.p).Release()
			if err := e.Sync(); err != nil {
				b.Fatal(err)
			}
			cpu0 := convCPUSeconds()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				Conv2d(x, w, bias, c.p).Release()
				if err := e.Sync(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			cpu := convCPUSeconds() - cpu0
			flops := Conv2dFlops(c.n, c.cin, c.h, c.w, c.cout, c.k, c.k, c.p) * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if cpu > 0 {
				b.ReportMetric(flops/cpu*float64(runtime.NumCPU())/1e9, "cpu-GFLOP/s")
			}
		})
	}
}

// convCPUSeconds is the CPU time this process has used.
func convCPUSeconds() float64 {
	var r syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &r); err != nil {
		return 0
	}
	return float64(r.Utime.Nano()+r.Stime.Nano()) / 1e9
}
