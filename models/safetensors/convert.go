package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
)

// numel returns t's element count after checking that its dtype is known
// and its Data holds exactly that many elements.
func (t *Tensor) numel() (int, error) {
	if !t.DType.Valid() {
		return 0, fmt.Errorf("safetensors: tensor %q: unknown dtype %q", t.Name, t.DType)
	}
	nbytes, err := byteSize(t.DType, t.Shape)
	if err != nil {
		return 0, fmt.Errorf("safetensors: tensor %q: %w", t.Name, err)
	}
	if int64(len(t.Data)) != nbytes {
		return 0, fmt.Errorf("safetensors: tensor %q: shape %v of %s needs %d bytes, have %d", t.Name, t.Shape, t.DType, nbytes, len(t.Data))
	}
	return int(nbytes) / t.DType.Size(), nil
}

// Float32 decodes t's elements to float32. F32 is exact; F16 and BF16
// widen exactly (keeping infinities, NaNs, signed zeros and subnormals);
// F64 and the integer types (I8, I16, I32, I64, U8, U16, U32, U64) and BOOL
// are converted best-effort, rounding to the nearest float32. Other dtypes
// (the 8-bit floats, C64) are refused.
func (t *Tensor) Float32() ([]float32, error) {
	n, err := t.numel()
	if err != nil {
		return nil, err
	}
	out := make([]float32, n)
	d := t.Data
	le := binary.LittleEndian
	switch t.DType {
	case F32:
		for i := range out {
			out[i] = math.Float32frombits(le.Uint32(d[4*i:]))
		}
	case F16:
		for i := range out {
			out[i] = f16ToF32(le.Uint16(d[2*i:]))
		}
	case BF16:
		for i := range out {
			out[i] = bf16ToF32(le.Uint16(d[2*i:]))
		}
	case F64:
		for i := range out {
			out[i] = float32(math.Float64frombits(le.Uint64(d[8*i:])))
		}
	case I8:
		for i := range out {
			out[i] = float32(int8(d[i]))
		}
	case U8, Bool:
		for i := range out {
			out[i] = float32(d[i])
		}
	case I16:
		for i := range out {
			out[i] = float32(int16(le.Uint16(d[2*i:])))
		}
	case U16:
		for i := range out {
			out[i] = float32(le.Uint16(d[2*i:]))
		}
	case I32:
		for i := range out {
			out[i] = float32(int32(le.Uint32(d[4*i:])))
		}
	case U32:
		for i := range out {
			out[i] = float32(le.Uint32(d[4*i:]))
		}
	case I64:
		for i := range out {
			out[i] = float32(int64(le.Uint64(d[8*i:])))
		}
	case U64:
		for i := range out {
			out[i] = float32(le.Uint64(d[8*i:]))
		}
	default:
		return nil, fmt.Errorf("safetensors: tensor %q: cannot convert %s to float32", t.Name, t.DType)
	}
	return out, nil
}

// Int32 decodes t's integer elements to int32: I32 exactly, and I64, U32,
// U64 (range-checked) and I8, I16, U8, U16 widened. Any value outside the
// int32 range is an error naming the tensor and the element's index.
// Floating-point dtypes are refused.
func (t *Tensor) Int32() ([]int32, error) {
	n, err := t.numel()
	if err != nil {
		return nil, err
	}
	out := make([]int32, n)
	d := t.Data
	le := binary.LittleEndian
	outOfRange := func(i int, v any) error {
		return fmt.Errorf("safetensors: tensor %q: element %d (%v) of %s is out of int32 range", t.Name, i, v, t.DType)
	}
	switch t.DType {
	case I32:
		for i := range out {
			out[i] = int32(le.Uint32(d[4*i:]))
		}
	case I64:
		for i := range out {
			v := int64(le.Uint64(d[8*i:]))
			if v < math.MinInt32 || v > math.MaxInt32 {
				return nil, outOfRange(i, v)
			}
			out[i] = int32(v)
		}
	case U32:
		for i := range out {
			v := le.Uint32(d[4*i:])
			if v > math.MaxInt32 {
				return nil, outOfRange(i, v)
			}
			out[i] = int32(v)
		}
	case U64:
		for i := range out {
			v := le.Uint64(d[8*i:])
			if v > math.MaxInt32 {
				return nil, outOfRange(i, v)
			}
			out[i] = int32(v)
		}
	case I8:
		for i := range out {
			out[i] = int32(int8(d[i]))
		}
	case U8:
		for i := range out {
			out[i] = int32(d[i])
		}
	case I16:
		for i := range out {
			out[i] = int32(int16(le.Uint16(d[2*i:])))
		}
	case U16:
		for i := range out {
			out[i] = int32(le.Uint16(d[2*i:]))
		}
	default:
		return nil, fmt.Errorf("safetensors: tensor %q: cannot convert %s to int32", t.Name, t.DType)
	}
	return out, nil
}

