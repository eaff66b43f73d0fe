package viewer

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tessera-ml/tessera/vk"
)

// ErrBuiltHeadless is returned (wrapped) by the window constructors of a
// binary built with -tags tessera_headless (or headless); Run then writes
// PNGs instead.
var ErrBuiltHeadless = errors.New("viewer: this binary was built without windows (-tags tessera_headless)")

// ErrNotMainThread is returned (wrapped) when a window is opened from a
// goroutine other than the main one while no Main loop serves the main
// thread: GLFW must run on the process's main thread.
var ErrNotMainThread = errors.New("viewer: windows must be opened from the main goroutine (or inside viewer.Main)")

// Options configure a viewer.
type Options struct {
	// Title is the window title (default "tessera").
	Title string
	// Width and Height are the window's initial size and the size of
	// headless frames (default 1024×768).
	Width, Height int
	// VSync restricts presenting to FIFO; by default MAILBOX is used where
	// the driver has it (the newest frame replaces a queued one).
	VSync bool
	// Headless never opens a window: frames go to PNGs in Dir.
	Headless bool
	// Dir receives headless frames (frame-000001.png ...) and screenshots
	// (default "viewer-frames").
	Dir string
	// Interval is the least time between two new frames composed for the
	// window or written as PNGs (0: every posted frame, as fast as they are
	// composed): on a CPU driver composing costs the training device time.
	// Frames posted in between are dropped; the last one is always shown.
	Interval time.Duration
	// KeepOpen keeps the window open after the body returns, until the
	// user closes it.
	KeepOpen bool
	// Log receives the viewer's one-line notices (default os.Stderr).
	Log io.Writer
	// OnKey is called (on the window's thread) for each key press or
	// repeat; returning true skips the built-in action (q and Esc close,
	// s writes a screenshot).
	OnKey func(KeyEvent) bool
	// OnScroll is called for mouse-wheel and touchpad scrolls; returning
	// true skips the built-in zoom of image, token and heat-map panels.
	OnScroll func(ScrollEvent) bool
	// OnClose is called once the window has been closed while the body
	// still runs; Closed is closed at the same time.
	OnClose func()
}

// Key identifies a key: lower-case letters and digits are their runes
// ('a', '7'); other keys are the constants below.
type Key rune

// Keys without a printable rune.
const (
	KeyUnknown Key = -1 - iota
	KeyEscape
	KeyEnter
	KeyTab
	KeyBackspace
	KeyLeft
	KeyRight
	KeyUp
	KeyDown
	KeyPageUp
	KeyPageDown
	KeyHome
	KeyEnd
	KeySpace Key = ' '
)

// KeyEvent is a key press (or auto-repeat) in the window.
type KeyEvent struct {
	Key              Key
	Repeat           bool
	Shift, Ctrl, Alt bool
}

// ScrollEvent is a scroll of the mouse wheel (DY > 0: away from the user)
// or a touchpad, with the cursor position in window pixels.
type ScrollEvent struct {
	DX, DY float64
	X, Y   float64
}

// Stats counts a viewer's frames.
type Stats struct {
	Posted    uint64 // frames accepted by Post
	Composed  uint64 // frames composed on the device
	Presented uint64 // frames shown in the window
	Written   uint64 // PNGs written (headless frames and screenshots)
}

// Viewer shows frames posted by a training loop: in a window whose
// swapchain images are composed on the engine's device, or as PNGs when
// there is no display. Post may be called from any goroutine; it never
// waits for the window.
type Viewer struct {
	dev  *vk.Device
	opts Options
	comp *compositor

	mu       sync.Mutex // guards latest, seq, closed; held while recording a compose
	latest   *snapshot
	seq      uint64
	closed   bool
	closedCh chan struct{}
	wake     chan struct{} // a frame was posted
	headless bool

	windowState // the open window (window_glfw.go), guarded by mu
	closeReq    atomic.Bool
	zoom        float64 // window thread only

	posted, composed, presented, written atomic.Uint64
}

