package ref

import (
	"fmt"
	"math"
)

// reduceAxis applies f to every line of x along axis and returns the
// results with that axis removed (keepdim=false). The slice handed to f is
// reused between calls.
func reduceAxis(op string, x *Tensor, axis int, f func(line []float64) float64) *Tensor {
	axis = normAxis(op, axis, len(x.Shape))
	outer, n, inner := splitAxis(x.Shape, axis)
	shape := append(cloneInts(x.Shape[:axis]), x.Shape[axis+1:]...)
	out := New(shape...)
	line := make([]float64, n)
	for o := range outer {
		for in := range inner {
			base := o*n*inner + in
			for k := range n {
				line[k] = x.Data[base+k*inner]
			}
			out.Data[o*inner+in] = f(line)
		}
	}
	return out
}

// scalar wraps v in a tensor of shape []int{}.
func scalar(v float64) *Tensor { return &Tensor{Shape: []int{}, Data: []float64{v}} }

// sum adds vals with Neumaier compensation, so the reference stays accurate
// for long lines.
func sum(vals []float64) float64 {
	var s, c float64
	for _, v := range vals {
		t := s + v
		if math.Abs(s) >= math.Abs(v) {
			c += (s - t) + v
		} else {
			c += (v - t) + s
		}
		s = t
	}
	if math.IsInf(s, 0) || math.IsNaN(s) {
		// The correction term is inf − inf = NaN here; the plain sum is
		// what IEEE (and torch) give.
		return s
	}
	return s + c
}

func mean(vals []float64) float64 { return sum(vals) / float64(len(vals)) }

func maxOf(op string) func([]float64) float64 {
	return func(vals []float64) float64 {
		if len(vals) == 0 {
			panic(fmt.Sprintf("ref: %s: reduction over an empty dimension", op))
		}
		m := vals[0]
		for _, v := range vals[1:] {
			m = maxNaN(m, v)
		}
		return m
	}
}

// logSumExp computes log(sum(exp(vals))) stably by factoring out the max.
func logSumExp(vals []float64) float64 {
	if len(vals) == 0 {
		return math.Inf(-1)
	}
	m := maxOf("LogSumExp")(vals)
	if math.IsInf(m, 0) || math.IsNaN(m) {
		return m
	}
	var s float64
	for _, v := range vals {
		s += math.Exp(v - m)
	}
	return m + math.Log(s)
}

// argmax returns the first index of the maximum of vals; a NaN counts as
// the maximum, as in torch.argmax.
func argmax(op string, vals []float64) int {
	if len(vals) == 0 {
		panic(fmt.Sprintf("ref: %s: reduction over an empty dimension", op))
	}
	best := 0
	for i, v := range vals {
		b := vals[best]
		if math.IsNaN(b) {
			break
		}
		if v > b || math.IsNaN(v) {
			best = i
		}
	}
	return best
}

// Sum returns the sum of x along axis (negative counts from the end), with
// that axis removed.
func Sum(x *Tensor, axis int) *Tensor { return reduceAxis("Sum", x, axis, sum) }

// Mean returns the mean of x along axis, with that axis removed.
func Mean(x *Tensor, axis int) *Tensor { return reduceAxis("Mean", x, axis, mean) }

// Max returns the maximum of x along axis, with that axis removed. NaN
// propagates, as in torch.amax.
func Max(x *Tensor, axis int) *Tensor { return reduceAxis("Max", x, axis, maxOf("Max")) }

// LogSumExp returns log(sum(exp(x))) along axis, with that axis removed,
// computed stably by subtracting the maximum first.
func LogSumExp(x *Tensor, axis int) *Tensor { return reduceAxis("LogSumExp", x, axis, logSumExp) }

// SumAll returns the sum of every element of x as a scalar tensor.
func SumAll(x *Tensor) *Tensor { return scalar(sum(x.Data)) }

// MeanAll returns the mean of every element of x as a scalar tensor.
func MeanAll(x *Tensor) *Tensor { return scalar(mean(x.Data)) }

// MaxAll returns the maximum element of x as a scalar tensor.
func MaxAll(x *Tensor) *Tensor { return scalar(maxOf("MaxAll")(x.Data)) }

// LogSumExpAll returns log(sum(exp(x))) over every element as a scalar
// tensor.
func LogSumExpAll(x *Tensor) *Tensor { return scalar(logSumExp(x.Data)) }

// Argmax returns, for every line of x along axis, the index of its maximum,
// together with the result shape (x's shape without axis). Ties go to the
// first index, as in torch.argmax.
func Argmax(x *Tensor, axis int) (shape []int, idx []int32) {
	r := reduceAxis("Argmax", x, axis, func(line []float64) float64 {
		return float64(argmax("Argmax", line))
	})
	idx = make([]int32, len(r.Data))
	for i, v := range r.Data {
		idx[i] = int32(v)
	}
	return r.Shape, idx
}

// ArgmaxAll returns the flat row-major index of the first maximum of x.
func ArgmaxAll(x *Tensor) int32 { return int32(argmax("ArgmaxAll", x.Data)) }

// Softmax returns exp(x - max) / sum(exp(x - max)) along axis; the result
// has x's shape.
func Softmax(x *Tensor, axis int) *Tensor {
	return lineMap("Softmax", x, axis, func(line []float64) {
		m := maxOf("Softmax")(line)
		for i, v := range line {
			line[i] = math.Exp(v - m)
		}
		s := sum(line)
		for i := range line {
			line[i] /= s
		}
	})
}

// LogSoftmax returns x - logsumexp(x) along axis; the result has x's shape.
func LogSoftmax(x *Tensor, axis int) *Tensor {
	return lineMap("LogSoftmax", x, axis, func(line []float64) {
		l := logSumExp(line)
		for i := range line {
			line[i] -= l
		}
	})
}

// lineMap copies x and lets f rewrite every line along axis in place.
func lineMap(op string, x *Tensor, axis int, f func(line []float64)) *Tensor {
	axis = normAxis(op, axis, len(x.Shape))
	outer, n, inner := splitAxis(x.Shape, axis)
	out := New(x.Shape...)
	line := make([]float64, n)
	for o := range outer {
		for in := range inner {
			base := o*n*inner + in
			for k := range n {
				line[k] = x.Data[base+k*inner]
			}
			f(line)
			for k := range n {
				out.Data[base+k*inner] = line[k]
			}
		}
	}
	return out
}
