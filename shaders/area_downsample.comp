#version 450
// area_downsample.comp: one axis of F.adaptive_avg_pool2d. x is viewed as
// [outer, inLen, inner] and y as [outer, outLen, inner]; y[o, i, k] is the
// mean of x[o, t, k] for t in [floor(i*inLen/outLen),
// ceil((i+1)*inLen/outLen)), in exact integer arithmetic, so any sizes work
// (windows overlap when they do not divide). The host runs it along W,
// then along H: the mean of row means over a rectangle is its mean, and
// each invocation loops over one window edge instead of a whole window.
// That matters beyond speed: llvmpipe stops any invocation after 65535
// loop iterations in total (its infinite-loop guard), which a 300x300
// window would exceed. Four-way partial sums cut iterations by four more.
#include "common.glsl"
#include "shape.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P {
	uint n; // outer * outLen * inner
	uint inLen;
	uint outLen;
	uint inner;
	uint innerM, innerS, outLenM, outLenS; // fdiv pairs for inner and outLen
};

void element(uint i) {
	uint r = fdiv(i, innerM, innerS);
	uint k = i - r * inner;
	uint o = fdiv(r, outLenM, outLenS);
	uint d = r - o * outLen;
	uint t0 = fdiv(d * inLen, outLenM, outLenS);
	uint t1 = fdiv((d + 1u) * inLen + outLen - 1u, outLenM, outLenS);
	uint p = (o * inLen + t0) * inner + k;
	uint end = (o * inLen + t1) * inner + k;
	uint step4 = 4u * inner;
	vec4 acc = vec4(0.0);
	for (; p + 3u * inner < end; p += step4) {
		acc += vec4(x[p], x[p + inner], x[p + 2u * inner], x[p + 3u * inner]);
	}
	for (; p < end; p += inner) {
		acc.x += x[p];
	}
	y[i] = ((acc.x + acc.y) + (acc.z + acc.w)) / float(t1 - t0);
}

void main() {
	// One element per invocation: llvmpipe's loop cap counts every
	// iteration of an invocation, so each loops over one window only.
	uint i = flat_group() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
	if (i < n) {
		element(i);
	}
}
