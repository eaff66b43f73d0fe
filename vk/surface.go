package vk

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"
)

// Window-system integration. The instance enables VK_KHR_surface and every
// platform surface extension the loader offers, and a device enables
// VK_KHR_swapchain when it has it; nothing else changes for headless use.
// Surfaces are made from a window's native handles (Xlib) or adopted from a
// windowing library; swapchains (swapchain.go) present buffers the stream's
// compute kernels composed.

// ErrNoPresent is returned (wrapped) when the instance or device cannot
// present to windows: no surface extensions, no VK_KHR_swapchain, or a
// queue that cannot present to the window.
var ErrNoPresent = errors.New("vk: presenting to windows is not supported")

// platformSurfaceExtensions are the window-system surface extensions an
// instance enables when the loader has them: GLFW's X11 build needs xlib or
// xcb. Not Wayland: Mesa's Wayland WSI complains on stderr at instance
// creation when XDG_RUNTIME_DIR is unset, which headless runs must not see.
var platformSurfaceExtensions = []string{"VK_KHR_xlib_surface", "VK_KHR_xcb_surface"}

// wsiInstanceExtensions lists the surface extensions to enable: none when
// the loader lacks VK_KHR_surface or TESSERA_WSI=0 turns them off.
func wsiInstanceExtensions() []string {
	if os.Getenv("TESSERA_WSI") == "0" {
		return nil
	}
	var n uint32
	if vk.EnumerateInstanceExtensionProperties("", &n, nil) != vk.Success || n == 0 {
		return nil
	}
	props := make([]vk.ExtensionProperties, n)
	if vk.EnumerateInstanceExtensionProperties("", &n, props) != vk.Success {
		return nil
	}
	have := map[string]bool{}
	for _, p := range props[:n] {
		p.Deref()
		have[vk.ToString(p.ExtensionName[:])] = true
	}
	if !have["VK_KHR_surface"] {
		return nil
	}
	exts := []string{"VK_KHR_surface"}
	for _, e := range platformSurfaceExtensions {
		if have[e] {
			exts = append(exts, e)
		}
	}
	if len(exts) == 1 {
		return nil // a surface extension without a platform is no use
	}
	return exts
}

func deviceHasExtension(pd vk.PhysicalDevice, name string) bool {
	var n uint32
	if vk.EnumerateDeviceExtensionProperties(pd, "", &n, nil) != vk.Success || n == 0 {
		return false
	}
	exts := make([]vk.ExtensionProperties, n)
	if vk.EnumerateDeviceExtensionProperties(pd, "", &n, exts) != vk.Success {
		return false
	}
	for _, e := range exts[:n] {
		e.Deref()
		if vk.ToString(e.ExtensionName[:]) == name {
			return true
		}
	}
	return false
}

// SurfaceExtensions lists the window-system instance extensions the
// process's instance enabled (empty when it cannot present).
func SurfaceExtensions() ([]string, error) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	inst, err := loadInstance()
	if err != nil {
		return nil, err
	}
	return append([]string(nil), inst.wsiExts...), nil
}

// wsiDevice is a Device's window-system state, guarded by the Device's mutex.
type wsiDevice struct {
	swapchain  bool       // VK_KHR_swapchain enabled
	fns        *C.tsr_wsi // loaded on first use
	surfaces   map[*Surface]struct{}
	swapchains map[*Swapchain]struct{}
}

// wsiFnsLocked returns the side-submission and swapchain entry points,
// loading them on first use.
func (d *Device) wsiFnsLocked() (*C.tsr_wsi, error) {
	if d.closed {
		return nil, fmt.Errorf("vk: device %s is closed", d.Info.Name)
	}
	if d.wsi.fns == nil {
		sc := C.int(0)
		if d.wsi.swapchain {
			sc = 1
		}
		d.wsi.fns = C.tsr_wsi_load(d.inst.gipa, C.VkInstance(unsafe.Pointer(d.inst.handle)), C.VkDevice(unsafe.Pointer(d.handle)), sc)
		if d.wsi.fns == nil {
			return nil, fmt.Errorf("vk: %s: missing device entry points for presenting", d.Info.Name)
		}
	}
	return d.wsi.fns, nil
}

// destroy releases what windows left behind when the device closes first.
func (w *wsiDevice) destroy() {
	for sc := range w.swapchains {
		sc.destroyLocked()
	}
	for s := range w.surfaces {
		s.destroyLocked()
	}
	w.swapchains, w.surfaces = nil, nil
	if w.fns != nil {
		C.tsr_wsi_free(w.fns)
		w.fns = nil
	}
}

// CanPresent returns nil when d can present to window surfaces (the
// instance has surface extensions and d has VK_KHR_swapchain), else an
// error wrapping ErrNoPresent that says what is missing.
func (d *Device) CanPresent() error {
	if len(d.inst.wsiExts) == 0 {
		return fmt.Errorf("%w: the Vulkan loader has no VK_KHR_surface with a platform surface extension (or TESSERA_WSI=0)", ErrNoPresent)
	}
	if !d.wsi.swapchain {
		return fmt.Errorf("%w: %s has no VK_KHR_swapchain", ErrNoPresent, d.Info.Name)
	}
	return nil
}

func (d *Device) hasInstanceExt(name string) bool {
	for _, e := range d.inst.wsiExts {
		if e == name {
			return true
		}
	}
	return false
}

