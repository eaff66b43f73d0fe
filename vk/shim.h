// shim.h: the few Vulkan entry points Tessera calls directly from C, either
// because vulkan-go (Vulkan 1.1.88) lacks them or because they sit on the
// dispatch hot path, where one cgo call per dispatch beats a dozen.
#ifndef TESSERA_SHIM_H
#define TESSERA_SHIM_H

#include <stdint.h>
#include <vulkan/vulkan.h>

// tsr_open_loader dlopens libvulkan.so.1 and returns vkGetInstanceProcAddr, or
// NULL with a message in err.
void *tsr_open_loader(char *err, int errlen);

// tsr_instance_version returns the loader's instance version (1.0 if the
// loader predates vkEnumerateInstanceVersion).
uint32_t tsr_instance_version(void *gipa);

// Debug-utils messenger: messages are kept in a small ring and counted.
typedef struct tsr_debug tsr_debug;
tsr_debug *tsr_debug_create(void *gipa, VkInstance instance, int *ok);
void tsr_debug_destroy(void *gipa, VkInstance instance, tsr_debug *d);
// tsr_debug_take copies the next pending message into buf and returns 1, or
// returns 0 when none is pending.
int tsr_debug_take(tsr_debug *d, char *buf, int buflen);
uint64_t tsr_debug_count(tsr_debug *d);

typedef struct {
	uint32_t subgroup_size;
	uint32_t subgroup_stages;
	uint32_t subgroup_ops;
	uint64_t max_memory_allocation_size;
	uint32_t has_driver;
	char driver_name[VK_MAX_DRIVER_NAME_SIZE];
	char driver_info[VK_MAX_DRIVER_INFO_SIZE];
} tsr_props2;

// tsr_props2_query fills p from vkGetPhysicalDeviceProperties2 (Vulkan 1.1).
void tsr_props2_query(void *gipa, VkInstance instance, VkPhysicalDevice pd, uint32_t api, tsr_props2 *p);

// Device-level function table for the hot path.
typedef struct tsr_fns tsr_fns;
tsr_fns *tsr_fns_load(void *gipa, VkInstance instance, VkDevice device, int push_desc);
void tsr_fns_free(tsr_fns *f);

// tsr_pipeline_create builds a compute pipeline whose set 0 holds nbufs
// storage buffers (bindings 0..nbufs-1) and whose push-constant block is
// push_size bytes; spec holds specialization constants 0..nspec-1.
VkResult tsr_pipeline_create(tsr_fns *f, VkDevice device, const uint32_t *code, size_t code_size,
	uint32_t nbufs, uint32_t push_size, const uint32_t *spec, uint32_t nspec, int push_desc,
	VkPipeline *pipeline, VkPipelineLayout *layout, VkDescriptorSetLayout *set_layout);
void tsr_pipeline_destroy(tsr_fns *f, VkDevice device, VkPipeline p, VkPipelineLayout l, VkDescriptorSetLayout s);

VkResult tsr_descpool_create(tsr_fns *f, VkDevice device, uint32_t max_sets, uint32_t max_bufs, VkDescriptorPool *pool);
void tsr_descpool_destroy(tsr_fns *f, VkDevice device, VkDescriptorPool pool);
VkResult tsr_descpool_reset(tsr_fns *f, VkDevice device, VkDescriptorPool pool);

// tsr_cmd_dispatch binds pipeline and buffers (push descriptors when pool is
// VK_NULL_HANDLE, else a set from pool), pushes constants and dispatches.
VkResult tsr_cmd_dispatch(tsr_fns *f, VkDevice device, VkCommandBuffer cb, VkPipeline pipeline,
	VkPipelineLayout layout, VkDescriptorSetLayout set_layout, VkDescriptorPool pool,
	uint32_t nbufs, const uint64_t *bufs, const uint64_t *offsets, const uint64_t *ranges,
	uint32_t push_size, const void *push, uint32_t gx, uint32_t gy, uint32_t gz);

// tsr_cmd_barrier makes all earlier shader and transfer writes visible to
// later shader and transfer reads and writes.
void tsr_cmd_barrier(tsr_fns *f, VkCommandBuffer cb);
// tsr_cmd_host_barrier makes earlier device writes visible to host reads.
void tsr_cmd_host_barrier(tsr_fns *f, VkCommandBuffer cb);
void tsr_cmd_copy(tsr_fns *f, VkCommandBuffer cb, uint64_t src, uint64_t src_off, uint64_t dst, uint64_t dst_off, uint64_t size);
void tsr_cmd_fill(tsr_fns *f, VkCommandBuffer cb, uint64_t buf, uint64_t off, uint64_t size, uint32_t data);
void tsr_cmd_timestamp(tsr_fns *f, VkCommandBuffer cb, VkQueryPool pool, uint32_t query, int bottom);
void tsr_cmd_reset_queries(tsr_fns *f, VkCommandBuffer cb, VkQueryPool pool, uint32_t first, uint32_t count);

