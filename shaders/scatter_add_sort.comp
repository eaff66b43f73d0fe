#version 450
// scatter_add_sort.comp: sorts (idx[i], i) pairs for scatter_add.comp and
// finds where each index's run starts, all without atomics. The pairs are
// padded to a power of two p and sorted with a bitonic network: pass 1
// does one global compare-exchange step (k, j); pass 3 does all the steps
// with j <= WG inside a workgroup's block of 2*WG pairs in shared memory,
// which saves most of the dispatches.
// Keys compare as (idx, i), a total order, so the result is unique
// whatever the schedule: deterministic. Out-of-range indices and padding
// get key 0xffffffff and sort past every real index.
//   pass 0: pairs[t] = (key(idx[t]), t) for t < p
//   pass 1: global bitonic step (k, j)
//   pass 2: starts[t] = first position with key >= t, for t <= nAxis
//   pass 3: local bitonic steps: k from kLo to kHi, j from jStart (first
//           k) or k/2 (later k) down to 1, within blocks of 2*WG pairs
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer I { int idx[]; };
layout(std430, binding = 1) buffer Pairs { uvec2 pairs[]; };
layout(std430, binding = 2) writeonly buffer Starts { uint starts[]; };
layout(push_constant) uniform P {
	uint pass;
	uint m;     // len(idx)
	uint p;     // padded length, a power of two >= 2*WG
	uint nAxis;
	uint k;     // pass 1: bitonic block size; pass 3: kLo
	uint j;     // pass 1: partner distance;  pass 3: jStart
	uint kHi;   // pass 3
};

const uint NONE = 0xffffffffu;

shared uvec2 s[gl_WorkGroupSize.x * 2];

bool greater(uvec2 a, uvec2 b) { return a.x > b.x || (a.x == b.x && a.y > b.y); }

// pairIndex maps compare-exchange t to the lower element of its pair at
// distance d (a power of two): t's bits below d stay, the rest shift up.
uint pairIndex(uint t, uint d) { return ((t & ~(d - 1u)) << 1) | (t & (d - 1u)); }

void main() {
	uint t = flat_group() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
	if (pass == 0) {
		if (t < p) {
			uint key = NONE;
			if (t < m) {
				int v = idx[t];
				if (v >= 0 && uint(v) < nAxis) {
					key = uint(v);
				}
			}
			pairs[t] = uvec2(key, t);
		}
	} else if (pass == 1) {
		if (t < p / 2) {
			uint a = pairIndex(t, j), b = a | j;
			uvec2 x = pairs[a], y = pairs[b];
			bool asc = (a & k) == 0u;
			if (greater(x, y) == asc) {
				pairs[a] = y;
				pairs[b] = x;
			}
		}
	} else if (pass == 2) {
		if (t <= nAxis) {
			// Lower bound of key t among the m real entries (padding and
			// out-of-range keys are NONE > t).
			uint lo = 0, hi = m;
			while (lo < hi) {
				uint mid = (lo + hi) / 2;
				if (pairs[mid].x < t) {
					lo = mid + 1;
				} else {
					hi = mid;
				}
			}
			starts[t] = lo;
		}
	} else {
		// Every invocation of the workgroup takes part (p is a multiple of
		// the block), so the barriers are in uniform control flow.
		uint wg = gl_WorkGroupSize.x;
		uint lid = gl_LocalInvocationID.x;
		uint base = flat_group() * 2u * wg;
		if (base >= p) {
			return; // a spare workgroup of a grid spilled into y: all of it leaves
		}
		s[lid] = pairs[base + lid];
		s[lid + wg] = pairs[base + lid + wg];
		barrier();
		for (uint kk = k; kk <= kHi; kk <<= 1) {
			for (uint jj = (kk == k ? j : kk >> 1); jj > 0u; jj >>= 1) {
				uint a = pairIndex(lid, jj), b = a | jj;
				uvec2 x = s[a], y = s[b];
				bool asc = ((base + a) & kk) == 0u;
				if (greater(x, y) == asc) {
					s[a] = y;
					s[b] = x;
				}
				barrier();
			}
		}
		pairs[base + lid] = s[lid];
		pairs[base + lid + wg] = s[lid + wg];
	}
}
