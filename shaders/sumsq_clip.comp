#version 450
// sumsq_clip.comp: global-norm gradient clipping, the second half of
// torch.nn.utils.clip_grad_norm_: with norm = sqrt(s[0]) (a sum of squares
// made on the device by sumsq.comp), x *= max_norm / (norm + eps) when
// norm > max_norm. The decision is made here, so clipping needs no read-back;
// below the threshold x is left bit-for-bit alone.
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer S { float s[]; };
layout(push_constant) uniform P {
	uint n;
	float max_norm;
	float eps;
};

void main() {
	uint i = flat_group() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
	if (i >= n) {
		return;
	}
	float norm = sqrt(s[0]);
	if (norm > max_norm) {
		float coef = max_norm / (norm + eps);
		x[i] = x[i] * coef;
	}
}
