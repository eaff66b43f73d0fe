package safetensors

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxHeaderSize is the largest header, in bytes, that Read accepts and
// Write produces. It matches the reference library's limit.
const MaxHeaderSize = 100_000_000

// metadataKey is the one header key that does not name a tensor.
const metadataKey = "__metadata__"

// Tensor is one tensor of a safetensors file, with its data raw, exactly as
// stored: little-endian, row-major. A scalar has an empty Shape (and one
// element); a tensor with a zero in its Shape has no elements and no data.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// File is the decoded contents of a safetensors file.
type File struct {
	// Metadata is the header's "__metadata__" object, or nil if the header
	// has none (or has it as null).
	Metadata map[string]string
	// Tensors are in file order: by data offset, then by name for
	// zero-size tensors at the same offset.
	Tensors []Tensor
}

// FormatError reports a malformed safetensors file: what is wrong and,
// where the problem belongs to one tensor, which.
type FormatError struct {
	// Tensor names the tensor concerned; it is empty for problems with the
	// file as a whole or with its metadata (tensor names are never empty).
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

// Get returns a pointer to the tensor called name (into f.Tensors, so
// changes through it change f), or false if f has none.
func (f *File) Get(name string) (*Tensor, bool) {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			return &f.Tensors[i], true
		}
	}
	return nil, false
}

// ReadFile reads and validates the safetensors file at path; see Read.
// Errors name the path.
func ReadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("safetensors: read %s: not a regular file", path)
	}
	f, err := read(fh, st.Size())
	if err != nil {
		return nil, fmt.Errorf("safetensors: read %s: %w", path, err)
	}
	return f, nil
}

// Read reads and validates a whole safetensors file of size bytes from r.
//
// It checks the header length against size and MaxHeaderSize, that the
// header is UTF-8 JSON holding one object with no duplicate keys, that
// "__metadata__" (if present) maps strings to strings, and for every
// tensor: a non-empty name, a known dtype, a shape of non-negative
// integers, data_offsets of exactly two non-negative integers with begin <=
// end <= the data section's length, and end - begin equal to the element
// count times the dtype's size. Tensors may not overlap; gaps between them
// are allowed. Unknown fields in a tensor's entry are ignored, as the
// reference library does. Problems with the contents are reported as a
// *FormatError (wrapped), I/O problems as the reader's error (wrapped).
//
// Read allocates no more than the header plus the data it returns, and the
// data never exceeds size; each Tensor's Data is a slice of one shared
// buffer, capped so that appending to it cannot touch its neighbours.
func Read(r io.ReaderAt, size int64) (*File, error) {
	f, err := read(r, size)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return f, nil
}

