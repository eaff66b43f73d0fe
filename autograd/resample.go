package autograd

import (
	"github.com/tessera-ml/tessera/tensor"
)

// resampleVar records a resize of NCHW x whose gradient is backward(g,
// H, W), the transpose of the resize.
func resampleVar(op string, x *Var, y *tensor.Tensor, backward func(dy *tensor.Tensor, inH, inW int) *tensor.Tensor) *Var {
	return record(op, y, []*Var{x}, func(g *tensor.Tensor) []*tensor.Tensor {
		return []*tensor.Tensor{backward(g, x.Value.Dim(2), x.Value.Dim(3))}
	})
}

// UpsampleNearest resizes x [N, C, H, W] to [N, C, outH, outW] by
// nearest-neighbour copying, like F.interpolate(mode='nearest') (see
// tensor.UpsampleNearest).
func UpsampleNearest(x *Var, outH, outW int) *Var {
	return resampleVar("UpsampleNearest", x, tensor.UpsampleNearest(x.Value, outH, outW), tensor.UpsampleNearestBackward)
}

// UpsampleBicubic resizes x [N, C, H, W] to [N, C, outH, outW] like
// F.interpolate(mode='bicubic', align_corners=False) (see
// tensor.UpsampleBicubic).
func UpsampleBicubic(x *Var, outH, outW int) *Var {
	return resampleVar("UpsampleBicubic", x, tensor.UpsampleBicubic(x.Value, outH, outW), tensor.UpsampleBicubicBackward)
}

// AreaDownsample resizes x [N, C, H, W] to [N, C, outH, outW] by averaging
// windows, like F.adaptive_avg_pool2d (see tensor.AreaDownsample).
func AreaDownsample(x *Var, outH, outW int) *Var {
	return resampleVar("AreaDownsample", x, tensor.AreaDownsample(x.Value, outH, outW), tensor.AreaDownsampleBackward)
}
