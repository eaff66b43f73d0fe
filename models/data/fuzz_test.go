package data

import (
	"bytes"
	"testing"
)

// FuzzReadIDX feeds ReadIDX arbitrary bytes: it must never panic, and what
// it accepts must be self-consistent and survive a WriteIDX round trip.
//
//	go test -fuzz FuzzReadIDX -fuzztime 30s ./models/data/
func FuzzReadIDX(f *testing.F) {
	f.Add(rawIDX(TypeUint8, []uint32{2, 2, 2}, []byte{1, 2, 3, 4, 5, 6, 7, 8}))
	f.Add(rawIDX(TypeInt8, []uint32{3}, []byte{0x80, 0, 0x7f}))
	f.Add(rawIDX(TypeInt16, []uint32{2}, be(int16(-1), int16(2))))
	f.Add(rawIDX(TypeInt32, []uint32{1, 1}, be(int32(-5))))
	f.Add(rawIDX(TypeFloat32, []uint32{2}, be(float32(1.5), float32(-2))))
	f.Add(rawIDX(TypeFloat64, []uint32{1}, be(2.5)))
	f.Add(rawIDX(TypeUint8, []uint32{0, 5}, nil))
	f.Add(rawIDX(TypeUint8, []uint32{4000, 4000}, []byte{1}))
	f.Add(gzipped(f, rawIDX(TypeUint8, []uint32{3}, []byte{9, 8, 7})))
	f.Add([]byte{0, 0, 8, 0})
	f.Add([]byte{0x1f, 0x8b})
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, in []byte) {
		x, err := ReadIDX(bytes.NewReader(in))
		if err != nil {
			if x != nil {
				t.Fatalf("ReadIDX returned both %v and an error %v", x.Dims, err)
			}
			return
		}
		if len(x.Dims) == 0 || len(x.Dims) > MaxIDXRank {
			t.Fatalf("accepted rank %d", len(x.Dims))
		}
		if x.Len()*x.ElemSize() != len(x.Data) {
			t.Fatalf("dims %v of %d-byte elements but %d data bytes", x.Dims, x.ElemSize(), len(x.Data))
		}
		if len(x.Data) > MaxIDXDataBytes {
			t.Fatalf("accepted %d data bytes", len(x.Data))
		}
		if n := len(x.Float32s()); n != x.Len() {
			t.Fatalf("Float32s gave %d values for %d elements", n, x.Len())
		}
		var buf bytes.Buffer
		if err := WriteIDX(&buf, x); err != nil {
			t.Fatalf("WriteIDX of an accepted IDX: %v", err)
		}
		y, err := ReadIDX(&buf)
		if err != nil {
			t.Fatalf("re-reading a written IDX: %v", err)
		}
		if y.Type != x.Type || !bytes.Equal(y.Data, x.Data) || len(y.Dims) != len(x.Dims) {
			t.Fatalf("round trip changed the IDX: %v %v -> %v %v", x.Type, x.Dims, y.Type, y.Dims)
		}
		for i := range x.Dims {
			if x.Dims[i] != y.Dims[i] {
				t.Fatalf("round trip changed dims %v -> %v", x.Dims, y.Dims)
			}
		}
	})
}
