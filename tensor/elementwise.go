package tensor

import (
	"math"

	"github.com/tessera-ml/tessera/vk"
)

var (
	unaryKernel  = vk.KernelSpec{Name: "unary", Buffers: 2, PushWords: 4}
	binaryKernel = vk.KernelSpec{Name: "binary", Buffers: 3, PushWords: 3 + 3*MaxRank}
	arangeKernel = vk.KernelSpec{Name: "arange", Buffers: 1, PushWords: 4}
)

// UnaryOp codes, as in shaders/unary.comp.
type UnaryOp uint32

const (
	OpNeg UnaryOp = iota
	OpAbs
	OpExp
	OpLog
	OpSqrt
	OpRsqrt
	OpSquare
	OpTanh
	OpSigmoid
	OpRelu
	OpLeakyRelu
	OpSilu
	OpGelu
	OpCopy
	OpAffine
	OpPowScalar
	OpMaxScalar
	OpMinScalar
)

var unaryNames = [...]string{"Neg", "Abs", "Exp", "Log", "Sqrt", "Rsqrt", "Square", "Tanh", "Sigmoid", "Relu",
	"LeakyRelu", "Silu", "Gelu", "Copy", "Affine", "PowScalar", "MaxScalar", "MinScalar"}

// String is the op's name.
func (op UnaryOp) String() string { return unaryNames[op] }

// Unary applies op elementwise.
func Unary(x *Tensor, op UnaryOp, alpha, beta float32) *Tensor { return unary(x, op, alpha, beta) }

func unary(x *Tensor, op UnaryOp, alpha, beta float32) *Tensor {
	e, err := inputs(unaryNames[op], x)
	if err != nil {
		return e.failed(err)
	}
	if x.dtype != Float32 {
		return e.failed(shapeErr(unaryNames[op], "needs float32, got %s", x.dtype))
	}
	y := e.alloc(Float32, x.shape)
	n := x.Numel()
	if y.err != nil || n == 0 {
		return y
	}
	e.run(unaryKernel, []uint32{u32(e.wg)}, e.groups1D(n),
		[]uint32{u32(n), uint32(op), math.Float32bits(alpha), math.Float32bits(beta)},
		vk.Work{Flops: float64(n), Bytes: 8 * float64(n)}, in(x), out(y))
	return y
}

// Neg returns -x.
func Neg(x *Tensor) *Tensor { return unary(x, OpNeg, 0, 0) }

// Abs returns |x|.
func Abs(x *Tensor) *Tensor { return unary(x, OpAbs, 0, 0) }

// Exp returns e^x.
func Exp(x *Tensor) *Tensor { return unary(x, OpExp, 0, 0) }

// Log returns the natural logarithm of x.
func Log(x *Tensor) *Tensor { return unary(x, OpLog, 0, 0) }

// Sqrt returns √x.
func Sqrt(x *Tensor) *Tensor { return unary(x, OpSqrt, 0, 0) }

// Rsqrt returns 1/√x.
func Rsqrt(x *Tensor) *Tensor { return unary(x, OpRsqrt, 0, 0) }

// Square returns x².
func Square(x *Tensor) *Tensor { return unary(x, OpSquare, 0, 0) }

// Tanh returns tanh(x).
func Tanh(x *Tensor) *Tensor { return unary(x, OpTanh, 0, 0) }

// Sigmoid returns 1/(1+e^-x).
func Sigmoid(x *Tensor) *Tensor { return unary(x, OpSigmoid, 0, 0) }

// Relu returns max(x, 0).
func Relu(x *Tensor) *Tensor { return unary(x, OpRelu, 0, 0) }

// LeakyRelu returns x for x ≥ 0 and slope·x otherwise.
func LeakyRelu(x *Tensor, slope float32) *Tensor { return unary(x, OpLeakyRelu, slope, 0) }

// Silu returns x·sigmoid(x).
func Silu(x *Tensor) *Tensor { return unary(x, OpSilu, 0, 0) }

// Gelu returns x·Φ(x), the exact (erf) form PyTorch uses by default.
func Gelu(x *Tensor) *Tensor { return unary(x, OpGelu, 0, 0) }

// Clone returns a copy of x.
func Clone(x *Tensor) *Tensor {
	e, err := inputs("Clone", x)
	if err != nil {
		return e.failed(err)
	}
	y := e.alloc(x.dtype, x.shape)
	if y.st != nil {
		e.dev.Copy(y.st.r, x.st.r)
	}
	return y
}

// Affine returns a·x + b.
func Affine(x *Tensor, a, b float32) *Tensor { return unary(x, OpAffine, a, b) }

// AddScalar returns x + s.
func AddScalar(x *Tensor, s float32) *Tensor { return unary(x, OpAffine, 1, s) }

// MulScalar returns s·x.
func MulScalar(x *Tensor, s float32) *Tensor { return unary(x, OpAffine, s, 0) }

// PowScalar returns x^p.
func PowScalar(x *Tensor, p float32) *Tensor { return unary(x, OpPowScalar, p, 0) }

