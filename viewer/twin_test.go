package viewer

import (
	"math"
)

// A host twin of shaders/viewer_compose.comp and viewer_stats.comp: it
// reads the same descriptor words, arena and font, so tests can compare
// whole composed frames. Integer paths (fills, images, tokens, text) must
// match exactly; heat-map colours (a float polynomial) may differ by
// twinHeatTol per channel, and curve pixels whose hit test is within
// twinCurveEps of the line's edge are not compared.

const (
	careExact = iota
	careHeat
	careNone
)

const (
	twinHeatTol  = 2
	twinCurveEps = 0.05
)

type twinFrame struct {
	words []uint32
	push  []uint32
	arena []uint32
	font  []uint32
	stats []float32
}

func twinUnpack(c uint32) [3]uint32 { return [3]uint32{c & 0xff, (c >> 8) & 0xff, (c >> 16) & 0xff} }

func twinToU8(v float32) uint32 {
	x := (v + 1) * 127.5
	if !(x >= 0) {
		return 0
	}
	return uint32(math.Floor(float64(float32(min(x, 255) + 0.5))))
}

func twinTokenRGB(id uint32) [3]uint32 {
	h := id * 0x9e3779b1
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return [3]uint32{48 + (h&0xff)*176/255, 48 + ((h>>8)&0xff)*176/255, 48 + ((h>>16)&0xff)*176/255}
}

func twinViridis(t float64) [3]float64 {
	c := [7][3]float64{
		{0.2777273272234177, 0.005407344544966578, 0.3340998053353061},
		{0.1050930431085774, 1.404613529898575, 1.384590162594685},
		{-0.3308618287255563, 0.214847559468213, 0.09509516302823659},
		{-4.634230498983486, -5.799100973351585, -19.33244095627987},
		{6.228269936347081, 14.17993336680509, 56.69055260068105},
		{4.776384997670288, -13.74514537774601, -65.35303263337234},
		{-5.435455855934631, 4.645852612178535, 26.3124352495832},
	}
	var out [3]float64
	for k := range 3 {
		v := c[6][k]
		for i := 5; i >= 0; i-- {
			v = c[i][k] + t*v
		}
		out[k] = v
	}
	return out
}

