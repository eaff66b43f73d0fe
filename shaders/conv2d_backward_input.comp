#version 450
// conv2d_backward_input.comp: a 2-D convolution's input gradient (a
// transposed convolution) for CPU Vulkan drivers (Lavapipe), gathered per
// input pixel: dx[n, ci, y, x] = Σ over co, ky, kx of dy[n, co, oy, ox] ·
// w[co, ci, ky, kx] for the taps with y + padH − ky·dH = oy·sH and
// x + padW − kx·dW = ox·sW. Deterministic, no atomics.
//
// conv2d_sg.comp's method with the roles of the channels swapped: lanes
// are input channels, each invocation keeps ROWS×COLS dx positions for CV
// channel vectors in registers, and each step takes CI output channels:
// their weights are per-lane gathers, their dy values are gathered
// lane-distributed (one gather brings 8 useful values) and broadcast with
// constant-index shuffles. Tiles start at multiples of the stride, so with
// padH mod sH and padW mod sW as specialization constants, which taps reach
// which tile row and column (and from which dy row and column) is known at
// compile time: the unrolled window keeps only the contributing taps, and a
// stride-s gradient costs its true arithmetic, not s² times it. ACCUM adds
// to dx (the launcher splits very many output channels across
// dispatches). No shared memory, no barriers.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

layout(local_size_x_id = 0) in;                   // one subgroup, a multiple of 8 lanes
layout(constant_id = 1) const int KH = 3;
layout(constant_id = 2) const int KW = 3;
// Packed geometry: strideH | strideW<<6 | dilH<<12 | dilW<<18 |
// (padH mod strideH)<<24 | (padW mod strideW)<<27 | vec4 stores<<30.
layout(constant_id = 3) const int SD = 0x41041;
layout(constant_id = 4) const int ROWS = 8;       // dx rows per invocation, a multiple of strideH
layout(constant_id = 5) const int COLS = 16;      // dx columns per invocation, a multiple of strideW
layout(constant_id = 6) const int CV = 2;         // input-channel vectors per invocation
layout(constant_id = 7) const int CI = 1;         // output channels per step

const int SH = SD & 63;
const int SW = (SD >> 6) & 63;
const int DH = (SD >> 12) & 63;
const int DW = (SD >> 18) & 63;
const int PH = (SD >> 24) & 7;
const int PW = (SD >> 27) & 7;
const bool VST = ((SD >> 30) & 1) != 0;
// Floor division by the stride of values ≥ −64·stride (the launcher keeps
// dil·(k−1) ≤ 32), and whether a tap reaches a tile row or column.
const int BIAS = 64;
#define FDIV(a, s) (((a) + BIAS * (s)) / (s) - BIAS)
#define HITS(a, s) (((a) + BIAS * (s)) % (s) == 0)
// dy rows and columns a tile reads, relative to its base row and column.
const int RLO = FDIV(PH - (KH - 1) * DH, SH);
const int NROW = FDIV(ROWS - 1 + PH, SH) - RLO + 1;
const int CLO = FDIV(PW - (KW - 1) * DW, SW);
const int SEGW = FDIV(COLS - 1 + PW, SW) - CLO + 1;
const int NSEG = (SEGW + 7) / 8;
const int KK = KH * KW;

layout(std430, binding = 0) readonly buffer DY { float dy[]; };
layout(std430, binding = 1) readonly buffer Wt { float w[]; };
layout(std430, binding = 2) buffer Grad { float dx[]; };
layout(std430, binding = 2) buffer Grad4 { vec4 dx4[]; };
layout(push_constant) uniform P {
	int cin, h, wd, cout, ho, wo;
	int padH, padW;
	int tilesX, tilesY, ciTiles, tiles;
	int co0, co1; // output channels of this dispatch
	int accum;    // add to dx instead of overwriting it
};

