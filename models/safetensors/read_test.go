package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// build assembles a file from a header, padded with spaces to a multiple of
// 8 bytes as the reference library pads it, and a data section.
func build(header string, data []byte) []byte {
	for len(header)%8 != 0 {
		header += " "
	}
	return buildRaw(uint64(len(header)), []byte(header), data)
}

// buildRaw assembles a file with an arbitrary header length prefix.
func buildRaw(n uint64, header, data []byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, n)
	out = append(out, header...)
	return append(out, data...)
}

// readBytes calls Read on an in-memory file.
func readBytes(b []byte) (*File, error) {
	return Read(bytes.NewReader(b), int64(len(b)))
}

// pythonFixture is what safetensors.torch.save_file({"a": torch.zeros(2, 3),
// "b": torch.arange(4, dtype=torch.int32)}) writes: the F32 tensor first
// (the reference orders by descending dtype alignment, then name), header
// padded with spaces to a multiple of 8.
func pythonFixture(t *testing.T) []byte {
	t.Helper()
	header := `{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"I32","shape":[4],"data_offsets":[24,40]}}`
	require.Len(t, header, 112, "already a multiple of 8: no padding")
	data := make([]byte, 24)
	data = append(data, leBytes(4, 0, 1, 2, 3)...)
	out := buildRaw(112, []byte(header), data)
	require.Len(t, out, 8+112+40)
	return out
}

func TestReadPythonFixture(t *testing.T) {
	fixture := pythonFixture(t)
	f, err := readBytes(fixture)
	require.NoError(t, err)
	assert.Nil(t, f.Metadata)
	require.Len(t, f.Tensors, 2)
	assert.Equal(t, Tensor{Name: "a", DType: F32, Shape: []int{2, 3}, Data: make([]byte, 24)}, f.Tensors[0])
	assert.Equal(t, Tensor{Name: "b", DType: I32, Shape: []int{4}, Data: leBytes(4, 0, 1, 2, 3)}, f.Tensors[1])

	a, ok := f.Get("a")
	require.True(t, ok)
	av, err := a.Float32()
	require.NoError(t, err)
	assert.Equal(t, make([]float32, 6), av)
	b, ok := f.Get("b")
	require.True(t, ok)
	bv, err := b.Int32()
	require.NoError(t, err)
	assert.Equal(t, []int32{0, 1, 2, 3}, bv)
	_, ok = f.Get("c")
	assert.False(t, ok)

	// Write produces the same bytes from the same tensors, whatever order
	// they are given in.
	a32, err := Float32Tensor("a", []int{2, 3}, make([]float32, 6), F32)
	require.NoError(t, err)
	b32 := Int32Tensor("b", []int{4}, []int32{0, 1, 2, 3})
	for _, order := range [][]Tensor{{a32, b32}, {b32, a32}, f.Tensors} {
		var buf bytes.Buffer
		require.NoError(t, Write(&buf, order, nil))
		assert.Equal(t, fixture, buf.Bytes())
	}
}

// TestReferenceVectors checks Read and Write against byte-exact outputs of
// the reference library (its own serialization tests and Python's
// save_file with metadata).
func TestReferenceVectors(t *testing.T) {
	f32s := leBytes(4, 0, 0x3f800000, 0x40000000, 0x40400000, 0x40800000, 0x40a00000) // 0..5
	tests := []struct {
		name     string
		header   string // unpadded
		data     []byte
		tensors  []Tensor
		metadata map[string]string
	}{
		{
			name:    "64-byte header needs no padding",
			header:  `{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}`,
			data:    f32s,
			tensors: []Tensor{{Name: "attn.0", DType: F32, Shape: []int{1, 2, 3}, Data: f32s}},
		},
		{
			name:    "header padded with 7 spaces",
			header:  `{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}`,
			data:    f32s,
			tensors: []Tensor{{Name: "attn0", DType: F32, Shape: []int{1, 1, 2, 3}, Data: f32s}},
		},
		{
			name:    "empty",
			header:  `{}`,
			tensors: []Tensor{},
		},
		{
			name:     "metadata only",
			header:   `{"__metadata__":{"framework":"pt"}}`,
			tensors:  []Tensor{},
			metadata: map[string]string{"framework": "pt"},
		},
		{
			name:   "metadata first, then tensors by descending alignment",
			header: `{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"I32","shape":[4],"data_offsets":[24,40]}}`,
			data:   append(make([]byte, 24), leBytes(4, 0, 1, 2, 3)...),
			tensors: []Tensor{
				{Name: "a", DType: F32, Shape: []int{2, 3}, Data: make([]byte, 24)},
				{Name: "b", DType: I32, Shape: []int{4}, Data: leBytes(4, 0, 1, 2, 3)},
			},
			metadata: map[string]string{"format": "pt"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := build(tt.header, tt.data)
			f, err := readBytes(want)
			require.NoError(t, err)
			assert.Equal(t, tt.metadata, f.Metadata)
			if len(tt.tensors) == 0 {
				assert.Empty(t, f.Tensors)
			} else {
				assert.Equal(t, tt.tensors, f.Tensors)
			}
			var buf bytes.Buffer
			require.NoError(t, Write(&buf, tt.tensors, tt.metadata))
			assert.Equal(t, want, buf.Bytes())
		})
	}
}

