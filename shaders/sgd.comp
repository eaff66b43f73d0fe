#version 450
// sgd.comp: one step of torch.optim.SGD (dampening 0) per element, in place:
//   d = g·grad_scale + wd·p          (L2 weight decay, skipped when wd = 0)
//   buf = momentum·buf + d;  d = nesterov ? d + momentum·buf : buf
//   p -= lr·d
// A zero-initialised buf gives torch's first step (buf = d) exactly.
// MOMENTUM = 0 never touches binding 2, so the launcher may bind anything.
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint MOMENTUM = 0;
layout(constant_id = 2) const uint NESTEROV = 0;
layout(std430, binding = 0) buffer Param { float p[]; };
layout(std430, binding = 1) readonly buffer Grad { float g[]; };
layout(std430, binding = 2) buffer Buf { float buf[]; };
layout(push_constant) uniform P {
	uint n;
	float lr;
	float momentum;
	float wd;
	float grad_scale;
};

void main() {
	uint i = flat_group() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
	if (i >= n) {
		return;
	}
	float pi = p[i];
	float d = g[i] * grad_scale;
	if (wd != 0.0) {
		d += wd * pi;
	}
	if (MOMENTUM != 0) {
		float b = momentum * buf[i] + d;
		buf[i] = b;
		d = NESTEROV != 0 ? d + momentum * b : b;
	}
	p[i] = pi - lr * d;
}
