package autograd

import (
	"fmt"
	"testing"

	"github.com/tessera-ml/tessera/tensor"
	"github.com/tessera-ml/tessera/tensor/ref"
)

// Gradient checks of the shape, indexing, Max and resampling ops. The
// shape ops and nearest resampling only move values (the GPU is compared
// with tolerance 1e-6 anyway, as ScatterAdd, Gather's gradient, adds);
// bicubic and area compute in float32, and the bicubic twin takes its
// source coordinate in float64 where the kernels use PyTorch's float32
// (~1.5e-6 relative): 1e-5.

func permuteCase(s []int, perm ...int) gradCase {
	return gradCase{
		name: fmt.Sprintf("Permute%v", perm), shapes: shapes(s), lo: -1, hi: 1, tol: 1e-6,
		gpu: func(xs []*Var) *Var { return Permute(xs[0], perm...) },
		fwd: func(xs []*ref.Tensor) *ref.Tensor { return ref.Permute(xs[0], perm...) },
		vjp: func(xs []*ref.Tensor, dy *ref.Tensor) []*ref.Tensor {
			return []*ref.Tensor{ref.PermuteVJP(xs[0], perm, dy)}
		},
	}
}

func transposeCase(s []int, i, j int) gradCase {
	return gradCase{
		name: fmt.Sprintf("Transpose(%d,%d)", i, j), shapes: shapes(s), lo: -1, hi: 1, tol: 1e-6,
		gpu: func(xs []*Var) *Var { return Transpose(xs[0], i, j) },
		fwd: func(xs []*ref.Tensor) *ref.Tensor { return ref.Transpose(xs[0], i, j) },
		vjp: func(xs []*ref.Tensor, dy *ref.Tensor) []*ref.Tensor {
			return []*ref.Tensor{ref.TransposeVJP(xs[0], i, j, dy)}
		},
	}
}

func concatCase(axis int, s ...[]int) gradCase {
	return gradCase{
		name: fmt.Sprintf("Concat(%d)", axis), shapes: s, lo: -1, hi: 1, tol: 1e-6,
		gpu: func(xs []*Var) *Var { return Concat(axis, xs...) },
		fwd: func(xs []*ref.Tensor) *ref.Tensor { return ref.Concat(axis, xs...) },
		vjp: func(xs []*ref.Tensor, dy *ref.Tensor) []*ref.Tensor { return ref.ConcatVJP(axis, xs, dy) },
	}
}

func sliceCase(s []int, axis, start, end int) gradCase {
	return gradCase{
		name: fmt.Sprintf("Slice(%d,%d,%d)", axis, start, end), shapes: shapes(s), lo: -1, hi: 1, tol: 1e-6,
		gpu: func(xs []*Var) *Var { return Slice(xs[0], axis, start, end) },
		fwd: func(xs []*ref.Tensor) *ref.Tensor { return ref.Slice(xs[0], axis, start, end) },
		vjp: func(xs []*ref.Tensor, dy *ref.Tensor) []*ref.Tensor {
			return []*ref.Tensor{ref.SliceVJP(xs[0], axis, start, end, dy)}
		},
	}
}

// index uploads idx on the tape's engine (released with the test's scope).
func index(v *Var, idx []int32) *tensor.Tensor {
	return v.Tape().Engine().FromInt32(idx, len(idx))
}

func gatherCase(s []int, axis int, idx ...int32) gradCase {
	return gradCase{
		name: fmt.Sprintf("Gather(%d,%v)", axis, idx), shapes: shapes(s), lo: -1, hi: 1, tol: 1e-6,
		gpu: func(xs []*Var) *Var { return Gather(xs[0], axis, index(xs[0], idx)) },
		fwd: func(xs []*ref.Tensor) *ref.Tensor { return ref.Gather(xs[0], axis, idx) },
		vjp: func(xs []*ref.Tensor, dy *ref.Tensor) []*ref.Tensor {
			return []*ref.Tensor{ref.GatherVJP(xs[0], axis, idx, dy)}
		},
	}
}

func scatterAddCase(dst, src []int, axis int, idx ...int32) gradCase {
	return gradCase{
		name: fmt.Sprintf("ScatterAdd(%d,%v)", axis, idx), shapes: shapes(dst, src), lo: -1, hi: 1, tol: 1e-6,
		gpu: func(xs []*Var) *Var { return ScatterAdd(xs[0], axis, index(xs[0], idx), xs[1]) },
		fwd: func(xs []*ref.Tensor) *ref.Tensor { return ref.ScatterAdd(xs[0], axis, idx, xs[1]) },
		vjp: func(xs []*ref.Tensor, dy *ref.Tensor) []*ref.Tensor {
			ddst, dsrc := ref.ScatterAddVJP(xs[0], axis, idx, xs[1], dy)
			return []*ref.Tensor{ddst, dsrc}
		},
	}
}

