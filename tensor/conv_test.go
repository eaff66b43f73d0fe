package tensor

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor/ref"
)

// convTol is Conv2d's tolerance against the float64 twin: 1e-5 of
// max(1, max |want|) (ref.Close), ample for float32 sums of a few thousand
// products of values in [-1, 1).
const convTol = 1e-5

type convCase struct {
	name string
	x, w []int // [N, Cin, H, W] and [Cout, Cin, KH, KW]
	p    ConvParams
	bias bool
}

var convCases = []convCase{
	{"1x1", []int{2, 5, 7, 9}, []int{6, 5, 1, 1}, ConvParams{}, true},
	{"1x1-wide", []int{2, 33, 17, 19}, []int{70, 33, 1, 1}, ConvParams{}, true},
	{"1x1-stride2", []int{1, 6, 9, 7}, []int{10, 6, 1, 1}, ConvParams{StrideH: 2, StrideW: 2}, false},
	{"1x1-pad1", []int{1, 4, 5, 6}, []int{3, 4, 1, 1}, ConvParams{PadH: 1, PadW: 1}, true},
	{"3x3-pad1", []int{1, 3, 13, 11}, []int{5, 3, 3, 3}, ConvParams{PadH: 1, PadW: 1}, false},
	{"3x3-pad1-bias-n3", []int{3, 3, 13, 11}, []int{5, 3, 3, 3}, ConvParams{PadH: 1, PadW: 1}, true},
	{"3x3-nopad", []int{2, 4, 9, 12}, []int{9, 4, 3, 3}, ConvParams{}, true},
	{"3x3-stride2-odd", []int{2, 4, 13, 11}, []int{7, 4, 3, 3}, ConvParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, true},
	{"3x3-stride2-nopad-even", []int{1, 3, 12, 10}, []int{4, 3, 3, 3}, ConvParams{StrideH: 2, StrideW: 2}, false},
	{"3x3-dil2", []int{1, 3, 15, 13}, []int{4, 3, 3, 3}, ConvParams{PadH: 2, PadW: 2, DilH: 2, DilW: 2}, true},
	{"4x4-stride2-pad1", []int{2, 3, 12, 10}, []int{5, 3, 4, 4}, ConvParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, true},
	{"7x5", []int{1, 3, 13, 11}, []int{5, 3, 7, 5}, ConvParams{PadH: 3, PadW: 2}, true},
	{"7x7-stride2-pad3", []int{2, 3, 21, 19}, []int{9, 3, 7, 7}, ConvParams{StrideH: 2, StrideW: 2, PadH: 3, PadW: 3}, true},
	{"mixed-stride-pad-dil", []int{2, 5, 17, 14}, []int{6, 5, 3, 2}, ConvParams{StrideH: 2, StrideW: 1, PadH: 0, PadW: 1, DilH: 1, DilW: 3}, true},
	{"kernel-fills-input", []int{2, 3, 5, 5}, []int{4, 3, 5, 5}, ConvParams{}, true},
	{"single-channel", []int{1, 1, 6, 7}, []int{1, 1, 3, 3}, ConvParams{PadH: 1, PadW: 1}, true},
	{"pad-bigger-than-kernel", []int{1, 2, 3, 4}, []int{3, 2, 2, 2}, ConvParams{PadH: 3, PadW: 2}, true},
	{"full-tiles", []int{2, 37, 19, 23}, []int{41, 37, 3, 3}, ConvParams{PadH: 1, PadW: 1}, true},
	{"wide-rows", []int{1, 9, 5, 67}, []int{17, 9, 3, 3}, ConvParams{PadH: 1, PadW: 1}, false},
	// Windows conv2d_sg does not unroll: conv2d_sg_any takes them on CPUs.
	{"9x9-window", []int{2, 3, 14, 13}, []int{4, 3, 9, 9}, ConvParams{PadH: 1, PadW: 1}, true},
	{"stride5", []int{1, 2, 17, 16}, []int{3, 2, 3, 3}, ConvParams{StrideH: 5, StrideW: 5}, true},
	{"dil17", []int{1, 2, 40, 38}, []int{11, 2, 3, 3}, ConvParams{PadH: 2, DilH: 17, DilW: 17}, false},
	{"weight-gradient-like", []int{3, 9, 14, 14}, []int{19, 9, 7, 7}, ConvParams{PadH: 1, PadW: 1, DilH: 2, DilW: 2}, false},
}

// convTwin runs ref.Conv2d, which wants strides and dilations of at least 1.
func convTwin(x, w, b *ref.Tensor, p ConvParams) *ref.Tensor {
	p = p.norm()
	return ref.Conv2d(x, w, b, ref.ConvParams{StrideH: p.StrideH, StrideW: p.StrideW, PadH: p.PadH, PadW: p.PadW, DilH: p.DilH, DilW: p.DilW})
}

