package viewer

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/internal/testdev"
	"github.com/tessera-ml/tessera/tensor"
	"github.com/tessera-ml/tessera/vk"
)

func randValues(rng *rand.Rand, n int, lo, hi float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = lo + (hi-lo)*rng.Float32()
	}
	return v
}

// testFrame builds a frame with every kind of panel, odd shapes, values
// outside [-1, 1], NaN, negative token ids, a mask, int and float heat
// maps, a log curve, a panel that cannot be shown and non-ASCII text.
func testFrame(e *tensor.Engine, rng *rand.Rand) *Frame {
	a := randValues(rng, 3*3*7*5, -1, 1)
	a[0], a[1], a[2] = 1.5, -2, float32(math.NaN())
	b := randValues(rng, 2*3*7*5, -1, 1)
	grey := randValues(rng, 5*1*9*11, -1, 1)
	ids := make([]int32, 2*5*7)
	mask := make([]float32, len(ids))
	for i := range ids {
		ids[i] = int32(rng.IntN(1000)) - 1
		if rng.IntN(3) > 0 {
			mask[i] = 1
		}
	}
	counts := make([]int32, 37)
	for i := range counts {
		counts[i] = int32(rng.IntN(5000)) * int32(rng.IntN(2))
	}
	heat := randValues(rng, 3*4*6, -3, 7)
	loss := make([]float32, 300)
	for i := range loss {
		loss[i] = float32(math.Exp(-float64(i)/80)) + 0.05*rng.Float32()
	}
	loss[150], loss[151] = float32(math.NaN()), 0 // a gap, and a value log10 cannot take
	eval := []float32{0.9, 0.5, 0.3, 0.2, 0.15, 0.12, 0.11}
	return &Frame{
		Panels: []Panel{
			&Images{Caption: "originals / reconstructions", Tensors: []*tensor.Tensor{e.FromFloat32(a, 3, 3, 7, 5), e.FromFloat32(b, 2, 3, 7, 5)}},
			&Images{Caption: "grey", Tensors: []*tensor.Tensor{e.FromFloat32(grey, 5, 1, 9, 11)}},
			&Tokens{Caption: "tokens", IDs: e.FromInt32(ids, 2, 5, 7), Known: e.FromFloat32(mask, 2, 5, 7)},
			&HeatMap{Caption: "code usage", Values: e.FromInt32(counts, 37), Log: true},
			&HeatMap{Caption: "heat", Values: e.FromFloat32(heat, 3, 4, 6)},
			&Curve{Caption: "loss", LogY: true, Series: []Series{{Name: "train", Values: loss}, {Name: "eval", Values: eval, DX: 50}}},
			&Images{Caption: "bad", Tensors: []*tensor.Tensor{e.FromFloat32(grey, 5, 9, 11)}},
		},
		Status: "step 12/345 loss 0.1234 — ünïcode",
	}
}

