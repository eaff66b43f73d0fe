package safetensors

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Write writes tensors and metadata to w as a safetensors file.
//
// The output is deterministic and laid out as the reference library lays it
// out: tensors ordered by descending dtype rank in the reference's Dtype
// enum (which is increasing alignment: U64, I64, F64, C64, F32, U32, I32,
// BF16, F16, U16, I16, F8_E8M0, F8_E4M3, F8_E5M2, I8, U8, BOOL), then by
// name (byte-wise); data packed without gaps in that order; the header's
// JSON compact, with "__metadata__" first (keys sorted) and then the
// tensors in data order, each as {"dtype", "shape", "data_offsets"}, and
// padded with spaces to a multiple of 8 bytes. Since the header length is
// then a multiple of 8 and element sizes decrease along the data, every
// tensor's data is aligned to its element size within the file. Metadata is
// written when non-nil, even if empty. For the same tensors and no more than
// one metadata entry (the reference writes several in hash order), the
// output is byte-identical to Python's safetensors.torch.save_file.
//
// Write validates everything first and writes nothing if a tensor is
// invalid: names must be non-empty, unique, valid UTF-8 and not
// "__metadata__"; dtypes known; shapes non-negative; len(Data) equal to
// the element count times the dtype's size; metadata valid UTF-8.
func Write(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	header, order, err := encodeHeader(tensors, metadata)
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if err := writeBody(w, header, order); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}

// WriteFile writes tensors and metadata to path (see Write) atomically: it
// writes a temporary file in the same directory, syncs and closes it,
// renames it over path and syncs the directory, so that path holds either
// its old contents or the complete new file, even across a crash. Nothing
// is left behind on failure. The new file gets the permission bits of the
// file it replaces, or 0644 if there was none. If path is a symbolic link,
// the link itself is replaced.
func WriteFile(path string, tensors []Tensor, metadata map[string]string) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("safetensors: write %s: %w", path, err)
		}
	}()
	header, order, err := encodeHeader(tensors, metadata)
	if err != nil {
		return err
	}
	perm := fs.FileMode(0o644)
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
		perm = st.Mode().Perm()
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				_ = tmp.Close()
			}
			_ = os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := writeBody(bw, header, order); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	closed = true
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir fsyncs a directory so that a rename in it is durable. Windows
// cannot open directories for syncing, and does not need it.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return fmt.Errorf("sync directory: %w", err)
	}
	return d.Close()
}

// writeBody writes the length prefix, the padded header and the tensors'
// data in order.
func writeBody(w io.Writer, header []byte, order []*Tensor) error {
	var prefix [8]byte
	binary.LittleEndian.PutUint64(prefix[:], uint64(len(header)))
	if _, err := w.Write(prefix[:]); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	if _, err := w.Write(header); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	for _, t := range order {
		if _, err := w.Write(t.Data); err != nil {
			return fmt.Errorf("write tensor %q: %w", t.Name, err)
		}
	}
	return nil
}

// encodeHeader validates tensors and metadata and returns the padded header
// and the tensors in data order.
func encodeHeader(tensors []Tensor, metadata map[string]string) ([]byte, []*Tensor, error) {
	order := make([]*Tensor, len(tensors))
	seen := make(map[string]bool, len(tensors))
	for i := range tensors {
		t := &tensors[i]
		if err := validateTensor(t); err != nil {
			return nil, nil, err
		}
		if seen[t.Name] {
			return nil, nil, fmt.Errorf("tensor %q: duplicate tensor name", t.Name)
		}
		seen[t.Name] = true
		order[i] = t
	}
	for k, v := range metadata {
		if !utf8.ValidString(k) {
			return nil, nil, fmt.Errorf("%s key %q: not valid UTF-8", metadataKey, k)
		}
		if !utf8.ValidString(v) {
			return nil, nil, fmt.Errorf("%s key %q: value is not valid UTF-8", metadataKey, k)
		}
	}
	slices.SortFunc(order, func(a, b *Tensor) int {
		if ra, rb := dtypes[a.DType].rank, dtypes[b.DType].rank; ra != rb {
			return rb - ra
		}
		return strings.Compare(a.Name, b.Name)
	})

	var h []byte
	h = append(h, '{')
	if metadata != nil {
		h = appendString(h, metadataKey)
		h = append(h, ":{"...)
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				h = append(h, ',')
			}
			h = appendString(h, k)
			h = append(h, ':')
			h = appendString(h, metadata[k])
		}
		h = append(h, '}')
	}
	var offset int64
	for i, t := range order {
		if i > 0 || metadata != nil {
			h = append(h, ',')
		}
		h = appendString(h, t.Name)
		h = append(h, `:{"dtype":`...)
		h = appendString(h, string(t.DType))
		h = append(h, `,"shape":[`...)
		for j, d := range t.Shape {
			if j > 0 {
				h = append(h, ',')
			}
			h = strconv.AppendInt(h, int64(d), 10)
		}
		h = append(h, `],"data_offsets":[`...)
		h = strconv.AppendInt(h, offset, 10)
		h = append(h, ',')
		offset += int64(len(t.Data))
		h = strconv.AppendInt(h, offset, 10)
		h = append(h, "]}"...)
		if len(h) > MaxHeaderSize {
			break // reported below; stop before growing further
		}
	}
	h = append(h, '}')
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	if len(h) > MaxHeaderSize {
		return nil, nil, fmt.Errorf("header would exceed the %d-byte limit", MaxHeaderSize)
	}
	return h, order, nil
}

// validateTensor checks one tensor for Write.
func validateTensor(t *Tensor) error {
	switch {
	case t.Name == "":
		return errors.New("empty tensor name")
	case !utf8.ValidString(t.Name):
		return fmt.Errorf("tensor %q: name is not valid UTF-8", t.Name)
	case t.Name == metadataKey:
		return fmt.Errorf("tensor %q: name is reserved for metadata", t.Name)
	case !t.DType.Valid():
		return fmt.Errorf("tensor %q: unknown dtype %q", t.Name, t.DType)
	}
	nbytes, err := byteSize(t.DType, t.Shape)
	if err != nil {
		return fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	if int64(len(t.Data)) != nbytes {
		return fmt.Errorf("tensor %q: shape %v of %s needs %d bytes, have %d", t.Name, t.Shape, t.DType, nbytes, len(t.Data))
	}
	return nil
}

// appendString appends s as a JSON string escaped exactly as serde_json
// (the reference library's serializer) escapes it: quote, backslash and
// control characters only, the latter as \b \t \n \f \r or \u00xx.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\f':
			b = append(b, '\\', 'f')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