// forceConvPath runs the rest of the test with one kernel.
func forceConvPath(t *testing.T, path convPath) {
	old := convForce
	convForce = path
	t.Cleanup(func() { convForce = old })
}

func TestConv2dVsTwin(t *testing.T) {
	e := testEngine(t)
	paths := []struct {
		name string
		path convPath
	}{{"auto", convAuto}, {"sg", convSG}, {"any", convAny}, {"gemm", convGEMM}}
	for _, path := range paths {
		if (path.path == convSG || path.path == convAny) && int(e.Device().Info.SubgroupSize)%8 != 0 {
			continue // conv2d_sg needs whole 8-lane groups
		}
		rng := rand.New(rand.NewSource(7))
		for _, tc := range convCases {
			t.Run(path.name+"/"+tc.name, func(t *testing.T) {
				forceConvPath(t, path.path)
				x := randRef(rng, -1, 1, tc.x...)
				w := randRef(rng, -1, 1, tc.w...)
				var b *ref.Tensor
				var gb *Tensor
				if tc.bias {
					b = randRef(rng, -1, 1, tc.w[0])
					gb = upload(e, b)
				}
				got := Conv2d(upload(e, x), upload(e, w), gb, tc.p)
				requireClose(t, got, convTwin(x, w, b, tc.p), convTol)
			})
		}
	}
}

// TestConv2dTiles runs conv2d_sg with register blocks that do not divide
// the output, so that edge tiles, partial channel vectors and several
// pieces per input row are all exercised.
func TestConv2dTiles(t *testing.T) {
	e := testEngine(t)
	if int(e.Device().Info.SubgroupSize)%8 != 0 {
		t.Skip("conv2d_sg needs whole 8-lane groups")
	}
	forceConvPath(t, convSG)
	old := convTileForce
	t.Cleanup(func() { convTileForce = old })
	rng := rand.New(rand.NewSource(8))
	x := randRef(rng, -1, 1, 2, 6, 11, 29)
	w := randRef(rng, -1, 1, 19, 6, 3, 3)
	b := randRef(rng, -1, 1, 19)
	gx, gw, gb := upload(e, x), upload(e, w), upload(e, b)
	p := ConvParams{StrideH: 1, StrideW: 2, PadH: 1, PadW: 1}
	want := convTwin(x, w, b, p)
	for _, tile := range []convTile{{1, 1, 1, 1}, {3, 5, 1, 2}, {2, 7, 2, 1}, {5, 13, 3, 4}, {8, 16, 2, 1}} {
		t.Run(fmt.Sprintf("%dx%dx%dx%d", tile.rows, tile.cols, tile.cv, tile.ci), func(t *testing.T) {
			convTileForce = tile
			requireClose(t, Conv2d(gx, gw, gb, p), want, convTol)
		})
	}
}

// TestConv2dGEMMConfigs runs conv2d with each of its tile shapes, including
// the small one for devices without 256 invocations per workgroup.
func TestConv2dGEMMConfigs(t *testing.T) {
	e := testEngine(t)
	forceConvPath(t, convGEMM)
	t.Cleanup(func() { convGEMMForce = convGEMMConfig{} })
	rng := rand.New(rand.NewSource(10))
	x := randRef(rng, -1, 1, 2, 7, 13, 11)
	w := randRef(rng, -1, 1, 37, 7, 3, 3)
	b := randRef(rng, -1, 1, 37)
	gx, gw, gb := upload(e, x), upload(e, w), upload(e, b)
	p := ConvParams{PadH: 1, PadW: 1}
	want := convTwin(x, w, b, p)
	for _, c := range []convGEMMConfig{{64, 64, 16, 4, 4}, {32, 128, 16, 2, 8}, {32, 32, 8, 4, 4}} {
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			convGEMMForce = c
			requireClose(t, Conv2d(gx, gw, gb, p), want, convTol)
		})
	}
}

// TestConv2dManyWorkgroups needs more than 65535 workgroups, so the grid
// spills into y.
func TestConv2dManyWorkgroups(t *testing.T) {
	e := testEngine(t)
	if int(e.Device().Info.SubgroupSize)%8 != 0 {
		t.Skip("conv2d_sg needs whole 8-lane groups")
	}
	forceConvPath(t, convSG)
	t.Cleanup(func() { convTileForce = convTile{} })
	convTileForce = convTile{1, 1, 1, 1}
	rng := rand.New(rand.NewSource(11))
	x := randRef(rng, -1, 1, 1, 2, 260, 261)
	w := randRef(rng, -1, 1, 3, 2, 1, 1)
	requireClose(t, Conv2d(upload(e, x), upload(e, w), nil, ConvParams{}), convTwin(x, w, nil, ConvParams{}), convTol)
}

