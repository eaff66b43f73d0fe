#version 450
// onehot.comp: out[i, c] = (ids[i] == c) for i < n, c < classes; ids out
// of range give an all-zero row.
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer Ids { int ids[]; };
layout(std430, binding = 1) writeonly buffer O { float o[]; };
layout(push_constant) uniform P {
	uint total;   // n · classes
	uint classes;
};

void main() {
	uint i = flat_group() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
	if (i >= total) {
		return;
	}
	uint row = i / classes;
	int c = int(i - row * classes);
	o[i] = ids[row] == c ? 1.0 : 0.0;
}
