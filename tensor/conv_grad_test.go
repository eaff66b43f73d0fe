package tensor

import (
	"errors"
	"fmt"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor/ref"
)

// convGradTol is the backward kernels' tolerance against the float64 twin
// in the sense of ref.Close (max |got − want| ≤ tol · max(1, max |want|)):
// 1e-4, for the long float32 reductions of dw (up to 67,497 positions ×
// 9 taps summed here) and dx (up to 41·9 products per element). The errors
// seen on Lavapipe are around 1e-6.
const convGradTol = 1e-4

type convGradCase struct {
	name string
	x, w []int // [N, Cin, H, W] and [Cout, Cin, KH, KW]
	p    ConvParams
}

var convGradCases = []convGradCase{
	{"3x3-pad1", []int{2, 37, 19, 23}, []int{41, 37, 3, 3}, ConvParams{PadH: 1, PadW: 1}},
	{"3x3-stride2", []int{2, 13, 17, 15}, []int{11, 13, 3, 3}, ConvParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}},
	{"3x3-stride2-nopad-even", []int{1, 5, 12, 10}, []int{7, 5, 3, 3}, ConvParams{StrideH: 2, StrideW: 2}},
	{"1x1", []int{2, 33, 17, 19}, []int{29, 33, 1, 1}, ConvParams{}},
	{"1x1-flat", []int{2, 9, 4, 6}, []int{70, 9, 1, 1}, ConvParams{}},
	{"1x1-stride2", []int{1, 6, 9, 7}, []int{10, 6, 1, 1}, ConvParams{StrideH: 2, StrideW: 2}},
	{"1x1-pad1", []int{1, 4, 5, 6}, []int{3, 4, 1, 1}, ConvParams{PadH: 1, PadW: 1}},
	{"3x3-dil2", []int{1, 3, 15, 13}, []int{4, 3, 3, 3}, ConvParams{PadH: 2, PadW: 2, DilH: 2, DilW: 2}},
	{"4x4-stride2-pad1", []int{2, 3, 12, 10}, []int{5, 3, 4, 4}, ConvParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}},
	{"7x7-stride2-pad3", []int{2, 3, 21, 19}, []int{9, 3, 7, 7}, ConvParams{StrideH: 2, StrideW: 2, PadH: 3, PadW: 3}},
	{"5x5-stride3-dil2", []int{1, 4, 23, 20}, []int{6, 4, 5, 5}, ConvParams{StrideH: 3, StrideW: 3, PadH: 4, PadW: 1, DilH: 2, DilW: 2}},
	{"3x2-mixed", []int{2, 5, 17, 14}, []int{6, 5, 3, 2}, ConvParams{StrideH: 2, StrideW: 1, PadH: 0, PadW: 1, DilH: 1, DilW: 3}},
	{"2x3-stride12-pad21", []int{2, 3, 11, 13}, []int{4, 3, 2, 3}, ConvParams{StrideH: 1, StrideW: 2, PadH: 2, PadW: 1}},
	{"pad-bigger-than-kernel", []int{1, 2, 3, 4}, []int{3, 2, 2, 2}, ConvParams{PadH: 3, PadW: 2}},
	{"kernel-fills-input", []int{2, 3, 5, 5}, []int{4, 3, 5, 5}, ConvParams{}},
	{"wide-channels", []int{1, 70, 6, 9}, []int{67, 70, 3, 3}, ConvParams{PadH: 1, PadW: 1}},
	// Geometries the register-blocked kernels leave to the naive ones.
	{"9x9-naive", []int{1, 3, 13, 12}, []int{4, 3, 9, 9}, ConvParams{PadH: 4, PadW: 4}},
	{"stride5-naive", []int{2, 3, 17, 16}, []int{5, 3, 3, 3}, ConvParams{StrideH: 5, StrideW: 5, PadH: 1, PadW: 1}},
	// K = N·Ho·Wo = 67,497 > 65,535: dw must split K.
	{"long-K", []int{3, 2, 151, 149}, []int{3, 2, 3, 3}, ConvParams{PadH: 1, PadW: 1}},
}

func convRefParams(p ConvParams) ref.ConvParams {
	p = p.norm()
	return ref.ConvParams{StrideH: p.StrideH, StrideW: p.StrideW, PadH: p.PadH, PadW: p.PadW, DilH: p.DilH, DilW: p.DilW}
}

