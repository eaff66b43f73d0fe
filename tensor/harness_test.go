package tensor

import (
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor/ref"
	"github.com/tessera-ml/tessera/vk"
)

// testEngine opens the default device and an engine with one scope for the
// test. At cleanup it checks that the test left no error behind, that the
// scope gave back every byte it took, and that the validation layer (on in
// make test) said nothing.
func testEngine(t *testing.T) *Engine {
	t.Helper()
	dev, err := vk.Default()
	if err != nil {
		t.Skipf("no Vulkan device: %v", err)
	}
	require.NoError(t, dev.Sync())
	base := dev.Memory().Live
	e := New(dev)
	s := e.Scope()
	t.Cleanup(func() {
		s.Close()
		require.NoError(t, e.Sync())
		require.Equal(t, base, dev.Memory().Live, "device memory leaked by the test")
		require.Empty(t, vk.TakeValidationMessages(), "Vulkan validation layer reported problems")
	})
	return e
}

// randRef returns a float64 tensor of uniform values in [lo, hi).
func randRef(rng *rand.Rand, lo, hi float64, shape ...int) *ref.Tensor {
	r := ref.New(shape...)
	for i := range r.Data {
		r.Data[i] = lo + (hi-lo)*rng.Float64()
	}
	// Round to float32 so the twin sees exactly what the GPU sees.
	for i, v := range r.Data {
		r.Data[i] = float64(float32(v))
	}
	return r
}

// upload copies a twin's values to the device.
func upload(e *Engine, r *ref.Tensor) *Tensor { return e.FromFloat32(r.Float32(), r.Shape...) }

// requireClose downloads got and compares it with want within tol in the
// sense of ref.Close (max error relative to max(1, max |want|)).
func requireClose(t *testing.T, got *Tensor, want *ref.Tensor, tol float64, msgAndArgs ...any) {
	t.Helper()
	require.Equal(t, want.Shape, normShape(got.Shape()), msgAndArgs...)
	v, err := got.Float32()
	require.NoError(t, err, msgAndArgs...)
	require.NoError(t, ref.Close(v, want, tol), msgAndArgs...)
}

// normShape turns a nil shape into the empty one, as ref's scalars have.
func normShape(s []int) []int {
	if s == nil {
		return []int{}
	}
	return s
}
