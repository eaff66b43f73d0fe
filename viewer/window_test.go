//go:build !headless && !tessera_headless

package viewer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-gl/glfw/v3.3/glfw"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/internal/testdev"
	"github.com/tessera-ml/tessera/tensor"
	"github.com/tessera-ml/tessera/vk"
)

// The window tests run on Lavapipe under Xvfb (started by TestMain when
// DISPLAY is unset): they open a window, present known frames and read
// them back from the swapchain image and from an X screenshot of the root
// window. They skip only where no X server can start.

// runWindow runs body with a window of w×h; it fails the test if the
// viewer fell back to PNGs.
func runWindow(t *testing.T, e *tensor.Engine, opts Options, body func(ctx context.Context, v *Viewer) error) error {
	t.Helper()
	needX(t)
	var log syncBuffer
	if opts.Log == nil {
		opts.Log = &log
	} else {
		opts.Log = io.MultiWriter(opts.Log, &log)
	}
	t.Cleanup(func() {
		// Present and swapchain errors are logged, not returned: none may occur.
		assert.NotContains(t, log.String(), "X error")
		assert.NotContains(t, log.String(), "viewer: presenting")
		assert.NotContains(t, log.String(), "viewer: rebuilding")
		assert.NotContains(t, log.String(), "viewer: composing")
	})
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Width == 0 {
		opts.Width, opts.Height = 320, 240
	}
	return Run(context.Background(), e.Device(), opts, func(ctx context.Context, v *Viewer) error {
		if v.Headless() {
			return fmt.Errorf("no window opened: %s", log.String())
		}
		return body(ctx, v)
	})
}

// onScreen waits until frame seq is presented and nothing is pending.
func onScreen(t *testing.T, v *Viewer, seq uint64) bool {
	return waitFor(t, fmt.Sprintf("frame %d on screen", seq), func() bool {
		ok := false
		v.onWindow(func(w *window) { ok = w.drawnSeq == seq && !w.dirty && !w.needRecreate && w.sc != nil })
		return ok
	})
}

// twinNow builds the twin of the frame the window composed last; it runs
// on the window's thread, so it reports errors instead of failing.
func twinNow(v *Viewer) (*twinFrame, error) {
	c := v.comp
	f := &twinFrame{words: c.last.words, push: c.last.hdr, font: fontRows()}
	if s := v.latest; s != nil && s.arena.Valid() {
		b := make([]byte, s.arena.Size)
		if err := v.dev.Read(s.arena, b); err != nil {
			return nil, err
		}
		f.arena = make([]uint32, len(b)/4)
		for i := range f.arena {
			f.arena[i] = binary.LittleEndian.Uint32(b[4*i:])
		}
	}
	f.stats = twinStats(f.words, f.arena, c.last.jobsAt, c.last.njobs)
	return f, nil
}

type captured struct {
	pix       []byte
	w, h      int
	bgra      bool
	x, y      int // the window's position on the screen
	twin      *twinFrame
	mode      vk.PresentMode
	images    int
	swapStats vk.SwapchainStats
	screen    string // onRoot's verdict
}

// capture presents the current frame once more, reading the presented
// swapchain image back, and returns it with the twin of that frame.
func capture(t *testing.T, v *Viewer) (c captured, ok bool) {
	if !v.onWindow(func(w *window) { w.captureNext, w.dirty = true, true }) {
		t.Errorf("capture: no window")
		return c, false
	}
	var terr error
	ok = waitFor(t, "a captured present", func() bool {
		done := false
		v.onWindow(func(w *window) {
			if w.captureNext || w.sc == nil {
				return
			}
			pix, cw, ch := w.sc.Captured()
			if pix == nil {
				return
			}
			done = true
			c = captured{pix: append([]byte(nil), pix...), w: cw, h: ch, bgra: w.sc.BGRA(), mode: w.sc.Mode(),
				images: w.sc.Images(), swapStats: w.sc.Stats()}
			c.x, c.y = w.win.GetPos()
			c.twin, terr = twinNow(v)
		})
		return done
	})
	if terr != nil {
		t.Errorf("capture: %v", terr)
		return c, false
	}
	return c, ok
}