// Post shows f: its panels' tensors are copied on the device now (cheap
// device-to-device copies recorded on the stream, so f's tensors may be
// released or overwritten at once) and the window composes the newest
// posted frame when it next draws. It returns false, doing nothing, once
// the window has been closed or the viewer has finished.
func (v *Viewer) Post(f *Frame) bool {
	if f == nil {
		return false
	}
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return false
	}
	v.seq++
	seq := v.seq
	v.mu.Unlock()
	s, err := snapshotFrame(v.dev, f, seq)
	if err != nil {
		fmt.Fprintf(v.opts.Log, "viewer: dropping a frame: %v\n", err)
		return false
	}
	v.mu.Lock()
	if v.closed || (v.latest != nil && v.latest.seq > s.seq) {
		// Closed meanwhile, or a newer frame from another goroutine won.
		v.mu.Unlock()
		v.dev.Free(s.arena)
		return !v.closed
	}
	old := v.latest
	v.latest = s
	v.mu.Unlock()
	// A compose that read old recorded its dispatch under v.mu, before
	// this: the stream orders the arena's reuse after it.
	if old != nil {
		v.dev.Free(old.arena)
	}
	v.posted.Add(1)
	select {
	case v.wake <- struct{}{}:
	default:
	}
	return true
}

// Closed is closed when the window is closed (by the user, q/Esc, or
// Close) or the viewer finishes; posting after that does nothing.
func (v *Viewer) Closed() <-chan struct{} { return v.closedCh }

// Close asks the window to close (from any goroutine); training goes on.
func (v *Viewer) Close() { v.closeReq.Store(true) }

// Headless reports whether frames go to PNGs rather than a window.
func (v *Viewer) Headless() bool { return v.headless }

// Stats returns the viewer's counters.
func (v *Viewer) Stats() Stats {
	return Stats{Posted: v.posted.Load(), Composed: v.composed.Load(), Presented: v.presented.Load(), Written: v.written.Load()}
}

// Device is the device frames are composed on.
func (v *Viewer) Device() *vk.Device { return v.dev }

func newViewer(dev *vk.Device, opts Options) (*Viewer, error) {
	if dev == nil {
		return nil, errors.New("viewer: nil device")
	}
	if opts.Title == "" {
		opts.Title = "tessera"
	}
	if opts.Width <= 0 {
		opts.Width = 1024
	}
	if opts.Height <= 0 {
		opts.Height = 768
	}
	if opts.Dir == "" {
		opts.Dir = "viewer-frames"
	}
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	comp, err := newCompositor(dev)
	if err != nil {
		return nil, fmt.Errorf("viewer: %w", err)
	}
	return &Viewer{dev: dev, opts: opts, comp: comp, closedCh: make(chan struct{}), wake: make(chan struct{}, 1), zoom: 1}, nil
}

// markClosed stops Post and releases the posted frame; it reports whether
// this call closed the viewer.
func (v *Viewer) markClosed() bool {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return false
	}
	v.closed = true
	old := v.latest
	v.latest = nil
	close(v.closedCh)
	v.mu.Unlock()
	if old != nil {
		v.dev.Free(old.arena)
	}
	return true
}

// release frees the viewer's device memory once nothing is in flight.
func (v *Viewer) release() {
	v.markClosed()
	v.comp.release()
}

// compose records the composition of the newest frame into a w×h buffer.
func (v *Viewer) compose(w, h int, bgra bool) (vk.Range, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	out, err := v.comp.composeFrame(v.latest, w, h, bgra, v.zoom)
	if err == nil {
		v.composed.Add(1)
	}
	return out, err
}

// latestSeq is the sequence number of the newest frame (0: none yet).
func (v *Viewer) latestSeq() uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.latest == nil {
		return 0
	}
	return v.latest.seq
}

