package safetensors

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// iota32 returns n float32 values with fractional parts, so F16 and BF16
// round some of them.
func iota32(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i)*1.37 - 5.5
	}
	return v
}

func TestRoundTrip(t *testing.T) {
	shapes := [][]int{{}, {0}, {1}, {7}, {3, 5}, {2, 0, 3}, {1, 3, 1, 5}, {0, 0}}
	special := []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.Copysign(0, -1)), 1.0 / (1 << 24), 65504, 1 << 20}
	for _, dtype := range []DType{F32, F16, BF16, I32} {
		t.Run(string(dtype), func(t *testing.T) {
			var tensors []Tensor
			want := map[string]any{}
			for i, shape := range shapes {
				n := 1
				for _, d := range shape {
					n *= d
				}
				name := string(dtype) + "/" + string(rune('a'+i))
				if dtype == I32 {
					v := make([]int32, n)
					for j := range v {
						v[j] = int32(j*7919) - 20000
					}
					tensors = append(tensors, Int32Tensor(name, shape, v))
					want[name] = v
					continue
				}
				v := iota32(n)
				copy(v, special)
				tn, err := Float32Tensor(name, shape, v, dtype)
				require.NoError(t, err)
				tensors = append(tensors, tn)
				// What the dtype can hold: encode/decode each value alone.
				exp := make([]float32, n)
				for j, x := range v {
					switch dtype {
					case F16:
						exp[j] = f16ToF32(f32ToF16(x))
					case BF16:
						exp[j] = bf16ToF32(f32ToBF16(x))
					default:
						exp[j] = x
					}
				}
				want[name] = exp
			}
			var buf bytes.Buffer
			require.NoError(t, Write(&buf, tensors, map[string]string{"dtype": string(dtype)}))
			n := int(buf.Bytes()[0]) | int(buf.Bytes()[1])<<8
			require.Zero(t, n%8, "header padded to a multiple of 8")
			total := 8 + n
			for _, tn := range tensors {
				total += len(tn.Data)
			}
			require.Equal(t, total, buf.Len(), "data packed without gaps")
			f, err := readBytes(buf.Bytes())
			require.NoError(t, err)
			assert.Equal(t, map[string]string{"dtype": string(dtype)}, f.Metadata)
			require.Len(t, f.Tensors, len(shapes))
			for i, shape := range shapes {
				name := string(dtype) + "/" + string(rune('a'+i))
				tn, ok := f.Get(name)
				require.True(t, ok, name)
				assert.Equal(t, shape, tn.Shape, name)
				assert.Equal(t, dtype, tn.DType, name)
				if dtype == I32 {
					got, err := tn.Int32()
					require.NoError(t, err)
					assert.Equal(t, want[name], got, name)
					continue
				}
				got, err := tn.Float32()
				require.NoError(t, err)
				assert.Equal(t, want[name], got, name)
				if len(shape) == 0 {
					assert.Equal(t, uint32(0x7f800000), math.Float32bits(got[0]), "scalar holds +inf")
				}
			}
			if dtype == F16 {
				tn, _ := f.Get("F16/e") // shape [3 5]: the specials plus rounded values
				got, _ := tn.Float32()
				assert.Equal(t, uint32(0x80000000), math.Float32bits(got[2]), "-0 kept")
				assert.Equal(t, float32(1.0/(1<<24)), got[3], "subnormal kept")
				assert.Equal(t, float32(math.Inf(1)), got[5], "2^20 overflows to inf")
			}
		})
	}
}

func TestWriteOrderAndAlignment(t *testing.T) {
	tensors := []Tensor{
		{Name: "u8", DType: U8, Shape: []int{3}, Data: []byte{1, 2, 3}},
		{Name: "b", DType: Bool, Shape: []int{1}, Data: []byte{1}},
		{Name: "h", DType: F16, Shape: []int{1}, Data: []byte{0, 0x3c}},
		{Name: "bf", DType: BF16, Shape: []int{1}, Data: []byte{0x80, 0x3f}},
		{Name: "i", DType: I32, Shape: []int{1}, Data: []byte{1, 0, 0, 0}},
		{Name: "f2", DType: F32, Shape: []int{1}, Data: []byte{0, 0, 0x80, 0x3f}},
		{Name: "f1", DType: F32, Shape: []int{}, Data: []byte{0, 0, 0, 0x40}},
		{Name: "l", DType: I64, Shape: []int{1}, Data: []byte{9, 0, 0, 0, 0, 0, 0, 0}},
		{Name: "d", DType: F64, Shape: []int{1}, Data: make([]byte, 8)},
		{Name: "s", DType: I16, Shape: []int{1}, Data: []byte{5, 0}},
	}
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, tensors, nil))
	f, err := readBytes(buf.Bytes())
	require.NoError(t, err)
	var names []string
	headerLen := 8 + int(buf.Bytes()[0]) + int(buf.Bytes()[1])<<8
	for _, tn := range f.Tensors {
		names = append(names, tn.Name)
	}
	assert.Equal(t, []string{"l", "d", "f1", "f2", "i", "bf", "h", "s", "u8", "b"}, names)

	// Every tensor starts at a file offset aligned to its element size.
	var again bytes.Buffer
	require.NoError(t, Write(&again, f.Tensors, nil))
	assert.Equal(t, buf.Bytes(), again.Bytes(), "deterministic")
	fileOff := headerLen
	require.Zero(t, fileOff%8)
	for _, tn := range f.Tensors {
		assert.Zerof(t, fileOff%tn.DType.Size(), "tensor %s at file offset %d", tn.Name, fileOff)
		assert.Equal(t, tn.Data, buf.Bytes()[fileOff:fileOff+len(tn.Data)], tn.Name)
		fileOff += len(tn.Data)
	}
	assert.Equal(t, buf.Len(), fileOff)
}

