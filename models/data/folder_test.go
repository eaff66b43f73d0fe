package data

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// losslessWebP is a 6×4 lossless WebP file made with
// `cwebp -lossless -exact` from an opaque image whose pixel (x, y) is
// R = 40x+10, G = 60y+5, B = 250-35x-10y.
var losslessWebP = []byte{
	0x52, 0x49, 0x46, 0x46, 0x36, 0x00, 0x00, 0x00, 0x57, 0x45, 0x42, 0x50,
	0x56, 0x50, 0x38, 0x4c, 0x2a, 0x00, 0x00, 0x00, 0x2f, 0x05, 0xc0, 0x00,
	0x00, 0x89, 0x8c, 0xe8, 0x7f, 0x2c, 0x8a, 0x50, 0xfc, 0xe8, 0x7f, 0x40,
	0x41, 0xdb, 0x36, 0x4c, 0xdb, 0x6d, 0xac, 0xc6, 0x9f, 0xd8, 0x87, 0x20,
	0x16, 0x4c, 0xf1, 0xee, 0x48, 0xfa, 0x39, 0x7f, 0x4c, 0x40, 0x14, 0xab,
	0xc9, 0x03,
}

// lossyWebP is an 8×8 lossy WebP file (`cwebp -q 100`) of the solid colour
// R = 200, G = 100, B = 50, which libwebp's dwebp decodes to 201, 100, 50.
var lossyWebP = []byte{
	0x52, 0x49, 0x46, 0x46, 0x42, 0x00, 0x00, 0x00, 0x57, 0x45, 0x42, 0x50,
	0x56, 0x50, 0x38, 0x20, 0x36, 0x00, 0x00, 0x00, 0x50, 0x02, 0x00, 0x9d,
	0x01, 0x2a, 0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x25, 0xa0, 0x02,
	0x74, 0xba, 0x01, 0xf8, 0x01, 0xfa, 0x01, 0xfc, 0x00, 0x07, 0x90, 0x00,
	0xfe, 0xed, 0xce, 0xdf, 0xff, 0x92, 0x0f, 0x5e, 0x4f, 0x3f, 0x3f, 0xf2,
	0x42, 0x3f, 0xfe, 0xd4, 0x9f, 0xaf, 0x30, 0x72, 0xbf, 0xfb, 0x4c, 0x80,
	0x00, 0x00,
}

// to255 maps a data set value in [-1, 1] back to [0, 255].
func to255(v float32) float64 { return (float64(v) + 1) / 2 * 255 }

// writeFile writes b to root/rel, creating folders as needed, and returns
// the path.
func writeFile(t *testing.T, root, rel string, b []byte) string {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, b, 0o644))
	return p
}

// pngBytes encodes m as PNG.
func pngBytes(t *testing.T, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, m))
	return b.Bytes()
}

// jpegBytes encodes m as a quality-100 JPEG.
func jpegBytes(t *testing.T, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, jpeg.Encode(&b, m, &jpeg.Options{Quality: 100}))
	return b.Bytes()
}

// solid returns a w×h NRGBA image of one colour.
func solid(w, h int, c color.NRGBA) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(m.Pix); i += 4 {
		m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return m
}

// grayFunc returns a w×h grayscale image with pixel (x, y) = f(x, y).
func grayFunc(w, h int, f func(x, y int) uint8) *image.Gray {
	m := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetGray(x, y, color.Gray{Y: f(x, y)})
		}
	}
	return m
}

// rgbFunc returns a w×h opaque colour image with pixel (x, y) = f(x, y).
func rgbFunc(w, h int, f func(x, y int) (r, g, b uint8)) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			r, g, b := f(x, y)
			m.SetNRGBA(x, y, color.NRGBA{r, g, b, 255})
		}
	}
	return m
}

// smallPNG is a valid 4×4 PNG file.
func smallPNG(t *testing.T) []byte {
	return pngBytes(t, grayFunc(4, 4, func(x, y int) uint8 { return uint8(16*x + y) }))
}

