package vae

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/internal/testdev"
)

// testTape opens the default device with one scope for the test and
// checks at cleanup for leaks and validation messages.
func testTape(t *testing.T) *autograd.Tape {
	return autograd.NewTape(testdev.Engine(t))
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
