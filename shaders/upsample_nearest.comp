#version 450
// upsample_nearest.comp: F.interpolate(mode='nearest') on NCHW planes.
// Source index = min(floor(float(dst) * scale), in-1) with scale =
// float(in)/float(out) computed on the host in float32, exactly PyTorch's
// float32 rule (it differs from the integer quotient for some sizes, e.g.
// 2 -> 82). The product is one correctly rounded multiply; `precise` keeps
// the compiler from changing it. uint buffers: both dtypes move as bits.
#include "common.glsl"
#include "shape.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint EPT = 4; // elements per invocation
layout(std430, binding = 0) readonly buffer X { uint x[]; };
layout(std430, binding = 1) writeonly buffer Y { uint y[]; };
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

uint srcIndex(uint d, float scale, uint len) {
	precise float f = float(d) * scale;
	return min(uint(floor(f)), len - 1u);
}

void element(uint i) {
	uint r = fdiv(i, outWM, outWS);
	uint ox = i - r * outW;
	uint plane = fdiv(r, outHM, outHS);
	uint oy = r - plane * outH;
	uint sy = srcIndex(oy, scaleH, inH);
	uint sx = srcIndex(ox, scaleW, inW);
	y[i] = x[(plane * inH + sy) * inW + sx];
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
