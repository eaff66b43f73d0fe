#version 450
// conv2d_backward_weight_reduce.comp: the second pass of the weight
// gradient: dw[i] = Σ_s part[s·m + i] over the splits of K, in a fixed
// order (deterministic), neighbouring invocations on neighbouring elements.
// The launcher keeps the split count far below llvmpipe's loop cap.
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer Part { float part[]; };
layout(std430, binding = 1) writeonly buffer Grad { float dw[]; };
layout(push_constant) uniform P {
	uint m;      // elements of dw
	uint splits; // slices of part
};

void main() {
	uint i = flat_group() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
	if (i >= m) {
		return;
	}
	float s = 0.0;
	for (uint k = 0; k < splits; k++) {
		s += part[k * m + i];
	}
	dw[i] = s;
}
