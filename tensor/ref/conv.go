package ref

import "fmt"

// ConvParams holds the spatial hyper-parameters of Conv2d. Strides and
// dilations must be at least 1 and paddings at least 0; padding is zero
// padding applied symmetrically on both sides.
type ConvParams struct {
	StrideH, StrideW int
	PadH, PadW       int
	DilH, DilW       int
}

// ConvOutSize returns the output length of a convolution along one axis,
// floor((in + 2*pad - dil*(k-1) - 1) / stride) + 1, as in PyTorch, or 0
// when the dilated kernel does not fit the padded input. stride must be at
// least 1.
func ConvOutSize(in, k, stride, pad, dil int) int {
	span := in + 2*pad - dil*(k-1) - 1
	if span < 0 {
		return 0
	}
	return span/stride + 1
}

// Conv2d returns the 2-D cross-correlation of x [N, Cin, H, W] with weight
// w [Cout, Cin, kh, kw], plus bias [Cout] when bias is non-nil, like
// torch.nn.functional.conv2d with groups=1. The result has shape
// [N, Cout, OH, OW] with OH = ConvOutSize(H, kh, StrideH, PadH, DilH) and
// likewise for OW.
func Conv2d(x, w, bias *Tensor, p ConvParams) *Tensor {
	if len(x.Shape) != 4 || len(w.Shape) != 4 {
		panic(fmt.Sprintf("ref: Conv2d: want 4-D x and w, got %v and %v", x.Shape, w.Shape))
	}
	if p.StrideH < 1 || p.StrideW < 1 || p.DilH < 1 || p.DilW < 1 || p.PadH < 0 || p.PadW < 0 {
		panic(fmt.Sprintf("ref: Conv2d: invalid params %+v", p))
	}
	nb, cin, h, wd := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	cout, kh, kw := w.Shape[0], w.Shape[2], w.Shape[3]
	if w.Shape[1] != cin {
		panic(fmt.Sprintf("ref: Conv2d: weight %v does not match input channels of %v", w.Shape, x.Shape))
	}
	if bias != nil && !sameShape(bias.Shape, []int{cout}) {
		panic(fmt.Sprintf("ref: Conv2d: bias shape %v, want [%d]", bias.Shape, cout))
	}
	oh := ConvOutSize(h, kh, p.StrideH, p.PadH, p.DilH)
	ow := ConvOutSize(wd, kw, p.StrideW, p.PadW, p.DilW)
	if oh <= 0 || ow <= 0 {
		panic(fmt.Sprintf("ref: Conv2d: empty output for x %v, w %v, params %+v", x.Shape, w.Shape, p))
	}
	out := New(nb, cout, oh, ow)
	o := 0
	for n := range nb {
		for co := range cout {
			for y := range oh {
				for xo := range ow {
					var s float64
					if bias != nil {
						s = bias.Data[co]
					}
					for ci := range cin {
						xBase := (n*cin + ci) * h * wd
						wBase := (co*cin + ci) * kh * kw
						for ky := range kh {
							iy := y*p.StrideH - p.PadH + ky*p.DilH
							if iy < 0 || iy >= h {
								continue
							}
							for kx := range kw {
								ix := xo*p.StrideW - p.PadW + kx*p.DilW
								if ix < 0 || ix >= wd {
									continue
								}
								s += x.Data[xBase+iy*wd+ix] * w.Data[wBase+ky*kw+kx]
							}
						}
					}
					out.Data[o] = s
					o++
				}
			}
		}
	}
	return out
}
