package autograd

import (
	"github.com/tessera-ml/tessera/tensor"
)

// Permute reorders x's dimensions: dimension d of the result is dimension
// perm[d] of x (see tensor.Permute). Its gradient is g permuted back.
func Permute(x *Var, perm ...int) *Var {
	y := tensor.Permute(x.Value, perm...)
	perm = append([]int(nil), perm...)
	return record("Permute", y, []*Var{x}, func(g *tensor.Tensor) []*tensor.Tensor {
		// Built here, where the forward has validated perm.
		inv := make([]int, len(perm))
		for d, v := range perm {
			inv[normAxis(v, len(perm))] = d
		}
		return []*tensor.Tensor{tensor.Permute(g, inv...)}
	})
}

// Transpose swaps dimensions i and j of x (negative axes count from the
// end); its gradient is g swapped back.
func Transpose(x *Var, i, j int) *Var {
	y := tensor.Transpose(x.Value, i, j)
	return record("Transpose", y, []*Var{x}, func(g *tensor.Tensor) []*tensor.Tensor {
		return []*tensor.Tensor{tensor.Transpose(g, i, j)}
	})
}

// Concat joins xs along axis (see tensor.Concat); each input's gradient is
// its piece of g.
func Concat(axis int, xs ...*Var) *Var {
	vals := make([]*tensor.Tensor, len(xs))
	for i, x := range xs {
		vals[i] = x.Value
	}
	y := tensor.Concat(axis, vals...)
	return record("Concat", y, xs, func(g *tensor.Tensor) []*tensor.Tensor {
		a := normAxis(axis, g.Rank())
		out := make([]*tensor.Tensor, len(xs))
		pos := 0
		for i, x := range xs {
			n := x.Value.Dim(a)
			if x.requires {
				out[i] = tensor.Slice(g, a, pos, pos+n)
			}
			pos += n
		}
		return out
	})
}

// Slice keeps the elements of x with index in [start, end) along axis (see
// tensor.Slice); its gradient is g placed into zeros of x's shape.
func Slice(x *Var, axis, start, end int) *Var {
	y := tensor.Slice(x.Value, axis, start, end)
	return record("Slice", y, []*Var{x}, func(g *tensor.Tensor) []*tensor.Tensor {
		return []*tensor.Tensor{tensor.SliceBackward(g, axis, start, x.Value.Dim(axis))}
	})
}

// Gather selects the slices of x at idx along axis, like
// torch.index_select (see tensor.Gather). Its gradient scatters g back,
// repeated indices accumulating; idx gets none.
func Gather(x *Var, axis int, idx *tensor.Tensor) *Var {
	y := tensor.Gather(x.Value, axis, idx)
	return record("Gather", y, []*Var{x}, func(g *tensor.Tensor) []*tensor.Tensor {
		z := x.tape.eng.Zeros(x.Value.Shape()...)
		defer z.Release()
		return []*tensor.Tensor{tensor.ScatterAdd(z, axis, idx, g)}
	})
}

// ScatterAdd returns dst with the slices of src added at idx along axis,
// like dst.index_add(axis, idx, src) (see tensor.ScatterAdd). The gradient
// is g for dst and g's slices at idx for src.
func ScatterAdd(dst *Var, axis int, idx *tensor.Tensor, src *Var) *Var {
	y := tensor.ScatterAdd(dst.Value, axis, idx, src.Value)
	return record("ScatterAdd", y, []*Var{dst, src}, func(g *tensor.Tensor) []*tensor.Tensor {
		out := []*tensor.Tensor{nil, nil}
		if dst.requires {
			out[0] = view(g)
		}
		if src.requires {
			out[1] = tensor.Gather(g, axis, idx)
		}
		return out
	})
}

// Max reduces x along axis (removed from the shape) to its maximum. The
// gradient goes to the first maximum of each line, as torch.max(dim).
func Max(x *Var, axis int) *Var {
	y := tensor.Max(x.Value, axis)
	return record("Max", y, []*Var{x}, func(g *tensor.Tensor) []*tensor.Tensor {
		return []*tensor.Tensor{tensor.MaxBackward(x.Value, g, axis)}
	})
}
