#version 450
// viewer_text.comp: draws a viewer frame's text over its panels, one
// workgroup per glyph and one invocation per pixel of its 6×13 cell: inked
// pixels take the glyph's colour, the rest is left alone. Glyphs are laid
// out by the host (viewer/compose.go) from the text runs; the font is
// basicfont's 7×13 face, one word of bits per glyph row.

layout(local_size_x = 8, local_size_y = 16) in;
layout(std430, binding = 0) buffer Out { uint pix[]; };
layout(std430, binding = 1) readonly buffer Desc { uint desc[]; };
layout(std430, binding = 2) readonly buffer Font { uint font[]; };
layout(push_constant) uniform P {
	uint glyphs_at; // word offset of the glyphs in desc: x, y, glyph << 24 | colour, clip x
	uint nglyphs;
	uint width;     // frame size
	uint height;
	uint flags;     // bit 0: pack B,G,R,A (else R,G,B,A)
	uint glyph_w;   // glyph bitmap width (bits used per font row)
	uint glyph_h;   // glyph rows
};

void main() {
	uint g = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
	uint gx = gl_LocalInvocationID.x, gy = gl_LocalInvocationID.y;
	if (g >= nglyphs || gx >= glyph_w || gy >= glyph_h) {
		return;
	}
	uint at = glyphs_at + 4u * g;
	int x = int(desc[at]) + int(gx), y = int(desc[at + 1u]) + int(gy);
	uint gc = desc[at + 2u];
	if (x < 0 || y < 0 || uint(x) >= width || uint(y) >= height || x >= int(desc[at + 3u])) {
		return;
	}
	if (((font[(gc >> 24) * glyph_h + gy] >> gx) & 1u) == 0u) {
		return;
	}
	uvec3 c = uvec3(gc & 0xffu, (gc >> 8) & 0xffu, (gc >> 16) & 0xffu);
	pix[uint(y) * width + uint(x)] = (flags & 1u) != 0u ? (c.b | (c.g << 8) | (c.r << 16) | 0xff000000u)
	                                                   : (c.r | (c.g << 8) | (c.b << 16) | 0xff000000u);
}
