//go:build !headless && !tessera_headless

package viewer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"
	"unsafe"

	"github.com/go-gl/glfw/v3.3/glfw"

	"github.com/tessera-ml/tessera/vk"
)

// windowState is the Viewer's part of the window: the open window (for
// tests) and the screenshot counter.
type windowState struct {
	win   any
	shots int
}

// screenshot writes the composed buffer out (the frame on screen) to the
// next screenshot-NNN.png in Dir.
func (v *Viewer) screenshot(out vk.Range, w, h int, bgra bool) {
	if v.shots == 0 {
		v.shots = lastIndex(v.opts.Dir, "screenshot")
	}
	v.shots++
	path := filepath.Join(v.opts.Dir, fmt.Sprintf("screenshot-%03d.png", v.shots))
	if err := v.writePNG(out, w, h, bgra, path); err != nil {
		fmt.Fprintf(v.opts.Log, "viewer: screenshot: %v\n", err)
		return
	}
	fmt.Fprintf(v.opts.Log, "viewer: wrote %s\n", path)
}

// window is an open GLFW window presenting composed frames through a
// swapchain on the viewer's device. Everything here runs on the main
// thread.
type window struct {
	v    *Viewer
	win  *glfw.Window
	surf *vk.Surface
	sc   *vk.Swapchain

	fbW, fbH     int
	needRecreate bool
	iconified    bool
	dirty        bool   // redraw even without a new frame (resize, expose, zoom)
	drawnSeq     uint64 // the frame on screen
	drawnAt      time.Time
	captureNext  bool   // tests: read back the next presented image
	lastErr      string // the last present error logged, to log each once
	xErrors      uint64 // X errors seen so far

	calls chan func(*window) // run on the window's thread (tests)
	ended chan struct{}      // closed when the loop has returned
}

// openWindow opens the viewer's window on the main thread.
func openWindow(v *Viewer) (windowLoop, error) {
	var w *window
	var err error
	if e := onMain(func() { w, err = newWindow(v) }); e != nil {
		return nil, e
	}
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	v.win = w
	v.mu.Unlock()
	return w, nil
}

// onWindow runs f on the window's thread between two iterations of its
// loop (tests use it to inspect and drive the window); it reports false
// when there is no window.
func (v *Viewer) onWindow(f func(w *window)) bool {
	v.mu.Lock()
	w, _ := v.win.(*window)
	v.mu.Unlock()
	if w == nil {
		return false
	}
	done := make(chan struct{})
	select {
	case w.calls <- func(w *window) { defer close(done); f(w) }:
	case <-w.ended:
		return false
	}
	<-done
	return true
}

// glfwReady reports whether GLFW initialised: go-gl/glfw logs a failed
// glfwInit (no X server) and carries on, and later calls then panic.
func glfwReady() (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	glfw.GetTime()
	return true
}

// glfwDisplay is the DISPLAY GLFW was initialised on ("": not
// initialised). GLFW stays initialised for the rest of the process: Mesa's
// X11 presentation code caches per-connection state by the connection's
// address, which a new connection after glfwTerminate may reuse, and then
// sends requests the new connection never negotiated (an X error).
var glfwDisplay string

// initGLFW initialises GLFW once (on the main thread).
func initGLFW() error {
	display := os.Getenv("DISPLAY")
	if display == "" {
		return errors.New("no display: DISPLAY is unset")
	}
	if glfwDisplay != "" {
		if display != glfwDisplay {
			return fmt.Errorf("GLFW is connected to X display %q, not %q", glfwDisplay, display)
		}
		return nil
	}
	if err := glfw.Init(); err != nil {
		return fmt.Errorf("GLFW: %v", err)
	}
	if !glfwReady() {
		return fmt.Errorf("no display: cannot open X display %q", display)
	}
	installXErrorHandler()
	glfwDisplay = display
	return nil
}

