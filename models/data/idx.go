package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
)

// IDX element type codes, the third byte of an IDX file's magic number.
const (
	TypeUint8   byte = 0x08 // unsigned byte; what MNIST-style data sets use
	TypeInt8    byte = 0x09 // signed byte
	TypeInt16   byte = 0x0B // big-endian two's-complement 16-bit integer
	TypeInt32   byte = 0x0C // big-endian two's-complement 32-bit integer
	TypeFloat32 byte = 0x0D // big-endian IEEE 754 single precision
	TypeFloat64 byte = 0x0E // big-endian IEEE 754 double precision
)

// Limits that ReadIDX enforces so that a corrupt or hostile header cannot
// make it allocate or read without bound.
const (
	// MaxIDXRank is the most dimensions an IDX file may declare.
	MaxIDXRank = 16
	// MaxIDXDataBytes is the largest data section ReadIDX accepts
	// (Fashion-MNIST's training images take 47 MB).
	MaxIDXDataBytes = 512 << 20
)

// initialReadBytes is how much of the data section ReadIDX allocates before
// any of it has arrived; the buffer then grows with the data actually read,
// so a header that promises more than the stream holds costs little.
const initialReadBytes = 1 << 20

// maxTrailingScan bounds how far ReadIDX reads past the data to count
// trailing garbage.
const maxTrailingScan = 1 << 20

// IDX is a decoded IDX file: an n-dimensional array of one element type.
type IDX struct {
	// Type is the element type code: TypeUint8, TypeInt8, TypeInt16,
	// TypeInt32, TypeFloat32 or TypeFloat64.
	Type byte
	// Dims holds the size of each dimension, outermost first.
	Dims []int
	// Data holds the elements in row-major order, exactly as stored in the
	// file: multi-byte elements are big-endian. Use Float32At or Float32s
	// for typed access.
	Data []byte
}

// typeSize returns the size in bytes of one element of IDX type t, or 0 if t
// is not a known type code.
func typeSize(t byte) int {
	switch t {
	case TypeUint8, TypeInt8:
		return 1
	case TypeInt16:
		return 2
	case TypeInt32, TypeFloat32:
		return 4
	case TypeFloat64:
		return 8
	}
	return 0
}

// typeName returns a readable name for IDX type t.
func typeName(t byte) string {
	switch t {
	case TypeUint8:
		return "uint8"
	case TypeInt8:
		return "int8"
	case TypeInt16:
		return "int16"
	case TypeInt32:
		return "int32"
	case TypeFloat32:
		return "float32"
	case TypeFloat64:
		return "float64"
	}
	return fmt.Sprintf("unknown(0x%02x)", t)
}

// Len returns the number of elements, the product of Dims.
func (x *IDX) Len() int {
	n := 1
	for _, d := range x.Dims {
		n *= d
	}
	return n
}

// ElemSize returns the size in bytes of one element, or 0 for an unknown
// type code.
func (x *IDX) ElemSize() int { return typeSize(x.Type) }

// Float32At returns element i converted to float32, whatever the element
// type. It panics if i is out of range or the type code is unknown.
func (x *IDX) Float32At(i int) float32 {
	switch x.Type {
	case TypeUint8:
		return float32(x.Data[i])
	case TypeInt8:
		return float32(int8(x.Data[i]))
	case TypeInt16:
		return float32(int16(binary.BigEndian.Uint16(x.Data[2*i:])))
	case TypeInt32:
		return float32(int32(binary.BigEndian.Uint32(x.Data[4*i:])))
	case TypeFloat32:
		return math.Float32frombits(binary.BigEndian.Uint32(x.Data[4*i:]))
	case TypeFloat64:
		return float32(math.Float64frombits(binary.BigEndian.Uint64(x.Data[8*i:])))
	}
	panic(fmt.Sprintf("data: IDX element of unknown type 0x%02x", x.Type))
}

// Float32s returns all elements converted to float32, in row-major order.
func (x *IDX) Float32s() []float32 {
	n := 0
	if s := x.ElemSize(); s > 0 {
		n = len(x.Data) / s
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = x.Float32At(i)
	}
	return out
}

// dataBytes checks rank and dims against the limits and returns the size in
// bytes of the data section they imply for element size elem.
func dataBytes(dims []int, elem int) (int, error) {
	if len(dims) == 0 {
		return 0, errors.New("rank 0: an IDX array needs at least one dimension")
	}
	if len(dims) > MaxIDXRank {
		return 0, fmt.Errorf("rank %d exceeds the maximum %d", len(dims), MaxIDXRank)
	}
	empty := false
	for _, d := range dims {
		if d < 0 || d > MaxIDXDataBytes {
			return 0, fmt.Errorf("dims %v: dimension %d outside [0, %d]", dims, d, MaxIDXDataBytes)
		}
		empty = empty || d == 0
	}
	if empty {
		return 0, nil
	}
	n := elem
	for _, d := range dims {
		if n > MaxIDXDataBytes/d {
			return 0, fmt.Errorf("dims %v of %d-byte elements exceed the %d-byte limit", dims, elem, MaxIDXDataBytes)
		}
		n *= d
	}
	return n, nil
}

