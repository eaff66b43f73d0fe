package viewer

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/internal/testdev"
	"github.com/tessera-ml/tessera/tensor"
)

// syncBuffer is a log that the viewer and the test may use concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func readPNG(t *testing.T, path string) *image.RGBA {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	rgba, ok := img.(*image.RGBA)
	if !ok {
		b := img.Bounds()
		rgba = image.NewRGBA(b)
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				rgba.Set(x, y, img.At(x, y))
			}
		}
	}
	return rgba
}

// expectedFrame composes f at w×h with a fresh compositor (RGBA order).
func expectedFrame(t *testing.T, e *tensor.Engine, f *Frame, w, h int) []byte {
	t.Helper()
	c, err := newCompositor(e.Device())
	require.NoError(t, err)
	defer c.release()
	s, err := snapshotFrame(e.Device(), f, 1)
	require.NoError(t, err)
	defer e.Device().Free(s.arena)
	return composeRead(t, c, s, w, h, false)
}

// waitFor polls cond for up to 20 s; it may run in a body's goroutine,
// so it reports a timeout with Errorf and returns false.
func waitFor(t *testing.T, what string, cond func() bool) bool {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("timed out waiting for %s", what)
			return false
		}
	}
	return true
}

func TestRunHeadlessWritesPNGs(t *testing.T) {
	e := testdev.Engine(t)
	dir := t.TempDir()
	var log syncBuffer
	f := testFrame(e, rand.New(rand.NewPCG(3, 4)))
	errDone := errors.New("body done")
	var posted []bool
	err := Run(context.Background(), e.Device(), Options{Headless: true, Dir: dir, Width: 320, Height: 200, Log: &log},
		func(ctx context.Context, v *Viewer) error {
			assert.True(t, v.Headless())
			posted = append(posted, v.Post(&Frame{Status: "first"}))
			waitFor(t, "the first PNG", func() bool { return v.Stats().Written == 1 })
			posted = append(posted, v.Post(f))
			return errDone
		})
	require.ErrorIs(t, err, errDone)
	require.Equal(t, []bool{true, true}, posted)
	require.Equal(t, fmt.Sprintf("viewer: headless; writing frames as PNGs to %s\n", dir), log.String())
	files, _ := filepath.Glob(filepath.Join(dir, "frame-*.png"))
	require.Len(t, files, 2)
	got := readPNG(t, filepath.Join(dir, "frame-000002.png"))
	require.Equal(t, image.Rect(0, 0, 320, 200), got.Bounds())
	require.Equal(t, expectedFrame(t, e, f, 320, 200), got.Pix)
	// A second run into the same folder continues the numbering.
	require.NoError(t, Run(context.Background(), e.Device(), Options{Headless: true, Dir: dir, Width: 32, Height: 20, Log: &log},
		func(ctx context.Context, v *Viewer) error { v.Post(&Frame{}); return nil }))
	require.FileExists(t, filepath.Join(dir, "frame-000003.png"))
}

// TestRunHeadlessLatestWins posts faster than Interval allows: the first
// frame is written at once, the ones in between are dropped and the last
// one is written when the body returns.
func TestRunHeadlessLatestWins(t *testing.T) {
	e := testdev.Engine(t)
	dir := t.TempDir()
	frame := func(i int) *Frame { return &Frame{Status: fmt.Sprintf("frame %d", i)} }
	var v0 *Viewer
	err := Run(context.Background(), e.Device(), Options{Headless: true, Dir: dir, Width: 160, Height: 40, Interval: time.Hour, Log: &syncBuffer{}},
		func(ctx context.Context, v *Viewer) error {
			v0 = v
			assert.True(t, v.Post(frame(1)))
			waitFor(t, "the first PNG", func() bool { return v.Stats().Written == 1 })
			for i := 2; i <= 5; i++ {
				assert.True(t, v.Post(frame(i)))
			}
			return nil
		})
	require.NoError(t, err)
	require.False(t, v0.Post(frame(6)), "Post after Run returned")
	<-v0.Closed()
	files, _ := filepath.Glob(filepath.Join(dir, "frame-*.png"))
	require.Len(t, files, 2)
	require.Equal(t, expectedFrame(t, e, frame(1), 160, 40), readPNG(t, files[0]).Pix)
	require.Equal(t, expectedFrame(t, e, frame(5), 160, 40), readPNG(t, files[1]).Pix)
	require.Equal(t, Stats{Posted: 5, Composed: 2, Written: 2}, v0.Stats())
}

// TestRunWithoutDisplay falls back to PNGs with one line saying why.
func TestRunWithoutDisplay(t *testing.T) {
	e := testdev.Engine(t)
	t.Setenv("DISPLAY", "")
	dir := t.TempDir()
	var log syncBuffer
	err := Run(context.Background(), e.Device(), Options{Dir: dir, Width: 64, Height: 48, Log: &log},
		func(ctx context.Context, v *Viewer) error {
			assert.True(t, v.Headless())
			v.Post(&Frame{Status: "no display"})
			return nil
		})
	require.NoError(t, err)
	reason := "no display: DISPLAY is unset"
	if windowsBuiltIn {
		require.Equal(t, fmt.Sprintf("viewer: no window (%s); writing frames as PNGs to %s\n", reason, dir), log.String())
	} else {
		require.Contains(t, log.String(), "built without windows")
		require.Equal(t, 1, strings.Count(log.String(), "\n"))
	}
	files, _ := filepath.Glob(filepath.Join(dir, "frame-*.png"))
	require.Len(t, files, 1)
}
