package ref

import (
	"fmt"
	"math"
)

// Vector–Jacobian products of the twins: given an op's inputs and the
// gradient dy of some scalar with respect to its output, they return the
// gradient with respect to each input. The autograd tests check them
// against central finite differences of the forward twins, then check the
// GPU backward against them.

// UnaryDeriv returns f'(x) for the elementwise function named as in
// tensor.UnaryOp ("Exp", "LeakyRelu", ...); alpha is the op's scalar.
func UnaryDeriv(name string, x, alpha float64) float64 {
	switch name {
	case "Neg":
		return -1
	case "Abs":
		if x > 0 {
			return 1
		} else if x < 0 {
			return -1
		}
		return 0
	case "Exp":
		return math.Exp(x)
	case "Log":
		return 1 / x
	case "Sqrt":
		return 0.5 / math.Sqrt(x)
	case "Rsqrt":
		return -0.5 * math.Pow(x, -1.5)
	case "Square":
		return 2 * x
	case "Tanh":
		t := math.Tanh(x)
		return 1 - t*t
	case "Sigmoid":
		s := sigmoid(x)
		return s * (1 - s)
	case "Relu":
		if x > 0 {
			return 1
		}
		return 0
	case "LeakyRelu":
		if x >= 0 {
			return 1
		}
		return alpha
	case "Silu":
		s := sigmoid(x)
		return s * (1 + x*(1-s))
	case "Gelu":
		return 0.5*(1+math.Erf(x/math.Sqrt2)) + x*math.Exp(-0.5*x*x)/math.Sqrt(2*math.Pi)
	case "Copy":
		return 1
	case "Affine":
		return alpha
	case "PowScalar":
		return alpha * math.Pow(x, alpha-1)
	case "MaxScalar":
		if x >= alpha {
			return 1
		}
		return 0
	case "MinScalar":
		if x <= alpha {
			return 1
		}
		return 0
	}
	panic(fmt.Sprintf("ref: UnaryDeriv: unknown op %q", name))
}

// UnaryVJP returns dy·f'(x).
func UnaryVJP(name string, x, dy *Tensor, alpha float64) *Tensor {
	out := New(x.Shape...)
	for i, v := range x.Data {
		out.Data[i] = dy.Data[i] * UnaryDeriv(name, v, alpha)
	}
	return out
}

// SumTo sums g over the axes that broadcasting expanded from shape: the
// adjoint of broadcasting shape to g's shape.
func SumTo(g *Tensor, shape []int) *Tensor {
	out := New(shape...)
	st := broadcastStrides(shape, g.Shape)
	gst := Strides(g.Shape)
	for i, v := range g.Data {
		off := 0
		for d := range g.Shape {
			off += (i / gst[d] % g.Shape[d]) * st[d]
		}
		out.Data[off] += v
	}
	return out
}

// BinaryVJP returns the gradients of a op b (op as in Add, Sub, Mul, Div,
// Maximum, Minimum, Pow) with respect to a and b, summed back to their
// shapes.
func BinaryVJP(name string, a, b, dy *Tensor) (da, db *Tensor) {
	shape, err := BroadcastShape(a.Shape, b.Shape)
	if err != nil {
		panic(err)
	}
	ga, gb := New(shape...), New(shape...)
	sa, sb := broadcastStrides(a.Shape, shape), broadcastStrides(b.Shape, shape)
	st := Strides(shape)
	for i := range ga.Data {
		ia, ib := 0, 0
		for d := range shape {
			c := i / st[d] % shape[d]
			ia += c * sa[d]
			ib += c * sb[d]
		}
		x, y, g := a.Data[ia], b.Data[ib], dy.Data[i]
		switch name {
		case "Add":
			ga.Data[i], gb.Data[i] = g, g
		case "Sub":
			ga.Data[i], gb.Data[i] = g, -g
		case "Mul":
			ga.Data[i], gb.Data[i] = g*y, g*x
		case "Div":
			ga.Data[i], gb.Data[i] = g/y, -g*x/(y*y)
		case "Maximum":
			if x >= y {
				ga.Data[i] = g
			} else {
				gb.Data[i] = g
			}
		case "Minimum":
			if x <= y {
				ga.Data[i] = g
			} else {
				gb.Data[i] = g
			}
		case "Pow":
			ga.Data[i] = g * y * math.Pow(x, y-1)
			gb.Data[i] = g * math.Pow(x, y) * math.Log(x)
		default:
			panic(fmt.Sprintf("ref: BinaryVJP: unknown op %q", name))
		}
	}
	return SumTo(ga, a.Shape), SumTo(gb, b.Shape)
}

// MatmulVJP returns the gradients of Matmul(a, b, transA, transB).
func MatmulVJP(a, b *Tensor, transA, transB bool, dy *Tensor) (da, db *Tensor) {
	// d(a@b) = dy@bᵀ for a, aᵀ@dy for b, with the transposes folded in.
	if transA {
		da = Matmul(b, dy, transB, true)
	} else {
		da = Matmul(dy, b, false, !transB)
	}
	if transB {
		db = Matmul(dy, a, true, transA)
	} else {
		db = Matmul(a, dy, !transA, false)
	}
	return SumTo(da, a.Shape), SumTo(db, b.Shape)
}
