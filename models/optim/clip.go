package optim

import (
	"math"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// ClipGradNorm is torch.nn.utils.clip_grad_norm_ (L2, eps 1e-6): it
// returns the global L2 norm of the gradients of params (those that
// require and have one) and, when it exceeds maxNorm, scales them in place
// by maxNorm/(norm + 1e-6). The squared norms are summed on the device and
// the clipping decided there; the returned total is the only read-back.
// maxNorm = +Inf measures without clipping.
func ClipGradNorm(params []*autograd.Var, maxNorm float64) (total float64, err error) {
	var grads []*tensor.Tensor
	for _, p := range params {
		if active(p) {
			grads = append(grads, p.Grad)
		}
	}
	if len(grads) == 0 {
		return 0, nil
	}
	sq := tensor.SumSquaresAll(grads...)
	defer sq.Release()
	if !math.IsInf(maxNorm, 1) {
		if err := tensor.ClipWithNorm(grads, sq, float32(maxNorm)); err != nil {
			return 0, err
		}
	}
	v, err := sq.Item()
	if err != nil {
		return 0, err
	}
	return math.Sqrt(float64(v)), nil
}
