package torchfile

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// Tensor is one tensor of a checkpoint, made contiguous.
type Tensor struct {
	// Name is the tensor's flattened, dotted name, the same as its key in
	// the map Read returns.
	Name string
	// DType is the element type, spelled as in safetensors: "F32", "F16",
	// "BF16", "F64", "I64", "I32", "I16", "I8", "U8" or "BOOL".
	DType string
	// Shape is the tensor's size; it is empty (not nil) for a 0-d tensor.
	Shape []int
	// Data holds the elements, row-major (C order) and little-endian. It is
	// never shared with another returned tensor.
	Data []byte
}

// FormatError reports a malformed or unsupported checkpoint: what is wrong
// and, where the problem belongs to one tensor, which.
type FormatError struct {
	// Tensor names the tensor concerned; it is empty for problems with the
	// file as a whole.
	Tensor string
	// Problem describes what is wrong.
	Problem string
}

// Error implements error.
func (e *FormatError) Error() string {
	if e.Tensor == "" {
		return e.Problem
	}
	return fmt.Sprintf("tensor %q: %s", e.Tensor, e.Problem)
}

// formatErr returns a *FormatError for tensor (or for the file if tensor is
// empty) with a formatted problem.
func formatErr(tensor, format string, args ...any) error {
	return &FormatError{Tensor: tensor, Problem: fmt.Sprintf(format, args...)}
}

// GlobalError reports a pickle that references a Python global (a class or
// function) outside the few that state dicts need. Read refuses such files:
// see the package documentation for the globals allowed.
type GlobalError struct {
	// Module and Name spell the global, as in "posix" and "system".
	Module, Name string
}

// Error implements error.
func (e *GlobalError) Error() string {
	return fmt.Sprintf("pickle references %s.%s, which is not allowed (only tensor rebuild functions, "+
		"torch storage types, torch.Size and collections.OrderedDict may be used)", e.Module, e.Name)
}

// ReadFile reads the checkpoint at path; see Read.
func ReadFile(path string) (map[string]Tensor, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("torchfile: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("torchfile: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("torchfile: read %s: not a regular file", path)
	}
	ts, err := read(fh, st.Size())
	if err != nil {
		return nil, fmt.Errorf("torchfile: read %s: %w", path, err)
	}
	return ts, nil
}

// Read reads a whole checkpoint of size bytes from r, in either the zip or
// the legacy torch.save format (told apart, as torch.load does, by whether
// the file starts with a zip signature), and returns its tensors keyed by
// flattened name. Non-tensor values are skipped; the top-level object must
// be a dict (or OrderedDict), or a single tensor, which is returned under
// the empty name.
func Read(r io.ReaderAt, size int64) (map[string]Tensor, error) {
	ts, err := read(r, size)
	if err != nil {
		return nil, fmt.Errorf("torchfile: %w", err)
	}
	return ts, nil
}

// read is Read without the package prefix on its errors. It turns a panic
// into an error as a last line of defence; FuzzRead checks none happens.
func read(r io.ReaderAt, size int64) (ts map[string]Tensor, err error) {
	defer func() {
		if p := recover(); p != nil {
			ts, err = nil, fmt.Errorf("internal error (please report it): %v", p)
		}
	}()
	if size < 4 {
		return nil, formatErr("", "file is %d bytes, too short for a checkpoint", size)
	}
	var magic [4]byte
	if n, err := r.ReadAt(magic[:], 0); n < len(magic) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read first bytes: %w", err)
	}
	if string(magic[:2]) == "PK" {
		return readZip(r, size)
	}
	return readLegacy(r, size)
}

// wrapperPrefixes are the name prefixes StateDict strips.
var wrapperPrefixes = []string{"model.", "state_dict.", "module."}

// StateDict returns ts without the wrapper that training checkpoints put
// around a model's state dict: while every name starts with "model.",
// "state_dict." or "module." (the last as left by DataParallel), that prefix
// is removed, so {"model": {"module": sd}} and sd give the same names. When
// a prefix is stripped the result is a new map whose tensors carry their new
// Name (sharing Data with ts); otherwise it is ts itself.
func StateDict(ts map[string]Tensor) map[string]Tensor {
	out := ts
	for len(out) > 0 {
		prefix := ""
		for _, p := range wrapperPrefixes {
			if allHavePrefix(out, p) {
				prefix = p
				break
			}
		}
		if prefix == "" {
			break
		}
		next := make(map[string]Tensor, len(out))
		for name, t := range out {
			t.Name = strings.TrimPrefix(name, prefix)
			next[t.Name] = t
		}
		out = next
	}
	return out
}

// allHavePrefix reports whether every key of ts starts with prefix.
func allHavePrefix(ts map[string]Tensor, prefix string) bool {
	for name := range ts {
		if !strings.HasPrefix(name, prefix) {
			return false
		}
	}
	return true
}