void main() {
	int g = int(flat_group());
	if (g >= tiles) {
		return;
	}
	// Channel tiles vary fastest: neighbouring workgroups share dy rows.
	int ct = g % ciTiles;
	g /= ciTiles;
	int tx = g % tilesX;
	g /= tilesX;
	int ty = g % tilesY;
	int n = g / tilesY;

	int lane = int(gl_SubgroupInvocationID);
	int piece = lane & 7; // with more than 8 lanes, the rest repeat the first 8
	int sg = int(gl_WorkGroupSize.x);
	int y0 = ty * ROWS, x0 = tx * COLS;
	// First dy row and column the tile reads: y0 and x0 are multiples of
	// the stride, so (y0 + padH − PH)/SH is exact.
	int oy0 = y0 / SH + padH / SH + RLO;
	int ox0 = x0 / SW + padW / SW + CLO;
	int hw = h * wd;

	// Edge lanes past Cin compute a clamped channel and store nothing.
	int ci[CV];
	float acc[CV][ROWS][COLS];
	[[unroll]] for (int v = 0; v < CV; v++) {
		int c = (ct * CV + v) * sg + lane;
		ci[v] = min(c, cin - 1);
		int xb = (n * cin + ci[v]) * hw;
		[[unroll]] for (int r = 0; r < ROWS; r++) {
			[[unroll]] for (int cc = 0; cc < COLS; cc++) {
				float a = 0.0;
				if (accum != 0) {
					a = dx[xb + min(y0 + r, h - 1) * wd + min(x0 + cc, wd - 1)];
				}
				acc[v][r][cc] = a;
			}
		}
	}

	// Which dy column this lane loads for each piece, and whether it
	// exists: fixed for the whole tile.
	bool colOK[NSEG];
	int colIx[NSEG];
	[[unroll]] for (int q = 0; q < NSEG; q++) {
		int j = q * 8 + piece;
		int ox = ox0 + j;
		colOK[q] = j < SEGW && ox >= 0 && ox < wo;
		colIx[q] = colOK[q] ? ox : 0;
	}

	int hwo = ho * wo;
	int db = n * cout * hwo;
	for (int c0 = co0; c0 < co1; c0 += CI) {
		// A last partial step reads a valid channel and zeroes both factors.
		bool chOK[CI];
		int co[CI];
		[[unroll]] for (int i = 0; i < CI; i++) {
			chOK[i] = c0 + i < co1;
			co[i] = chOK[i] ? c0 + i : c0;
		}
		float wv[CV][CI][KK];
		[[unroll]] for (int v = 0; v < CV; v++) {
			[[unroll]] for (int i = 0; i < CI; i++) {
				int wb = (co[i] * cin + ci[v]) * KK;
				[[unroll]] for (int k = 0; k < KK; k++) {
					float t = w[wb + k];
					wv[v][i][k] = chOK[i] ? t : 0.0;
				}
			}
		}
		// The tile's dy values, broadcast to all lanes.
		float inb[CI][NROW][NSEG * 8];
		[[unroll]] for (int i = 0; i < CI; i++) {
			int cb = db + co[i] * hwo;
			[[unroll]] for (int rr = 0; rr < NROW; rr++) {
				int oy = oy0 + rr;
				bool rowOK = chOK[i] && oy >= 0 && oy < ho;
				int rb = cb + (rowOK ? oy : 0) * wo;
				[[unroll]] for (int q = 0; q < NSEG; q++) {
					float s = dy[rb + colIx[q]];
					s = rowOK && colOK[q] ? s : 0.0;
					[[unroll]] for (int l = 0; l < 8; l++) {
						inb[i][rr][q * 8 + l] = subgroupShuffle(s, l);
					}
				}
			}
		}
		// Position-major: each accumulator takes all its taps in a row.
		[[unroll]] for (int v = 0; v < CV; v++) {
			[[unroll]] for (int r = 0; r < ROWS; r++) {
				[[unroll]] for (int cc = 0; cc < COLS; cc++) {
					float a = acc[v][r][cc];
					[[unroll]] for (int i = 0; i < CI; i++) {
						[[unroll]] for (int ky = 0; ky < KH; ky++) {
							int ty = r + PH - ky * DH;
							if (HITS(ty, SH)) {
								[[unroll]] for (int kx = 0; kx < KW; kx++) {
									int tx = cc + PW - kx * DW;
									if (HITS(tx, SW)) {
										a = fma(wv[v][i][ky * KW + kx], inb[i][FDIV(ty, SH) - RLO][FDIV(tx, SW) - CLO], a);
									}
								}
							}
						}
					}
					acc[v][r][cc] = a;
				}
			}
		}
	}

	[[unroll]] for (int v = 0; v < CV; v++) {
		int c = (ct * CV + v) * sg + lane;
		int xb = (n * cin + c) * hw;
		[[unroll]] for (int r = 0; r < ROWS; r++) {
			int y = y0 + r;
			if (VST) {
				[[unroll]] for (int cc = 0; cc < COLS; cc += 4) {
					int x = x0 + cc;
					if (c < cin && y < h && x < wd) {
						dx4[(xb + y * wd + x) >> 2] = vec4(acc[v][r][cc], acc[v][r][cc + 1], acc[v][r][cc + 2], acc[v][r][cc + 3]);
					}
				}
			} else {
				[[unroll]] for (int cc = 0; cc < COLS; cc++) {
					int x = x0 + cc;
					if (c < cin && y < h && x < wd) {
						dx[xb + y * wd + x] = acc[v][r][cc];
					}
				}
			}
		}
	}
}