// Float32Tensor encodes data as a tensor of dtype as, which must be F32,
// F16 or BF16. F16 and BF16 round to nearest, ties to even; values too
// large become infinities, NaNs stay NaNs (quietened, sign kept), and F16
// keeps subnormals. len(data) must equal the element count of shape (1 for
// an empty shape, a scalar).
func Float32Tensor(name string, shape []int, data []float32, as DType) (Tensor, error) {
	if err := checkCount(name, shape, len(data)); err != nil {
		return Tensor{}, err
	}
	t := Tensor{Name: name, DType: as, Shape: append([]int{}, shape...)}
	le := binary.LittleEndian
	switch as {
	case F32:
		t.Data = make([]byte, 4*len(data))
		for i, v := range data {
			le.PutUint32(t.Data[4*i:], math.Float32bits(v))
		}
	case F16:
		t.Data = make([]byte, 2*len(data))
		for i, v := range data {
			le.PutUint16(t.Data[2*i:], f32ToF16(v))
		}
	case BF16:
		t.Data = make([]byte, 2*len(data))
		for i, v := range data {
			le.PutUint16(t.Data[2*i:], f32ToBF16(v))
		}
	default:
		return Tensor{}, fmt.Errorf("safetensors: tensor %q: cannot encode float32 as %s (want F32, F16 or BF16)", name, as)
	}
	return t, nil
}

// Int32Tensor encodes data as an I32 tensor. It does not check len(data)
// against shape; Write does.
func Int32Tensor(name string, shape []int, data []int32) Tensor {
	t := Tensor{Name: name, DType: I32, Shape: append([]int{}, shape...), Data: make([]byte, 4*len(data))}
	for i, v := range data {
		binary.LittleEndian.PutUint32(t.Data[4*i:], uint32(v))
	}
	return t
}

// checkCount checks that shape is valid and holds n elements.
func checkCount(name string, shape []int, n int) error {
	numel, err := byteSize(U8, shape)
	if err != nil {
		return fmt.Errorf("safetensors: tensor %q: %w", name, err)
	}
	if numel != int64(n) {
		return fmt.Errorf("safetensors: tensor %q: shape %v holds %d elements, got %d values", name, shape, numel, n)
	}
	return nil
}

// f16ToF32 widens an IEEE 754 half-precision value exactly.
func f16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch exp {
	case 0:
		// Zero or subnormal: mant × 2^-24, exact in float32.
		f := float32(mant) * (1.0 / (1 << 24))
		return math.Float32frombits(math.Float32bits(f) | sign)
	case 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// f32ToF16 narrows a float32 to half precision, rounding to nearest, ties
// to even.
func f32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant == 0 {
			return sign | 0x7c00
		}
		// NaN: keep the top payload bits, set the quiet bit.
		return sign | 0x7e00 | uint16(mant>>13)
	}
	e := exp - 127 + 15 // biased half exponent
	switch {
	case e >= 0x1f:
		return sign | 0x7c00
	case e <= 0:
		// Subnormal (or zero) in half precision. Magnitudes below 2^-25
		// round to zero; this also covers float32 zeros and subnormals.
		if e < -10 {
			return sign
		}
		m := mant | 0x800000
		shift := uint(14 - e) // 14..24
		return sign | uint16(roundShift(m, shift))
	}
	h := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, up to infinity: still correct
	}
	return sign | uint16(h)
}

// roundShift returns m >> shift rounded to nearest, ties to even.
func roundShift(m uint32, shift uint) uint32 {
	q := m >> shift
	rem := m & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rem > half || (rem == half && q&1 == 1) {
		q++
	}
	return q
}

// bf16ToF32 widens a bfloat16 exactly.
func bf16ToF32(h uint16) float32 {
	return math.Float32frombits(uint32(h) << 16)
}

// f32ToBF16 narrows a float32 to bfloat16, rounding to nearest, ties to
// even (as PyTorch does); NaNs stay NaN.
func f32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}
