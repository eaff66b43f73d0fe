package autograd

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/internal/testdev"
	"github.com/tessera-ml/tessera/tensor"
	"github.com/tessera-ml/tessera/tensor/ref"
)

// gradCase checks one differentiable op three ways:
//  1. the twin's VJP against central finite differences of the twin's
//     forward (float64, so tight);
//  2. the GPU forward against the twin's forward;
//  3. the GPU backward (autograd) against the twin's VJP.
//
// Adding an op's check is one entry in gradCases.
type gradCase struct {
	name   string
	shapes [][]int
	lo, hi float64 // input range (keep away from kinks and domain edges)
	gpu    func(xs []*Var) *Var
	fwd    func(xs []*ref.Tensor) *ref.Tensor
	vjp    func(xs []*ref.Tensor, dy *ref.Tensor) []*ref.Tensor
	tol    float64 // GPU vs twin, relative to max(1, max|want|)
}

// Helpers that make each table entry one line.
func shapes(s ...[]int) [][]int { return s }
func sh(d ...int) []int         { return d }

func unaryCase(name string, op tensor.UnaryOp, alpha float32, lo, hi float64, s []int) gradCase {
	return gradCase{
		name: name, shapes: shapes(s), lo: lo, hi: hi, tol: 1e-5,
		gpu: func(xs []*Var) *Var { return Unary(xs[0], op, alpha, 0) },
		fwd: func(xs []*ref.Tensor) *ref.Tensor {
			out := ref.New(xs[0].Shape...)
			for i, v := range xs[0].Data {
				out.Data[i] = unaryTwin(op, v, float64(alpha))
			}
			return out
		},
		vjp: func(xs []*ref.Tensor, dy *ref.Tensor) []*ref.Tensor {
			return []*ref.Tensor{ref.UnaryVJP(op.String(), xs[0], dy, float64(alpha))}
		},
	}
}

// unaryTwin evaluates one element of a unary op in float64 via the twins.
func unaryTwin(op tensor.UnaryOp, v, alpha float64) float64 {
	x := ref.FromSlice([]int{1}, []float64{v})
	var y *ref.Tensor
	switch op {
	case tensor.OpNeg:
		y = ref.Neg(x)
	case tensor.OpAbs:
		y = ref.Abs(x)
	case tensor.OpExp:
		y = ref.Exp(x)
	case tensor.OpLog:
		y = ref.Log(x)
	case tensor.OpSqrt:
		y = ref.Sqrt(x)
	case tensor.OpRsqrt:
		y = ref.Rsqrt(x)
	case tensor.OpSquare:
		y = ref.Square(x)
	case tensor.OpTanh:
		y = ref.Tanh(x)
	case tensor.OpSigmoid:
		y = ref.Sigmoid(x)
	case tensor.OpRelu:
		y = ref.Relu(x)
	case tensor.OpLeakyRelu:
		y = ref.LeakyRelu(x, alpha)
	case tensor.OpSilu:
		y = ref.Silu(x)
	case tensor.OpGelu:
		y = ref.Gelu(x)
	case tensor.OpAffine:
		y = ref.MulScalar(x, alpha)
	case tensor.OpPowScalar:
		y = ref.PowScalar(x, alpha)
	default:
		panic("no twin for " + op.String())
	}
	return y.Data[0]
}

func binaryCase(name string, gpu func(a, b *Var) *Var, fwd func(a, b *ref.Tensor) *ref.Tensor, lo, hi float64, a, b []int) gradCase {
	return gradCase{
		name: name, shapes: shapes(a, b), lo: lo, hi: hi, tol: 1e-5,
		gpu: func(xs []*Var) *Var { return gpu(xs[0], xs[1]) },
		fwd: func(xs []*ref.Tensor) *ref.Tensor { return fwd(xs[0], xs[1]) },
		vjp: func(xs []*ref.Tensor, dy *ref.Tensor) []*ref.Tensor {
			da, db := ref.BinaryVJP(name, xs[0], xs[1], dy)
			return []*ref.Tensor{da, db}
		},
	}
}

func matmulCase(ta, tb bool, a, b []int) gradCase {
	return gradCase{
		name: fmt.Sprintf("Matmul-%v-%v", ta, tb), shapes: shapes(a, b), lo: -1, hi: 1, tol: 1e-5,
		gpu: func(xs []*Var) *Var { return Matmul(xs[0], xs[1], ta, tb) },
		fwd: func(xs []*ref.Tensor) *ref.Tensor { return ref.Matmul(xs[0], xs[1], ta, tb) },
		vjp: func(xs []*ref.Tensor, dy *ref.Tensor) []*ref.Tensor {
			da, db := ref.MatmulVJP(xs[0], xs[1], ta, tb, dy)
			return []*ref.Tensor{da, db}
		},
	}
}