func TestOpenFolderClasses(t *testing.T) {
	root := t.TempDir()
	p := smallPNG(t)
	j := jpegBytes(t, solid(5, 5, color.NRGBA{10, 20, 30, 255}))
	writeFile(t, root, "zebra/b.png", p)
	writeFile(t, root, "zebra/a.JPG", j)
	writeFile(t, root, "ant/x.webp", losslessWebP)
	writeFile(t, root, "ant/notes.txt", []byte("not an image"))
	writeFile(t, root, "ant/.hidden.png", []byte("ignored, however corrupt"))
	writeFile(t, root, "mid/deep/er/c.jpeg", j)
	writeFile(t, root, "mid/a.png", p)
	writeFile(t, root, ".git/objects.png", []byte("ignored"))
	writeFile(t, root, "top-level.png", p) // files beside the class folders are ignored
	require.NoError(t, os.Mkdir(filepath.Join(root, "empty"), 0o755))

	f, err := OpenFolder(root, FolderOptions{Size: 4})
	require.NoError(t, err)
	assert.Equal(t, []string{"ant", "empty", "mid", "zebra"}, f.Classes())
	assert.Equal(t, 5, f.Len())
	assert.Equal(t, []int{0, 2, 2, 3, 3}, f.Labels())
	var rel []string
	for i := range f.Len() {
		r, err := filepath.Rel(root, f.Path(i))
		require.NoError(t, err)
		rel = append(rel, filepath.ToSlash(r))
	}
	assert.Equal(t, []string{"ant/x.webp", "mid/a.png", "mid/deep/er/c.jpeg", "zebra/a.JPG", "zebra/b.png"}, rel)
	assert.Empty(t, f.Skipped())
	c, h, w := f.Shape()
	assert.Equal(t, []int{3, 4, 4}, []int{c, h, w})
	for i := range f.Len() {
		img, label, err := f.Get(i)
		require.NoError(t, err, "image %d", i)
		assert.Len(t, img, 48)
		assert.Equal(t, f.Labels()[i], label)
	}
}

func TestOpenFolderFlat(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "b.png", smallPNG(t))
	writeFile(t, root, "a.webp", losslessWebP)
	writeFile(t, root, "sub/c.png", smallPNG(t)) // ignored when flat
	writeFile(t, root, "readme.md", []byte("#"))

	f, err := OpenFolder(root, FolderOptions{Size: 2, Channels: 1, Flat: true})
	require.NoError(t, err)
	assert.Equal(t, []string{""}, f.Classes())
	assert.Equal(t, []int{0, 0}, f.Labels())
	assert.Equal(t, filepath.Join(root, "a.webp"), f.Path(0))
	assert.Equal(t, filepath.Join(root, "b.png"), f.Path(1))
	c, h, w := f.Shape()
	assert.Equal(t, []int{1, 2, 2}, []int{c, h, w})
}

// corruptFiles returns named corrupt image files and what the error about
// each must say.
func corruptFiles(t *testing.T) []struct{ name, rel, want string } {
	t.Helper()
	return []struct{ name, rel, want string }{
		{"truncated PNG", "cls/trunc.png", "IEND"},
		{"truncated JPEG", "cls/trunc.jpg", "end-of-image"},
		{"truncated WebP", "cls/trunc.webp", "RIFF header promises"},
		{"bad PNG header", "cls/header.png", "PNG header"},
		{"not an image", "cls/text.jpg", "not a JPEG, PNG or WebP file"},
		{"empty file", "cls/empty.png", "not a JPEG, PNG or WebP file"},
	}
}

// writeCorrupt writes the file corruptFiles names rel under root.
func writeCorrupt(t *testing.T, root, rel string) string {
	t.Helper()
	p := smallPNG(t)
	big := jpegBytes(t, rgbFunc(64, 64, func(x, y int) (uint8, uint8, uint8) { return uint8(x * 4), uint8(y * 4), uint8(x * y) }))
	var b []byte
	switch filepath.Base(rel) {
	case "trunc.png":
		b = p[:len(p)-20]
	case "trunc.jpg":
		b = big[:len(big)/2]
	case "trunc.webp":
		b = losslessWebP[:len(losslessWebP)-5]
	case "header.png":
		b = bytes.Clone(p)
		b[20] ^= 0xff // inside IHDR: the chunk's checksum no longer matches
	case "text.jpg":
		b = []byte("hello, world")
	case "empty.png":
		b = nil
	default:
		t.Fatalf("no corrupt file %s", rel)
	}
	return writeFile(t, root, rel, b)
}

