#version 450
// softmax.comp: softmax or log-softmax of every line of a tensor viewed as
// [outer, n, inner] (lines as in reduce.comp), one workgroup row of TY lanes
// per line and TX lines per workgroup.
//
// When the line fits in TY*K values, each lane keeps its K elements in
// registers: one read, per-lane max and sum of exp, one shared-memory tree
// of (max, sum) states, one write; exp is evaluated once per element.
// Longer lines are read twice: an online (max, sum) pass, the tree, then
// the write pass.
#extension GL_EXT_control_flow_attributes : enable
#include "common.glsl"
#include "reduce.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint TY = 64;    // lanes per line (power of two)
layout(constant_id = 2) const uint LAYOUT = 0; // 0: lanes along the line, 1: lanes across lines
layout(constant_id = 3) const uint K = 16;     // elements a lane caches
layout(constant_id = 4) const uint LOG = 0;    // 1: log-softmax
layout(constant_id = 5) const uint RADIX = 16; // fan-in of each level of the shared tree
layout(constant_id = 6) const uint VEC = 1;    // 4: rows as vec4 (LAYOUT 0, n % 4 == 0); K counts vec4s

const uint TX = gl_WorkGroupSize.x / TY;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
// The same buffers as vec4s: one 16-byte access per lane instead of four.
layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 1) writeonly buffer Y4 { vec4 y4[]; };
layout(push_constant) uniform P {
	uint lines;
	uint n;
	uint inner;
};

shared float sm[gl_WorkGroupSize.x];
shared float ss[gl_WorkGroupSize.x];

// line_stats combines the lanes' (m, s) states of each line; every lane of
// the line gets the line's totals.
void line_stats(uint base, uint j, inout float m, inout float s) {
	if (TY == 1) {
		return;
	}
	sm[base + j] = m;
	ss[base + j] = s;
	[[unroll]] for (uint c = TY; c > 1; c /= min(RADIX, c)) {
		uint next = c / min(RADIX, c);
		barrier();
		if (j < next) {
			for (uint r = 1; r < c / next; r++) {
				uint q = base + j + r * next;
				lse_combine(m, s, sm[q], ss[q]);
			}
			sm[base + j] = m;
			ss[base + j] = s;
		}
	}
	barrier();
	m = sm[base];
	s = ss[base];
}

// out_value is the result for element v from the line's max m and
// ls = log(sum of exp(x - m)) (softmax: rs = 1/sum): log-softmax
// (v - m) - ls, softmax exp(v - m)·rs. An infinite or NaN max follows the
// float64 twin: softmax is NaN, log-softmax v - m (-inf for finite v).
float out_value(float v, float m, float ls, float rs) {
	bool odd = isinf(m) || isnan(m);
	if (LOG != 0) {
		return odd ? v - m : (v - m) - ls;
	}
	return odd ? QNAN : exp(v - m) * rs;
}

vec4 out_value4(vec4 v, float m, float ls, float rs) {
	bool odd = isinf(m) || isnan(m);
	if (LOG != 0) {
		return odd ? v - m : (v - m) - ls;
	}
	return odd ? vec4(QNAN) : exp(v - m) * rs;
}

float max4(vec4 v) { return max_nan(max_nan(v.x, v.y), max_nan(v.z, v.w)); }

