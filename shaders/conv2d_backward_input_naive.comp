#version 450
// conv2d_backward_input_naive.comp: a convolution's input gradient for any
// geometry and any device (no subgroup operations): one invocation per
// element of dx [N, Cin, H, W], gathering the dy elements whose receptive
// fields covered it: dx[n, ci, y, x] = Σ over co, ky, kx of
// dy[n, co, oy, ox] · w[co, ci, ky, kx] where y + padH − ky·dH = oy·sH and
// x + padW − kx·dW = ox·sW. A dispatch covers output channels [co0, co1)
// (bounded loops) and adds to dx when ACCUM is set. Used where
// conv2d_backward_input does not apply.
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer DY { float dy[]; };
layout(std430, binding = 1) readonly buffer Wt { float w[]; };
layout(std430, binding = 2) buffer Grad { float dx[]; };
layout(push_constant) uniform Push {
	int cin, h, wd, cout, ho, wo;
	int kh, kw, strideH, strideW, padH, padW, dilH, dilW;
	int total; // elements of dx
	int co0, co1;
	int accum; // add to dx instead of overwriting it
};

void main() {
	int i = int(flat_group() * gl_WorkGroupSize.x + gl_LocalInvocationID.x);
	if (i >= total) {
		return;
	}
	int xx = i % wd;
	int r = i / wd;
	int y = r % h;
	r /= h;
	int ci = r % cin;
	int n = r / cin;
	float s = accum != 0 ? dx[i] : 0.0;
	int khw = kh * kw;
	for (int ky = 0; ky < kh; ky++) {
		int ty = y + padH - ky * dilH;
		int oy = ty / strideH;
		if (ty < 0 || oy * strideH != ty || oy >= ho) {
			continue;
		}
		for (int kx = 0; kx < kw; kx++) {
			int tx = xx + padW - kx * dilW;
			int ox = tx / strideW;
			if (tx < 0 || ox * strideW != tx || ox >= wo) {
				continue;
			}
			int d = (n * cout * ho + oy) * wo + ox;
			int wi = ci * khw + ky * kw + kx;
			for (int co = co0; co < co1; co++) {
				s += dy[d + co * ho * wo] * w[co * cin * khw + wi];
			}
		}
	}
	dx[i] = s;
}