func TestOpenFolderCorruptFile(t *testing.T) {
	for _, tc := range corruptFiles(t) {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeFile(t, root, "cls/good.png", smallPNG(t))
			writeFile(t, root, "other/good.webp", losslessWebP)
			bad := writeCorrupt(t, root, tc.rel)

			_, err := OpenFolder(root, FolderOptions{Size: 4})
			require.Error(t, err)
			assert.Contains(t, err.Error(), bad)
			assert.Contains(t, err.Error(), tc.want)

			f, err := OpenFolder(root, FolderOptions{Size: 4, SkipBad: true})
			require.NoError(t, err)
			assert.Equal(t, []string{bad}, f.Skipped())
			assert.Equal(t, 2, f.Len())
			assert.Equal(t, []string{"cls", "other"}, f.Classes())
			assert.Equal(t, []int{0, 1}, f.Labels())
		})
	}
}

func TestOpenFolderSeveralBad(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "a/good.png", smallPNG(t))
	b1 := writeCorrupt(t, root, "a/text.jpg")
	b2 := writeCorrupt(t, root, "b/trunc.png")
	_, err := OpenFolder(root, FolderOptions{Size: 4})
	require.Error(t, err)
	assert.Contains(t, err.Error(), b1, "the first bad file in scan order")
	assert.Contains(t, err.Error(), "1 more bad file")

	f, err := OpenFolder(root, FolderOptions{Size: 4, SkipBad: true})
	require.NoError(t, err)
	assert.Equal(t, []string{b1, b2}, f.Skipped())
	assert.Equal(t, 1, f.Len())
	assert.Equal(t, []string{"a", "b"}, f.Classes(), "a class whose files are all bad keeps its label")
}

func TestOpenFolderErrors(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "flat/a.png", smallPNG(t))
	writeFile(t, root, "noimages/cls/a.txt", []byte("x"))
	writeCorrupt(t, root, "allbad/cls/text.jpg")
	file := writeFile(t, root, "file.png", smallPNG(t))
	tests := []struct {
		name string
		root string
		opts FolderOptions
		want string
	}{
		{"zero size", filepath.Join(root, "flat"), FolderOptions{Flat: true}, "Size 0"},
		{"two channels", filepath.Join(root, "flat"), FolderOptions{Size: 4, Channels: 2, Flat: true}, "Channels 2"},
		{"missing root", filepath.Join(root, "nope"), FolderOptions{Size: 4}, "nope"},
		{"root is a file", file, FolderOptions{Size: 4}, "not a folder"},
		{"no class folders", filepath.Join(root, "flat"), FolderOptions{Size: 4}, "FolderOptions.Flat"},
		{"no images", filepath.Join(root, "noimages"), FolderOptions{Size: 4}, "no .jpg, .jpeg, .png or .webp files"},
		{"no images when flat", filepath.Join(root, "noimages"), FolderOptions{Size: 4, Flat: true}, "no .jpg"},
		{"every file bad", filepath.Join(root, "allbad"), FolderOptions{Size: 4, SkipBad: true}, "all 1 image files"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := OpenFolder(tc.root, tc.opts)
			require.Error(t, err)
			assert.Nil(t, f)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestFolderDecodeErrorNamesFile(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "c/good.png", smallPNG(t))
	// Corrupt the pixel data but keep the header and the IEND chunk, which
	// is all OpenFolder checks without Verify.
	b := pngBytes(t, rgbFunc(16, 16, func(x, y int) (uint8, uint8, uint8) { return uint8(x), uint8(y), 7 }))
	idat := bytes.Index(b, []byte("IDAT"))
	require.Positive(t, idat)
	b[idat+10] ^= 0xff
	bad := writeFile(t, root, "c/pixels.png", b)

	f, err := OpenFolder(root, FolderOptions{Size: 4})
	require.NoError(t, err)
	require.Equal(t, 2, f.Len())
	_, _, err = f.Get(1)
	require.Error(t, err)
	assert.Contains(t, err.Error(), bad)
	assert.Contains(t, err.Error(), "decoding PNG")
	assert.Contains(t, err.Error(), "image 1")

	// The Loader reports it too, rather than a wrong image.
	for _, err := range NewLoader(f, 2, LoaderOptions{}).Epoch(context.Background(), 0) {
		require.Error(t, err)
		assert.Contains(t, err.Error(), bad)
	}

	// Verify catches it at OpenFolder.
	_, err = OpenFolder(root, FolderOptions{Size: 4, Verify: true})
	require.Error(t, err)
	assert.Contains(t, err.Error(), bad)
	f, err = OpenFolder(root, FolderOptions{Size: 4, Verify: true, SkipBad: true})
	require.NoError(t, err)
	assert.Equal(t, []string{bad}, f.Skipped())
	assert.Equal(t, 1, f.Len())
}

func TestFolderFileChanged(t *testing.T) {
	root := t.TempDir()
	p := writeFile(t, root, "c/a.png", smallPNG(t))
	f, err := OpenFolder(root, FolderOptions{Size: 2})
	require.NoError(t, err)
	writeFile(t, root, "c/a.png", pngBytes(t, grayFunc(5, 3, func(x, y int) uint8 { return 0 })))
	_, _, err = f.Get(0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), p)
	assert.Contains(t, err.Error(), "changed since OpenFolder")
	require.NoError(t, os.Remove(p))
	_, _, err = f.Get(0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), p)
}

