package vae

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
	"github.com/tessera-ml/tessera/vk"
)

// testTape opens the default device with one scope for the test and
// checks at cleanup for leaks and validation messages.
func testTape(t *testing.T) *autograd.Tape {
	t.Helper()
	dev, err := vk.Default()
	if err != nil {
		t.Skipf("no Vulkan device: %v", err)
	}
	require.NoError(t, dev.Sync())
	base := dev.Memory().Live
	e := tensor.New(dev)
	s := e.Scope()
	t.Cleanup(func() {
		s.Close()
		require.NoError(t, e.Sync())
		require.Equal(t, base, dev.Memory().Live, "device memory leaked by the test")
		require.Empty(t, vk.TakeValidationMessages(), "Vulkan validation layer reported problems")
	})
	return autograd.NewTape(e)
}

// read returns v's values, failing the test on a device error.
func read(t *testing.T, v *autograd.Var) []float32 {
	t.Helper()
	out, err := v.Value.Float32()
	require.NoError(t, err)
	return out
}

// requireFinite fails if any value is NaN or infinite.
func requireFinite(t *testing.T, name string, vals []float32) {
	t.Helper()
	for i, v := range vals {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("%s: element %d is %g", name, i, v)
		}
	}
}