// onRoot polls X screenshots of the root window until the window's
// region shows the captured image (xwd reads what the X server has, after
// the presentation engine put the image there); it returns "" on a match,
// else what differed. It runs in a body, while the window is open.
func onRoot(c captured) string {
	var last string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		root, err := screenshotRoot()
		if err != nil {
			last = err.Error()
			continue
		}
		if !image.Rect(c.x, c.y, c.x+c.w, c.y+c.h).In(root.Bounds()) {
			last = fmt.Sprintf("window %dx%d at (%d,%d) is not inside the %v screen", c.w, c.h, c.x, c.y, root.Bounds())
			continue
		}
		diff := 0
		for y := range c.h {
			for x := range c.w {
				i := 4 * (y*c.w + x)
				r, g, b := c.pix[i], c.pix[i+1], c.pix[i+2]
				if c.bgra {
					r, b = b, r
				}
				o := root.PixOffset(c.x+x, c.y+y)
				if root.Pix[o] != r || root.Pix[o+1] != g || root.Pix[o+2] != b {
					diff++
				}
			}
		}
		if diff == 0 {
			return ""
		}
		last = fmt.Sprintf("%d of %d pixels differ", diff, c.w*c.h)
	}
	return "root-window screenshot: " + last
}

// checkCaptured compares a captured swapchain image with the twin.
func checkCaptured(t *testing.T, c captured) {
	t.Helper()
	require.NotNil(t, c.twin, "nothing captured")
	require.Equal(t, [2]int{c.w, c.h}, [2]int{int(c.twin.push[0]), int(c.twin.push[1])})
	requireFrame(t, c.pix, c.bgra, c.twin)
	require.Empty(t, c.screen)
}

func TestWindowPresentsKnownFrame(t *testing.T) {
	e := testdev.Engine(t)
	f := testFrame(e, rand.New(rand.NewPCG(5, 6)))
	var c captured
	var ok bool
	err := runWindow(t, e, Options{Title: "tessera test"}, func(ctx context.Context, v *Viewer) error {
		if !v.Post(f) || !onScreen(t, v, 1) {
			return errors.New("frame 1 never shown")
		}
		c, ok = capture(t, v)
		c.screen = onRoot(c)
		return nil
	})
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 320, c.w)
	require.Equal(t, 240, c.h)
	require.Equal(t, vk.PresentMailbox, c.mode, "Lavapipe offers MAILBOX")
	require.GreaterOrEqual(t, c.images, 2)
	checkCaptured(t, c)
}

