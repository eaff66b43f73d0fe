#version 450
// matmul.comp: c = a @ b for GPUs. The workgroup stages BK-deep slices of
// a BM x BK tile of a and a BK x BN tile of b in shared memory, stored
// k-major whatever the source layout (the transposes only change the
// global load path), and each invocation accumulates a T x T register
// block whose rows and columns are strided by the workgroup's extent so
// that shared-memory reads of neighbouring invocations are contiguous.
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint T = 4; // register block is T x T
layout(constant_id = 5) const bool TA = false;
layout(constant_id = 6) const bool TB = false;
layout(constant_id = 7) const bool VEC = false; // contiguous dims are multiples of 4

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 0) readonly buffer A4 { vec4 a4[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 1) readonly buffer B4 { vec4 b4[]; };
layout(std430, binding = 2) writeonly buffer C { float c[]; };
layout(push_constant) uniform P {
	uint M, N, K;
	uint sa, sb, sc; // batch strides in elements (0: broadcast)
	uint z0;         // first batch of this dispatch
	uint tm, tn;     // row and column tiles
	uint gm;         // unused here (the CPU kernel's tile grouping)
};

const uint WG = gl_WorkGroupSize.x;
const uint WN = BN / T; // invocations across a tile's columns

const uint SA = BM + 1, SB = BN + 1; // padded rows: transposing stores spread over banks
shared float As[BK * SA];
shared float Bs[BK * SB];

// Stages the slice k0..k0+BK of the tiles at (i0, k0) of a and (k0, j0) of
// b, k-major. Each invocation moves V consecutive elements of the source's
// contiguous dimension at a time; elements outside the matrices read as 0.
const uint V = VEC ? 4 : 1;
const uint NA = (BM * BK / V + WG - 1) / WG, NB = (BK * BN / V + WG - 1) / WG;

void stage(uint abase, uint bbase, uint i0, uint j0, uint k0) {
	uint tid = gl_LocalInvocationID.x;
	uint cA = TA ? BM : BK; // extent of the tile along a's contiguous dim
	[[unroll]] for (uint p = 0; p < NA; p++) {
		uint e = (p * WG + tid) * V;
		if (e < BM * BK) {
			uint o = e / cA, in0 = e % cA; // outer and inner index
			uint i = TA ? i0 + in0 : i0 + o, k = TA ? k0 + o : k0 + in0;
			// With VEC the contiguous extent is a multiple of 4: a vector is
			// all in or all out.
			bool ok = i < M && k < K;
			uint src = abase + (TA ? k * M + i : i * K + k);
			vec4 v = vec4(0.0);
			if (VEC) {
				if (ok) {
					v = a4[src / 4];
				}
			} else if (ok) {
				v.x = a[src];
			}
			[[unroll]] for (uint x = 0; x < V; x++) {
				As[TA ? o * SA + in0 + x : (in0 + x) * SA + o] = v[x];
			}
		}
	}
	uint cB = TB ? BK : BN;
	[[unroll]] for (uint p = 0; p < NB; p++) {
		uint e = (p * WG + tid) * V;
		if (e < BK * BN) {
			uint o = e / cB, in0 = e % cB;
			uint j = TB ? j0 + o : j0 + in0, k = TB ? k0 + in0 : k0 + o;
			bool ok = j < N && k < K;
			uint src = bbase + (TB ? j * K + k : k * N + j);
			vec4 v = vec4(0.0);
			if (VEC) {
				if (ok) {
					v = b4[src / 4];
				}
			} else if (ok) {
				v.x = b[src];
			}
			[[unroll]] for (uint x = 0; x < V; x++) {
				Bs[TB ? (in0 + x) * SB + o : o * SB + in0 + x] = v[x];
			}
		}
	}
}

void main() {
	uint t = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
	if (t >= tm * tn) {
		return; // uniform per workgroup: no barrier is skipped by part of it
	}
	uint z = gl_WorkGroupID.z + z0;
	uint i0 = t % tm * BM, j0 = t / tm * BN;
	uint abase = z * sa, bbase = z * sb;
	uint tid = gl_LocalInvocationID.x;
	uint tx = tid % WN, ty = tid / WN;

	float acc[T][T];
	[[unroll]] for (uint r = 0; r < T; r++) {
		[[unroll]] for (uint q = 0; q < T; q++) {
			acc[r][q] = 0.0;
		}
	}
	for (uint k0 = 0; k0 < K; k0 += BK) {
		stage(abase, bbase, i0, j0, k0);
		barrier();
		[[unroll]] for (uint kk = 0; kk < BK; kk++) {
			float av[T], bv[T];
			[[unroll]] for (uint r = 0; r < T; r++) {
				av[r] = As[kk * SA + ty + r * (BM / T)];
			}
			[[unroll]] for (uint q = 0; q < T; q++) {
				bv[q] = Bs[kk * SB + tx + q * WN];
			}
			[[unroll]] for (uint r = 0; r < T; r++) {
				[[unroll]] for (uint q = 0; q < T; q++) {
					acc[r][q] = fma(av[r], bv[q], acc[r][q]);
				}
			}
		}
		barrier();
	}
	uint cbase = z * sc;
	[[unroll]] for (uint r = 0; r < T; r++) {
		uint i = i0 + ty + r * (BM / T);
		[[unroll]] for (uint q = 0; q < T; q++) {
			uint j = j0 + tx + q * WN;
			if (i < M && j < N) {
				c[cbase + i * N + j] = acc[r][q];
			}
		}
	}
}
