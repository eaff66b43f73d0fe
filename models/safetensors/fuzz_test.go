package safetensors

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fuzzSeeds returns valid files and corruptions of them.
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	add := func(header string, data []byte) { seeds = append(seeds, build(header, data)) }

	add(`{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"I32","shape":[4],"data_offsets":[24,40]}}`,
		append(make([]byte, 24), leBytes(4, 0, 1, 2, 3)...))
	add(`{"__metadata__":{"format":"pt","x":"\u00e9\n"},"s":{"dtype":"F16","shape":[],"data_offsets":[0,2]}}`, []byte{0, 0x3c})
	add(`{}`, nil)
	add(`{"__metadata__":null}`, nil)
	add(`{"b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"z":{"dtype":"F32","shape":[0,5],"data_offsets":[12,12],"extra":{"x":[1]}},`+
		`"a":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]},"y":{"dtype":"I64","shape":[3,0],"data_offsets":[0,0]}}`,
		[]byte{7, 8, 0, 0, 0, 0, 0, 0, 0x80, 0x3f, 0, 0xc0, 1})
	// A zero-size tensor past the last byte of data (once an out-of-range
	// slice in Read, caught by TestReadAcceptsAnyOrderGapsAndZeroSize).
	add(`{"e":{"dtype":"F16","shape":[0],"data_offsets":[3,3]},"b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, []byte{1, 2, 3, 4})
	add(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12))
	add(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}}`, make([]byte, 8))
	add(`{"a":{"dtype":"F32","shape":[4611686018427387904,4,0],"data_offsets":[0,0]}}`, nil)
	add(`{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"a":{}}`, make([]byte, 8))
	add(`{"__metadata__":{"k":1}}`, nil)

	var buf bytes.Buffer
	tensors := []Tensor{Int32Tensor("ids", []int{3}, []int32{1, -2, 3})}
	for _, as := range []DType{F32, F16, BF16} {
		tn, _ := Float32Tensor("w"+string(as), []int{2, 2}, []float32{1, -0.5, 65504, 1e-8}, as)
		tensors = append(tensors, tn)
	}
	if err := Write(&buf, tensors, map[string]string{"k": "v"}); err == nil {
		valid := buf.Bytes()
		seeds = append(seeds, valid, valid[:len(valid)-1], valid[:7], valid[:20])
		flipped := slices.Clone(valid)
		flipped[0] ^= 0x40
		seeds = append(seeds, flipped)
	}
	seeds = append(seeds, buildRaw(1<<62, []byte("{}"), nil), buildRaw(8, []byte("{}\x00\x00\x00\x00\x00\x00"), nil))
	return seeds
}

// sortedByName returns a copy of tensors sorted by name.
func sortedByName(tensors []Tensor) []Tensor {
	out := slices.Clone(tensors)
	slices.SortFunc(out, func(a, b Tensor) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// FuzzRead checks that Read never panics, that it rejects with a
// *FormatError, and that whatever it accepts survives Write and Read
// unchanged, with Write's output a fixed point.
func FuzzRead(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := readBytes(data)
		if err != nil {
			require.Nil(t, file)
			var fe *FormatError
			require.True(t, errors.As(err, &fe), "in-memory reads fail only on content: %v", err)
			return
		}
		var total int
		for i := range file.Tensors {
			tn := &file.Tensors[i]
			require.Equal(t, len(tn.Data), cap(tn.Data), "Data capped")
			total += len(tn.Data)
			// Conversions may refuse a dtype but must not panic.
			_, _ = tn.Float32()
			_, _ = tn.Int32()
		}
		require.LessOrEqual(t, total, len(data))

		var out bytes.Buffer
		require.NoError(t, Write(&out, file.Tensors, file.Metadata))
		again, err := readBytes(out.Bytes())
		require.NoError(t, err, "re-reading what Write wrote")
		require.Equal(t, file.Metadata, again.Metadata)
		require.Equal(t, sortedByName(file.Tensors), sortedByName(again.Tensors))

		var out2 bytes.Buffer
		require.NoError(t, Write(&out2, again.Tensors, again.Metadata))
		require.Equal(t, out.Bytes(), out2.Bytes(), "Write is deterministic")
	})
}
