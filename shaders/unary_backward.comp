#version 450
// unary_backward.comp: dx = dy · f'(x) for the ops of unary.comp (same
// codes), using the forward output y where that is cheaper.
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Y { float y[]; };
layout(std430, binding = 2) readonly buffer DY { float dy[]; };
layout(std430, binding = 3) writeonly buffer DX { float dx[]; };
layout(push_constant) uniform P {
	uint n;
	uint op;
	float alpha;
	float beta;
};

const uint NEG = 0, ABS = 1, EXP = 2, LOG = 3, SQRT = 4, RSQRT = 5, SQUARE = 6, TANH = 7,
	SIGMOID = 8, RELU = 9, LEAKY = 10, SILU = 11, GELU = 12, COPY = 13, AFFINE = 14, POW = 15,
	MAXS = 16, MINS = 17;

float erf_approx(float v) {
	float s = sign(v);
	float a = abs(v);
	float t = 1.0 / (1.0 + 0.3275911 * a);
	float p = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
	return s * (1.0 - p * exp(-a * a));
}

float stable_sigmoid(float v) {
	if (v >= 0.0) {
		return 1.0 / (1.0 + exp(-v));
	}
	float e = exp(v);
	return e / (1.0 + e);
}

void main() {
	uint i = flat_group() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
	if (i >= n) {
		return;
	}
	float v = x[i];
	float o = y[i];
	float d;
	switch (op) {
	case NEG: d = -1.0; break;
	case ABS: d = sign(v); break;
	case EXP: d = o; break;
	case LOG: d = 1.0 / v; break;
	case SQRT: d = 0.5 / o; break;
	case RSQRT: d = -0.5 * o * o * o; break;
	case SQUARE: d = 2.0 * v; break;
	case TANH: d = 1.0 - o * o; break;
	case SIGMOID: d = o * (1.0 - o); break;
	case RELU: d = v > 0.0 ? 1.0 : 0.0; break;
	case LEAKY: d = v >= 0.0 ? 1.0 : alpha; break;
	case SILU: {
		float s = stable_sigmoid(v);
		d = s * (1.0 + v * (1.0 - s));
		break;
	}
	case GELU: {
		float cdf = 0.5 * (1.0 + erf_approx(v * 0.70710678118654752));
		float pdf = 0.39894228040143268 * exp(-0.5 * v * v);
		d = cdf + v * pdf;
		break;
	}
	case COPY: d = 1.0; break;
	case AFFINE: d = alpha; break;
	case POW: d = alpha * safe_pow(v, alpha - 1.0); break;
	case MAXS: d = v >= alpha ? 1.0 : 0.0; break;
	case MINS: d = v <= alpha ? 1.0 : 0.0; break;
	default: d = 0.0; break;
	}
	dx[i] = dy[i] * d;
}
