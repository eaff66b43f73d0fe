// Package testdev gives tests a tensor engine on the default Vulkan device,
// and checks at cleanup what every device test must leave behind: no
// recorded error, every byte of device memory given back, and no message
// from the validation layer (on under `make test`).
package testdev

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor"
	"github.com/tessera-ml/tessera/vk"
)

// Engine opens the default device with one scope for the test; it skips
// the test when the machine has no Vulkan driver at all (make test installs
// Lavapipe, so CI never skips).
func Engine(t testing.TB) *tensor.Engine {
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
	return e
}
