#version 450
// viewer_compose.comp: paints one panel of a viewer frame into packed 8-bit
// pixels (the buffer a swapchain image is copied from), one invocation per
// pixel of the panel's rect clipped to the frame.
//
// A frame is a list of panels painted in order, one dispatch each, then
// text (viewer_text.comp); the descriptors are laid out by the host in
// desc[] (viewer/compose.go). The panel kind is a specialization constant:
// CPU drivers (Lavapipe) run every branch of a shader under a lane mask, so
// each pipeline holds only its own kind's code. Panel data (images, token
// ids, masks, heat values, curve samples) lives in one arena buffer the
// viewer copied device tensors into; scratch[] holds what viewer_stats.comp
// and viewer_curve.comp computed (heat-map ranges, curve rows per column).
// Everything but heat-map colours and curve rows is integer arithmetic, so
// a host twin reproduces frames exactly.

layout(local_size_x = 8, local_size_y = 8) in;
layout(constant_id = 0) const uint KIND = 1;
layout(std430, binding = 0) buffer Out { uint pix[]; };
layout(std430, binding = 1) readonly buffer Desc { uint desc[]; };
layout(std430, binding = 2) readonly buffer Arena { uint arena[]; };
layout(std430, binding = 3) readonly buffer Scratch { float scratch[]; };
layout(push_constant) uniform P {
	uint p;      // word offset of the panel's descriptor in desc
	uint width;  // frame width
	uint flags;  // bit 0: pack B,G,R,A (else R,G,B,A)
	int x0;      // the dispatch covers [x0, x0+w) × [y0, y0+h) of the frame
	int y0;
	uint w;
	uint h;
};

const uint PANEL_WORDS = 40;
const uint FILL = 1, IMAGES = 2, TOKENS = 3, HEAT = 4, CURVE = 5;

uvec3 unpack_rgb(uint c) { return uvec3(c & 0xffu, (c >> 8) & 0xffu, (c >> 16) & 0xffu); }

// to_u8 maps [-1, 1] to [0, 255] like metrics.ToUint8 (NaN to 0).
uint to_u8(float v) {
	float x = (v + 1.0) * 127.5;
	if (!(x >= 0.0)) {
		return 0u;
	}
	return uint(floor(min(x, 255.0) + 0.5));
}

// token_rgb is a token id's colour: three hashed bytes squeezed into
// [48, 224] so neighbours differ and none is black or white.
uvec3 token_rgb(uint id) {
	uint h = id * 0x9e3779b1u;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return uvec3(48u) + (uvec3(h & 0xffu, (h >> 8) & 0xffu, (h >> 16) & 0xffu) * 176u) / 255u;
}

// viridis is a polynomial fit of matplotlib's viridis colour map.
vec3 viridis(float t) {
	const vec3 c0 = vec3(0.2777273272234177, 0.005407344544966578, 0.3340998053353061);
	const vec3 c1 = vec3(0.1050930431085774, 1.404613529898575, 1.384590162594685);
	const vec3 c2 = vec3(-0.3308618287255563, 0.214847559468213, 0.09509516302823659);
	const vec3 c3 = vec3(-4.634230498983486, -5.799100973351585, -19.33244095627987);
	const vec3 c4 = vec3(6.228269936347081, 14.17993336680509, 56.69055260068105);
	const vec3 c5 = vec3(4.776384997670288, -13.74514537774601, -65.35303263337234);
	const vec3 c6 = vec3(-5.435455855934631, 4.645852612178535, 26.3124352495832);
	return c0 + t * (c1 + t * (c2 + t * (c3 + t * (c4 + t * (c5 + t * c6)))));
}

// fastdiv is floor(n / d) for the divisor d with m = ceil(2^32 / d) (0 for
// d = 1), computed by the host: a multiply-high and a correction instead of
// an integer division, which CPU drivers (Lavapipe) do one lane at a time.
uint fastdiv(uint n, uint d, uint m) {
	if (m == 0u) {
		return n;
	}
	uint hi, lo;
	umulExtended(n, m, hi, lo);
	return hi * d > n ? hi - 1u : hi;
}

