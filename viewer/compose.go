package viewer

import (
	"errors"
	"fmt"
	"image"
	"math"
	"unsafe"

	"github.com/tessera-ml/tessera/tensor"
	"github.com/tessera-ml/tessera/vk"
)

// The compose pass (shaders/viewer_compose.comp) reads a descriptor buffer
// the host lays out per window size:
//
//	panels: panelWords words each, painted in order
//	  0 kind, 1 x, 2 y, 3 w, 4 h (rect in frame pixels), 5 background (0x00BBGGRR, transparent: bgNone)
//	  grids (images, tokens, heat maps):
//	    6 arena word offset, 7 tiles, 8 channels, 9 rows, 10 cols of a tile,
//	    11 tiles per row, 12 gap, 13 tile width, 14 tile height (pixels),
//	    15 x, 16 y of the first tile relative to the rect (signed),
//	    17 tokens: mask offset (noMask: none); heat: stats slot,
//	    18 heat flags (1 log, 2 int32 values), 19 heat: values per tile,
//	    20-23 ceil(2³²/d) for d = tile width + gap, height + gap, width, height
//	  curves: 6 series, 11 ymin, 12 ymax, 13 xmin, 14 xmax (float bits),
//	    15 log10 flag, 16+5s: series s offset, count, colour, x0, dx,
//	    36+s: where series s's rows per column are in scratch
//	runs: runWords words each: x, y, scale, colour, first glyph, glyphs, clip x, 0
//	glyphs: one byte each, four per word
//	stats jobs (viewer_stats.comp): arena offset, count, flags, 0
//	curve jobs (viewer_curve.comp): panel word offset, series, scratch offset, columns
//	glyphs (viewer_text.comp): the runs' glyphs, 4 words each: x, y, glyph<<24 | colour, clip x
//
// scratch[] (floats) holds each heat map's min and max (2 per stats job),
// then each curve series' top and bottom row per plot column.
const (
	panelWords = 40
	runWords   = 8
	kindFill   = 1
	kindImages = 2
	kindTokens = 3
	kindHeat   = 4
	kindCurve  = 5
	noMask     = 0xffffffff
	bgNone     = 0xffffffff
	heatLog    = 1
	heatInt    = 2
)

var (
	composeSpec = vk.KernelSpec{Name: "viewer_compose", Buffers: 4, PushWords: 7}
	textSpec    = vk.KernelSpec{Name: "viewer_text", Buffers: 3, PushWords: 7}
	statsSpec   = vk.KernelSpec{Name: "viewer_stats", Buffers: 3, PushWords: 2}
	curveSpec   = vk.KernelSpec{Name: "viewer_curve", Buffers: 3, PushWords: 2}
)

// rgb packs a colour as the shaders read it.
func rgb(r, g, b uint8) uint32 { return uint32(r) | uint32(g)<<8 | uint32(b)<<16 }

// The viewer's colours.
var (
	colBackground = rgb(24, 24, 24)
	colCaptionBg  = rgb(48, 48, 48)
	colCaption    = rgb(224, 224, 224)
	colContent    = rgb(32, 32, 32)
	colPlot       = rgb(20, 20, 20)
	colGridLine   = rgb(52, 52, 52)
	colAxis       = rgb(160, 160, 160)
	colStatusBg   = rgb(12, 12, 12)
	colStatus     = rgb(200, 200, 200)
	colError      = rgb(255, 110, 110)
	seriesColours = []uint32{rgb(79, 195, 247), rgb(255, 183, 77), rgb(129, 199, 132), rgb(229, 115, 115)}
)

// Layout metrics, in pixels.
const (
	margin     = 6
	captionH   = glyphH + 4
	statusH    = glyphH + 6
	tileGap    = 2
	curveLeft  = 9*glyphAdv + 6
	curveBelow = glyphH + 4
)

// gridSnap is one block of tiles of a panel: an Images panel has one per
// tensor, so that each tensor starts a row.
type gridSnap struct {
	off    uint32 // arena word offset
	ntiles int
}

type seriesSnap struct {
	name   string
	off    uint32
	n      int
	x0, dx float32
}

// panelSnap is a posted panel: where its data sits in the arena and what
// the layout needs to know about it.
type panelSnap struct {
	kind    uint32
	caption string
	err     string // shown instead of the panel

	grids             []gridSnap
	chans, rows, cols int // of one tile
	count             int // heat: values per tile
	tileCols          int // tiles per row asked for (0: automatic)
	mask              uint32
	heatFlags         uint32

	series                 []seriesSnap
	logY                   bool
	xmin, xmax, ymin, ymax float32
}

