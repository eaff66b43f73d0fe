package torchfile

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// golden is a fixture's JSON: what Read must return.
type golden struct {
	Tensors []struct {
		Name   string    `json:"name"`
		DType  string    `json:"dtype"`
		Shape  []int     `json:"shape"`
		Values []float64 `json:"values"`
	} `json:"tensors"`
}

// checkGolden compares ts with testdata/name.json exactly.
func checkGolden(t *testing.T, name string, ts map[string]Tensor) {
	t.Helper()
	var want golden
	require.NoError(t, json.Unmarshal(readFixture(t, name+".json"), &want))
	var wantNames []string
	for _, w := range want.Tensors {
		wantNames = append(wantNames, w.Name)
	}
	var gotNames []string
	for n := range ts {
		gotNames = append(gotNames, n)
	}
	sort.Strings(gotNames)
	require.Equal(t, wantNames, gotNames)
	for _, w := range want.Tensors {
		got := ts[w.Name]
		assert.Equal(t, w.Name, got.Name, "Name field")
		assert.Equal(t, w.DType, got.DType, "%s dtype", w.Name)
		assert.Equal(t, w.Shape, got.Shape, "%s shape", w.Name)
		assert.Equal(t, w.Values, decode(t, got.DType, got.Data), "%s values", w.Name)
	}
}

func TestReadFixtures(t *testing.T) {
	tests := []struct {
		fixture string
		count   int
	}{
		{"zip_mixed", 19},
		{"legacy", 10},
		{"module_sd", 4},
		{"zip_proto4", 2},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			ts, err := ReadFile(filepath.Join("testdata", tt.fixture+".pt"))
			require.NoError(t, err)
			assert.Len(t, ts, tt.count)
			checkGolden(t, tt.fixture, ts)
		})
	}
}

func TestReadZipMixedDetails(t *testing.T) {
	ts, err := ReadFile(filepath.Join("testdata", "zip_mixed.pt"))
	require.NoError(t, err)

	// Skipped: numbers, strings, lists (with the tensor inside).
	for _, name := range []string{"epoch", "lr", "name", "sizes", "sizes.2"} {
		assert.NotContains(t, ts, name)
	}
	assert.Contains(t, ts, "state.0.step", "int keys are written in decimal")
	assert.Equal(t, []int{}, ts["model.scalar"].Shape)
	assert.Equal(t, []byte{}, ts["model.empty"].Data)

	// Tensors that shared a storage, or were one tensor under two names,
	// do not share Data.
	for _, pair := range [][2]string{
		{"model.shared_a", "model.shared_b"},
		{"model.encoder.conv.weight", "model.decoder_weight"},
	} {
		a, b := ts[pair[0]], ts[pair[1]]
		before := bytes.Clone(b.Data)
		for i := range a.Data {
			a.Data[i] ^= 0xff
		}
		assert.Equal(t, before, b.Data, "%s and %s share memory", pair[0], pair[1])
	}
}

func TestReadDeflatedZip(t *testing.T) {
	// torch.save stores records uncompressed; a re-zipped file still reads.
	src := readFixture(t, "zip_mixed.pt")
	ts, err := readBytes(rezip(t, src, zip.Deflate, nil))
	require.NoError(t, err)
	checkGolden(t, "zip_mixed", ts)
}

func TestReadBigEndianZip(t *testing.T) {
	pkl := newPickle().dict(
		entry{"w", func(p *pk) {
			p.tensor(tensorSpec{class: "FloatStorage", key: "0", numel: 2, size: []int{2}, stride: []int{1}})
		}},
		entry{"i", func(p *pk) {
			p.tensor(tensorSpec{class: "ShortStorage", key: "1", numel: 1, size: []int{}, stride: []int{}})
		}},
	).stop()
	be := make([]byte, 8)
	binary.BigEndian.PutUint32(be, 0x3fc00000) // 1.5
	binary.BigEndian.PutUint32(be[4:], 0xc0200000)
	file := zipFile(t, zip.Store,
		record{"archive/data.pkl", pkl},
		record{"archive/byteorder", []byte("big")},
		record{"archive/data/0", be},
		record{"archive/data/1", []byte{0xff, 0xfe}},
	)
	ts, err := readBytes(file)
	require.NoError(t, err)
	assert.Equal(t, []float64{1.5, -2.5}, decode(t, "F32", ts["w"].Data))
	assert.Equal(t, []float64{-2}, decode(t, "I16", ts["i"].Data))
	assert.Equal(t, "I16", ts["i"].DType)
}