// read is Read without the package prefix on its errors.
func read(r io.ReaderAt, size int64) (*File, error) {
	if size < 8 {
		return nil, formatErr("", "file is %d bytes, shorter than the 8-byte header length", size)
	}
	var prefix [8]byte
	if err := readAt(r, prefix[:], 0); err != nil {
		return nil, fmt.Errorf("read header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(prefix[:])
	if n > MaxHeaderSize {
		return nil, formatErr("", "header length %d exceeds the %d-byte limit", n, MaxHeaderSize)
	}
	if n > uint64(size-8) {
		return nil, formatErr("", "header length %d is larger than the %d bytes of the file after the length", n, size-8)
	}
	header := make([]byte, n)
	if err := readAt(r, header, 8); err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	dataStart := 8 + int64(n)
	dataLen := size - dataStart

	meta, tensors, err := parseHeader(header, dataLen)
	if err != nil {
		return nil, err
	}
	end, err := checkLayout(tensors)
	if err != nil {
		return nil, err
	}
	data := make([]byte, end)
	if err := readAt(r, data, dataStart); err != nil {
		return nil, fmt.Errorf("read tensor data: %w", err)
	}
	f := &File{Metadata: meta, Tensors: make([]Tensor, len(tensors))}
	for i, e := range tensors {
		f.Tensors[i] = Tensor{Name: e.name, DType: e.dtype, Shape: e.shape, Data: data[e.begin:e.end:e.end]}
	}
	return f, nil
}

// readAt fills p from r at off, treating a short read as an error.
func readAt(r io.ReaderAt, p []byte, off int64) error {
	if len(p) == 0 {
		return nil
	}
	_, err := io.ReadFull(io.NewSectionReader(r, off, int64(len(p))), p)
	return err
}

// entry is one tensor's header entry, validated against the data section.
type entry struct {
	name       string
	dtype      DType
	shape      []int
	begin, end int64
}

// checkLayout sorts tensors into file order, rejects overlaps, and returns
// the largest end offset (zero-size tensors included, so that slicing the
// data up to it is in bounds for every tensor).
func checkLayout(tensors []entry) (int64, error) {
	slices.SortFunc(tensors, func(a, b entry) int {
		if a.begin != b.begin {
			return cmp.Compare(a.begin, b.begin)
		}
		if a.end != b.end {
			return cmp.Compare(a.end, b.end)
		}
		return strings.Compare(a.name, b.name)
	})
	var end, maxEnd int64
	last := -1 // index of the non-empty tensor reaching furthest so far
	for i, t := range tensors {
		maxEnd = max(maxEnd, t.end)
		if t.begin == t.end {
			continue // zero-size tensors occupy no bytes
		}
		if last >= 0 && t.begin < end {
			p := tensors[last]
			return 0, formatErr(t.name, "data_offsets [%d,%d] overlap those of tensor %q [%d,%d]", t.begin, t.end, p.name, p.begin, p.end)
		}
		end, last = t.end, i
	}
	return maxEnd, nil
}

// parseHeader decodes and validates the header JSON, token by token so that
// duplicate keys are caught, against a data section of dataLen bytes.
func parseHeader(header []byte, dataLen int64) (map[string]string, []entry, error) {
	if !utf8.Valid(header) {
		return nil, nil, formatErr("", "header is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(header))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, formatErr("", "header is not valid JSON: %v", jsonErr(err))
	}
	if tok != json.Delim('{') {
		return nil, nil, formatErr("", "header is not a JSON object")
	}
	var (
		meta    map[string]string
		tensors []entry
		seen    = map[string]bool{}
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, formatErr("", "header is not valid JSON: %v", jsonErr(err))
		}
		name, ok := tok.(string)
		if !ok {
			return nil, nil, formatErr("", "header is not valid JSON: object key %s is not a string", describe(tok))
		}
		if seen[name] {
			if name == metadataKey {
				return nil, nil, formatErr("", "duplicate %s key", metadataKey)
			}
			return nil, nil, formatErr(name, "duplicate tensor name")
		}
		seen[name] = true
		if name == metadataKey {
			if meta, err = parseMetadata(dec); err != nil {
				return nil, nil, err
			}
			continue
		}
		e, err := parseEntry(dec, name, dataLen)
		if err != nil {
			return nil, nil, err
		}
		tensors = append(tensors, e)
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, nil, formatErr("", "header is not valid JSON: %v", jsonErr(err))
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err != nil {
			return nil, nil, formatErr("", "header is not valid JSON: %v", jsonErr(err))
		}
		return nil, nil, formatErr("", "header has %s after its JSON object", describe(tok))
	}
	return meta, tensors, nil
}

// parseMetadata decodes the value of "__metadata__": null, or an object of
// strings without duplicate keys.
func parseMetadata(dec *json.Decoder) (map[string]string, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, formatErr("", "%s: invalid JSON: %v", metadataKey, jsonErr(err))
	}
	if tok == nil {
		return nil, nil
	}
	if tok != json.Delim('{') {
		return nil, formatErr("", "%s is not a JSON object", metadataKey)
	}
	meta := map[string]string{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, formatErr("", "%s: invalid JSON: %v", metadataKey, jsonErr(err))
		}
		key, ok := tok.(string)
		if !ok {
			return nil, formatErr("", "%s: key %s is not a string", metadataKey, describe(tok))
		}
		if _, dup := meta[key]; dup {
			return nil, formatErr("", "%s: duplicate key %q", metadataKey, key)
		}
		tok, err = dec.Token()
		if err != nil {
			return nil, formatErr("", "%s key %q: invalid JSON: %v", metadataKey, key, jsonErr(err))
		}
		val, ok := tok.(string)
		if !ok {
			return nil, formatErr("", "%s key %q: value is not a string", metadataKey, key)
		}
		meta[key] = val
	}
	if _, err := dec.Token(); err != nil {
		return nil, formatErr("", "%s: invalid JSON: %v", metadataKey, jsonErr(err))
	}
	return meta, nil
}

