#version 450
// groupnorm.comp: normalises contiguous segments of x (GroupNorm's
// (sample, group) blocks, LayerNorm's and RMSNorm's rows) with their own
// mean and biased variance (or mean square for RMS), then applies a
// per-channel affine. Segment r covers x[r·M, (r+1)·M); element k of it is
// channel (r mod G)·CG + k/S, where S is the run of elements sharing a
// channel (the spatial size for GroupNorm, 1 for row norms).
//
// T invocations (a power of two dividing the workgroup) share a segment,
// so a workgroup holds WG/T segments: short rows do not idle most of it.
//
// Stability: every value is first shifted by the segment's first element
// K (x - K is exact when x is near K, and keeps the mean of data like
// 1000±1 representable to float32 precision), then each invocation keeps
// (count, mean, M2) by Welford/Chan updates over chunks of 4, and the
// segment's T partials merge in a shared-memory tree with Chan's formula.
// No E[x²] - E[x]² anywhere.
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint T = 64; // invocations per segment

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Gm { float gamma[]; };
layout(std430, binding = 2) readonly buffer Bt { float beta[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(std430, binding = 4) writeonly buffer Mn { float mean_out[]; };
layout(std430, binding = 5) writeonly buffer Rs { float rstd_out[]; };
layout(push_constant) uniform P {
	uint rows;  // segments
	uint M;     // elements per segment
	uint S;     // elements per channel run
	uint CG;    // channels per segment
	uint G;     // segments per sample (groups); channel base = (row % G)·CG
	float eps;
	uint flags; // HAS_GAMMA | HAS_BETA | STATS | RMS
	uint stepC; // T / S: channels advanced per stride of T
	uint stepS; // T % S
};

const uint HAS_GAMMA = 1u, HAS_BETA = 2u, STATS = 4u, RMS = 8u;

shared uint s_n[gl_WorkGroupSize.x];
shared float s_mu[gl_WorkGroupSize.x];
shared float s_m2[gl_WorkGroupSize.x];

// Chan et al.: merge (nb, mb, qb) into (na, ma, qa).
void merge(inout uint na, inout float ma, inout float qa, uint nb, float mb, float qb) {
	uint n = na + nb;
	if (nb == 0u) {
		return;
	}
	float fb = float(nb) / float(n);
	float d = mb - ma;
	ma += d * fb;
	qa += qb + d * d * float(na) * fb;
	na = n;
}

// y[k] from x[k] with the current channel's scale sc = rstd·gamma and
// shift bb, then move to the element T further on: its channel ch advances
// by stepC and its place in the channel's run, sp, by stepS with a carry
// (no division per element), and gamma/beta are reloaded only when the
// channel changes, and never past the segment's end.
void apply(uint k, uint end, inout uint ch, inout uint sp, inout float sc, inout float bb, float K, float mu, float rstd, bool hasG, bool hasB) {
	y[k] = ((x[k] - K) - mu) * sc + bb; // x - K is exact near K
	sp += stepS;
	ch += stepC;
	bool moved = stepC != 0u;
	if (sp >= S) {
		sp -= S;
		ch++;
		moved = true;
	}
	if (moved && k + T < end) {
		sc = rstd * (hasG ? gamma[ch] : 1.0);
		bb = hasB ? beta[ch] : 0.0;
	}
}

void main() {
	uint lid = gl_LocalInvocationID.x;
	uint lane = lid % T;
	uint row = flat_group() * (gl_WorkGroupSize.x / T) + lid / T;
	bool live = row < rows;
	bool rms = (flags & RMS) != 0u;
	uint base = row * M;

	float K = (live && !rms) ? x[base] : 0.0;
	uint cnt = 0u;
	float mu = 0.0, m2 = 0.0;
	if (live) {
		uint i = lane;
		for (; i + 3u * T < M; i += 4u * T) {
			float a = x[base + i] - K;
			float b = x[base + i + T] - K;
			float c = x[base + i + 2u * T] - K;
			float d = x[base + i + 3u * T] - K;
			float cm = (a + b + c + d) * 0.25;
			float q = (a - cm) * (a - cm) + (b - cm) * (b - cm) + (c - cm) * (c - cm) + (d - cm) * (d - cm);
			merge(cnt, mu, m2, 4u, cm, q);
		}
		for (; i < M; i += T) {
			merge(cnt, mu, m2, 1u, x[base + i] - K, 0.0);
		}
	}

	// T is a specialization constant: with one invocation per segment the
	// whole exchange (and every barrier) compiles away, which is what CPU
	// devices want.
	uint first = lid - lane;
	if (T > 1u) {
		s_n[lid] = cnt;
		s_mu[lid] = mu;
		s_m2[lid] = m2;
		for (uint s = T / 2u; s > 0u; s >>= 1u) {
			barrier();
			if (lane < s) {
				merge(cnt, mu, m2, s_n[lid + s], s_mu[lid + s], s_m2[lid + s]);
				s_n[lid] = cnt;
				s_mu[lid] = mu;
				s_m2[lid] = m2;
			}
		}
		barrier();
		mu = s_mu[first];
		m2 = s_m2[first];
	}
	if (!live) {
		return; // after the last barrier: every invocation reached them all
	}
	float var = m2 / float(M);
	float rstd;
	if (rms) {
		// Mean square = variance + mean², both from the stable pass.
		rstd = inversesqrt(var + mu * mu + eps);
		mu = 0.0;
	} else {
		rstd = inversesqrt(var + eps);
	}
	if ((flags & STATS) != 0u && lane == 0u) {
		if (!rms) {
			mean_out[row] = K + mu;
		}
		rstd_out[row] = rstd;
	}

	bool hasG = (flags & HAS_GAMMA) != 0u;
	bool hasB = (flags & HAS_BETA) != 0u;
	uint ch = (row % G) * CG + lane / S;
	uint sp = lane % S;
	uint i = lane;
	uint end = base + M;
	float sc = 0.0, bb = 0.0;
	if (i < M) {
		sc = rstd * (hasG ? gamma[ch] : 1.0);
		bb = hasB ? beta[ch] : 0.0;
	}
	// Unrolled by four like the first pass: llvmpipe ends a shader's loops
	// after 65535 iterations in all, and the host picks T to stay below.
	for (; i + 3u * T < M; i += 4u * T) {
		apply(base + i, end, ch, sp, sc, bb, K, mu, rstd, hasG, hasB);
		apply(base + i + T, end, ch, sp, sc, bb, K, mu, rstd, hasG, hasB);
		apply(base + i + 2u * T, end, ch, sp, sc, bb, K, mu, rstd, hasG, hasB);
		apply(base + i + 3u * T, end, ch, sp, sc, bb, K, mu, rstd, hasG, hasB);
	}
	for (; i < M; i += T) {
		apply(base + i, end, ch, sp, sc, bb, K, mu, rstd, hasG, hasB);
	}
}
