#version 450
// permute.comp: y[i] = x[off(i)], a gather copy from a strided view of x
// into contiguous y. The host collapses the view first (drops size-1 dims,
// merges dims that stay adjacent), so the per-element loop is short. Used by
// Permute/Transpose; buffers are uint so float32 and int32 move as bits.
#include "common.glsl"
#include "shape.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint EPT = 4; // elements per invocation
layout(std430, binding = 0) readonly buffer X { uint x[]; };
layout(std430, binding = 1) writeonly buffer Y { uint y[]; };
layout(push_constant) uniform P {
	uint n;
	uint rank;       // >= 1
	uint dims[8];    // y's (collapsed) dims
	uint strides[8]; // x's element stride for each of y's dims
	uint magic[8];   // fdiv multiplier for each dim
	uint shifts[2];  // fdiv shift for each dim, one byte each
};

void element(uint i) {
	// Neighbouring invocations write neighbouring y elements (coalesced).
	uint src = 0, rest = i;
	for (int d = int(rank) - 1; d > 0; d--) {
		uint q = fdiv(rest, magic[d], bitfieldExtract(shifts[d >> 2], (d & 3) * 8, 8));
		src += (rest - q * dims[d]) * strides[d];
		rest = q;
	}
	y[i] = x[src + rest * strides[0]];
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
