package nn

import (
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
