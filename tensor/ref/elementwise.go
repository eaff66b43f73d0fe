package ref

import (
	"fmt"
	"math"
)

// mapUnary returns a new tensor with f applied to every element of x.
func mapUnary(x *Tensor, f func(float64) float64) *Tensor {
	out := New(x.Shape...)
	for i, v := range x.Data {
		out.Data[i] = f(v)
	}
	return out
}

// Neg returns -x elementwise.
func Neg(x *Tensor) *Tensor { return mapUnary(x, func(v float64) float64 { return -v }) }

// Abs returns |x| elementwise.
func Abs(x *Tensor) *Tensor { return mapUnary(x, math.Abs) }

// Exp returns e**x elementwise.
func Exp(x *Tensor) *Tensor { return mapUnary(x, math.Exp) }

// Log returns the natural logarithm of x elementwise.
func Log(x *Tensor) *Tensor { return mapUnary(x, math.Log) }

// Sqrt returns the square root of x elementwise.
func Sqrt(x *Tensor) *Tensor { return mapUnary(x, math.Sqrt) }

// Rsqrt returns 1/sqrt(x) elementwise.
func Rsqrt(x *Tensor) *Tensor {
	return mapUnary(x, func(v float64) float64 { return 1 / math.Sqrt(v) })
}

// Square returns x*x elementwise.
func Square(x *Tensor) *Tensor { return mapUnary(x, func(v float64) float64 { return v * v }) }

// Tanh returns the hyperbolic tangent of x elementwise.
func Tanh(x *Tensor) *Tensor { return mapUnary(x, math.Tanh) }

// Sigmoid returns 1/(1+e**-x) elementwise.
func Sigmoid(x *Tensor) *Tensor { return mapUnary(x, sigmoid) }

// Relu returns max(x, 0) elementwise; NaN stays NaN, as in torch.relu.
func Relu(x *Tensor) *Tensor {
	return mapUnary(x, func(v float64) float64 {
		if v < 0 {
			return 0
		}
		return v
	})
}

// Silu returns x*sigmoid(x) elementwise (also called swish).
func Silu(x *Tensor) *Tensor { return mapUnary(x, func(v float64) float64 { return v * sigmoid(v) }) }

// Gelu returns the exact (erf) GELU, x/2 * (1 + erf(x/sqrt(2))), elementwise.
// This is torch.nn.functional.gelu with its default approximate='none'.
func Gelu(x *Tensor) *Tensor {
	return mapUnary(x, func(v float64) float64 { return 0.5 * v * (1 + math.Erf(v/math.Sqrt2)) })
}

// LeakyRelu returns x where x > 0 and slope*x elsewhere.
func LeakyRelu(x *Tensor, slope float64) *Tensor {
	return mapUnary(x, func(v float64) float64 {
		if v > 0 {
			return v
		}
		return v * slope
	})
}

func sigmoid(v float64) float64 { return 1 / (1 + math.Exp(-v)) }

// BroadcastShape returns the NumPy/PyTorch broadcast of shapes a and b:
// shapes are aligned from the right, and a dimension of size 1 stretches to
// match the other. It returns an error when two aligned dimensions differ
// and neither is 1.
func BroadcastShape(a, b []int) ([]int, error) {
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := range n {
		da, db := 1, 1
		if j := len(a) - n + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - n + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db, db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("ref: shapes %v and %v do not broadcast (dim %d: %d vs %d)", a, b, i, da, db)
		}
	}
	return out, nil
}

// broadcastStrides returns strides for reading a tensor of shape in as if
// it had shape out: broadcast dimensions get stride 0.
func broadcastStrides(in, out []int) []int {
	s := make([]int, len(out))
	st := Strides(in)
	off := len(out) - len(in)
	for i := range in {
		if in[i] != 1 {
			s[off+i] = st[i]
		}
	}
	return s
}

// mapBinary applies f to a and b broadcast against each other.
func mapBinary(op string, a, b *Tensor, f func(x, y float64) float64) *Tensor {
	shape, err := BroadcastShape(a.Shape, b.Shape)
	if err != nil {
		panic(fmt.Sprintf("ref: %s: %v", op, err))
	}
	out := New(shape...)
	sa := broadcastStrides(a.Shape, shape)
	sb := broadcastStrides(b.Shape, shape)
	idx := make([]int, len(shape))
	for i := range out.Data {
		unravel(i, shape, idx)
		oa, ob := 0, 0
		for d, v := range idx {
			oa += v * sa[d]
			ob += v * sb[d]
		}
		out.Data[i] = f(a.Data[oa], b.Data[ob])
	}
	return out
}

// Add returns a+b with broadcasting. It panics if the shapes do not broadcast.
func Add(a, b *Tensor) *Tensor {
	return mapBinary("Add", a, b, func(x, y float64) float64 { return x + y })
}

// Sub returns a-b with broadcasting. It panics if the shapes do not broadcast.
func Sub(a, b *Tensor) *Tensor {
	return mapBinary("Sub", a, b, func(x, y float64) float64 { return x - y })
}

// Mul returns a*b with broadcasting. It panics if the shapes do not broadcast.
func Mul(a, b *Tensor) *Tensor {
	return mapBinary("Mul", a, b, func(x, y float64) float64 { return x * y })
}

// Div returns a/b with broadcasting (IEEE division: x/0 is ±Inf or NaN).
// It panics if the shapes do not broadcast.
func Div(a, b *Tensor) *Tensor {
	return mapBinary("Div", a, b, func(x, y float64) float64 { return x / y })
}

// Maximum returns the elementwise maximum of a and b with broadcasting,
// propagating NaN like torch.maximum. It panics if the shapes do not
// broadcast.
func Maximum(a, b *Tensor) *Tensor { return mapBinary("Maximum", a, b, maxNaN) }

// Minimum returns the elementwise minimum of a and b with broadcasting,
// propagating NaN like torch.minimum. It panics if the shapes do not
// broadcast.
func Minimum(a, b *Tensor) *Tensor {
	return mapBinary("Minimum", a, b, func(x, y float64) float64 {
		if math.IsNaN(x) || math.IsNaN(y) {
			return math.NaN()
		}
		if y < x {
			return y
		}
		return x
	})
}

// Pow returns a**b elementwise with broadcasting, using math.Pow. It panics
// if the shapes do not broadcast.
func Pow(a, b *Tensor) *Tensor { return mapBinary("Pow", a, b, math.Pow) }

// AddScalar returns a+s elementwise.
func AddScalar(a *Tensor, s float64) *Tensor {
	return mapUnary(a, func(v float64) float64 { return v + s })
}

// MulScalar returns a*s elementwise.
func MulScalar(a *Tensor, s float64) *Tensor {
	return mapUnary(a, func(v float64) float64 { return v * s })
}

// PowScalar returns a**s elementwise, using math.Pow.
func PowScalar(a *Tensor, s float64) *Tensor {
	return mapUnary(a, func(v float64) float64 { return math.Pow(v, s) })
}