func TestConv2dEmpty(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(9))
	tests := []struct {
		name string
		x, w []int
	}{
		{"batch0", []int{0, 3, 5, 5}, []int{4, 3, 3, 3}},
		{"cout0", []int{2, 3, 5, 5}, []int{0, 3, 3, 3}},
		{"cin0", []int{2, 0, 5, 6}, []int{4, 0, 3, 3}},
	}
	for _, tc := range tests {
		for _, withBias := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/bias=%v", tc.name, withBias), func(t *testing.T) {
				x := randRef(rng, -1, 1, tc.x...)
				w := randRef(rng, -1, 1, tc.w...)
				var b *ref.Tensor
				var gb *Tensor
				if withBias {
					b = randRef(rng, -1, 1, tc.w[0])
					gb = upload(e, b)
				}
				requireClose(t, Conv2d(upload(e, x), upload(e, w), gb, ConvParams{}), convTwin(x, w, b, ConvParams{}), 0)
			})
		}
	}
}

func TestConv2dShapeErrors(t *testing.T) {
	e := testEngine(t)
	tests := []struct {
		name string
		x, w []int
		bias []int
		p    ConvParams
	}{
		{"channel-mismatch", []int{1, 3, 8, 8}, []int{4, 2, 3, 3}, nil, ConvParams{}},
		{"kernel-too-tall", []int{1, 3, 2, 8}, []int{4, 3, 3, 3}, nil, ConvParams{}},
		{"kernel-too-wide-after-dilation", []int{1, 3, 8, 4}, []int{4, 3, 3, 3}, nil, ConvParams{DilW: 2}},
		{"x-rank-3", []int{3, 8, 8}, []int{4, 3, 3, 3}, nil, ConvParams{}},
		{"w-rank-2", []int{1, 3, 8, 8}, []int{4, 3}, nil, ConvParams{}},
		{"bias-length", []int{1, 3, 8, 8}, []int{4, 3, 3, 3}, []int{5}, ConvParams{}},
		{"bias-rank", []int{1, 3, 8, 8}, []int{4, 3, 3, 3}, []int{4, 1}, ConvParams{}},
		{"negative-pad", []int{1, 3, 8, 8}, []int{4, 3, 3, 3}, nil, ConvParams{PadH: -1}},
		{"empty-kernel", []int{1, 3, 8, 8}, []int{4, 3, 0, 3}, nil, ConvParams{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b *Tensor
			if tc.bias != nil {
				b = e.Zeros(tc.bias...)
			}
			y := Conv2d(e.Zeros(tc.x...), e.Zeros(tc.w...), b, tc.p)
			require.ErrorIs(t, y.Err(), ErrShape)
			require.Contains(t, y.Err().Error(), "Conv2d")
			require.ErrorIs(t, e.Err(), ErrShape)
		})
	}
	t.Run("sticky", func(t *testing.T) {
		bad := Conv2d(e.Zeros(1, 3, 8, 8), e.Zeros(4, 2, 3, 3), nil, ConvParams{})
		y := Conv2d(bad, e.Zeros(4, 4, 3, 3), nil, ConvParams{})
		_, err := y.Float32()
		require.ErrorIs(t, err, ErrShape)
		require.ErrorIs(t, e.Err(), ErrShape)
	})
}

func TestConvOutSize(t *testing.T) {
	tests := []struct{ in, k, stride, pad, dil, want int }{
		{8, 3, 1, 1, 1, 8},
		{8, 3, 2, 1, 1, 4},
		{7, 3, 2, 1, 1, 4},
		{8, 4, 2, 1, 1, 4},
		{5, 3, 1, 0, 2, 1},
		{4, 3, 1, 0, 2, 0},
		{2, 3, 1, 0, 1, 0},
		{1, 5, 2, 0, 1, -1},
		{9, 3, 0, 0, 0, 7}, // zero stride and dilation mean 1
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, ConvOutSize(tc.in, tc.k, tc.stride, tc.pad, tc.dil), "%+v", tc)
		if tc.want > 0 {
			s, d := max(tc.stride, 1), max(tc.dil, 1)
			require.Equal(t, ref.ConvOutSize(tc.in, tc.k, s, tc.pad, d), tc.want, "%+v", tc)
		}
	}
	require.Equal(t, 2.0*8*128*64*64*128*9, Conv2dFlops(8, 128, 64, 64, 128, 3, 3, ConvParams{PadH: 1, PadW: 1}))
	require.Equal(t, 0.0, Conv2dFlops(1, 1, 2, 2, 1, 3, 3, ConvParams{}))
}
