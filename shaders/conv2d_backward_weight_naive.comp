#version 450
// conv2d_backward_weight_naive.comp: a convolution's weight gradient for
// any geometry and any device (no subgroup operations): one invocation per
// element of dw [Cout, Cin, KH, KW] and split of K = N·Ho·Wo, summing its
// share of K. Writes slice `split` of the output (the launcher sums the
// slices with conv2d_backward_weight_reduce when there are several). Used
// where conv2d_backward_weight does not apply: very large windows or
// strides, or subgroups that are not whole groups of 8 lanes.
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, binding = 2) writeonly buffer Grad { float dw[]; };
layout(push_constant) uniform Push {
	int cin, h, wd, cout, ho, wo;
	int kh, kw, strideH, strideW, padH, padW, dilH, dilW;
	int m;        // elements of dw
	int total;    // m · splits
	int units;    // N·Ho·Wo
	int unitsPer; // positions per split
};

void main() {
	int i = int(flat_group() * gl_WorkGroupSize.x + gl_LocalInvocationID.x);
	if (i >= total) {
		return;
	}
	int split = i / m;
	int e = i - split * m;
	int kx = e % kw;
	int r = e / kw;
	int ky = r % kh;
	r /= kh;
	int ci = r % cin;
	int co = r / cin;

	int u0 = split * unitsPer;
	int u1 = min(u0 + unitsPer, units);
	int ox = u0 % wo;
	r = u0 / wo;
	int oy = r % ho;
	int n = r / ho;
	float s = 0.0;
	for (int u = u0; u < u1; u++) {
		int iy = oy * strideH - padH + ky * dilH;
		int ix = ox * strideW - padW + kx * dilW;
		if (iy >= 0 && iy < h && ix >= 0 && ix < wd) {
			s += dy[((n * cout + co) * ho + oy) * wo + ox] * x[((n * cin + ci) * h + iy) * wd + ix];
		}
		ox++;
		if (ox == wo) {
			ox = 0;
			oy++;
			if (oy == ho) {
				oy = 0;
				n++;
			}
		}
	}
	dw[i] = s;
}
