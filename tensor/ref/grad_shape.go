package ref

import "fmt"

// Vector–Jacobian products of the shape, indexing and resampling twins.
// Every one of these ops is linear in its inputs (Max piecewise so), so
// each VJP is the transpose of the forward written out directly: it walks
// the forward's loops and accumulates dy·weight into the source element
// the forward read from. The autograd tests check them against finite
// differences.

// PermuteVJP returns the gradient of Permute(x, perm...): dy permuted back
// by the inverse permutation.
func PermuteVJP(x *Tensor, perm []int, dy *Tensor) *Tensor {
	rank := len(x.Shape)
	inv := make([]int, rank)
	for d, v := range perm {
		inv[normAxis("PermuteVJP", v, rank)] = d
	}
	return Permute(dy, inv...)
}

// TransposeVJP returns the gradient of Transpose(x, i, j): dy with i and j
// swapped back.
func TransposeVJP(x *Tensor, i, j int, dy *Tensor) *Tensor { return Transpose(dy, i, j) }

// ConcatVJP returns the gradients of Concat(axis, xs...): the pieces of dy
// along axis.
func ConcatVJP(axis int, xs []*Tensor, dy *Tensor) []*Tensor {
	axis = normAxis("ConcatVJP", axis, len(dy.Shape))
	out := make([]*Tensor, len(xs))
	pos := 0
	for i, x := range xs {
		out[i] = Slice(dy, axis, pos, pos+x.Shape[axis])
		pos += x.Shape[axis]
	}
	return out
}

// SliceVJP returns the gradient of Slice(x, axis, start, end): dy placed at
// [start, end) along axis of a zero tensor of x's shape.
func SliceVJP(x *Tensor, axis, start, end int, dy *Tensor) *Tensor {
	axis = normAxis("SliceVJP", axis, len(x.Shape))
	idx := make([]int32, end-start)
	for i := range idx {
		idx[i] = int32(start + i)
	}
	return ScatterAdd(New(x.Shape...), axis, idx, dy)
}

// GatherVJP returns the gradient of Gather(x, axis, idx): dy's slices added
// into zeros at idx, repeated indices accumulating.
func GatherVJP(x *Tensor, axis int, idx []int32, dy *Tensor) *Tensor {
	return ScatterAdd(New(x.Shape...), axis, idx, dy)
}

// ScatterAddVJP returns the gradients of ScatterAdd(dst, axis, idx, src):
// dy itself for dst, and dy's slices at idx for src.
func ScatterAddVJP(dst *Tensor, axis int, idx []int32, src, dy *Tensor) (ddst, dsrc *Tensor) {
	return dy.Clone(), Gather(dy, axis, idx)
}

// MaxVJP returns the gradient of Max(x, axis): each line's dy goes to the
// line's first maximum (torch.max(dim)'s choice on ties), zero elsewhere.
func MaxVJP(x *Tensor, axis int, dy *Tensor) *Tensor {
	axis = normAxis("MaxVJP", axis, len(x.Shape))
	outer, n, inner := splitAxis(x.Shape, axis)
	out := New(x.Shape...)
	line := make([]float64, n)
	for o := range outer {
		for k := range inner {
			base := o*n*inner + k
			for a := range n {
				line[a] = x.Data[base+a*inner]
			}
			out.Data[base+argmax("MaxVJP", line)*inner] = dy.Data[o*inner+k]
		}
	}
	return out
}

// checkVJP panics unless dy is [N, C, outH, outW] for x [N, C, H, W].
func checkVJP(op string, x *Tensor, outH, outW int, dy *Tensor) (n, c, h, w int) {
	n, c, h, w = checkNCHW(op, x, outH, outW)
	if !sameShape(dy.Shape, []int{n, c, outH, outW}) {
		panic(fmt.Sprintf("ref: %s: dy shape %v for output %dx%d of %v", op, dy.Shape, outH, outW, x.Shape))
	}
	return n, c, h, w
}

// UpsampleNearestVJP returns the gradient of UpsampleNearest(x, outH, outW):
// each input pixel receives the sum of dy over the outputs that copied it
// (none, when shrinking skips it).
func UpsampleNearestVJP(x *Tensor, outH, outW int, dy *Tensor) *Tensor {
	n, c, h, w := checkVJP("UpsampleNearestVJP", x, outH, outW, dy)
	out := New(x.Shape...)
	o := 0
	for p := range n * c {
		plane := out.Data[p*h*w : (p+1)*h*w]
		for i := range outH {
			row := plane[nearestIndex(i, h, outH)*w:]
			for j := range outW {
				row[nearestIndex(j, w, outW)] += dy.Data[o]
				o++
			}
		}
	}
	return out
}

// UpsampleBicubicVJP returns the gradient of UpsampleBicubic(x, outH,
// outW): dy·wy·wx accumulated into each of the 4×4 (clamped) taps every
// output read, so a border pixel also receives the weights of the taps
// clamped onto it.
func UpsampleBicubicVJP(x *Tensor, outH, outW int, dy *Tensor) *Tensor {
	n, c, h, w := checkVJP("UpsampleBicubicVJP", x, outH, outW, dy)
	yi, yw := bicubicTaps(h, outH)
	xi, xw := bicubicTaps(w, outW)
	out := New(x.Shape...)
	o := 0
	for p := range n * c {
		plane := out.Data[p*h*w : (p+1)*h*w]
		for i := range outH {
			for j := range outW {
				g := dy.Data[o]
				o++
				for ky := range 4 {
					row := plane[yi[i][ky]*w:]
					for kx := range 4 {
						row[xi[j][kx]] += g * yw[i][ky] * xw[j][kx]
					}
				}
			}
		}
	}
	return out
}

// AreaDownsampleVJP returns the gradient of AreaDownsample(x, outH, outW):
// each output's dy divided evenly over its window, overlapping windows
// adding up.
func AreaDownsampleVJP(x *Tensor, outH, outW int, dy *Tensor) *Tensor {
	n, c, h, w := checkVJP("AreaDownsampleVJP", x, outH, outW, dy)
	out := New(x.Shape...)
	o := 0
	for p := range n * c {
		plane := out.Data[p*h*w : (p+1)*h*w]
		for i := range outH {
			y0, y1 := i*h/outH, ((i+1)*h+outH-1)/outH
			for j := range outW {
				x0, x1 := j*w/outW, ((j+1)*w+outW-1)/outW
				g := dy.Data[o] / float64((y1-y0)*(x1-x0))
				o++
				for y := y0; y < y1; y++ {
					for xx := x0; xx < x1; xx++ {
						plane[y*w+xx] += g
					}
				}
			}
		}
	}
	return out
}
