package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawIDX builds IDX bytes by hand, without WriteIDX's checks, so tests can
// also craft broken files.
func rawIDX(typ byte, dims []uint32, data []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, typ, byte(len(dims))})
	for _, d := range dims {
		_ = binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(data)
	return b.Bytes()
}

// gzipped compresses b.
func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// be encodes values big-endian.
func be(vals ...any) []byte {
	var b bytes.Buffer
	for _, v := range vals {
		_ = binary.Write(&b, binary.BigEndian, v)
	}
	return b.Bytes()
}

func TestReadIDXRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		idx  IDX
		want []float32
	}{
		{"uint8 3d", IDX{Type: TypeUint8, Dims: []int{2, 2, 3}, Data: []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255}},
			[]float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255}},
		{"int8", IDX{Type: TypeInt8, Dims: []int{3}, Data: []byte{0x80, 0xff, 0x7f}},
			[]float32{-128, -1, 127}},
		{"int16", IDX{Type: TypeInt16, Dims: []int{1, 3}, Data: be(int16(-32768), int16(-2), int16(300))},
			[]float32{-32768, -2, 300}},
		{"int32", IDX{Type: TypeInt32, Dims: []int{2}, Data: be(int32(-70000), int32(1<<24))},
			[]float32{-70000, 1 << 24}},
		{"float32", IDX{Type: TypeFloat32, Dims: []int{2, 1}, Data: be(float32(1.5), float32(-0.25))},
			[]float32{1.5, -0.25}},
		{"float64", IDX{Type: TypeFloat64, Dims: []int{2}, Data: be(3.25, -1e10)},
			[]float32{3.25, -1e10}},
		{"empty dimension", IDX{Type: TypeUint8, Dims: []int{0, 28, 28}, Data: []byte{}},
			[]float32{}},
	}
	for _, tt := range tests {
		for _, compress := range []bool{false, true} {
			name := tt.name
			if compress {
				name += " gzip"
			}
			t.Run(name, func(t *testing.T) {
				var buf bytes.Buffer
				require.NoError(t, WriteIDX(&buf, &tt.idx))
				in := buf.Bytes()
				if compress {
					in = gzipped(t, in)
				}
				got, err := ReadIDX(bytes.NewReader(in))
				require.NoError(t, err)
				assert.Equal(t, tt.idx.Type, got.Type)
				assert.Equal(t, tt.idx.Dims, got.Dims)
				assert.Equal(t, tt.idx.Data, got.Data)
				assert.Equal(t, len(tt.want), got.Len())
				assert.Equal(t, tt.want, got.Float32s())
				for i, w := range tt.want {
					assert.Equal(t, w, got.Float32At(i))
				}
			})
		}
	}
}

func TestReadIDXErrors(t *testing.T) {
	valid := rawIDX(TypeUint8, []uint32{2, 3}, []byte{1, 2, 3, 4, 5, 6})
	tests := []struct {
		name    string
		in      []byte
		wantErr []string // substrings the error must contain
	}{
		{"empty input", nil, []string{"truncated magic number", "0 of 4"}},
		{"short magic", []byte{0, 0, 8}, []string{"truncated magic number", "3 of 4"}},
		{"bad magic", append([]byte{1, 0}, valid[2:]...), []string{"bad magic number", "01 00 08 02"}},
		{"bad magic second byte", append([]byte{0, 7}, valid[2:]...), []string{"bad magic number"}},
		{"unknown type", rawIDX(0x0A, []uint32{1}, []byte{1}), []string{"unknown element type code 0x0a"}},
		{"unknown type 0x0f", rawIDX(0x0F, []uint32{1}, []byte{1}), []string{"unknown element type code 0x0f"}},
		{"rank 0", []byte{0, 0, 8, 0}, []string{"rank 0"}},
		{"rank too large", rawIDX(TypeUint8, make([]uint32, 17), nil), []string{"rank 17 exceeds the maximum 16"}},
		{"truncated header", []byte{0, 0, 8, 3, 0, 0, 0, 2, 0, 0}, []string{"truncated header", "need 12 bytes, got 6"}},
		{"absurd dims", rawIDX(TypeUint8, []uint32{math.MaxUint32, math.MaxUint32, math.MaxUint32}, nil),
			[]string{"dimension 4294967295 outside [0, 536870912]"}},
		{"absurd dim beside a zero", rawIDX(TypeUint8, []uint32{0, math.MaxUint32}, nil), []string{"dimension 4294967295 outside"}},
		{"product over the limit", rawIDX(TypeUint8, []uint32{1 << 20, 1 << 20}, nil), []string{"dims [1048576 1048576] of 1-byte elements exceed the 536870912-byte limit"}},
		{"dims over the limit", rawIDX(TypeFloat64, []uint32{1 << 20, 1 << 7}, nil), []string{"exceed the", "limit"}},
		{"truncated data", valid[:len(valid)-2], []string{"truncated data", "expected 6 bytes, 4 present", "dims [2 3] of uint8"}},
		{"no data", valid[:12], []string{"truncated data", "expected 6 bytes, 0 present"}},
		{"truncated int32 data", rawIDX(TypeInt32, []uint32{3}, make([]byte, 10)), []string{"expected 12 bytes, 10 present", "int32"}},
		{"trailing garbage", append(append([]byte{}, valid...), 9, 9, 9), []string{"trailing garbage", "3 bytes after the 6 data bytes"}},
		{"trailing garbage in gzip", gzipped(t, append(append([]byte{}, valid...), 0)), []string{"(gzip)", "trailing garbage", "1 bytes"}},
		{"truncated data in gzip", gzipped(t, valid[:14]), []string{"(gzip)", "truncated data", "expected 6 bytes, 2 present"}},
		{"truncated gzip stream", gzipped(t, valid)[:15], []string{"(gzip)"}},
		{"garbage after gzip stream", append(gzipped(t, valid), 'x', 'y', 'z'), []string{"(gzip)", "after the data"}},
		{"gzip bad header", []byte{0x1f, 0x8b, 0, 0}, []string{"gzip header"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadIDX(bytes.NewReader(tt.in))
			require.Error(t, err)
			assert.Nil(t, got)
			assert.Contains(t, err.Error(), "data: IDX")
			for _, s := range tt.wantErr {
				assert.Contains(t, err.Error(), s)
			}
		})
	}
}