func TestWindowVSyncUsesFIFO(t *testing.T) {
	e := testdev.Engine(t)
	var c captured
	err := runWindow(t, e, Options{VSync: true, Width: 200, Height: 120}, func(ctx context.Context, v *Viewer) error {
		v.Post(&Frame{Status: "fifo"})
		if !onScreen(t, v, 1) {
			return errors.New("not shown")
		}
		c, _ = capture(t, v)
		c.screen = onRoot(c)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, vk.PresentFIFO, c.mode)
	checkCaptured(t, c)
}

// TestWindowResizeAndMinimise resizes the window (the swapchain is rebuilt
// at the new size and the frame laid out again), then minimises it (no
// presents) and restores it (rebuilt again, the newest frame shown).
func TestWindowResizeAndMinimise(t *testing.T) {
	e := testdev.Engine(t)
	f := testFrame(e, rand.New(rand.NewPCG(7, 8)))
	var small, big captured
	var recreations [2]uint64
	var presentedWhileMinimised uint64
	err := runWindow(t, e, Options{}, func(ctx context.Context, v *Viewer) error {
		v.Post(f)
		if !onScreen(t, v, 1) {
			return errors.New("not shown")
		}
		small, _ = capture(t, v)
		small.screen = onRoot(small)
		v.onWindow(func(w *window) { w.win.SetSize(401, 303) })
		if !waitFor(t, "the swapchain to follow the resize", func() bool {
			done := false
			v.onWindow(func(w *window) {
				if w.sc != nil {
					sw, sh := w.sc.Extent()
					done = sw == 401 && sh == 303 && !w.dirty
				}
			})
			return done
		}) {
			return errors.New("no resize")
		}
		big, _ = capture(t, v)
		big.screen = onRoot(big)
		recreations[0] = big.swapStats.Recreations

		v.onWindow(func(w *window) { w.setIconified(true) })
		before := v.Stats().Presented
		v.Post(&Frame{Status: "posted while minimised"})
		time.Sleep(300 * time.Millisecond)
		presentedWhileMinimised = v.Stats().Presented - before
		v.onWindow(func(w *window) { w.setIconified(false) })
		if !onScreen(t, v, 2) {
			return errors.New("not shown after restoring")
		}
		v.onWindow(func(w *window) { recreations[1] = w.sc.Stats().Recreations })
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, [2]int{320, 240}, [2]int{small.w, small.h})
	require.Equal(t, [2]int{401, 303}, [2]int{big.w, big.h})
	require.GreaterOrEqual(t, recreations[0], uint64(1))
	require.Greater(t, recreations[1], recreations[0], "restoring rebuilds the swapchain")
	require.Zero(t, presentedWhileMinimised, "presents while minimised")
	checkCaptured(t, small)
	checkCaptured(t, big)
}

// TestWindowClose closes the window while the body runs: Closed and
// OnClose report it, Post turns into a no-op, the body finishes, and the
// device memory and validation checks of testdev pass.
func TestWindowClose(t *testing.T) {
	e := testdev.Engine(t)
	dev := e.Device()
	base := dev.Memory().Live
	x := e.FromFloat32([]float32{0.5, -0.5, 0.25, -0.25}, 1, 1, 2, 2)
	closes := 0
	errBody := errors.New("body finished")
	var postAfter bool
	var liveDuring uint64
	err := runWindow(t, e, Options{OnClose: func() { closes++ }}, func(ctx context.Context, v *Viewer) error {
		v.Post(&Frame{Panels: []Panel{&Images{Tensors: []*tensor.Tensor{x}}}})
		if !onScreen(t, v, 1) {
			return errors.New("not shown")
		}
		liveDuring = dev.Memory().Live
		v.onWindow(func(w *window) { w.win.SetShouldClose(true) })
		select {
		case <-v.Closed():
		case <-time.After(20 * time.Second):
			return errors.New("Closed not closed")
		}
		postAfter = v.Post(&Frame{Status: "after close"})
		// Training goes on without the window.
		y := tensor.Add(x, x)
		if _, err := y.Float32(); err != nil {
			return err
		}
		y.Release()
		return errBody
	})
	require.ErrorIs(t, err, errBody)
	require.Equal(t, 1, closes)
	require.False(t, postAfter)
	require.Greater(t, liveDuring, base+16, "the viewer holds device memory while open")
	x.Release()
	require.NoError(t, e.Sync())
	require.Equal(t, base, dev.Memory().Live, "the viewer gave back its device memory")
}

// TestWindowKeysAndScroll drives the key and scroll handling: callbacks
// first, then the built-in screenshot, zoom and quit.
func TestWindowKeysAndScroll(t *testing.T) {
	e := testdev.Engine(t)
	dir := t.TempDir()
	var keys []KeyEvent
	var scrolls []ScrollEvent
	f := testFrame(e, rand.New(rand.NewPCG(9, 10)))
	var log syncBuffer
	var zoom float64
	var shot captured
	opts := Options{Dir: dir, Log: &log,
		OnKey:    func(ev KeyEvent) bool { keys = append(keys, ev); return ev.Key == KeyLeft },
		OnScroll: func(ev ScrollEvent) bool { scrolls = append(scrolls, ev); return false },
	}
	err := runWindow(t, e, opts, func(ctx context.Context, v *Viewer) error {
		v.Post(f)
		if !onScreen(t, v, 1) {
			return errors.New("not shown")
		}
		shot, _ = capture(t, v)
		v.onWindow(func(w *window) {
			w.key(KeyEvent{Key: KeyLeft})
			w.key(KeyEvent{Key: 's'})
			w.scroll(ScrollEvent{DY: 3})
			zoom = w.v.zoom
		})
		if !onScreen(t, v, 1) {
			return errors.New("not redrawn after zooming")
		}
		v.onWindow(func(w *window) { w.key(KeyEvent{Key: 'q'}) })
		select {
		case <-v.Closed():
		case <-time.After(20 * time.Second):
			return errors.New("q did not close the window")
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, []KeyEvent{{Key: KeyLeft}, {Key: 's'}, {Key: 'q'}}, keys)
	require.Equal(t, []ScrollEvent{{DY: 3}}, scrolls)
	require.InDelta(t, 1.331, zoom, 1e-9)
	path := filepath.Join(dir, "screenshot-001.png")
	require.Contains(t, log.String(), "viewer: wrote "+path)
	// The screenshot is the frame on screen (at zoom 1), in RGBA order.
	png := readPNG(t, path)
	require.Equal(t, image.Rect(0, 0, shot.w, shot.h), png.Bounds())
	want := append([]byte(nil), shot.pix...)
	if shot.bgra {
		for i := 0; i < len(want); i += 4 {
			want[i], want[i+2] = want[i+2], want[i]
		}
	}
	require.Equal(t, want, png.Pix)
}

func TestKeyMapping(t *testing.T) {
	for k, want := range map[glfw.Key]Key{
		glfw.KeyA: 'a', glfw.KeyS: 's', glfw.KeyQ: 'q', glfw.Key0: '0', glfw.Key9: '9', glfw.KeyKP5: '5',
		glfw.KeyLeft: KeyLeft, glfw.KeyRight: KeyRight, glfw.KeyUp: KeyUp, glfw.KeyDown: KeyDown,
		glfw.KeyEscape: KeyEscape, glfw.KeySpace: KeySpace, glfw.KeyF1: KeyUnknown,
	} {
		assert.Equal(t, want, keyOf(k), "glfw key %d", k)
	}
}

// TestWindowPostWhileTraining posts frames from a loop that keeps the
// device busy and releases the posted tensors at once, while the window
// composes and presents concurrently; the last frame must be the one on
// screen, and Post must never wait for the window.
func TestWindowPostWhileTraining(t *testing.T) {
	e := testdev.Engine(t)
	rng := rand.New(rand.NewPCG(11, 12))
	x := e.FromFloat32(randValues(rng, 4*3*16*16, -1, 1), 4, 3, 16, 16)
	var slowest time.Duration
	var last captured
	var loss []float32
	err := runWindow(t, e, Options{}, func(ctx context.Context, v *Viewer) error {
		y := x
		for step := range 40 {
			z := tensor.Tanh(tensor.AddScalar(tensor.MulScalar(y, 1.5), 0.1))
			if y != x {
				y.Release()
			}
			y = z
			loss = append(loss, float32(step))
			start := time.Now()
			v.Post(&Frame{
				Panels: []Panel{&Images{Caption: "x", Tensors: []*tensor.Tensor{y}},
					&Curve{Caption: "loss", Series: []Series{{Name: "train", Values: loss}}}},
				Status: fmt.Sprintf("step %d", step),
			})
			slowest = max(slowest, time.Since(start))
			if err := e.Err(); err != nil {
				return err
			}
		}
		y.Release()
		if !onScreen(t, v, 40) {
			return errors.New("the last frame is not on screen")
		}
		last, _ = capture(t, v)
		return nil
	})
	require.NoError(t, err)
	require.Less(t, slowest, time.Second, "Post waited")
	checkCaptured(t, last)
	x.Release()
}
