#version 450
// adamw.comp: one fused AdamW step (torch.optim.AdamW, decoupled weight
// decay) per element, updating the parameter and both moments in place so a
// step reads g once and touches p, m, v once each:
//   p *= decay                       (decay = 1 - lr·wd)
//   g' = g·grad_scale
//   m  = β1·m + (1-β1)·g'
//   v  = β2·v + (1-β2)·g'²
//   p -= step_size · m / (sqrt(v)/bc2_sqrt + eps)   (step_size = lr/bc1)
// The host folds the bias corrections into step_size and bc2_sqrt in float64.
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) buffer Param { float p[]; };
layout(std430, binding = 1) readonly buffer Grad { float g[]; };
layout(std430, binding = 2) buffer ExpAvg { float m[]; };
layout(std430, binding = 3) buffer ExpAvgSq { float v[]; };
layout(push_constant) uniform P {
	uint n;
	float step_size;
	float decay;
	float beta1;
	float one_minus_beta1;
	float beta2;
	float one_minus_beta2;
	float bc2_sqrt;
	float eps;
	float grad_scale;
};

void main() {
	uint i = flat_group() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
	if (i >= n) {
		return;
	}
	float gi = g[i] * grad_scale;
	float mi = beta1 * m[i] + one_minus_beta1 * gi;
	float vi = beta2 * v[i] + one_minus_beta2 * (gi * gi);
	m[i] = mi;
	v[i] = vi;
	float denom = sqrt(vi) / bc2_sqrt + eps;
	p[i] = p[i] * decay - step_size * (mi / denom);
}
