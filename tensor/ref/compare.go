package ref

import (
	"fmt"
	"math"
)

// elemDiff returns |g - w|, or 0 when both are NaN or equal infinities, and
// +Inf when exactly one side is NaN or infinite.
func elemDiff(g, w float64) float64 {
	switch {
	case g == w, math.IsNaN(g) && math.IsNaN(w):
		return 0
	case math.IsNaN(g), math.IsNaN(w), math.IsInf(g, 0), math.IsInf(w, 0):
		return math.Inf(1)
	}
	return math.Abs(g - w)
}

// errScale returns max(1, max_j |w_j|) over the finite elements of w.
func errScale(w []float64) float64 {
	s := 1.0
	for _, v := range w {
		if a := math.Abs(v); a > s && !math.IsInf(a, 0) {
			s = a
		}
	}
	return s
}

// MaxAbsDiff returns max_i |a_i - b_i|. Matching NaNs and equal infinities
// count as equal; any other NaN or infinity mismatch gives +Inf. It panics
// if the shapes differ.
func MaxAbsDiff(a, b *Tensor) float64 {
	if !sameShape(a.Shape, b.Shape) {
		panic(fmt.Sprintf("ref: MaxAbsDiff: shapes %v and %v differ", a.Shape, b.Shape))
	}
	var m float64
	for i := range a.Data {
		m = math.Max(m, elemDiff(a.Data[i], b.Data[i]))
	}
	return m
}

// RelErr returns max_i |got_i - want_i| / max(1, max_j |want_j|): the worst
// absolute error, measured relative to the magnitude of want as a whole
// (and absolutely when want is small). NaN and infinity are handled as in
// MaxAbsDiff. It panics if the lengths differ.
func RelErr(got []float32, want *Tensor) float64 {
	if len(got) != len(want.Data) {
		panic(fmt.Sprintf("ref: RelErr: got %d elements, want %d (shape %v)", len(got), len(want.Data), want.Shape))
	}
	var m float64
	for i, g := range got {
		m = math.Max(m, elemDiff(float64(g), want.Data[i]))
	}
	return m / errScale(want.Data)
}

// Close reports whether got matches want within tol in the sense of
// RelErr: every element must satisfy |got_i - want_i| <= tol * max(1,
// max_j |want_j|). On failure the error names the first bad element (flat
// and multi-dimensional index), both values, the shape, and how many
// elements are out of tolerance.
func Close(got []float32, want *Tensor, tol float64) error {
	if len(got) != len(want.Data) {
		return fmt.Errorf("ref.Close: got %d elements, want %d (shape %v)", len(got), len(want.Data), want.Shape)
	}
	scale := errScale(want.Data)
	first, bad := -1, 0
	for i, g := range got {
		if elemDiff(float64(g), want.Data[i]) > tol*scale {
			if first < 0 {
				first = i
			}
			bad++
		}
	}
	if first < 0 {
		return nil
	}
	idx := make([]int, len(want.Shape))
	unravel(first, want.Shape, idx)
	g, w := float64(got[first]), want.Data[first]
	return fmt.Errorf("ref.Close: element %d %v of shape %v: got %g, want %g (|diff| %.3g > tol %g * scale %g); %d of %d elements out of tolerance",
		first, idx, want.Shape, g, w, elemDiff(g, w), tol, scale, bad, len(got))
}
