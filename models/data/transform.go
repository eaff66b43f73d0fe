package data

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"

	"golang.org/x/image/webp"
)

// Image formats that OpenFolder reads, identified by their leading bytes,
// not by the file name.
const (
	formatUnknown = ""
	formatJPEG    = "JPEG"
	formatPNG     = "PNG"
	formatWebP    = "WebP"
)

// MaxImagePixels is the largest width×height OpenFolder accepts for one
// image file, so that a corrupt or hostile header cannot make a decoder
// allocate without bound. Larger files count as bad.
const MaxImagePixels = 1 << 28

// pngMagic starts every PNG file; pngIEND is the last chunk of one (zero
// length, type, CRC).
var (
	pngMagic = []byte("\x89PNG\r\n\x1a\n")
	pngIEND  = []byte("IEND\xaeB`\x82")
)

// tailBytes is how much of a file's end checkTail reads to look for the
// format's end marker, allowing for a little padding after it.
const tailBytes = 4096

// sniffFormat identifies an image format from a file's first bytes.
func sniffFormat(head []byte) string {
	switch {
	case bytes.HasPrefix(head, pngMagic):
		return formatPNG
	case len(head) >= 3 && head[0] == 0xff && head[1] == 0xd8 && head[2] == 0xff:
		return formatJPEG
	case len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return formatWebP
	}
	return formatUnknown
}

// decodeConfig reads the header of an image of the given format.
func decodeConfig(format string, r io.Reader) (image.Config, error) {
	var (
		cfg image.Config
		err error
	)
	switch format {
	case formatJPEG:
		cfg, err = jpeg.DecodeConfig(r)
	case formatPNG:
		cfg, err = png.DecodeConfig(r)
	case formatWebP:
		cfg, err = webp.DecodeConfig(r)
	default:
		return image.Config{}, errors.New("not a JPEG, PNG or WebP file")
	}
	if err != nil {
		return image.Config{}, fmt.Errorf("%s header: %w", format, err)
	}
	return cfg, nil
}

// decodeImage decodes a whole image of the given format.
func decodeImage(format string, r io.Reader) (image.Image, error) {
	var (
		m   image.Image
		err error
	)
	switch format {
	case formatJPEG:
		m, err = jpeg.Decode(r)
	case formatPNG:
		m, err = png.Decode(r)
	case formatWebP:
		m, err = webp.Decode(r)
	default:
		return nil, errors.New("not a JPEG, PNG or WebP file")
	}
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", format, err)
	}
	return m, nil
}

// checkTail looks at the end of a file of the given format and size for
// the sign that it is complete, catching the commonest corruption, a
// truncated file, without decoding it: a PNG must end with its IEND chunk,
// a JPEG with an EOI marker (FF D9), both allowing a little trailing
// padding, and a WebP file must be at least as long as its RIFF header
// says.
func checkTail(format string, r io.ReaderAt, size int64) error {
	if format == formatWebP {
		var hdr [8]byte
		if _, err := r.ReadAt(hdr[:], 0); err != nil {
			return fmt.Errorf("reading the RIFF header: %w", err)
		}
		riff := int64(hdr[4]) | int64(hdr[5])<<8 | int64(hdr[6])<<16 | int64(hdr[7])<<24
		if need := 8 + riff; size < need {
			return fmt.Errorf("truncated WebP file: the RIFF header promises %d bytes, the file holds %d", need, size)
		}
		return nil
	}
	n := min(size, tailBytes)
	tail := make([]byte, n)
	if _, err := r.ReadAt(tail, size-n); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading the end of the file: %w", err)
	}
	switch format {
	case formatPNG:
		if !bytes.Contains(tail, pngIEND) {
			return errors.New("truncated PNG file: no IEND chunk at its end")
		}
	case formatJPEG:
		if !bytes.Contains(tail, []byte{0xff, 0xd9}) {
			return errors.New("truncated JPEG file: no end-of-image marker at its end")
		}
	}
	return nil
}

// videoYCbCrToRGB converts limited-range ("video", 16–235 luma) BT.601
// Y'CbCr to RGB in [0, 255], as libwebp does for lossy WebP.
func videoYCbCrToRGB(y, cb, cr uint8) (r, g, b float32) {
	yy := 1.164383 * (float32(y) - 16)
	u, v := float32(cb)-128, float32(cr)-128
	r = yy + 1.596027*v
	g = yy - 0.391762*u - 0.812968*v
	b = yy + 2.017232*u
	return min(max(r, 0), 255), min(max(g, 0), 255), min(max(b, 0), 255)
}