func (p *panelSnap) tiles() int {
	n := 0
	for _, g := range p.grids {
		n += g.ntiles
	}
	return n
}

// snapshot is a posted frame: its panels' data copied (on the device) into
// one arena range the viewer owns.
type snapshot struct {
	seq     uint64
	arena   vk.Range
	panels  []panelSnap
	columns int
	status  string
}

// copyJob is one piece of a snapshot's arena: a device copy or an upload.
type copyJob struct {
	off  uint32
	src  vk.Range
	host []float32
}

// tensorRange checks t is usable and returns its storage.
func tensorRange(t *tensor.Tensor, dt tensor.DType, what string) (vk.Range, error) {
	if t == nil {
		return vk.Range{}, fmt.Errorf("%s is nil", what)
	}
	if err := t.Err(); err != nil {
		return vk.Range{}, fmt.Errorf("%s failed: %v", what, err)
	}
	if t.DType() != dt {
		return vk.Range{}, fmt.Errorf("%s is %s, not %s", what, t.DType(), dt)
	}
	r := t.Range()
	if !r.Valid() || r.Size < uint64(t.Numel())*4 {
		return vk.Range{}, fmt.Errorf("%s %v has no storage (released?)", what, t.Shape())
	}
	return r, nil
}

// snapshotFrame validates f's panels and records the copies of their data
// into a new arena. Panels that cannot be shown carry an error message.
func snapshotFrame(dev *vk.Device, f *Frame, seq uint64) (*snapshot, error) {
	s := &snapshot{seq: seq, columns: max(f.Columns, 0), status: f.Status}
	var jobs []copyJob
	var words uint32
	add := func(src vk.Range, n int) uint32 {
		off := words
		jobs = append(jobs, copyJob{off: off, src: src})
		words += uint32(n)
		return off
	}
	upload := func(v []float32) uint32 {
		off := words
		jobs = append(jobs, copyJob{off: off, host: v})
		words += uint32(len(v))
		return off
	}
	for _, p := range f.Panels {
		if p == nil {
			continue
		}
		ps := panelSnap{caption: p.caption(), mask: noMask}
		var err error
		switch p := p.(type) {
		case *Images:
			err = snapImages(&ps, p, add)
		case *Tokens:
			err = snapTokens(&ps, p, add)
		case *HeatMap:
			err = snapHeat(&ps, p, add)
		case *Curve:
			snapCurve(&ps, p, upload)
		default:
			err = fmt.Errorf("unknown panel type %T", p)
		}
		if err != nil {
			ps = panelSnap{caption: ps.caption, err: err.Error()}
		}
		s.panels = append(s.panels, ps)
	}
	if words == 0 {
		return s, nil
	}
	arena, err := dev.Alloc(uint64(words) * 4)
	if err != nil {
		return nil, err
	}
	s.arena = arena
	for _, j := range jobs {
		if j.host != nil {
			if len(j.host) == 0 {
				continue
			}
			b := unsafe.Slice((*byte)(unsafe.Pointer(&j.host[0])), 4*len(j.host))
			if err := dev.Write(arena.Sub(uint64(j.off)*4, uint64(len(b))), b); err != nil {
				dev.Free(arena)
				return nil, err
			}
			continue
		}
		dev.Copy(arena.Sub(uint64(j.off)*4, j.src.Size), j.src)
	}
	return s, nil
}

func snapImages(ps *panelSnap, p *Images, add func(vk.Range, int) uint32) error {
	ps.kind, ps.tileCols = kindImages, max(p.Cols, 0)
	if len(p.Tensors) == 0 {
		return errors.New("no images")
	}
	maxB := 0
	for i, t := range p.Tensors {
		r, err := tensorRange(t, tensor.Float32, fmt.Sprintf("image tensor %d", i))
		if err != nil {
			return err
		}
		sh := t.Shape()
		if len(sh) != 4 || (sh[1] != 1 && sh[1] != 3) {
			return fmt.Errorf("image tensor %d is %v, not [B, 1 or 3, H, W]", i, sh)
		}
		if i == 0 {
			ps.chans, ps.rows, ps.cols = sh[1], sh[2], sh[3]
		} else if sh[1] != ps.chans || sh[2] != ps.rows || sh[3] != ps.cols {
			return fmt.Errorf("image tensor %d is %v; tensor 0 has images %d×%d×%d", i, sh, ps.chans, ps.rows, ps.cols)
		}
		maxB = max(maxB, sh[0])
		ps.grids = append(ps.grids, gridSnap{off: add(r, t.Numel()), ntiles: sh[0]})
	}
	if len(p.Tensors) > 1 && ps.tileCols == 0 {
		ps.tileCols = max(maxB, 1)
	}
	return nil
}

