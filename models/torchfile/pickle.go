package torchfile

import (
	"bytes"
	"fmt"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// storageType is a torch storage class such as torch.FloatStorage, as a
// persistent ID names it.
type storageType struct {
	class string // e.g. "FloatStorage"
	dtype string // safetensors spelling, e.g. "F32"
	size  int    // bytes per element
}

// storageTypes maps the torch storage classes this package reads to their
// element types.
var storageTypes = map[string]*storageType{
	"FloatStorage":    {"FloatStorage", "F32", 4},
	"HalfStorage":     {"HalfStorage", "F16", 2},
	"BFloat16Storage": {"BFloat16Storage", "BF16", 2},
	"DoubleStorage":   {"DoubleStorage", "F64", 8},
	"LongStorage":     {"LongStorage", "I64", 8},
	"IntStorage":      {"IntStorage", "I32", 4},
	"ShortStorage":    {"ShortStorage", "I16", 2},
	"CharStorage":     {"CharStorage", "I8", 1},
	"ByteStorage":     {"ByteStorage", "U8", 1},
	"BoolStorage":     {"BoolStorage", "BOOL", 1},
}

// storage is one storage of the file: a flat array of elements, shared by
// every tensor that views it.
type storage struct {
	key   string
	typ   *storageType
	numel int64  // elements, as the persistent ID says
	data  []byte // numel*typ.size bytes once loaded
	users int    // returned tensors viewing it
}

// storageView is what a persistent ID resolves to: a storage, or (in old
// legacy files) a range of one.
type storageView struct {
	st     *storage
	offset int64 // elements into st
	numel  int64
}

// tensorRef is a tensor as the pickle describes it: a strided view of a
// storage. It becomes a Tensor once storages are loaded.
type tensorRef struct {
	view   *storageView
	offset int64 // elements into view
	shape  []int64
	stride []int64
}

// rebuildTensor is torch._utils._rebuild_tensor (v2 false) or
// _rebuild_tensor_v2 (v2 true).
type rebuildTensor struct{ v2 bool }

// Call implements types.Callable: (storage, storage_offset, size, stride
// [, requires_grad, backward_hooks[, metadata]]).
func (f rebuildTensor) Call(args ...any) (any, error) {
	name := "_rebuild_tensor"
	if f.v2 {
		name = "_rebuild_tensor_v2"
	}
	if len(args) < 4 || (!f.v2 && len(args) != 4) || (f.v2 && len(args) != 6 && len(args) != 7) {
		return nil, formatErr("", "%s called with %d arguments", name, len(args))
	}
	view, ok := args[0].(*storageView)
	if !ok {
		return nil, formatErr("", "%s: first argument is a %s, not a storage", name, typeName(args[0]))
	}
	offset, ok := args[1].(int)
	if !ok {
		return nil, formatErr("", "%s: storage offset is a %s, not an int", name, typeName(args[1]))
	}
	shape, err := intTuple(args[2])
	if err != nil {
		return nil, formatErr("", "%s: size: %v", name, err)
	}
	stride, err := intTuple(args[3])
	if err != nil {
		return nil, formatErr("", "%s: stride: %v", name, err)
	}
	return &tensorRef{view: view, offset: int64(offset), shape: shape, stride: stride}, nil
}

// rebuildParameter is torch._utils._rebuild_parameter and
// _rebuild_parameter_with_state: it returns the tensor it wraps.
type rebuildParameter struct{}

// Call implements types.Callable: (data, requires_grad, backward_hooks
// [, state]).
func (rebuildParameter) Call(args ...any) (any, error) {
	if len(args) != 3 && len(args) != 4 {
		return nil, formatErr("", "_rebuild_parameter called with %d arguments", len(args))
	}
	t, ok := args[0].(*tensorRef)
	if !ok {
		return nil, formatErr("", "_rebuild_parameter: data is a %s, not a tensor", typeName(args[0]))
	}
	return t, nil
}

// torchSize is torch.Size, a tuple of ints.
type torchSize struct{}

// Call implements types.Callable: (tuple).
func (torchSize) Call(args ...any) (any, error) {
	if len(args) != 1 {
		return nil, formatErr("", "torch.Size called with %d arguments", len(args))
	}
	switch v := args[0].(type) {
	case *types.Tuple:
		return v, nil
	case *types.List:
		t := types.Tuple(*v)
		return &t, nil
	}
	return nil, formatErr("", "torch.Size of a %s", typeName(args[0]))
}

// intTuple converts a pickled tuple (or list) of ints.
func intTuple(v any) ([]int64, error) {
	var items []any
	switch t := v.(type) {
	case *types.Tuple:
		items = *t
	case *types.List:
		items = *t
	default:
		return nil, fmt.Errorf("a %s, not a tuple", typeName(v))
	}
	out := make([]int64, len(items))
	for i, it := range items {
		n, ok := it.(int)
		if !ok {
			return nil, fmt.Errorf("element %d is a %s, not an int", i, typeName(it))
		}
		out[i] = int64(n)
	}
	return out, nil
}

// typeName describes a pickled value's type in Python's terms.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case *types.Tuple:
		return "tuple"
	case *types.List:
		return "list"
	case *types.Dict:
		return "dict"
	case *types.OrderedDict:
		return "OrderedDict"
	case *storageView:
		return "storage"
	case *tensorRef:
		return "tensor"
	case *storageType:
		return "storage type"
	}
	return fmt.Sprintf("%T", v)
}