// MaxScalar returns max(x, s).
func MaxScalar(x *Tensor, s float32) *Tensor { return unary(x, OpMaxScalar, s, 0) }

// MinScalar returns min(x, s).
func MinScalar(x *Tensor, s float32) *Tensor { return unary(x, OpMinScalar, s, 0) }

type binaryOp uint32

const (
	opAdd binaryOp = iota
	opSub
	opMul
	opDiv
	opMax
	opMin
	opPow
	opGreaterEqual
	opSecond
)

var binaryNames = [...]string{"Add", "Sub", "Mul", "Div", "Maximum", "Minimum", "Pow", "GreaterEqual", "BroadcastTo"}

// BroadcastShape returns the NumPy broadcast of two shapes.
func BroadcastShape(a, b []int) ([]int, bool) {
	n := len(a)
	if len(b) > n {
		n = len(b)
	}
	out := make([]int, n)
	for i := 0; i < n; i++ {
		da, db := 1, 1
		if j := len(a) - n + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - n + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db:
			out[i] = da
		case da == 1:
			out[i] = db
		case db == 1:
			out[i] = da
		default:
			return nil, false
		}
	}
	return out, true
}

// broadcastStrides gives the element strides of shape viewed as the
// broadcast shape out (0 on broadcast axes).
func broadcastStrides(shape, out []int) []uint32 {
	st := make([]uint32, len(out))
	stride := 1
	for i := len(out) - 1; i >= 0; i-- {
		j := len(shape) - len(out) + i
		if j >= 0 && shape[j] != 1 {
			st[i] = uint32(stride)
		}
		if j >= 0 {
			stride *= shape[j]
		}
	}
	return st
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func elementwise(a, b *Tensor, op binaryOp) *Tensor {
	shape, ok := BroadcastShape(a.shape, b.shape)
	if !ok {
		e, err := inputs(binaryNames[op], a, b)
		if err == nil {
			err = shapeErr(binaryNames[op], "cannot broadcast %v with %v", a.shape, b.shape)
		}
		return e.failed(err)
	}
	return elementwiseTo(a, b, op, shape)
}

// elementwiseTo computes a op b into a tensor of shape, which both
// operands must broadcast to.
func elementwiseTo(a, b *Tensor, op binaryOp, shape []int) *Tensor {
	name := binaryNames[op]
	e, err := inputs(name, a, b)
	if err != nil {
		return e.failed(err)
	}
	if a.dtype != Float32 || b.dtype != Float32 {
		return e.failed(shapeErr(name, "needs float32 inputs, got %s and %s", a.dtype, b.dtype))
	}
	z := e.alloc(Float32, shape)
	n := Numel(shape)
	if z.err != nil || n == 0 {
		return z
	}
	push := make([]uint32, binaryKernel.PushWords)
	push[0], push[1] = u32(n), uint32(op)
	if !sameShape(a.shape, shape) || !sameShape(b.shape, shape) {
		// Drop leading dims to fit MaxRank: shapes are at most MaxRank already.
		push[2] = u32(len(shape))
		sa, sb := broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape)
		for i, d := range shape {
			push[3+i] = u32(d)
			push[3+MaxRank+i] = sa[i]
			push[3+2*MaxRank+i] = sb[i]
		}
	}
	e.run(binaryKernel, []uint32{u32(e.wg)}, e.groups1D(n), push,
		vk.Work{Flops: float64(n), Bytes: 12 * float64(n)}, in(a), in(b), out(z))
	return z
}

// Add returns a + b with broadcasting.
func Add(a, b *Tensor) *Tensor { return elementwise(a, b, opAdd) }

// Sub returns a - b with broadcasting.
func Sub(a, b *Tensor) *Tensor { return elementwise(a, b, opSub) }

// Mul returns a·b elementwise with broadcasting.
func Mul(a, b *Tensor) *Tensor { return elementwise(a, b, opMul) }

// Div returns a/b with broadcasting.
func Div(a, b *Tensor) *Tensor { return elementwise(a, b, opDiv) }

// Maximum returns max(a, b) elementwise with broadcasting.
func Maximum(a, b *Tensor) *Tensor { return elementwise(a, b, opMax) }

// Minimum returns min(a, b) elementwise with broadcasting.
func Minimum(a, b *Tensor) *Tensor { return elementwise(a, b, opMin) }

// Pow returns a^b elementwise with broadcasting.
func Pow(a, b *Tensor) *Tensor { return elementwise(a, b, opPow) }

// GreaterEqual returns 1 where a ≥ b and 0 elsewhere, with broadcasting.
func GreaterEqual(a, b *Tensor) *Tensor { return elementwise(a, b, opGreaterEqual) }

// BroadcastTo returns x expanded to shape by NumPy broadcasting rules.
func BroadcastTo(x *Tensor, shape ...int) *Tensor {
	e, err := inputs("BroadcastTo", x)
	if err != nil {
		return e.failed(err)
	}
	if got, ok := BroadcastShape(x.shape, shape); !ok || !sameShape(got, shape) {
		return e.failed(shapeErr("BroadcastTo", "cannot broadcast %v to %v", x.shape, shape))
	}
	return elementwiseTo(x, x, opSecond, shape)
}

