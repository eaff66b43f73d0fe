#version 450
// conv2d_sg_any.comp: 2-D convolution of any geometry for CPU Vulkan
// drivers (Lavapipe), for windows too large for conv2d_sg to unroll (such
// as the image-sized kernels of a weight gradient). An implicit GEMM with
// the reduction (cin, ky, kx) as plain loops, so no index division: lanes
// are output channels, each invocation keeps P output positions (which may
// span images) for CV channel vectors in registers. Per reduction step each
// lane gathers the input of one position of every 8 (one gather brings 8
// useful values), and constant-index shuffles spread them to all lanes.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

layout(local_size_x_id = 0) in;          // one subgroup, a multiple of 8 lanes
layout(constant_id = 1) const int P = 64; // output positions per invocation, a multiple of 8
layout(constant_id = 2) const int CV = 4; // channel vectors per invocation

const int NQ = P / 8;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Wt { float w[]; };
layout(std430, binding = 2) readonly buffer B { float bias[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Push {
	int cin, h, wd, cout, ho, wo;
	int kh, kw, strideH, strideW, padH, padW, dilH, dilW;
	int hasBias;
	int npos;    // batch·Ho·Wo
	int coTiles; // workgroups along Cout
	int tiles;   // workgroups in all
};

void main() {
	int g = int(flat_group());
	if (g >= tiles) {
		return;
	}
	int ct = g % coTiles;
	int p0 = (g / coTiles) * P;
	int lane = int(gl_SubgroupInvocationID);
	int piece = lane & 7; // with more than 8 lanes, the rest repeat the first 8
	int sg = int(gl_WorkGroupSize.x);
	int hwo = ho * wo;

	// The positions this lane gathers for: p0 + q·8 + piece. Decomposed once.
	bool pOK[NQ];
	int xb[NQ], iy0[NQ], ix0[NQ];
	[[unroll]] for (int q = 0; q < NQ; q++) {
		int p = p0 + q * 8 + piece;
		pOK[q] = p < npos;
		p = pOK[q] ? p : 0;
		int n = p / hwo;
		int rem = p - n * hwo;
		int oy = rem / wo;
		xb[q] = n * cin * h * wd;
		iy0[q] = oy * strideH - padH;
		ix0[q] = (rem - oy * wo) * strideW - padW;
	}

	int co[CV];
	float acc[CV][P];
	[[unroll]] for (int v = 0; v < CV; v++) {
		co[v] = min((ct * CV + v) * sg + lane, cout - 1);
		float b0 = hasBias != 0 ? bias[co[v]] : 0.0;
		[[unroll]] for (int j = 0; j < P; j++) {
			acc[v][j] = b0;
		}
	}

	int khw = kh * kw;
	for (int ci = 0; ci < cin; ci++) {
		for (int ky = 0; ky < kh; ky++) {
			bool rowOK[NQ];
			int rb[NQ];
			[[unroll]] for (int q = 0; q < NQ; q++) {
				int iy = iy0[q] + ky * dilH;
				rowOK[q] = pOK[q] && iy >= 0 && iy < h;
				rb[q] = xb[q] + (ci * h + (rowOK[q] ? iy : 0)) * wd;
			}
			for (int kx = 0; kx < kw; kx++) {
				float wv[CV];
				[[unroll]] for (int v = 0; v < CV; v++) {
					wv[v] = w[(co[v] * cin + ci) * khw + ky * kw + kx];
				}
				[[unroll]] for (int q = 0; q < NQ; q++) {
					int ix = ix0[q] + kx * dilW;
					bool ok = rowOK[q] && ix >= 0 && ix < wd;
					float s = x[rb[q] + (ok ? ix : 0)];
					s = ok ? s : 0.0;
					[[unroll]] for (int l = 0; l < 8; l++) {
						float xv = subgroupShuffle(s, l);
						[[unroll]] for (int v = 0; v < CV; v++) {
							acc[v][q * 8 + l] = fma(wv[v], xv, acc[v][q * 8 + l]);
						}
					}
				}
			}
		}
	}

	// Stored positions are the same for every lane: step (image, offset)
	// along them instead of dividing per store.
	int n0 = p0 / hwo;
	int r0 = p0 - n0 * hwo;
	[[unroll]] for (int v = 0; v < CV; v++) {
		int cov = (ct * CV + v) * sg + lane;
		int nn = n0, r = r0;
		[[unroll]] for (int j = 0; j < P; j++) {
			if (cov < cout && p0 + j < npos) {
				y[(nn * cout + cov) * hwo + r] = acc[v][j];
			}
			r++;
			nn = r == hwo ? nn + 1 : nn;
			r = r == hwo ? 0 : r;
		}
	}
}