// parseEntry decodes and validates the header entry of the tensor called
// name.
func parseEntry(dec *json.Decoder, name string, dataLen int64) (entry, error) {
	e := entry{name: name}
	fail := func(format string, args ...any) (entry, error) {
		return entry{}, formatErr(name, format, args...)
	}
	if name == "" {
		return fail("empty tensor name")
	}
	tok, err := dec.Token()
	if err != nil {
		return fail("invalid JSON: %v", jsonErr(err))
	}
	if tok != json.Delim('{') {
		return fail("entry is not a JSON object")
	}
	var haveDType, haveShape, haveOffsets bool
	var offsets []int64
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fail("invalid JSON: %v", jsonErr(err))
		}
		field, ok := tok.(string)
		if !ok {
			return fail("invalid JSON: key %s is not a string", describe(tok))
		}
		if seen[field] {
			return fail("duplicate field %q", field)
		}
		seen[field] = true
		switch field {
		case "dtype":
			tok, err := dec.Token()
			if err != nil {
				return fail("invalid JSON: %v", jsonErr(err))
			}
			s, ok := tok.(string)
			if !ok {
				return fail("dtype %s is not a string", describe(tok))
			}
			if e.dtype = DType(s); !e.dtype.Valid() {
				return fail("unknown dtype %q", s)
			}
			haveDType = true
		case "shape":
			dims, err := parseInts(dec, "shape")
			if err != nil {
				return fail("%v", err)
			}
			e.shape = make([]int, len(dims))
			for i, d := range dims {
				if d > math.MaxInt {
					return fail("shape entry %d is too large", d)
				}
				e.shape[i] = int(d)
			}
			haveShape = true
		case "data_offsets":
			if offsets, err = parseInts(dec, "data_offsets"); err != nil {
				return fail("%v", err)
			}
			if len(offsets) != 2 {
				return fail("data_offsets has %d entries, want 2 ([begin, end])", len(offsets))
			}
			haveOffsets = true
		default: // ignored, as by the reference library
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return fail("field %q: invalid JSON: %v", field, jsonErr(err))
			}
		}
	}
	if _, err := dec.Token(); err != nil {
		return fail("invalid JSON: %v", jsonErr(err))
	}
	switch {
	case !haveDType:
		return fail("missing dtype")
	case !haveShape:
		return fail("missing shape")
	case !haveOffsets:
		return fail("missing data_offsets")
	}
	e.begin, e.end = offsets[0], offsets[1]
	if e.begin > e.end {
		return fail("data_offsets begin %d is after end %d", e.begin, e.end)
	}
	if e.end > dataLen {
		return fail("data_offsets end %d is beyond the %d-byte data section", e.end, dataLen)
	}
	nbytes, err := byteSize(e.dtype, e.shape)
	if err != nil {
		return fail("%v", err)
	}
	if nbytes != e.end-e.begin {
		return fail("shape %v of %s needs %d bytes but data_offsets [%d,%d] span %d", e.shape, e.dtype, nbytes, e.begin, e.end, e.end-e.begin)
	}
	return e, nil
}

// parseInts decodes a JSON array of non-negative integers (each at most
// math.MaxInt64); what names the array in errors.
func parseInts(dec *json.Decoder, what string) ([]int64, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", jsonErr(err))
	}
	if tok != json.Delim('[') {
		return nil, fmt.Errorf("%s is not a JSON array", what)
	}
	var out []int64
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("invalid JSON: %w", jsonErr(err))
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%s entry %s is not a number", what, describe(tok))
		}
		v, err := parseNonNegative(string(num))
		if err != nil {
			return nil, fmt.Errorf("%s entry %s %w", what, num, err)
		}
		out = append(out, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", jsonErr(err))
	}
	return out, nil
}

// errNegative and friends complete "<what> entry <n> ..." messages.
var (
	errNegative   = errors.New("is negative")
	errNotInteger = errors.New("is not an integer")
	errTooLarge   = errors.New("is too large")
)

// parseNonNegative parses a JSON number that must be a plain non-negative
// integer no larger than math.MaxInt64 (so "1.0" and "1e3" are refused, as
// by the reference library).
func parseNonNegative(s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if strings.HasPrefix(s, "-") && (err != nil || v != 0) { // "-0" is zero
		return 0, errNegative
	}
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, errTooLarge
		}
		return 0, errNotInteger
	}
	return v, nil
}

// byteSize returns the number of bytes a tensor of dtype and shape holds,
// refusing element counts or byte sizes that overflow an int64, as the
// reference library does (even when a later dimension is zero).
func byteSize(dtype DType, shape []int) (int64, error) {
	numel := uint64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape entry %d is negative", d)
		}
		hi, lo := bits.Mul64(numel, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, fmt.Errorf("shape %v: element count overflows", shape)
		}
		numel = lo
	}
	hi, lo := bits.Mul64(numel, uint64(dtype.Size()))
	if hi != 0 || lo > math.MaxInt64 {
		return 0, fmt.Errorf("shape %v of %s: byte size overflows", shape, dtype)
	}
	return int64(lo), nil
}

// describe renders a JSON token for an error message, in JSON syntax.
func describe(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(v)
	case json.Delim:
		return string(v)
	}
	return fmt.Sprint(tok)
}

// jsonErr makes a decoder error readable: a header that stops early is
// reported as such rather than as a bare EOF.
func jsonErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("unexpected end of header")
	}
	return err
}
