#version 450
// conv2d_sg.comp: direct 2-D convolution for CPU Vulkan drivers (Lavapipe),
// where a subgroup is one SIMD register and every buffer load is a per-lane
// gather costing far more than an FMA. Lanes are output channels; each
// invocation keeps ROWS×COLS output positions for CV channel vectors in
// registers. Input rows are loaded lane-distributed (lane l fetches element
// l of an 8-wide piece, so one gather brings 8 useful values) and spread to
// all lanes with constant-index shuffles, which are cheap there; each value
// then serves every (ky, kx) and channel that uses it. CI input channels
// per step give each accumulator CI·KH·KW FMAs between its spill load and
// store (more than one for 1×1 kernels). Kernel size, stride and dilation
// are specialization constants, so the window is unrolled and its indexing
// folds to constants. No shared memory, no barriers.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

layout(local_size_x_id = 0) in;                   // one subgroup, a multiple of 8 lanes
layout(constant_id = 1) const int KH = 3;
layout(constant_id = 2) const int KW = 3;
// Packed geometry: strideH | strideW<<6 | dilH<<12 | dilW<<18 | vec4 stores<<24.
layout(constant_id = 3) const int SD = 0x41041;
layout(constant_id = 4) const int ROWS = 8;       // output rows per invocation
layout(constant_id = 5) const int COLS = 16;      // output columns per invocation
layout(constant_id = 6) const int CV = 2;         // channel vectors per invocation
layout(constant_id = 7) const int CI = 1;         // input channels per step

