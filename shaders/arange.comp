#version 450
// arange.comp: out[i] = start + i*step, as float32 or int32 bits.
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) writeonly buffer O { uint o[]; };
layout(push_constant) uniform P {
	uint n;
	uint is_int;
	float start;
	float step;
};

void main() {
	uint i = flat_group() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
	if (i >= n) {
		return;
	}
	float v = start + float(i) * step;
	o[i] = is_int != 0 ? uint(int(round(v))) : floatBitsToUint(v);
}