func TestReadLegacyStorageView(t *testing.T) {
	// Old releases pickled storage views: (view_key, offset, size).
	obj := newPickle().dict(
		entry{"v", func(p *pk) {
			p.tensor(tensorSpec{class: "CharStorage", key: "k", numel: 6, legacy: true, view: []int{2, 3}, offset: 1, size: []int{2}, stride: []int{1}})
		}},
		entry{"all", func(p *pk) {
			p.tensor(tensorSpec{class: "CharStorage", key: "k", numel: 6, legacy: true, size: []int{2, 3}, stride: []int{3, 1}})
		}},
	).stop()
	file := legacyFile(obj, []string{"k"}, []int{6}, [][]byte{{0, 1, 2, 3, 0xfc, 5}})
	ts, err := readBytes(file)
	require.NoError(t, err)
	assert.Equal(t, []float64{3, -4}, decode(t, "I8", ts["v"].Data))
	assert.Equal(t, []float64{0, 1, 2, 3, -4, 5}, decode(t, "I8", ts["all"].Data))
}

func TestGather(t *testing.T) {
	src := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	tests := []struct {
		name          string
		shape, stride []int64
		want          []byte
	}{
		{"scalar", []int64{}, []int64{}, []byte{0}},
		{"contiguous", []int64{3, 4}, []int64{4, 1}, src},
		{"transpose", []int64{4, 3}, []int64{1, 4}, []byte{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}},
		{"column slice", []int64{3, 2}, []int64{4, 1}, []byte{0, 1, 4, 5, 8, 9}},
		{"broadcast", []int64{2, 3}, []int64{0, 1}, []byte{0, 1, 2, 0, 1, 2}},
		{"inner broadcast", []int64{2, 2}, []int64{1, 0}, []byte{0, 0, 1, 1}},
		{"every other", []int64{6}, []int64{2}, []byte{0, 2, 4, 6, 8, 10}},
		{"size-1 dims any stride", []int64{1, 3, 1}, []int64{99, 1, 7}, []byte{0, 1, 2}},
		{"3-d permute", []int64{2, 2, 3}, []int64{3, 6, 1}, []byte{0, 1, 2, 6, 7, 8, 3, 4, 5, 9, 10, 11}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := int64(1)
			for _, s := range tt.shape {
				n *= s
			}
			dst := make([]byte, n)
			gather(dst, src, tt.shape, tt.stride, 1)
			assert.Equal(t, tt.want, dst)
		})
	}
	// Two-byte elements copy whole elements.
	dst := make([]byte, 4)
	gather(dst, []byte{1, 2, 3, 4, 5, 6}, []int64{2}, []int64{2}, 2)
	assert.Equal(t, []byte{1, 2, 5, 6}, dst)
}

func TestStateDict(t *testing.T) {
	mk := func(names ...string) map[string]Tensor {
		m := make(map[string]Tensor)
		for _, n := range names {
			m[n] = Tensor{Name: n, DType: "F32", Shape: []int{1}, Data: []byte{0, 0, 0, 0}}
		}
		return m
	}
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"plain", []string{"conv.weight", "conv.bias"}, []string{"conv.bias", "conv.weight"}},
		{"model wrapper", []string{"model.a.weight", "model.b"}, []string{"a.weight", "b"}},
		{"state_dict wrapper", []string{"state_dict.x"}, []string{"x"}},
		{"DataParallel", []string{"module.x", "module.y"}, []string{"x", "y"}},
		{"nested wrappers", []string{"state_dict.module.x", "state_dict.module.y"}, []string{"x", "y"}},
		{"not every key", []string{"model.x", "optimizer.state.0.exp_avg"}, []string{"model.x", "optimizer.state.0.exp_avg"}},
		{"prefix without dot", []string{"modelx", "model.y"}, []string{"model.y", "modelx"}},
		{"empty", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := StateDict(mk(tt.in...))
			var names []string
			for n, ts := range got {
				names = append(names, n)
				assert.Equal(t, n, ts.Name)
			}
			sort.Strings(names)
			assert.Equal(t, tt.want, names)
		})
	}
	ts, err := ReadFile(filepath.Join("testdata", "zip_mixed.pt"))
	require.NoError(t, err)
	assert.Len(t, StateDict(ts), len(ts), "mixed checkpoint: state.0.step is outside model.")
	legacy, err := ReadFile(filepath.Join("testdata", "legacy.pt"))
	require.NoError(t, err)
	sd := StateDict(legacy)
	assert.Contains(t, sd, "w")
	assert.Equal(t, legacy["state_dict.w"].Data, sd["w"].Data)
}

