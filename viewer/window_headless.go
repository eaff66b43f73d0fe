//go:build headless || tessera_headless

package viewer

// This is the build without GLFW (-tags tessera_headless, or headless;
// vulkan-go gives the latter a meaning of its own): the viewer composes
// frames on the device and writes them as PNGs; it never opens a window,
// so the binary needs no X11 headers or libraries.

// windowState is empty: there are no windows.
type windowState struct{}

// openWindow reports that windows are not built in.
func openWindow(v *Viewer) (windowLoop, error) {
	_ = v.windowState // nothing to keep: no window is ever open
	return nil, ErrBuiltHeadless
}

// Main runs run and returns its result: without windows the main thread
// has nothing to serve.
func Main(run func() int) int { return run() }