func TestReadIDXGzipChecksum(t *testing.T) {
	z := gzipped(t, rawIDX(TypeUint8, []uint32{4}, []byte{1, 2, 3, 4}))
	z[len(z)-8] ^= 0xff // corrupt the CRC-32 in the gzip trailer
	_, err := ReadIDX(bytes.NewReader(z))
	require.Error(t, err)
	assert.ErrorIs(t, err, gzip.ErrChecksum)
}

// errReader fails after handing out its prefix.
type errReader struct {
	prefix []byte
	err    error
}

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.prefix) == 0 {
		return 0, r.err
	}
	n := copy(p, r.prefix)
	r.prefix = r.prefix[n:]
	return n, nil
}

func TestReadIDXReaderError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := &errReader{prefix: rawIDX(TypeUint8, []uint32{10}, []byte{1, 2, 3}), err: boom}
	_, err := ReadIDX(r)
	require.ErrorIs(t, err, boom)
	assert.Contains(t, err.Error(), "after 3 of 10 bytes")
}

// TestReadIDXAllocationBounded checks that a header promising hundreds of
// megabytes, followed by almost nothing, is rejected without allocating
// what the header promises.
func TestReadIDXAllocationBounded(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"plain", rawIDX(TypeUint8, []uint32{500, 1000, 1000}, []byte{1, 2, 3})},
		{"gzip", gzipped(t, rawIDX(TypeFloat32, []uint32{100, 1000, 1000}, []byte{1, 2, 3}))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := ReadIDX(bytes.NewReader(tt.in))
			runtime.ReadMemStats(&after)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "truncated data")
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<20), "bytes allocated")
		})
	}
}

func TestReadIDXLargeGrowth(t *testing.T) {
	// A data section larger than the initial buffer exercises growth.
	data := make([]byte, initialReadBytes+12345)
	for i := range data {
		data[i] = byte(i * 7)
	}
	in := rawIDX(TypeUint8, []uint32{uint32(len(data))}, data)
	got, err := ReadIDX(io.MultiReader(bytes.NewReader(in[:100]), bytes.NewReader(in[100:])))
	require.NoError(t, err)
	assert.Equal(t, []int{len(data)}, got.Dims)
	assert.True(t, bytes.Equal(data, got.Data))
}

func TestWriteIDXErrors(t *testing.T) {
	tests := []struct {
		name    string
		idx     IDX
		wantErr string
	}{
		{"unknown type", IDX{Type: 0x01, Dims: []int{1}, Data: []byte{0}}, "unknown element type code 0x01"},
		{"rank 0", IDX{Type: TypeUint8}, "rank 0"},
		{"data too short", IDX{Type: TypeInt16, Dims: []int{2}, Data: []byte{0, 1, 2}}, "need 4 data bytes, got 3"},
		{"data too long", IDX{Type: TypeUint8, Dims: []int{2}, Data: []byte{0, 1, 2}}, "need 2 data bytes, got 3"},
		{"negative dim", IDX{Type: TypeUint8, Dims: []int{-1}}, "does not fit in 32 bits"},
		{"dims over the limit", IDX{Type: TypeUint8, Dims: []int{1 << 20, 1 << 20}}, "exceed the"},
		{"huge dim", IDX{Type: TypeUint8, Dims: []int{1 << 33}}, "does not fit in 32 bits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := WriteIDX(io.Discard, &tt.idx)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "data: WriteIDX")
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}
