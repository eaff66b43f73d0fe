package safetensors

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// f32 builds a float32 from its bits.
func f32(bits uint32) float32 { return math.Float32frombits(bits) }

func TestF32ToF16KnownValues(t *testing.T) {
	tests := []struct {
		name string
		in   float32
		want uint16
	}{
		{"one", 1, 0x3c00},
		{"minus two", -2, 0xc000},
		{"one third", 1.0 / 3, 0x3555},
		{"0.1", 0.1, 0x2e66},
		{"max finite", 65504, 0x7bff},
		{"just below overflow midpoint", 65519.996, 0x7bff},
		{"overflow midpoint ties to even (inf)", 65520, 0x7c00},
		{"huge", 1e10, 0x7c00},
		{"minus huge", -1e10, 0xfc00},
		{"+inf", float32(math.Inf(1)), 0x7c00},
		{"-inf", float32(math.Inf(-1)), 0xfc00},
		{"+0", 0, 0x0000},
		{"-0", float32(math.Copysign(0, -1)), 0x8000},
		{"1+2^-11 ties to even (down)", 1 + 1.0/2048, 0x3c00},
		{"1+3*2^-11 ties to even (up)", 1 + 3.0/2048, 0x3c02},
		{"1+2^-11+2^-20 rounds up", 1 + 1.0/2048 + 1.0/(1<<20), 0x3c01},
		{"1+2^-11-2^-23 rounds down", 1 + 1.0/2048 - 1.0/(1<<23), 0x3c00},
		{"min normal 2^-14", 1.0 / (1 << 14), 0x0400},
		{"max subnormal", 1023.0 / (1 << 24), 0x03ff},
		{"min subnormal 2^-24", 1.0 / (1 << 24), 0x0001},
		{"-min subnormal", -1.0 / (1 << 24), 0x8001},
		{"2^-25 ties to even (zero)", 1.0 / (1 << 25), 0x0000},
		{"-2^-25 ties to even (-0)", -1.0 / (1 << 25), 0x8000},
		{"just above 2^-25", f32(0x33000001), 0x0001},
		{"3*2^-25 ties to even (2)", 3.0 / (1 << 25), 0x0002},
		{"5*2^-25 ties to even (2)", 5.0 / (1 << 25), 0x0002},
		{"subnormal rounding up into min normal", 2047.0 / (1 << 25), 0x0400},
		{"2^-26", 1.0 / (1 << 26), 0x0000},
		{"float32 min subnormal", f32(1), 0x0000},
		{"float32 max subnormal", f32(0x007fffff), 0x0000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equalf(t, tt.want, f32ToF16(tt.in), "f32ToF16(%g)", tt.in)
		})
	}
}

func TestF16NaN(t *testing.T) {
	for _, bits := range []uint32{0x7fc00000, 0xffc00000, 0x7f800001, 0x7fffffff, 0xff800001, 0x7f802000} {
		h := f32ToF16(f32(bits))
		assert.Equalf(t, uint16(0x7c00), h&0x7c00, "NaN %#x: exponent must be all ones, got %#04x", bits, h)
		assert.NotZerof(t, h&0x3ff, "NaN %#x became infinity %#04x", bits, h)
		assert.Equalf(t, uint16(bits>>16)&0x8000, h&0x8000, "NaN %#x lost its sign", bits)
		assert.Truef(t, math.IsNaN(float64(f16ToF32(h))), "NaN %#x did not stay NaN", bits)
	}
}

