#version 450
// random.comp: seeded, counter-based random numbers. Invocation b runs one
// Philox4x32-10 block (counter (b, 0, 0, 0), key = the 64-bit seed) and
// writes elements 4b..4b+3, so a value depends only on (seed, index).
//
// Every float step is a correctly rounded add or multiply marked precise
// (no FMA contraction): Vulkan guarantees those bit for bit, unlike its
// log/sin/cos/sqrt builtins (sin/cos may be off by 2^-11), so the normal
// path spells log, sin/cos and sqrt out as polynomials and Newton steps.
// The output is then the same on every conformant device, and the Go twin
// in tensor/random_test.go reproduces it exactly.
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P {
	uint n;
	uint mode; // 0 uniform, 1 normal
	uint key0; // seed, low word
	uint key1; // seed, high word
	float a;   // uniform: lo;        normal: mean
	float b;   // uniform: hi - lo;   normal: std
	float c;   // uniform: the largest float below hi (keeps the range half-open)
};

uvec4 philox(uvec4 ctr, uvec2 key) {
	for (int r = 0; r < 10; r++) {
		if (r > 0) {
			key += uvec2(0x9E3779B9u, 0xBB67AE85u);
		}
		uint hi0, lo0, hi1, lo1;
		umulExtended(0xD2511F53u, ctr.x, hi0, lo0);
		umulExtended(0xCD9E8D57u, ctr.z, hi1, lo1);
		ctr = uvec4(hi1 ^ ctr.y ^ key.x, lo1, hi0 ^ ctr.w ^ key.y, lo0);
	}
	return ctr;
}

// ln(u) for u = m·2^-24, 1 ≤ m ≤ 2^24 (Cephes logf; u is never denormal).
float ln_u24(uint m) {
	precise float u = float(m) * 5.9604644775390625e-8;
	uint bits = floatBitsToUint(u);
	int e = int(bits >> 23) - 126;
	precise float x = uintBitsToFloat((bits & 0x7fffffu) | 0x3f000000u); // [0.5, 1)
	// Both subtractions are exact (Sterbenz).
	if (x < 0.70710678118654752) {
		e -= 1;
		x = (x + x) - 1.0;
	} else {
		x = x - 1.0;
	}
	precise float z = x * x;
	precise float p = 7.0376836292e-2;
	p = p * x + -1.1514610310e-1;
	p = p * x + 1.1676998740e-1;
	p = p * x + -1.2420140846e-1;
	p = p * x + 1.4249322787e-1;
	p = p * x + -1.6668057665e-1;
	p = p * x + 2.0000714765e-1;
	p = p * x + -2.4999993993e-1;
	p = p * x + 3.3333331174e-1;
	precise float fe = float(e);
	precise float t = (p * x) * z;
	t = t + -2.12194440e-4 * fe;
	t = t + -0.5 * z;
	precise float r = x + t;
	r = r + 0.693359375 * fe;
	return r;
}

// √a for 0 ≤ a < 64 by three Newton steps on 1/√a from the bit-trick guess.
float sqrt_mul(float a) {
	precise float y = uintBitsToFloat(0x5f3759dfu - (floatBitsToUint(a) >> 1));
	precise float h = 0.5 * a;
	for (int i = 0; i < 3; i++) {
		y = y * (1.5 - (h * y) * y);
	}
	precise float r = a * y;
	return r;
}

// sin and cos on [0, π/4] (Cephes sinf/cosf polynomials).
float sin_poly(float x) {
	precise float z = x * x;
	precise float p = -1.9515295891e-4;
	p = p * z + 8.3321608736e-3;
	p = p * z + -1.6666654611e-1;
	precise float r = ((p * z) * x) + x;
	return r;
}

float cos_poly(float x) {
	precise float z = x * x;
	precise float p = 2.443315711809948e-5;
	p = p * z + -1.388731625493765e-3;
	p = p * z + 4.166664568298827e-2;
	precise float r = ((p * z) * z) + -0.5 * z;
	r = r + 1.0;
	return r;
}

// (sin θ, cos θ) for θ = 2π·k·2^-24, k < 2^24. The quadrant and octant come
// from k's bits, so the reduction is exact.
vec2 sincos_u24(uint k) {
	uint q = k >> 22;
	uint f = k & 0x3fffffu;
	const float step = 3.7450702829239286e-7; // π/2 · 2^-22
	float s, co;
	if (f <= 0x200000u) {
		precise float phi = float(f) * step;
		s = sin_poly(phi);
		co = cos_poly(phi);
	} else {
		precise float phi = float(0x400000u - f) * step;
		s = cos_poly(phi);
		co = sin_poly(phi);
	}
	if (q == 0u) {
		return vec2(s, co);
	} else if (q == 1u) {
		return vec2(co, -s);
	} else if (q == 2u) {
		return vec2(-s, -co);
	}
	return vec2(-co, s);
}

// Box–Muller: two normals from the top 24 bits of two words.
vec2 box_muller(uint w0, uint w1) {
	precise float r2 = -2.0 * ln_u24((w0 >> 8) + 1u); // u1 in (0, 1]
	float r = sqrt_mul(r2);
	vec2 sc = sincos_u24(w1 >> 8);
	precise vec2 z = vec2(r * sc.y, r * sc.x);
	return z;
}

void main() {
	uint blk = flat_group() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
	uint i = blk * 4u;
	if (i >= n) {
		return;
	}
	uvec4 bits = philox(uvec4(blk, 0u, 0u, 0u), uvec2(key0, key1));
	precise vec4 v;
	if (mode == 0u) {
		precise vec4 u = vec4(bits >> 8u) * 5.9604644775390625e-8; // [0, 1)
		v = min(a + b * u, vec4(c));
	} else {
		vec4 z = vec4(box_muller(bits.x, bits.y), box_muller(bits.z, bits.w));
		v = a + b * z;
	}
	// Whole blocks of four in the common case; the tail is rare.
	y[i] = v.x;
	if (i + 1u < n) {
		y[i + 1u] = v.y;
	}
	if (i + 2u < n) {
		y[i + 2u] = v.z;
	}
	if (i + 3u < n) {
		y[i + 3u] = v.w;
	}
}
