#version 450
// gather.comp: torch.index_select. x viewed as [outer, nAxis, inner], y as
// [outer, m, inner]: y[o, i, k] = x[o, idx[i], k]. An index outside
// [0, nAxis) reads 0 (all bits zero: 0.0 or 0), so a bad index on the
// device never reads out of bounds. uint buffers: both dtypes move as bits.
#include "common.glsl"
#include "shape.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint EPT = 4; // elements per invocation
layout(std430, binding = 0) readonly buffer X { uint x[]; };
layout(std430, binding = 1) readonly buffer I { int idx[]; };
layout(std430, binding = 2) writeonly buffer Y { uint y[]; };
layout(push_constant) uniform P {
	uint n;     // outer * m * inner
	uint inner;
	uint m;     // len(idx)
	uint nAxis; // x's size along the axis
	uint innerM, innerS, mM, mS; // fdiv pairs for inner and m
};

void element(uint i) {
	uint r = fdiv(i, innerM, innerS);
	uint k = i - r * inner;
	uint o = fdiv(r, mM, mS);
	uint q = r - o * m;
	int j = idx[q];
	uint v = 0u;
	if (j >= 0 && uint(j) < nAxis) {
		v = x[(o * nAxis + uint(j)) * inner + k];
	}
	y[i] = v;
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
