package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor"
	"github.com/tessera-ml/tessera/vk"
)

func engine(tb testing.TB) *tensor.Engine {
	dev, err := vk.Default()
	if err != nil {
		tb.Skipf("no Vulkan device: %v", err)
	}
	return tensor.New(dev)
}

// BenchmarkCases runs every `tessera bench` case as a Go benchmark.
func BenchmarkCases(b *testing.B) {
	e := engine(b)
	for _, c := range Cases() {
		b.Run(c.Op+"/"+c.Shape, func(b *testing.B) {
			s := e.Scope()
			defer s.Close()
			run, release := c.Prepare(e)
			if release != nil {
				defer release()
			}
			require.NoError(b, once(e, run))
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if err := once(e, run); err != nil {
					b.Fatal(err)
				}
			}
			sec := time.Since(start).Seconds() / float64(b.N)
			switch {
			case c.Items > 0:
				b.ReportMetric(c.Items/sec, "images/s")
			case c.Flops > 0:
				b.ReportMetric(c.Flops/sec/1e9, "GFLOP/s")
			default:
				b.ReportMetric(c.Bytes/sec/1e9, "GB/s")
			}
		})
	}
}

func TestCasesAreWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Cases() {
		assert.False(t, seen[c.Name()], "duplicate case %s", c.Name())
		seen[c.Name()] = true
		assert.True(t, c.Flops > 0 || c.Bytes > 0 || c.Items > 0, "%s reports no rate", c.Name())
	}
	assert.Len(t, Select(Cases(), "matmul", ""), 6)
	assert.Len(t, Select(Cases(), "matmul", "1024x1024x1024"), 1)
	assert.Empty(t, Select(Cases(), "nope", ""))
}

// TestRunMeasuresSomething runs the smallest cases once: a result must
// carry a positive time and rate, and the inputs must be released.
func TestRunMeasuresSomething(t *testing.T) {
	e := engine(t)
	dev := e.Device()
	require.NoError(t, dev.Sync())
	base := dev.Memory().Live
	for _, c := range Select(Cases(), "matmul,copy", "256x256x256,16777216") {
		r, err := Run(e, c, 2)
		require.NoError(t, err)
		assert.Greater(t, r.MedianMs, 0.0)
		assert.Greater(t, r.GFlops+r.GBps+r.PerSec, 0.0)
		assert.Greater(t, r.PeakBytes, uint64(0))
		assert.Equal(t, 2, r.Runs)
	}
	require.NoError(t, e.Sync())
	assert.Equal(t, base, dev.Memory().Live)
}
