#version 450
// viewer_curve.comp: for each column of each curve series of a viewer
// frame, the rows its line covers there, so that the compose pass tests
// two floats per pixel instead of walking samples. The line spans the
// samples a column covers, interpolated at the column's edges; gaps (NaN,
// log10 of values <= 0) are skipped.

layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Desc { uint desc[]; };
layout(std430, binding = 1) readonly buffer Arena { uint arena[]; };
layout(std430, binding = 2) writeonly buffer Scratch { float scratch[]; };
layout(push_constant) uniform P {
	uint jobs_at; // word offset of the jobs in desc: panel word offset, series, scratch offset, columns
	uint njobs;
};

float curve_value(uint off, float fi, bool logy) {
	float v = uintBitsToFloat(arena[off + uint(fi)]);
	return logy ? log2(v) * 0.30102999566 : v;
}

void main() {
	uint job = gl_WorkGroupID.y;
	uint x = gl_GlobalInvocationID.x;
	uint j = jobs_at + 4u * job;
	if (job >= njobs || x >= desc[j + 3u]) {
		return;
	}
	uint p = desc[j], s = desc[j + 1u], out_at = desc[j + 2u] + 2u * x;
	int pw = int(desc[p + 3u]), ph = int(desc[p + 4u]);
	uint base = p + 16u + 5u * s;
	uint off = desc[base];
	uint n = desc[base + 1u];
	float sx0 = uintBitsToFloat(desc[base + 3u]);
	float sdx = uintBitsToFloat(desc[base + 4u]);
	float ymin = uintBitsToFloat(desc[p + 11u]);
	float ymax = uintBitsToFloat(desc[p + 12u]);
	float xmin = uintBitsToFloat(desc[p + 13u]);
	float xmax = uintBitsToFloat(desc[p + 14u]);
	bool logy = desc[p + 15u] != 0u;
	// No line here: an empty row range.
	scratch[out_at] = 1.0;
	scratch[out_at + 1u] = -1.0;
	if (n == 0u || !(sdx > 0.0)) {
		return;
	}
	float xs = (xmax - xmin) / float(pw);
	float ia = (xmin + float(x) * xs - sx0) / sdx;
	float ib = (xmin + float(x + 1u) * xs - sx0) / sdx;
	float last = float(n - 1u);
	if (ib < 0.0 || ia > last) {
		return;
	}
	ia = clamp(ia, 0.0, last);
	ib = clamp(ib, 0.0, last);
	float lo = 1e38, hi = -1e38;
	for (int e = 0; e < 2; e++) {
		float fi = e == 0 ? ia : ib;
		float f0 = floor(fi);
		float v0 = curve_value(off, f0, logy);
		float v1 = curve_value(off, min(f0 + 1.0, last), logy);
		float v = mix(v0, v1, fi - f0);
		if (isnan(v) || isinf(v)) {
			return;
		}
		lo = min(lo, v);
		hi = max(hi, v);
	}
	float k = ceil(ia);
	for (int it = 0; it < 64 && k <= ib; it++, k += 1.0) {
		float v = curve_value(off, k, logy);
		if (!isnan(v) && !isinf(v)) {
			lo = min(lo, v);
			hi = max(hi, v);
		}
	}
	float span = ymax - ymin;
	if (!(span > 0.0)) {
		span = 1.0;
	}
	float scale = float(ph - 1) / span;
	// Rows within a pixel of the span are drawn: lines two pixels thick.
	scratch[out_at] = float(ph - 1) - (hi - ymin) * scale - 1.0;
	scratch[out_at + 1u] = float(ph - 1) - (lo - ymin) * scale + 1.0;
}
