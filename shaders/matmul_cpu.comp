#version 450
// matmul_cpu.comp: c = a @ b for CPU Vulkan drivers (Lavapipe/llvmpipe).
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint TR = 32; // rows per workgroup
layout(constant_id = 2) const uint TQ = 1;  // vec4 column groups per lane
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
};

const uint SG = gl_WorkGroupSize.x;
// A loads per 4 k-steps: rows/SG of them along k, or rows/(4 SG) along m.
const uint NA = TA ? (TR + 4 * SG - 1) / (4 * SG) * 4 : TR / SG;

// Four consecutive elements of a row starting at column j; without VEC the
// columns are clamped to lim (vec4 rows never straddle it: lim + 1 and j
// are multiples of 4 there).
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
	uint i0 = gl_WorkGroupID.x * TR;
	uint j0 = gl_WorkGroupID.y * SG * TQ * 4;
	uint abase = z * sa, bbase = z * sb;

	// Offsets of this lane's A loads at k = 0, rows/columns clamped into
	// range: edge lanes load duplicates whose results are not stored.
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
			va[g] = TA ? lda(aoff[g] + k0 * M, acol[g], M - 1) : lda(aoff[g], k0, K);
		}
		vec4 vb[4][TQ];
		if (TB) {
			[[unroll]] for (uint q = 0; q < TQ; q++) {
				vec4 x = ldb(boff[4 * q], k0, K), y = ldb(boff[4 * q + 1], k0, K);
				vec4 u = ldb(boff[4 * q + 2], k0, K), w = ldb(boff[4 * q + 3], k0, K);
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
			float x0, x1, x2, x3;
			if (TA) {
				uint g = (r / (4 * SG)) * 4, l = (r % (4 * SG)) / 4, e = r % 4;
				x0 = subgroupShuffle(va[g][e], l);
				x1 = subgroupShuffle(va[g + 1][e], l);
				x2 = subgroupShuffle(va[g + 2][e], l);
				x3 = subgroupShuffle(va[g + 3][e], l);
			} else {
				uint g = r / SG, l = r % SG;
				x0 = subgroupShuffle(va[g][0], l);
				x1 = subgroupShuffle(va[g][1], l);
				x2 = subgroupShuffle(va[g][2], l);
				x3 = subgroupShuffle(va[g][3], l);
			}
			[[unroll]] for (uint q = 0; q < TQ; q++) {
				acc[r][q] += x0 * vb[0][q] + x1 * vb[1][q] + x2 * vb[2][q] + x3 * vb[3][q];
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