func TestFolderGetErrors(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "c/a.png", smallPNG(t))
	f, err := OpenFolder(root, FolderOptions{Size: 2})
	require.NoError(t, err)
	tests := []struct {
		name string
		i    int
		dst  []float32
		want string
	}{
		{"negative index", -1, make([]float32, 12), "out of range"},
		{"index too large", 1, make([]float32, 12), "out of range"},
		{"short buffer", 0, make([]float32, 11), "buffer holds 11 values, want 3×2×2 = 12"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.Fill(tc.i, tc.dst)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// checkPlane asserts that every pixel of plane (size×size) is want(x, y)
// within tol, in [0, 255] units.
func checkPlane(t *testing.T, plane []float32, size int, tol float64, want func(x, y int) float64, msg string) {
	t.Helper()
	for y := range size {
		for x := range size {
			assert.InDelta(t, want(x, y), to255(plane[y*size+x]), tol, "%s: pixel (%d, %d)", msg, x, y)
		}
	}
}

func TestFolderEvalResize(t *testing.T) {
	tests := []struct {
		name string
		img  image.Image
		size int
		tol  float64
		// want gives output pixel (x, y) in [0, 255]; lo and hi bound the
		// output columns checked, to leave out edge effects.
		want   func(x, y int) float64
		lo, hi int
	}{
		{
			// Short side 32 → 16 halves both axes; width 64 → 32, centre
			// crop from column 8. Output column x averages source columns
			// 2(8+x) and 2(8+x)+1: 4·(16+2x) + 2.
			name: "halve, horizontal gradient",
			img:  grayFunc(64, 32, func(x, y int) uint8 { return uint8(4 * x) }),
			size: 16, tol: 1e-3,
			want: func(x, y int) float64 { return float64(66 + 8*x) },
			lo:   0, hi: 16,
		},
		{
			// The same turned on its side: a tall image is cropped in the
			// middle vertically.
			name: "halve, vertical gradient",
			img:  grayFunc(32, 64, func(x, y int) uint8 { return uint8(4 * y) }),
			size: 16, tol: 1e-3,
			want: func(x, y int) float64 { return float64(66 + 8*y) },
			lo:   0, hi: 16,
		},
		{
			// 48 → 32: area averaging over 1.5 source pixels is within 1/255
			// of the gradient's value at the footprint's centre, 5·(1.5x+0.25).
			name: "two thirds",
			img:  grayFunc(48, 48, func(x, y int) uint8 { return uint8(5 * x) }),
			size: 32, tol: 1,
			want: func(x, y int) float64 { return 5 * (1.5*float64(x) + 0.25) },
			lo:   0, hi: 32,
		},
		{
			// 8 → 16 enlarges; Catmull-Rom reproduces a linear ramp exactly
			// away from the borders: output x samples source x/2 - 0.25.
			name: "double",
			img:  grayFunc(8, 8, func(x, y int) uint8 { return uint8(20*x + 30) }),
			size: 16, tol: 1e-3,
			want: func(x, y int) float64 { return 20*(float64(x)/2-0.25) + 30 },
			lo:   3, hi: 13,
		},
		{
			name: "same size is a copy",
			img:  grayFunc(5, 5, func(x, y int) uint8 { return uint8(x*50 + y) }),
			size: 5, tol: 1e-3,
			want: func(x, y int) float64 { return float64(x*50 + y) },
			lo:   0, hi: 5,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeFile(t, root, "c/img.png", pngBytes(t, tc.img))
			for _, ch := range []int{1, 3} {
				f, err := OpenFolder(root, FolderOptions{Size: tc.size, Channels: ch})
				require.NoError(t, err)
				img, _, err := f.Get(0)
				require.NoError(t, err)
				ss := tc.size * tc.size
				require.Len(t, img, ch*ss)
				for c := range ch {
					plane := img[c*ss : (c+1)*ss]
					for y := range tc.size {
						for x := range tc.size {
							if x < tc.lo || x >= tc.hi {
								continue
							}
							assert.InDelta(t, tc.want(x, y), to255(plane[y*tc.size+x]), tc.tol, "channels %d, plane %d, pixel (%d, %d)", ch, c, x, y)
						}
					}
				}
			}
		})
	}
}

func TestFolderWebP(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "a/lossless.webp", losslessWebP)
	writeFile(t, root, "b/lossy.webp", lossyWebP)

	// The 6×4 image keeps its size (short side 4) and loses one column on
	// each side to the centre crop: output (x, y) is source (x+1, y).
	f, err := OpenFolder(root, FolderOptions{Size: 4})
	require.NoError(t, err)
	img, label, err := f.Get(0)
	require.NoError(t, err)
	assert.Equal(t, 0, label)
	checkPlane(t, img[0:16], 4, 1e-3, func(x, y int) float64 { return float64(40*(x+1) + 10) }, "red")
	checkPlane(t, img[16:32], 4, 1e-3, func(x, y int) float64 { return float64(60*y + 5) }, "green")
	checkPlane(t, img[32:48], 4, 1e-3, func(x, y int) float64 { return float64(250 - 35*(x+1) - 10*y) }, "blue")

	img, label, err = f.Get(1)
	require.NoError(t, err)
	assert.Equal(t, 1, label)
	// Decoded as limited-range Y'CbCr, like dwebp; read as full range it
	// would come out near 190, 100, 57.
	for c, want := range []float64{201, 100, 50} {
		checkPlane(t, img[c*16:(c+1)*16], 4, 1, func(x, y int) float64 { return want }, "lossy")
	}
}