// main4 is main for VEC == 4: the same algorithm on vec4s of a row.
void main4(uint line, bool live, uint j, uint base) {
	uint n4 = n / 4;
	uint p0 = line * n4 + j;
	if (n4 <= TY * K) {
		vec4 v[K];
		float m = NEG_INF;
		[[unroll]] for (uint t = 0; t < K; t++) {
			v[t] = vec4(NEG_INF);
			if (live && j + t * TY < n4) {
				v[t] = x4[p0 + t * TY];
			}
			m = max_nan(m, max4(v[t]));
		}
		float s = 0.0;
		if (m != NEG_INF) {
			[[unroll]] for (uint t = 0; t < K; t++) {
				vec4 e = exp(v[t] - m);
				s += (e.x + e.y) + (e.z + e.w);
				if (LOG == 0) {
					v[t] = e;
				}
			}
		}
		float lm = m;
		line_stats(base, j, m, s);
		if (!live) {
			return;
		}
		float ls = log(s), rs = 1.0 / s;
		float scale = isinf(m) || isnan(m) ? QNAN : exp(lm - m) * rs;
		bool cached = LOG == 0 && lm != NEG_INF;
		[[unroll]] for (uint t = 0; t < K; t++) {
			if (j + t * TY < n4) {
				y4[p0 + t * TY] = cached ? v[t] * scale : out_value4(v[t], m, ls, rs);
			}
		}
		return;
	}
	float m = NEG_INF, s = 0.0;
	if (live) {
		for (uint q = p0; q < line * n4 + n4; q += TY) {
			vec4 v = x4[q];
			lse_add(m, s, v.x);
			lse_add(m, s, v.y);
			lse_add(m, s, v.z);
			lse_add(m, s, v.w);
		}
	}
	line_stats(base, j, m, s);
	if (!live) {
		return;
	}
	float ls = log(s), rs = 1.0 / s;
	for (uint q = p0; q < line * n4 + n4; q += TY) {
		y4[q] = out_value4(x4[q], m, ls, rs);
	}
}

void main() {
	uint lid = gl_LocalInvocationID.x;
	uint ll = LAYOUT == 0 ? lid / TY : lid % TX;
	uint j = LAYOUT == 0 ? lid % TY : lid / TX;
	uint lg = flat_group();
	if (lg * TX >= lines) {
		return; // a whole workgroup of the grid's spill: uniform exit
	}
	uint line = lg * TX + ll;
	bool live = line < lines;
	uint base = ll * TY;
	if (VEC == 4) {
		main4(line, live, j, base);
		return;
	}
	uint o = line / inner;
	uint p0 = (o * n + j) * inner + (line - o * inner);
	uint step = TY * inner;

	if (n <= TY * K) {
		float v[K];
		float m = NEG_INF;
		uint p = p0;
		[[unroll]] for (uint t = 0; t < K; t++) {
			v[t] = NEG_INF; // padding: no mass
			if (live && j + t * TY < n) {
				v[t] = x[p];
			}
			m = max_nan(m, v[t]);
			p += step;
		}
		// Each lane's (m, s) uses its own max; the tree rescales.
		float s = 0.0;
		if (m != NEG_INF) {
			[[unroll]] for (uint t = 0; t < K; t++) {
				float e = exp(v[t] - m);
				s += e;
				if (LOG == 0) {
					v[t] = e;
				}
			}
		}
		float lm = m;
		line_stats(base, j, m, s);
		if (!live) {
			return;
		}
		float ls = log(s), rs = 1.0 / s;
		// Softmax reuses the cached exp(v - lm), rescaled once per lane; a
		// lane that saw only -inf cached no exps and takes the general form.
		float scale = isinf(m) || isnan(m) ? QNAN : exp(lm - m) * rs;
		bool cached = LOG == 0 && lm != NEG_INF;
		p = p0;
		[[unroll]] for (uint t = 0; t < K; t++) {
			if (j + t * TY < n) {
				y[p] = cached ? v[t] * scale : out_value(v[t], m, ls, rs);
			}
			p += step;
		}
		return;
	}

	float m = NEG_INF, s = 0.0;
	if (live) {
		uint p = p0;
		for (uint k = j; k < n; k += TY) {
			lse_add(m, s, x[p]);
			p += step;
		}
	}
	line_stats(base, j, m, s);
	if (!live) {
		return;
	}
	float ls = log(s), rs = 1.0 / s;
	uint p = p0;
	for (uint k = j; k < n; k += TY) {
		y[p] = out_value(x[p], m, ls, rs);
		p += step;
	}
}