// fullYCbCrToRGB converts full-range (JFIF) Y'CbCr to RGB in [0, 255], as
// JPEG files use.
func fullYCbCrToRGB(y, cb, cr uint8) (r, g, b float32) {
	cr8, cg8, cb8 := color.YCbCrToRGB(y, cb, cr)
	return float32(cr8), float32(cg8), float32(cb8)
}

// toPlanes converts m to planar float32 values in [0, 255], composited on
// black where it has alpha. It returns one plane for a grayscale image
// (*image.Gray, as grayscale JPEG and PNG files decode) and three, R, G and
// B, for anything else.
//
// videoRange says that Y'CbCr images hold limited-range values, as
// golang.org/x/image/webp returns for lossy WebP files although Go's
// image.YCbCr means full range (golang/go#40173); converting them as full
// range would lift blacks, dim whites and wash out colours.
func toPlanes(m image.Image, videoRange bool) (planes []float32, nc int) {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	hw := w * h
	if g, ok := m.(*image.Gray); ok {
		planes = make([]float32, hw)
		for y := range h {
			row := g.Pix[g.PixOffset(b.Min.X, b.Min.Y+y):][:w]
			for x, v := range row {
				planes[y*w+x] = float32(v)
			}
		}
		return planes, 1
	}
	planes = make([]float32, 3*hw)
	r, gr, bl := planes[:hw], planes[hw:2*hw], planes[2*hw:]
	toRGB := fullYCbCrToRGB
	if videoRange {
		toRGB = videoYCbCrToRGB
	}
	switch s := m.(type) {
	case *image.YCbCr:
		for y := range h {
			for x := range w {
				c := s.YCbCrAt(b.Min.X+x, b.Min.Y+y)
				i := y*w + x
				r[i], gr[i], bl[i] = toRGB(c.Y, c.Cb, c.Cr)
			}
		}
	case *image.NYCbCrA:
		for y := range h {
			for x := range w {
				c := s.NYCbCrAAt(b.Min.X+x, b.Min.Y+y)
				cr, cg, cb := toRGB(c.Y, c.Cb, c.Cr)
				a := float32(c.A) / 255
				i := y*w + x
				r[i], gr[i], bl[i] = cr*a, cg*a, cb*a
			}
		}
	case *image.RGBA: // already premultiplied: composited on black
		for y := range h {
			row := s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):][:4*w]
			for x := range w {
				i := y*w + x
				r[i], gr[i], bl[i] = float32(row[4*x]), float32(row[4*x+1]), float32(row[4*x+2])
			}
		}
	case *image.NRGBA:
		for y := range h {
			row := s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):][:4*w]
			for x := range w {
				a := float32(row[4*x+3]) / 255
				i := y*w + x
				r[i], gr[i], bl[i] = float32(row[4*x])*a, float32(row[4*x+1])*a, float32(row[4*x+2])*a
			}
		}
	case *image.Paletted:
		pal := make([][3]float32, len(s.Palette))
		for k, c := range s.Palette {
			cr, cg, cb, _ := c.RGBA() // premultiplied: composited on black
			pal[k] = [3]float32{float32(cr) / 257, float32(cg) / 257, float32(cb) / 257}
		}
		for y := range h {
			row := s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):][:w]
			for x, k := range row {
				var c [3]float32 // an index outside the palette is black
				if int(k) < len(pal) {
					c = pal[k]
				}
				i := y*w + x
				r[i], gr[i], bl[i] = c[0], c[1], c[2]
			}
		}
	case image.RGBA64Image: // Gray16, RGBA64, NRGBA64, CMYK, …: no allocation per pixel
		for y := range h {
			for x := range w {
				c := s.RGBA64At(b.Min.X+x, b.Min.Y+y)
				i := y*w + x
				r[i], gr[i], bl[i] = float32(c.R)/257, float32(c.G)/257, float32(c.B)/257
			}
		}
	default:
		for y := range h {
			for x := range w {
				cr, cg, cb, _ := m.At(b.Min.X+x, b.Min.Y+y).RGBA()
				i := y*w + x
				r[i], gr[i], bl[i] = float32(cr)/257, float32(cg)/257, float32(cb)/257
			}
		}
	}
	return planes, 3
}

// ITU-R BT.601 luma weights, used to turn RGB into one channel.
const (
	lumaR = 0.299
	lumaG = 0.587
	lumaB = 0.114
)

