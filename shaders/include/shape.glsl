// shape.glsl: helpers for the shape and resampling shaders.
#ifndef TESSERA_SHAPE
#define TESSERA_SHAPE

// fdiv returns n / d for n < 2^31 given d's magic pair (m, s) from the
// host's fastDiv: a multiply-high, an add and a shift instead of an integer
// division, which GPUs and llvmpipe (no vector divide) do slowly.
uint fdiv(uint n, uint m, uint s) {
	uint hi, lo;
	umulExtended(n, m, hi, lo);
	return (hi + n) >> s;
}

#endif
