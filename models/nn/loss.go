package nn

import (
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// CrossEntropy is the mean cross-entropy of logits [N, C] against int32
// class targets [N], with label smoothing eps (torch.nn.functional.
// cross_entropy's label_smoothing: the target puts 1-eps+eps/C on the class
// and eps/C on every other).
func CrossEntropy(logits *autograd.Var, targets *tensor.Tensor, eps float32) *autograd.Var {
	s := logits.Shape()
	n, c := s[0], s[1]
	logp := autograd.LogSoftmax(logits, 1)
	oh := tensor.OneHot(targets, c)
	q := tensor.Affine(oh, 1-eps, eps/float32(c))
	oh.Release()
	nll := autograd.Neg(autograd.SumAll(autograd.Mul(logp, logits.Tape().Const(q))))
	return autograd.MulScalar(nll, 1/float32(n))
}

// MSE is the mean squared error.
func MSE(x, y *autograd.Var) *autograd.Var {
	return autograd.MeanAll(autograd.Square(autograd.Sub(x, y)))
}

// L1 is the mean absolute error.
func L1(x, y *autograd.Var) *autograd.Var {
	return autograd.MeanAll(autograd.Abs(autograd.Sub(x, y)))
}
