package vk

/*
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"
)

// PresentMode is a VkPresentModeKHR.
type PresentMode uint32

// The present modes; FIFO is always available.
const (
	PresentImmediate   PresentMode = 0
	PresentMailbox     PresentMode = 1
	PresentFIFO        PresentMode = 2
	PresentFIFORelaxed PresentMode = 3
)

func (m PresentMode) String() string {
	switch m {
	case PresentImmediate:
		return "immediate"
	case PresentMailbox:
		return "mailbox"
	case PresentFIFO:
		return "fifo"
	case PresentFIFORelaxed:
		return "fifo-relaxed"
	}
	return fmt.Sprintf("present-mode-%d", uint32(m))
}

// ErrOutOfDate is returned (wrapped) by Present when the swapchain no
// longer matches its window (resized, or suboptimal): call Recreate with the
// window's framebuffer size and compose again.
var ErrOutOfDate = errors.New("vk: swapchain out of date")

// ErrZeroExtent is returned (wrapped) by NewSwapchain and Recreate while
// the window has no area (minimised): wait for it to come back.
var ErrZeroExtent = errors.New("vk: window has a zero-size framebuffer")

// ErrPresentTimeout is returned (wrapped) when no swapchain image became
// free in time; the frame is skipped.
var ErrPresentTimeout = errors.New("vk: timed out waiting for a swapchain image")

const (
	framesInFlight = 2
	acquireTimeout = 2_000_000_000  // ns
	fenceTimeout   = 30_000_000_000 // ns: a present copy that takes longer means a lost device
)

// Pixel formats a swapchain may take: 8-bit RGBA in either byte order, so a
// compute shader can pack the pixels and one buffer-to-image copy moves them.
const (
	formatR8G8B8A8Unorm = 37
	formatR8G8B8A8SRGB  = 43
	formatB8G8R8A8Unorm = 44
	formatB8G8R8A8SRGB  = 50
)

// SwapchainOptions say what a swapchain should be.
type SwapchainOptions struct {
	// Width and Height are the window's framebuffer size; the surface's
	// current extent wins where it dictates one.
	Width, Height int
	// VSync restricts the present mode to FIFO; otherwise MAILBOX is taken
	// where available (the newest frame replaces a queued one, presents never
	// wait for vertical blank) and FIFO elsewhere.
	VSync bool
}

// SwapchainStats counts a swapchain's work.
type SwapchainStats struct {
	Presents, Recreations, OutOfDate, Timeouts uint64
}

// Swapchain presents buffers of packed 8-bit pixels to a window surface:
// each Present copies a tightly packed width×height buffer (composed on the
// device's stream) into the acquired image and queues it for display.
// Methods must be called from one goroutine at a time (the window's thread);
// the device may be used by other goroutines meanwhile.
type Swapchain struct {
	d    *Device
	surf *Surface
	opts SwapchainOptions

	handle   C.VkSwapchainKHR
	images   []C.VkImage
	rendered []C.VkSemaphore // per image: the copy is done, present may read

	pool     C.VkCommandPool
	cbs      [framesInFlight]C.VkCommandBuffer
	fences   [framesInFlight]C.VkFence
	acquired [framesInFlight]C.VkSemaphore
	pending  [framesInFlight]bool // fences[i] awaits a submitted copy
	frame    int

	format uint32
	usage  uint32
	mode   PresentMode
	w, h   int

	capture    bool
	captured   []byte
	capW, capH int
	stats      SwapchainStats
}

// NewSwapchain makes a swapchain for surface s. It fails with ErrZeroExtent
// while the window is minimised.
func (d *Device) NewSwapchain(s *Surface, opts SwapchainOptions) (*Swapchain, error) {
	if s == nil || s.d != d {
		return nil, errors.New("vk: NewSwapchain needs a surface made on the same device")
	}
	if err := d.CanPresent(); err != nil {
		return nil, err
	}
	sc := &Swapchain{d: d, surf: s, opts: opts}
	d.mu.Lock()
	fns, err := d.wsiFnsLocked()
	d.mu.Unlock()
	if err != nil {
		return nil, err
	}
	dev := C.VkDevice(unsafe.Pointer(d.handle))
	var pool C.VkCommandPool
	var cbs [framesInFlight]C.VkCommandBuffer
	var fences [framesInFlight]C.VkFence
	if res := C.tsr_side_create(fns, dev, C.uint32_t(d.Info.queueFamily), framesInFlight, &pool, &cbs[0], &fences[0]); res != C.VK_SUCCESS {
		return nil, wrapResult("creating the present command pool", vk.Result(res))
	}
	sc.pool, sc.cbs, sc.fences = pool, cbs, fences
	for i := range sc.acquired {
		var sem C.VkSemaphore
		if res := C.tsr_semaphore_create(fns, dev, &sem); res != C.VK_SUCCESS {
			sc.destroyObjects()
			return nil, wrapResult("vkCreateSemaphore", vk.Result(res))
		}
		sc.acquired[i] = sem
	}
	if err := sc.create(opts.Width, opts.Height); err != nil {
		sc.destroyObjects()
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		sc.destroyObjects()
		return nil, fmt.Errorf("vk: device %s is closed", d.Info.Name)
	}
	if d.wsi.swapchains == nil {
		d.wsi.swapchains = map[*Swapchain]struct{}{}
	}
	d.wsi.swapchains[sc] = struct{}{}
	return sc, nil
}

func chooseFormat(c *C.tsr_surface_caps) (format, colorspace uint32, ok bool) {
	for _, want := range []uint32{formatB8G8R8A8Unorm, formatR8G8B8A8Unorm, formatB8G8R8A8SRGB, formatR8G8B8A8SRGB} {
		for i := 0; i < int(c.nformats); i++ {
			if uint32(c.formats[i]) == want {
				return want, uint32(c.colorspaces[i]), true
			}
		}
	}
	return 0, 0, false
}

// create (re)builds the swapchain at the surface's extent, retiring the
// current one; the caller has made sure none of its images is in use.
func (sc *Swapchain) create(width, height int) error {
	d := sc.d
	c, err := sc.surf.query()
	if err != nil {
		return err
	}
	w, h := width, height
	if uint32(c.cur_w) != 0xFFFFFFFF {
		w, h = int(c.cur_w), int(c.cur_h)
	} else {
		w = max(int(c.min_w), min(w, int(c.max_w)))
		h = max(int(c.min_h), min(h, int(c.max_h)))
	}
	if w <= 0 || h <= 0 {
		return fmt.Errorf("%w (%d×%d)", ErrZeroExtent, w, h)
	}
	if uint64(w)*uint64(h)*4 > d.Info.MaxStorageBufferRange {
		return fmt.Errorf("vk: a %d×%d window is larger than %s can compose in one buffer", w, h, d.Info.Name)
	}
	format, colorspace, ok := chooseFormat(&c)
	if !ok {
		return fmt.Errorf("%w: the surface offers no 8-bit RGBA or BGRA format", ErrNoPresent)
	}
	usage := uint32(c.usage)
	if usage&C.VK_IMAGE_USAGE_TRANSFER_DST_BIT == 0 {
		return fmt.Errorf("%w: the surface's images cannot be copied into (no TRANSFER_DST usage)", ErrNoPresent)
	}
	usage &= C.VK_IMAGE_USAGE_TRANSFER_DST_BIT | C.VK_IMAGE_USAGE_TRANSFER_SRC_BIT
	mode := PresentFIFO
	if !sc.opts.VSync {
		for i := 0; i < int(c.nmodes); i++ {
			if PresentMode(c.modes[i]) == PresentMailbox {
				mode = PresentMailbox
			}
		}
	}
	count := max(int(c.min_images)+1, 2)
	if c.max_images > 0 {
		count = min(count, int(c.max_images))
	}
	count = min(count, C.TSR_MAX_IMAGES)
	alpha := uint32(C.VK_COMPOSITE_ALPHA_OPAQUE_BIT_KHR)
	if uint32(c.composite_alpha)&alpha == 0 {
		alpha = uint32(c.composite_alpha) & -uint32(c.composite_alpha) // lowest supported bit
	}
	sc.d.mu.Lock()
	fns, err := d.wsiFnsLocked()
	sc.d.mu.Unlock()
	if err != nil {
		return err
	}
	dev := C.VkDevice(unsafe.Pointer(d.handle))
	var handle C.VkSwapchainKHR
	var n C.uint32_t
	var images [C.TSR_MAX_IMAGES]C.VkImage
	res := C.tsr_swapchain_create(fns, dev, sc.surf.handle, C.uint32_t(count), C.uint32_t(format), C.uint32_t(colorspace),
		C.uint32_t(w), C.uint32_t(h), C.uint32_t(usage), c.current_transform, C.uint32_t(alpha), C.uint32_t(mode),
		sc.handle, &handle, &n, &images[0])
	// The old swapchain is retired either way; its images are idle.
	sc.destroySwapchain()
	if res != C.VK_SUCCESS {
		if vk.Result(res) == vk.ErrorOutOfDate {
			return fmt.Errorf("%w: creating a %d×%d swapchain", ErrOutOfDate, w, h)
		}
		return wrapResult("vkCreateSwapchainKHR", vk.Result(res))
	}
	sc.handle = handle
	sc.images = append([]C.VkImage(nil), images[:n]...)
	for range sc.images {
		var sem C.VkSemaphore
		if r := C.tsr_semaphore_create(fns, dev, &sem); r != C.VK_SUCCESS {
			sc.destroySwapchain()
			return wrapResult("vkCreateSemaphore", vk.Result(r))
		}
		sc.rendered = append(sc.rendered, sem)
	}
	sc.format, sc.usage, sc.mode, sc.w, sc.h = format, usage, mode, w, h
	return nil
}

// Extent is the size of the swapchain's images: what Present's buffer must
// hold, width×height packed 32-bit pixels.
func (sc *Swapchain) Extent() (width, height int) { return sc.w, sc.h }

// BGRA reports whether the pixels' bytes are in B, G, R, A order (else R,
// G, B, A); the composing shader packs accordingly.
func (sc *Swapchain) BGRA() bool {
	return sc.format == formatB8G8R8A8Unorm || sc.format == formatB8G8R8A8SRGB
}

// Mode is the present mode in use.
func (sc *Swapchain) Mode() PresentMode { return sc.mode }

// Images is the number of swapchain images.
func (sc *Swapchain) Images() int { return len(sc.images) }

// Stats returns the swapchain's counters.
func (sc *Swapchain) Stats() SwapchainStats { return sc.stats }

// waitIdle waits for this swapchain's copies and then for the queue, so
// that the presents that waited on its semaphores are done too.
func (sc *Swapchain) waitIdle() error {
	d := sc.d
	d.mu.Lock()
	fns, err := d.wsiFnsLocked()
	d.mu.Unlock()
	if err != nil {
		return err
	}
	dev := C.VkDevice(unsafe.Pointer(d.handle))
	for i, f := range sc.fences {
		if !sc.pending[i] {
			continue
		}
		if res := C.tsr_fence_wait(fns, dev, f, fenceTimeout, 0); res != C.VK_SUCCESS {
			return fmt.Errorf("vk: waiting for a present copy (device lost?): %w", wrapResult("vkWaitForFences", vk.Result(res)))
		}
		sc.pending[i] = false
	}
	// The queue is shared with the stream: it is waited on under the lock.
	d.mu.Lock()
	defer d.mu.Unlock()
	if res := C.tsr_queue_wait_idle(fns, C.VkQueue(unsafe.Pointer(d.queue))); res != C.VK_SUCCESS {
		return wrapResult("vkQueueWaitIdle", vk.Result(res))
	}
	return nil
}

// Recreate rebuilds the swapchain for a window whose framebuffer is now
// width×height. It returns ErrZeroExtent while the window is minimised
// (then Present fails until a Recreate succeeds).
func (sc *Swapchain) Recreate(width, height int) error {
	if sc.pool == nil {
		return errors.New("vk: swapchain destroyed")
	}
	if err := sc.waitIdle(); err != nil {
		return err
	}
	sc.stats.Recreations++
	sc.opts.Width, sc.opts.Height = width, height
	return sc.create(width, height)
}

// Capture makes the next Present also copy the presented image back to
// the host (for tests and screenshots of what is on screen); Captured
// returns it. It reports false when the surface's images cannot be read
// (no TRANSFER_SRC usage).
func (sc *Swapchain) Capture() bool {
	sc.capture = sc.usage&C.VK_IMAGE_USAGE_TRANSFER_SRC_BIT != 0
	return sc.capture
}

// Captured returns the image the last capturing Present presented, in
// the swapchain's byte order (see BGRA), with its size; nil before one.
func (sc *Swapchain) Captured() (pix []byte, width, height int) {
	if sc.captured == nil {
		return nil, 0, 0
	}
	return sc.captured, sc.capW, sc.capH
}

// Present copies src (width×height packed pixels at the current Extent, in
// the byte order BGRA reports) into the next swapchain image and queues it
// for display. The copy is ordered after the stream's work that wrote src
// (recorded work is submitted first). The device lock is held only to
// submit and to present, never while waiting for an image or for the copy,
// so goroutines training on the device keep recording meanwhile. It
// returns ErrOutOfDate when the swapchain must be recreated (after
// presenting, when it was merely suboptimal), ErrPresentTimeout when no
// image was free in time.
func (sc *Swapchain) Present(src Range) error {
	d := sc.d
	if sc.handle == nil {
		return fmt.Errorf("%w: no swapchain (window minimised?)", ErrOutOfDate)
	}
	need := uint64(sc.w) * uint64(sc.h) * 4
	if !src.Valid() || src.Size < need {
		return fmt.Errorf("vk: presenting a %d-byte buffer to a %d×%d swapchain (%d bytes)", src.Size, sc.w, sc.h, need)
	}
	d.mu.Lock()
	fns, err := d.wsiFnsLocked()
	d.mu.Unlock()
	if err != nil {
		return err
	}
	dev := C.VkDevice(unsafe.Pointer(d.handle))
	f := sc.frame % framesInFlight
	if sc.pending[f] {
		if res := C.tsr_fence_wait(fns, dev, sc.fences[f], fenceTimeout, 0); res != C.VK_SUCCESS {
			return fmt.Errorf("vk: waiting for a present copy (device lost?): %w", wrapResult("vkWaitForFences", vk.Result(res)))
		}
		sc.pending[f] = false
	}
	var index C.uint32_t
	res := C.tsr_acquire(fns, dev, sc.handle, acquireTimeout, sc.acquired[f], &index)
	suboptimal := false
	switch vk.Result(res) {
	case vk.Success:
	case vk.Suboptimal:
		suboptimal = true
	case vk.ErrorOutOfDate:
		sc.stats.OutOfDate++
		return fmt.Errorf("%w: acquiring an image", ErrOutOfDate)
	case vk.Timeout, vk.NotReady:
		sc.stats.Timeouts++
		return ErrPresentTimeout
	default:
		return wrapResult("vkAcquireNextImageKHR", vk.Result(res))
	}
	// The fence is signalled (created so, or waited above): reset it for
	// this frame's copy.
	C.tsr_fence_wait(fns, dev, sc.fences[f], 0, 1)
	var capRange Range
	if sc.capture {
		d.mu.Lock()
		capRange, err = d.staging.alloc(need)
		d.mu.Unlock()
		if err != nil {
			capRange = Range{}
		}
	}
	var capBuf, capOff C.uint64_t
	if capRange.Valid() {
		capBuf, capOff = C.uint64_t(capRange.blk.handle()), C.uint64_t(capRange.Offset)
	}
	cb := sc.cbs[f]
	rec := C.tsr_record_blit(fns, cb, C.uint64_t(src.blk.handle()), C.uint64_t(src.Offset), sc.images[index],
		C.uint32_t(sc.w), C.uint32_t(sc.h), capBuf, capOff)
	queue := C.VkQueue(unsafe.Pointer(d.queue))
	d.mu.Lock()
	// Submit what the stream recorded (the composing dispatch) first:
	// queue order, then the copy's barrier, make its writes visible.
	serr := d.stream.submit()
	sres := rec
	if rec == C.VK_SUCCESS {
		sres = C.tsr_submit(fns, queue, cb, sc.acquired[f], sc.rendered[index], sc.fences[f])
	}
	d.mu.Unlock()
	if serr != nil || sres != C.VK_SUCCESS {
		// The acquired image and its pending semaphore are given back only
		// by retiring the swapchain: drop it, Recreate builds a new one.
		sc.releaseCapture(capRange)
		sc.handleLost()
		if serr != nil {
			return serr
		}
		return wrapResult("submitting a present copy", vk.Result(sres))
	}
	sc.pending[f] = true
	sc.frame++
	// Wait for the copy before presenting: software presenters (Lavapipe's
	// X11 path) wait for the queue inside vkQueuePresentKHR, which would
	// otherwise hold the device lock while training work drains.
	if r := C.tsr_fence_wait(fns, dev, sc.fences[f], fenceTimeout, 0); r != C.VK_SUCCESS {
		sc.releaseCapture(capRange)
		sc.capture = false
		return fmt.Errorf("vk: waiting for a present copy (device lost?): %w", wrapResult("vkWaitForFences", vk.Result(r)))
	}
	if capRange.Valid() {
		sc.captured = append(sc.captured[:0], capRange.bytes()[:need]...)
		sc.capW, sc.capH = sc.w, sc.h
		sc.capture = false
		sc.releaseCapture(capRange)
	}
	d.mu.Lock()
	pres := C.tsr_present(fns, queue, sc.handle, index, sc.rendered[index])
	d.mu.Unlock()
	switch vk.Result(pres) {
	case vk.Success:
		sc.stats.Presents++
	case vk.Suboptimal:
		sc.stats.Presents++
		suboptimal = true
	case vk.ErrorOutOfDate:
		sc.stats.OutOfDate++
		return fmt.Errorf("%w: presenting", ErrOutOfDate)
	default:
		return wrapResult("vkQueuePresentKHR", vk.Result(pres))
	}
	if suboptimal {
		sc.stats.OutOfDate++
		return fmt.Errorf("%w: suboptimal for the window", ErrOutOfDate)
	}
	return nil
}

func (sc *Swapchain) releaseCapture(r Range) {
	if !r.Valid() {
		return
	}
	sc.d.mu.Lock()
	sc.d.staging.release(r)
	sc.d.mu.Unlock()
}

// handleLost drops the swapchain after a failed submit: its acquired image
// can only be given back by retiring it, which Recreate does.
func (sc *Swapchain) handleLost() {
	sc.d.mu.Lock()
	defer sc.d.mu.Unlock()
	if fns := sc.d.wsi.fns; fns != nil {
		C.tsr_queue_wait_idle(fns, C.VkQueue(unsafe.Pointer(sc.d.queue)))
	}
	sc.destroySwapchain()
}

// Destroy waits for the swapchain's presents and releases it. It does not
// destroy the surface. Destroying twice does nothing.
func (sc *Swapchain) Destroy() error {
	if sc == nil || sc.pool == nil {
		return nil
	}
	err := sc.waitIdle()
	d := sc.d
	d.mu.Lock()
	defer d.mu.Unlock()
	sc.destroyLocked()
	return err
}

func (sc *Swapchain) destroyLocked() {
	sc.destroyObjects()
	delete(sc.d.wsi.swapchains, sc)
}

// destroySwapchain destroys the VkSwapchainKHR and its semaphores.
func (sc *Swapchain) destroySwapchain() {
	fns := sc.d.wsi.fns
	if fns == nil {
		return
	}
	dev := C.VkDevice(unsafe.Pointer(sc.d.handle))
	for _, s := range sc.rendered {
		C.tsr_semaphore_destroy(fns, dev, s)
	}
	sc.rendered = nil
	C.tsr_swapchain_destroy(fns, dev, sc.handle)
	sc.handle = nil
	sc.images = nil
}

// destroyObjects destroys everything the swapchain owns; the caller has
// waited for its work.
func (sc *Swapchain) destroyObjects() {
	fns := sc.d.wsi.fns
	if fns == nil || sc.pool == nil {
		return
	}
	sc.destroySwapchain()
	dev := C.VkDevice(unsafe.Pointer(sc.d.handle))
	for i, s := range sc.acquired {
		if s != nil {
			C.tsr_semaphore_destroy(fns, dev, s)
			sc.acquired[i] = nil
		}
	}
	fences := sc.fences
	C.tsr_side_destroy(fns, dev, sc.pool, framesInFlight, &fences[0])
	sc.pool = nil
}

// ReadFrame copies the first len(dst) bytes of r to dst, like Read, but
// waits for the copy with the device unlocked, so that other goroutines
// keep recording and submitting meanwhile: reading back a composed frame
// (screenshots, the viewer's headless PNGs) does not stall training.
func (d *Device) ReadFrame(r Range, dst []byte) error {
	if len(dst) == 0 {
		return nil
	}
	if !r.Valid() || uint64(len(dst)) > r.Size {
		return fmt.Errorf("vk: reading %d bytes from a %d-byte range", len(dst), r.Size)
	}
	d.mu.Lock()
	fns, err := d.wsiFnsLocked()
	if err != nil {
		d.mu.Unlock()
		return err
	}
	st, err := d.staging.alloc(uint64(len(dst)))
	d.mu.Unlock()
	if err != nil {
		return err
	}
	defer func() {
		d.mu.Lock()
		if !d.closed {
			d.staging.release(st)
		}
		d.mu.Unlock()
	}()
	dev := C.VkDevice(unsafe.Pointer(d.handle))
	var pool C.VkCommandPool
	var cbs [1]C.VkCommandBuffer
	var fences [1]C.VkFence
	if res := C.tsr_side_create(fns, dev, C.uint32_t(d.Info.queueFamily), 1, &pool, &cbs[0], &fences[0]); res != C.VK_SUCCESS {
		return wrapResult("creating a readback command pool", vk.Result(res))
	}
	defer C.tsr_side_destroy(fns, dev, pool, 1, &fences[0])
	C.tsr_fence_wait(fns, dev, fences[0], 0, 1) // created signalled
	if res := C.tsr_record_readback(fns, cbs[0], C.uint64_t(r.blk.handle()), C.uint64_t(r.Offset),
		C.uint64_t(st.blk.handle()), C.uint64_t(st.Offset), C.uint64_t(len(dst))); res != C.VK_SUCCESS {
		return wrapResult("recording a readback", vk.Result(res))
	}
	d.mu.Lock()
	if err := d.stream.submit(); err != nil {
		d.mu.Unlock()
		return err
	}
	res := C.tsr_submit(fns, C.VkQueue(unsafe.Pointer(d.queue)), cbs[0], nil, nil, fences[0])
	d.mu.Unlock()
	if res != C.VK_SUCCESS {
		return wrapResult("submitting a readback", vk.Result(res))
	}
	if res := C.tsr_fence_wait(fns, dev, fences[0], fenceTimeout, 0); res != C.VK_SUCCESS {
		return fmt.Errorf("vk: waiting for a readback (device lost?): %w", wrapResult("vkWaitForFences", vk.Result(res)))
	}
	copy(dst, st.bytes())
	return nil
}
