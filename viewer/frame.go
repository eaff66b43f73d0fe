package viewer

import "github.com/tessera-ml/tessera/tensor"

// Frame is what the viewer shows: panels in a grid (each with a caption)
// above a status line. Panels read device tensors; Post snapshots them on
// the device, so the caller may release or overwrite them right after.
type Frame struct {
	// Panels are laid out row by row, Columns per row (0: the column count
	// that gives the panels the most room).
	Panels  []Panel
	Columns int
	// Status is the line along the bottom edge (step, loss, speed ...).
	Status string
}

// Panel is one cell of a Frame: *Images, *Tokens, *HeatMap or *Curve.
type Panel interface {
	caption() string
}

// Images shows float tensors [B, C, H, W] (C 1 or 3) with values in
// [-1, 1] as a grid of B images, like vae.Grid but composed on the device.
// Several tensors (originals, reconstructions ...) must share C, H and W;
// their images follow one another, and each tensor starts a new row when
// Cols is 0 and there are several of them.
type Images struct {
	Caption string
	Tensors []*tensor.Tensor
	// Cols is the number of images per row (0: automatic).
	Cols int
}

func (p *Images) caption() string { return p.Caption }

// Tokens shows int32 token ids [H, W] or [B, H, W] as coloured cells, one
// colour per id. Known, when set, is an int32 or float32 tensor of the same
// shape: cells where it is 0 are drawn as unknown (hatched grey), as are
// negative ids — MaskGIT's unmasking fills a map in cell by cell by posting
// frames with a growing mask.
type Tokens struct {
	Caption string
	IDs     *tensor.Tensor
	Known   *tensor.Tensor
	// Cols is the number of token maps per row when B > 1 (0: automatic).
	Cols int
}

func (p *Tokens) caption() string { return p.Caption }

// HeatMap shows a float32 tensor (code usage counts, per-position losses)
// as cells coloured from dark blue (its minimum) to yellow (its maximum),
// scaled on the device. A tensor [N] is wrapped into rows of Cols cells
// (0: about square); [H, W] is shown as is and [..., H, W] as several maps.
type HeatMap struct {
	Caption string
	Values  *tensor.Tensor
	Cols    int
	// Log colours by log(1 + v), for counts spanning orders of magnitude.
	Log bool
}

func (p *HeatMap) caption() string { return p.Caption }

// Curve plots series of host values (losses, PSNR): their min and max
// label the y axis. Series longer than MaxCurvePoints are averaged down.
type Curve struct {
	Caption string
	Series  []Series
	// LogY plots log10 of the values (non-positive values are skipped).
	LogY bool
}

func (p *Curve) caption() string { return p.Caption }

// Series is one line of a Curve: Values[i] is at x = X0 + i·DX (DX 0
// means 1), so series logged at different intervals share the x axis.
type Series struct {
	Name   string
	Values []float32
	X0, DX float32
}

// MaxCurvePoints is the most samples per Series a frame keeps; longer
// series are averaged into this many buckets.
const MaxCurvePoints = 2048

// maxCurveSeries is how many series a Curve draws.
const maxCurveSeries = 4