// convGradPaths runs f with the device's choice of kernels, with the
// naive ones, and with the register-blocked ones only (no Matmul for 1×1)
// and tiny loop bounds (dx over many accumulating dispatches, dw over many
// splits).
func convGradPaths(t *testing.T, f func(t *testing.T)) {
	t.Run("auto", f)
	t.Run("naive", func(t *testing.T) {
		convGradNaive, convGradMatmul = true, false
		defer func() { convGradNaive, convGradMatmul = false, true }()
		f(t)
	})
	t.Run("small-loops", func(t *testing.T) {
		convGradLoopForce, convGradMatmul = 3, false
		defer func() { convGradLoopForce, convGradMatmul = 0, true }()
		f(t)
	})
}

func TestConvGradVsTwin(t *testing.T) {
	e := testEngine(t)
	convGradPaths(t, func(t *testing.T) {
		rng := rand.New(rand.NewSource(17))
		for _, tc := range convGradCases {
			t.Run(tc.name, func(t *testing.T) {
				if tc.name == "long-K" && convGradLoopForce > 0 {
					t.Skip("too many dispatches with tiny loops")
				}
				x := randRef(rng, -1, 1, tc.x...)
				w := randRef(rng, -1, 1, tc.w...)
				p := tc.p.norm()
				ho := ConvOutSize(tc.x[2], tc.w[2], p.StrideH, p.PadH, p.DilH)
				wo := ConvOutSize(tc.x[3], tc.w[3], p.StrideW, p.PadW, p.DilW)
				dy := randRef(rng, -1, 1, tc.x[0], tc.w[0], ho, wo)
				wx, ww, wb := ref.Conv2dVJP(x, w, convRefParams(tc.p), dy)
				gdy := upload(e, dy)
				requireClose(t, Conv2dBackwardInput(gdy, upload(e, w), tc.x[2], tc.x[3], tc.p), wx, convGradTol, "dx")
				requireClose(t, Conv2dBackwardWeight(upload(e, x), gdy, tc.w[2], tc.w[3], tc.p), ww, convGradTol, "dw")
				requireClose(t, Conv2dBackwardBias(gdy), wb, convGradTol, "db")
				require.NoError(t, e.Err())
			})
		}
	})
}

// TestConvGradTiles runs both register-blocked kernels with blocks that do
// not divide the shapes: edge tiles, partial channel vectors, several
// pieces per row, several output channels per step.
func TestConvGradTiles(t *testing.T) {
	e := testEngine(t)
	if !e.convGradFast() {
		t.Skip("the register-blocked kernels need whole 8-lane groups")
	}
	t.Cleanup(func() {
		convBwdTileForce = convBwdTile{}
		convWTileForce = convWTile{}
	})
	rng := rand.New(rand.NewSource(18))
	for _, tc := range []convGradCase{
		{"3x3", []int{2, 11, 13, 29}, []int{19, 11, 3, 3}, ConvParams{StrideH: 1, StrideW: 2, PadH: 1, PadW: 1}},
		{"4x4-s2", []int{1, 9, 14, 18}, []int{13, 9, 4, 4}, ConvParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}},
	} {
		x := randRef(rng, -1, 1, tc.x...)
		w := randRef(rng, -1, 1, tc.w...)
		p := tc.p.norm()
		ho := ConvOutSize(tc.x[2], tc.w[2], p.StrideH, p.PadH, p.DilH)
		wo := ConvOutSize(tc.x[3], tc.w[3], p.StrideW, p.PadW, p.DilW)
		dy := randRef(rng, -1, 1, tc.x[0], tc.w[0], ho, wo)
		wx, ww, _ := ref.Conv2dVJP(x, w, convRefParams(tc.p), dy)
		gx, gw, gdy := upload(e, x), upload(e, w), upload(e, dy)
		for _, tile := range []convBwdTile{{p.StrideH, p.StrideW, 1, 1}, {3 * p.StrideH, 5 * p.StrideW, 1, 2}, {2 * p.StrideH, 7 * p.StrideW, 2, 3}, {4 * p.StrideH, 3 * p.StrideW, 3, 4}} {
			t.Run(fmt.Sprintf("%s/dx/%+v", tc.name, tile), func(t *testing.T) {
				convBwdTileForce = tile
				requireClose(t, Conv2dBackwardInput(gdy, gw, tc.x[2], tc.x[3], tc.p), wx, convGradTol)
			})
		}
		for _, tile := range []convWTile{{p: 8, cv: 1, co: 1}, {p: 16, cv: 1, co: 5}, {p: 8, cv: 2, co: 3}, {p: 24, cv: 3, co: 2},
			{p: 8, cv: 1, ci: 1, coLanes: true}, {p: 16, cv: 2, ci: 4, coLanes: true}, {p: 24, cv: 3, ci: 2, coLanes: true}} {
			t.Run(fmt.Sprintf("%s/dw/%+v", tc.name, tile), func(t *testing.T) {
				convWTileForce = tile
				requireClose(t, Conv2dBackwardWeight(gx, gdy, tc.w[2], tc.w[3], tc.p), ww, convGradTol)
			})
		}
	}
}

