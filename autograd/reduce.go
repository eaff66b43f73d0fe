package autograd

import (
	"github.com/tessera-ml/tessera/tensor"
)

// keepDim returns shape with axis reinstated as size 1.
func keepDim(shape []int, axis int) []int {
	out := append([]int{}, shape[:axis]...)
	out = append(out, 1)
	return append(out, shape[axis:]...)
}

func normAxis(axis, rank int) int {
	if axis < 0 {
		axis += rank
	}
	return axis
}

// SumAll returns the sum of every element (shape []).
func SumAll(x *Var) *Var {
	in := x.Value.Shape()
	return record("SumAll", tensor.SumAll(x.Value), []*Var{x}, func(g *tensor.Tensor) []*tensor.Tensor {
		return []*tensor.Tensor{tensor.BroadcastTo(g, in...)}
	})
}

// MeanAll returns the mean of every element (shape []).
func MeanAll(x *Var) *Var {
	in := x.Value.Shape()
	n := float32(x.Value.Numel())
	return record("MeanAll", tensor.MeanAll(x.Value), []*Var{x}, func(g *tensor.Tensor) []*tensor.Tensor {
		s := tensor.MulScalar(g, 1/n)
		defer s.Release()
		return []*tensor.Tensor{tensor.BroadcastTo(s, in...)}
	})
}

// Sum reduces along axis (removed from the shape).
func Sum(x *Var, axis int) *Var {
	in := x.Value.Shape()
	a := normAxis(axis, len(in))
	return record("Sum", tensor.Sum(x.Value, axis), []*Var{x}, func(g *tensor.Tensor) []*tensor.Tensor {
		k := g.Reshape(keepDim(g.Shape(), a)...)
		defer k.Release()
		return []*tensor.Tensor{tensor.BroadcastTo(k, in...)}
	})
}

// Mean averages along axis (removed from the shape).
func Mean(x *Var, axis int) *Var {
	in := x.Value.Shape()
	a := normAxis(axis, len(in))
	n := float32(in[a])
	return record("Mean", tensor.Mean(x.Value, axis), []*Var{x}, func(g *tensor.Tensor) []*tensor.Tensor {
		s := tensor.MulScalar(g, 1/n)
		k := s.Reshape(keepDim(g.Shape(), a)...)
		defer s.Release()
		defer k.Release()
		return []*tensor.Tensor{tensor.BroadcastTo(k, in...)}
	})
}

// LogSumExp reduces along axis: log Σ e^x; its gradient is softmax.
func LogSumExp(x *Var, axis int) *Var {
	in := x.Value.Shape()
	a := normAxis(axis, len(in))
	return record("LogSumExp", tensor.LogSumExp(x.Value, axis), []*Var{x}, func(g *tensor.Tensor) []*tensor.Tensor {
		sm := tensor.Softmax(x.Value, a)
		k := g.Reshape(keepDim(g.Shape(), a)...)
		defer sm.Release()
		defer k.Release()
		return []*tensor.Tensor{tensor.Mul(sm, k)}
	})
}

// Softmax along axis.
func Softmax(x *Var, axis int) *Var {
	a := normAxis(axis, x.Value.Rank())
	y := tensor.Softmax(x.Value, a)
	return record("Softmax", y, []*Var{x}, func(g *tensor.Tensor) []*tensor.Tensor {
		// dx = y·(g − Σ g·y)
		gy := tensor.Mul(g, y)
		s := tensor.Sum(gy, a)
		k := s.Reshape(keepDim(s.Shape(), a)...)
		d := tensor.Sub(g, k)
		defer releaseAll([]*tensor.Tensor{gy, s, k, d})
		return []*tensor.Tensor{tensor.Mul(y, d)}
	})
}

// LogSoftmax along axis.
func LogSoftmax(x *Var, axis int) *Var {
	a := normAxis(axis, x.Value.Rank())
	y := tensor.LogSoftmax(x.Value, a)
	return record("LogSoftmax", y, []*Var{x}, func(g *tensor.Tensor) []*tensor.Tensor {
		// dx = g − softmax·Σ g
		sm := tensor.Exp(y)
		s := tensor.Sum(g, a)
		k := s.Reshape(keepDim(s.Shape(), a)...)
		p := tensor.Mul(sm, k)
		defer releaseAll([]*tensor.Tensor{sm, s, k, p})
		return []*tensor.Tensor{tensor.Sub(g, p)}
	})
}
