package tensor

import (
	"fmt"
	"math/rand"
	"os"
	"syscall"
	"testing"

	"github.com/tessera-ml/tessera/vk"
)

// BenchmarkConv2d measures Conv2d on the two reference cases.
func BenchmarkConv2d(b *testing.B) {
	cases := []struct{ n, cin, h, w, cout, k, pad int }{
		{8, 128, 64, 64, 128, 3, 1},
		{8, 256, 32, 32, 256, 3, 1},
		{8, 256, 32, 32, 256, 1, 0},
	}
	if os.Getenv("CONV_TILE") != "" {
		fmt.Sscanf(os.Getenv("CONV_TILE"), "%d,%d,%d,%d", &convTileForce.rows, &convTileForce.cols, &convTileForce.cv, &convTileForce.ci)
	}
	dev, err := vk.Default()
	if err != nil {
		b.Skipf("no Vulkan device: %v", err)
	}
	e := New(dev)
	for _, c := range cases {
		b.Run(fmt.Sprintf("%dx%dx%dx%d-%d-k%d", c.n, c.cin, c.h, c.w, c.cout, c.k), func(b *testing.B) {
			sc := e.Scope()
			defer sc.Close()
			rng := rand.New(rand.NewSource(1))
			x := upload(e, randRef(rng, -1, 1, c.n, c.cin, c.h, c.w))
			w := upload(e, randRef(rng, -1, 1, c.cout, c.cin, c.k, c.k))
			bias := upload(e, randRef(rng, -1, 1, c.cout))
			p := ConvParams{PadH: c.pad, PadW: c.pad}
			Conv2d(x, w, bias, p).Release()
			if err := e.Sync(); err != nil {
				b.Fatal(err)
			}
			var r0, r1 syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				Conv2d(x, w, bias, p).Release()
				if err := e.Sync(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
			cpu := float64(r1.Utime.Nano()+r1.Stime.Nano()-r0.Utime.Nano()-r0.Stime.Nano()) / 1e9
			flops := Conv2dFlops(c.n, c.cin, c.h, c.w, c.cout, c.k, c.k, p)
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			b.ReportMetric(flops*float64(b.N)/cpu*2/1e9, "cpuGFLOP/s")
		})
	}
}
