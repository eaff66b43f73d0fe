#version 450
// upsample_bicubic.comp: F.interpolate(mode='bicubic', align_corners=False)
// on NCHW float32 planes, following PyTorch's float32 arithmetic: scale =
// float(in)/float(out) (host), src = (dst+0.5)*scale - 0.5, i0 = floor(src),
// t = src - i0, Keys cubic weights with A = -0.75 for taps i0-1 .. i0+2,
// each clamped to [0, in-1]; rows are interpolated along x first, then the
// four row results along y. No antialiasing when shrinking (as torch).
#include "common.glsl"
#include "shape.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint EPT = 4; // elements per invocation
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P {
	uint n; // N*C*outH*outW
	uint outH;
	uint outW;
	uint inH;
	uint inW;
	float scaleH;
	float scaleW;
	uint outWM, outWS, outHM, outHS; // fdiv pairs for outW and outH
};

const float A = -0.75;

float near(float v) { return ((A + 2.0) * v - (A + 3.0)) * v * v + 1.0; }         // |v| <= 1
float far(float v) { return ((A * v - 5.0 * A) * v + 8.0 * A) * v - 4.0 * A; }   // 1 < |v| < 2

// taps returns the four clamped source indices for output position d and
// stores their weights in w.
ivec4 taps(uint d, float scale, uint len, out vec4 w) {
	precise float src = (float(d) + 0.5) * scale - 0.5;
	precise float f = floor(src);
	precise float t = src - f;
	w = vec4(far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t));
	int i0 = int(f);
	return clamp(ivec4(i0 - 1, i0, i0 + 1, i0 + 2), ivec4(0), ivec4(int(len) - 1));
}

void element(uint i) {
	uint r = fdiv(i, outWM, outWS);
	uint ox = i - r * outW;
	uint plane = fdiv(r, outHM, outHS);
	uint oy = r - plane * outH;
	vec4 wy, wx;
	ivec4 ty = taps(oy, scaleH, inH, wy);
	ivec4 tx = taps(ox, scaleW, inW, wx);
	uint base = plane * inH * inW;
	float acc = 0.0;
	for (int a = 0; a < 4; a++) {
		uint row = base + uint(ty[a]) * inW;
		float v = x[row + uint(tx[0])] * wx[0] + x[row + uint(tx[1])] * wx[1] +
		          x[row + uint(tx[2])] * wx[2] + x[row + uint(tx[3])] * wx[3];
		acc += v * wy[a];
	}
	y[i] = acc;
}

void main() {
	// EPT elements per invocation, a workgroup apart: for each, the
	// workgroup writes one contiguous span (coalesced), and fewer, larger
	// tiles amortise the per-workgroup cost (high on llvmpipe).
	uint base = flat_group() * gl_WorkGroupSize.x * EPT + gl_LocalInvocationID.x;
	for (uint k = 0; k < EPT; k++) {
		uint i = base + k * gl_WorkGroupSize.x;
		if (i >= n) {
			return;
		}
		element(i);
	}
}
