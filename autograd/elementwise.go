package autograd

import (
	"github.com/tessera-ml/tessera/tensor"
)

// Unary applies an elementwise function (see tensor.UnaryOp).
func Unary(x *Var, op tensor.UnaryOp, alpha, beta float32) *Var {
	y := tensor.Unary(x.Value, op, alpha, beta)
	return record(op.String(), y, []*Var{x}, func(g *tensor.Tensor) []*tensor.Tensor {
		// The linear ops need no kernel of their own.
		switch op {
		case tensor.OpNeg:
			return []*tensor.Tensor{tensor.Neg(g)}
		case tensor.OpAffine:
			return []*tensor.Tensor{tensor.MulScalar(g, alpha)}
		case tensor.OpCopy:
			return []*tensor.Tensor{view(g)}
		}
		return []*tensor.Tensor{tensor.UnaryGrad(op, x.Value, y, g, alpha, beta)}
	})
}

// Neg returns -x.
func Neg(x *Var) *Var { return Unary(x, tensor.OpNeg, 0, 0) }

// Abs returns |x|.
func Abs(x *Var) *Var { return Unary(x, tensor.OpAbs, 0, 0) }

// Exp returns e^x.
func Exp(x *Var) *Var { return Unary(x, tensor.OpExp, 0, 0) }

// Log returns ln x.
func Log(x *Var) *Var { return Unary(x, tensor.OpLog, 0, 0) }

// Sqrt returns √x.
func Sqrt(x *Var) *Var { return Unary(x, tensor.OpSqrt, 0, 0) }

// Rsqrt returns 1/√x.
func Rsqrt(x *Var) *Var { return Unary(x, tensor.OpRsqrt, 0, 0) }

// Square returns x².
func Square(x *Var) *Var { return Unary(x, tensor.OpSquare, 0, 0) }

// Tanh returns tanh x.
func Tanh(x *Var) *Var { return Unary(x, tensor.OpTanh, 0, 0) }

// Sigmoid returns 1/(1+e^-x).
func Sigmoid(x *Var) *Var { return Unary(x, tensor.OpSigmoid, 0, 0) }

// Relu returns max(x, 0).
func Relu(x *Var) *Var { return Unary(x, tensor.OpRelu, 0, 0) }

// LeakyRelu returns x or slope·x for negative x.
func LeakyRelu(x *Var, slope float32) *Var { return Unary(x, tensor.OpLeakyRelu, slope, 0) }

// Silu returns x·sigmoid(x).
func Silu(x *Var) *Var { return Unary(x, tensor.OpSilu, 0, 0) }

// Gelu returns x·Φ(x) (erf form).
func Gelu(x *Var) *Var { return Unary(x, tensor.OpGelu, 0, 0) }

// Affine returns a·x + b.
func Affine(x *Var, a, b float32) *Var { return Unary(x, tensor.OpAffine, a, b) }

// AddScalar returns x + s.
func AddScalar(x *Var, s float32) *Var { return Unary(x, tensor.OpAffine, 1, s) }

// MulScalar returns s·x.
func MulScalar(x *Var, s float32) *Var { return Unary(x, tensor.OpAffine, s, 0) }

// PowScalar returns x^p.
func PowScalar(x *Var, p float32) *Var { return Unary(x, tensor.OpPowScalar, p, 0) }

// MaxScalar returns max(x, s) (gradient 1 where x ≥ s).
func MaxScalar(x *Var, s float32) *Var { return Unary(x, tensor.OpMaxScalar, s, 0) }

// MinScalar returns min(x, s) (gradient 1 where x ≤ s).
func MinScalar(x *Var, s float32) *Var { return Unary(x, tensor.OpMinScalar, s, 0) }

// sumTo reduces g over the axes broadcasting expanded from shape.
func sumTo(g *tensor.Tensor, shape []int) *tensor.Tensor {
	gs := g.Shape()
	if sameShape(gs, shape) {
		return g.Reshape(gs...)
	}
	cur := g
	lead := len(gs) - len(shape)
	// Sum the leading axes that shape lacks, then the size-1 axes.
	for i := 0; i < lead; i++ {
		next := tensor.Sum(cur, 0)
		if cur != g {
			cur.Release()
		}
		cur = next
	}
	for i, d := range shape {
		if d == 1 && cur.Dim(i) != 1 {
			s := tensor.Sum(cur, i)
			keep := s.Reshape(append(append(append([]int{}, s.Shape()[:i]...), 1), s.Shape()[i:]...)...)
			s.Release()
			if cur != g {
				cur.Release()
			}
			cur = keep
		}
	}
	out := cur.Reshape(shape...)
	if cur != g {
		cur.Release()
	}
	return out
}

func binaryVar(op string, a, b *Var, f func(x, y *tensor.Tensor) *tensor.Tensor,
	vjp func(g, z *tensor.Tensor) (ga, gb *tensor.Tensor)) *Var {
	z := f(a.Value, b.Value)
	return record(op, z, []*Var{a, b}, func(g *tensor.Tensor) []*tensor.Tensor {
		ga, gb := vjp(g, z)
		out := []*tensor.Tensor{nil, nil}
		if a.requires && ga != nil {
			out[0] = sumTo(ga, a.Value.Shape())
		}
		if b.requires && gb != nil {
			out[1] = sumTo(gb, b.Value.Shape())
		}
		if ga != nil {
			ga.Release()
		}
		if gb != nil {
			gb.Release()
		}
		return out
	})
}

