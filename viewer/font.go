package viewer

import (
	"golang.org/x/image/font/basicfont"
)

// The viewer draws text with basicfont's 7×13 face: printable ASCII and
// U+FFFD, one row of bits per glyph row, uploaded once to the device.
var face = basicfont.Face7x13

const (
	glyphW     = 6  // bitmap width of a glyph
	glyphH     = 13 // bitmap rows (ascent + descent)
	glyphAdv   = 7  // pixels from one glyph to the next
	glyphCount = 96 // ' '..'~' and the replacement character
	glyphBad   = 95 // U+FFFD
)

// fontRows returns glyphCount×glyphH words: bit x of word g·glyphH+y is
// set where glyph g's pixel (x, y) is inked.
func fontRows() []uint32 {
	rows := make([]uint32, glyphCount*glyphH)
	for g := range glyphCount {
		r := rune(' ' + g)
		if g == glyphBad {
			r = '\ufffd'
		}
		y0 := -1
		for _, rg := range face.Ranges {
			if rg.Low <= r && r < rg.High {
				y0 = (int(r-rg.Low) + rg.Offset) * glyphH
			}
		}
		if y0 < 0 {
			continue
		}
		for y := range glyphH {
			var bits uint32
			for x := range glyphW {
				if _, _, _, a := face.Mask.At(x, y0+y).RGBA(); a >= 0x8000 {
					bits |= 1 << x
				}
			}
			rows[g*glyphH+y] = bits
		}
	}
	return rows
}

// glyphIndex maps a rune to its glyph.
func glyphIndex(r rune) byte {
	if r >= ' ' && r <= '~' {
		return byte(r - ' ')
	}
	return glyphBad
}

// textWidth is the width in pixels of s at scale 1.
func textWidth(s string) int { return len([]rune(s)) * glyphAdv }