func maxCase(s []int, axis int) gradCase {
	return gradCase{
		name: fmt.Sprintf("Max(%d)", axis), shapes: shapes(s), lo: -1, hi: 1, tol: 1e-6,
		gpu: func(xs []*Var) *Var { return Max(xs[0], axis) },
		fwd: func(xs []*ref.Tensor) *ref.Tensor { return ref.Max(xs[0], axis) },
		vjp: func(xs []*ref.Tensor, dy *ref.Tensor) []*ref.Tensor {
			return []*ref.Tensor{ref.MaxVJP(xs[0], axis, dy)}
		},
	}
}

func resampleCase(name string, s []int, outH, outW int, tol float64,
	gpu func(*Var, int, int) *Var, fwd func(*ref.Tensor, int, int) *ref.Tensor,
	vjp func(*ref.Tensor, int, int, *ref.Tensor) *ref.Tensor) gradCase {
	return gradCase{
		name: fmt.Sprintf("%s%v->%dx%d", name, s, outH, outW), shapes: shapes(s), lo: -1, hi: 1, tol: tol,
		gpu: func(xs []*Var) *Var { return gpu(xs[0], outH, outW) },
		fwd: func(xs []*ref.Tensor) *ref.Tensor { return fwd(xs[0], outH, outW) },
		vjp: func(xs []*ref.Tensor, dy *ref.Tensor) []*ref.Tensor {
			return []*ref.Tensor{vjp(xs[0], outH, outW, dy)}
		},
	}
}

func nearestCase(s []int, outH, outW int) gradCase {
	return resampleCase("UpsampleNearest", s, outH, outW, 1e-6, UpsampleNearest, ref.UpsampleNearest, ref.UpsampleNearestVJP)
}

func bicubicCase(s []int, outH, outW int) gradCase {
	return resampleCase("UpsampleBicubic", s, outH, outW, 1e-5, UpsampleBicubic, ref.UpsampleBicubic, ref.UpsampleBicubicVJP)
}

func areaCase(s []int, outH, outW int) gradCase {
	return resampleCase("AreaDownsample", s, outH, outW, 1e-5, AreaDownsample, ref.AreaDownsample, ref.AreaDownsampleVJP)
}

func TestGradientsShape(t *testing.T) {
	for _, tc := range []gradCase{
		permuteCase(sh(2, 3, 4, 5), 2, 0, 3, 1),
		permuteCase(sh(3, 1, 5), -1, 0, 1),
		transposeCase(sh(3, 4, 5), -1, 0),
		concatCase(1, sh(2, 3, 5), sh(2, 1, 5), sh(2, 4, 5)),
		concatCase(-1, sh(3, 2), sh(3, 0), sh(3, 3)),
		sliceCase(sh(3, 7, 2), 1, 2, 5),
		sliceCase(sh(9), 0, 0, 9),
		gatherCase(sh(3, 6, 2), 1, 4, 0, 4, 5, 4),
		gatherCase(sh(5, 3), 0, 2, 2, 0),
		scatterAddCase(sh(2, 5, 3), sh(2, 6, 3), 1, 1, 3, 1, 0, 1, 4),
		scatterAddCase(sh(4, 3), sh(3, 3), -2, 2, 2, 2),
		maxCase(sh(3, 4, 5), 0),
		maxCase(sh(3, 4, 5), 1),
		maxCase(sh(3, 4, 5), 2),
		maxCase(sh(3, 4, 5), -1),
		nearestCase(sh(1, 2, 3, 3), 7, 7),
		nearestCase(sh(2, 1, 3, 5), 6, 10),
		nearestCase(sh(1, 2, 7, 5), 3, 5),
		bicubicCase(sh(1, 2, 5, 4), 11, 8),
		bicubicCase(sh(1, 1, 7, 9), 16, 5),
		bicubicCase(sh(2, 1, 4, 4), 8, 8),
		bicubicCase(sh(1, 1, 1, 2), 3, 4),
		areaCase(sh(1, 2, 7, 16), 3, 4),
		areaCase(sh(2, 1, 5, 5), 4, 4),
		areaCase(sh(1, 1, 7, 3), 3, 3),
	} {
		t.Run(tc.name, func(t *testing.T) { checkGradCase(t, tc) })
	}
}
