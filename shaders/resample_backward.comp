#version 450
// resample_backward.comp: the adjoint of one axis of a separable resize
// (nearest, bicubic, area). dy is viewed as [outer, outLen, inner] and dx
// as [outer, inLen, inner]; the host builds the transposed interpolation
// matrix of the axis as CSR rows, one per input index t:
//   tab[t], tab[t+1]            start and end of t's entries,
//   tab[base + 2e], tab[base + 2e + 1]  output index d and weight bits,
// with the entries of t in ascending d. Then dx[o, t, k] = Σ w · dy[o, d, k]
// over t's entries: a gather, so each dx element is written by exactly one
// invocation (deterministic, no float atomics). llvmpipe stops an
// invocation after 65535 loop iterations, so a run longer than segLen is
// split over several dispatches: dispatch seg sums entries [seg·segLen,
// (seg+1)·segLen) of each run and, after the first, adds into dx.
#include "common.glsl"
#include "shape.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint EPT = 4; // elements per invocation
layout(std430, binding = 0) readonly buffer T { uint tab[]; };
layout(std430, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, binding = 2) buffer DX { float dx[]; };
layout(push_constant) uniform P {
	uint n; // outer * inLen * inner
	uint inLen;
	uint outLen;
	uint inner;
	uint innerM, innerS, inLenM, inLenS; // fdiv pairs for inner and inLen
	uint base;   // offset of the entries in tab (inLen + 1)
	uint seg;    // segment of each run this dispatch sums
	uint segLen; // entries per segment
};

void element(uint i) {
	uint r = fdiv(i, innerM, innerS);
	uint k = i - r * inner;
	uint o = fdiv(r, inLenM, inLenS);
	uint t = r - o * inLen;
	uint e0 = tab[t];
	uint e1 = tab[t + 1u];
	uint s = e0 + seg * segLen;
	if (seg > 0u && s >= e1) {
		return; // this run has no entries in the segment
	}
	uint e = min(e1, s + segLen);
	uint row = o * outLen * inner + k;
	float acc = 0.0;
	for (uint p = base + 2u * s; p < base + 2u * e; p += 2u) {
		acc += uintBitsToFloat(tab[p + 1u]) * dy[row + tab[p] * inner];
	}
	if (seg > 0u) {
		acc += dx[i];
	}
	dx[i] = acc;
}

void main() {
	// EPT elements per invocation, a workgroup apart, so each step's
	// writes are contiguous across the workgroup; fewer workgroups amortise
	// llvmpipe's per-workgroup cost.
	uint first = flat_group() * gl_WorkGroupSize.x * EPT + gl_LocalInvocationID.x;
	for (uint q = 0; q < EPT; q++) {
		uint i = first + q * gl_WorkGroupSize.x;
		if (i >= n) {
			return;
		}
		element(i);
	}
}