const int SH = SD & 63;
const int SW = (SD >> 6) & 63;
const int DH = (SD >> 12) & 63;
const int DW = (SD >> 18) & 63;
// Whole aligned quads of output columns (Wo and COLS multiples of 4): stored
// as vec4s, a quarter of the per-lane store loops.
const bool VST = ((SD >> 24) & 1) != 0;
const int SEGW = (COLS - 1) * SW + (KW - 1) * DW + 1; // input columns a tile row spans
const int NSEG = (SEGW + 7) / 8;                      // 8-wide pieces per input row
const int NROW = (ROWS - 1) * SH + (KH - 1) * DH + 1; // input rows a tile spans
const int KK = KH * KW;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Wt { float w[]; };
layout(std430, binding = 2) readonly buffer B { float bias[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(std430, binding = 3) writeonly buffer Y4 { vec4 y4[]; };
layout(push_constant) uniform P {
	int cin, h, wd, cout, ho, wo;
	int padH, padW;
	int hasBias;
	int tilesX, tilesY, coTiles, tiles;
};

void main() {
	int g = int(flat_group());
	if (g >= tiles) {
		return;
	}
	// Channel tiles vary fastest: neighbouring workgroups share input rows.
	int ct = g % coTiles;
	g /= coTiles;
	int tx = g % tilesX;
	g /= tilesX;
	int ty = g % tilesY;
	int n = g / tilesY;

	int lane = int(gl_SubgroupInvocationID);
	int piece = lane & 7; // with more than 8 lanes, the rest repeat the first 8
	int sg = int(gl_WorkGroupSize.x);
	int oy0 = ty * ROWS, ox0 = tx * COLS;
	int iy0 = oy0 * SH - padH, ix0 = ox0 * SW - padW;

	// Edge lanes past Cout compute a clamped channel and store nothing.
	int co[CV];
	float acc[CV][ROWS][COLS];
	[[unroll]] for (int v = 0; v < CV; v++) {
		co[v] = min((ct * CV + v) * sg + lane, cout - 1);
		float b0 = hasBias != 0 ? bias[co[v]] : 0.0;
		[[unroll]] for (int r = 0; r < ROWS; r++) {
			[[unroll]] for (int c = 0; c < COLS; c++) {
				acc[v][r][c] = b0;
			}
		}
	}

	// Which input column this lane loads for each piece, and whether it is
	// inside the image (outside is zero padding): fixed for the whole tile.
	bool colOK[NSEG];
	int colIx[NSEG];
	[[unroll]] for (int q = 0; q < NSEG; q++) {
		int j = q * 8 + piece;
		int ix = ix0 + j;
		colOK[q] = j < SEGW && ix >= 0 && ix < wd;
		colIx[q] = colOK[q] ? ix : 0;
	}

	int hw = h * wd;
	int xb = n * cin * hw;
	int wstride = cin * KK;
	for (int ci0 = 0; ci0 < cin; ci0 += CI) {
		// A last partial step reads a valid channel and zeroes both factors
		// (zero, not just a zero weight, so that an inf cannot make a NaN).
		bool chOK[CI];
		int ch[CI];
		[[unroll]] for (int i = 0; i < CI; i++) {
			chOK[i] = ci0 + i < cin;
			ch[i] = chOK[i] ? ci0 + i : ci0;
		}
		float wv[CV][CI][KK];
		[[unroll]] for (int v = 0; v < CV; v++) {
			[[unroll]] for (int i = 0; i < CI; i++) {
				int wb = co[v] * wstride + ch[i] * KK;
				[[unroll]] for (int k = 0; k < KK; k++) {
					float t = w[wb + k];
					wv[v][i][k] = chOK[i] ? t : 0.0;
				}
			}
		}
		// Every input value of the tile, broadcast to all lanes. Loads use a
		// clamped address and a select, not a branch, to stay straight-line.
		float inb[CI][NROW][NSEG * 8];
		[[unroll]] for (int i = 0; i < CI; i++) {
			int cb = xb + ch[i] * hw;
			[[unroll]] for (int rr = 0; rr < NROW; rr++) {
				int iy = iy0 + rr;
				bool rowOK = chOK[i] && iy >= 0 && iy < h;
				int rb = cb + (rowOK ? iy : 0) * wd;
				[[unroll]] for (int q = 0; q < NSEG; q++) {
					float s = x[rb + colIx[q]];
					s = rowOK && colOK[q] ? s : 0.0;
					[[unroll]] for (int l = 0; l < 8; l++) {
						inb[i][rr][q * 8 + l] = subgroupShuffle(s, l);
					}
				}
			}
		}
		// Position-major order: each accumulator takes its whole window in a
		// row, which keeps spills (there are more accumulators than
		// registers) to one load and store per position and channel step.
		[[unroll]] for (int v = 0; v < CV; v++) {
			[[unroll]] for (int r = 0; r < ROWS; r++) {
				[[unroll]] for (int c = 0; c < COLS; c++) {
					float a = acc[v][r][c];
					[[unroll]] for (int i = 0; i < CI; i++) {
						[[unroll]] for (int ky = 0; ky < KH; ky++) {
							[[unroll]] for (int kx = 0; kx < KW; kx++) {
								a = fma(wv[v][i][ky * KW + kx], inb[i][r * SH + ky * DH][c * SW + kx * DW], a);
							}
						}
					}
					acc[v][r][c] = a;
				}
			}
		}
	}

	[[unroll]] for (int v = 0; v < CV; v++) {
		int cov = (ct * CV + v) * sg + lane;
		int yb = (n * cout + cov) * ho * wo;
		[[unroll]] for (int r = 0; r < ROWS; r++) {
			int oy = oy0 + r;
			if (VST) {
				[[unroll]] for (int c = 0; c < COLS; c += 4) {
					int ox = ox0 + c;
					if (cov < cout && oy < ho && ox < wo) {
						y4[(yb + oy * wo + ox) >> 2] = vec4(acc[v][r][c], acc[v][r][c + 1], acc[v][r][c + 2], acc[v][r][c + 3]);
					}
				}
			} else {
				[[unroll]] for (int c = 0; c < COLS; c++) {
					int ox = ox0 + c;
					if (cov < cout && oy < ho && ox < wo) {
						y[yb + oy * wo + ox] = acc[v][r][c];
					}
				}
			}
		}
	}
}
