#version 450
// attn_assign_combine.comp: merges the per-slice partial states of
// attn_assign (see there) into each token's results, one invocation per
// token, slices in increasing code order so ties keep the first index.
#include "common.glsl"
#include "reduce.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint C = 16;

layout(std430, binding = 0) readonly buffer Part { float part[]; };
layout(std430, binding = 1) writeonly buffer Idx { int idx[]; };
layout(std430, binding = 2) writeonly buffer Mx { float mx[]; };
layout(std430, binding = 3) writeonly buffer Lse { float lse[]; };
layout(std430, binding = 4) writeonly buffer Soft { float soft[]; };
layout(std430, binding = 5) writeonly buffer EMx { float emx[]; };
layout(std430, binding = 6) writeonly buffer ELse { float else_[]; };
layout(std430, binding = 7) writeonly buffer ESum { float esum[]; };
// log Σ exp((l − max)/T), kept apart from EntLSE so attn_assign_meanprob
// does not lose it to the rounding of EntLSE (~1e3 at T = 0.01).
layout(std430, binding = 8) writeonly buffer ELogS { float elogs[]; };
layout(push_constant) uniform P {
	uint N, S;
	float rtemp; // 1 / T
};

const uint W = 5 + C;

void main() {
	uint n = flat_group() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
	if (n >= N) {
		return;
	}
	// The overall max and its first index.
	float M = NEG_INF;
	uint b = 0;
	for (uint sl = 0; sl < S; sl++) {
		uint o = (sl * N + n) * W;
		float ms = part[o];
		if (ms > M || sl == 0) {
			M = ms;
			b = floatBitsToUint(part[o + 4]);
		}
	}
	float s = 0.0, sT = 0.0, w = 0.0;
	float acc[C];
	for (uint c = 0; c < C; c++) {
		acc[c] = 0.0;
	}
	for (uint sl = 0; sl < S; sl++) {
		uint o = (sl * N + n) * W;
		float ms = part[o];
		float a = exp(ms - M);
		float dm = (ms - M) * rtemp;
		float aT = exp(dm);
		float sTs = part[o + 2];
		s += a * part[o + 1];
		sT += aT * sTs;
		w += aT * (part[o + 3] + dm * sTs);
		for (uint c = 0; c < C; c++) {
			acc[c] += a * part[o + 5 + c];
		}
	}
	idx[n] = int(b);
	mx[n] = M;
	lse[n] = M + log(s);
	float rs = 1.0 / s;
	for (uint c = 0; c < C; c++) {
		soft[n * C + c] = acc[c] * rs;
	}
	float mT = M * rtemp;
	emx[n] = mT;
	float ls = log(sT);
	else_[n] = mT + ls;
	elogs[n] = ls;
	esum[n] = mT + w / sT;
}
