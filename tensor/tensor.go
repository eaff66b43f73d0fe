package tensor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/tessera-ml/tessera/vk"
)

// DType is a tensor's element type.
type DType uint8

// Element types: float32 for values, int32 for indices and token ids.
const (
	Float32 DType = iota
	Int32
)

func (d DType) String() string {
	if d == Int32 {
		return "int32"
	}
	return "float32"
}

// MaxRank is the most dimensions a tensor may have.
const MaxRank = 8

// storage is a device allocation shared by a tensor and its views.
type storage struct {
	r    vk.Range
	refs int
}

// Tensor is a dense, row-major array on the device.
type Tensor struct {
	eng      *Engine
	st       *storage
	shape    []int
	dtype    DType
	err      error
	released bool
	persist  bool // not released by its scope
}

// Engine is a device plus the tensor layer's state for it.
type Engine struct {
	dev    *vk.Device
	scopes []*Scope
	err    error
	// wg is the workgroup size of simple 1-D kernels: a multiple of the
	// subgroup size (8 on Lavapipe, 32/64 on GPUs).
	wg int
}

// New wraps dev.
func New(dev *vk.Device) *Engine {
	wg := 64
	if sg := int(dev.Info.SubgroupSize); sg > wg {
		wg = sg
	}
	return &Engine{dev: dev, wg: wg}
}

// Device returns the engine's device.
func (e *Engine) Device() *vk.Device { return e.dev }

// Err returns the first error recorded by an op, and by the device's
// stream, and clears both.
func (e *Engine) Err() error {
	err := e.err
	e.err = nil
	if derr := e.dev.Err(); err == nil {
		err = derr
	}
	return err
}

// Sync waits for all recorded work and returns Err.
func (e *Engine) Sync() error {
	if err := e.dev.Sync(); err != nil && e.err == nil {
		e.err = err
	}
	return e.Err()
}

func (e *Engine) fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

// ErrShape is wrapped by every error about shapes that do not fit an op.
var ErrShape = errors.New("tensor: shape mismatch")

func shapeErr(op string, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrShape, op, fmt.Sprintf(format, args...))
}

// Numel is the number of elements of shape.
func Numel(shape []int) int {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return n
}

// Shape returns a copy of t's shape.
func (t *Tensor) Shape() []int { return append([]int(nil), t.shape...) }

// Dim returns the size of axis i (negative counts from the end).
func (t *Tensor) Dim(i int) int {
	if i < 0 {
		i += len(t.shape)
	}
	return t.shape[i]
}

// Rank is the number of dimensions.
func (t *Tensor) Rank() int { return len(t.shape) }

// Numel is the number of elements.
func (t *Tensor) Numel() int { return Numel(t.shape) }

// DType is the element type.
func (t *Tensor) DType() DType { return t.dtype }

// Engine is the engine t lives on.
func (t *Tensor) Engine() *Engine { return t.eng }

// Err is the error that made t fail, or nil.
func (t *Tensor) Err() error { return t.err }

// Range is t's device memory (invalid for zero-size or failed tensors).
func (t *Tensor) Range() vk.Range {
	if t.st == nil {
		return vk.Range{}
	}
	return t.st.r
}

func (t *Tensor) String() string {
	if t.err != nil {
		return fmt.Sprintf("Tensor(failed: %v)", t.err)
	}
	return fmt.Sprintf("Tensor(%v, %s)", t.shape, t.dtype)
}

// alloc creates an uninitialised tensor in the current scope. On failure
// it records the error and returns a failed tensor.
func (e *Engine) alloc(dtype DType, shape []int) *Tensor {
	t := &Tensor{eng: e, shape: append([]int(nil), shape...), dtype: dtype}
	for _, s := range shape {
		if s < 0 {
			t.err = shapeErr("alloc", "negative dimension in %v", shape)
			e.fail(t.err)
			return t
		}
	}
	if len(shape) > MaxRank {
		t.err = shapeErr("alloc", "rank %d exceeds %d", len(shape), MaxRank)
		e.fail(t.err)
		return t
	}
	if n := Numel(shape); n > 0 {
		r, err := e.dev.Alloc(uint64(n) * 4)
		if err != nil {
			t.err = fmt.Errorf("tensor %v %s: %w", shape, dtype, err)
			e.fail(t.err)
			return t
		}
		t.st = &storage{r: r, refs: 1}
	}
	e.own(t)
	return t
}

// failed returns a failed tensor carrying err (recorded on the engine).
func (e *Engine) failed(err error) *Tensor {
	e.fail(err)
	return &Tensor{eng: e, err: err}
}

// Empty allocates an uninitialised float32 tensor.
func (e *Engine) Empty(shape ...int) *Tensor { return e.alloc(Float32, shape) }

// EmptyInt allocates an uninitialised int32 tensor.
func (e *Engine) EmptyInt(shape ...int) *Tensor { return e.alloc(Int32, shape) }

// Zeros allocates a float32 tensor of zeros.
func (e *Engine) Zeros(shape ...int) *Tensor { return e.Full(0, shape...) }

// Full allocates a float32 tensor filled with v.
func (e *Engine) Full(v float32, shape ...int) *Tensor {
	t := e.alloc(Float32, shape)
	if t.st != nil {
		e.dev.Fill(t.st.r, math.Float32bits(v))
	}
	return t
}

// FullInt allocates an int32 tensor filled with v.
func (e *Engine) FullInt(v int32, shape ...int) *Tensor {
	t := e.alloc(Int32, shape)
	if t.st != nil {
		e.dev.Fill(t.st.r, uint32(v))
	}
	return t
}