func TestFolderChannels(t *testing.T) {
	const r, g, b = 200, 100, 50
	luma := 0.299*r + 0.587*g + 0.114*b
	pal := image.NewPaletted(image.Rect(0, 0, 4, 4), color.Palette{color.NRGBA{r, g, b, 255}, color.NRGBA{r, g, b, 51}})
	half := image.NewPaletted(image.Rect(0, 0, 4, 4), pal.Palette)
	for i := range half.Pix {
		half.Pix[i] = 1
	}
	tests := []struct {
		name     string
		file     []byte
		ext      string
		channels int
		want     []float64 // per output channel, in [0, 255]
		tol      float64
	}{
		{"RGB as RGB", pngBytes(t, solid(4, 4, color.NRGBA{r, g, b, 255})), "png", 3, []float64{r, g, b}, 1e-3},
		{"RGB as gray uses BT.601 luma", pngBytes(t, solid(4, 4, color.NRGBA{r, g, b, 255})), "png", 1, []float64{luma}, 1e-3},
		{"gray as RGB is replicated", pngBytes(t, grayFunc(4, 4, func(x, y int) uint8 { return 77 })), "png", 3, []float64{77, 77, 77}, 1e-3},
		{"gray as gray", pngBytes(t, grayFunc(4, 4, func(x, y int) uint8 { return 77 })), "png", 1, []float64{77}, 1e-3},
		{"gray JPEG as RGB", jpegBytes(t, grayFunc(8, 8, func(x, y int) uint8 { return 90 })), "jpg", 3, []float64{90, 90, 90}, 1},
		{"colour JPEG", jpegBytes(t, solid(8, 8, color.NRGBA{r, g, b, 255})), "jpg", 3, []float64{r, g, b}, 3},
		{"colour JPEG as gray", jpegBytes(t, solid(8, 8, color.NRGBA{r, g, b, 255})), "jpg", 1, []float64{luma}, 3},
		{"alpha composited on black", pngBytes(t, solid(4, 4, color.NRGBA{r, g, b, 51})), "png", 3, []float64{r * 0.2, g * 0.2, b * 0.2}, 1e-3},
		{"transparent is black", pngBytes(t, solid(4, 4, color.NRGBA{r, g, b, 0})), "png", 1, []float64{0}, 1e-3},
		{"paletted", pngBytes(t, pal), "png", 3, []float64{r, g, b}, 1e-3},
		{"paletted with alpha", pngBytes(t, half), "png", 3, []float64{r * 0.2, g * 0.2, b * 0.2}, 1e-3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeFile(t, root, "c/img."+tc.ext, tc.file)
			f, err := OpenFolder(root, FolderOptions{Size: 4, Channels: tc.channels})
			require.NoError(t, err)
			img, _, err := f.Get(0)
			require.NoError(t, err)
			require.Len(t, img, tc.channels*16)
			for c, want := range tc.want {
				checkPlane(t, img[c*16:(c+1)*16], 4, tc.tol, func(x, y int) float64 { return want }, "channel")
			}
		})
	}
}