// Surface is a window's presentation surface on the process's instance,
// checked to be presentable from a device's queue. Destroy it after the
// swapchains made from it and before the window.
type Surface struct {
	d      *Device
	handle C.VkSurfaceKHR
}

// HasXlibSurface reports whether surfaces can be made from Xlib windows.
func (d *Device) HasXlibSurface() bool { return d.hasInstanceExt("VK_KHR_xlib_surface") }

// CreateXlibSurface makes a surface for an X11 window: display is the
// Display* and window the Window id (as glfw's GetX11Display and
// GetX11Window return them).
func (d *Device) CreateXlibSurface(display unsafe.Pointer, window uint64) (*Surface, error) {
	if err := d.CanPresent(); err != nil {
		return nil, err
	}
	if !d.HasXlibSurface() {
		return nil, fmt.Errorf("%w: the Vulkan loader has no VK_KHR_xlib_surface", ErrNoPresent)
	}
	var h C.VkSurfaceKHR
	res := C.tsr_surface_create_xlib(d.inst.gipa, C.VkInstance(unsafe.Pointer(d.inst.handle)), display, C.uint64_t(window), &h)
	if res != C.VK_SUCCESS {
		return nil, fmt.Errorf("vk: vkCreateXlibSurfaceKHR: %v", vk.Error(vk.Result(res)))
	}
	return d.adopt(h)
}

func (d *Device) adopt(h C.VkSurfaceKHR) (*Surface, error) {
	inst := C.VkInstance(unsafe.Pointer(d.inst.handle))
	var ok C.uint32_t
	res := C.tsr_surface_support(d.inst.gipa, inst, C.VkPhysicalDevice(unsafe.Pointer(d.inst.physical[d.Info.Index])), C.uint32_t(d.Info.queueFamily), h, &ok)
	if res != C.VK_SUCCESS || ok == 0 {
		C.tsr_surface_destroy(d.inst.gipa, inst, h)
		if res != C.VK_SUCCESS {
			return nil, fmt.Errorf("vk: vkGetPhysicalDeviceSurfaceSupportKHR: %v", vk.Error(vk.Result(res)))
		}
		return nil, fmt.Errorf("%w: the compute queue of %s cannot present to this window", ErrNoPresent, d.Info.Name)
	}
	s := &Surface{d: d, handle: h}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		C.tsr_surface_destroy(d.inst.gipa, inst, h)
		return nil, fmt.Errorf("vk: device %s is closed", d.Info.Name)
	}
	if d.wsi.surfaces == nil {
		d.wsi.surfaces = map[*Surface]struct{}{}
	}
	d.wsi.surfaces[s] = struct{}{}
	return s, nil
}

// Destroy destroys the surface (and any swapchain still made from it).
// Destroying twice does nothing.
func (s *Surface) Destroy() {
	if s == nil {
		return
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	for sc := range s.d.wsi.swapchains {
		if sc.surf == s {
			sc.destroyLocked()
		}
	}
	s.destroyLocked()
}

func (s *Surface) destroyLocked() {
	if s.handle == nil {
		return
	}
	C.tsr_surface_destroy(s.d.inst.gipa, C.VkInstance(unsafe.Pointer(s.d.inst.handle)), s.handle)
	s.handle = nil
	delete(s.d.wsi.surfaces, s)
}

// SurfaceCaps is what a surface supports on the device.
type SurfaceCaps struct {
	MinImages, MaxImages     int      // MaxImages 0: no limit
	Width, Height            int      // current extent; -1 when the swapchain decides
	MinWidth, MinHeight      int      // smallest extent
	MaxWidth, MaxHeight      int      // largest extent
	Formats                  []uint32 // VkFormat values, in the driver's order
	PresentModes             []PresentMode
	TransferDst, TransferSrc bool
}

func (s *Surface) query() (C.tsr_surface_caps, error) {
	var c C.tsr_surface_caps
	d := s.d
	res := C.tsr_surface_query(d.inst.gipa, C.VkInstance(unsafe.Pointer(d.inst.handle)),
		C.VkPhysicalDevice(unsafe.Pointer(d.inst.physical[d.Info.Index])), s.handle, &c)
	if res != C.VK_SUCCESS {
		return c, fmt.Errorf("vk: querying the surface: %v", vk.Error(vk.Result(res)))
	}
	return c, nil
}

// Caps queries the surface's capabilities now (they change as the window
// is resized).
func (s *Surface) Caps() (SurfaceCaps, error) {
	if s.handle == nil {
		return SurfaceCaps{}, errors.New("vk: surface destroyed")
	}
	c, err := s.query()
	if err != nil {
		return SurfaceCaps{}, err
	}
	caps := SurfaceCaps{
		MinImages: int(c.min_images), MaxImages: int(c.max_images),
		Width: int(int32(c.cur_w)), Height: int(int32(c.cur_h)),
		MinWidth: int(c.min_w), MinHeight: int(c.min_h), MaxWidth: int(c.max_w), MaxHeight: int(c.max_h),
		TransferDst: c.usage&C.VK_IMAGE_USAGE_TRANSFER_DST_BIT != 0,
		TransferSrc: c.usage&C.VK_IMAGE_USAGE_TRANSFER_SRC_BIT != 0,
	}
	for i := 0; i < int(c.nformats); i++ {
		caps.Formats = append(caps.Formats, uint32(c.formats[i]))
	}
	for i := 0; i < int(c.nmodes); i++ {
		caps.PresentModes = append(caps.PresentModes, PresentMode(c.modes[i]))
	}
	return caps, nil
}