func snapTokens(ps *panelSnap, p *Tokens, add func(vk.Range, int) uint32) error {
	ps.kind, ps.tileCols = kindTokens, max(p.Cols, 0)
	r, err := tensorRange(p.IDs, tensor.Int32, "token ids")
	if err != nil {
		return err
	}
	sh := p.IDs.Shape()
	switch len(sh) {
	case 2:
		ps.rows, ps.cols = sh[0], sh[1]
		ps.grids = []gridSnap{{ntiles: 1}}
	case 3:
		ps.rows, ps.cols = sh[1], sh[2]
		ps.grids = []gridSnap{{ntiles: sh[0]}}
	default:
		return fmt.Errorf("token ids are %v, not [H, W] or [B, H, W]", sh)
	}
	var mr vk.Range
	if p.Known != nil {
		dt := p.Known.DType()
		if mr, err = tensorRange(p.Known, dt, "token mask"); err != nil {
			return err
		}
		ms := p.Known.Shape()
		if p.Known.Numel() != p.IDs.Numel() || len(ms) < 2 || ms[len(ms)-1] != ps.cols || ms[len(ms)-2] != ps.rows {
			return fmt.Errorf("token mask is %v for ids %v", ms, sh)
		}
	}
	if p.IDs.Numel() == 0 {
		ps.grids = nil
		return nil
	}
	ps.grids[0].off = add(r, p.IDs.Numel())
	if mr.Valid() {
		ps.mask = add(mr, p.Known.Numel())
	}
	return nil
}

func snapHeat(ps *panelSnap, p *HeatMap, add func(vk.Range, int) uint32) error {
	ps.kind = kindHeat
	if p.Values == nil {
		return errors.New("heat map values are nil")
	}
	dt := p.Values.DType()
	r, err := tensorRange(p.Values, dt, "heat map values")
	if err != nil {
		return err
	}
	if dt == tensor.Int32 {
		ps.heatFlags |= heatInt
	}
	if p.Log {
		ps.heatFlags |= heatLog
	}
	sh := p.Values.Shape()
	n := p.Values.Numel()
	switch {
	case len(sh) == 0 || n == 0:
		return nil
	case len(sh) == 1:
		cols := p.Cols
		if cols <= 0 {
			cols = int(math.Ceil(math.Sqrt(float64(n))))
		}
		ps.rows, ps.cols, ps.count = (n+cols-1)/cols, cols, n
		ps.grids = []gridSnap{{ntiles: 1}}
	default:
		ps.rows, ps.cols = sh[len(sh)-2], sh[len(sh)-1]
		ps.count = ps.rows * ps.cols
		ps.grids = []gridSnap{{ntiles: n / ps.count}}
		ps.tileCols = max(p.Cols, 0)
	}
	ps.grids[0].off = add(r, n)
	return nil
}

// decimate averages v into at most n buckets, returning the new x0 and dx.
func decimate(v []float32, x0, dx float32, n int) ([]float32, float32, float32) {
	if len(v) <= n {
		return append([]float32(nil), v...), x0, dx
	}
	k := (len(v) + n - 1) / n
	out := make([]float32, 0, n)
	for i := 0; i < len(v); i += k {
		var sum float64
		c := 0
		for _, x := range v[i:min(i+k, len(v))] {
			if !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) {
				sum += float64(x)
				c++
			}
		}
		if c == 0 {
			out = append(out, float32(math.NaN()))
		} else {
			out = append(out, float32(sum/float64(c)))
		}
	}
	return out, x0 + dx*float32(k-1)/2, dx * float32(k)
}

func snapCurve(ps *panelSnap, p *Curve, upload func([]float32) uint32) {
	ps.kind, ps.logY = kindCurve, p.LogY
	xmin, xmax := math.Inf(1), math.Inf(-1)
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for i, s := range p.Series {
		if i == maxCurveSeries {
			break
		}
		dx := s.DX
		if dx <= 0 {
			dx = 1
		}
		v, x0, dx := decimate(s.Values, s.X0, dx, MaxCurvePoints)
		ss := seriesSnap{name: s.Name, n: len(v), x0: x0, dx: dx}
		if len(v) > 0 {
			ss.off = upload(v)
			xmin = min(xmin, float64(x0))
			xmax = max(xmax, float64(x0)+float64(dx)*float64(len(v)-1))
		}
		for _, y := range v {
			f := float64(y)
			if p.LogY {
				f = math.Log10(f)
			}
			if !math.IsNaN(f) && !math.IsInf(f, 0) {
				ymin, ymax = min(ymin, f), max(ymax, f)
			}
		}
		ps.series = append(ps.series, ss)
	}
	if math.IsInf(xmin, 0) {
		xmin, xmax = 0, 1
	}
	if xmax <= xmin {
		xmax = xmin + 1
	}
	if math.IsInf(ymin, 0) {
		ymin, ymax = 0, 1
	}
	if ymax <= ymin {
		pad := math.Max(math.Abs(ymin)*0.05, 1e-6)
		ymin, ymax = ymin-pad, ymax+pad
	}
	ps.xmin, ps.xmax, ps.ymin, ps.ymax = float32(xmin), float32(xmax), float32(ymin), float32(ymax)
}

