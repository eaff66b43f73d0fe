#version 450
// softmax_apply.comp: the write pass of softmax / log-softmax for a few very
// long lines, whose (max, sum of exp) states reduce.comp already computed
// with split workgroups. Workgroup g handles chunk g % chunks of line
// g / chunks (lines as in reduce.comp).
#include "common.glsl"
#include "reduce.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint LOG = 0; // 1: log-softmax
layout(constant_id = 2) const uint VEC = 1; // 4: rows as vec4 (inner == 1, n and chunk % 4 == 0)

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer S { uint st[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 2) writeonly buffer Y4 { vec4 y4[]; };
layout(push_constant) uniform P {
	uint lines;
	uint n;
	uint inner;
	uint chunks; // workgroups per line
	uint chunk;  // elements per workgroup
};

void main() {
	uint g = flat_group();
	uint line = g / chunks;
	if (line >= lines) {
		return;
	}
	uint c = g - line * chunks;
	float m = uintBitsToFloat(st[2 * line]);
	float s = uintBitsToFloat(st[2 * line + 1]);
	bool odd = isinf(m) || isnan(m);
	float ls = log(s), rs = 1.0 / s;
	if (VEC == 4) {
		uint q0 = line * (n / 4);
		uint end4 = q0 + min(n, (c + 1) * chunk) / 4;
		for (uint q = q0 + c * chunk / 4 + gl_LocalInvocationID.x; q < end4; q += gl_WorkGroupSize.x) {
			vec4 v = x4[q];
			if (LOG != 0) {
				y4[q] = odd ? v - m : (v - m) - ls;
			} else {
				y4[q] = odd ? vec4(QNAN) : exp(v - m) * rs;
			}
		}
		return;
	}
	uint o = line / inner;
	uint start = c * chunk + gl_LocalInvocationID.x;
	uint end = min(n, (c + 1) * chunk);
	uint p = (o * n + start) * inner + (line - o * inner);
	uint step = gl_WorkGroupSize.x * inner;
	for (uint k = start; k < end; k += gl_WorkGroupSize.x) {
		float v = x[p];
		// Same formulas as softmax.comp's out_value.
		if (LOG != 0) {
			y[p] = odd ? v - m : (v - m) - ls;
		} else {
			y[p] = odd ? QNAN : exp(v - m) * rs;
		}
		p += step;
	}
}
