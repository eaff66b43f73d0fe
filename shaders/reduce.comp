#version 450
// reduce.comp: reduces "lines" of a tensor viewed as [outer, n, inner]; line
// L = o*inner + i holds the n elements o*n*inner + i + k*inner. A workgroup
// is TX lines × TY lanes per line: each lane folds a strided subset of its
// line's elements (or of one split of it) into a state, then the TY states
// of a line meet in a shared-memory tree. Long lines are cut into `splits`
// pieces handled by different workgroups; those write states that a second
// dispatch (IN_STATES) combines, so a reduction over millions of elements
// runs as two short trees instead of one serial loop.
//
// LAYOUT 0 (inner == 1) gives neighbouring lanes neighbouring elements of a
// line; LAYOUT 1 (inner > 1) gives them neighbouring lines, so either way a
// warp reads contiguous memory.
#extension GL_EXT_control_flow_attributes : enable
#include "common.glsl"
#include "reduce.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint TY = 64;        // lanes per line (power of two)
layout(constant_id = 2) const uint OP = 0;         // SUM, MEAN, MAX, LSE, ARGMAX
layout(constant_id = 3) const uint LAYOUT = 0;     // 0: lanes along the line, 1: lanes across lines
layout(constant_id = 4) const uint IN_STATES = 0;  // input holds (a, b) states, not elements
layout(constant_id = 5) const uint OUT_STATES = 0; // write states for a later pass, not results
layout(constant_id = 6) const uint RADIX = 16;     // fan-in of each level of the shared tree
layout(constant_id = 7) const uint VEC = 1;        // 4: read rows as vec4 (LAYOUT 0, n and chunk % 4 == 0)

const uint SUM = 0, MEAN = 1, MAX = 2, LSE = 3, ARGMAX = 4;
const uint TX = gl_WorkGroupSize.x / TY;
const uint NONE = 0xffffffffu; // argmax index of an empty state: loses every tie

layout(std430, binding = 0) readonly buffer X { uint x[]; };
// The same buffer as vec4s: one 16-byte load per lane instead of four.
layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 1) writeonly buffer Y { uint y[]; };
layout(push_constant) uniform P {
	uint lines;
	uint n;       // elements (or input states) per line
	uint inner;   // element stride along a line
	uint splits;  // workgroups per line group
	uint chunk;   // elements per split
	float count;  // the original line length, for MEAN
};

// A state is (a, b, i): SUM/MEAN a = sum; MAX a = max; LSE a = max, b = sum
// of exp(x - a); ARGMAX a = max, i = its first index.
shared float sa[gl_WorkGroupSize.x];
shared float sb[gl_WorkGroupSize.x];
shared uint si[gl_WorkGroupSize.x];

// better reports whether (v, k) beats (a, i) for argmax: NaN beats numbers,
// larger beats smaller, and equal values go to the smaller index.
bool better(float v, uint k, float a, uint i) {
	bool nv = isnan(v), na = isnan(a);
	if (nv != na) {
		return nv;
	}
	if (!nv && v != a) {
		return v > a;
	}
	return k < i;
}

void fold(inout float a, inout float b, inout uint i, float v, uint k) {
	switch (OP) {
	case SUM:
	case MEAN: a += v; break;
	case MAX: a = max_nan(a, v); break;
	case LSE: lse_add(a, b, v); break;
	case ARGMAX:
		if (better(v, k, a, i)) {
			a = v;
			i = k;
		}
		break;
	}
}

// fold4 folds elements k..k+3; sums pair them first (shorter rounding chain).
void fold4(inout float a, inout float b, inout uint i, vec4 v, uint k) {
	switch (OP) {
	case SUM:
	case MEAN: a += (v.x + v.y) + (v.z + v.w); break;
	case MAX: a = max_nan(a, max_nan(max_nan(v.x, v.y), max_nan(v.z, v.w))); break;
	default:
		fold(a, b, i, v.x, k);
		fold(a, b, i, v.y, k + 1);
		fold(a, b, i, v.z, k + 2);
		fold(a, b, i, v.w, k + 3);
		break;
	}
}

void combine(inout float a, inout float b, inout uint i, float a2, float b2, uint i2) {
	switch (OP) {
	case SUM:
	case MEAN: a += a2; break;
	case MAX: a = max_nan(a, a2); break;
	case LSE: lse_combine(a, b, a2, b2); break;
	case ARGMAX:
		if (better(a2, i2, a, i)) {
			a = a2;
			i = i2;
		}
		break;
	}
}

void main() {
	uint lid = gl_LocalInvocationID.x;
	uint ll = LAYOUT == 0 ? lid / TY : lid % TX; // line within the workgroup
	uint j = LAYOUT == 0 ? lid % TY : lid / TX;  // lane within the line
	uint g = flat_group();
	uint lg = g / splits;
	uint split = g - lg * splits;
	if (lg * TX >= lines) {
		return; // a whole workgroup of the grid's spill: uniform exit
	}
	uint line = lg * TX + ll;
	bool live = line < lines;

	float a = (OP == SUM || OP == MEAN) ? 0.0 : NEG_INF;
	float b = 0.0;
	uint i = NONE;
	if (live) {
		uint start = split * chunk;
		uint end = min(n, start + chunk);
		if (IN_STATES != 0) {
			uint p = line * n;
			for (uint k = start + j; k < end; k += TY) {
				uint w = x[2 * (p + k) + 1];
				combine(a, b, i, uintBitsToFloat(x[2 * (p + k)]), uintBitsToFloat(w), w);
			}
		} else if (VEC == 4) {
			uint p = line * (n / 4);
			for (uint q = start / 4 + j; q < end / 4; q += TY) {
				fold4(a, b, i, x4[p + q], 4 * q);
			}
		} else {
			uint o = line / inner;
			uint p = (o * n + start + j) * inner + (line - o * inner);
			uint step = TY * inner;
			for (uint k = start + j; k < end; k += TY) {
				fold(a, b, i, uintBitsToFloat(x[p]), k);
				p += step;
			}
		}
	}

	if (TY > 1) {
		// Radix-RADIX tree: each level, the first c/RADIX lanes of a line fold
		// RADIX strided entries, so only log_RADIX(TY) barriers are paid.
		uint base = ll * TY;
		sa[base + j] = a;
		sb[base + j] = b;
		si[base + j] = i;
		[[unroll]] for (uint c = TY; c > 1; c /= min(RADIX, c)) {
			uint next = c / min(RADIX, c);
			barrier();
			if (j < next) {
				for (uint r = 1; r < c / next; r++) {
					uint q = base + j + r * next;
					combine(a, b, i, sa[q], sb[q], si[q]);
				}
				sa[base + j] = a;
				sb[base + j] = b;
				si[base + j] = i;
			}
		}
	}
	if (!live || j != 0) {
		return;
	}
	if (OUT_STATES != 0) {
		uint q = 2 * (line * splits + split);
		y[q] = floatBitsToUint(a);
		y[q + 1] = OP == ARGMAX ? i : floatBitsToUint(b);
		return;
	}
	float r = a;
	if (OP == MEAN) {
		r = a / count;
	} else if (OP == LSE) {
		r = lse_final(a, b);
	}
	y[line] = OP == ARGMAX ? i : floatBitsToUint(r);
}