func newWindow(v *Viewer) (w *window, err error) {
	if os.Getenv("DISPLAY") == "" {
		return nil, errors.New("no display: DISPLAY is unset")
	}
	if err := v.dev.CanPresent(); err != nil {
		return nil, err
	}
	if err := initGLFW(); err != nil {
		return nil, err
	}
	w = &window{v: v, calls: make(chan func(*window)), ended: make(chan struct{}), dirty: true}
	w.xErrors, _ = xErrors()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("GLFW: %v", r)
		}
		if err != nil {
			w.destroy()
			w = nil
		}
	}()
	glfw.DefaultWindowHints()
	glfw.WindowHint(glfw.ClientAPI, glfw.NoAPI)
	glfw.WindowHint(glfw.Resizable, glfw.True)
	if w.win, err = glfw.CreateWindow(v.opts.Width, v.opts.Height, v.opts.Title, nil, nil); err != nil {
		return w, fmt.Errorf("GLFW: creating a window: %v", err)
	}
	display := glfw.GetX11Display()
	if w.surf, err = v.dev.CreateXlibSurface(unsafe.Pointer(display), uint64(w.win.GetX11Window())); err != nil {
		return w, err
	}
	w.fbW, w.fbH = w.win.GetFramebufferSize()
	w.sc, err = v.dev.NewSwapchain(w.surf, vk.SwapchainOptions{Width: w.fbW, Height: w.fbH, VSync: v.opts.VSync})
	if errors.Is(err, vk.ErrZeroExtent) {
		w.needRecreate, err = true, nil // minimised from the start
	}
	if err != nil {
		return w, err
	}
	w.win.SetFramebufferSizeCallback(func(_ *glfw.Window, width, height int) {
		w.fbW, w.fbH = width, height
		w.needRecreate, w.dirty = true, true
	})
	w.win.SetIconifyCallback(func(_ *glfw.Window, iconified bool) { w.setIconified(iconified) })
	w.win.SetRefreshCallback(func(*glfw.Window) { w.dirty = true })
	w.win.SetKeyCallback(w.onKey)
	w.win.SetScrollCallback(w.onScroll)
	return w, nil
}

// setIconified pauses presenting while the window is minimised; coming
// back rebuilds the swapchain (the surface may have changed meanwhile).
func (w *window) setIconified(iconified bool) {
	w.iconified = iconified
	if !iconified {
		w.needRecreate, w.dirty = true, true
	}
}

func keyOf(k glfw.Key) Key {
	switch {
	case k >= glfw.KeyA && k <= glfw.KeyZ:
		return Key('a' + (k - glfw.KeyA))
	case k >= glfw.Key0 && k <= glfw.Key9:
		return Key('0' + (k - glfw.Key0))
	case k >= glfw.KeyKP0 && k <= glfw.KeyKP9:
		return Key('0' + (k - glfw.KeyKP0))
	}
	switch k {
	case glfw.KeySpace:
		return KeySpace
	case glfw.KeyEscape:
		return KeyEscape
	case glfw.KeyEnter, glfw.KeyKPEnter:
		return KeyEnter
	case glfw.KeyTab:
		return KeyTab
	case glfw.KeyBackspace:
		return KeyBackspace
	case glfw.KeyLeft:
		return KeyLeft
	case glfw.KeyRight:
		return KeyRight
	case glfw.KeyUp:
		return KeyUp
	case glfw.KeyDown:
		return KeyDown
	case glfw.KeyPageUp:
		return KeyPageUp
	case glfw.KeyPageDown:
		return KeyPageDown
	case glfw.KeyHome:
		return KeyHome
	case glfw.KeyEnd:
		return KeyEnd
	}
	return KeyUnknown
}

func (w *window) onKey(_ *glfw.Window, k glfw.Key, _ int, action glfw.Action, mods glfw.ModifierKey) {
	if action == glfw.Release {
		return
	}
	ev := KeyEvent{Key: keyOf(k), Repeat: action == glfw.Repeat,
		Shift: mods&glfw.ModShift != 0, Ctrl: mods&glfw.ModControl != 0, Alt: mods&glfw.ModAlt != 0}
	w.key(ev)
}

// key handles a key event: the callback first, then the built-in action.
func (w *window) key(ev KeyEvent) {
	if w.v.opts.OnKey != nil && w.v.opts.OnKey(ev) {
		return
	}
	switch ev.Key {
	case KeyEscape, 'q':
		w.win.SetShouldClose(true)
	case 's':
		if ev.Repeat || w.sc == nil {
			return
		}
		sw, sh := w.sc.Extent()
		if sw == 0 || sh == 0 {
			return
		}
		out, err := w.v.compose(sw, sh, false)
		if err != nil {
			fmt.Fprintf(w.v.opts.Log, "viewer: screenshot: %v\n", err)
			return
		}
		w.v.screenshot(out, sw, sh, false)
		w.dirty = true // the compose buffer was reused in RGBA order
	}
}

func (w *window) onScroll(win *glfw.Window, dx, dy float64) {
	x, y := win.GetCursorPos()
	w.scroll(ScrollEvent{DX: dx, DY: dy, X: x, Y: y})
}

// scroll handles a scroll: the callback first, then the built-in zoom.
func (w *window) scroll(ev ScrollEvent) {
	if w.v.opts.OnScroll != nil && w.v.opts.OnScroll(ev) {
		return
	}
	w.v.zoom = math.Max(0.25, math.Min(16, w.v.zoom*math.Pow(1.1, ev.DY)))
	w.dirty = true
}

