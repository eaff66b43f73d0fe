#version 450
// sumsq.comp: Σx² (SQUARE = 1) or Σx (SQUARE = 0) of contiguous chunks of x,
// one chunk per workgroup, into y[base + workgroup]. Several tensors write
// their partials side by side in one buffer, and a SQUARE = 0 pass over that
// buffer sums them, so a global norm needs no host round trip. Each lane
// folds a strided part of its chunk (neighbouring lanes read neighbouring
// elements), then the lanes meet in a radix-RADIX shared-memory tree.
#extension GL_EXT_control_flow_attributes : enable
#include "common.glsl"

layout(local_size_x_id = 0) in;                // a power of two
layout(constant_id = 1) const uint SQUARE = 1;
layout(constant_id = 2) const uint RADIX = 16; // fan-in of each tree level
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P {
	uint n;     // elements of x
	uint chunk; // elements per workgroup, a multiple of the workgroup size
	uint base;  // y index of workgroup 0's result
};

const uint WG = gl_WorkGroupSize.x;
shared float part[WG];

void main() {
	uint lid = gl_LocalInvocationID.x;
	uint g = flat_group();
	uint start = g * chunk;
	uint end = min(n, start + chunk);
	float s = 0.0;
	for (uint k = start + lid; k < end; k += WG) {
		float v = x[k];
		s += SQUARE != 0 ? v * v : v;
	}
	part[lid] = s;
	[[unroll]] for (uint c = WG; c > 1; c /= min(RADIX, c)) {
		uint next = c / min(RADIX, c);
		barrier();
		if (lid < next) {
			for (uint r = 1; r < c / next; r++) {
				s += part[lid + r * next];
			}
			part[lid] = s;
		}
	}
	if (lid == 0) {
		y[base + g] = s;
	}
}