// ---- Window-system integration (surfaces, swapchains) and side submissions.
// The platform surface structs are declared here with the same layout as
// Vulkan's, so that this package builds without X11 or Wayland headers.

// tsr_surface_create_xlib creates a VkSurfaceKHR for an Xlib window
// (display is a Display*, window an X11 Window id).
VkResult tsr_surface_create_xlib(void *gipa, VkInstance instance, void *display, uint64_t window, VkSurfaceKHR *out);
void tsr_surface_destroy(void *gipa, VkInstance instance, VkSurfaceKHR surface);
// tsr_surface_support sets *ok when queue family family of pd can present to surface.
VkResult tsr_surface_support(void *gipa, VkInstance instance, VkPhysicalDevice pd, uint32_t family, VkSurfaceKHR surface, uint32_t *ok);

#define TSR_MAX_FORMATS 64
#define TSR_MAX_MODES 16
#define TSR_MAX_IMAGES 16

typedef struct {
	uint32_t min_images, max_images;
	uint32_t cur_w, cur_h, min_w, min_h, max_w, max_h;
	uint32_t usage, transforms, current_transform, composite_alpha;
	uint32_t nformats;
	uint32_t formats[TSR_MAX_FORMATS];
	uint32_t colorspaces[TSR_MAX_FORMATS];
	uint32_t nmodes;
	uint32_t modes[TSR_MAX_MODES];
} tsr_surface_caps;

// tsr_surface_query fills c with pd's capabilities, formats and present modes for surface.
VkResult tsr_surface_query(void *gipa, VkInstance instance, VkPhysicalDevice pd, VkSurfaceKHR surface, tsr_surface_caps *c);

// Device-level functions for presents and side submissions (command buffers
// of their own, outside the stream, with semaphores and fences).
typedef struct tsr_wsi tsr_wsi;
// tsr_wsi_load returns NULL when a core entry point is missing; the swapchain
// functions are loaded only when swapchain is set.
tsr_wsi *tsr_wsi_load(void *gipa, VkInstance instance, VkDevice device, int swapchain);
void tsr_wsi_free(tsr_wsi *w);

VkResult tsr_side_create(tsr_wsi *w, VkDevice device, uint32_t family, uint32_t n, VkCommandPool *pool,
	VkCommandBuffer *cbs, VkFence *fences);
void tsr_side_destroy(tsr_wsi *w, VkDevice device, VkCommandPool pool, uint32_t n, VkFence *fences);
VkResult tsr_semaphore_create(tsr_wsi *w, VkDevice device, VkSemaphore *out);
void tsr_semaphore_destroy(tsr_wsi *w, VkDevice device, VkSemaphore s);
// tsr_fence_wait waits for fence (timeout in ns) and, when it signalled, resets it if reset is set.
VkResult tsr_fence_wait(tsr_wsi *w, VkDevice device, VkFence fence, uint64_t timeout, int reset);
VkResult tsr_queue_wait_idle(tsr_wsi *w, VkQueue queue);

// tsr_record_blit records into cb (begun here, ended here): make earlier
// shader and transfer writes visible, move image to TRANSFER_DST, copy the
// tightly packed width x height buffer at src+src_off into it, optionally
// (cap != 0) copy the image back into cap+cap_off for the host, and move
// the image to PRESENT_SRC.
VkResult tsr_record_blit(tsr_wsi *w, VkCommandBuffer cb, uint64_t src, uint64_t src_off, VkImage image,
	uint32_t width, uint32_t height, uint64_t cap, uint64_t cap_off);
// tsr_record_readback records into cb (begun and ended here) a copy of size
// bytes from src+src_off to dst+dst_off, made visible to the host.
VkResult tsr_record_readback(tsr_wsi *w, VkCommandBuffer cb, uint64_t src, uint64_t src_off, uint64_t dst,
	uint64_t dst_off, uint64_t size);
// tsr_submit submits cb, waiting on wait (may be VK_NULL_HANDLE) at the
// transfer stage, signalling signal (may be VK_NULL_HANDLE) and fence.
VkResult tsr_submit(tsr_wsi *w, VkQueue queue, VkCommandBuffer cb, VkSemaphore wait, VkSemaphore signal, VkFence fence);

VkResult tsr_swapchain_create(tsr_wsi *w, VkDevice device, VkSurfaceKHR surface, uint32_t min_images,
	uint32_t format, uint32_t colorspace, uint32_t width, uint32_t height, uint32_t usage, uint32_t transform,
	uint32_t alpha, uint32_t mode, VkSwapchainKHR old, VkSwapchainKHR *out, uint32_t *nimages, VkImage *images);
void tsr_swapchain_destroy(tsr_wsi *w, VkDevice device, VkSwapchainKHR sc);
VkResult tsr_acquire(tsr_wsi *w, VkDevice device, VkSwapchainKHR sc, uint64_t timeout, VkSemaphore sem, uint32_t *index);
VkResult tsr_present(tsr_wsi *w, VkQueue queue, VkSwapchainKHR sc, uint32_t index, VkSemaphore wait);

#endif