// Arange returns the n values start, start+step, ... as float32.
func (e *Engine) Arange(n int, start, step float32) *Tensor { return e.arange(Float32, n, start, step) }

// ArangeInt returns the n values start, start+step, ... as int32.
func (e *Engine) ArangeInt(n int, start, step int32) *Tensor {
	return e.arange(Int32, n, float32(start), float32(step))
}

func (e *Engine) arange(dt DType, n int, start, step float32) *Tensor {
	t := e.alloc(dt, []int{n})
	if t.err != nil || n == 0 {
		return t
	}
	isInt := uint32(0)
	if dt == Int32 {
		isInt = 1
	}
	e.run(arangeKernel, []uint32{u32(e.wg)}, e.groups1D(n),
		[]uint32{u32(n), isInt, math.Float32bits(start), math.Float32bits(step)}, vk.Work{Bytes: 4 * float64(n)}, out(t))
	return t
}

// AddInPlace adds src (broadcast to dst's shape) into dst: the gradient
// accumulation of parameters, without a new allocation.
func AddInPlace(dst, src *Tensor) error {
	e, err := inputs("AddInPlace", dst, src)
	if err != nil {
		return err
	}
	if dst.dtype != Float32 || src.dtype != Float32 {
		return shapeErr("AddInPlace", "needs float32 tensors")
	}
	shape, ok := BroadcastShape(dst.shape, src.shape)
	if !ok || !sameShape(shape, dst.shape) {
		return shapeErr("AddInPlace", "cannot add %v into %v", src.shape, dst.shape)
	}
	n := dst.Numel()
	if n == 0 {
		return nil
	}
	push := make([]uint32, binaryKernel.PushWords)
	push[0], push[1] = u32(n), uint32(opAdd)
	if !sameShape(src.shape, shape) {
		push[2] = u32(len(shape))
		sa, sb := broadcastStrides(dst.shape, shape), broadcastStrides(src.shape, shape)
		for i, d := range shape {
			push[3+i] = u32(d)
			push[3+MaxRank+i] = sa[i]
			push[3+2*MaxRank+i] = sb[i]
		}
	}
	// Each invocation reads and writes only its own element of dst, so
	// binding it as both input and output is safe.
	e.run(binaryKernel, []uint32{u32(e.wg)}, e.groups1D(n), push,
		vk.Work{Flops: float64(n), Bytes: 12 * float64(n)}, in(dst), in(src), out(dst))
	return nil
}

var unaryBackwardKernel = vk.KernelSpec{Name: "unary_backward", Buffers: 4, PushWords: 4}

// UnaryGrad returns dy·f'(x) for y = Unary(x, op, alpha, beta): the
// vector–Jacobian product of every elementwise function.
func UnaryGrad(op UnaryOp, x, y, dy *Tensor, alpha, beta float32) *Tensor {
	e, err := inputs(unaryNames[op]+"Grad", x, y, dy)
	if err != nil {
		return e.failed(err)
	}
	if !sameShape(x.shape, y.shape) || !sameShape(x.shape, dy.shape) {
		return e.failed(shapeErr(unaryNames[op]+"Grad", "x %v, y %v and dy %v must match", x.shape, y.shape, dy.shape))
	}
	dx := e.alloc(Float32, x.shape)
	n := x.Numel()
	if dx.err != nil || n == 0 {
		return dx
	}
	e.run(unaryBackwardKernel, []uint32{u32(e.wg)}, e.groups1D(n),
		[]uint32{u32(n), uint32(op), math.Float32bits(alpha), math.Float32bits(beta)},
		vk.Work{Flops: 2 * float64(n), Bytes: 16 * float64(n)}, in(x), in(y), in(dy), out(dx))
	return dx
}

var oneHotKernel = vk.KernelSpec{Name: "onehot", Buffers: 2, PushWords: 2}

// OneHot returns float32 [ids..., classes] with a 1 at each id; ids
// outside [0, classes) give rows of zeros.
func OneHot(ids *Tensor, classes int) *Tensor {
	e, err := inputs("OneHot", ids)
	if err != nil {
		return e.failed(err)
	}
	if ids.dtype != Int32 {
		return e.failed(shapeErr("OneHot", "ids must be int32, got %s", ids.dtype))
	}
	if classes <= 0 {
		return e.failed(shapeErr("OneHot", "classes must be positive, got %d", classes))
	}
	o := e.alloc(Float32, append(ids.Shape(), classes))
	n := o.Numel()
	if o.err != nil || n == 0 {
		return o
	}
	e.run(oneHotKernel, []uint32{u32(e.wg)}, e.groups1D(n), []uint32{u32(n), u32(classes)},
		vk.Work{Bytes: 4 * float64(n)}, in(ids), out(o))
	return o
}