// readPNG reads back a composed w×h buffer and writes it as a PNG.
func (v *Viewer) writePNG(out vk.Range, w, h int, bgra bool, path string) error {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	if err := v.dev.ReadFrame(out, img.Pix); err != nil {
		return err
	}
	if bgra {
		for i := 0; i < len(img.Pix); i += 4 {
			img.Pix[i], img.Pix[i+2] = img.Pix[i+2], img.Pix[i]
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("viewer: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	v.written.Add(1)
	return nil
}

// Run shows frames while body runs. It opens a window on dev (the device
// the engine computes on) and runs the window's event loop on the main
// thread while body runs in a new goroutine and posts frames with
// v.Post; it returns body's error once body has returned. Call it from
// the main goroutine (the viewer package locks it to the main thread), or
// from any goroutine inside Main.
//
// Closing the window (or q/Esc) closes v.Closed, calls Options.OnClose,
// makes Post a no-op and lets body go on; Run still waits for body. When no
// window can be opened (no DISPLAY, no X server, a headless build, a
// device that cannot present) or Options.Headless is set, one line on
// Options.Log says so and the frames are written as PNGs to Options.Dir.
// Cancelling ctx closes the window; body gets a context cancelled with it.
func Run(ctx context.Context, dev *vk.Device, opts Options, body func(ctx context.Context, v *Viewer) error) error {
	v, err := newViewer(dev, opts)
	if err != nil {
		return err
	}
	defer v.release()
	var w windowLoop
	if opts.Headless {
		v.headless = true
		fmt.Fprintf(v.opts.Log, "viewer: headless; writing frames as PNGs to %s\n", v.opts.Dir)
	} else if w, err = openWindow(v); err != nil {
		v.headless = true
		fmt.Fprintf(v.opts.Log, "viewer: no window (%v); writing frames as PNGs to %s\n", err, v.opts.Dir)
	}
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- body(bctx, v) }()
	if w == nil {
		return v.headlessLoop(ctx, done)
	}
	bodyErr, finished := w.run(ctx, done)
	if !finished {
		bodyErr = <-done
	}
	// The window is gone; wait for the viewer's last device work before
	// its buffers go back to the allocator.
	if err := dev.Sync(); err != nil && bodyErr == nil {
		bodyErr = err
	}
	return bodyErr
}

// windowLoop is an open window (window_glfw.go): run shows frames until
// body finishes (done yields its error; finished true) or the window is
// closed (finished false); either way the window is gone when it returns.
type windowLoop interface {
	run(ctx context.Context, done <-chan error) (bodyErr error, finished bool)
}

// lastIndex is the highest N of the files prefix-N.png in dir (0: none),
// so that a new run continues the numbering instead of overwriting.
func lastIndex(dir, prefix string) int {
	names, _ := filepath.Glob(filepath.Join(dir, prefix+"-*.png"))
	last := 0
	for _, name := range names {
		var n int
		if _, err := fmt.Sscanf(filepath.Base(name), prefix+"-%d.png", &n); err == nil {
			last = max(last, n)
		}
	}
	return last
}

// headlessLoop writes posted frames as PNGs until body returns.
func (v *Viewer) headlessLoop(ctx context.Context, done <-chan error) error {
	var last time.Time
	var written uint64 // the sequence number last written
	var timer *time.Timer
	var tick <-chan time.Time
	n := lastIndex(v.opts.Dir, "frame")
	write := func() {
		seq := v.latestSeq()
		if seq == 0 || seq == written {
			return
		}
		w, h := v.opts.Width, v.opts.Height
		out, err := v.compose(w, h, false)
		if err == nil {
			n++
			err = v.writePNG(out, w, h, false, filepath.Join(v.opts.Dir, fmt.Sprintf("frame-%06d.png", n)))
		}
		if err != nil {
			fmt.Fprintf(v.opts.Log, "viewer: headless frame: %v\n", err)
		}
		written, last = seq, time.Now()
	}
	for {
		select {
		case err := <-done:
			write()
			return err
		case <-v.wake:
			if wait := v.opts.Interval - time.Since(last); v.opts.Interval > 0 && wait > 0 {
				if timer == nil {
					timer = time.NewTimer(wait)
					tick = timer.C
				}
				continue
			}
			write()
		case <-tick:
			timer, tick = nil, nil
			write()
		case <-ctx.Done():
			// body sees the same cancellation; its frames still count.
			err := <-done
			write()
			return err
		}
	}
}
