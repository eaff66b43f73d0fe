// common.glsl: helpers shared by every Tessera compute shader.
#ifndef TESSERA_COMMON
#define TESSERA_COMMON

// Linear workgroup index of a 1-D grid that may spill into y.
uint flat_group() { return gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x; }

#endif

#ifndef TESSERA_POW
#define TESSERA_POW
// pow with the C/NumPy conventions GLSL leaves undefined: negative bases
// with integral exponents, and 0^0 = 1.
float safe_pow(float x, float y) {
	if (y == 0.0) {
		return 1.0;
	}
	if (x < 0.0) {
		if (floor(y) != y) {
			return uintBitsToFloat(0x7fc00000u); // NaN
		}
		float r = pow(-x, y);
		return mod(y, 2.0) == 1.0 ? -r : r;
	}
	return pow(x, y);
}
#endif
