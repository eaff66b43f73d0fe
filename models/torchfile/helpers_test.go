package torchfile

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// readFixture returns the bytes of testdata/name.
func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// readBytes runs Read on b.
func readBytes(b []byte) (map[string]Tensor, error) {
	return Read(bytes.NewReader(b), int64(len(b)))
}

// decode returns a tensor's elements as float64s (exact for every dtype
// the fixtures use).
func decode(t testing.TB, dtype string, data []byte) []float64 {
	t.Helper()
	le := binary.LittleEndian
	var out []float64
	switch dtype {
	case "F32":
		for i := 0; i+4 <= len(data); i += 4 {
			out = append(out, float64(math.Float32frombits(le.Uint32(data[i:]))))
		}
	case "F16":
		for i := 0; i+2 <= len(data); i += 2 {
			out = append(out, f16(le.Uint16(data[i:])))
		}
	case "BF16":
		for i := 0; i+2 <= len(data); i += 2 {
			out = append(out, float64(math.Float32frombits(uint32(le.Uint16(data[i:]))<<16)))
		}
	case "F64":
		for i := 0; i+8 <= len(data); i += 8 {
			out = append(out, math.Float64frombits(le.Uint64(data[i:])))
		}
	case "I64":
		for i := 0; i+8 <= len(data); i += 8 {
			out = append(out, float64(int64(le.Uint64(data[i:]))))
		}
	case "I32":
		for i := 0; i+4 <= len(data); i += 4 {
			out = append(out, float64(int32(le.Uint32(data[i:]))))
		}
	case "I16":
		for i := 0; i+2 <= len(data); i += 2 {
			out = append(out, float64(int16(le.Uint16(data[i:]))))
		}
	case "I8":
		for _, b := range data {
			out = append(out, float64(int8(b)))
		}
	case "U8", "BOOL":
		for _, b := range data {
			out = append(out, float64(b))
		}
	default:
		t.Fatalf("unknown dtype %q", dtype)
	}
	if out == nil {
		out = []float64{}
	}
	return out
}

// f16 widens IEEE half-precision bits.
func f16(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * frac * math.Pow(2, -24)
	case 0x1f:
		if frac == 0 {
			return sign * math.Inf(1)
		}
		return math.NaN()
	}
	return sign * (1 + frac/1024) * math.Pow(2, float64(exp-15))
}

// pk builds pickles by hand, for files torch.save would never write.
type pk struct{ bytes.Buffer }

// newPickle starts a protocol-2 pickle.
func newPickle() *pk {
	p := &pk{}
	p.Write([]byte{0x80, 2})
	return p
}

func (p *pk) op(b ...byte) *pk { p.Write(b); return p }

// str pushes a str (BINUNICODE).
func (p *pk) str(s string) *pk {
	p.WriteByte('X')
	_ = binary.Write(&p.Buffer, binary.LittleEndian, uint32(len(s)))
	p.WriteString(s)
	return p
}

// int pushes an int (BININT).
func (p *pk) int(n int) *pk {
	p.WriteByte('J')
	_ = binary.Write(&p.Buffer, binary.LittleEndian, int32(n))
	return p
}

// global pushes module.name (GLOBAL).
func (p *pk) global(module, name string) *pk {
	p.WriteString("c" + module + "\n" + name + "\n")
	return p
}

// ints pushes a tuple of ints.
func (p *pk) ints(ns []int) *pk {
	p.op('(')
	for _, n := range ns {
		p.int(n)
	}
	return p.op('t')
}

// tensorSpec describes a tensor for (*pk).tensor.
type tensorSpec struct {
	class  string // storage class, e.g. "FloatStorage"
	key    string
	numel  int
	offset int
	size   []int
	stride []int
	// legacy adds the legacy format's sixth persistent-ID item: view
	// metadata, None unless view is set.
	legacy bool
	view   []int // offset, size of an old-style storage view
}

// tensor pushes a tensor rebuilt by _rebuild_tensor_v2.
func (p *pk) tensor(s tensorSpec) *pk {
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.op('(')
	p.op('(').str("storage").global("torch", s.class).str(s.key).str("cpu").int(s.numel)
	if s.legacy {
		if s.view != nil {
			p.op('(').str("view").int(s.view[0]).int(s.view[1]).op('t')
		} else {
			p.op('N')
		}
	}
	p.op('t', 'Q')
	p.int(s.offset).ints(s.size).ints(s.stride).op(0x89, '}')
	return p.op('t', 'R')
}

// dict pushes a dict whose values are pushed by the functions given.
func (p *pk) dict(entries ...entry) *pk {
	p.op('}', '(')
	for _, e := range entries {
		p.str(e.key)
		e.value(p)
	}
	return p.op('u')
}

// entry is a dict entry for (*pk).dict.
type entry struct {
	key   string
	value func(*pk)
}

// stop ends the pickle and returns it.
func (p *pk) stop() []byte {
	p.op('.')
	return p.Bytes()
}

// f32Bytes returns float32s little-endian.
func f32Bytes(vs ...float32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// record is one zip record for zipFile.
type record struct {
	name string
	data []byte
}

// zipFile builds a zip archive of records, stored or deflated.
func zipFile(t testing.TB, method uint16, records ...record) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, r := range records {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: r.name, Method: method})
		require.NoError(t, err)
		_, err = w.Write(r.data)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// checkpoint builds a zip-format checkpoint from a data.pkl and storages
// keyed "0", "1", ...
func checkpoint(t testing.TB, pkl []byte, storages ...[]byte) []byte {
	t.Helper()
	recs := []record{{"archive/data.pkl", pkl}}
	for i, s := range storages {
		recs = append(recs, record{"archive/data/" + string(rune('0'+i)), s})
	}
	recs = append(recs, record{"archive/version", []byte("3\n")})
	return zipFile(t, zip.Store, recs...)
}

// rezip rewrites a zip archive record by record: edit returns a record's
// new contents and whether to keep it.
func rezip(t testing.TB, src []byte, method uint16, edit func(name string, data []byte) ([]byte, bool)) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(src), int64(len(src)))
	require.NoError(t, err)
	var recs []record
	for _, f := range zr.File {
		rc, err := f.Open()
		require.NoError(t, err)
		var b bytes.Buffer
		_, err = b.ReadFrom(rc)
		require.NoError(t, err)
		require.NoError(t, rc.Close())
		data, keep := b.Bytes(), true
		if edit != nil {
			data, keep = edit(f.Name, data)
		}
		if keep {
			recs = append(recs, record{f.Name, data})
		}
	}
	return zipFile(t, method, recs...)
}

// legacyFile builds a legacy-format checkpoint: the header pickles, the
// object pickle, the storage keys and each storage's count and data.
func legacyFile(obj []byte, keys []string, numels []int, data [][]byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, '.'})
	b.Write([]byte{0x80, 2, 'M', 0xe9, 0x03, '.'})
	b.Write(newPickle().dict(entry{"little_endian", func(p *pk) { p.op(0x88) }}).stop())
	b.Write(obj)
	kp := newPickle().op(']', '(')
	for _, k := range keys {
		kp.str(k)
	}
	b.Write(kp.op('e').stop())
	for i := range keys {
		_ = binary.Write(&b, binary.LittleEndian, uint64(numels[i]))
		b.Write(data[i])
	}
	return b.Bytes()
}