// frameDesc is a laid-out frame: the descriptor words and what the
// passes composing it need.
type frameDesc struct {
	words []uint32
	// hdr describes the frame as a whole (the tests' twin reads it):
	// width, height, panels, text runs, flags (1: BGRA), background,
	// runs' and glyph indices' word offsets, glyph width, height, advance.
	hdr      []uint32
	draws    []panelDraw
	nglyphs  int
	glyphsAt uint32
	// textBatches are ranges [first, end) of glyphs whose runs do not overlap.
	textBatches [][2]int
	njobs       int // heat-map stats jobs
	jobsAt      uint32
	ncurves     int // curve series jobs
	curvesAt    uint32
	maxCols     int // the widest curve plot
	scratch     int // floats of scratch
}

// panelDraw is one panel's dispatch: its kind and its rect clipped to the
// frame.
type panelDraw struct {
	at         uint32 // word offset of the descriptor
	kind       uint32
	x, y, w, h int
}

// builder accumulates a frame's panels, text runs, glyphs and jobs.
type builder struct {
	panels []uint32
	runs   []uint32
	glyphs []byte   // glyph indices of the runs
	placed []uint32 // the glyphs as viewer_text.comp draws them
	jobs   []uint32
	curves []uint32 // panel word offset, series, (scratch offset), columns
}

func (b *builder) panel(kind uint32, x, y, w, h int, bg uint32) []uint32 {
	p := make([]uint32, panelWords)
	p[0], p[1], p[2], p[3], p[4], p[5] = kind, uint32(int32(x)), uint32(int32(y)), uint32(max(w, 0)), uint32(max(h, 0)), bg
	return p
}

func (b *builder) add(p []uint32) { b.panels = append(b.panels, p...) }

func (b *builder) fill(x, y, w, h int, col uint32) {
	if w > 0 && h > 0 {
		b.add(b.panel(kindFill, x, y, w, h, col))
	}
}

// text draws s with its top-left corner at (x, y), cut at clipX.
func (b *builder) text(x, y int, s string, col uint32, clipX int) {
	if s == "" || clipX <= x {
		return
	}
	rs := []rune(s)
	if max := (clipX - x + glyphAdv - 1) / glyphAdv; len(rs) > max {
		rs = rs[:max]
	}
	first := len(b.glyphs)
	for i, r := range rs {
		g := glyphIndex(r)
		b.glyphs = append(b.glyphs, g)
		b.placed = append(b.placed, uint32(int32(x+i*glyphAdv)), uint32(int32(y)), uint32(g)<<24|col, uint32(max(clipX, 0)))
	}
	b.runs = append(b.runs, uint32(int32(x)), uint32(int32(y)), 1, col, uint32(first), uint32(len(rs)), uint32(max(clipX, 0)), 0)
}

// fitTiles sizes ntiles tiles of w×h samples in cols columns into an
// aw×ah area: a whole-number scale where one fits (crisp pixels), else a
// fraction; zoom scales the result.
func fitTiles(aw, ah, cols, rows, w, h int, zoom float64) (tw, th int, s float64) {
	sx := float64(aw-tileGap*(cols-1)) / float64(cols*w)
	sy := float64(ah-tileGap*(rows-1)) / float64(rows*h)
	s = math.Min(sx, sy)
	if s >= 1 {
		s = math.Floor(s)
	}
	tw = max(int(float64(w)*s*zoom), 1)
	th = max(int(float64(h)*s*zoom), 1)
	return tw, th, s
}

// autoCols picks the tiles per row that lets the tiles be largest.
func autoCols(aw, ah, ntiles, w, h int) int {
	best, bestS := 1, -1.0
	for c := 1; c <= ntiles; c++ {
		r := (ntiles + c - 1) / c
		if _, _, s := fitTiles(aw, ah, c, r, w, h, 1); s > bestS {
			best, bestS = c, s
		}
	}
	return best
}

