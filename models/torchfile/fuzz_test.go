package torchfile

import (
	"archive/zip"
	"strings"
	"testing"
)

// dtypeSizes are the element sizes of the dtypes Read returns.
var dtypeSizes = map[string]int{"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}

// FuzzRead checks that Read never panics (nor runs away with memory), that
// its errors say what went wrong, and that every tensor it returns is
// consistent.
func FuzzRead(f *testing.F) {
	for _, name := range []string{"zip_mixed.pt", "legacy.pt", "module_sd.pt", "zip_proto4.pt", "bad_global.pt", "bad_reduce_legacy.pt"} {
		b := readFixture(f, name)
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	// Zip archives without the 64-byte alignment padding are smaller, so
	// mutations reach the pickle more often.
	f.Add(rezip(f, readFixture(f, "zip_proto4.pt"), zip.Store, nil))
	f.Add(rezip(f, readFixture(f, "module_sd.pt"), zip.Deflate, nil))
	pkl := newPickle().dict(
		entry{"w", func(p *pk) {
			p.tensor(tensorSpec{class: "FloatStorage", key: "0", numel: 4, offset: 1, size: []int{3, 1}, stride: []int{1, 2}})
		}},
		entry{"n", func(p *pk) {
			p.dict(entry{"b", func(p *pk) {
				p.tensor(tensorSpec{class: "FloatStorage", key: "0", numel: 4, size: []int{2, 2}, stride: []int{0, 1}})
			}})
		}},
	).stop()
	f.Add(checkpoint(f, pkl, f32Bytes(1, 2, 3, 4)))
	f.Add(pkl)
	obj := newPickle().dict(entry{"v", func(p *pk) {
		p.tensor(tensorSpec{class: "HalfStorage", key: "k", numel: 3, legacy: true, view: []int{1, 2}, size: []int{2}, stride: []int{1}})
	}}).stop()
	f.Add(legacyFile(obj, []string{"k"}, []int{3}, [][]byte{{1, 2, 3, 4, 5, 6}}))
	f.Add([]byte("PK\x03\x04"))
	f.Add([]byte{0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, '.'})

	f.Fuzz(func(t *testing.T, data []byte) {
		ts, err := readBytes(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "torchfile: ") || strings.Contains(err.Error(), "internal error") {
				t.Fatalf("error %q", err)
			}
			if ts != nil {
				t.Fatalf("error %v with tensors", err)
			}
			return
		}
		for name, tn := range ts {
			if tn.Name != name {
				t.Fatalf("tensor %q has Name %q", name, tn.Name)
			}
			size, ok := dtypeSizes[tn.DType]
			if !ok {
				t.Fatalf("tensor %q: dtype %q", name, tn.DType)
			}
			n := 1
			for _, d := range tn.Shape {
				if d < 0 {
					t.Fatalf("tensor %q: shape %v", name, tn.Shape)
				}
				n *= d
			}
			if len(tn.Data) != n*size {
				t.Fatalf("tensor %q: %d bytes for shape %v of %s", name, len(tn.Data), tn.Shape, tn.DType)
			}
		}
	})
}
