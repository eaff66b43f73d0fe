package ref

import "fmt"

// Conv2dVJP returns the gradients of Conv2d(x, w, bias, p) for the output
// gradient dy [N, Cout, OH, OW]: dx [N, Cin, H, W], dw [Cout, Cin, kh, kw]
// and db [Cout] (what a bias would get; the bias itself never enters the
// backward). Each product x·w of the forward sends dy·w to dx and dy·x to
// dw, so the loops mirror Conv2d's.
func Conv2dVJP(x, w *Tensor, p ConvParams, dy *Tensor) (dx, dw, db *Tensor) {
	if len(x.Shape) != 4 || len(w.Shape) != 4 {
		panic(fmt.Sprintf("ref: Conv2dVJP: want 4-D x and w, got %v and %v", x.Shape, w.Shape))
	}
	if p.StrideH < 1 || p.StrideW < 1 || p.DilH < 1 || p.DilW < 1 || p.PadH < 0 || p.PadW < 0 {
		panic(fmt.Sprintf("ref: Conv2dVJP: invalid params %+v", p))
	}
	nb, cin, h, wd := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	cout, kh, kw := w.Shape[0], w.Shape[2], w.Shape[3]
	if w.Shape[1] != cin {
		panic(fmt.Sprintf("ref: Conv2dVJP: weight %v does not match input channels of %v", w.Shape, x.Shape))
	}
	oh := ConvOutSize(h, kh, p.StrideH, p.PadH, p.DilH)
	ow := ConvOutSize(wd, kw, p.StrideW, p.PadW, p.DilW)
	if !sameShape(dy.Shape, []int{nb, cout, oh, ow}) {
		panic(fmt.Sprintf("ref: Conv2dVJP: dy %v, want %v", dy.Shape, []int{nb, cout, oh, ow}))
	}
	dx, dw, db = New(x.Shape...), New(w.Shape...), New(cout)
	for n := range nb {
		for co := range cout {
			for y := range oh {
				for xo := range ow {
					g := dy.Data[((n*cout+co)*oh+y)*ow+xo]
					db.Data[co] += g
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
								dx.Data[xBase+iy*wd+ix] += g * w.Data[wBase+ky*kw+kx]
								dw.Data[wBase+ky*kw+kx] += g * x.Data[xBase+iy*wd+ix]
							}
						}
					}
				}
			}
		}
	}
	return dx, dw, db
}
