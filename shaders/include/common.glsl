// common.glsl: helpers shared by every Tessera compute shader.
#ifndef TESSERA_COMMON
#define TESSERA_COMMON

// Linear workgroup index of a 1-D grid that may spill into y.
uint flat_group() { return gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x; }

#endif
