package ref

// keepAxis returns x's shape with axis (non-negative) set to 1.
func keepAxis(shape []int, axis int) []int {
	out := append([]int{}, shape...)
	out[axis] = 1
	return out
}

// broadcastBack expands dy (x's shape without axis) back over axis.
func broadcastBack(x *Tensor, axis int, dy *Tensor) *Tensor {
	k := FromSlice(keepAxis(x.Shape, axis), dy.Data)
	return Add(New(x.Shape...), k)
}

// SumVJP is the gradient of Sum(x, axis): dy broadcast over the axis.
func SumVJP(x *Tensor, axis int, dy *Tensor) *Tensor {
	return broadcastBack(x, normAxis("VJP", axis, len(x.Shape)), dy)
}

// MeanVJP is the gradient of Mean(x, axis).
func MeanVJP(x *Tensor, axis int, dy *Tensor) *Tensor {
	a := normAxis("VJP", axis, len(x.Shape))
	return MulScalar(broadcastBack(x, a, dy), 1/float64(x.Shape[a]))
}

// SumAllVJP is the gradient of SumAll(x).
func SumAllVJP(x, dy *Tensor) *Tensor { return Full(x.Shape, dy.Data[0]) }

// MeanAllVJP is the gradient of MeanAll(x).
func MeanAllVJP(x, dy *Tensor) *Tensor { return Full(x.Shape, dy.Data[0]/float64(x.Numel())) }

// LogSumExpVJP is the gradient of LogSumExp(x, axis): softmax times dy.
func LogSumExpVJP(x *Tensor, axis int, dy *Tensor) *Tensor {
	a := normAxis("VJP", axis, len(x.Shape))
	return Mul(Softmax(x, a), broadcastBack(x, a, dy))
}

// SoftmaxVJP is the gradient of Softmax(x, axis): y·(dy − Σ dy·y).
func SoftmaxVJP(x *Tensor, axis int, dy *Tensor) *Tensor {
	a := normAxis("VJP", axis, len(x.Shape))
	y := Softmax(x, a)
	s := broadcastBack(x, a, Sum(Mul(dy, y), a))
	return Mul(y, Sub(dy, s))
}

// LogSoftmaxVJP is the gradient of LogSoftmax(x, axis): dy − softmax·Σ dy.
func LogSoftmaxVJP(x *Tensor, axis int, dy *Tensor) *Tensor {
	a := normAxis("VJP", axis, len(x.Shape))
	return Sub(dy, Mul(Softmax(x, a), broadcastBack(x, a, Sum(dy, a))))
}