func TestReadAcceptsAnyOrderGapsAndZeroSize(t *testing.T) {
	// b's entry comes first and its data first; a follows after a gap;
	// zero-size tensors sit at the start, inside a's span and at the end;
	// there are trailing bytes; an unknown field is ignored; the header
	// is padded with newlines rather than spaces.
	header := `{"b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},` +
		`"z":{"dtype":"F32","shape":[0,5],"data_offsets":[12,12],"extra":{"x":[1,2]}},` +
		`"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},` +
		`"y":{"dtype":"I64","shape":[3,0],"data_offsets":[0,0]},` +
		`"e":{"dtype":"F16","shape":[0],"data_offsets":[20,20]},` +
		`"__metadata__":{"k":"v","":"\u00e9\n"}}` + "\n\n\n"
	data := []byte{7, 8, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee}
	data = append(data, leBytes(4, 0x3f800000, 0x40000000)...)
	data = append(data, 0xee, 0xee, 0xee, 0xee, 0xee)
	f, err := readBytes(build(header, data))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"k": "v", "": "é\n"}, f.Metadata)
	var names []string
	for _, tn := range f.Tensors {
		names = append(names, tn.Name)
	}
	assert.Equal(t, []string{"y", "b", "a", "z", "e"}, names, "file order: by offset, then end, then name")
	a, _ := f.Get("a")
	av, err := a.Float32()
	require.NoError(t, err)
	assert.Equal(t, []float32{1, 2}, av)
	z, _ := f.Get("z")
	assert.Equal(t, []int{0, 5}, z.Shape)
	assert.Empty(t, z.Data)
	zv, err := z.Float32()
	require.NoError(t, err)
	assert.Empty(t, zv)

	// Data slices are capped: appending to one cannot clobber another.
	b, _ := f.Get("b")
	b.Data = append(b.Data, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55)
	av, err = a.Float32()
	require.NoError(t, err)
	assert.Equal(t, []float32{1, 2}, av)
}