// reciprocal is ceil(2³²/d) (0 for d = 1), the shader's fastdiv multiplier.
func reciprocal(d int) uint32 {
	if d <= 1 {
		return 0
	}
	return uint32((1<<32 + uint64(d) - 1) / uint64(d))
}

// gridLayout adds the descriptors of a grid panel's tiles in the content
// rect (x, y, w, h).
func (b *builder) gridLayout(p *panelSnap, x, y, w, h int, zoom float64) {
	ntiles := p.tiles()
	if w <= 0 || h <= 0 {
		return
	}
	if ntiles == 0 || p.rows == 0 || p.cols == 0 {
		b.text(x+4, y+4, "(empty)", colCaption, x+w)
		return
	}
	// Token maps and heat maps start at one pixel per cell; images at one
	// pixel per pixel.
	cols := p.tileCols
	if cols <= 0 {
		cols = autoCols(w, h, ntiles, p.cols, p.rows)
	}
	cols = min(cols, ntiles)
	rows := 0
	for _, g := range p.grids {
		rows += (g.ntiles + cols - 1) / cols
	}
	tw, th, _ := fitTiles(w, h, cols, rows, p.cols, p.rows, zoom)
	cw := cols*tw + tileGap*(cols-1)
	ch := rows*th + tileGap*(rows-1)
	ox, oy := (w-cw)/2, (h-ch)/2
	stat := uint32(0)
	if p.kind == kindHeat {
		stat = uint32(len(b.jobs) / 4)
		b.jobs = append(b.jobs, p.grids[0].off, uint32(ntiles*p.count), p.heatFlags, 0)
	}
	row := 0
	for _, g := range p.grids {
		if g.ntiles == 0 {
			continue
		}
		// The rect is the block's tiles, clipped to the content: outside
		// them the panel is transparent, and pixels there cost nothing.
		grows := (g.ntiles + cols - 1) / cols
		by := oy + row*(th+tileGap)
		bw := min(g.ntiles, cols)*tw + tileGap*(min(g.ntiles, cols)-1)
		bh := grows*th + tileGap*(grows-1)
		rx0, ry0 := max(ox, 0), max(by, 0)
		rx1, ry1 := min(ox+bw, w), min(by+bh, h)
		row += grows
		if rx0 >= rx1 || ry0 >= ry1 {
			continue
		}
		d := b.panel(p.kind, x+rx0, y+ry0, rx1-rx0, ry1-ry0, bgNone)
		d[6], d[7], d[8], d[9], d[10] = g.off, uint32(g.ntiles), uint32(p.chans), uint32(p.rows), uint32(p.cols)
		d[11], d[12], d[13], d[14] = uint32(cols), tileGap, uint32(tw), uint32(th)
		d[15], d[16] = uint32(int32(ox-rx0)), uint32(int32(by-ry0))
		d[20], d[21], d[22], d[23] = reciprocal(tw+tileGap), reciprocal(th+tileGap), reciprocal(tw), reciprocal(th)
		switch p.kind {
		case kindTokens:
			d[17] = p.mask
		case kindHeat:
			d[17], d[18], d[19] = stat, p.heatFlags, uint32(p.count)
		}
		b.add(d)
	}
}

// formatTick renders an axis value compactly.
func formatTick(v float64) string {
	s := fmt.Sprintf("%.3g", v)
	if len(s) > 9 {
		s = fmt.Sprintf("%.2e", v)
	}
	return s
}