func TestFolder16Bit(t *testing.T) {
	m := image.NewRGBA64(image.Rect(0, 0, 4, 4))
	g := image.NewGray16(image.Rect(0, 0, 4, 4))
	for y := range 4 {
		for x := range 4 {
			m.SetRGBA64(x, y, color.RGBA64{200 * 257, 100 * 257, 50 * 257, 0xffff})
			g.SetGray16(x, y, color.Gray16{Y: 77 * 257})
		}
	}
	root := t.TempDir()
	writeFile(t, root, "c/rgb.png", pngBytes(t, m))
	writeFile(t, root, "c/gray.png", pngBytes(t, g))
	f, err := OpenFolder(root, FolderOptions{Size: 4})
	require.NoError(t, err)
	for i, want := range [][]float64{{77, 77, 77}, {200, 100, 50}} {
		img, _, err := f.Get(i)
		require.NoError(t, err)
		for c, w := range want {
			checkPlane(t, img[c*16:(c+1)*16], 4, 1e-3, func(x, y int) float64 { return w }, f.Path(i))
		}
	}
}

// trainFolder opens a folder of n 20×12 colour images, each different, in
// training mode: short side round(1.125·8) = 9, so images resize to 15×9
// and crops have 8×2 positions, times two for the flip.
func trainFolder(t *testing.T, n int, seed uint64) *Folder {
	t.Helper()
	root := t.TempDir()
	for k := range n {
		m := rgbFunc(20, 12, func(x, y int) (uint8, uint8, uint8) {
			return uint8(12*x + k), uint8(20 * y), uint8((x * y * 3) ^ k)
		})
		writeFile(t, root, "c/"+string(rune('a'+k))+".png", pngBytes(t, m))
	}
	f, err := OpenFolder(root, FolderOptions{Size: 8, Train: true, Seed: seed})
	require.NoError(t, err)
	return f
}