// allowedGlobal reports whether module.name may be referenced by a pickle.
func allowedGlobal(module, name string) bool {
	_, err := findClass(module, name)
	return err == nil || (module == "collections" && name == "OrderedDict")
}

// findClass resolves the globals allowed in state-dict pickles and refuses
// all others. (collections.OrderedDict is resolved by gopickle itself.)
func findClass(module, name string) (any, error) {
	switch module {
	case "torch._utils":
		switch name {
		case "_rebuild_tensor":
			return rebuildTensor{v2: false}, nil
		case "_rebuild_tensor_v2":
			return rebuildTensor{v2: true}, nil
		case "_rebuild_parameter", "_rebuild_parameter_with_state":
			return rebuildParameter{}, nil
		}
	case "torch":
		if name == "Size" {
			return torchSize{}, nil
		}
		if t, ok := storageTypes[name]; ok {
			return t, nil
		}
	}
	return nil, &GlobalError{Module: module, Name: name}
}

// unpickle unpickles raw (a pickle checked by scanPickle), resolving
// persistent IDs with persistentLoad, which may be nil when the pickle must
// have none. A panic inside the unpickler (which trusts some of its input)
// becomes an error.
func unpickle(raw []byte, what string, persistentLoad func(any) (any, error)) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, formatErr("", "%s: malformed pickle (%v)", what, r)
		}
	}()
	u := pickle.NewUnpickler(bytes.NewReader(raw))
	u.FindClass = findClass
	if persistentLoad != nil {
		u.PersistentLoad = persistentLoad
	} else {
		u.PersistentLoad = func(any) (any, error) {
			return nil, formatErr("", "%s: unexpected persistent ID", what)
		}
	}
	v, err = u.Load()
	if err != nil {
		if _, ok := err.(*FormatError); ok {
			return nil, err
		}
		if _, ok := err.(*GlobalError); ok {
			return nil, err
		}
		return nil, formatErr("", "%s: malformed pickle: %v", what, err)
	}
	return v, nil
}

// storageTable is the storages a pickle's persistent IDs named, by key.
type storageTable struct {
	byKey map[string]*storage
	order []*storage // first-seen order
}

// get returns the storage with key, creating it with typ and numel the
// first time, and checking that later references agree.
func (t *storageTable) get(key string, typ *storageType, numel int) (*storage, error) {
	if numel < 0 {
		return nil, formatErr("", "storage %q: negative element count %d", key, numel)
	}
	if st, ok := t.byKey[key]; ok {
		if st.typ != typ {
			return nil, formatErr("", "storage %q is referenced as both %s and %s", key, st.typ.class, typ.class)
		}
		if st.numel != int64(numel) {
			return nil, formatErr("", "storage %q is referenced with both %d and %d elements", key, st.numel, numel)
		}
		return st, nil
	}
	if t.byKey == nil {
		t.byKey = make(map[string]*storage)
	}
	st := &storage{key: key, typ: typ, numel: int64(numel)}
	t.byKey[key] = st
	t.order = append(t.order, st)
	return st, nil
}

// storageID unpacks the common head of a storage persistent ID,
// ("storage", storage_type, key, location, numel, ...), checking it has at
// least n items.
func storageID(pid any, n int) (items []any, typ *storageType, key string, numel int, err error) {
	tup, ok := pid.(*types.Tuple)
	if !ok {
		return nil, nil, "", 0, formatErr("", "persistent ID is a %s, not a tuple", typeName(pid))
	}
	items = *tup
	if len(items) == 0 {
		return nil, nil, "", 0, formatErr("", "empty persistent ID")
	}
	if kind, _ := items[0].(string); kind != "storage" {
		return nil, nil, "", 0, formatErr("", "persistent ID of kind %v, not \"storage\" (only tensors and storages can be read)", items[0])
	}
	if len(items) < n {
		return nil, nil, "", 0, formatErr("", "storage persistent ID has %d items, want %d", len(items), n)
	}
	typ, ok = items[1].(*storageType)
	if !ok {
		return nil, nil, "", 0, formatErr("", "storage persistent ID: type is a %s, not a storage type", typeName(items[1]))
	}
	key, ok = items[2].(string)
	if !ok {
		return nil, nil, "", 0, formatErr("", "storage persistent ID: key is a %s, not a str", typeName(items[2]))
	}
	if _, ok := items[3].(string); !ok {
		return nil, nil, "", 0, formatErr("", "storage %q: location is a %s, not a str", key, typeName(items[3]))
	}
	numel, ok = items[4].(int)
	if !ok {
		return nil, nil, "", 0, formatErr("", "storage %q: size is a %s, not an int", key, typeName(items[4]))
	}
	return items, typ, key, numel, nil
}