func TestReadValidation(t *testing.T) {
	tensorA := `"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}`
	data8 := make([]byte, 8)
	entry := func(dtype, shape, offsets string) []byte {
		return build(`{"w":{"dtype":`+dtype+`,"shape":`+shape+`,"data_offsets":`+offsets+`}}`, make([]byte, 16))
	}
	tests := []struct {
		name    string
		file    []byte
		tensor  string // the tensor the *FormatError must name, if any
		wantErr string
	}{
		{"empty file", nil, "", "file is 0 bytes, shorter than the 8-byte header length"},
		{"7 bytes", []byte{1, 2, 3, 4, 5, 6, 7}, "", "shorter than the 8-byte header length"},
		{"header length beyond file", buildRaw(100, []byte("{}      "), nil), "", "header length 100 is larger than the 8 bytes of the file after the length"},
		{"header length absurd", buildRaw(200_000_000, []byte("{}      "), nil), "", "header length 200000000 exceeds the 100000000-byte limit"},
		{"header length max uint64", buildRaw(math.MaxUint64, []byte("{}      "), nil), "", "exceeds the 100000000-byte limit"},
		{"header length zero", buildRaw(0, nil, nil), "", "header is not valid JSON"},
		{"header truncated JSON", build(`{"a":{"dtype":"F32"`, nil), "a", "invalid JSON"},
		{"header not JSON", build(`hello!!!`, nil), "", "header is not valid JSON"},
		{"header an array", build(`[]`, nil), "", "header is not a JSON object"},
		{"header a string", build(`"x"`, nil), "", "header is not a JSON object"},
		{"header two objects", build(`{}{}`, nil), "", "header has { after its JSON object"},
		{"header trailing garbage", build(`{} x`, nil), "", "header is not valid JSON"},
		{"header trailing NULs", buildRaw(8, []byte("{}\x00\x00\x00\x00\x00\x00"), nil), "", "header is not valid JSON"},
		{"header not UTF-8", build("{\"\xff\":1}", nil), "", "header is not valid UTF-8"},
		{"unknown dtype", entry(`"F17"`, `[2]`, `[0,8]`), "w", `unknown dtype "F17"`},
		{"sub-byte dtype unsupported", entry(`"F4"`, `[2]`, `[0,1]`), "w", `unknown dtype "F4"`},
		{"dtype not a string", entry(`4`, `[2]`, `[0,8]`), "w", "dtype 4 is not a string"},
		{"negative shape", entry(`"F32"`, `[-1,2]`, `[0,8]`), "w", "shape entry -1 is negative"},
		{"fractional shape", entry(`"F32"`, `[1.5]`, `[0,8]`), "w", "shape entry 1.5 is not an integer"},
		{"float-form shape", entry(`"F32"`, `[2.0]`, `[0,8]`), "w", "shape entry 2.0 is not an integer"},
		{"exponent shape", entry(`"F32"`, `[2e0]`, `[0,8]`), "w", "shape entry 2e0 is not an integer"},
		{"huge shape entry", entry(`"F32"`, `[99999999999999999999]`, `[0,8]`), "w", "shape entry 99999999999999999999 is too large"},
		{"string shape entry", entry(`"F32"`, `["2"]`, `[0,8]`), "w", `shape entry "2" is not a number`},
		{"nested shape entry", entry(`"F32"`, `[[2]]`, `[0,8]`), "w", "shape entry [ is not a number"},
		{"shape not an array", entry(`"F32"`, `2`, `[0,8]`), "w", "shape is not a JSON array"},
		{"element count overflow", entry(`"F32"`, `[4611686018427387904,4,0]`, `[0,0]`), "w", "element count overflows"},
		{"byte size overflow", entry(`"F32"`, `[4611686018427387904]`, `[0,8]`), "w", "byte size overflows"},
		{"one offset", entry(`"F32"`, `[2]`, `[8]`), "w", "data_offsets has 1 entries, want 2"},
		{"three offsets", entry(`"F32"`, `[2]`, `[0,8,16]`), "w", "data_offsets has 3 entries, want 2"},
		{"offsets not an array", entry(`"F32"`, `[2]`, `{"a":1}`), "w", "data_offsets is not a JSON array"},
		{"fractional offset", entry(`"F32"`, `[2]`, `[0,8.5]`), "w", "data_offsets entry 8.5 is not an integer"},
		{"negative offset", entry(`"F32"`, `[2]`, `[-8,0]`), "w", "data_offsets entry -8 is negative"},
		{"null offset", entry(`"F32"`, `[2]`, `[0,null]`), "w", "data_offsets entry null is not a number"},
		{"begin after end", entry(`"F32"`, `[2]`, `[8,4]`), "w", "data_offsets begin 8 is after end 4"},
		{"end beyond data", entry(`"F32"`, `[6]`, `[0,24]`), "w", "data_offsets end 24 is beyond the 16-byte data section"},
		{"huge end", entry(`"F32"`, `[2]`, `[0,9223372036854775807]`), "w", "beyond the 16-byte data section"},
		{"length mismatch", entry(`"F32"`, `[2,3]`, `[0,16]`), "w", "shape [2 3] of F32 needs 24 bytes but data_offsets [0,16] span 16"},
		{"scalar length mismatch", entry(`"I64"`, `[]`, `[0,4]`), "w", "shape [] of I64 needs 8 bytes but data_offsets [0,4] span 4"},
		{"truncated data", build(`{`+tensorA+`}`, data8[:5]), "a", "data_offsets end 8 is beyond the 5-byte data section"},
		{"overlap", build(`{`+tensorA+`,"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)), "b", `data_offsets [4,12] overlap those of tensor "a" [0,8]`},
		{"same span", build(`{`+tensorA+`,"b":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}`, data8), "b", `overlap those of tensor "a"`},
		{"overlap past a zero-size tensor", build(`{`+tensorA+`,"z":{"dtype":"F32","shape":[0],"data_offsets":[6,6]},"c":{"dtype":"U8","shape":[1],"data_offsets":[7,8]}}`, data8), "c", `overlap those of tensor "a"`},
		{"duplicate name", build(`{`+tensorA+`,`+tensorA+`}`, data8), "a", "duplicate tensor name"},
		{"duplicate name by escape", build(`{`+tensorA+`,"\u0061":{}}`, data8), "a", "duplicate tensor name"},
		{"duplicate field", build(`{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, data8), "a", `duplicate field "dtype"`},
		{"missing dtype", build(`{"a":{"shape":[2],"data_offsets":[0,8]}}`, data8), "a", "missing dtype"},
		{"missing shape", build(`{"a":{"dtype":"F32","data_offsets":[0,8]}}`, data8), "a", "missing shape"},
		{"missing offsets", build(`{"a":{"dtype":"F32","shape":[2]}}`, data8), "a", "missing data_offsets"},
		{"entry not an object", build(`{"a":[1]}`, nil), "a", "entry is not a JSON object"},
		{"entry null", build(`{"a":null}`, nil), "a", "entry is not a JSON object"},
		{"empty tensor name", build(`{"":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, data8), "", "empty tensor name"},
		{"bad JSON in ignored field", build(`{"a":{"extra":[1,}}`, nil), "a", `field "extra": invalid JSON`},
		{"metadata value a number", build(`{"__metadata__":{"k":1}}`, nil), "", `__metadata__ key "k": value is not a string`},
		{"metadata value an object", build(`{"__metadata__":{"k":{"x":"y"}}}`, nil), "", `__metadata__ key "k": value is not a string`},
		{"metadata not an object", build(`{"__metadata__":["k"]}`, nil), "", "__metadata__ is not a JSON object"},
		{"metadata duplicate key", build(`{"__metadata__":{"k":"1","k":"2"}}`, nil), "", `__metadata__: duplicate key "k"`},
		{"metadata twice", build(`{"__metadata__":{},"__metadata__":{}}`, nil), "", "duplicate __metadata__ key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := readBytes(tt.file)
			require.Error(t, err)
			t.Log(err)
			assert.Nil(t, f)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.True(t, strings.HasPrefix(err.Error(), "safetensors: "), err.Error())
			var fe *FormatError
			require.True(t, errors.As(err, &fe), "want a *FormatError, got %T: %v", err, err)
			assert.Equal(t, tt.tensor, fe.Tensor)
			if tt.tensor != "" {
				assert.Contains(t, err.Error(), `tensor "`+tt.tensor+`": `)
			}
		})
	}
}

func TestReadShortReader(t *testing.T) {
	fixture := pythonFixture(t)
	for _, n := range []int{4, 20, len(fixture) - 1} {
		// The reader holds less than the size the caller claims.
		_, err := Read(bytes.NewReader(fixture[:n]), int64(len(fixture)))
		require.Error(t, err, "reader of %d bytes", n)
		assert.Contains(t, err.Error(), "unexpected EOF")
		var fe *FormatError
		assert.False(t, errors.As(err, &fe), "an I/O error is not a format error")
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	require.NoError(t, os.WriteFile(good, pythonFixture(t), 0o644))
	f, err := ReadFile(good)
	require.NoError(t, err)
	require.Len(t, f.Tensors, 2)

	bad := filepath.Join(dir, "bad.safetensors")
	fixture := pythonFixture(t)
	require.NoError(t, os.WriteFile(bad, fixture[:len(fixture)-4], 0o644))
	tests := []struct {
		name    string
		path    string
		wantErr []string
	}{
		{"truncated", bad, []string{"safetensors: read " + bad + ": ", `tensor "b": data_offsets end 40 is beyond the 36-byte data section`}},
		{"missing", filepath.Join(dir, "nope"), []string{"nope", "no such file"}},
		{"directory", dir, []string{"read " + dir + ": not a regular file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadFile(tt.path)
			require.Error(t, err)
			for _, want := range tt.wantErr {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}