// twinStats is viewer_stats.comp.
func twinStats(words, arena []uint32, jobsAt uint32, njobs int) []float32 {
	out := make([]float32, 2*njobs)
	for j := range njobs {
		w := words[jobsAt+4*uint32(j):]
		off, n, flags := w[0], w[1], w[2]
		lo, hi := math.Inf(1), math.Inf(-1)
		for i := uint32(0); i < n; i++ {
			raw := arena[off+i]
			v := float64(math.Float32frombits(raw))
			if flags&2 != 0 {
				v = float64(int32(raw))
			}
			if flags&1 != 0 {
				v = math.Log(1 + math.Max(v, 0))
			}
			if !math.IsNaN(v) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
		if lo <= hi {
			out[2*j], out[2*j+1] = float32(lo), float32(hi)
		}
	}
	return out
}

// twinGrid is grid_panel; ok false paints the panel background.
func (f *twinFrame) grid(p []uint32, kind uint32, lx, ly int) (rgb [3]uint32, care int, ok bool) {
	off, ntiles, chans, rows, cols, tcols := p[6], p[7], p[8], p[9], p[10], p[11]
	gap, tw, th := int(p[12]), int(p[13]), int(p[14])
	cx, cy := lx-int(int32(p[15])), ly-int(int32(p[16]))
	if cx < 0 || cy < 0 || tw <= 0 || th <= 0 {
		return rgb, careExact, false
	}
	tx, ty := cx/(tw+gap), cy/(th+gap)
	px, py := cx-tx*(tw+gap), cy-ty*(th+gap)
	if px >= tw || py >= th || uint32(tx) >= tcols {
		return rgb, careExact, false
	}
	t := uint32(ty)*tcols + uint32(tx)
	if t >= ntiles {
		return rgb, careExact, false
	}
	sc := uint32(px) * cols / uint32(tw)
	sr := uint32(py) * rows / uint32(th)
	plane := rows * cols
	if kind == kindImages {
		at := off + t*chans*plane + sr*cols + sc
		r := twinToU8(math.Float32frombits(f.arena[at]))
		if chans >= 3 {
			return [3]uint32{r, twinToU8(math.Float32frombits(f.arena[at+plane])), twinToU8(math.Float32frombits(f.arena[at+2*plane]))}, careExact, true
		}
		return [3]uint32{r, r, r}, careExact, true
	}
	at := t*plane + sr*cols + sc
	if kind == kindTokens {
		id := int32(f.arena[off+at])
		known := id >= 0
		if known && p[17] != noMask {
			known = f.arena[p[17]+at]&0x7fffffff != 0
		}
		if !known {
			g := uint32(40)
			if ((px+py)/3)%2 == 0 {
				g = 56
			}
			return [3]uint32{g, g, g}, careExact, true
		}
		c := twinTokenRGB(uint32(id))
		if uint32(tw) >= 6*cols && uint32(th) >= 6*rows {
			edgeX := px > 0 && uint32(px-1)*cols/uint32(tw) != sc
			edgeY := py > 0 && uint32(py-1)*rows/uint32(th) != sr
			if edgeX || edgeY {
				for k := range c {
					c[k] = c[k] * 3 / 4
				}
			}
		}
		return c, careExact, true
	}
	if sr*cols+sc >= p[19] {
		return rgb, careExact, false
	}
	si, hf := p[17], p[18]
	raw := f.arena[off+at]
	v := float64(math.Float32frombits(raw))
	if hf&2 != 0 {
		v = float64(int32(raw))
	}
	if hf&1 != 0 {
		v = math.Log(1 + math.Max(v, 0))
	}
	lo, hi := float64(f.stats[2*si]), float64(f.stats[2*si+1])
	tv := 0.0
	if hi > lo {
		tv = (v - lo) / (hi - lo)
	}
	if math.IsNaN(tv) {
		return [3]uint32{255, 0, 255}, careExact, true
	}
	c := twinViridis(math.Max(0, math.Min(1, tv)))
	for k := range c {
		rgb[k] = uint32(math.Floor(math.Max(0, math.Min(1, c[k]))*255 + 0.5))
	}
	return rgb, careHeat, true
}

// curveHit is curve_hit with a margin: it reports a sure hit and whether
// the answer depends on rounding.
func (f *twinFrame) curveHit(p []uint32, s uint32, x, y, pw, ph int) (hit, unsure bool) {
	b := 16 + 5*s
	off, n := p[b], p[b+1]
	sx0, sdx := float64(math.Float32frombits(p[b+3])), float64(math.Float32frombits(p[b+4]))
	ymin, ymax := float64(math.Float32frombits(p[11])), float64(math.Float32frombits(p[12]))
	xmin, xmax := float64(math.Float32frombits(p[13])), float64(math.Float32frombits(p[14]))
	logy := p[15] != 0
	if n == 0 || !(sdx > 0) {
		return false, false
	}
	val := func(i float64) float64 {
		v := float64(math.Float32frombits(f.arena[off+uint32(i)]))
		if logy {
			return math.Log10(v)
		}
		return v
	}
	xs := (xmax - xmin) / float64(pw)
	ia := (xmin + float64(x)*xs - sx0) / sdx
	ib := (xmin + float64(x+1)*xs - sx0) / sdx
	last := float64(n - 1)
	const e = 1e-3
	if ib < -e || ia > last+e {
		return false, false
	}
	// A column at either end of the series may or may not draw it.
	edge := ib < e || ia > last-e
	ia = math.Max(0, math.Min(ia, last))
	ib = math.Max(0, math.Min(ib, last))
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, fi := range []float64{ia, ib} {
		f0 := math.Floor(fi)
		v := val(f0) + (val(math.Min(f0+1, last))-val(f0))*(fi-f0)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false, true
		}
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	for k, it := math.Ceil(ia), 0; it < 64 && k <= ib; k, it = k+1, it+1 {
		if v := val(k); !math.IsNaN(v) && !math.IsInf(v, 0) {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	span := ymax - ymin
	if !(span > 0) {
		span = 1
	}
	scale := float64(ph-1) / span
	ytop := float64(ph-1) - (hi-ymin)*scale
	ybot := float64(ph-1) - (lo-ymin)*scale
	fy := float64(y)
	hit = fy >= ytop-1 && fy <= ybot+1
	if math.Abs(fy-(ytop-1)) < twinCurveEps || math.Abs(fy-(ybot+1)) < twinCurveEps || (edge && hit) {
		unsure = true
	}
	return hit, unsure
}

// compose returns the frame's pixels (0x00BBGGRR before packing) and how
// closely each must match.
func (f *twinFrame) compose() (pix [][3]uint32, care []int) {
	width, height := int(f.push[0]), int(f.push[1])
	npanels, nruns := f.push[2], f.push[3]
	runsAt, charsAt := f.push[6], f.push[7]
	gw, gh, adv := f.push[8], f.push[9], f.push[10]
	pix = make([][3]uint32, width*height)
	care = make([]int, width*height)
	for y := range height {
		for x := range width {
			rgb := twinUnpack(f.push[5])
			cr := careExact
			for i := uint32(0); i < npanels; i++ {
				p := f.words[i*panelWords : (i+1)*panelWords]
				lx, ly := x-int(int32(p[1])), y-int(int32(p[2]))
				if lx < 0 || ly < 0 || lx >= int(p[3]) || ly >= int(p[4]) {
					continue
				}
				switch p[0] {
				case kindFill:
					rgb, cr = twinUnpack(p[5]), careExact
				case kindImages, kindTokens, kindHeat:
					if c, k, ok := f.grid(p, p[0], lx, ly); ok {
						rgb, cr = c, k
					} else if p[5] != bgNone {
						rgb, cr = twinUnpack(p[5]), careExact
					}
				case kindCurve:
					for s := uint32(0); s < p[6] && s < 4; s++ {
						hit, unsure := f.curveHit(p, s, lx, ly, int(p[3]), int(p[4]))
						if hit {
							rgb = twinUnpack(p[16+5*s+2])
						}
						if unsure {
							cr = careNone
						}
					}
				}
			}
			for i := uint32(0); i < nruns; i++ {
				r := f.words[runsAt+i*runWords:]
				rx, ry := int(int32(r[0])), int(int32(r[1]))
				scale := max(r[2], 1)
				n := r[5]
				lx, ly := x-rx, y-ry
				if lx < 0 || ly < 0 || uint32(ly) >= gh*scale || uint32(lx) >= n*adv*scale || uint32(x) >= r[6] {
					continue
				}
				ci := uint32(lx) / (adv * scale)
				gx := (uint32(lx) - ci*adv*scale) / scale
				if gx >= gw {
					continue
				}
				k := r[4] + ci
				glyph := (f.words[charsAt+k/4] >> (8 * (k % 4))) & 0xff
				if (f.font[glyph*gh+uint32(ly)/scale]>>gx)&1 != 0 {
					rgb, cr = twinUnpack(r[3]), careExact
				}
			}
			pix[y*width+x], care[y*width+x] = rgb, cr
		}
	}
	return pix, care
}