func TestF16ToF32KnownValues(t *testing.T) {
	tests := []struct {
		in   uint16
		want float32
	}{
		{0x3c00, 1},
		{0xc000, -2},
		{0x7bff, 65504},
		{0x0400, 1.0 / (1 << 14)},
		{0x0001, 1.0 / (1 << 24)},
		{0x03ff, 1023.0 / (1 << 24)},
		{0x8001, -1.0 / (1 << 24)},
		{0x7c00, float32(math.Inf(1))},
		{0xfc00, float32(math.Inf(-1))},
		{0x3555, 0.333251953125},
	}
	for _, tt := range tests {
		assert.Equalf(t, tt.want, f16ToF32(tt.in), "f16ToF32(%#04x)", tt.in)
	}
	assert.Equal(t, uint32(0x80000000), math.Float32bits(f16ToF32(0x8000)), "-0 keeps its sign")
	assert.True(t, math.IsNaN(float64(f16ToF32(0x7e00))))
	assert.True(t, math.IsNaN(float64(f16ToF32(0xfc01))))
}

// TestF16Exhaustive checks every half-precision value: widening and
// narrowing again is the identity (NaNs stay NaNs of the same sign), and
// around every pair of adjacent finite values a float32 just below their
// midpoint rounds down, just above rounds up, and the exact midpoint rounds
// to the value with the even bit pattern.
func TestF16Exhaustive(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := f16ToF32(h)
		if h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
			back := f32ToF16(f)
			require.Truef(t, math.IsNaN(float64(f16ToF32(back))), "NaN %#04x", h)
			require.Equalf(t, h&0x8000, back&0x8000, "NaN %#04x sign", h)
			continue
		}
		require.Equalf(t, h, f32ToF16(f), "round trip of %#04x (%g)", h, f)
	}
	checkRoundingBoundaries(t, 0x7c00, f16ToF32, f32ToF16, 0x8000)
}

// checkRoundingBoundaries checks a float32 narrowing to a 16-bit format
// whose non-negative values are increasing bit patterns 0..inf-1, with inf
// the bit pattern inf and sign bit signBit.
func checkRoundingBoundaries(t *testing.T, inf uint16, widen func(uint16) float32, narrow func(float32) uint16, signBit uint16) {
	t.Helper()
	for k := uint16(0); k < inf; k++ {
		lo, hi := float64(widen(k)), float64(widen(k+1))
		if k+1 == inf {
			// The overflow threshold: where the next value would be, had
			// the format one more exponent.
			hi = 2*lo - float64(widen(k-1))
		}
		mid := float32((lo + hi) / 2)
		require.Equalf(t, (lo+hi)/2, float64(mid), "midpoint of %#04x must be exact in float32", k)
		even := k
		if k&1 == 1 {
			even = k + 1
		}
		below := math.Nextafter32(mid, 0)
		above := math.Nextafter32(mid, float32(math.Inf(1)))
		for _, sign := range []uint16{0, signBit} {
			neg := func(f float32) float32 {
				if sign != 0 {
					return -f
				}
				return f
			}
			require.Equalf(t, sign|k, narrow(neg(float32(lo))), "exact %#04x", k)
			require.Equalf(t, sign|k, narrow(neg(below)), "just below the midpoint after %#04x", k)
			require.Equalf(t, sign|(k+1), narrow(neg(above)), "just above the midpoint after %#04x", k)
			require.Equalf(t, sign|even, narrow(neg(mid)), "midpoint after %#04x", k)
		}
	}
}

func TestF32ToBF16KnownValues(t *testing.T) {
	tests := []struct {
		name string
		in   float32
		want uint16
	}{
		{"one", 1, 0x3f80},
		{"1.00390625 ties to even (down)", 1.00390625, 0x3f80},
		{"1.01171875 ties to even (up)", 1.01171875, 0x3f82},
		{"just above 1.00390625", f32(0x3f808001), 0x3f81},
		{"1.0078125 exact", 1.0078125, 0x3f81},
		{"pi", math.Pi, 0x4049},
		{"-0", float32(math.Copysign(0, -1)), 0x8000},
		{"+inf", float32(math.Inf(1)), 0x7f80},
		{"-inf", float32(math.Inf(-1)), 0xff80},
		{"max float32 rounds to inf", math.MaxFloat32, 0x7f80},
		{"min float32 subnormal", f32(1), 0x0000},
		{"float32 subnormal kept", f32(0x00010000), 0x0001},
		{"float32 subnormal rounds up", f32(0x00018000), 0x0002},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equalf(t, tt.want, f32ToBF16(tt.in), "f32ToBF16(%g)", tt.in)
		})
	}
	for _, bits := range []uint32{0x7fc00000, 0xffc00000, 0x7f800001, 0x7fffffff} {
		h := f32ToBF16(f32(bits))
		assert.Truef(t, math.IsNaN(float64(bf16ToF32(h))), "NaN %#x did not stay NaN (%#04x)", bits, h)
		assert.Equalf(t, uint16(bits>>16)&0x8000, h&0x8000, "NaN %#x lost its sign", bits)
	}
}

