package autograd

import (
	"fmt"
	"testing"

	"github.com/tessera-ml/tessera/tensor/ref"
)

// axisCase checks a reduction or normalisation along one axis.
func axisCase(name string, axis int, s []int,
	gpu func(*Var, int) *Var, fwd func(*ref.Tensor, int) *ref.Tensor, vjp func(*ref.Tensor, int, *ref.Tensor) *ref.Tensor) gradCase {
	return gradCase{
		name: fmt.Sprintf("%s/axis%d/%v", name, axis, s), shapes: shapes(s), lo: -2, hi: 2, tol: 1e-5,
		gpu: func(xs []*Var) *Var { return gpu(xs[0], axis) },
		fwd: func(xs []*ref.Tensor) *ref.Tensor { return fwd(xs[0], axis) },
		vjp: func(xs []*ref.Tensor, dy *ref.Tensor) []*ref.Tensor { return []*ref.Tensor{vjp(xs[0], axis, dy)} },
	}
}

func wholeCase(name string, s []int, gpu func(*Var) *Var, fwd func(*ref.Tensor) *ref.Tensor, vjp func(x, dy *ref.Tensor) *ref.Tensor) gradCase {
	return gradCase{
		name: fmt.Sprintf("%s/%v", name, s), shapes: shapes(s), lo: -2, hi: 2, tol: 1e-5,
		gpu: func(xs []*Var) *Var { return gpu(xs[0]) },
		fwd: func(xs []*ref.Tensor) *ref.Tensor { return fwd(xs[0]) },
		vjp: func(xs []*ref.Tensor, dy *ref.Tensor) []*ref.Tensor { return []*ref.Tensor{vjp(xs[0], dy)} },
	}
}

func TestGradientsReduce(t *testing.T) {
	cases := []gradCase{
		wholeCase("SumAll", sh(3, 7), SumAll, ref.SumAll, ref.SumAllVJP),
		wholeCase("MeanAll", sh(2, 3, 5), MeanAll, ref.MeanAll, ref.MeanAllVJP),
		axisCase("Sum", 0, sh(3, 7), Sum, ref.Sum, ref.SumVJP),
		axisCase("Sum", -1, sh(2, 3, 5), Sum, ref.Sum, ref.SumVJP),
		axisCase("Mean", 1, sh(2, 3, 5), Mean, ref.Mean, ref.MeanVJP),
		axisCase("LogSumExp", 1, sh(3, 9), LogSumExp, ref.LogSumExp, ref.LogSumExpVJP),
		axisCase("LogSumExp", 0, sh(4, 3, 2), LogSumExp, ref.LogSumExp, ref.LogSumExpVJP),
		axisCase("Softmax", -1, sh(3, 9), Softmax, ref.Softmax, ref.SoftmaxVJP),
		axisCase("Softmax", 1, sh(2, 5, 3), Softmax, ref.Softmax, ref.SoftmaxVJP),
		axisCase("LogSoftmax", -1, sh(4, 7), LogSoftmax, ref.LogSoftmax, ref.LogSoftmaxVJP),
		axisCase("LogSoftmax", 0, sh(5, 3), LogSoftmax, ref.LogSoftmax, ref.LogSoftmaxVJP),
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkGradCase(t, tc) })
	}
}
