#version 450
// matmul_cpu.comp: c = a @ b for CPU Vulkan drivers (Lavapipe/llvmpipe).
//
// llvmpipe runs a subgroup as one SIMD vector, but a storage-buffer load of
// per-invocation addresses becomes a scalar loop over the lanes with a
// bounds check per component: loads, not arithmetic, bound a matmul. So the
// kernel maximises the arithmetic per loaded vector:
// - a workgroup is one subgroup (no shared memory: CPU caches do that job,
//   and llvmpipe's shared memory costs the same per-lane loops, plus
//   barriers);
// - it computes TR rows x (SG * TQ * 4) columns; each lane keeps TR x TQ
//   vec4 accumulators (they spill to the stack, which is cheap next to a
//   load);
// - b arrives as vec4 loads, each lane 4 consecutive columns (or, for a
//   transposed b, 4 consecutive k of its column, transposed in registers);
// - a arrives as vec4 loads too, each lane holding 4 values of one row (4 k,
//   or for a transposed a 4 rows of one k), and every value is broadcast
//   to the subgroup with a constant-index shuffle (a single vpermps) as
//   the k loop needs it: 32 broadcast operands per load;
// - k advances 4 at a time, and each accumulator is updated once per step
//   (a loop-carried write is a masked blend and store in llvmpipe).
// Rows and columns past the edges are clamped on load and skipped on store.
// VEC says the contiguous dimension of every operand is a multiple of 4, so
// vec4 loads are aligned; otherwise each vec4 is four clamped scalar loads.
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint TR = 64; // rows per workgroup
layout(constant_id = 2) const uint TQ = 2;  // vec4 column groups per lane
layout(constant_id = 3) const bool TA = false;
layout(constant_id = 4) const bool TB = false;
layout(constant_id = 5) const bool VEC = true; // vec4 loads are aligned

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 0) readonly buffer A4 { vec4 a4[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 1) readonly buffer B4 { vec4 b4[]; };
layout(std430, binding = 2) writeonly buffer C { float c[]; };
layout(std430, binding = 2) writeonly buffer C4 { vec4 c4[]; };
layout(push_constant) uniform P {
	uint M, N, K;
	uint sa, sb, sc; // batch strides in elements (0: broadcast)
	uint z0;         // first batch of this dispatch
	uint tm, tn;     // row and column tiles
	uint gm;         // row tiles per group: tiles are walked group by group
};

const uint SG = gl_WorkGroupSize.x;
// a loads per 4 k: one per SG rows (4 k each), or 4 per 4 SG rows (TA).
const uint NA = TA ? (TR + 4 * SG - 1) / (4 * SG) * 4 : (TR + SG - 1) / SG;

// Elements j..j+3 of the row at o; without VEC each column is clamped to
// lim (with VEC, j and lim + 1 are multiples of 4).
vec4 lda(uint o, uint j, uint lim) {
	if (VEC) {
		return a4[(o + j) / 4];
	}
	return vec4(a[o + min(j, lim)], a[o + min(j + 1, lim)], a[o + min(j + 2, lim)], a[o + min(j + 3, lim)]);
}
vec4 ldb(uint o, uint j, uint lim) {
	if (VEC) {
		return b4[(o + j) / 4];
	}
	return vec4(b[o + min(j, lim)], b[o + min(j + 1, lim)], b[o + min(j + 2, lim)], b[o + min(j + 3, lim)]);
}

void main() {
	uint lane = gl_LocalInvocationID.x;
	uint z = gl_WorkGroupID.z + z0;
	// Walk the tiles in groups of gm row tiles, all columns of a group
	// before the next, so neighbouring workgroups share A and B panels.
	uint t = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
	if (t >= tm * tn) {
		return;
	}
	uint group = t / (gm * tn), inner = t % (gm * tn);
	uint rows = min(gm, tm - group * gm);
	uint i0 = (group * gm + inner % rows) * TR;
	uint j0 = inner / rows * SG * TQ * 4;
	uint abase = z * sa, bbase = z * sb;

	// This lane's load offsets, rows and columns clamped into range: edge
	// lanes load duplicates whose results are never stored.
	uint aoff[NA], acol[NA];
	if (TA) {
		// a is [K, M]: lane holds 4 consecutive rows of one k.
		[[unroll]] for (uint g = 0; g < NA; g++) {
			uint i = i0 + (g / 4) * 4 * SG + 4 * lane;
			aoff[g] = abase + (g % 4) * M;
			acol[g] = VEC ? min(i, M - 4) : i;
		}
	} else {
		// a is [M, K]: lane holds 4 consecutive k of one row.
		[[unroll]] for (uint g = 0; g < NA; g++) {
			aoff[g] = abase + min(i0 + g * SG + lane, M - 1) * K;
			acol[g] = 0;
		}
	}
	uint boff[TB ? 4 * TQ : TQ], bcol[TQ];
	if (TB) {
		// b is [N, K]: lane holds 4 consecutive k of one column.
		[[unroll]] for (uint q = 0; q < 4 * TQ; q++) {
			boff[q] = bbase + min(j0 + lane + q * SG, N - 1) * K;
		}
	} else {
		// b is [K, N]: lane holds 4 consecutive columns of one k.
		[[unroll]] for (uint q = 0; q < TQ; q++) {
			uint j = j0 + 4 * (lane + q * SG);
			boff[q] = bbase;
			bcol[q] = VEC ? min(j, N - 4) : j;
		}
	}

	vec4 acc[TR][TQ];
	[[unroll]] for (uint r = 0; r < TR; r++) {
		[[unroll]] for (uint q = 0; q < TQ; q++) {
			acc[r][q] = vec4(0.0);
		}
	}

	uint kfull = K & ~3u;
	for (uint k0 = 0; k0 < kfull; k0 += 4) {
		vec4 va[NA];
		[[unroll]] for (uint g = 0; g < NA; g++) {
			va[g] = TA ? lda(aoff[g] + k0 * M, acol[g], M - 1) : lda(aoff[g], k0, K - 1);
		}
		vec4 vb[4][TQ];
		if (TB) {
			[[unroll]] for (uint q = 0; q < TQ; q++) {
				vec4 x = ldb(boff[4 * q], k0, K - 1), y = ldb(boff[4 * q + 1], k0, K - 1);
				vec4 u = ldb(boff[4 * q + 2], k0, K - 1), w = ldb(boff[4 * q + 3], k0, K - 1);
				vb[0][q] = vec4(x[0], y[0], u[0], w[0]);
				vb[1][q] = vec4(x[1], y[1], u[1], w[1]);
				vb[2][q] = vec4(x[2], y[2], u[2], w[2]);
				vb[3][q] = vec4(x[3], y[3], u[3], w[3]);
			}
		} else {
			[[unroll]] for (uint t = 0; t < 4; t++) {
				[[unroll]] for (uint q = 0; q < TQ; q++) {
					vb[t][q] = ldb(boff[q] + (k0 + t) * N, bcol[q], N - 1);
				}
			}
		}
		[[unroll]] for (uint r = 0; r < TR; r++) {
			float x[4];
			[[unroll]] for (uint t = 0; t < 4; t++) {
				if (TA) {
					uint g = (r / (4 * SG)) * 4 + t;
					x[t] = subgroupShuffle(va[g][r % 4], (r % (4 * SG)) / 4);
				} else {
					x[t] = subgroupShuffle(va[r / SG][t], r % SG);
				}
			}
			[[unroll]] for (uint q = 0; q < TQ; q++) {
				acc[r][q] += x[0] * vb[0][q] + x[1] * vb[1][q] + x[2] * vb[2][q] + x[3] * vb[3][q];
			}
		}
	}
	// K tail (only when K % 4 != 0): scalar loads.
	for (uint k = kfull; k < K; k++) {
		vec4 vb[TQ];
		[[unroll]] for (uint q = 0; q < TQ; q++) {
			[[unroll]] for (uint e = 0; e < 4; e++) {
				uint j = min(j0 + (TB ? lane + (4 * q + e) * SG : 4 * (lane + q * SG) + e), N - 1);
				vb[q][e] = TB ? b[bbase + j * K + k] : b[bbase + k * N + j];
			}
		}
		[[unroll]] for (uint r = 0; r < TR; r++) {
			uint i = min(i0 + r, M - 1);
			float x = TA ? a[abase + k * M + i] : a[abase + i * K + k];
			[[unroll]] for (uint q = 0; q < TQ; q++) {
				acc[r][q] += x * vb[q];
			}
		}
	}

	uint cbase = z * sc;
	[[unroll]] for (uint r = 0; r < TR; r++) {
		uint i = i0 + r;
		if (i >= M) {
			break;
		}
		[[unroll]] for (uint q = 0; q < TQ; q++) {
			if (TB) {
				// This lane's columns are SG apart.
				[[unroll]] for (uint e = 0; e < 4; e++) {
					uint j = j0 + lane + (4 * q + e) * SG;
					if (j < N) {
						c[cbase + i * N + j] = acc[r][q][e];
					}
				}
			} else {
				uint j = j0 + 4 * (lane + q * SG);
				if (VEC && j < N) {
					c4[(cbase + i * N + j) / 4] = acc[r][q];
				} else if (!VEC) {
					[[unroll]] for (uint e = 0; e < 4; e++) {
						if (j + e < N) {
							c[cbase + i * N + j + e] = acc[r][q][e];
						}
					}
				}
			}
		}
	}
}