func TestWriteEscapesLikeSerdeJSON(t *testing.T) {
	name := "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f<&>\u2028é"
	tensors := []Tensor{{Name: name, DType: U8, Shape: []int{0}, Data: []byte{}}}
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, tensors, map[string]string{"k\x00": "v\u2029"}))
	want := `{"__metadata__":{"k\u0000":"v` + "\u2029" + `"},` +
		`"q\"b\\s/\b\f\n\r\t\u0001\u001f` + "\x7f<&>\u2028é" + `":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}`
	assert.Equal(t, build(want, nil), buf.Bytes())
	f, err := readBytes(buf.Bytes())
	require.NoError(t, err)
	assert.Equal(t, name, f.Tensors[0].Name)
	assert.Equal(t, map[string]string{"k\x00": "v\u2029"}, f.Metadata)
}

func TestWriteValidation(t *testing.T) {
	ok := Tensor{Name: "ok", DType: F32, Shape: []int{1}, Data: make([]byte, 4)}
	tests := []struct {
		name     string
		tensors  []Tensor
		metadata map[string]string
		wantErr  string
	}{
		{"unknown dtype", []Tensor{{Name: "w", DType: "F17", Shape: []int{1}, Data: []byte{0}}}, nil, `tensor "w": unknown dtype "F17"`},
		{"empty dtype", []Tensor{{Name: "w", Shape: []int{}, Data: []byte{0}}}, nil, `tensor "w": unknown dtype ""`},
		{"short data", []Tensor{ok, {Name: "w", DType: F16, Shape: []int{2, 2}, Data: make([]byte, 6)}}, nil, `tensor "w": shape [2 2] of F16 needs 8 bytes, have 6`},
		{"Int32Tensor count mismatch", []Tensor{Int32Tensor("ids", []int{3}, []int32{1, 2})}, nil, `tensor "ids": shape [3] of I32 needs 12 bytes, have 8`},
		{"negative dim", []Tensor{{Name: "w", DType: F32, Shape: []int{-1}}}, nil, `tensor "w": shape entry -1 is negative`},
		{"overflowing shape", []Tensor{{Name: "w", DType: F32, Shape: []int{1 << 62, 4}}}, nil, `tensor "w": shape [4611686018427387904 4]: element count overflows`},
		{"duplicate", []Tensor{ok, ok}, nil, `tensor "ok": duplicate tensor name`},
		{"empty name", []Tensor{{DType: F32, Shape: []int{0}}}, nil, "empty tensor name"},
		{"reserved name", []Tensor{{Name: "__metadata__", DType: F32, Shape: []int{0}}}, nil, `tensor "__metadata__": name is reserved for metadata`},
		{"invalid UTF-8 name", []Tensor{{Name: "w\xff", DType: F32, Shape: []int{0}}}, nil, "name is not valid UTF-8"},
		{"invalid UTF-8 metadata key", []Tensor{ok}, map[string]string{"\xff": "v"}, "__metadata__ key \"\\xff\": not valid UTF-8"},
		{"invalid UTF-8 metadata value", []Tensor{ok}, map[string]string{"k": "\xff"}, `__metadata__ key "k": value is not valid UTF-8`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Write(&buf, tt.tensors, tt.metadata)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "safetensors: ")
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Zero(t, buf.Len(), "nothing written on invalid input")
		})
	}
}

// failWriter fails after accepting limit bytes.
type failWriter struct{ limit int }

var errDiskFull = errors.New("disk full")

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.limit {
		n := w.limit
		w.limit = 0
		return n, errDiskFull
	}
	w.limit -= len(p)
	return len(p), nil
}

