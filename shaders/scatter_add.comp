#version 450
// scatter_add.comp: y = dst.index_add(axis, idx, src) without atomics, so
// the result is deterministic: each invocation owns one y element
// (o, j, k) of [outer, nAxis, inner] and adds, in ascending i, every
// src[o, i, k] with idx[i] == j, starting from dst[o, j, k] (the order of
// PyTorch's CPU loop). It finds those i either by scanning idx (mode 0, for
// short idx) or, in mode 1, from idx sorted by scatter_add_sort.comp:
// pairs[starts[j] .. starts[j+1]) hold (j, i) in ascending i. Indices
// outside [0, nAxis) match no j and so contribute nothing.
//
// llvmpipe ends any invocation after 65535 loop iterations in total (its
// guard against infinite loops), and one index may repeat more often than
// that. So the host splits runs into segments of segLen entries, one
// dispatch per segment in order: segment 0 starts from dst, later ones
// continue from y. The additions happen in the same order as one long
// loop, so the bits are the same.
#include "common.glsl"
#include "shape.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer I { int idx[]; };
layout(std430, binding = 1) readonly buffer Pairs { uvec2 pairs[]; };
layout(std430, binding = 2) readonly buffer Starts { uint starts[]; };
layout(std430, binding = 3) readonly buffer D { uint dst[]; };
layout(std430, binding = 4) readonly buffer S { uint src[]; };
layout(std430, binding = 5) buffer Y { uint y[]; };
layout(push_constant) uniform P {
	uint n;     // outer * nAxis * inner
	uint inner;
	uint nAxis;
	uint m;     // len(idx)
	uint mode;  // 0: scan idx; 1: sorted pairs
	uint isInt; // 1: int32 tensors, 0: float32
	uint innerM, innerS, nAxisM, nAxisS; // fdiv pairs for inner and nAxis
	uint seg;    // mode 1: segment number
	uint segLen; // mode 1: entries per segment
};

void element(uint i) {
	uint r = fdiv(i, innerM, innerS);
	uint k = i - r * inner;
	uint o = fdiv(r, nAxisM, nAxisS);
	uint j = r - o * nAxis;
	uint base = o * m * inner + k; // src[o, 0, k]
	uint lo = 0, hi = m;
	if (mode == 1) {
		uint first = starts[j], last = starts[j + 1];
		lo = min(first + seg * segLen, last);
		hi = min(lo + segLen, last);
		if (seg > 0 && lo == hi) {
			return; // this run ended in an earlier segment: y is final
		}
	}
	uint init = seg == 0 ? dst[i] : y[i];
	if (isInt == 1) {
		int acc = int(init);
		for (uint p = lo; p < hi; p++) {
			if (mode == 1) {
				acc += int(src[base + pairs[p].y * inner]);
			} else if (idx[p] == int(j)) {
				acc += int(src[base + p * inner]);
			}
		}
		y[i] = uint(acc);
	} else {
		float acc = uintBitsToFloat(init);
		for (uint p = lo; p < hi; p++) {
			if (mode == 1) {
				acc += uintBitsToFloat(src[base + pairs[p].y * inner]);
			} else if (idx[p] == int(j)) {
				acc += uintBitsToFloat(src[base + p * inner]);
			}
		}
		y[i] = floatBitsToUint(acc);
	}
}

void main() {
	// One element per invocation: llvmpipe's loop cap counts every
	// iteration of an invocation, so each loops over one run (segment) only.
	uint i = flat_group() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
	if (i < n) {
		element(i);
	}
}
