#version 450
// conv2d_exp.comp: temporary microbenchmark (to be deleted).
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_ballot : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const int MODE = 0;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { int iters; int mask; };
shared float sh[1024];
void main() {
	int lane = int(gl_LocalInvocationID.x);
	float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
	if (MODE == 2) {
		for (int i = lane; i < 1024; i += int(gl_WorkGroupSize.x)) sh[i] = x[i];
		barrier();
	}
	for (int i = 0; i < iters; i++) {
		int idx = ((i * 8 + lane) * 4) & mask;
		if (MODE == 0) { // 4 scalar gathers
			a0 += x[idx]; a1 += x[idx + 1]; a2 += x[idx + 2]; a3 += x[idx + 3];
		} else if (MODE == 1) { // 1 vec4 gather
			vec4 v = x4[idx >> 2];
			a0 += v.x; a1 += v.y; a2 += v.z; a3 += v.w;
		} else if (MODE == 2) { // 4 shared scalar gathers
			int j = idx & 1023;
			a0 += sh[j]; a1 += sh[(j + 1) & 1023]; a2 += sh[(j + 2) & 1023]; a3 += sh[(j + 3) & 1023];
		} else if (MODE == 3) { // 32 fma (4 chains... 8 chains)
			[[unroll]] for (int k = 0; k < 8; k++) {
				a0 = fma(a0, 0.999, 0.5); a1 = fma(a1, 0.999, 0.5); a2 = fma(a2, 0.999, 0.5); a3 = fma(a3, 0.999, 0.5);
			}
		} else if (MODE == 4) { // 4 broadcasts of a value
			float v = float(i + lane);
			a0 += subgroupShuffle(v, 1); a1 += subgroupShuffle(v, 3); a2 += subgroupShuffle(v, 5); a3 += subgroupShuffle(v, 7);
		} else if (MODE == 5) { // 4 shuffles
			float v = float(i + lane);
			a0 += subgroupShuffle(v, (lane + 1) & 7); a1 += subgroupShuffle(v, (lane + 2) & 7); a2 += subgroupShuffle(v, (lane + 3) & 7); a3 += subgroupShuffle(v, (lane + 5) & 7);
		} else if (MODE == 7) { // 32 mul-add (not fma)
			[[unroll]] for (int k = 0; k < 8; k++) {
				a0 = a0 * 0.999 + 0.5; a1 = a1 * 0.999 + 0.5; a2 = a2 * 0.999 + 0.5; a3 = a3 * 0.999 + 0.5;
			}
		} else if (MODE == 6) { // 4 uniform-address gathers
			int u = (i * 4) & mask;
			a0 += x[u]; a1 += x[u + 1]; a2 += x[u + 2]; a3 += x[u + 3];
		}
	}
	y[gl_WorkGroupID.x * gl_WorkGroupSize.x + lane] = a0 + a1 + a2 + a3;
}
