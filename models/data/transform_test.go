package data

import (
	"bytes"
	"image"
	"image/color"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSniffFormat(t *testing.T) {
	tests := []struct {
		name string
		head []byte
		want string
	}{
		{"PNG", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0d"), formatPNG},
		{"JPEG", []byte{0xff, 0xd8, 0xff, 0xe0}, formatJPEG},
		{"WebP", losslessWebP[:12], formatWebP},
		{"RIFF but not WebP", []byte("RIFF\x00\x00\x00\x00WAVE"), formatUnknown},
		{"GIF", []byte("GIF89a"), formatUnknown},
		{"short", []byte{0xff}, formatUnknown},
		{"empty", nil, formatUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, sniffFormat(tc.head))
		})
	}
}

func TestCheckTail(t *testing.T) {
	p := pngBytes(t, grayFunc(3, 3, func(x, y int) uint8 { return 1 }))
	j := jpegBytes(t, grayFunc(3, 3, func(x, y int) uint8 { return 1 }))
	tests := []struct {
		name   string
		format string
		file   []byte
		want   string // "" for no error
	}{
		{"PNG", formatPNG, p, ""},
		{"PNG with trailing padding", formatPNG, append(bytes.Clone(p), make([]byte, 100)...), ""},
		{"truncated PNG", formatPNG, p[:len(p)-1], "IEND"},
		{"JPEG", formatJPEG, j, ""},
		{"JPEG with trailing padding", formatJPEG, append(bytes.Clone(j), 0, 0, 0), ""},
		{"truncated JPEG", formatJPEG, j[:len(j)-2], "end-of-image"},
		{"WebP", formatWebP, losslessWebP, ""},
		{"WebP with trailing padding", formatWebP, append(bytes.Clone(losslessWebP), 0), ""},
		{"truncated WebP", formatWebP, losslessWebP[:len(losslessWebP)-1], "promises 62 bytes, the file holds 61"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkTail(tc.format, bytes.NewReader(tc.file), int64(len(tc.file)))
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestAxisTapsSumToOne(t *testing.T) {
	tests := []struct{ src, dst int }{
		{64, 32}, {48, 32}, {500, 224}, {375, 252}, {7, 3}, {10, 1},
		{8, 16}, {3, 224}, {224, 224}, {1, 5}, {5, 1},
	}
	for _, tc := range tests {
		tp := axisTaps(tc.src, tc.dst, 0, tc.dst)
		for o := range tc.dst {
			var sum float64
			for k := o * tp.n; k < (o+1)*tp.n; k++ {
				sum += float64(tp.w[k])
				assert.GreaterOrEqual(t, tp.idx[k], 0)
				assert.Less(t, tp.idx[k], tc.src)
				if tc.dst < tc.src {
					assert.GreaterOrEqual(t, tp.w[k], float32(0), "area weights are never negative")
				}
			}
			assert.InDelta(t, 1, sum, 1e-5, "%d → %d, output %d", tc.src, tc.dst, o)
		}
	}
}

func TestResizeCropFlip(t *testing.T) {
	// 4×2 source, one plane, copied at its own size and cut at x0 = 1.
	src := []float32{0, 10, 20, 30, 40, 50, 60, 70}
	dst := make([]float32, 4)
	resizeCrop(dst, src, 1, 4, 2, 4, 2, 1, 0, 2, false)
	assert.InDeltaSlice(t, []float64{10, 20, 50, 60}, back255(dst), 1e-3)
	resizeCrop(dst, src, 1, 4, 2, 4, 2, 1, 0, 2, true)
	assert.InDeltaSlice(t, []float64{20, 10, 60, 50}, back255(dst), 1e-3)
}

// back255 maps data set values back to [0, 255].
func back255(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = to255(x)
	}
	return out
}

func TestResizeClampsOvershoot(t *testing.T) {
	// Catmull-Rom rings past a hard edge; the result must stay in [-1, 1].
	src := make([]float32, 8)
	for i := range 4 {
		src[4+i] = 255
	}
	dst := make([]float32, 64)
	resizeCrop(dst, src, 1, 8, 1, 64, 8, 0, 0, 8, false) // only 8 of 64 columns
	for _, v := range dst {
		assert.GreaterOrEqual(t, v, float32(-1))
		assert.LessOrEqual(t, v, float32(1))
	}
}

func TestYCbCrRanges(t *testing.T) {
	tests := []struct {
		name      string
		video     bool
		y, cb, cr uint8
		want      [3]float64
	}{
		{"video black", true, 16, 128, 128, [3]float64{0, 0, 0}},
		{"video white", true, 235, 128, 128, [3]float64{255, 255, 255}},
		{"full black", false, 0, 128, 128, [3]float64{0, 0, 0}},
		{"full white", false, 255, 128, 128, [3]float64{255, 255, 255}},
		{"video below black clamps", true, 0, 128, 128, [3]float64{0, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := image.NewYCbCr(image.Rect(0, 0, 1, 1), image.YCbCrSubsampleRatio444)
			m.Y[0], m.Cb[0], m.Cr[0] = tc.y, tc.cb, tc.cr
			planes, nc := toPlanes(m, tc.video)
			require.Equal(t, 3, nc)
			for c := range 3 {
				assert.InDelta(t, tc.want[c], planes[c], 0.5)
			}
		})
	}
}

func TestToPlanesSubImage(t *testing.T) {
	// A sub-image whose bounds do not start at the origin.
	m := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	for y := range 4 {
		for x := range 4 {
			m.SetNRGBA(x, y, color.NRGBA{uint8(x), uint8(y), 9, 255})
		}
	}
	sub := m.SubImage(image.Rect(1, 2, 3, 4))
	planes, nc := toPlanes(sub, false)
	require.Equal(t, 3, nc)
	assert.Equal(t, []float32{1, 2, 1, 2, 2, 2, 3, 3, 9, 9, 9, 9}, planes)
}
