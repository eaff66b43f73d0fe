#version 450
// attn_assign.comp: per-token attention-assignment statistics over one slice
// of the codebook, without storing the N x V logits l = scale * q k^T.
//
// A workgroup is one subgroup; each lane owns TT tokens (SG apart) and keeps
// their q rows in registers. The V slice is walked in tiles of SG codes: each
// lane loads one code's k and val rows as vec4s, and every value reaches the
// other lanes by constant-index shuffles (on CPU drivers a load costs far
// more than a shuffle). Per token the running state is the max m (with its
// first index), s = sum exp(l - m), sT = sum exp((l - m)/T),
// w = sum exp((l - m)/T) * (l - m)/T (shifted, so it stays O(1) at small T)
// and soft = sum exp(l - m) * val; a new max rescales them once per tile.
// The tile loop is the only runtime loop, so its trip count (slice / SG) is
// what the host bounds. Output: one partial state per (slice, token),
// merged by attn_assign_combine.
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#include "reduce.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint TT = 4;    // tokens per lane
layout(constant_id = 2) const uint D = 32;    // q/k width
layout(constant_id = 3) const uint C = 16;    // val width
layout(constant_id = 4) const bool VD = true; // D % 4 == 0: aligned vec4 loads
layout(constant_id = 5) const bool VC = true; // C % 4 == 0

layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 0) readonly buffer Q4 { vec4 q4[]; };
layout(std430, binding = 1) readonly buffer K { float k[]; };
layout(std430, binding = 1) readonly buffer K4 { vec4 k4[]; };
layout(std430, binding = 2) readonly buffer Val { float val[]; };
layout(std430, binding = 2) readonly buffer Val4 { vec4 val4[]; };
layout(std430, binding = 3) writeonly buffer Part { float part[]; };
layout(push_constant) uniform P {
	uint N, V;
	uint n0;    // first token of this dispatch
	uint per;   // codes per slice (a multiple of SG)
	float scale;
	float rtemp; // 1 / T
};

const uint SG = gl_WorkGroupSize.x;
const uint D4 = (D + 3) / 4;
const uint C4 = (C + 3) / 4;
const uint W = 5 + C; // partial state words

// Elements 4j..4j+3 of a row of width w at offset o, zero past the row.
vec4 ldq(uint o, uint j) {
	if (VD) {
		return q4[o / 4 + j];
	}
	vec4 r;
	[[unroll]] for (uint e = 0; e < 4; e++) {
		r[e] = 4 * j + e < D ? q[o + min(4 * j + e, D - 1)] : 0.0;
	}
	return r;
}
vec4 ldk(uint o, uint j) {
	if (VD) {
		return k4[o / 4 + j];
	}
	vec4 r;
	[[unroll]] for (uint e = 0; e < 4; e++) {
		r[e] = 4 * j + e < D ? k[o + min(4 * j + e, D - 1)] : 0.0;
	}
	return r;
}
vec4 ldv(uint o, uint j) {
	if (VC) {
		return val4[o / 4 + j];
	}
	vec4 r;
	[[unroll]] for (uint e = 0; e < 4; e++) {
		r[e] = 4 * j + e < C ? val[o + min(4 * j + e, C - 1)] : 0.0;
	}
	return r;
}

