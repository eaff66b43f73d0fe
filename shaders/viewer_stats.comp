#version 450
// viewer_stats.comp: the minimum and maximum of each heat-map panel's values
// (after log(1+v) for log panels), one workgroup per panel, so the viewer's
// compose pass can map values to colours without reading them on the host.

layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Desc { uint desc[]; };
layout(std430, binding = 1) readonly buffer Arena { uint arena[]; };
layout(std430, binding = 2) writeonly buffer Stats { float stats[]; };
layout(push_constant) uniform P {
	uint jobs_at; // word offset of the jobs (4 words: arena offset, count, flags, unused) in desc
	uint njobs;
};

shared float lo_s[64];
shared float hi_s[64];

void main() {
	uint job = gl_WorkGroupID.x;
	if (job >= njobs) {
		return;
	}
	uint j = jobs_at + 4u * job;
	uint off = desc[j], n = desc[j + 1u];
	bool logv = (desc[j + 2u] & 1u) != 0u;  // colour by log(1 + v)
	bool ints = (desc[j + 2u] & 2u) != 0u;  // int32 values (counts)
	float lo = 1e38, hi = -1e38;
	for (uint i = gl_LocalInvocationID.x; i < n; i += 64u) {
		uint raw = arena[off + i];
		float v = ints ? float(int(raw)) : uintBitsToFloat(raw);
		if (logv) {
			v = log(1.0 + max(v, 0.0));
		}
		if (!isnan(v)) {
			lo = min(lo, v);
			hi = max(hi, v);
		}
	}
	uint t = gl_LocalInvocationID.x;
	lo_s[t] = lo;
	hi_s[t] = hi;
	barrier();
	for (uint s = 32u; s > 0u; s >>= 1) {
		if (t < s) {
			lo_s[t] = min(lo_s[t], lo_s[t + s]);
			hi_s[t] = max(hi_s[t], hi_s[t + s]);
		}
		barrier();
	}
	if (t == 0u) {
		stats[2u * job] = lo_s[0] <= hi_s[0] ? lo_s[0] : 0.0;
		stats[2u * job + 1u] = lo_s[0] <= hi_s[0] ? hi_s[0] : 0.0;
	}
}