func gradCases() []gradCase {
	return []gradCase{
		unaryCase("Neg", tensor.OpNeg, 0, -2, 2, sh(3, 7)),
		unaryCase("Abs", tensor.OpAbs, 0, 0.1, 2, sh(3, 7)),
		unaryCase("Exp", tensor.OpExp, 0, -2, 2, sh(3, 7)),
		unaryCase("Log", tensor.OpLog, 0, 0.2, 3, sh(3, 7)),
		unaryCase("Sqrt", tensor.OpSqrt, 0, 0.2, 3, sh(13)),
		unaryCase("Rsqrt", tensor.OpRsqrt, 0, 0.2, 3, sh(13)),
		unaryCase("Square", tensor.OpSquare, 0, -2, 2, sh(2, 3, 5)),
		unaryCase("Tanh", tensor.OpTanh, 0, -3, 3, sh(2, 3, 5)),
		unaryCase("Sigmoid", tensor.OpSigmoid, 0, -4, 4, sh(2, 3, 5)),
		unaryCase("Relu", tensor.OpRelu, 0, 0.1, 2, sh(11)),
		unaryCase("LeakyRelu", tensor.OpLeakyRelu, 0.2, -2, -0.1, sh(11)),
		unaryCase("Silu", tensor.OpSilu, 0, -4, 4, sh(3, 11)),
		unaryCase("Gelu", tensor.OpGelu, 0, -4, 4, sh(3, 11)),
		unaryCase("Affine", tensor.OpAffine, -1.5, -2, 2, sh(3, 11)),
		unaryCase("PowScalar", tensor.OpPowScalar, 2.5, 0.2, 2, sh(3, 11)),
		binaryCase("Add", Add, ref.Add, -2, 2, sh(3, 5), sh(5)),
		binaryCase("Sub", Sub, ref.Sub, -2, 2, sh(3, 1), sh(1, 5)),
		binaryCase("Mul", Mul, ref.Mul, -2, 2, sh(2, 3, 5), sh(3, 1)),
		binaryCase("Div", Div, ref.Div, 0.5, 2, sh(4, 5), sh(4, 5)),
		binaryCase("Maximum", Maximum, ref.Maximum, -2, 2, sh(4, 5), sh(5)),
		binaryCase("Minimum", Minimum, ref.Minimum, -2, 2, sh(4, 5), sh(4, 1)),
		binaryCase("Pow", Pow, ref.Pow, 0.5, 2, sh(3, 4), sh(4)),
		matmulCase(false, false, sh(5, 7), sh(7, 3)),
		matmulCase(true, false, sh(7, 5), sh(7, 3)),
		matmulCase(false, true, sh(2, 5, 7), sh(2, 3, 7)),
		matmulCase(true, true, sh(2, 7, 5), sh(3, 7)),
	}
}

func TestGradients(t *testing.T) {
	for _, tc := range gradCases() {
		t.Run(tc.name, func(t *testing.T) { checkGradCase(t, tc) })
	}
}

// testTape is a tape on the default device, checked for leaks and
// validation messages at cleanup.
func testTape(t *testing.T) *Tape {
	return NewTape(testdev.Engine(t))
}

func randInput(rng *rand.Rand, lo, hi float64, shape []int) *ref.Tensor {
	r := ref.New(shape...)
	for i := range r.Data {
		r.Data[i] = float64(float32(lo + (hi-lo)*rng.Float64()))
	}
	return r
}

// dot is Σ a·b, the scalar whose gradient the checks take.
func dot(a, b *ref.Tensor) float64 {
	s := 0.0
	for i := range a.Data {
		s += a.Data[i] * b.Data[i]
	}
	return s
}

func checkGradCase(t *testing.T, tc gradCase) {
	rng := rand.New(rand.NewSource(int64(len(tc.name)) * 7919))
	xs := make([]*ref.Tensor, len(tc.shapes))
	for i, s := range tc.shapes {
		xs[i] = randInput(rng, tc.lo, tc.hi, s)
	}
	y := tc.fwd(xs)
	dy := randInput(rng, -1, 1, y.Shape)
	want := tc.vjp(xs, dy)
	require.Len(t, want, len(xs))

	// 1. Twin VJP vs central differences of the twin forward.
	const h = 1e-6
	for i, x := range xs {
		require.Equal(t, x.Shape, want[i].Shape, "VJP %d shape", i)
		for j := range x.Data {
			orig := x.Data[j]
			x.Data[j] = orig + h
			fp := dot(tc.fwd(xs), dy)
			x.Data[j] = orig - h
			fm := dot(tc.fwd(xs), dy)
			x.Data[j] = orig
			num := (fp - fm) / (2 * h)
			require.InDelta(t, num, want[i].Data[j], 1e-5*math.Max(1, math.Abs(num)),
				"twin VJP of input %d element %d vs finite differences", i, j)
		}
	}

	// 2 and 3. GPU forward and backward vs the twin.
	tp := testTape(t)
	e := tp.Engine()
	vars := make([]*Var, len(xs))
	for i, x := range xs {
		vars[i] = tp.Param(e.FromFloat32(x.Float32(), x.Shape...), fmt.Sprintf("x%d", i))
	}
	defer func() {
		for _, v := range vars {
			v.Release()
		}
	}()
	out := tc.gpu(vars)
	got, err := out.Value.Float32()
	require.NoError(t, err)
	require.NoError(t, ref.Close(got, y, tc.tol), "forward")
	require.NoError(t, BackwardWith(out, e.FromFloat32(dy.Float32(), dy.Shape...)))
	for i, v := range vars {
		require.NotNil(t, v.Grad, "input %d got no gradient", i)
		g, err := v.Grad.Float32()
		require.NoError(t, err)
		require.NoError(t, ref.Close(g, want[i], tc.tol), "gradient of input %d", i)
	}
}
