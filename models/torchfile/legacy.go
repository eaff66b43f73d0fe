package torchfile

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/big"

	"github.com/nlpodyssey/gopickle/types"
)

// legacyMagic is the number the legacy format's first pickle holds.
var legacyMagic, _ = new(big.Int).SetString("1950a86a20f9469cfc6c", 16)

// legacyProtocol is the only legacy protocol version torch.save writes.
const legacyProtocol = 1001

// legacyReader reads the legacy format's consecutive pickles and storages.
type legacyReader struct {
	r    *bufio.Reader
	left int64 // bytes from the reader's position to the end of the file
}

// pickle scans and unpickles the next pickle.
func (l *legacyReader) pickle(what string, allow func(module, name string) bool, persistentLoad func(any) (any, error)) (any, error) {
	raw, err := scanPickle(l.r, l.left, what, allow)
	if err != nil {
		return nil, err
	}
	l.left -= int64(len(raw))
	return unpickle(raw, what, persistentLoad)
}

// readLegacy reads a checkpoint in torch.save's legacy (non-zip) format.
func readLegacy(r io.ReaderAt, size int64) (map[string]Tensor, error) {
	l := &legacyReader{r: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 1<<16), left: size}

	magic, err := l.pickle("magic number", nil, nil)
	if err != nil {
		return nil, fmt.Errorf("neither a zip archive nor a legacy torch.save file: %w", err)
	}
	if n, ok := magic.(*big.Int); !ok || n.Cmp(legacyMagic) != 0 {
		return nil, formatErr("", "neither a zip archive nor a legacy torch.save file (no magic number)")
	}
	proto, err := l.pickle("protocol version", nil, nil)
	if err != nil {
		return nil, err
	}
	if proto != legacyProtocol {
		return nil, formatErr("", "unsupported legacy protocol version %v (want %d)", proto, legacyProtocol)
	}
	sysInfo, err := l.pickle("system info", nil, nil)
	if err != nil {
		return nil, err
	}
	if d, ok := sysInfo.(*types.Dict); ok {
		if le, ok := d.Get("little_endian"); ok && le == false {
			return nil, formatErr("", "the file was written on a big-endian machine, which this reader does not support")
		}
	}

	var table storageTable
	root, err := l.pickle("object pickle", allowedGlobal, func(pid any) (any, error) {
		items, typ, key, numel, err := storageID(pid, 6)
		if err != nil {
			return nil, err
		}
		st, err := table.get(key, typ, numel)
		if err != nil {
			return nil, err
		}
		view := &storageView{st: st, numel: st.numel}
		switch vm := items[5].(type) {
		case nil:
		case *types.Tuple:
			// (view_key, offset, view_size), from releases that saved
			// storage views.
			if len(*vm) != 3 {
				return nil, formatErr("", "storage %q: view metadata has %d items, want 3", key, len(*vm))
			}
			off, ok1 := (*vm)[1].(int)
			n, ok2 := (*vm)[2].(int)
			if !ok1 || !ok2 || off < 0 || n < 0 || int64(off) > st.numel || int64(n) > st.numel-int64(off) {
				return nil, formatErr("", "storage %q: bad view metadata %v", key, vm)
			}
			view = &storageView{st: st, offset: int64(off), numel: int64(n)}
		default:
			return nil, formatErr("", "storage %q: view metadata is a %s", key, typeName(items[5]))
		}
		return view, nil
	})
	if err != nil {
		return nil, err
	}

	keysObj, err := l.pickle("storage keys", nil, nil)
	if err != nil {
		return nil, err
	}
	keys, ok := keysObj.(*types.List)
	if !ok {
		return nil, formatErr("", "storage keys: a %s, not a list", typeName(keysObj))
	}
	for _, k := range *keys {
		key, ok := k.(string)
		if !ok {
			return nil, formatErr("", "storage keys: a %s, not a str", typeName(k))
		}
		st, ok := table.byKey[key]
		if !ok {
			return nil, formatErr("", "storage %q has data but no tensor uses it", key)
		}
		if st.data != nil {
			return nil, formatErr("", "storage %q has data twice", key)
		}
		if err := l.storage(st); err != nil {
			return nil, err
		}
	}
	for _, st := range table.order {
		if st.data == nil {
			return nil, formatErr("", "storage %q has no data", st.key)
		}
	}
	refs, err := flatten(root)
	if err != nil {
		return nil, err
	}
	return materialize(refs, func(*storage) error { return nil })
}

// storage reads st's data: an 8-byte little-endian element count, then the
// elements.
func (l *legacyReader) storage(st *storage) error {
	var hdr [8]byte
	if l.left < int64(len(hdr)) {
		return formatErr("", "storage %q: the file ends before its data", st.key)
	}
	if _, err := io.ReadFull(l.r, hdr[:]); err != nil {
		return fmt.Errorf("storage %q: read: %w", st.key, err)
	}
	l.left -= int64(len(hdr))
	n := binary.LittleEndian.Uint64(hdr[:])
	if n != uint64(st.numel) {
		return formatErr("", "storage %q: the file holds %d elements, the pickle says %d", st.key, n, st.numel)
	}
	es := int64(st.typ.size)
	if st.numel > l.left/es {
		return formatErr("", "storage %q: %d elements of %s need %d bytes, but the file has %d left",
			st.key, st.numel, st.typ.class, st.numel*es, l.left)
	}
	st.data = make([]byte, st.numel*es)
	if _, err := io.ReadFull(l.r, st.data); err != nil {
		return fmt.Errorf("storage %q: read: %w", st.key, err)
	}
	l.left -= st.numel * es
	return nil
}