// FromFloat32 uploads data as a tensor of the given shape.
func (e *Engine) FromFloat32(data []float32, shape ...int) *Tensor {
	if len(data) != Numel(shape) {
		return e.failed(shapeErr("FromFloat32", "%d values for shape %v", len(data), shape))
	}
	t := e.alloc(Float32, shape)
	if t.st != nil && len(data) > 0 {
		if err := e.dev.Write(t.st.r, unsafe.Slice((*byte)(unsafe.Pointer(&data[0])), 4*len(data))); err != nil {
			e.fail(err)
		}
	}
	return t
}

// FromInt32 uploads int32 data as a tensor of the given shape.
func (e *Engine) FromInt32(data []int32, shape ...int) *Tensor {
	if len(data) != Numel(shape) {
		return e.failed(shapeErr("FromInt32", "%d values for shape %v", len(data), shape))
	}
	t := e.alloc(Int32, shape)
	if t.st != nil && len(data) > 0 {
		if err := e.dev.Write(t.st.r, unsafe.Slice((*byte)(unsafe.Pointer(&data[0])), 4*len(data))); err != nil {
			e.fail(err)
		}
	}
	return t
}

func (t *Tensor) read() ([]byte, error) {
	if t.err != nil {
		return nil, t.err
	}
	if t.released {
		return nil, fmt.Errorf("tensor: reading a released tensor %v", t.shape)
	}
	b := make([]byte, 4*t.Numel())
	if t.st != nil {
		if err := t.eng.dev.Read(t.st.r, b); err != nil {
			return nil, err
		}
	}
	if err := t.eng.Err(); err != nil {
		return nil, err
	}
	return b, nil
}

// Float32 waits for t and copies it to the host.
func (t *Tensor) Float32() ([]float32, error) {
	if t.dtype != Float32 {
		return nil, fmt.Errorf("tensor: Float32 on an %s tensor", t.dtype)
	}
	b, err := t.read()
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, nil
}

// Int32 waits for t and copies it to the host.
func (t *Tensor) Int32() ([]int32, error) {
	if t.dtype != Int32 {
		return nil, fmt.Errorf("tensor: Int32 on a %s tensor", t.dtype)
	}
	b, err := t.read()
	if err != nil {
		return nil, err
	}
	out := make([]int32, len(b)/4)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, nil
}

// Item returns the single value of a one-element float32 tensor.
func (t *Tensor) Item() (float32, error) {
	if t.err == nil && t.Numel() != 1 {
		return 0, fmt.Errorf("tensor: Item on a tensor of shape %v", t.shape)
	}
	v, err := t.Float32()
	if err != nil {
		return 0, err
	}
	return v[0], nil
}

// Reshape returns a view of t with a new shape of the same size; one
// dimension may be -1 and is inferred.
func (t *Tensor) Reshape(shape ...int) *Tensor {
	if t.err != nil {
		return t
	}
	shape = append([]int(nil), shape...)
	infer := -1
	known := 1
	for i, s := range shape {
		switch {
		case s == -1 && infer < 0:
			infer = i
		case s < 0:
			return t.eng.failed(shapeErr("Reshape", "bad shape %v", shape))
		default:
			known *= s
		}
	}
	n := t.Numel()
	if infer >= 0 {
		if known == 0 || n%known != 0 {
			return t.eng.failed(shapeErr("Reshape", "cannot infer -1 in %v for %d elements", shape, n))
		}
		shape[infer] = n / known
	}
	if Numel(shape) != n {
		return t.eng.failed(shapeErr("Reshape", "%v (%d elements) to %v", t.shape, n, shape))
	}
	v := &Tensor{eng: t.eng, st: t.st, shape: shape, dtype: t.dtype}
	if v.st != nil {
		v.st.refs++
	}
	t.eng.own(v)
	return v
}

// Persist takes t out of scope ownership: no scope will release it, its
// owner (a module's parameter, an optimiser's state) must. It returns t.
func (t *Tensor) Persist() *Tensor {
	t.persist = true
	return t
}

// Release frees t's storage once no view of it remains. Releasing twice,
// or a tensor its scope already released, does nothing.
func (t *Tensor) Release() {
	if t == nil || t.released {
		return
	}
	t.released = true
	if t.st == nil {
		return
	}
	t.st.refs--
	if t.st.refs == 0 {
		t.eng.dev.Free(t.st.r)
	}
	t.st = nil
}

// Copy copies src's values into dst (same shape and type): loading
// checkpoint values into existing parameters.
func Copy(dst, src *Tensor) error {
	e, err := inputs("Copy", dst, src)
	if err != nil {
		return err
	}
	if !sameShape(dst.shape, src.shape) || dst.dtype != src.dtype {
		err := shapeErr("Copy", "%v %s into %v %s", src.shape, src.dtype, dst.shape, dst.dtype)
		e.fail(err)
		return err
	}
	if dst.st != nil {
		e.dev.Copy(dst.st.r, src.st.r)
	}
	return nil
}

// Write uploads host values into an existing float32 tensor.
func (t *Tensor) Write(data []float32) error {
	if t.err != nil {
		return t.err
	}
	if t.dtype != Float32 || len(data) != t.Numel() {
		return shapeErr("Write", "%d float32 values into %v %s", len(data), t.shape, t.dtype)
	}
	if t.st == nil {
		return nil
	}
	return t.eng.dev.Write(t.st.r, unsafe.Slice((*byte)(unsafe.Pointer(&data[0])), 4*len(data)))
}
