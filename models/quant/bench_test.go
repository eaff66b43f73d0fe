package quant_test

import (
	"testing"

	"github.com/tessera-ml/tessera/internal/bench"
	"github.com/tessera-ml/tessera/tensor"
	"github.com/tessera-ml/tessera/vk"
)

// BenchmarkQuantStep runs the quant-step cases of `tessera bench` through
// bench.Run and reports, beside the time per step, the peak device memory
// (parameters and gradients included) and, for comparison, the N×V×4
// bytes of one materialised logits tensor. Run with -benchtime=1x: each
// iteration is bench.Run's warm-up plus b.N timed steps.
func BenchmarkQuantStep(b *testing.B) {
	dev, err := vk.Default()
	if err != nil {
		b.Skipf("no Vulkan device: %v", err)
	}
	e := tensor.New(dev)
	logits := map[string]uint64{
		"V65536-32x32-b8":             bench.QuantLogitsBytes(8*32*32, 65536),
		"V4096-16x16-b8":              bench.QuantLogitsBytes(8*16*16, 4096),
		"V4096-16x16-b8-materialised": bench.QuantLogitsBytes(8*16*16, 4096),
	}
	for _, c := range bench.Select(bench.Cases(), "quant-step", "") {
		b.Run(c.Shape, func(b *testing.B) {
			r, err := bench.Run(e, c, b.N)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(r.MedianMs, "ms/step")
			b.ReportMetric(r.PerSec, "images/s")
			b.ReportMetric(float64(r.PeakBytes)/(1<<20), "peak-MiB")
			b.ReportMetric(float64(logits[c.Shape])/(1<<20), "NxVx4-MiB")
		})
	}
}
