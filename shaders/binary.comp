#version 450
// binary.comp: z = a op b with NumPy broadcasting. Shapes travel as the
// output's dims and each input's element strides (0 on broadcast axes);
// when both inputs match the output the strides are skipped.
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer Z { float z[]; };
layout(push_constant) uniform P {
	uint n;
	uint op;
	uint rank;       // 0: contiguous fast path
	uint dims[8];
	uint sa[8];
	uint sb[8];
};

const uint ADD = 0, SUB = 1, MUL = 2, DIV = 3, MAX = 4, MIN = 5, POW = 6, GE = 7, SECOND = 8;

void main() {
	uint i = flat_group() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
	if (i >= n) {
		return;
	}
	uint ia = i, ib = i;
	if (rank > 0) {
		ia = 0;
		ib = 0;
		uint rest = i;
		for (int d = int(rank) - 1; d >= 0; d--) {
			uint c = rest % dims[d];
			rest /= dims[d];
			ia += c * sa[d];
			ib += c * sb[d];
		}
	}
	float x = a[ia], y = b[ib], r;
	switch (op) {
	case ADD: r = x + y; break;
	case SUB: r = x - y; break;
	case MUL: r = x * y; break;
	case DIV: r = x / y; break;
	case MAX: r = max(x, y); break;
	case MIN: r = min(x, y); break;
	case POW: r = safe_pow(x, y); break;
	case GE: r = x >= y ? 1.0 : 0.0; break;
	case SECOND: r = y; break;
	default: r = 0.0; break;
	}
	z[i] = r;
}