void main() {
	uint lane = gl_LocalInvocationID.x;
	uint slice = gl_WorkGroupID.y;
	uint nb = n0 + gl_WorkGroupID.x * SG * TT;
	uint vbeg = slice * per, vend = min(V, vbeg + per);

	vec4 qr[TT][D4];
	[[unroll]] for (uint t = 0; t < TT; t++) {
		uint n = min(nb + t * SG + lane, N - 1);
		[[unroll]] for (uint j = 0; j < D4; j++) {
			qr[t][j] = ldq(n * D, j) * scale; // scale folded into q once
		}
	}
	float m[TT], s[TT], sT[TT], w[TT];
	uint best[TT];
	vec4 soft[TT][C4];
	[[unroll]] for (uint t = 0; t < TT; t++) {
		m[t] = NEG_INF;
		s[t] = 0.0;
		sT[t] = 0.0;
		w[t] = 0.0;
		best[t] = vbeg;
		[[unroll]] for (uint c = 0; c < C4; c++) {
			soft[t][c] = vec4(0.0);
		}
	}

	for (uint v0 = vbeg; v0 < vend; v0 += SG) {
		uint vr = min(v0 + lane, V - 1); // edge lanes load a duplicate, masked below
		vec4 kr[D4], vv[C4];
		[[unroll]] for (uint j = 0; j < D4; j++) {
			kr[j] = ldk(vr * D, j);
		}
		[[unroll]] for (uint c = 0; c < C4; c++) {
			vv[c] = ldv(vr * C, c);
		}
		float l[TT][SG];
		[[unroll]] for (uint i = 0; i < SG; i++) {
			vec4 kb[D4];
			[[unroll]] for (uint j = 0; j < D4; j++) {
				kb[j] = subgroupShuffle(kr[j], i);
			}
			bool live = v0 + i < vend;
			[[unroll]] for (uint t = 0; t < TT; t++) {
				float a = 0.0;
				[[unroll]] for (uint j = 0; j < D4; j++) {
					a += dot(qr[t][j], kb[j]);
				}
				l[t][i] = live ? a : NEG_INF;
			}
		}
		// Tile max and first argmax, then one rescale of the state.
		float e[TT][SG], eT[TT][SG];
		[[unroll]] for (uint t = 0; t < TT; t++) {
			float mt = m[t];
			uint bt = best[t];
			[[unroll]] for (uint i = 0; i < SG; i++) {
				bool up = l[t][i] > mt;
				mt = up ? l[t][i] : mt;
				bt = up ? v0 + i : bt;
			}
			best[t] = bt;
			bool first = m[t] == NEG_INF;
			float dm = first ? 0.0 : (m[t] - mt) * rtemp;
			float a = first ? 0.0 : exp(m[t] - mt);
			float aT = first ? 0.0 : exp(dm);
			float ss = 0.0, sTs = 0.0, ws = 0.0;
			[[unroll]] for (uint i = 0; i < SG; i++) {
				bool live = v0 + i < vend;
				float u = live ? (l[t][i] - mt) * rtemp : 0.0;
				e[t][i] = live ? exp(l[t][i] - mt) : 0.0;
				eT[t][i] = live ? exp(u) : 0.0;
				ss += e[t][i];
				sTs += eT[t][i];
				ws += eT[t][i] * u;
			}
			w[t] = aT * (w[t] + dm * sT[t]) + ws;
			sT[t] = aT * sT[t] + sTs;
			s[t] = a * s[t] + ss;
			m[t] = mt;
			[[unroll]] for (uint c = 0; c < C4; c++) {
				soft[t][c] *= a;
			}
		}
		[[unroll]] for (uint i = 0; i < SG; i++) {
			[[unroll]] for (uint c = 0; c < C4; c++) {
				vec4 vb = subgroupShuffle(vv[c], i);
				[[unroll]] for (uint t = 0; t < TT; t++) {
					soft[t][c] += e[t][i] * vb;
				}
			}
		}
	}

	[[unroll]] for (uint t = 0; t < TT; t++) {
		uint n = nb + t * SG + lane;
		if (n >= N) {
			break;
		}
		uint o = (slice * N + n) * W;
		part[o] = m[t];
		part[o + 1] = s[t];
		part[o + 2] = sT[t];
		part[o + 3] = w[t];
		part[o + 4] = uintBitsToFloat(best[t]);
		[[unroll]] for (uint c = 0; c < C; c++) {
			part[o + 5 + c] = soft[t][c / 4][c % 4];
		}
	}
}