// grid_panel paints a panel of tiles (images, token maps, heat maps): tile
// t is the t-th [rows, cols] array of the panel, drawn tw×th pixels large
// with gap pixels between tiles, cols_t tiles per row, from content origin
// (ox, oy) relative to the panel; sample (r, c) of a tile covers the pixels
// that map to it by integer scaling.
bool grid_panel(uint p, uint kind, int lx, int ly, out uvec3 rgb) {
	uint off = desc[p + 6u];
	uint ntiles = desc[p + 7u];
	uint chans = desc[p + 8u];
	uint rows = desc[p + 9u];
	uint cols = desc[p + 10u];
	uint tcols = desc[p + 11u];
	int gap = int(desc[p + 12u]);
	int tw = int(desc[p + 13u]);
	int th = int(desc[p + 14u]);
	int cx = lx - int(desc[p + 15u]);
	int cy = ly - int(desc[p + 16u]);
	if (cx < 0 || cy < 0 || tw <= 0 || th <= 0) {
		return false;
	}
	// Divisions by the tile pitch and size use the reciprocals in words 20-23.
	int tx = int(fastdiv(uint(cx), uint(tw + gap), desc[p + 20u]));
	int ty = int(fastdiv(uint(cy), uint(th + gap), desc[p + 21u]));
	int px = cx - tx * (tw + gap), py = cy - ty * (th + gap);
	if (px >= tw || py >= th || uint(tx) >= tcols) {
		return false;
	}
	uint t = uint(ty) * tcols + uint(tx);
	if (t >= ntiles) {
		return false;
	}
	uint sc = fastdiv(uint(px) * cols, uint(tw), desc[p + 22u]);
	uint sr = fastdiv(uint(py) * rows, uint(th), desc[p + 23u]);
	uint plane = rows * cols;
	if (kind == IMAGES) {
		uint at = off + t * chans * plane + sr * cols + sc;
		uint r = to_u8(uintBitsToFloat(arena[at]));
		if (chans >= 3u) {
			rgb = uvec3(r, to_u8(uintBitsToFloat(arena[at + plane])), to_u8(uintBitsToFloat(arena[at + 2u * plane])));
		} else {
			rgb = uvec3(r);
		}
		return true;
	}
	uint at = t * plane + sr * cols + sc;
	if (kind == TOKENS) {
		uint mask_off = desc[p + 17u];
		int id = int(arena[off + at]);
		bool known = id >= 0;
		if (known && mask_off != 0xffffffffu) {
			known = (arena[mask_off + at] & 0x7fffffffu) != 0u;
		}
		if (!known) {
			rgb = uvec3(((px + py) / 3) % 2 == 0 ? 56u : 40u);
			return true;
		}
		rgb = token_rgb(uint(id));
		// Cell borders once cells are big enough to show them.
		if (uint(tw) >= 6u * cols && uint(th) >= 6u * rows) {
			bool edge_x = px > 0 && fastdiv(uint(px - 1) * cols, uint(tw), desc[p + 22u]) != sc;
			bool edge_y = py > 0 && fastdiv(uint(py - 1) * rows, uint(th), desc[p + 23u]) != sr;
			if (edge_x || edge_y) {
				rgb = rgb * 3u / 4u;
			}
		}
		return true;
	}
	// HEAT: colour by the value's place between the panel's min and max.
	if (sr * cols + sc >= desc[p + 19u]) {
		return false; // past the end of a wrapped 1-D tensor
	}
	uint si = desc[p + 17u];
	uint hf = desc[p + 18u];
	bool logv = (hf & 1u) != 0u;
	uint raw = arena[off + at];
	float v = (hf & 2u) != 0u ? float(int(raw)) : uintBitsToFloat(raw);
	if (logv) {
		v = log(1.0 + max(v, 0.0));
	}
	float lo = scratch[2u * si], hi = scratch[2u * si + 1u];
	float tv = hi > lo ? (v - lo) / (hi - lo) : 0.0;
	if (isnan(tv)) {
		rgb = uvec3(255u, 0u, 255u);
		return true;
	}
	vec3 c = clamp(viridis(clamp(tv, 0.0, 1.0)), 0.0, 1.0);
	rgb = uvec3(floor(c * 255.0 + 0.5));
	return true;
}

void main() {
	if (gl_GlobalInvocationID.x >= w || gl_GlobalInvocationID.y >= h) {
		return;
	}
	int x = x0 + int(gl_GlobalInvocationID.x), y = y0 + int(gl_GlobalInvocationID.y);
	int lx = x - int(desc[p + 1u]), ly = y - int(desc[p + 2u]);
	uvec3 rgb;
	if (KIND == FILL) {
		rgb = unpack_rgb(desc[p + 5u]);
	} else if (KIND == CURVE) {
		// Rows of each series' line in this column (viewer_curve.comp);
		// later series over earlier ones, the plot shows through elsewhere.
		uint ns = min(desc[p + 6u], 4u);
		float fy = float(ly);
		bool hit = false;
		for (uint s = 0u; s < ns; s++) {
			uint at = desc[p + 36u + s] + 2u * uint(lx);
			if (fy >= scratch[at] && fy <= scratch[at + 1u]) {
				rgb = unpack_rgb(desc[p + 16u + 5u * s + 2u]);
				hit = true;
			}
		}
		if (!hit) {
			return;
		}
	} else if (!grid_panel(p, KIND, lx, ly, rgb)) {
		if (desc[p + 5u] == 0xffffffffu) {
			return; // transparent: what is below shows
		}
		rgb = unpack_rgb(desc[p + 5u]);
	}
	uvec3 c = min(rgb, uvec3(255u));
	pix[uint(y) * width + uint(x)] = (flags & 1u) != 0u ? (c.b | (c.g << 8) | (c.r << 16) | 0xff000000u)
	                                                   : (c.r | (c.g << 8) | (c.b << 16) | 0xff000000u);
}
