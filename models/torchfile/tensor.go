package torchfile

import (
	"math/bits"
	"strconv"

	"github.com/nlpodyssey/gopickle/types"
)

// Limits on flattening the unpickled object.
const (
	// maxDepth is the deepest nesting of dicts followed.
	maxDepth = 64
	// maxEntries is the most dict entries visited in all; it stops a
	// pickle that reuses one dict many times over from taking
	// exponential time.
	maxEntries = 1 << 20
	// expansionFactor and expansionSlack bound the bytes of the returned
	// tensors to expansionFactor times the bytes of their storages plus
	// expansionSlack (see the package documentation).
	expansionFactor = 8
	expansionSlack  = 64 << 20
)

// namedRef is a tensor of the pickle with its flattened name.
type namedRef struct {
	name string
	ref  *tensorRef
}

// flattener walks the unpickled object collecting its tensors.
type flattener struct {
	out     []namedRef
	seen    map[string]bool
	entries int
}

// flatten returns root's tensors in pickle order. root must be a dict, an
// OrderedDict or a tensor.
func flatten(root any) ([]namedRef, error) {
	f := &flattener{seen: make(map[string]bool)}
	switch root.(type) {
	case *types.Dict, *types.OrderedDict, *tensorRef:
	default:
		return nil, formatErr("", "the checkpoint holds a %s, not a dict of tensors", typeName(root))
	}
	if err := f.walk("", root, 0); err != nil {
		return nil, err
	}
	return f.out, nil
}

// walk adds v, found under name, and anything inside it.
func (f *flattener) walk(name string, v any, depth int) error {
	switch v := v.(type) {
	case *tensorRef:
		if f.seen[name] {
			return formatErr(name, "two values flatten to this name")
		}
		f.seen[name] = true
		f.out = append(f.out, namedRef{name, v})
	case *types.Dict:
		for _, e := range *v {
			if err := f.entry(name, e.Key, e.Value, depth); err != nil {
				return err
			}
		}
	case *types.OrderedDict:
		for el := v.List.Front(); el != nil; el = el.Next() {
			e, ok := el.Value.(*types.OrderedDictEntry)
			if !ok {
				continue
			}
			if err := f.entry(name, e.Key, e.Value, depth); err != nil {
				return err
			}
		}
	}
	return nil
}

// entry walks one dict entry of the dict found under prefix.
func (f *flattener) entry(prefix string, key, value any, depth int) error {
	f.entries++
	if f.entries > maxEntries {
		return formatErr("", "more than %d dict entries (a dict reused many times over?)", maxEntries)
	}
	var k string
	switch key := key.(type) {
	case string:
		k = key
	case int:
		k = strconv.Itoa(key)
	default:
		return nil // keys of other types cannot make a dotted name
	}
	name := k
	if prefix != "" {
		name = prefix + "." + k
	}
	switch value.(type) {
	case *types.Dict, *types.OrderedDict:
		if depth+1 >= maxDepth {
			return formatErr(name, "dicts nested more than %d deep", maxDepth)
		}
	}
	return f.walk(name, value, depth+1)
}

// materialize makes the contiguous tensors, loading each storage they view
// with load (once).
func materialize(refs []namedRef, load func(*storage) error) (map[string]Tensor, error) {
	for _, r := range refs {
		r.ref.view.st.users++
	}
	var budget int64 = expansionSlack
	loaded := make(map[*storage]bool)
	out := make(map[string]Tensor, len(refs))
	for _, r := range refs {
		st := r.ref.view.st
		if !loaded[st] {
			if err := load(st); err != nil {
				return nil, withTensor(r.name, err)
			}
			loaded[st] = true
			budget = addCapped(budget, mulCapped(int64(len(st.data)), expansionFactor))
		}
		t, err := r.ref.contiguous(r.name, budget)
		if err != nil {
			return nil, err
		}
		budget -= int64(len(t.Data))
		out[r.name] = t
	}
	return out, nil
}

// withTensor attaches a tensor name to err if it is a *FormatError without
// one.
func withTensor(name string, err error) error {
	if fe, ok := err.(*FormatError); ok && fe.Tensor == "" {
		return &FormatError{Tensor: name, Problem: fe.Problem}
	}
	return err
}