// curveLayout lays a curve panel out in the content rect (x, y, w, h); its
// legend goes right-aligned into the caption bar (text at capY, between
// capLeft and capRight). It returns where the legend starts.
func (b *builder) curveLayout(p *panelSnap, x, y, w, h int, capY, capLeft, capRight int) int {
	// Axis labels only where they leave the plot room.
	left, below := curveLeft, curveBelow
	if w < 2*curveLeft+40 {
		left = 4
	}
	if h < 3*curveBelow+16 {
		below = 4
	}
	px, py := x+left, y+4
	pw, ph := w-left-8, h-4-below
	// Legend: series names in their colours, as many as fit.
	right := capRight
	for i := len(p.series) - 1; i >= 0; i-- {
		name := p.series[i].name
		if name == "" {
			continue
		}
		if right-textWidth(name) < capLeft {
			break
		}
		right -= textWidth(name)
		b.text(right, capY, name, seriesColours[i], right+textWidth(name))
		right -= glyphAdv
	}
	if pw < 8 || ph < 8 {
		return right
	}
	b.fill(px, py, pw, ph, colPlot)
	for k := 0; k <= 4; k++ {
		ly := py + k*(ph-1)/4
		b.fill(px, ly, pw, 1, colGridLine)
		v := float64(p.ymax) - float64(k)*(float64(p.ymax)-float64(p.ymin))/4
		if p.logY {
			v = math.Pow(10, v)
		}
		if left == curveLeft {
			label := formatTick(v)
			b.text(px-4-textWidth(label), ly-glyphH/2, label, colAxis, px-2)
		}
	}
	if below == curveBelow {
		lo, hi := formatTick(float64(p.xmin)), formatTick(float64(p.xmax))
		b.text(px, py+ph+2, lo, colAxis, px+pw)
		b.text(px+pw-textWidth(hi), py+ph+2, hi, colAxis, px+pw)
	}
	d := b.panel(kindCurve, px, py, pw, ph, bgNone)
	d[6] = uint32(len(p.series))
	d[11], d[12] = math.Float32bits(p.ymin), math.Float32bits(p.ymax)
	d[13], d[14] = math.Float32bits(p.xmin), math.Float32bits(p.xmax)
	if p.logY {
		d[15] = 1
	}
	at := uint32(len(b.panels))
	for i, s := range p.series {
		o := 16 + 5*i
		d[o], d[o+1], d[o+2] = s.off, uint32(s.n), seriesColours[i]
		d[o+3], d[o+4] = math.Float32bits(s.x0), math.Float32bits(s.dx)
		b.curves = append(b.curves, at, uint32(i), 0, uint32(pw))
	}
	b.add(d)
	return right
}

// bestColumns picks the panel columns that give the panels the most room.
func bestColumns(n, w, h int) int {
	best, bestS := 1, -1
	for c := 1; c <= n; c++ {
		r := (n + c - 1) / c
		if s := min(w/c, h/r); s > bestS {
			best, bestS = c, s
		}
	}
	return best
}

// layout lays s out in a w×h frame. A nil s is the frame before the
// first Post.
func layout(s *snapshot, w, h int, bgra bool, zoom float64) frameDesc {
	var b builder
	status := "waiting for the first frame"
	var panels []panelSnap
	columns := 0
	if s != nil {
		status, panels, columns = s.status, s.panels, s.columns
	}
	areaH := h - statusH
	if n := len(panels); n > 0 && areaH > captionH+2*margin {
		cols := columns
		if cols <= 0 {
			cols = bestColumns(n, w-margin, areaH-margin)
		}
		cols = min(cols, n)
		rows := (n + cols - 1) / cols
		cellW := (w-margin)/cols - margin
		cellH := (areaH-margin)/rows - margin
		for i := range panels {
			p := &panels[i]
			x := margin + (i%cols)*(cellW+margin)
			y := margin + (i/cols)*(cellH+margin)
			b.fill(x, y, cellW, captionH, colCaptionBg)
			cx, cy, cw, ch := x, y+captionH, cellW, cellH-captionH
			b.fill(cx, cy, cw, ch, colContent)
			captionEnd := x + cellW - 4
			switch {
			case p.err != "":
				b.text(cx+4, cy+4, "error: "+p.err, colError, cx+cw-4)
			case p.kind == kindCurve:
				// The caption stops where the legend starts.
				legend := b.curveLayout(p, cx, cy, cw, ch, y+2, x+4+textWidth(p.caption)+glyphAdv, captionEnd)
				captionEnd = min(captionEnd, legend)
			default:
				b.gridLayout(p, cx+2, cy+2, cw-4, ch-4, zoom)
			}
			b.text(x+4, y+2, p.caption, colCaption, captionEnd)
		}
	}
	b.fill(0, h-statusH, w, statusH, colStatusBg)
	b.text(6, h-statusH+3, status, colStatus, w-6)
	return b.finish(w, h, bgra)
}

