package safetensors

// DType names a tensor element type exactly as the safetensors header spells
// it, e.g. "F32".
type DType string

// The element types this package knows. Sub-byte types (F4, F6_*) are not
// supported and are rejected as unknown.
const (
	Bool   DType = "BOOL"    // one byte per element, 0 or 1
	U8     DType = "U8"      // unsigned 8-bit integer
	I8     DType = "I8"      // signed 8-bit integer
	F8E5M2 DType = "F8_E5M2" // 8-bit float, 5 exponent bits, 2 mantissa bits
	F8E4M3 DType = "F8_E4M3" // 8-bit float, 4 exponent bits, 3 mantissa bits
	F8E8M0 DType = "F8_E8M0" // 8-bit power-of-two scale (OCP MX)
	I16    DType = "I16"     // signed 16-bit integer
	U16    DType = "U16"     // unsigned 16-bit integer
	F16    DType = "F16"     // IEEE 754 half precision
	BF16   DType = "BF16"    // bfloat16 (upper half of a float32)
	I32    DType = "I32"     // signed 32-bit integer
	U32    DType = "U32"     // unsigned 32-bit integer
	F32    DType = "F32"     // IEEE 754 single precision
	C64    DType = "C64"     // complex: two float32 (real, imaginary)
	F64    DType = "F64"     // IEEE 754 double precision
	I64    DType = "I64"     // signed 64-bit integer
	U64    DType = "U64"     // unsigned 64-bit integer
)

// dtypeInfo is an element type's size in bytes and its rank in the reference
// library's Dtype enum, which is declared in increasing alignment order and
// drives the order in which Write lays tensors out.
type dtypeInfo struct {
	size int
	rank int
}

// dtypes holds every supported DType. The ranks follow the reference enum
// (BOOL, F4, F6_E2M3, F6_E3M2, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, I16, U16,
// F16, BF16, I32, U32, F32, C64, F64, I64, U64); only their relative order
// matters.
var dtypes = map[DType]dtypeInfo{
	Bool:   {1, 0},
	U8:     {1, 4},
	I8:     {1, 5},
	F8E5M2: {1, 6},
	F8E4M3: {1, 7},
	F8E8M0: {1, 8},
	I16:    {2, 9},
	U16:    {2, 10},
	F16:    {2, 11},
	BF16:   {2, 12},
	I32:    {4, 13},
	U32:    {4, 14},
	F32:    {4, 15},
	C64:    {8, 16},
	F64:    {8, 17},
	I64:    {8, 18},
	U64:    {8, 19},
}

// Size returns the size of one element in bytes, or 0 if d is not a
// supported type.
func (d DType) Size() int {
	return dtypes[d].size
}

// Valid reports whether d is a supported element type.
func (d DType) Valid() bool {
	_, ok := dtypes[d]
	return ok
}
