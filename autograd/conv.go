package autograd

import (
	"github.com/tessera-ml/tessera/tensor"
)

// Conv2d returns the 2-D cross-correlation of x [N, Cin, H, W] with
// w [Cout, Cin, KH, KW], plus b [Cout] when b is non-nil (see
// tensor.Conv2d). Its VJP computes only the gradients its inputs need:
// dx (a transposed convolution), dw (a correlation of x with the output
// gradient) and db (the output gradient summed over N, Ho and Wo).
func Conv2d(x, w, b *Var, p tensor.ConvParams) *Var {
	ins := []*Var{x, w}
	var bv *tensor.Tensor
	if b != nil {
		ins = append(ins, b)
		bv = b.Value
	}
	y := tensor.Conv2d(x.Value, w.Value, bv, p)
	return record("Conv2d", y, ins, func(g *tensor.Tensor) []*tensor.Tensor {
		grads := make([]*tensor.Tensor, len(ins))
		if x.requires {
			xs := x.Value.Shape()
			grads[0] = tensor.Conv2dBackwardInput(g, w.Value, xs[2], xs[3], p)
		}
		if w.requires {
			ws := w.Value.Shape()
			grads[1] = tensor.Conv2dBackwardWeight(x.Value, g, ws[2], ws[3], p)
		}
		if b != nil && b.requires {
			grads[2] = tensor.Conv2dBackwardBias(g)
		}
		return grads
	})
}
