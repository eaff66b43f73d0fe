// reduce.glsl: NaN-aware max and the (max, sum of exp) state shared by the
// reduction and softmax kernels.
#ifndef TESSERA_REDUCE
#define TESSERA_REDUCE

// Macros: GLSL does not fold uintBitsToFloat in a const initializer.
#define NEG_INF uintBitsToFloat(0xff800000u)
#define QNAN uintBitsToFloat(0x7fc00000u)

// max that propagates NaN like torch.amax (GLSL's max leaves NaN undefined).
float max_nan(float a, float b) { return (a > b || isnan(a)) ? a : b; }

// lse_add folds element x into the online state (m, s): m is the running
// max and s the sum of exp(x_i - m). An -inf m means "nothing yet". One exp
// serves both cases (a new max rescales s by e, an old one adds e) and the
// update is branch-free: SIMD targets would otherwise run both sides.
void lse_add(inout float m, inout float s, float x) {
	bool up = x > m || isnan(x);
	// x = m = -inf has no mass (and -inf - -inf would be NaN).
	float e = x == NEG_INF ? 0.0 : exp(-abs(x - m));
	s = up ? s * e + 1.0 : s + e;
	m = up ? x : m;
}

// lse_combine merges (m2, s2) into (m, s); a side with m = -inf holds no mass.
void lse_combine(inout float m, inout float s, float m2, float s2) {
	float mm = max_nan(m, m2);
	if (mm == NEG_INF) {
		return;
	}
	float t = m == NEG_INF ? 0.0 : s * exp(m - mm);
	float t2 = m2 == NEG_INF ? 0.0 : s2 * exp(m2 - mm);
	m = mm;
	s = t + t2;
}

// lse_final is log(sum(exp(x))) from the state; an infinite or NaN max is the
// answer itself (as in the float64 twin and torch).
float lse_final(float m, float s) { return (isinf(m) || isnan(m)) ? m : m + log(s); }

#endif