// finish lays the descriptor words out and lists the passes.
func (b *builder) finish(w, h int, bgra bool) frameDesc {
	npanels := len(b.panels) / panelWords
	nruns := len(b.runs) / runWords
	// Scratch: heat-map ranges first, then the curves' rows per column.
	scratch := len(b.jobs) / 4 * 2
	maxCols := 0
	for j := 0; j < len(b.curves); j += 4 {
		p, s, cols := b.curves[j], b.curves[j+1], int(b.curves[j+3])
		b.curves[j+2] = uint32(scratch)
		b.panels[p+36+s] = uint32(scratch)
		scratch += 2 * cols
		maxCols = max(maxCols, cols)
	}
	words := append([]uint32(nil), b.panels...)
	runsAt := uint32(len(words))
	words = append(words, b.runs...)
	charsAt := uint32(len(words))
	for i := 0; i < len(b.glyphs); i += 4 {
		var wd uint32
		for k := 0; k < 4 && i+k < len(b.glyphs); k++ {
			wd |= uint32(b.glyphs[i+k]) << (8 * k)
		}
		words = append(words, wd)
	}
	jobsAt := uint32(len(words))
	words = append(words, b.jobs...)
	curvesAt := uint32(len(words))
	words = append(words, b.curves...)
	glyphsAt := uint32(len(words))
	words = append(words, b.placed...)
	flags := uint32(0)
	if bgra {
		flags = 1
	}
	var draws []panelDraw
	for i := 0; i < len(b.panels); i += panelWords {
		p := b.panels[i:]
		x, y := int(int32(p[1])), int(int32(p[2]))
		x0, y0 := max(x, 0), max(y, 0)
		x1, y1 := min(x+int(p[3]), w), min(y+int(p[4]), h)
		if x0 < x1 && y0 < y1 {
			draws = append(draws, panelDraw{at: uint32(i), kind: p[0], x: x0, y: y0, w: x1 - x0, h: y1 - y0})
		}
	}
	hdr := []uint32{uint32(w), uint32(h), uint32(npanels), uint32(nruns), flags, colBackground,
		runsAt, charsAt, glyphW, glyphH, glyphAdv}
	return frameDesc{words: words, hdr: hdr, draws: draws, nglyphs: len(b.placed) / 4, glyphsAt: glyphsAt, textBatches: b.textBatches(),
		njobs: len(b.jobs) / 4, jobsAt: jobsAt, ncurves: len(b.curves) / 4, curvesAt: curvesAt, maxCols: maxCols, scratch: scratch}
}

// textBatches splits the runs, in order, into batches of runs whose boxes
// do not overlap, as ranges of glyphs.
func (b *builder) textBatches() [][2]int {
	var batches [][2]int
	var boxes []image.Rectangle
	for i := 0; i < len(b.runs); i += runWords {
		r := b.runs[i:]
		x, y := int(int32(r[0])), int(int32(r[1]))
		box := image.Rect(x, y, min(x+int(r[5])*glyphAdv, int(r[6])), y+glyphH)
		first, n := int(r[4]), int(r[5])
		if n == 0 {
			continue
		}
		overlaps := len(batches) == 0
		for _, o := range boxes {
			overlaps = overlaps || o.Overlaps(box)
		}
		if overlaps {
			batches = append(batches, [2]int{first, first})
			boxes = boxes[:0]
		}
		boxes = append(boxes, box)
		batches[len(batches)-1][1] = first + n
	}
	return batches
}

// compositor owns the device side of composing: the kernels, the font,
// and the buffers a frame is laid out and composed into.
type compositor struct {
	dev           *vk.Device
	kinds         map[uint32]*vk.Kernel // viewer_compose per panel kind
	text          *vk.Kernel
	stats, curve  *vk.Kernel
	font          vk.Range
	dummy         vk.Range // bound where a frame has no arena or no scratch
	desc, scratch vk.Range
	out           vk.Range
	last          frameDesc // for tests: the last frame laid out
}

func newCompositor(dev *vk.Device) (*compositor, error) {
	c := &compositor{dev: dev, kinds: map[uint32]*vk.Kernel{}}
	var err error
	// Build every pipeline now: a failure here is an error of New, not a
	// sticky device error that training would trip over later.
	for _, kind := range []uint32{kindFill, kindImages, kindTokens, kindHeat, kindCurve} {
		if c.kinds[kind], err = dev.Kernel(composeSpec, kind); err != nil {
			return nil, err
		}
	}
	if c.text, err = dev.Kernel(textSpec); err != nil {
		return nil, err
	}
	if c.stats, err = dev.Kernel(statsSpec); err != nil {
		return nil, err
	}
	if c.curve, err = dev.Kernel(curveSpec); err != nil {
		return nil, err
	}
	rows := fontRows()
	if c.font, err = dev.Alloc(uint64(len(rows)) * 4); err != nil {
		return nil, err
	}
	if err := dev.Write(c.font, u32bytes(rows)); err != nil {
		c.release()
		return nil, err
	}
	if c.dummy, err = dev.Alloc(256); err != nil {
		c.release()
		return nil, err
	}
	dev.Fill(c.dummy, 0)
	return c, nil
}