// view is a new reference to g: VJPs return fresh tensors the engine may
// release, and g stays owned by the caller.
func view(g *tensor.Tensor) *tensor.Tensor { return g.Reshape(g.Shape()...) }

// Add returns a + b with broadcasting.
func Add(a, b *Var) *Var {
	return binaryVar("Add", a, b, tensor.Add, func(g, _ *tensor.Tensor) (*tensor.Tensor, *tensor.Tensor) {
		return view(g), view(g)
	})
}

// Sub returns a - b with broadcasting.
func Sub(a, b *Var) *Var {
	return binaryVar("Sub", a, b, tensor.Sub, func(g, _ *tensor.Tensor) (*tensor.Tensor, *tensor.Tensor) {
		var gb *tensor.Tensor
		if b.requires {
			gb = tensor.Neg(g)
		}
		return view(g), gb
	})
}

// Mul returns a·b elementwise with broadcasting.
func Mul(a, b *Var) *Var {
	return binaryVar("Mul", a, b, tensor.Mul, func(g, _ *tensor.Tensor) (ga, gb *tensor.Tensor) {
		if a.requires {
			ga = tensor.Mul(g, b.Value)
		}
		if b.requires {
			gb = tensor.Mul(g, a.Value)
		}
		return ga, gb
	})
}

// Div returns a/b elementwise with broadcasting.
func Div(a, b *Var) *Var {
	return binaryVar("Div", a, b, tensor.Div, func(g, z *tensor.Tensor) (ga, gb *tensor.Tensor) {
		if a.requires {
			ga = tensor.Div(g, b.Value)
		}
		if b.requires {
			// d(a/b)/db = -z/b.
			t := tensor.Div(z, b.Value)
			gb = tensor.Neg(tensor.Mul(g, t))
			t.Release()
		}
		return ga, gb
	})
}

// Maximum returns max(a, b) elementwise; ties send the gradient to a.
func Maximum(a, b *Var) *Var {
	return binaryVar("Maximum", a, b, tensor.Maximum, func(g, _ *tensor.Tensor) (ga, gb *tensor.Tensor) {
		mask := tensor.GreaterEqual(a.Value, b.Value)
		ga = tensor.Mul(g, mask)
		gb = tensor.Sub(g, ga)
		mask.Release()
		return ga, gb
	})
}

// Minimum returns min(a, b) elementwise; ties send the gradient to a.
func Minimum(a, b *Var) *Var {
	return binaryVar("Minimum", a, b, tensor.Minimum, func(g, _ *tensor.Tensor) (ga, gb *tensor.Tensor) {
		mask := tensor.GreaterEqual(b.Value, a.Value)
		ga = tensor.Mul(g, mask)
		gb = tensor.Sub(g, ga)
		mask.Release()
		return ga, gb
	})
}

// Pow returns a^b elementwise with broadcasting.
func Pow(a, b *Var) *Var {
	return binaryVar("Pow", a, b, tensor.Pow, func(g, z *tensor.Tensor) (ga, gb *tensor.Tensor) {
		if a.requires {
			// b·a^(b-1) = b·z/a.
			t := tensor.Div(tensor.Mul(z, b.Value), a.Value)
			ga = tensor.Mul(g, t)
		}
		if b.requires {
			gb = tensor.Mul(tensor.Mul(g, z), tensor.Log(a.Value))
		}
		return ga, gb
	})
}

// Matmul returns a @ b (see tensor.Matmul).
func Matmul(a, b *Var, transA, transB bool) *Var {
	y := tensor.Matmul(a.Value, b.Value, transA, transB)
	return record("Matmul", y, []*Var{a, b}, func(g *tensor.Tensor) []*tensor.Tensor {
		var da, db *tensor.Tensor
		if a.requires {
			var full *tensor.Tensor
			if transA {
				full = tensor.Matmul(b.Value, g, transB, true)
			} else {
				full = tensor.Matmul(g, b.Value, false, !transB)
			}
			da = sumTo(full, a.Value.Shape())
			full.Release()
		}
		if b.requires {
			var full *tensor.Tensor
			if transB {
				full = tensor.Matmul(g, a.Value, true, transA)
			} else {
				full = tensor.Matmul(a.Value, g, !transA, false)
			}
			db = sumTo(full, b.Value.Shape())
			full.Release()
		}
		return []*tensor.Tensor{da, db}
	})
}

// Reshape returns x viewed with a new shape (one dimension may be -1).
func Reshape(x *Var, shape ...int) *Var {
	y := x.Value.Reshape(shape...)
	in := x.Value.Shape()
	return record("Reshape", y, []*Var{x}, func(g *tensor.Tensor) []*tensor.Tensor {
		return []*tensor.Tensor{g.Reshape(in...)}
	})
}
