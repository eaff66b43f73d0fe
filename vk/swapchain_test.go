package vk

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// Swapchains need a window; the viewer's tests present to one under Xvfb.
// Here: what works without one.

func TestReadFrameMatchesRead(t *testing.T) {
	forEachConfig(t, func(t *testing.T, d *Device) {
		rng := rand.New(rand.NewPCG(1, 2))
		src := make([]byte, 4*1003)
		for i := range src {
			src[i] = byte(rng.IntN(256))
		}
		r, err := d.Alloc(uint64(len(src)))
		require.NoError(t, err)
		defer d.Free(r)
		require.NoError(t, d.Write(r, src))
		// A copy recorded on the stream but not submitted: ReadFrame must
		// submit it and wait for it.
		dst, err := d.Alloc(uint64(len(src)))
		require.NoError(t, err)
		defer d.Free(dst)
		d.Copy(dst, r)
		got := make([]byte, len(src)-4)
		require.NoError(t, d.ReadFrame(dst, got))
		require.Equal(t, src[:len(got)], got)
		require.Error(t, d.ReadFrame(dst, make([]byte, len(src)+4)), "reading past the range")
		require.NoError(t, d.ReadFrame(Range{}, nil), "nothing to read")
	})
}

func TestSurfaceExtensionsEnabled(t *testing.T) {
	d := testDevice(t)
	exts, err := SurfaceExtensions()
	require.NoError(t, err)
	if len(exts) == 0 {
		require.ErrorIs(t, d.CanPresent(), ErrNoPresent)
		t.Skip("the Vulkan loader has no window-system extensions")
	}
	require.Equal(t, "VK_KHR_surface", exts[0])
	require.NotContains(t, exts, "VK_KHR_wayland_surface")
	if err := d.CanPresent(); err != nil {
		require.ErrorIs(t, err, ErrNoPresent)
		t.Skipf("%s cannot present: %v", d.Info.Name, err)
	}
	_, err = d.NewSwapchain(nil, SwapchainOptions{Width: 8, Height: 8})
	require.Error(t, err)
}