// ReadIDX reads one IDX file from r. A gzip-compressed stream (one starting
// with the bytes 1f 8b) is decompressed transparently. The data section is
// checked against the header: ReadIDX fails on a bad magic number, an
// unknown type code, rank 0, dimensions whose data would exceed
// MaxIDXDataBytes, truncated data and bytes after the data. Memory grows
// with the data actually read, so a corrupt header cannot make ReadIDX
// allocate much more than the stream holds.
func ReadIDX(r io.Reader) (*IDX, error) {
	br := bufio.NewReader(r)
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("data: IDX: gzip header: %w", err)
		}
		defer zr.Close()
		x, err := readIDX(zr)
		if err != nil {
			return nil, fmt.Errorf("data: IDX (gzip): %w", err)
		}
		return x, nil
	}
	x, err := readIDX(br)
	if err != nil {
		return nil, fmt.Errorf("data: IDX: %w", err)
	}
	return x, nil
}

// readIDX reads an uncompressed IDX stream.
func readIDX(r io.Reader) (*IDX, error) {
	var magic [4]byte
	if n, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, fmt.Errorf("truncated magic number: got %d of 4 bytes: %w", n, err)
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, fmt.Errorf("bad magic number % x: the first two bytes must be zero", magic)
	}
	x := &IDX{Type: magic[2]}
	elem := typeSize(x.Type)
	if elem == 0 {
		return nil, fmt.Errorf("unknown element type code 0x%02x", x.Type)
	}
	rank := int(magic[3])
	if rank == 0 {
		return nil, errors.New("rank 0: an IDX array needs at least one dimension")
	}
	if rank > MaxIDXRank {
		return nil, fmt.Errorf("rank %d exceeds the maximum %d", rank, MaxIDXRank)
	}
	hdr := make([]byte, 4*rank)
	if n, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("truncated header: %d dimensions need %d bytes, got %d: %w", rank, len(hdr), n, err)
	}
	x.Dims = make([]int, rank)
	for i := range x.Dims {
		x.Dims[i] = int(binary.BigEndian.Uint32(hdr[4*i:]))
	}
	want, err := dataBytes(x.Dims, elem)
	if err != nil {
		return nil, err
	}
	x.Data, err = readN(r, want)
	if err != nil {
		return nil, fmt.Errorf("dims %v of %s: %w", x.Dims, typeName(x.Type), err)
	}
	extra, err := io.Copy(io.Discard, io.LimitReader(r, maxTrailingScan))
	if err != nil {
		return nil, fmt.Errorf("after the data: %w", err)
	}
	if extra > 0 {
		more := ""
		if extra == maxTrailingScan {
			more = " or more"
		}
		return nil, fmt.Errorf("trailing garbage: %d%s bytes after the %d data bytes of dims %v", extra, more, want, x.Dims)
	}
	return x, nil
}

// readN reads exactly n bytes from r. Its buffer starts at most
// initialReadBytes large and doubles as data arrives, so a short stream
// costs memory in proportion to what it holds, not to n.
func readN(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, 0, min(n, initialReadBytes))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(len(buf), n-len(buf)))
		}
		end := min(cap(buf), n)
		got, err := io.ReadFull(r, buf[len(buf):end])
		buf = buf[:len(buf)+got]
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("truncated data: expected %d bytes, %d present", n, len(buf))
		}
		if err != nil {
			return nil, fmt.Errorf("reading data after %d of %d bytes: %w", len(buf), n, err)
		}
	}
	return buf, nil
}

// WriteIDX writes x to w as an uncompressed IDX file. It fails if the type
// code is unknown, the rank is 0 or above MaxIDXRank, a dimension does not
// fit in 32 bits, or len(x.Data) does not match the dimensions.
func WriteIDX(w io.Writer, x *IDX) error {
	elem := typeSize(x.Type)
	if elem == 0 {
		return fmt.Errorf("data: WriteIDX: unknown element type code 0x%02x", x.Type)
	}
	for _, d := range x.Dims {
		if uint64(d) > math.MaxUint32 {
			return fmt.Errorf("data: WriteIDX: dimension %d of dims %v does not fit in 32 bits", d, x.Dims)
		}
	}
	want, err := dataBytes(x.Dims, elem)
	if err != nil {
		return fmt.Errorf("data: WriteIDX: %w", err)
	}
	if len(x.Data) != want {
		return fmt.Errorf("data: WriteIDX: dims %v of %s need %d data bytes, got %d", x.Dims, typeName(x.Type), want, len(x.Data))
	}
	hdr := make([]byte, 4+4*len(x.Dims))
	hdr[2], hdr[3] = x.Type, byte(len(x.Dims))
	for i, d := range x.Dims {
		binary.BigEndian.PutUint32(hdr[4+4*i:], uint32(d))
	}
	if _, err := w.Write(hdr); err != nil {
		return fmt.Errorf("data: WriteIDX: header: %w", err)
	}
	if _, err := w.Write(x.Data); err != nil {
		return fmt.Errorf("data: WriteIDX: data: %w", err)
	}
	return nil
}