// recreate rebuilds the swapchain at the framebuffer's size.
func (w *window) recreate() bool {
	if w.fbW <= 0 || w.fbH <= 0 {
		return false
	}
	var err error
	if w.sc == nil {
		w.sc, err = w.v.dev.NewSwapchain(w.surf, vk.SwapchainOptions{Width: w.fbW, Height: w.fbH, VSync: w.v.opts.VSync})
		if err != nil {
			w.sc = nil
		}
	} else {
		err = w.sc.Recreate(w.fbW, w.fbH)
	}
	if errors.Is(err, vk.ErrZeroExtent) {
		return false
	}
	if err != nil {
		w.logOnce(fmt.Sprintf("viewer: rebuilding the swapchain: %v", err))
		return false
	}
	w.needRecreate, w.dirty = false, true
	return true
}

func (w *window) logOnce(msg string) {
	if msg != w.lastErr {
		fmt.Fprintln(w.v.opts.Log, msg)
		w.lastErr = msg
	}
}

// draw composes and presents the newest frame when it (or the window)
// changed.
func (w *window) draw() {
	if w.iconified || w.fbW <= 0 || w.fbH <= 0 {
		return
	}
	if w.sc == nil || w.needRecreate {
		if !w.recreate() {
			return
		}
	}
	seq := w.v.latestSeq()
	if !w.dirty && seq == w.drawnSeq {
		return
	}
	if !w.dirty && time.Since(w.drawnAt) < w.v.opts.Interval {
		return // a new frame, but too soon: the loop comes back for it
	}
	sw, sh := w.sc.Extent()
	out, err := w.v.compose(sw, sh, w.sc.BGRA())
	if err != nil {
		w.logOnce(fmt.Sprintf("viewer: composing: %v", err))
		return
	}
	if w.captureNext {
		w.sc.Capture()
	}
	err = w.sc.Present(out)
	switch {
	case err == nil:
		w.v.presented.Add(1)
		w.drawnSeq, w.dirty, w.captureNext = seq, false, false
		w.drawnAt = time.Now()
		w.lastErr = ""
	case errors.Is(err, vk.ErrOutOfDate):
		// Suboptimal presents did show the frame; either way rebuild and draw again.
		w.needRecreate, w.dirty = true, true
	case errors.Is(err, vk.ErrPresentTimeout):
		w.dirty = true
	default:
		w.logOnce(fmt.Sprintf("viewer: presenting: %v", err))
		w.needRecreate, w.dirty = true, true
	}
}

// run runs the window's loop on the main thread.
func (w *window) run(ctx context.Context, done <-chan error) (bodyErr error, finished bool) {
	if err := onMain(func() { bodyErr, finished = w.loop(ctx, done) }); err != nil {
		w.v.markClosed()
		return nil, false
	}
	return bodyErr, finished
}

// frameWait is how long the loop sleeps in GLFW waiting for events before
// it looks for a new frame; frames are posted from other goroutines, and
// waking GLFW from them would mean a GLFW call off the main thread.
const frameWait = 1.0 / 60

func (w *window) loop(ctx context.Context, done <-chan error) (bodyErr error, finished bool) {
	defer func() {
		w.v.mu.Lock()
		w.v.win = nil
		w.v.mu.Unlock()
		close(w.ended)
		w.destroy()
		if !finished && w.v.markClosed() && w.v.opts.OnClose != nil {
			w.v.opts.OnClose()
		}
	}()
	w.draw()
	for {
		glfw.WaitEventsTimeout(frameWait)
		if !finished {
			select {
			case bodyErr = <-done:
				finished = true
			default:
			}
		}
		if n, last := xErrors(); n != w.xErrors {
			w.xErrors = n
			w.logOnce("viewer: " + last + " (ignored)")
		}
		for drained := false; !drained; {
			select {
			case f := <-w.calls:
				f(w)
			default:
				drained = true
			}
		}
		if finished && !w.v.opts.KeepOpen {
			w.draw() // the body's last frame
			return bodyErr, true
		}
		if w.win.ShouldClose() || w.v.closeReq.Load() || ctx.Err() != nil {
			return bodyErr, finished
		}
		w.draw()
	}
}

// destroy releases the swapchain, the surface and the window.
func (w *window) destroy() {
	if w.sc != nil {
		if err := w.sc.Destroy(); err != nil {
			fmt.Fprintf(w.v.opts.Log, "viewer: %v\n", err)
		}
		w.sc = nil
	}
	if w.surf != nil {
		w.surf.Destroy()
		w.surf = nil
	}
	if w.win != nil {
		w.win.Destroy()
		w.win = nil
		// Process the destruction now: the window disappears even if no
		// other window is opened (and no events are polled) later.
		glfw.PollEvents()
	}
}