// simple returns a checkpoint with one float32 tensor "w" described by s
// over a 4-element storage.
func simple(t *testing.T, s tensorSpec) []byte {
	s.class, s.key = "FloatStorage", "0"
	if s.numel == 0 {
		s.numel = 4
	}
	pkl := newPickle().dict(entry{"w", func(p *pk) { p.tensor(s) }}).stop()
	return checkpoint(t, pkl, f32Bytes(1, 2, 3, 4))
}

func TestReadErrors(t *testing.T) {
	mixed := readFixture(t, "zip_mixed.pt")
	legacy := readFixture(t, "legacy.pt")
	garbage := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}
	// A stored record's data flipped in place, so its CRC-32 fails.
	crc := bytes.Clone(mixed)
	zr, err := zip.NewReader(bytes.NewReader(mixed), int64(len(mixed)))
	require.NoError(t, err)
	for _, f := range zr.File {
		if f.Name == "zip_mixed/data/0" {
			off, err := f.DataOffset()
			require.NoError(t, err)
			crc[off] ^= 1
		}
	}
	deepMarks := newPickle()
	for range maxMarkDepth + 1 {
		deepMarks.op('(')
	}

	tests := []struct {
		name   string
		file   []byte
		want   string // substring of the error
		tensor string // the FormatError's Tensor, if one is expected
		global string // the GlobalError's module.name, if one is expected
	}{
		{name: "empty", file: nil, want: "too short"},
		{name: "garbage", file: garbage, want: "neither a zip archive nor a legacy torch.save file"},
		{name: "text", file: []byte("hello, world\n"), want: "neither a zip archive nor a legacy torch.save file"},
		{name: "truncated zip", file: mixed[:len(mixed)/2], want: "not a valid zip archive"},
		{name: "zip cut before its directory", file: mixed[:len(mixed)-30], want: "not a valid zip archive"},
		{name: "zip without data.pkl", file: rezip(t, mixed, zip.Store, func(name string, d []byte) ([]byte, bool) {
			return d, !strings.HasSuffix(name, "/data.pkl")
		}), want: "no <name>/data.pkl"},
		{name: "zip missing a storage", file: rezip(t, mixed, zip.Store, func(name string, d []byte) ([]byte, bool) {
			return d, name != "zip_mixed/data/0"
		}), want: "no record zip_mixed/data/0", tensor: "model.f32"},
		{name: "storage record too short", file: rezip(t, mixed, zip.Store, func(name string, d []byte) ([]byte, bool) {
			if name == "zip_mixed/data/0" {
				return d[:20], true
			}
			return d, true
		}), want: "holds 20 bytes, but 6 elements of FloatStorage need 24", tensor: "model.f32"},
		{name: "data.pkl truncated", file: rezip(t, mixed, zip.Store, func(name string, d []byte) ([]byte, bool) {
			if strings.HasSuffix(name, "/data.pkl") {
				return d[:len(d)/2], true
			}
			return d, true
		}), want: "data.pkl"},
		{name: "CRC mismatch", file: crc, want: "checksum", tensor: "model.f32"},
		{name: "TorchScript", file: zipFile(t, zip.Store, record{"m/data.pkl", newPickle().op('}').stop()}, record{"m/constants.pkl", nil}),
			want: "TorchScript"},
		{name: "bad byteorder", file: zipFile(t, zip.Store, record{"a/data.pkl", newPickle().op('}').stop()}, record{"a/byteorder", []byte("middle")}),
			want: "unknown byte order"},
		{name: "unknown global (zip)", file: readFixture(t, "bad_global.pt"), want: "__main__.Custom", global: "__main__.Custom"},
		{name: "os.system (legacy)", file: readFixture(t, "bad_reduce_legacy.pt"), want: "posix.system", global: "posix.system"},
		{name: "builtin gopickle would resolve", file: checkpoint(t, newPickle().global("builtins", "list").op(')', 'R').stop()),
			global: "builtins.list"},
		{name: "STACK_GLOBAL from memo strings", file: checkpoint(t, newPickle().str("os").op('q', 0).str("system").op('q', 1, 'h', 0, 'h', 1, 0x93).stop()),
			global: "os.system"},
		{name: "STACK_GLOBAL from non-literals", file: checkpoint(t, newPickle().str("os").str("sys").op('t', 0x93).stop()),
			want: "STACK_GLOBAL whose module and name are not strings"},
		{name: "not a dict", file: checkpoint(t, newPickle().int(7).stop()), want: "holds a int, not a dict"},
		{name: "unknown opcode", file: checkpoint(t, newPickle().op(0xff).stop()), want: "unknown pickle opcode 0xff"},
		{name: "huge BINBYTES8", file: checkpoint(t, newPickle().op(0x8e, 0, 0, 0, 0, 0, 0, 0, 0x40).stop()), want: "more than the"},
		{name: "huge BINUNICODE", file: checkpoint(t, newPickle().op('X', 0xff, 0xff, 0xff, 0x7f).stop()), want: "needs 2147483647 bytes"},
		{name: "no STOP", file: checkpoint(t, newPickle().op('}').Bytes()), want: "before the pickle's STOP"},
		{name: "marks too deep", file: checkpoint(t, deepMarks.stop()), want: "MARKs nested"},
		{name: "odd DICT (gopickle panics)", file: checkpoint(t, newPickle().op('(').int(1).op('d').stop()), want: "malformed pickle"},
		{name: "empty LONG1 (gopickle panics)", file: checkpoint(t, newPickle().op(0x8a, 0).stop()), want: "malformed pickle"},
		{name: "persistent ID not a storage", file: checkpoint(t, newPickle().str("module").op(0x85, 'Q').stop()), want: "not \"storage\""},
		{name: "text persistent ID", file: checkpoint(t, newPickle().op('P').op([]byte("0\n")...).stop()), want: "not a tuple"},
		{name: "view past storage", file: simple(t, tensorSpec{offset: 1, size: []int{2, 2}, stride: []int{2, 1}}),
			want: "reaches element 4 of storage \"0\", which has 4", tensor: "w"},
		{name: "negative stride", file: simple(t, tensorSpec{offset: 3, size: []int{2}, stride: []int{-1}}), want: "negative size or stride", tensor: "w"},
		{name: "negative offset", file: simple(t, tensorSpec{offset: -1, size: []int{1}, stride: []int{1}}), want: "negative storage offset", tensor: "w"},
		{name: "size and stride lengths", file: simple(t, tensorSpec{size: []int{2, 2}, stride: []int{1}}), want: "different lengths", tensor: "w"},
		{name: "huge broadcast", file: simple(t, tensorSpec{size: []int{1 << 20, 1 << 10}, stride: []int{0, 0}}), want: "times the bytes of their storages", tensor: "w"},
		{name: "overflowing size", file: simple(t, tensorSpec{size: []int{1 << 30, 1 << 30, 1 << 30}, stride: []int{0, 0, 0}}), want: "too many elements", tensor: "w"},
		{name: "storage with two dtypes", file: checkpoint(t, newPickle().dict(
			entry{"a", func(p *pk) {
				p.tensor(tensorSpec{class: "FloatStorage", key: "0", numel: 1, size: []int{}, stride: []int{}})
			}},
			entry{"b", func(p *pk) {
				p.tensor(tensorSpec{class: "IntStorage", key: "0", numel: 1, size: []int{}, stride: []int{}})
			}},
		).stop(), f32Bytes(1)), want: "referenced as both FloatStorage and IntStorage"},
		{name: "unsupported storage type", file: checkpoint(t, newPickle().global("torch", "ComplexFloatStorage").stop()), global: "torch.ComplexFloatStorage"},
		{name: "names collide", file: checkpoint(t, newPickle().dict(
			entry{"a.b", func(p *pk) {
				p.tensor(tensorSpec{class: "FloatStorage", key: "0", numel: 4, size: []int{}, stride: []int{}})
			}},
			entry{"a", func(p *pk) {
				p.dict(entry{"b", func(p *pk) {
					p.tensor(tensorSpec{class: "FloatStorage", key: "0", numel: 4, size: []int{}, stride: []int{}})
				}})
			}},
		).stop(), f32Bytes(1, 2, 3, 4)), want: "two values flatten to this name", tensor: "a.b"},
		{name: "rebuild with wrong arguments", file: checkpoint(t, newPickle().global("torch._utils", "_rebuild_tensor_v2").op('(').int(1).op('t', 'R').stop()),
			want: "_rebuild_tensor_v2 called with 1 arguments"},
		{name: "legacy truncated in the pickle", file: legacy[:200], want: "file ends"},
		{name: "legacy truncated in the storages", file: legacy[:len(legacy)-3], want: "the file has"},
		{name: "legacy storage count mismatch", file: legacyFile(newPickle().dict(entry{"w", func(p *pk) {
			p.tensor(tensorSpec{class: "FloatStorage", key: "k", numel: 2, legacy: true, size: []int{2}, stride: []int{1}})
		}}).stop(), []string{"k"}, []int{3}, [][]byte{f32Bytes(1, 2, 3)}), want: "the file holds 3 elements, the pickle says 2"},
		{name: "legacy storage never listed", file: legacyFile(newPickle().dict(entry{"w", func(p *pk) {
			p.tensor(tensorSpec{class: "FloatStorage", key: "k", numel: 2, legacy: true, size: []int{2}, stride: []int{1}})
		}}).stop(), nil, nil, nil), want: "storage \"k\" has no data"},
		{name: "legacy bad view metadata", file: legacyFile(newPickle().dict(entry{"w", func(p *pk) {
			p.tensor(tensorSpec{class: "FloatStorage", key: "k", numel: 2, legacy: true, view: []int{1, 5}, size: []int{1}, stride: []int{1}})
		}}).stop(), []string{"k"}, []int{2}, [][]byte{f32Bytes(1, 2)}), want: "bad view metadata"},
		{name: "legacy bad magic", file: append([]byte{0x80, 2, 'K', 7, '.'}, legacy[15:]...), want: "no magic number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, err := readBytes(tt.file)
			require.Error(t, err)
			assert.Nil(t, ts)
			assert.True(t, strings.HasPrefix(err.Error(), "torchfile: "), "error %q lacks the package prefix", err)
			if tt.want != "" {
				assert.Contains(t, err.Error(), tt.want)
			}
			if tt.tensor != "" {
				var fe *FormatError
				require.ErrorAs(t, err, &fe)
				assert.Equal(t, tt.tensor, fe.Tensor)
			}
			if tt.global != "" {
				var ge *GlobalError
				require.ErrorAs(t, err, &ge)
				assert.Equal(t, tt.global, ge.Module+"."+ge.Name)
			}
		})
	}
}

func TestReadFileErrors(t *testing.T) {
	_, err := ReadFile(filepath.Join("testdata", "missing.pt"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing.pt")
	_, err = ReadFile("testdata")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a regular file")
	_, err = ReadFile(filepath.Join("testdata", "bad_global.pt"))
	var ge *GlobalError
	require.True(t, errors.As(err, &ge))
	assert.Contains(t, err.Error(), "bad_global.pt")
}

func TestReadTruncations(t *testing.T) {
	// Every prefix of every fixture fails cleanly (or, for a prefix that
	// happens to be complete, succeeds).
	for _, name := range []string{"zip_mixed.pt", "legacy.pt", "module_sd.pt", "zip_proto4.pt"} {
		b := readFixture(t, name)
		for n := 0; n < len(b); n++ {
			if _, err := readBytes(b[:n]); err == nil {
				t.Errorf("%s cut to %d bytes: no error", name, n)
			}
		}
	}
}
