#version 450
// unary.comp: y = f(x) elementwise; the op is a push constant (a uniform
// branch costs nothing next to the memory traffic).
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P {
	uint n;
	uint op;
	float alpha;  // leaky slope; affine scale; the scalar of pow/max/min
	float beta;   // affine offset
};

const uint NEG = 0, ABS = 1, EXP = 2, LOG = 3, SQRT = 4, RSQRT = 5, SQUARE = 6, TANH = 7,
	SIGMOID = 8, RELU = 9, LEAKY = 10, SILU = 11, GELU = 12, COPY = 13, AFFINE = 14, POW = 15,
	MAXS = 16, MINS = 17;

// erf with max abs error 1.5e-7 (Abramowitz & Stegun 7.1.26).
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
	float r;
	switch (op) {
	case NEG: r = -v; break;
	case ABS: r = abs(v); break;
	case EXP: r = exp(v); break;
	case LOG: r = log(v); break;
	case SQRT: r = sqrt(v); break;
	case RSQRT: r = inversesqrt(v); break;
	case SQUARE: r = v * v; break;
	case TANH: {
		// tanh via exp of a non-positive argument: no overflow.
		float e = exp(-2.0 * abs(v));
		r = sign(v) * (1.0 - e) / (1.0 + e);
		break;
	}
	case SIGMOID: r = stable_sigmoid(v); break;
	case RELU: r = max(v, 0.0); break;
	case LEAKY: r = v >= 0.0 ? v : alpha * v; break;
	case SILU: r = v * stable_sigmoid(v); break;
	case GELU: r = 0.5 * v * (1.0 + erf_approx(v * 0.70710678118654752)); break;
	case COPY: r = v; break;
	case AFFINE: r = alpha * v + beta; break;
	case POW: r = safe_pow(v, alpha); break;
	case MAXS: r = max(v, alpha); break;
	case MINS: r = min(v, alpha); break;
	default: r = 0.0; break;
	}
	y[i] = r;
}
