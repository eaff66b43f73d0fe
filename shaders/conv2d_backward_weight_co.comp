#version 450
// conv2d_backward_weight_co.comp: conv2d_backward_weight.comp's partial
// sums with the roles of the channels swapped, for few input channels (an
// image's 1 or 3): there, lanes on input channels would mostly idle.
// Lanes are output channels: each lane gathers its own channel's dy (8
// useful values per gather), and x is the same for every lane, so each
// lane gathers one of 8 neighbouring values of a row segment and
// constant-index shuffles broadcast them; the segment serves every kx tap
// as register offsets (SW and DW are specialization constants). Each
// invocation keeps CV·CI·KH·KW accumulators (CV vectors of output
// channels, CI input channels) and walks its split of K one step of P
// output positions at a time; the launcher sums the splits as for
// conv2d_backward_weight. No shared memory, no barriers, no atomics.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

layout(local_size_x_id = 0) in;          // one subgroup, a multiple of 8 lanes
layout(constant_id = 1) const int KH = 3;
layout(constant_id = 2) const int KW = 3;
layout(constant_id = 3) const int SD = 0x101; // strideW | dilW<<8
layout(constant_id = 4) const int P = 8;      // output positions per step
layout(constant_id = 5) const int CV = 4;     // output-channel vectors per invocation
layout(constant_id = 6) const int CI = 1;     // input channels per invocation

const int SW = SD & 255;
const int DW = (SD >> 8) & 255;
const int SEG = (P - 1) * SW + (KW - 1) * DW + 1; // input columns a step spans
const int NSEG = (SEG + 7) / 8;
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
	int hwo = ho * wo;
	int ci0 = cit * CI;

	// This lane's output channels (clamped: edge lanes compute, never
	// store), and the invocation's input channels (clamped likewise).
	int dc[CV];
	[[unroll]] for (int v = 0; v < CV; v++) {
		dc[v] = min((cot * CV + v) * sg + lane, cout - 1) * hwo;
	}
	int xc[CI];
	[[unroll]] for (int i = 0; i < CI; i++) {
		xc[i] = min(ci0 + i, cin - 1) * hw;
	}

	float acc[CV][CI][KH][KW];
	[[unroll]] for (int v = 0; v < CV; v++) {
		[[unroll]] for (int i = 0; i < CI; i++) {
			[[unroll]] for (int ky = 0; ky < KH; ky++) {
				[[unroll]] for (int kx = 0; kx < KW; kx++) {
					acc[v][i][ky][kx] = 0.0;
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
		int db = n * cout * hwo + oy * wo;

		// x: one row segment per (input channel, ky), broadcast to all
		// lanes. Out-of-image values are zero.
		float xs[CI][KH][NSEG * 8];
		[[unroll]] for (int ky = 0; ky < KH; ky++) {
			int iy = oy * strideH - padH + ky * dilH;
			bool rowOK = iy >= 0 && iy < h;
			int rb = xb + (rowOK ? iy : 0) * wd;
			[[unroll]] for (int q = 0; q < NSEG; q++) {
				int j = q * 8 + piece;
				int ix = ix0 + j;
				bool ok = rowOK && j < SEG && ix >= 0 && ix < wd;
				int a = rb + (ok ? ix : 0);
				[[unroll]] for (int i = 0; i < CI; i++) {
					float s = x[xc[i] + a];
					s = ok ? s : 0.0;
					[[unroll]] for (int l = 0; l < 8; l++) {
						xs[i][ky][q * 8 + l] = subgroupShuffle(s, l);
					}
				}
			}
		}

		// dy: each lane its own output channel; positions past Wo are zero.
		[[unroll]] for (int v = 0; v < CV; v++) {
			float d[P];
			[[unroll]] for (int t = 0; t < P; t++) {
				int ox = ox0 + t;
				bool ok = ox < wo;
				float s = dy[dc[v] + db + (ok ? ox : 0)];
				d[t] = ok ? s : 0.0;
			}
			[[unroll]] for (int i = 0; i < CI; i++) {
				[[unroll]] for (int ky = 0; ky < KH; ky++) {
					[[unroll]] for (int kx = 0; kx < KW; kx++) {
						float a = acc[v][i][ky][kx];
						[[unroll]] for (int t = 0; t < P; t++) {
							a = fma(d[t], xs[i][ky][t * SW + kx * DW], a);
						}
						acc[v][i][ky][kx] = a;
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
		int co = (cot * CV + v) * sg + lane;
		[[unroll]] for (int i = 0; i < CI; i++) {
			int ci = ci0 + i;
			if (co < cout && ci < cin) {
				int o = ob + (co * cin + ci) * KK;
				[[unroll]] for (int k = 0; k < KK; k++) {
					dw[o + k] = acc[v][i][k / KW][k % KW];
				}
			}
		}
	}
}