// crops returns every training crop image i of f can give: resized to
// 15×9 then cut at (x0, y0), flipped or not, keyed by the choice.
func crops(t *testing.T, f *Folder, i int) map[[3]int][]float32 {
	t.Helper()
	raw, err := os.ReadFile(f.Path(i))
	require.NoError(t, err)
	m, err := png.Decode(bytes.NewReader(raw))
	require.NoError(t, err)
	planes, nc := toPlanes(m, false)
	out := map[[3]int][]float32{}
	for x0 := range 8 {
		for y0 := range 2 {
			for flip := range 2 {
				dst := make([]float32, nc*64)
				resizeCrop(dst, planes, nc, 20, 12, 15, 9, x0, y0, 8, flip == 1)
				out[[3]int{x0, y0, flip}] = dst
			}
		}
	}
	return out
}

// whichCrop returns the crop choice img is, failing if it is none.
func whichCrop(t *testing.T, all map[[3]int][]float32, img []float32) [3]int {
	t.Helper()
	for k, c := range all {
		if assert.ObjectsAreEqual(c, img) {
			return k
		}
	}
	t.Fatalf("the image is not one of the %d possible crops", len(all))
	return [3]int{}
}

func TestFolderTrainCrops(t *testing.T) {
	const n, epochs = 4, 8
	f := trainFolder(t, n, 42)
	for i := range n {
		all := crops(t, f, i)
		seen := map[[3]int]bool{}
		for e := range epochs {
			a, la, err := f.AtEpoch(e).Get(i)
			require.NoError(t, err)
			b, lb, err := f.AtEpoch(e).Get(i)
			require.NoError(t, err)
			assert.Equal(t, a, b, "image %d epoch %d: the same (seed, epoch, index) must give the same crop", i, e)
			assert.Equal(t, la, lb)
			seen[whichCrop(t, all, a)] = true
			if e == 0 {
				g, _, err := f.Get(i)
				require.NoError(t, err)
				assert.Equal(t, a, g, "Get is epoch 0")
			}
		}
		assert.Greater(t, len(seen), 1, "image %d: every epoch gave the same crop", i)
	}

	// Another seed gives other crops; the same seed the same ones.
	g := trainFolder(t, n, 43)
	same := trainFolder(t, n, 42)
	differ := 0
	for i := range n {
		for e := range epochs {
			a, _, err := f.AtEpoch(e).Get(i)
			require.NoError(t, err)
			b, _, err := g.AtEpoch(e).Get(i)
			require.NoError(t, err)
			c, _, err := same.AtEpoch(e).Get(i)
			require.NoError(t, err)
			assert.Equal(t, a, c)
			if !assert.ObjectsAreEqual(a, b) {
				differ++
			}
		}
	}
	assert.Positive(t, differ)
}

func TestFolderTrainFlipsAndShifts(t *testing.T) {
	f := trainFolder(t, 1, 7)
	all := crops(t, f, 0)
	flips, xs := map[int]bool{}, map[int]bool{}
	for e := range 64 {
		img, _, err := f.AtEpoch(e).Get(0)
		require.NoError(t, err)
		k := whichCrop(t, all, img)
		xs[k[0]], flips[k[2]] = true, true
	}
	assert.Len(t, flips, 2, "both flipped and unflipped crops")
	assert.Greater(t, len(xs), 4, "crops at several horizontal offsets")
}

