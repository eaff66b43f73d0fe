#version 450
// groupnorm_backward_reduce.comp: one level of the per-channel sums of the
// norms' backward, dgamma[c] = Σ dy·x̂ and dbeta[c] = Σ dy over the
// elements (n, c, s) of an [N, C, S] view (GroupNorm: samples, channels,
// spatial; LayerNorm and RMSNorm: rows, features, S = 1).
//
// Invocation id = (kn·C + c)·J + j sums rows n of chunk kn (R of them) and
// the places s ≡ j (mod J) of each row's run, and writes partial id: the
// output is again an [ceil(N/R), C, J] array, which the next level reduces
// the same way (FIRST off: plain sums of the two partial arrays) until it
// is [1, C, 1]. Neighbouring invocations read neighbouring addresses
// (neighbouring j, or neighbouring c when J = 1 = S), the order of every
// sum is fixed (no atomics), and the host keeps R·(⌈S/J⌉+1) well under
// llvmpipe's 65535 loop iterations.
#include "common.glsl"

layout(local_size_x_id = 0) in;
// The mode is a specialization constant, not a push constant, so the
// unused paths compile away: on llvmpipe the dbeta-only level ran twice as
// fast once its x̂ code was gone.
layout(constant_id = 1) const uint MODE = 0; // FIRST | RMS | XHAT | UNROLL

layout(std430, binding = 0) readonly buffer A { float xa[]; };  // x, or dgamma partials
layout(std430, binding = 1) readonly buffer B { float dyb[]; }; // dy, or dbeta partials
layout(std430, binding = 2) readonly buffer Mn { float mean_in[]; };
layout(std430, binding = 3) readonly buffer Dl { float delta_in[]; };
layout(std430, binding = 4) readonly buffer Rs { float rstd_in[]; };
layout(std430, binding = 5) writeonly buffer OA { float out_a[]; };
layout(std430, binding = 6) writeonly buffer OB { float out_b[]; };
layout(push_constant) uniform P {
	uint total; // invocations: ceil(N/R)·C·J (UNROLL: ceil(N/R)·⌈C·S/4⌉)
	uint N;
	uint C;
	uint S;
	uint R;     // rows per chunk
	uint J;     // fold of each run
	uint G;     // segments (groups) per row n
	uint CG;    // channels per group; segment of (n, c) = n·G + c/CG
};

const uint FIRST = 1u, RMS = 2u, XHAT = 4u, UNROLL = 8u;
const bool first = (MODE & FIRST) != 0u;
const bool xhat = (MODE & XHAT) != 0u;
const bool rms = (MODE & RMS) != 0u;

// UNROLL (J = S, and in the first level a segment per row: G = 1): the
// W = C·S columns are four blocks of WB; invocation (kn, wb) sums columns
// wb + u·WB, u < 4, of rows n0..n1. One load of a row's statistics then
// serves four elements, and the loop runs once per row, not per element.
void unrolled(uint id) {
	uint W = C * S;
	uint WB = (W + 3u) / 4u;
	uint wb = id % WB;
	uint n0 = (id / WB) * R;
	uint n1 = min(N, n0 + R);
	// Columns past W (the last block may be short) read column wb instead
	// and are not written.
	uint o1 = wb + WB < W ? WB : 0u;
	uint o2 = wb + 2u * WB < W ? 2u * WB : 0u;
	uint o3 = wb + 3u * WB < W ? 3u * WB : 0u;
	vec4 a = vec4(0.0), b = vec4(0.0);
	uint k = n0 * W + wb;
	for (uint n = n0; n < n1; n++, k += W) {
		vec4 g = vec4(dyb[k], dyb[k + o1], dyb[k + o2], dyb[k + o3]);
		b += g;
		if (!first || xhat) {
			vec4 v = vec4(xa[k], xa[k + o1], xa[k + o2], xa[k + o3]);
			if (!first) {
				a += v;
			} else {
				float mu = rms ? 0.0 : mean_in[n];
				float dl = rms ? 0.0 : delta_in[n];
				a += g * (((v - mu) - dl) * rstd_in[n]);
			}
		}
	}
	uint out0 = (n0 / R) * W + wb;
	out_a[out0] = a.x;
	out_b[out0] = b.x;
	if (o1 != 0u) {
		out_a[out0 + o1] = a.y;
		out_b[out0 + o1] = b.y;
	}
	if (o2 != 0u) {
		out_a[out0 + o2] = a.z;
		out_b[out0 + o2] = b.z;
	}
	if (o3 != 0u) {
		out_a[out0 + o3] = a.w;
		out_b[out0 + o3] = b.w;
	}
}

void main() {
	uint id = flat_group() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
	if (id >= total) {
		return;
	}
	if ((MODE & UNROLL) != 0u) {
		unrolled(id);
		return;
	}
	uint j = id % J;
	uint t = id / J;
	uint c = t % C;
	uint n0 = (t / C) * R;
	uint n1 = min(N, n0 + R);
	float a = 0.0, b = 0.0;
	if (J == S) {
		// One place per row: no inner loop, whose per-row setup would cost
		// llvmpipe more than the sums.
		uint k = (n0 * C + c) * S + j;
		uint stride = C * S;
		uint seg = n0 * G + c / CG;
		for (uint n = n0; n < n1; n++, seg += G, k += stride) {
			float g = dyb[k];
			b += g;
			if (!first) {
				a += xa[k];
			} else if (xhat) {
				float mu = rms ? 0.0 : mean_in[seg];
				float dl = rms ? 0.0 : delta_in[seg];
				a += g * (((xa[k] - mu) - dl) * rstd_in[seg]);
			}
		}
	} else {
		uint seg = n0 * G + c / CG;
		for (uint n = n0; n < n1; n++, seg += G) {
			uint rb = (n * C + c) * S;
			// x̂ = ((x − μ) − δ)·rstd: rstd is factored out of the row's sum.
			float mu = 0.0, dl = 0.0;
			if (first && xhat && !rms) {
				mu = mean_in[seg];
				dl = delta_in[seg];
			}
			float ra = 0.0, rb2 = 0.0;
			for (uint s = j; s < S; s += J) {
				float g = dyb[rb + s];
				rb2 += g;
				if (!first) {
					ra += xa[rb + s];
				} else if (xhat) {
					ra += g * ((xa[rb + s] - mu) - dl);
				}
			}
			a += (first && xhat) ? ra * rstd_in[seg] : ra;
			b += rb2;
		}
	}
	out_a[id] = a;
	out_b[id] = b;
}