// luma collapses three planes of hw values each into one, in place, and
// returns it.
func luma(planes []float32, hw int) []float32 {
	r, g, b := planes[:hw], planes[hw:2*hw], planes[2*hw:3*hw]
	for i := range r {
		r[i] = lumaR*r[i] + lumaG*g[i] + lumaB*b[i]
	}
	return r
}

// taps holds the resampling filter of one axis: output coordinate o is the
// sum over k < n of w[o*n+k] times source sample idx[o*n+k]. Unused taps
// have weight 0.
type taps struct {
	n   int
	idx []int
	w   []float32
}

// axisTaps returns the filter that resamples an axis of src samples to dst
// samples, for the count output coordinates starting at off. Shrinking uses
// area averaging: each output sample is the mean of the source samples its
// footprint covers, weighted by coverage. Enlarging (and copying, dst ==
// src) uses Catmull-Rom interpolation between pixel centres, replicating
// the edge samples beyond the border.
func axisTaps(src, dst, off, count int) taps {
	scale := float64(src) / float64(dst) // source samples per output sample
	var t taps
	if dst < src {
		t.n = int(math.Ceil(scale)) + 1
	} else {
		t.n = 4
	}
	t.idx = make([]int, count*t.n)
	t.w = make([]float32, count*t.n)
	for j := range count {
		o := off + j
		idx, w := t.idx[j*t.n:(j+1)*t.n], t.w[j*t.n:(j+1)*t.n]
		if dst < src {
			a, b := float64(o)*scale, float64(o+1)*scale
			first := int(math.Floor(a))
			for k := range t.n {
				i := first + k
				idx[k] = min(i, src-1)
				cover := math.Min(b, float64(i+1)) - math.Max(a, float64(i))
				if cover > 0 && i < src {
					w[k] = float32(cover / scale)
				}
			}
			continue
		}
		u := (float64(o)+0.5)*scale - 0.5
		i0 := int(math.Floor(u))
		f := u - float64(i0)
		f2, f3 := f*f, f*f*f
		cw := [4]float64{
			(-f3 + 2*f2 - f) / 2,
			(3*f3 - 5*f2 + 2) / 2,
			(-3*f3 + 4*f2 + f) / 2,
			(f3 - f2) / 2,
		}
		for k := range 4 {
			idx[k] = min(max(i0-1+k, 0), src-1)
			w[k] = float32(cw[k])
		}
	}
	return t
}

// resizeCrop resamples nc planes of sw×sh values in [0, 255] to rw×rh, cuts
// out the size×size window whose top-left corner is (x0, y0), mirrors it
// left to right if flip is set, and writes it to dst (nc*size*size values)
// mapped to [-1, 1]. Only the rows and columns the window needs are
// computed.
func resizeCrop(dst, src []float32, nc, sw, sh, rw, rh, x0, y0, size int, flip bool) {
	xt := axisTaps(sw, rw, x0, size)
	yt := axisTaps(sh, rh, y0, size)
	lo, hi := sh, -1
	for k, i := range yt.idx {
		if yt.w[k] != 0 {
			lo, hi = min(lo, i), max(hi, i)
		}
	}
	if hi < lo { // cannot happen for size ≥ 1, but keep the slices valid
		lo, hi = 0, 0
	}
	rows := hi - lo + 1
	tmp := make([]float32, rows*size)
	ss := size * size
	for ch := range nc {
		plane := src[ch*sw*sh : (ch+1)*sw*sh]
		for y := range rows {
			srow := plane[(lo+y)*sw : (lo+y+1)*sw]
			trow := tmp[y*size : (y+1)*size]
			for ox := range size {
				var s float32
				for k := ox * xt.n; k < (ox+1)*xt.n; k++ {
					s += xt.w[k] * srow[xt.idx[k]]
				}
				trow[ox] = s
			}
		}
		out := dst[ch*ss : (ch+1)*ss]
		for oy := range size {
			orow := out[oy*size : (oy+1)*size]
			clear(orow)
			for k := oy * yt.n; k < (oy+1)*yt.n; k++ {
				wk := yt.w[k]
				if wk == 0 {
					continue
				}
				trow := tmp[(yt.idx[k]-lo)*size : (yt.idx[k]-lo+1)*size]
				for ox, v := range trow {
					orow[ox] += wk * v
				}
			}
			for ox, v := range orow {
				orow[ox] = min(max(v, 0), 255)/255*2 - 1
			}
			if flip {
				for a, b := 0, size-1; a < b; a, b = a+1, b-1 {
					orow[a], orow[b] = orow[b], orow[a]
				}
			}
		}
	}
}