func readWords(t *testing.T, dev *vk.Device, r vk.Range, n int) []uint32 {
	t.Helper()
	if n == 0 {
		return nil
	}
	b := make([]byte, 4*n)
	require.NoError(t, dev.Read(r, b))
	w := make([]uint32, n)
	for i := range w {
		w[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return w
}

// twinOf builds the twin's input for the frame c composed last.
func twinOf(t *testing.T, dev *vk.Device, c *compositor, s *snapshot) *twinFrame {
	t.Helper()
	f := &twinFrame{words: c.last.words, push: c.last.hdr, font: fontRows()}
	if s != nil && s.arena.Valid() {
		f.arena = readWords(t, dev, s.arena, int(s.arena.Size/4))
	}
	f.stats = twinStats(f.words, f.arena, c.last.jobsAt, c.last.njobs)
	return f
}

// requireFrame compares packed pixels with the twin's frame.
func requireFrame(t *testing.T, got []byte, bgra bool, tw *twinFrame) {
	t.Helper()
	want, care := tw.compose()
	require.Len(t, got, 4*len(want))
	width := int(tw.push[0])
	bad, skipped := 0, 0
	var first []string
	for i, w := range want {
		px := got[4*i : 4*i+4]
		r, g, b := px[0], px[1], px[2]
		if bgra {
			r, b = b, r
		}
		if care[i] == careNone {
			skipped++
			continue
		}
		tol := uint32(0)
		if care[i] == careHeat {
			tol = twinHeatTol
		}
		d := max(absDiff(uint32(r), w[0]), absDiff(uint32(g), w[1]), absDiff(uint32(b), w[2]))
		if d > tol || px[3] != 255 {
			bad++
			if len(first) < 8 {
				first = append(first, fmt.Sprintf("(%d,%d) got %v want %v", i%width, i/width, px, w))
			}
		}
	}
	require.Zero(t, bad, "%d of %d pixels differ from the twin (%d not compared): %v", bad, len(want), skipped, first)
	require.LessOrEqual(t, skipped, len(want)/100, "too many pixels left uncompared")
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

// composeRead composes s at w×h and reads the frame back.
func composeRead(t *testing.T, c *compositor, s *snapshot, w, h int, bgra bool) []byte {
	t.Helper()
	out, err := c.composeFrame(s, w, h, bgra, 1)
	require.NoError(t, err)
	got := make([]byte, 4*w*h)
	require.NoError(t, c.dev.ReadFrame(out, got))
	return got
}

func TestComposeMatchesTwin(t *testing.T) {
	e := testdev.Engine(t)
	dev := e.Device()
	c, err := newCompositor(dev)
	require.NoError(t, err)
	defer c.release()
	s, err := snapshotFrame(dev, testFrame(e, rand.New(rand.NewPCG(1, 2))), 1)
	require.NoError(t, err)
	defer dev.Free(s.arena)
	require.Contains(t, s.panels[6].err, "not [B, 1 or 3, H, W]")
	for _, tc := range []struct {
		w, h int
		bgra bool
	}{
		{641, 479, false}, {333, 251, true}, {200, 150, false}, {97, 40, true}, {1, 1, false},
	} {
		t.Run(fmt.Sprintf("%dx%d", tc.w, tc.h), func(t *testing.T) {
			got := composeRead(t, c, s, tc.w, tc.h, tc.bgra)
			requireFrame(t, got, tc.bgra, twinOf(t, dev, c, s))
		})
	}
	t.Run("before-first-frame", func(t *testing.T) {
		got := composeRead(t, c, nil, 160, 90, false)
		requireFrame(t, got, false, twinOf(t, dev, c, nil))
	})
}

// TestComposeImagePixels checks the image panel's meaning without the
// twin: each image pixel becomes a block of identical pixels with the
// colour metrics.ToUint8 gives it.
func TestComposeImagePixels(t *testing.T) {
	e := testdev.Engine(t)
	dev := e.Device()
	c, err := newCompositor(dev)
	require.NoError(t, err)
	defer c.release()
	// Two 2×3 RGB images with values on exact 1/127.5 steps.
	vals := make([]float32, 2*3*2*3)
	for i := range vals {
		vals[i] = float32(i*7%256)/127.5 - 1
	}
	s, err := snapshotFrame(dev, &Frame{Panels: []Panel{&Images{Tensors: []*tensor.Tensor{e.FromFloat32(vals, 2, 3, 2, 3)}, Cols: 2}}}, 1)
	require.NoError(t, err)
	defer dev.Free(s.arena)
	const W, H = 300, 200
	got := composeRead(t, c, s, W, H, false)
	var d []uint32
	for i := 0; i < int(c.last.hdr[2])*panelWords; i += panelWords {
		if c.last.words[i] == kindImages {
			d = c.last.words[i : i+panelWords]
		}
	}
	require.NotNil(t, d)
	tw, th := int(d[13]), int(d[14])
	require.Equal(t, 0, tw%3, "integer scale")
	require.Equal(t, tw/3, th/2)
	scale := tw / 3
	for img := range 2 {
		for y := range 2 {
			for x := range 3 {
				for _, sub := range [][2]int{{0, 0}, {scale - 1, scale - 1}} {
					px := int(d[1]) + int(int32(d[15])) + img*(tw+tileGap) + x*scale + sub[0]
					py := int(d[2]) + int(int32(d[16])) + y*scale + sub[1]
					i := 4 * (py*W + px)
					for ch := range 3 {
						v := vals[((img*3+ch)*2+y)*3+x]
						want := uint8(math.Round(float64(v+1) * 127.5))
						require.Equal(t, want, got[i+ch], "image %d pixel (%d,%d) channel %d", img, x, y, ch)
					}
				}
			}
		}
	}
}

// TestPostSnapshotsTensors checks that a posted frame keeps the values the
// tensors had at Post, after they are overwritten and released.
func TestPostSnapshotsTensors(t *testing.T) {
	e := testdev.Engine(t)
	dev := e.Device()
	c, err := newCompositor(dev)
	require.NoError(t, err)
	defer c.release()
	vals := []float32{-1, 1, 0.5, -0.5}
	x := e.FromFloat32(vals, 1, 1, 2, 2)
	f := &Frame{Panels: []Panel{&Images{Tensors: []*tensor.Tensor{x}}}}
	s1, err := snapshotFrame(dev, f, 1)
	require.NoError(t, err)
	defer dev.Free(s1.arena)
	want := composeRead(t, c, s1, 64, 64, false)
	require.NoError(t, x.Write([]float32{0, 0, 0, 0}))
	x.Release()
	got := composeRead(t, c, s1, 64, 64, false)
	require.Equal(t, want, got)
	// A failed or released tensor gives an error panel, not a crash.
	s2, err := snapshotFrame(dev, f, 2)
	require.NoError(t, err)
	defer dev.Free(s2.arena)
	require.Contains(t, s2.panels[0].err, "no storage")
}

func TestDecimate(t *testing.T) {
	v := make([]float32, 10)
	for i := range v {
		v[i] = float32(i)
	}
	out, x0, dx := decimate(v, 100, 2, 4)
	require.Equal(t, []float32{1, 4, 7, 9}, out)
	require.Equal(t, float32(102), x0) // the mean x of bucket 0 (100, 102, 104)
	require.Equal(t, float32(6), dx)
	same, x0, dx := decimate(v, 0, 1, 10)
	require.Equal(t, v, same)
	require.Equal(t, float32(0), x0)
	require.Equal(t, float32(1), dx)
}

func TestFontGlyphs(t *testing.T) {
	rows := fontRows()
	require.Len(t, rows, glyphCount*glyphH)
	blank := func(g int) bool {
		for _, r := range rows[g*glyphH : (g+1)*glyphH] {
			if r != 0 {
				return false
			}
		}
		return true
	}
	require.True(t, blank(0), "space is blank")
	for g := 1; g < glyphCount; g++ {
		require.False(t, blank(g), "glyph %d (%q) is blank", g, rune(' '+g))
	}
	require.Equal(t, byte('A'-' '), glyphIndex('A'))
	require.Equal(t, byte(glyphBad), glyphIndex('é'))
}

// TestOverlappingText draws runs that overlap: the later run wins where
// both ink a pixel, as in the twin, although glyphs are drawn in parallel.
func TestOverlappingText(t *testing.T) {
	e := testdev.Engine(t)
	dev := e.Device()
	c, err := newCompositor(dev)
	require.NoError(t, err)
	defer c.release()
	var b builder
	b.fill(0, 0, 40, 30, rgb(10, 20, 30))
	b.text(2, 2, "MMMM", rgb(255, 0, 0), 40)
	b.text(4, 3, "WWWW", rgb(0, 255, 0), 40) // over the first run
	b.text(2, 16, "abc", rgb(0, 0, 255), 40) // beside both: same batch as the second
	b.text(-3, 10, "###", rgb(255, 255, 0), 12)
	fd := b.finish(50, 30, true)
	require.Equal(t, [][2]int{{0, 4}, {4, 11}, {11, 14}}, fd.textBatches)
	for range 3 { // parallel order varies: try a few times
		out, err := c.draw(fd, nil)
		require.NoError(t, err)
		got := make([]byte, 4*50*30)
		require.NoError(t, dev.ReadFrame(out, got))
		requireFrame(t, got, true, twinOf(t, dev, c, nil))
	}
}
