#version 450
// copy_rows.comp: the generic strided copy behind Concat and Slice:
// rows of `chunk` contiguous elements,
//   y[dstOff + r*dstStride + k] = x[srcOff + r*srcStride + k].
// Whole tensors are bound (their offsets need not meet the storage-buffer
// alignment), and element offsets travel as push constants. uint buffers:
// float32 and int32 move as bits.
#include "common.glsl"
#include "shape.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint EPT = 4; // elements per invocation
layout(std430, binding = 0) readonly buffer X { uint x[]; };
layout(std430, binding = 1) writeonly buffer Y { uint y[]; };
layout(push_constant) uniform P {
	uint n;     // rows * chunk
	uint chunk; // elements per row
	uint srcOff;
	uint srcStride;
	uint dstOff;
	uint dstStride;
	uint chunkM, chunkS; // fdiv pair for chunk
};

void element(uint i) {
	uint r = fdiv(i, chunkM, chunkS);
	uint k = i - r * chunk;
	y[dstOff + r * dstStride + k] = x[srcOff + r * srcStride + k];
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