func TestFolderFillRandMatchesLoaderSource(t *testing.T) {
	f := trainFolder(t, 3, 99)
	l := NewLoader(f, 2, LoaderOptions{Seed: 99})
	for e := range 3 {
		for i := range f.Len() {
			want, _, err := f.AtEpoch(e).Get(i)
			require.NoError(t, err)
			got := make([]float32, len(want))
			_, err = f.FillRand(i, got, l.imageRand(e, i))
			require.NoError(t, err)
			assert.Equal(t, want, got, "epoch %d image %d", e, i)
		}
	}
	// A nil source means epoch 0's.
	want, _, err := f.Get(1)
	require.NoError(t, err)
	got := make([]float32, len(want))
	_, err = f.FillRand(1, got, nil)
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

func TestFolderEvalIgnoresEpoch(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "c/a.png", pngBytes(t, rgbFunc(20, 12, func(x, y int) (uint8, uint8, uint8) { return uint8(x * 9), uint8(y * 9), 3 })))
	f, err := OpenFolder(root, FolderOptions{Size: 8, Seed: 5})
	require.NoError(t, err)
	want, _, err := f.Get(0)
	require.NoError(t, err)
	for e := range 4 {
		got, _, err := f.AtEpoch(e).Get(0)
		require.NoError(t, err)
		assert.Equal(t, want, got)
		_, err = f.FillRand(0, got, rand.New(rand.NewPCG(uint64(e), 1)))
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
}

func TestFolderWithLoader(t *testing.T) {
	train := trainFolder(t, 5, 3)
	eval, err := OpenFolder(filepath.Dir(filepath.Dir(train.Path(0))), FolderOptions{Size: 8})
	require.NoError(t, err)
	tests := []struct {
		name string
		ds   Dataset
	}{
		{"eval", eval},
		{"train, one epoch's view", train.AtEpoch(2)},
		// Epoch 0 with the Loader's Seed equal to the Folder's: the same
		// images whether the Loader calls Fill or FillRand.
		{"train", train},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLoader(tc.ds, 2, LoaderOptions{Shuffle: true, Seed: 3, Workers: 3})
			n := 0
			for b, err := range l.Epoch(context.Background(), 0) {
				require.NoError(t, err)
				assert.Equal(t, []int{3, 8, 8}, []int{b.C, b.H, b.W})
				for k, idx := range b.Indices {
					want, label, err := tc.ds.Get(idx)
					require.NoError(t, err)
					assert.Equal(t, want, b.Images[k*192:(k+1)*192])
					assert.Equal(t, int32(label), b.Labels[k])
					n++
				}
			}
			assert.Equal(t, 5, n)
		})
	}
}

func TestFolderConcurrentGet(t *testing.T) {
	f := trainFolder(t, 4, 11)
	want := make([][]float32, f.Len())
	for i := range want {
		var err error
		want[i], _, err = f.Get(i)
		require.NoError(t, err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for k := range 20 {
				i := (g + k) % f.Len()
				img, _, err := f.Get(i)
				assert.NoError(t, err)
				assert.Equal(t, want[i], img)
			}
		})
	}
	wg.Wait()
}

func TestOpenFolderLongTrailer(t *testing.T) {
	// Some cameras append kilobytes of metadata after a JPEG's end marker;
	// Go decodes such files, so OpenFolder must not call them truncated.
	root := t.TempDir()
	trailer := bytes.Repeat([]byte("SEFT"), 4096)
	writeFile(t, root, "c/a.jpg", append(jpegBytes(t, solid(8, 8, color.NRGBA{9, 9, 9, 255})), trailer...))
	writeFile(t, root, "c/b.png", append(smallPNG(t), trailer...))
	f, err := OpenFolder(root, FolderOptions{Size: 4})
	require.NoError(t, err)
	assert.Equal(t, 2, f.Len())
	for i := range 2 {
		_, _, err := f.Get(i)
		assert.NoError(t, err)
	}
}

func TestOpenFolderSymlinkedClass(t *testing.T) {
	root := t.TempDir()
	elsewhere := t.TempDir()
	writeFile(t, elsewhere, "x.png", smallPNG(t))
	writeFile(t, root, "a/y.png", smallPNG(t))
	if err := os.Symlink(elsewhere, filepath.Join(root, "b")); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	f, err := OpenFolder(root, FolderOptions{Size: 4})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, f.Classes())
	assert.Equal(t, []int{0, 1}, f.Labels())
	assert.Equal(t, filepath.Join(root, "b", "x.png"), f.Path(1))
}

func TestOpenFolderMissingRootWraps(t *testing.T) {
	_, err := OpenFolder(filepath.Join(t.TempDir(), "nope"), FolderOptions{Size: 4})
	assert.ErrorIs(t, err, os.ErrNotExist)
}