// contiguous checks the view against its storage (which must be loaded) and
// returns it as a contiguous Tensor of at most budget bytes. A tensor that
// is the only user of its storage and covers it exactly takes the storage's
// bytes without a copy.
func (r *tensorRef) contiguous(name string, budget int64) (Tensor, error) {
	v, st := r.view, r.view.st
	es := int64(st.typ.size)
	if len(r.shape) != len(r.stride) {
		return Tensor{}, formatErr(name, "size %v and stride %v have different lengths", r.shape, r.stride)
	}
	if r.offset < 0 {
		return Tensor{}, formatErr(name, "negative storage offset %d", r.offset)
	}
	numel := int64(1)
	last := r.offset // index of the last element, within the view
	for i, n := range r.shape {
		s := r.stride[i]
		if n < 0 || s < 0 {
			return Tensor{}, formatErr(name, "negative size or stride (size %v, stride %v)", r.shape, r.stride)
		}
		numel = mulCapped(numel, n)
		if n > 0 {
			last = addCapped(last, mulCapped(n-1, s))
		}
	}
	if numel > (1<<62)/es {
		return Tensor{}, formatErr(name, "size %v has too many elements", r.shape)
	}
	if numel > 0 && last >= v.numel {
		return Tensor{}, formatErr(name, "view (offset %d, size %v, stride %v) reaches element %d of storage %q, which has %d",
			r.offset, r.shape, r.stride, last, st.key, v.numel)
	}
	if numel*es > budget {
		return Tensor{}, formatErr(name, "its %d bytes would take the tensors past %d times the bytes of their storages (plus %d MiB); "+
			"the file's views broadcast or repeat storages more than this reader allows", numel*es, expansionFactor, expansionSlack>>20)
	}
	shape := make([]int, len(r.shape))
	for i, n := range r.shape {
		shape[i] = int(n)
	}
	t := Tensor{Name: name, DType: st.typ.dtype, Shape: shape}
	base := v.offset + r.offset // first element within st.data
	if numel == 0 {
		t.Data = []byte{}
		return t, nil
	}
	if st.users == 1 && base == 0 && numel*es == int64(len(st.data)) && isContiguous(r.shape, r.stride) {
		t.Data = st.data
		return t, nil
	}
	t.Data = make([]byte, numel*es)
	gather(t.Data, st.data[base*es:], r.shape, r.stride, int(es))
	return t, nil
}

// isContiguous reports whether stride is the row-major stride of shape
// (ignoring dims of size 1, whose stride does not matter).
func isContiguous(shape, stride []int64) bool {
	want := int64(1)
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i] != 1 && stride[i] != want {
			return false
		}
		want *= shape[i]
	}
	return true
}

// gather copies the strided elements of src (element size es, element 0 at
// src[0]) into dst in row-major order. The caller has checked every index is
// in range and dst is exactly the right size.
func gather(dst, src []byte, shape, stride []int64, es int) {
	nd := len(shape)
	if nd == 0 {
		copy(dst, src[:es])
		return
	}
	// Merge the innermost dims while they are contiguous with each other,
	// so contiguous tensors copy in one block.
	inner, innerStride := shape[nd-1], stride[nd-1]
	outer := nd - 1
	for outer > 0 && innerStride == 1 && stride[outer-1] == inner {
		inner *= shape[outer-1]
		outer--
	}
	if shape[nd-1] == 1 {
		innerStride = 1
	}
	rowBytes := int(inner) * es
	idx := make([]int64, outer)
	pos := 0
	for {
		var off int64
		for d := 0; d < outer; d++ {
			off += idx[d] * stride[d]
		}
		row := src[int(off)*es:]
		if innerStride == 1 {
			copy(dst[pos:pos+rowBytes], row)
		} else {
			for j := int64(0); j < inner; j++ {
				o := int(j*innerStride) * es
				copy(dst[pos+int(j)*es:pos+int(j+1)*es], row[o:o+es])
			}
		}
		pos += rowBytes
		// Advance the outer index, last dim fastest.
		d := outer - 1
		for ; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
		if d < 0 {
			return
		}
	}
}

// mulCapped returns a*b for non-negative a and b, or 1<<62 if that is
// larger.
func mulCapped(a, b int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > 1<<62 {
		return 1 << 62
	}
	return int64(lo)
}

// addCapped returns a+b for non-negative a and b, or 1<<62 if that is
// larger.
func addCapped(a, b int64) int64 {
	if a > 1<<62-b {
		return 1 << 62
	}
	return a + b
}