func TestBF16Exhaustive(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := bf16ToF32(h)
		if math.IsNaN(float64(f)) {
			require.Truef(t, math.IsNaN(float64(bf16ToF32(f32ToBF16(f)))), "NaN %#04x", h)
			continue
		}
		require.Equalf(t, h, f32ToBF16(f), "round trip of %#04x (%g)", h, f)
	}
	checkRoundingBoundaries(t, 0x7f80, bf16ToF32, f32ToBF16, 0x8000)
}

// le builds a little-endian byte slice from values of one fixed size.
func leBytes(size int, vals ...uint64) []byte {
	b := make([]byte, 0, size*len(vals))
	for _, v := range vals {
		for i := 0; i < size; i++ {
			b = append(b, byte(v>>(8*i)))
		}
	}
	return b
}

func TestTensorFloat32(t *testing.T) {
	tests := []struct {
		dtype DType
		data  []byte
		want  []float32
	}{
		{F32, leBytes(4, 0x3f800000, 0xc0000000), []float32{1, -2}},
		{F16, leBytes(2, 0x3c00, 0xc000, 0x0001), []float32{1, -2, 1.0 / (1 << 24)}},
		{BF16, leBytes(2, 0x3f80, 0xc000), []float32{1, -2}},
		{F64, leBytes(8, math.Float64bits(0.5), math.Float64bits(1e300), math.Float64bits(1+1e-12)), []float32{0.5, float32(math.Inf(1)), 1}},
		{I8, []byte{0xff, 7}, []float32{-1, 7}},
		{U8, []byte{0xff, 7}, []float32{255, 7}},
		{Bool, []byte{1, 0}, []float32{1, 0}},
		{I16, leBytes(2, 0xffff, 300), []float32{-1, 300}},
		{U16, leBytes(2, 0xffff), []float32{65535}},
		{I32, leBytes(4, 0xfffffffe, 1<<24+1), []float32{-2, 1 << 24}},
		{U32, leBytes(4, 0xffffffff), []float32{1 << 32}},
		{I64, leBytes(8, 1<<63), []float32{-(1 << 63)}},
		{U64, leBytes(8, 1<<63), []float32{1 << 63}},
	}
	for _, tt := range tests {
		t.Run(string(tt.dtype), func(t *testing.T) {
			tn := Tensor{Name: "x", DType: tt.dtype, Shape: []int{len(tt.want)}, Data: tt.data}
			got, err := tn.Float32()
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestTensorInt32(t *testing.T) {
	tests := []struct {
		dtype   DType
		data    []byte
		want    []int32
		wantErr string
	}{
		{dtype: I32, data: leBytes(4, 0xffffffff, 1<<31), want: []int32{-1, math.MinInt32}},
		{dtype: I64, data: leBytes(8, math.MaxInt32, 1<<64-1<<31), want: []int32{math.MaxInt32, math.MinInt32}},
		{dtype: I64, data: leBytes(8, 0, 1<<31), wantErr: `tensor "x": element 1 (2147483648) of I64 is out of int32 range`},
		{dtype: I64, data: leBytes(8, 1<<64-1<<31-1), wantErr: `element 0 (-2147483649) of I64 is out of int32 range`},
		{dtype: U32, data: leBytes(4, 5, math.MaxInt32), want: []int32{5, math.MaxInt32}},
		{dtype: U32, data: leBytes(4, 1<<31), wantErr: "out of int32 range"},
		{dtype: U64, data: leBytes(8, 9), want: []int32{9}},
		{dtype: U64, data: leBytes(8, 1<<63), wantErr: "out of int32 range"},
		{dtype: I8, data: []byte{0x80}, want: []int32{-128}},
		{dtype: U8, data: []byte{0x80}, want: []int32{128}},
		{dtype: I16, data: leBytes(2, 0x8000), want: []int32{-32768}},
		{dtype: U16, data: leBytes(2, 0x8000), want: []int32{32768}},
		{dtype: F32, data: leBytes(4, 0), wantErr: `tensor "x": cannot convert F32 to int32`},
		{dtype: Bool, data: []byte{1}, wantErr: "cannot convert BOOL to int32"},
	}
	for _, tt := range tests {
		t.Run(string(tt.dtype)+tt.wantErr, func(t *testing.T) {
			n := len(tt.data) / tt.dtype.Size()
			tn := Tensor{Name: "x", DType: tt.dtype, Shape: []int{n}, Data: tt.data}
			got, err := tn.Int32()
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestConversionErrors(t *testing.T) {
	tests := []struct {
		name    string
		tensor  Tensor
		wantErr string
	}{
		{"unknown dtype", Tensor{Name: "x", DType: "F17", Shape: []int{1}, Data: []byte{0}}, `tensor "x": unknown dtype "F17"`},
		{"short data", Tensor{Name: "x", DType: F32, Shape: []int{2}, Data: make([]byte, 4)}, `tensor "x": shape [2] of F32 needs 8 bytes, have 4`},
		{"negative shape", Tensor{Name: "x", DType: F32, Shape: []int{-1}}, `tensor "x": shape entry -1 is negative`},
		{"unsupported", Tensor{Name: "x", DType: C64, Shape: []int{}, Data: make([]byte, 8)}, "cannot convert C64 to float32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.tensor.Float32()
			require.ErrorContains(t, err, tt.wantErr)
			if tt.name != "unsupported" {
				_, err = tt.tensor.Int32()
				require.ErrorContains(t, err, tt.wantErr)
			}
		})
	}
}

func TestFloat32TensorErrors(t *testing.T) {
	tests := []struct {
		name    string
		shape   []int
		data    []float32
		as      DType
		wantErr string
	}{
		{"count mismatch", []int{2, 2}, []float32{1, 2, 3}, F32, `tensor "w": shape [2 2] holds 4 elements, got 3 values`},
		{"scalar needs one value", []int{}, nil, F16, "holds 1 elements, got 0 values"},
		{"negative dim", []int{-2}, nil, F32, "shape entry -2 is negative"},
		{"bad dtype", []int{1}, []float32{1}, I32, `tensor "w": cannot encode float32 as I32`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Float32Tensor("w", tt.shape, tt.data, tt.as)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestFloat32TensorEncoding(t *testing.T) {
	nan := float32(math.NaN())
	in := []float32{1, 1 + 1.0/2048, float32(math.Inf(-1)), float32(math.Copysign(0, -1)), nan, 1.0 / (1 << 24)}
	tests := []struct {
		as   DType
		want []uint64
	}{
		{F16, []uint64{0x3c00, 0x3c00, 0xfc00, 0x8000, 0x7e00, 0x0001}},
		{BF16, []uint64{0x3f80, 0x3f80, 0xff80, 0x8000, 0x7fc0, 0x3380}},
	}
	for _, tt := range tests {
		t.Run(string(tt.as), func(t *testing.T) {
			tn, err := Float32Tensor("w", []int{2, 3}, in, tt.as)
			require.NoError(t, err)
			assert.Equal(t, leBytes(2, tt.want...), tn.Data)
		})
	}
}
