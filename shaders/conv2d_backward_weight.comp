#version 450
// conv2d_backward_weight.comp: partial sums of a 2-D convolution's weight
// gradient, dw[co, ci, ky, kx] = Σ over (n, oy, ox) of dy[n, co, oy, ox] ·
// x[n, ci, oy·sH − padH + ky·dH, ox·sW − padW + kx·dW], for CPU Vulkan
// drivers (Lavapipe), where every buffer load is a per-lane gather costing
// far more than an FMA, and a constant-index shuffle is cheap.
//
// A GEMM with M = Cout, N = Cin·KH·KW and a long K = N·Ho·Wo. Lanes are
// input channels: each lane gathers its own channel's x, and one row
// segment of x serves every kx tap (the taps are register offsets into it,
// so SW and DW are specialization constants), which makes x cheap per
// FMA. dy is the same for every lane: each lane gathers one of 8
// neighbouring positions and constant-index shuffles broadcast them. Each
// invocation keeps CV·KH·KW·CO accumulators (CV vectors of input channels,
// CO output channels) and walks its share of K one step of P output
// positions (a piece of one output row) at a time. K is split across
// workgroups (their loops stay far below llvmpipe's 65,535-iteration cap);
// each split writes its own slice of the output, and
// conv2d_backward_weight_reduce sums the slices. No shared memory, no
// barriers, no atomics.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

layout(local_size_x_id = 0) in;          // one subgroup, a multiple of 8 lanes
layout(constant_id = 1) const int KH = 3;
layout(constant_id = 2) const int KW = 3;
layout(constant_id = 3) const int SD = 0x101; // strideW | dilW<<8
layout(constant_id = 4) const int P = 8;      // output positions per step, a multiple of 8
layout(constant_id = 5) const int CV = 2;     // input-channel vectors per invocation
layout(constant_id = 6) const int CO = 16;    // output channels per invocation

const int SW = SD & 255;
const int DW = (SD >> 8) & 255;
const int SEG = (P - 1) * SW + (KW - 1) * DW + 1; // input columns a step spans
const int KK = KH * KW;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, binding = 2) writeonly buffer Grad { float dw[]; };
layout(push_constant) uniform Push {
	int cin, h, wd, cout, ho, wo;
	int strideH, dilH, padH, padW;
	int tilesX;         // steps per output row: ⌈Wo / P⌉
	int coTiles, ciTiles;
	int units;          // steps in all: N·Ho·tilesX
	int unitsPer;       // steps per split
	int groups;         // workgroups in all: coTiles·ciTiles·splits
};

void main() {
	int g = int(flat_group());
	if (g >= groups) {
		return;
	}
	// Output-channel tiles vary fastest: neighbouring workgroups read the
	// same x.
	int cot = g % coTiles;
	g /= coTiles;
	int cit = g % ciTiles;
	int split = g / ciTiles;

	int lane = int(gl_SubgroupInvocationID);
	int piece = lane & 7; // with more than 8 lanes, the rest repeat the first 8
	int sg = int(gl_WorkGroupSize.x);
	int hw = h * wd;
	int co0 = cot * CO;

	// This lane's input channels (clamped: edge lanes compute, never store).
	int xc[CV];
	[[unroll]] for (int v = 0; v < CV; v++) {
		xc[v] = min((cit * CV + v) * sg + lane, cin - 1) * hw;
	}
	int dc[CO];
	[[unroll]] for (int c = 0; c < CO; c++) {
		dc[c] = min(co0 + c, cout - 1) * ho * wo;
	}

	float acc[CV][KH][KW][CO];
	[[unroll]] for (int v = 0; v < CV; v++) {
		[[unroll]] for (int ky = 0; ky < KH; ky++) {
			[[unroll]] for (int kx = 0; kx < KW; kx++) {
				[[unroll]] for (int c = 0; c < CO; c++) {
					acc[v][ky][kx][c] = 0.0;
				}
			}
		}
	}

	int u0 = split * unitsPer;
	int u1 = min(u0 + unitsPer, units);
	// Walk (n, oy, tx) from u0 by increments: no division in the loop.
	int tx = u0 % tilesX;
	int r = u0 / tilesX;
	int oy = r % ho;
	int n = r / ho;
	for (int u = u0; u < u1; u++) {
		int ox0 = tx * P;
		int ix0 = ox0 * SW - padW;
		int xb = n * cin * hw;
		int db = n * cout * ho * wo + oy * wo;

		// x: one row segment per (channel vector, ky), each lane its own
		// channel. Out-of-image values are zero (a select on a clamped
		// address keeps the code straight-line).
		float xs[CV][KH][SEG];
		[[unroll]] for (int ky = 0; ky < KH; ky++) {
			int iy = oy * strideH - padH + ky * dilH;
			bool rowOK = iy >= 0 && iy < h;
			int rb = xb + (rowOK ? iy : 0) * wd;
			[[unroll]] for (int j = 0; j < SEG; j++) {
				int ix = ix0 + j;
				bool ok = rowOK && ix >= 0 && ix < wd;
				int a = rb + (ok ? ix : 0);
				[[unroll]] for (int v = 0; v < CV; v++) {
					float t = x[xc[v] + a];
					xs[v][ky][j] = ok ? t : 0.0;
				}
			}
		}

		// dy per output channel: 8 positions per gather, broadcast by
		// shuffles; positions past Wo are zero.
		[[unroll]] for (int c = 0; c < CO; c++) {
			float b[P];
			[[unroll]] for (int q = 0; q < P / 8; q++) {
				int ox = ox0 + q * 8 + piece;
				bool ok = ox < wo;
				float s = dy[dc[c] + db + (ok ? ox : 0)];
				s = ok ? s : 0.0;
				[[unroll]] for (int l = 0; l < 8; l++) {
					b[q * 8 + l] = subgroupShuffle(s, l);
				}
			}
			[[unroll]] for (int v = 0; v < CV; v++) {
				[[unroll]] for (int ky = 0; ky < KH; ky++) {
					[[unroll]] for (int kx = 0; kx < KW; kx++) {
						float a = acc[v][ky][kx][c];
						[[unroll]] for (int t = 0; t < P; t++) {
							a = fma(b[t], xs[v][ky][t * SW + kx * DW], a);
						}
						acc[v][ky][kx][c] = a;
					}
				}
			}
		}

		tx++;
		if (tx == tilesX) {
			tx = 0;
			oy++;
			if (oy == ho) {
				oy = 0;
				n++;
			}
		}
	}

	// This split's slice of dw [Cout, Cin, KH, KW].
	int ob = split * cout * cin * KK;
	[[unroll]] for (int v = 0; v < CV; v++) {
		int ci = (cit * CV + v) * sg + lane;
		[[unroll]] for (int c = 0; c < CO; c++) {
			int co = co0 + c;
			if (ci < cin && co < cout) {
				int o = ob + (co * cin + ci) * KK;
				[[unroll]] for (int k = 0; k < KK; k++) {
					dw[o + k] = acc[v][k / KW][k % KW][c];
				}
			}
		}
	}
}