// pack is a colour as a packed pixel.
func pack(col uint32, bgra bool) uint32 {
	r, g, b := col&0xff, (col>>8)&0xff, (col>>16)&0xff
	if bgra {
		return b | g<<8 | r<<16 | 0xff000000
	}
	return r | g<<8 | b<<16 | 0xff000000
}

func u32bytes(v []uint32) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v))
}

// ensure returns r if it holds n bytes, else a new range (freeing r).
func (c *compositor) ensure(r vk.Range, n uint64) (vk.Range, error) {
	if r.Valid() && r.Size >= n && r.Size <= 4*n+4096 {
		return r, nil
	}
	c.dev.Free(r)
	return c.dev.Alloc(n)
}

// composeFrame records the passes that compose s into a w×h buffer of
// packed pixels and returns the buffer (owned by the compositor, valid
// until the next compose).
func (c *compositor) composeFrame(s *snapshot, w, h int, bgra bool, zoom float64) (vk.Range, error) {
	if w <= 0 || h <= 0 {
		return vk.Range{}, fmt.Errorf("viewer: composing a %d×%d frame", w, h)
	}
	return c.draw(layout(s, w, h, bgra, zoom), s)
}

// draw records the passes of a laid-out frame reading s's arena.
func (c *compositor) draw(fd frameDesc, s *snapshot) (vk.Range, error) {
	w, h := int(fd.hdr[0]), int(fd.hdr[1])
	c.last = fd
	var err error
	if c.desc, err = c.ensure(c.desc, uint64(len(fd.words))*4); err != nil {
		return vk.Range{}, err
	}
	if err := c.dev.Write(c.desc, u32bytes(fd.words)); err != nil {
		return vk.Range{}, err
	}
	if c.out, err = c.ensure(c.out, uint64(w)*uint64(h)*4); err != nil {
		return vk.Range{}, err
	}
	out := c.out.Sub(0, uint64(w)*uint64(h)*4)
	arena := c.dummy
	if s != nil && s.arena.Valid() {
		arena = s.arena
	}
	scratch := c.dummy
	if fd.scratch > 0 {
		if c.scratch, err = c.ensure(c.scratch, uint64(fd.scratch)*4); err != nil {
			return vk.Range{}, err
		}
		scratch = c.scratch
	}
	if fd.njobs > 0 {
		c.dev.Dispatch(c.stats, [3]uint32{uint32(fd.njobs), 1, 1}, []uint32{fd.jobsAt, uint32(fd.njobs)},
			vk.Work{Bytes: 4 * float64(len(fd.words))}, vk.In(c.desc), vk.In(arena), vk.Out(scratch))
	}
	if fd.ncurves > 0 {
		c.dev.Dispatch(c.curve, [3]uint32{uint32((fd.maxCols + 63) / 64), uint32(fd.ncurves), 1}, []uint32{fd.curvesAt, uint32(fd.ncurves)},
			vk.Work{Bytes: 8 * float64(fd.ncurves*fd.maxCols)}, vk.In(c.desc), vk.In(arena), vk.Out(scratch))
	}
	// Background, then each panel in order over its own rect, then text.
	flags := fd.hdr[4]
	c.dev.Fill(out, pack(fd.hdr[5], flags&1 != 0))
	for _, d := range fd.draws {
		groups := [3]uint32{uint32((d.w + 7) / 8), uint32((d.h + 7) / 8), 1}
		push := []uint32{d.at, uint32(w), flags, uint32(int32(d.x)), uint32(int32(d.y)), uint32(d.w), uint32(d.h)}
		c.dev.Dispatch(c.kinds[d.kind], groups, push, vk.Work{Bytes: 4 * float64(d.w*d.h)},
			vk.InOut(out), vk.In(c.desc), vk.In(arena), vk.In(scratch))
	}
	// Glyphs of one batch are drawn in parallel: batches hold runs that do
	// not overlap, so where runs do the later one still wins.
	for _, bt := range fd.textBatches {
		n := bt[1] - bt[0]
		push := []uint32{fd.glyphsAt + 4*uint32(bt[0]), uint32(n), uint32(w), uint32(h), flags, glyphW, glyphH}
		c.dev.Dispatch(c.text, c.dev.Groups1D(n, 1), push, vk.Work{Bytes: 4 * glyphW * glyphH * float64(n)},
			vk.InOut(out), vk.In(c.desc), vk.In(c.font))
	}
	return out, nil
}

func (c *compositor) release() {
	for _, r := range []*vk.Range{&c.font, &c.dummy, &c.desc, &c.scratch, &c.out} {
		c.dev.Free(*r)
		*r = vk.Range{}
	}
}