func TestConvGradEmpty(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(19))
	for _, tc := range []struct {
		name string
		x, w []int
	}{
		{"batch0", []int{0, 3, 5, 5}, []int{4, 3, 3, 3}},
		{"cout0", []int{2, 3, 5, 5}, []int{0, 3, 3, 3}},
		{"cin0", []int{2, 0, 5, 6}, []int{4, 0, 3, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := randRef(rng, -1, 1, tc.x...)
			w := randRef(rng, -1, 1, tc.w...)
			p := ConvParams{PadH: 1}
			ho := ConvOutSize(tc.x[2], tc.w[2], 1, 1, 1)
			wo := ConvOutSize(tc.x[3], tc.w[3], 1, 0, 1)
			dy := randRef(rng, -1, 1, tc.x[0], tc.w[0], ho, wo)
			wx, ww, wb := ref.Conv2dVJP(x, w, convRefParams(p), dy)
			gdy := upload(e, dy)
			requireClose(t, Conv2dBackwardInput(gdy, upload(e, w), tc.x[2], tc.x[3], p), wx, 0, "dx")
			requireClose(t, Conv2dBackwardWeight(upload(e, x), gdy, tc.w[2], tc.w[3], p), ww, 0, "dw")
			requireClose(t, Conv2dBackwardBias(gdy), wb, convGradTol, "db")
		})
	}
}

func TestConvGradShapeErrors(t *testing.T) {
	e := testEngine(t)
	x, w := e.Zeros(1, 3, 8, 8), e.Zeros(4, 3, 3, 3)
	dy := e.Zeros(1, 4, 6, 6)
	for _, tc := range []struct {
		name string
		f    func() *Tensor
	}{
		{"dx-dy-shape", func() *Tensor { return Conv2dBackwardInput(dy, w, 9, 8, ConvParams{}) }},
		{"dx-channels", func() *Tensor { return Conv2dBackwardInput(e.Zeros(1, 5, 6, 6), w, 8, 8, ConvParams{}) }},
		{"dx-rank", func() *Tensor { return Conv2dBackwardInput(e.Zeros(4, 6, 6), w, 8, 8, ConvParams{}) }},
		{"dx-kernel-too-big", func() *Tensor { return Conv2dBackwardInput(dy, w, 2, 8, ConvParams{}) }},
		{"dx-negative-stride", func() *Tensor { return Conv2dBackwardInput(dy, w, 8, 8, ConvParams{StrideH: -1}) }},
		{"dw-dy-shape", func() *Tensor { return Conv2dBackwardWeight(x, dy, 3, 2, ConvParams{}) }},
		{"dw-batch", func() *Tensor { return Conv2dBackwardWeight(e.Zeros(2, 3, 8, 8), dy, 3, 3, ConvParams{}) }},
		{"dw-kernel-0", func() *Tensor { return Conv2dBackwardWeight(x, dy, 0, 3, ConvParams{}) }},
		{"dw-int", func() *Tensor { return Conv2dBackwardWeight(x, e.FullInt(0, 1, 4, 6, 6), 3, 3, ConvParams{}) }},
		{"db-rank", func() *Tensor { return Conv2dBackwardBias(e.Zeros(4, 6)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.f()
			require.Error(t, got.Err())
			require.True(t, errors.Is(got.Err(), ErrShape), "%v", got.Err())
			require.ErrorIs(t, e.Err(), ErrShape)
		})
	}
}
