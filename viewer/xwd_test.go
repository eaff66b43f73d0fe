//go:build !headless && !tessera_headless

package viewer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"math/bits"
	"os"
	"os/exec"
)

// parseXWD decodes an X Window Dump (xwd's output) of a true-colour
// ZPixmap: a big-endian header of 25 32-bit fields, the window name, the
// colour map (12 bytes per entry) and the pixel rows.
func parseXWD(b []byte) (*image.RGBA, error) {
	if len(b) < 100 {
		return nil, errors.New("xwd: short header")
	}
	h := make([]uint32, 25)
	for i := range h {
		h[i] = binary.BigEndian.Uint32(b[4*i:])
	}
	headerSize, version, format := h[0], h[1], h[2]
	width, height := int(h[4]), int(h[5])
	byteOrder, bpp, bpl := h[7], int(h[11]), int(h[12])
	masks := [3]uint32{h[14], h[15], h[16]}
	ncolors := int(h[19])
	if version != 7 || format != 2 {
		return nil, fmt.Errorf("xwd: version %d format %d (want 7, ZPixmap 2)", version, format)
	}
	if bpp != 16 && bpp != 24 && bpp != 32 {
		return nil, fmt.Errorf("xwd: %d bits per pixel", bpp)
	}
	data := int(headerSize) + 12*ncolors
	if data+height*bpl > len(b) || width*bpp/8 > bpl {
		return nil, fmt.Errorf("xwd: %d bytes for a %d×%d image with %d-byte rows", len(b), width, height, bpl)
	}
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	bpx := bpp / 8
	for y := range height {
		row := b[data+y*bpl:]
		for x := range width {
			var p uint32
			for k := range bpx {
				v := uint32(row[x*bpx+k])
				if byteOrder == 0 { // LSBFirst
					p |= v << (8 * k)
				} else {
					p = p<<8 | v
				}
			}
			o := img.PixOffset(x, y)
			for c, m := range masks {
				shift := bits.TrailingZeros32(m)
				max := m >> shift
				v := (p & m) >> shift
				img.Pix[o+c] = uint8(v * 255 / max)
			}
			img.Pix[o+3] = 255
		}
	}
	return img, nil
}

// screenshotRoot dumps the X server's root window with xwd.
func screenshotRoot() (*image.RGBA, error) {
	xwd, err := exec.LookPath("xwd")
	if err != nil {
		return nil, fmt.Errorf("xwd is not installed (apt-get install x11-apps): %w", err)
	}
	out, err := exec.Command(xwd, "-root", "-silent").Output()
	if err != nil {
		return nil, fmt.Errorf("xwd -root -silent (DISPLAY=%s): %w", os.Getenv("DISPLAY"), err)
	}
	return parseXWD(out)
}