func TestWriteWriterErrors(t *testing.T) {
	a32, err := Float32Tensor("a", []int{2}, []float32{1, 2}, F32)
	require.NoError(t, err)
	var ok bytes.Buffer
	require.NoError(t, Write(&ok, []Tensor{a32}, nil))
	dataStart := ok.Len() - 8
	tests := []struct {
		limit   int
		wantErr string
	}{
		{0, "write header: disk full"},
		{8, "write header: disk full"},
		{dataStart, `write tensor "a": disk full`},
		{dataStart + 7, `write tensor "a": disk full`},
	}
	for _, tt := range tests {
		err := Write(&failWriter{limit: tt.limit}, []Tensor{a32}, nil)
		require.ErrorIs(t, err, errDiskFull)
		assert.ErrorContains(t, err, tt.wantErr)
	}
}

// dirEntries lists the names in dir.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFile(t *testing.T) {
	old, err := Float32Tensor("w", []int{2}, []float32{1, 2}, F32)
	require.NoError(t, err)
	updated, err := Float32Tensor("w", []int{3}, []float32{3, 4, 5}, BF16)
	require.NoError(t, err)

	t.Run("create, then replace", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "model.safetensors")
		require.NoError(t, WriteFile(path, []Tensor{old}, map[string]string{"v": "1"}))
		assert.Equal(t, []string{"model.safetensors"}, dirEntries(t, dir), "no temp files left")
		st, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o644), st.Mode().Perm())

		require.NoError(t, os.Chmod(path, 0o600))
		require.NoError(t, WriteFile(path, []Tensor{updated}, map[string]string{"v": "2"}))
		assert.Equal(t, []string{"model.safetensors"}, dirEntries(t, dir), "no temp files left")
		st, err = os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "permissions of the replaced file kept")

		f, err := ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"v": "2"}, f.Metadata)
		v, err := f.Tensors[0].Float32()
		require.NoError(t, err)
		assert.Equal(t, []float32{3, 4, 5}, v)

		var want bytes.Buffer
		require.NoError(t, Write(&want, []Tensor{updated}, map[string]string{"v": "2"}))
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, want.Bytes(), got, "same bytes as Write")
	})

	t.Run("relative path", func(t *testing.T) {
		dir := t.TempDir()
		t.Chdir(dir)
		require.NoError(t, WriteFile("rel.safetensors", []Tensor{old}, nil))
		assert.Equal(t, []string{"rel.safetensors"}, dirEntries(t, "."))
	})

	failures := []struct {
		name    string
		setup   func(t *testing.T, dir string) string // returns the path to write
		tensors []Tensor
		wantErr string
	}{
		{
			name: "invalid tensor",
			setup: func(t *testing.T, dir string) string {
				return filepath.Join(dir, "model.safetensors")
			},
			tensors: []Tensor{{Name: "w", DType: F32, Shape: []int{2}, Data: make([]byte, 3)}},
			wantErr: `tensor "w": shape [2] of F32 needs 8 bytes, have 3`,
		},
		{
			// The temp file is written in full, then the rename fails:
			// a non-empty directory cannot be replaced by a file.
			name: "rename fails after writing",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "occupied")
				require.NoError(t, os.MkdirAll(filepath.Join(p, "child"), 0o755))
				return p
			},
			tensors: []Tensor{updated},
			wantErr: "occupied",
		},
		{
			name: "read-only directory",
			setup: func(t *testing.T, dir string) string {
				if os.Geteuid() == 0 {
					t.Skip("root ignores directory permissions")
				}
				ro := filepath.Join(dir, "ro")
				require.NoError(t, os.Mkdir(ro, 0o755))
				p := filepath.Join(ro, "model.safetensors")
				require.NoError(t, WriteFile(p, []Tensor{old}, nil))
				require.NoError(t, os.Chmod(ro, 0o555))
				t.Cleanup(func() { _ = os.Chmod(ro, 0o755) })
				return p
			},
			tensors: []Tensor{updated},
			wantErr: "permission denied",
		},
		{
			name: "missing directory",
			setup: func(t *testing.T, dir string) string {
				return filepath.Join(dir, "no", "such", "dir", "model.safetensors")
			},
			tensors: []Tensor{updated},
			wantErr: "no such file or directory",
		},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			existing := filepath.Join(dir, "model.safetensors")
			require.NoError(t, WriteFile(existing, []Tensor{old}, nil))
			before, err := os.ReadFile(existing)
			require.NoError(t, err)
			entriesBefore := dirEntries(t, dir)

			path := tt.setup(t, dir)
			entriesSetup := dirEntries(t, dir)
			pathBefore, pathErr := os.ReadFile(path)
			err = WriteFile(path, tt.tensors, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "safetensors: write "+path+": ")
			assert.Contains(t, err.Error(), tt.wantErr)

			after, err := os.ReadFile(existing)
			require.NoError(t, err)
			assert.Equal(t, before, after, "old contents intact")
			if pathErr == nil {
				pathAfter, err := os.ReadFile(path)
				require.NoError(t, err)
				assert.Equal(t, pathBefore, pathAfter, "old contents of the target intact")
			}
			assert.Equal(t, entriesSetup, dirEntries(t, dir), "no temp files left")
			assert.Subset(t, dirEntries(t, dir), entriesBefore)
		})
	}
}
