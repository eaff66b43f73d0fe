#version 450
// groupnorm_backward.comp: dx of GroupNorm, LayerNorm and RMSNorm, laid
// out like groupnorm.comp (segment r covers x[r·M, (r+1)·M); element k of
// it is channel (r mod G)·CG + k/S; T invocations share a segment).
//
// With the forward's saved mean μ and rstd c, d = x − μ, g = dy·γ:
//
//	dx = c·(g − mean(g) − x̂·mean(g·x̂)),   x̂ = (d − δ)·c
//
// (RMS: μ = 0 and no mean(g) term). δ = mean(d) corrects the saved mean,
// which float32 rounds: for data like 1000±1 its error (≈3e-5) would
// shift every x̂ by the same amount; d itself is exact there, and so its
// mean is accurate. mean(g·x̂) = c·(mean(g·d) − δ·mean(g)), so one pass
// gathers Σg, Σg·d and Σd, the segment's T partials meet in a shared tree,
// and a second pass writes dx. The per-channel dgamma pass reads δ, which
// this kernel writes when asked (alone, without dx, if dx is not wanted).
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint T = 64; // invocations per segment

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, binding = 2) readonly buffer Gm { float gamma[]; };
layout(std430, binding = 3) readonly buffer Mn { float mean_in[]; };
layout(std430, binding = 4) readonly buffer Rs { float rstd_in[]; };
layout(std430, binding = 5) writeonly buffer DX { float dx[]; };
layout(std430, binding = 6) writeonly buffer Dl { float delta_out[]; };
layout(push_constant) uniform P {
	uint rows;  // segments
	uint M;     // elements per segment
	uint S;     // elements per channel run
	uint CG;    // channels per segment
	uint G;     // segments per sample; channel base = (row % G)·CG
	uint flags; // HAS_GAMMA | RMS | WRITE_DX | WRITE_DELTA
	uint stepC; // T / S: channels advanced per stride of T
	uint stepS; // T % S
};

const uint HAS_GAMMA = 1u, RMS = 2u, WRITE_DX = 4u, WRITE_DELTA = 8u;

shared float s_g[gl_WorkGroupSize.x];
shared float s_gd[gl_WorkGroupSize.x];
shared float s_d[gl_WorkGroupSize.x];

// Per-invocation state of the segment being processed.
uint base;
float mu, rs, dl, mg, mgx;
bool hasG;

// Moves the channel state from element i of the segment to element i + T
// as groupnorm.comp does: carry instead of a division per element, gamma
// reloaded only when the channel changes and never past the segment.
void advance(uint i, inout uint ch, inout uint sp, inout float gm) {
	sp += stepS;
	ch += stepC;
	bool moved = stepC != 0u;
	if (sp >= S) {
		sp -= S;
		ch++;
		moved = true;
	}
	if (hasG && moved && i + T < M) {
		gm = gamma[ch];
	}
}

void apply(uint i, inout uint ch, inout uint sp, inout float gm) {
	uint k = base + i;
	float g = dy[k] * gm;
	float xh = ((x[k] - mu) - dl) * rs;
	dx[k] = rs * ((g - mg) - xh * mgx);
	advance(i, ch, sp, gm);
}

void main() {
	uint lid = gl_LocalInvocationID.x;
	uint lane = lid % T;
	uint row = flat_group() * (gl_WorkGroupSize.x / T) + lid / T;
	bool live = row < rows;
	bool rms = (flags & RMS) != 0u;
	hasG = (flags & HAS_GAMMA) != 0u;
	base = row * M;
	mu = 0.0;
	rs = 0.0;
	uint ch0 = 0u, sp0 = 0u;
	float gm0 = 1.0;
	float sg = 0.0, sgd = 0.0, sd = 0.0;
	if (live) {
		mu = rms ? 0.0 : mean_in[row];
		rs = rstd_in[row];
		ch0 = (row % G) * CG + lane / S;
		sp0 = lane % S;
		if (hasG && lane < M) {
			gm0 = gamma[ch0];
		}
		uint ch = ch0, sp = sp0;
		float gm = gm0;
		uint i = lane;
		// Unrolled by four, as the forward: llvmpipe ends a shader's loops
		// after 65535 iterations in all, and the host picks T to stay below.
		for (; i + 3u * T < M; i += 4u * T) {
			float g0 = dy[base + i] * gm;
			float d0 = x[base + i] - mu;
			advance(i, ch, sp, gm);
			float g1 = dy[base + i + T] * gm;
			float d1 = x[base + i + T] - mu;
			advance(i + T, ch, sp, gm);
			float g2 = dy[base + i + 2u * T] * gm;
			float d2 = x[base + i + 2u * T] - mu;
			advance(i + 2u * T, ch, sp, gm);
			float g3 = dy[base + i + 3u * T] * gm;
			float d3 = x[base + i + 3u * T] - mu;
			advance(i + 3u * T, ch, sp, gm);
			sg += (g0 + g1) + (g2 + g3);
			sgd += (g0 * d0 + g1 * d1) + (g2 * d2 + g3 * d3);
			sd += (d0 + d1) + (d2 + d3);
		}
		for (; i < M; i += T) {
			float g = dy[base + i] * gm;
			float d = x[base + i] - mu;
			advance(i, ch, sp, gm);
			sg += g;
			sgd += g * d;
			sd += d;
		}
	}

	// With one invocation per segment (CPU devices) the exchange and its
	// barriers compile away, as in the forward.
	if (T > 1u) {
		s_g[lid] = sg;
		s_gd[lid] = sgd;
		s_d[lid] = sd;
		for (uint s = T / 2u; s > 0u; s >>= 1u) {
			barrier();
			if (lane < s) {
				sg += s_g[lid + s];
				sgd += s_gd[lid + s];
				sd += s_d[lid + s];
				s_g[lid] = sg;
				s_gd[lid] = sgd;
				s_d[lid] = sd;
			}
		}
		barrier();
		uint first = lid - lane;
		sg = s_g[first];
		sgd = s_gd[first];
		sd = s_d[first];
	}
	if (!live) {
		return; // after the last barrier: every invocation reached them all
	}
	float invM = 1.0 / float(M);
	dl = rms ? 0.0 : sd * invM;
	mg = rms ? 0.0 : sg * invM;
	mgx = rs * (sgd * invM - dl * mg);
	if ((flags & WRITE_DELTA) != 0u && lane == 0u) {
		delta_out[row] = dl;
	}
	if ((flags & WRITE_DX) == 0u) {
		return;
	}

	uint ch = ch0, sp = sp0;
	float gm = gm0;
	uint i = lane;
	for (; i + 3u * T < M; i += 4u * T) {
		apply(i, ch, sp, gm);
		apply(i + T, ch, sp, gm);
		apply(i + 2u * T, ch, sp, gm);
		apply(i + 3u * T, ch, sp, gm);
	}
	for (; i < M; i += T) {
		apply(i, ch, sp, gm);
	}
}
