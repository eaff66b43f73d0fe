#version 450
// argmax_scatter.comp: the gradient of a max along an axis. dx is viewed as
// [outer, n, inner], dy and idx (the int32 argmax of each line) as
// [outer, inner]; dx[o, a, k] = dy[o, k] where idx[o, k] == a, else 0.
// Every dx element is written once, so no zero fill is needed.
#include "common.glsl"
#include "shape.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint EPT = 4; // elements per invocation
layout(std430, binding = 0) readonly buffer DY { float dy[]; };
layout(std430, binding = 1) readonly buffer I { int idx[]; };
layout(std430, binding = 2) writeonly buffer DX { float dx[]; };
layout(push_constant) uniform P {
	uint total; // outer * n * inner
	uint n;
	uint inner;
	uint innerM, innerS, nM, nS; // fdiv pairs for inner and n
};

void element(uint i) {
	uint r = fdiv(i, innerM, innerS);
	uint k = i - r * inner;
	uint o = fdiv(r, nM, nS);
	uint a = r - o * n;
	uint j = o * inner + k;
	dx[i] = idx[j] == int(a) ? dy[j] : 0.0;
}

void main() {
	// EPT elements per invocation, a workgroup apart: coalesced writes and
	// fewer workgroups (costly on llvmpipe).
	uint first = flat_group() * gl_WorkGroupSize.x * EPT + gl_LocalInvocationID.x;
	for (uint q = 0; q < EPT; q++) {
		uint i = first + q * gl_WorkGroupSize.x;
		if (i >= total) {
			return;
		}
		element(i);
	}
}
