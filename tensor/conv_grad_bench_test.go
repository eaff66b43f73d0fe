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

// BenchmarkConv2dBackward times Conv2dBackwardInput ("input") and
// Conv2dBackwardWeight ("weight") on BenchmarkConv2d's cases (the
// reference 8×128×64×64 → 128, 3×3, padding 1 first), one call per
// iteration, recorded and then synchronised. GFLOP/s counts the forward's
// flops (each backward does as many); cpu-GFLOP/s is as in BenchmarkConv2d.
//
// For tuning, TESSERA_CONVBWD_TILE=rows,cols,cv,ci forces the dx block and
// TESSERA_CONVW_TILE=p,cv,co the dw block with lanes on input channels
// (TESSERA_CONVW_CO_TILE=p,cv,ci: on output channels);
// TESSERA_CONVBWD_NAIVE=1 forces the naive kernels.
func BenchmarkConv2dBackward(b *testing.B) {
	p1 := ConvParams{PadH: 1, PadW: 1}
	runConvBwdBenchmarks(b, []convBwdBenchCase{
		{8, 128, 64, 64, 128, 3, p1},
		{8, 256, 32, 32, 256, 3, p1},
		{8, 256, 32, 32, 256, 1, ConvParams{}},
	})
}

// BenchmarkConv2dBackwardShapes runs the backward passes on
// BenchmarkConv2dShapes' cases (a diffusion UNet's and the Fashion-MNIST
// classifier's shapes) and an RGB input layer.
func BenchmarkConv2dBackwardShapes(b *testing.B) {
	p1 := ConvParams{PadH: 1, PadW: 1}
	s2 := ConvParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}
	runConvBwdBenchmarks(b, []convBwdBenchCase{
		{64, 1, 28, 28, 32, 3, p1},
		{8, 3, 128, 128, 128, 3, p1},
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

// convBwdBenchCase is x [n, cin, h, w] and a k×k weight to cout channels.
type convBwdBenchCase struct {
	n, cin, h, w, cout, k int
	p                     ConvParams
}

func (c convBwdBenchCase) name() string {
	s := fmt.Sprintf("%dx%dx%dx%d-%d-k%d", c.n, c.cin, c.h, c.w, c.cout, c.k)
	if c.p.StrideH > 1 {
		s += fmt.Sprintf("-s%d", c.p.StrideH)
	}
	return s
}

// convBwdCPUSeconds is the CPU time this process has used.
func convBwdCPUSeconds() float64 {
	var r syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &r); err != nil {
		return 0
	}
	return float64(r.Utime.Nano()+r.Stime.Nano()) / 1e9
}

func runConvBwdBenchmarks(b *testing.B, cases []convBwdBenchCase) {
	if s := os.Getenv("TESSERA_CONVBWD_TILE"); s != "" {
		var t convBwdTile
		if _, err := fmt.Sscanf(s, "%d,%d,%d,%d", &t.rows, &t.cols, &t.cv, &t.ci); err != nil {
			b.Fatalf("TESSERA_CONVBWD_TILE=%q: want rows,cols,cv,ci: %v", s, err)
		}
		convBwdTileForce = t
		defer func() { convBwdTileForce = convBwdTile{} }()
	}
	if s := os.Getenv("TESSERA_CONVW_TILE"); s != "" {
		var t convWTile
		if _, err := fmt.Sscanf(s, "%d,%d,%d", &t.p, &t.cv, &t.co); err != nil {
			b.Fatalf("TESSERA_CONVW_TILE=%q: want p,cv,co: %v", s, err)
		}
		convWTileForce = t
		defer func() { convWTileForce = convWTile{} }()
	}
	if s := os.Getenv("TESSERA_CONVW_CO_TILE"); s != "" {
		t := convWTile{coLanes: true}
		if _, err := fmt.Sscanf(s, "%d,%d,%d", &t.p, &t.cv, &t.ci); err != nil {
			b.Fatalf("TESSERA_CONVW_CO_TILE=%q: want p,cv,ci: %v", s, err)
		}
		convWTileForce = t
		defer func() { convWTileForce = convWTile{} }()
	}
	if os.Getenv("TESSERA_CONVBWD_NAIVE") == "1" {
		convGradNaive = true
		defer func() { convGradNaive = false }()
	}
	dev, err := vk.Default()
	if err != nil {
		b.Skipf("no Vulkan device: %v", err)
	}
	e := New(dev)
	for _, kind := range []string{"input", "weight"} {
		b.Run(kind, func(b *testing.B) {
			for _, c := range cases {
				b.Run(c.name(), func(b *testing.B) {
					sc := e.Scope()
					defer sc.Close()
					rng := rand.New(rand.NewSource(1))
					p := c.p.norm()
					ho := ConvOutSize(c.h, c.k, p.StrideH, p.PadH, p.DilH)
					wo := ConvOutSize(c.w, c.k, p.StrideW, p.PadW, p.DilW)
					x := upload(e, randRef(rng, -1, 1, c.n, c.cin, c.h, c.w))
					w := upload(e, randRef(rng, -1, 1, c.cout, c.cin, c.k, c.k))
					dy := upload(e, randRef(rng, -1, 1, c.n, c.cout, ho, wo))
					run := func() {
						if kind == "input" {
							Conv2dBackwardInput(dy, w, c.h, c.w, c.p).Release()
						} else {
							Conv2dBackwardWeight(x, dy, c.k, c.k, c.p).Release()
						}
						if err := e.Sync(); err != nil {
							b.Fatal(err)
						}
					}
					run() // warm-up outside the timer: builds the pipelines
					cpu0 := convBwdCPUSeconds()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						run()
					}
					b.StopTimer()
					cpu := convBwdCPUSeconds() - cpu0
					flops := Conv2dFlops(c.n, c.cin, c.h, c.w, c.cout, c.k, c.k, c.p) * float64(b.N)
					b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
					if cpu > 0 {
						b.ReportMetric(flops/cpu*float64(runtime.NumCPU())/1e9, "cpu-GFLOP/s")
					}
				})
			}
		})
	}
}
