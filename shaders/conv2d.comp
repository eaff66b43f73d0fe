#version 450
// conv2d.comp: 2-D convolution as an implicit GEMM for GPUs:
// M = Cout, N = batch·Ho·Wo, K = Cin·KH·KW, with no im2col buffer. Each
// workgroup stages a BK×BM tile of weights and a BK×BN tile of gathered
// input patches in shared memory (neighbouring invocations load neighbouring
// k for weights and neighbouring output positions for patches, so both loads
// coalesce), then every invocation accumulates a TM×TN register block.
// Zero padding is a bounds check on the gather.
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

layout(local_size_x_id = 0) in;           // (BM/TM)·(BN/TN) invocations
layout(constant_id = 1) const int BM = 64; // output channels per workgroup
layout(constant_id = 2) const int BN = 64; // output positions per workgroup
layout(constant_id = 3) const int BK = 16; // reduction slice per stage
layout(constant_id = 4) const int TM = 4;  // channels per invocation
layout(constant_id = 5) const int TN = 4;  // positions per invocation

const int WG = (BM / TM) * (BN / TN);
const int NT = BN / TN; // invocations along the position axis

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Wt { float w[]; };
layout(std430, binding = 2) readonly buffer B { float bias[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P {
	int cin, h, wd, cout, ho, wo;
	int kh, kw, strideH, strideW, padH, padW, dilH, dilW;
	int hasBias;
	int npos;    // batch·Ho·Wo
	int coTiles; // workgroups along Cout
	int tiles;   // workgroups in all
};

shared float As[BK][BM];
shared float Bs[BK][BN];

void main() {
	int g = int(flat_group());
	if (g >= tiles) {
		return;
	}
	int m0 = (g % coTiles) * BM;
	int p0 = (g / coTiles) * BN;
	int tid = int(gl_LocalInvocationID.x);
	int tm = tid / NT, tn = tid % NT;
	int khw = kh * kw;
	int kTotal = cin * khw;

	// The patch column this invocation loads is fixed: decompose it once.
	int bcol = tid % BN;
	int bp = p0 + bcol;
	bool bpOK = bp < npos;
	int bq = bpOK ? bp : 0;
	int bn = bq / (ho * wo);
	int brem = bq - bn * ho * wo;
	int boy = brem / wo, box = brem - (brem / wo) * wo;
	int biy0 = boy * strideH - padH, bix0 = box * strideW - padW;
	int bxb = bn * cin * h * wd;

	float acc[TM][TN];
	[[unroll]] for (int i = 0; i < TM; i++) {
		[[unroll]] for (int j = 0; j < TN; j++) {
			acc[i][j] = 0.0;
		}
	}

	for (int k0 = 0; k0 < kTotal; k0 += BK) {
		// Weights: w[co][k] row-major, neighbouring invocations read neighbouring k.
		for (int e = tid; e < BM * BK; e += WG) {
			int row = e / BK, col = e % BK;
			int co = m0 + row, k = k0 + col;
			As[col][row] = (co < cout && k < kTotal) ? w[co * kTotal + k] : 0.0;
		}
		// Patches: neighbouring invocations read neighbouring output positions.
		for (int e = tid; e < BN * BK; e += WG) {
			int kr = e / BN;
			int k = k0 + kr;
			float v = 0.0;
			if (bpOK && k < kTotal) {
				int ci = k / khw;
				int r = k - ci * khw;
				int ky = r / kw, kx = r - (r / kw) * kw;
				int iy = biy0 + ky * dilH, ix = bix0 + kx * dilW;
				if (iy >= 0 && iy < h && ix >= 0 && ix < wd) {
					v = x[bxb + (ci * h + iy) * wd + ix];
				}
			}
			Bs[kr][bcol] = v;
		}
		barrier();
		[[unroll]] for (int kk = 0; kk < BK; kk++) {
			float a[TM], b[TN];
			[[unroll]] for (int i = 0; i < TM; i++) {
				a[i] = As[kk][tm * TM + i];
			}
			[[unroll]] for (int j = 0; j < TN; j++) {
				b[j] = Bs[kk][tn + j * NT];
			}
			[[unroll]] for (int i = 0; i < TM; i++) {
				[[unroll]] for (int j = 0; j < TN; j++) {
					acc[i][j] = fma(a[i], b[j], acc[i][j]);
				}
			}
		}
		barrier();
	}

	int hwo = ho * wo;
	[[unroll]] for (int j = 0; j < TN; j++) {
		int p = p0 + tn + j * NT;
		if (p >= npos) {
			continue;
		}
		int n = p / hwo;
		int rem = p - n * hwo;
		[[unroll]] for (int i = 0; i < TM; i++) {
			int co = m0 + tm * TM + i;
			if (co < cout) {
				float b0 = hasBias != 0 ? bias[co] : 0.0;
				y[(n * cout + co) * hwo + rem] = acc[i][j] + b0;
			}
		}
	}
}
