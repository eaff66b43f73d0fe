#include "shim.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *tsr_open_loader(char *err, int errlen) {
	const char *names[] = {"libvulkan.so.1", "libvulkan.so"};
	for (int i = 0; i < 2; i++) {
		void *lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
		if (!lib) {
			continue;
		}
		void *sym = dlsym(lib, "vkGetInstanceProcAddr");
		if (sym) {
			return sym;
		}
	}
	const char *e = dlerror();
	snprintf(err, errlen, "%s", e ? e : "libvulkan.so.1 not found");
	return NULL;
}

uint32_t tsr_instance_version(void *gipa) {
	PFN_vkGetInstanceProcAddr get = (PFN_vkGetInstanceProcAddr)gipa;
	PFN_vkEnumerateInstanceVersion ev = (PFN_vkEnumerateInstanceVersion)get(NULL, "vkEnumerateInstanceVersion");
	uint32_t v = VK_API_VERSION_1_0;
	if (ev) {
		ev(&v);
	}
	return v;
}

#define TSR_RING 64
#define TSR_MSG 2048

struct tsr_debug {
	VkDebugUtilsMessengerEXT messenger;
	pthread_mutex_t mu;
	uint64_t count;
	int head, len;
	char msgs[TSR_RING][TSR_MSG];
};

static VKAPI_ATTR VkBool32 VKAPI_CALL tsr_debug_cb(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
	VkDebugUtilsMessageTypeFlagsEXT types, const VkDebugUtilsMessengerCallbackDataEXT *data, void *user) {
	(void)types;
	tsr_debug *d = (tsr_debug *)user;
	const char *sev = (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) ? "error" : "warning";
	pthread_mutex_lock(&d->mu);
	d->count++;
	int slot = (d->head + d->len) % TSR_RING;
	if (d->len == TSR_RING) {
		d->head = (d->head + 1) % TSR_RING;
	} else {
		d->len++;
	}
	snprintf(d->msgs[slot], TSR_MSG, "%s: %s", sev, data && data->pMessage ? data->pMessage : "(no message)");
	pthread_mutex_unlock(&d->mu);
	return VK_FALSE;
}

tsr_debug *tsr_debug_create(void *gipa, VkInstance instance, int *ok) {
	PFN_vkGetInstanceProcAddr get = (PFN_vkGetInstanceProcAddr)gipa;
	PFN_vkCreateDebugUtilsMessengerEXT create =
		(PFN_vkCreateDebugUtilsMessengerEXT)get(instance, "vkCreateDebugUtilsMessengerEXT");
	*ok = 0;
	if (!create) {
		return NULL;
	}
	tsr_debug *d = calloc(1, sizeof(tsr_debug));
	pthread_mutex_init(&d->mu, NULL);
	VkDebugUtilsMessengerCreateInfoEXT ci = {0};
	ci.sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT;
	ci.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
	ci.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
		VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
	ci.pfnUserCallback = tsr_debug_cb;
	ci.pUserData = d;
	if (create(instance, &ci, NULL, &d->messenger) != VK_SUCCESS) {
		free(d);
		return NULL;
	}
	*ok = 1;
	return d;
}

void tsr_debug_destroy(void *gipa, VkInstance instance, tsr_debug *d) {
	if (!d) {
		return;
	}
	PFN_vkGetInstanceProcAddr get = (PFN_vkGetInstanceProcAddr)gipa;
	PFN_vkDestroyDebugUtilsMessengerEXT destroy =
		(PFN_vkDestroyDebugUtilsMessengerEXT)get(instance, "vkDestroyDebugUtilsMessengerEXT");
	if (destroy) {
		destroy(instance, d->messenger, NULL);
	}
	pthread_mutex_destroy(&d->mu);
	free(d);
}

int tsr_debug_take(tsr_debug *d, char *buf, int buflen) {
	if (!d) {
		return 0;
	}
	pthread_mutex_lock(&d->mu);
	int got = 0;
	if (d->len > 0) {
		snprintf(buf, buflen, "%s", d->msgs[d->head]);
		d->head = (d->head + 1) % TSR_RING;
		d->len--;
		got = 1;
	}
	pthread_mutex_unlock(&d->mu);
	return got;
}

uint64_t tsr_debug_count(tsr_debug *d) {
	if (!d) {
		return 0;
	}
	pthread_mutex_lock(&d->mu);
	uint64_t c = d->count;
	pthread_mutex_unlock(&d->mu);
	return c;
}

void tsr_props2_query(void *gipa, VkInstance instance, VkPhysicalDevice pd, uint32_t api, tsr_props2 *p) {
	memset(p, 0, sizeof(*p));
	PFN_vkGetInstanceProcAddr get = (PFN_vkGetInstanceProcAddr)gipa;
	PFN_vkGetPhysicalDeviceProperties2 props2 =
		(PFN_vkGetPhysicalDeviceProperties2)get(instance, "vkGetPhysicalDeviceProperties2");
	if (!props2) {
		return;
	}
	VkPhysicalDeviceDriverProperties drv = {0};
	drv.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES;
	VkPhysicalDeviceMaintenance3Properties m3 = {0};
	m3.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES;
	if (api >= VK_API_VERSION_1_2) {
		m3.pNext = &drv;
	}
	VkPhysicalDeviceSubgroupProperties sg = {0};
	sg.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES;
	sg.pNext = &m3;
	VkPhysicalDeviceProperties2 pr = {0};
	pr.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
	pr.pNext = &sg;
	props2(pd, &pr);
	p->subgroup_size = sg.subgroupSize;
	p->subgroup_stages = sg.supportedStages;
	p->subgroup_ops = sg.supportedOperations;
	p->max_memory_allocation_size = m3.maxMemoryAllocationSize;
	if (api >= VK_API_VERSION_1_2) {
		p->has_driver = 1;
		memcpy(p->driver_name, drv.driverName, sizeof(p->driver_name));
		memcpy(p->driver_info, drv.driverInfo, sizeof(p->driver_info));
	}
}

struct tsr_fns {
	PFN_vkCreateShaderModule createShaderModule;
	PFN_vkDestroyShaderModule destroyShaderModule;
	PFN_vkCreateDescriptorSetLayout createSetLayout;
	PFN_vkDestroyDescriptorSetLayout destroySetLayout;
	PFN_vkCreatePipelineLayout createPipelineLayout;
	PFN_vkDestroyPipelineLayout destroyPipelineLayout;
	PFN_vkCreateComputePipelines createComputePipelines;
	PFN_vkDestroyPipeline destroyPipeline;
	PFN_vkCreateDescriptorPool createDescriptorPool;
	PFN_vkDestroyDescriptorPool destroyDescriptorPool;
	PFN_vkResetDescriptorPool resetDescriptorPool;
	PFN_vkAllocateDescriptorSets allocateDescriptorSets;
	PFN_vkUpdateDescriptorSets updateDescriptorSets;
	PFN_vkCmdBindPipeline cmdBindPipeline;
	PFN_vkCmdBindDescriptorSets cmdBindDescriptorSets;
	PFN_vkCmdPushDescriptorSetKHR cmdPushDescriptorSet;
	PFN_vkCmdPushConstants cmdPushConstants;
	PFN_vkCmdDispatch cmdDispatch;
	PFN_vkCmdPipelineBarrier cmdPipelineBarrier;
	PFN_vkCmdCopyBuffer cmdCopyBuffer;
	PFN_vkCmdFillBuffer cmdFillBuffer;
	PFN_vkCmdWriteTimestamp cmdWriteTimestamp;
	PFN_vkCmdResetQueryPool cmdResetQueryPool;
};

tsr_fns *tsr_fns_load(void *gipa, VkInstance instance, VkDevice device, int push_desc) {
	PFN_vkGetInstanceProcAddr get = (PFN_vkGetInstanceProcAddr)gipa;
	PFN_vkGetDeviceProcAddr gdpa = (PFN_vkGetDeviceProcAddr)get(instance, "vkGetDeviceProcAddr");
	if (!gdpa) {
		return NULL;
	}
	tsr_fns *f = calloc(1, sizeof(tsr_fns));
#define LOAD(field, name)                                                   \
	f->field = (void *)gdpa(device, name);                                  \
	if (!f->field) {                                                        \
		free(f);                                                            \
		return NULL;                                                        \
	}
	LOAD(createShaderModule, "vkCreateShaderModule");
	LOAD(destroyShaderModule, "vkDestroyShaderModule");
	LOAD(createSetLayout, "vkCreateDescriptorSetLayout");
	LOAD(destroySetLayout, "vkDestroyDescriptorSetLayout");
	LOAD(createPipelineLayout, "vkCreatePipelineLayout");
	LOAD(destroyPipelineLayout, "vkDestroyPipelineLayout");
	LOAD(createComputePipelines, "vkCreateComputePipelines");
	LOAD(destroyPipeline, "vkDestroyPipeline");
	LOAD(createDescriptorPool, "vkCreateDescriptorPool");
	LOAD(destroyDescriptorPool, "vkDestroyDescriptorPool");
	LOAD(resetDescriptorPool, "vkResetDescriptorPool");
	LOAD(allocateDescriptorSets, "vkAllocateDescriptorSets");
	LOAD(updateDescriptorSets, "vkUpdateDescriptorSets");
	LOAD(cmdBindPipeline, "vkCmdBindPipeline");
	LOAD(cmdBindDescriptorSets, "vkCmdBindDescriptorSets");
	LOAD(cmdPushConstants, "vkCmdPushConstants");
	LOAD(cmdDispatch, "vkCmdDispatch");
	LOAD(cmdPipelineBarrier, "vkCmdPipelineBarrier");
	LOAD(cmdCopyBuffer, "vkCmdCopyBuffer");
	LOAD(cmdFillBuffer, "vkCmdFillBuffer");
	LOAD(cmdWriteTimestamp, "vkCmdWriteTimestamp");
	LOAD(cmdResetQueryPool, "vkCmdResetQueryPool");
	if (push_desc) {
		LOAD(cmdPushDescriptorSet, "vkCmdPushDescriptorSetKHR");
	}
#undef LOAD
	return f;
}

void tsr_fns_free(tsr_fns *f) { free(f); }

VkResult tsr_pipeline_create(tsr_fns *f, VkDevice device, const uint32_t *code, size_t code_size,
	uint32_t nbufs, uint32_t push_size, const uint32_t *spec, uint32_t nspec, int push_desc,
	VkPipeline *pipeline, VkPipelineLayout *layout, VkDescriptorSetLayout *set_layout) {
	VkResult r;
	VkDescriptorSetLayoutBinding bindings[32];
	if (nbufs > 32) {
		return VK_ERROR_INITIALIZATION_FAILED;
	}
	for (uint32_t i = 0; i < nbufs; i++) {
		memset(&bindings[i], 0, sizeof(bindings[i]));
		bindings[i].binding = i;
		bindings[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
		bindings[i].descriptorCount = 1;
		bindings[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
	}
	VkDescriptorSetLayoutCreateInfo sl = {0};
	sl.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO;
	sl.flags = push_desc ? VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR : 0;
	sl.bindingCount = nbufs;
	sl.pBindings = bindings;
	r = f->createSetLayout(device, &sl, NULL, set_layout);
	if (r != VK_SUCCESS) {
		return r;
	}
	VkPushConstantRange pc = {VK_SHADER_STAGE_COMPUTE_BIT, 0, push_size};
	VkPipelineLayoutCreateInfo pl = {0};
	pl.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
	pl.setLayoutCount = 1;
	pl.pSetLayouts = set_layout;
	pl.pushConstantRangeCount = push_size > 0 ? 1 : 0;
	pl.pPushConstantRanges = &pc;
	r = f->createPipelineLayout(device, &pl, NULL, layout);
	if (r != VK_SUCCESS) {
		f->destroySetLayout(device, *set_layout, NULL);
		return r;
	}
	VkShaderModuleCreateInfo sm = {0};
	sm.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO;
	sm.codeSize = code_size;
	sm.pCode = code;
	VkShaderModule module;
	r = f->createShaderModule(device, &sm, NULL, &module);
	if (r != VK_SUCCESS) {
		f->destroyPipelineLayout(device, *layout, NULL);
		f->destroySetLayout(device, *set_layout, NULL);
		return r;
	}
	VkSpecializationMapEntry entries[32];
	if (nspec > 32) {
		nspec = 32;
	}
	for (uint32_t i = 0; i < nspec; i++) {
		entries[i].constantID = i;
		entries[i].offset = i * 4;
		entries[i].size = 4;
	}
	VkSpecializationInfo si = {nspec, entries, nspec * 4, spec};
	VkComputePipelineCreateInfo ci = {0};
	ci.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
	ci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
	ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
	ci.stage.module = module;
	ci.stage.pName = "main";
	ci.stage.pSpecializationInfo = nspec > 0 ? &si : NULL;
	ci.layout = *layout;
	r = f->createComputePipelines(device, VK_NULL_HANDLE, 1, &ci, NULL, pipeline);
	f->destroyShaderModule(device, module, NULL);
	if (r != VK_SUCCESS) {
		f->destroyPipelineLayout(device, *layout, NULL);
		f->destroySetLayout(device, *set_layout, NULL);
	}
	return r;
}

void tsr_pipeline_destroy(tsr_fns *f, VkDevice device, VkPipeline p, VkPipelineLayout l, VkDescriptorSetLayout s) {
	f->destroyPipeline(device, p, NULL);
	f->destroyPipelineLayout(device, l, NULL);
	f->destroySetLayout(device, s, NULL);
}

VkResult tsr_descpool_create(tsr_fns *f, VkDevice device, uint32_t max_sets, uint32_t max_bufs, VkDescriptorPool *pool) {
	VkDescriptorPoolSize size = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, max_bufs};
	VkDescriptorPoolCreateInfo ci = {0};
	ci.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO;
	ci.maxSets = max_sets;
	ci.poolSizeCount = 1;
	ci.pPoolSizes = &size;
	return f->createDescriptorPool(device, &ci, NULL, pool);
}

void tsr_descpool_destroy(tsr_fns *f, VkDevice device, VkDescriptorPool pool) {
	f->destroyDescriptorPool(device, pool, NULL);
}

VkResult tsr_descpool_reset(tsr_fns *f, VkDevice device, VkDescriptorPool pool) {
	return f->resetDescriptorPool(device, pool, 0);
}

VkResult tsr_cmd_dispatch(tsr_fns *f, VkDevice device, VkCommandBuffer cb, VkPipeline pipeline,
	VkPipelineLayout layout, VkDescriptorSetLayout set_layout, VkDescriptorPool pool,
	uint32_t nbufs, const uint64_t *bufs, const uint64_t *offsets, const uint64_t *ranges,
	uint32_t push_size, const void *push, uint32_t gx, uint32_t gy, uint32_t gz) {
	VkDescriptorBufferInfo infos[32];
	VkWriteDescriptorSet writes[32];
	if (nbufs > 32) {
		return VK_ERROR_INITIALIZATION_FAILED;
	}
	VkDescriptorSet set = VK_NULL_HANDLE;
	if (pool != VK_NULL_HANDLE) {
		VkDescriptorSetAllocateInfo ai = {0};
		ai.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO;
		ai.descriptorPool = pool;
		ai.descriptorSetCount = 1;
		ai.pSetLayouts = &set_layout;
		VkResult r = f->allocateDescriptorSets(device, &ai, &set);
		if (r != VK_SUCCESS) {
			return r;
		}
	}
	for (uint32_t i = 0; i < nbufs; i++) {
		infos[i].buffer = (VkBuffer)(uintptr_t)bufs[i];
		infos[i].offset = offsets[i];
		infos[i].range = ranges[i];
		memset(&writes[i], 0, sizeof(writes[i]));
		writes[i].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
		writes[i].dstSet = set;
		writes[i].dstBinding = i;
		writes[i].descriptorCount = 1;
		writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
		writes[i].pBufferInfo = &infos[i];
	}
	f->cmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
	if (pool == VK_NULL_HANDLE) {
		f->cmdPushDescriptorSet(cb, VK_PIPELINE_BIND_POINT_COMPUTE, layout, 0, nbufs, writes);
	} else {
		f->updateDescriptorSets(device, nbufs, writes, 0, NULL);
		f->cmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, layout, 0, 1, &set, 0, NULL);
	}
	if (push_size > 0) {
		f->cmdPushConstants(cb, layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_size, push);
	}
	f->cmdDispatch(cb, gx, gy, gz);
	return VK_SUCCESS;
}

void tsr_cmd_barrier(tsr_fns *f, VkCommandBuffer cb) {
	VkMemoryBarrier mb = {0};
	mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
	mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_HOST_WRITE_BIT;
	mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
		VK_ACCESS_TRANSFER_WRITE_BIT;
	VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
	f->cmdPipelineBarrier(cb, stages | VK_PIPELINE_STAGE_HOST_BIT, stages, 0, 1, &mb, 0, NULL, 0, NULL);
}

void tsr_cmd_host_barrier(tsr_fns *f, VkCommandBuffer cb) {
	VkMemoryBarrier mb = {0};
	mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
	mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
	mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
	f->cmdPipelineBarrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
		VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
}

void tsr_cmd_copy(tsr_fns *f, VkCommandBuffer cb, uint64_t src, uint64_t src_off, uint64_t dst, uint64_t dst_off, uint64_t size) {
	VkBufferCopy region = {src_off, dst_off, size};
	f->cmdCopyBuffer(cb, (VkBuffer)(uintptr_t)src, (VkBuffer)(uintptr_t)dst, 1, &region);
}

void tsr_cmd_fill(tsr_fns *f, VkCommandBuffer cb, uint64_t buf, uint64_t off, uint64_t size, uint32_t data) {
	f->cmdFillBuffer(cb, (VkBuffer)(uintptr_t)buf, off, size, data);
}

void tsr_cmd_timestamp(tsr_fns *f, VkCommandBuffer cb, VkQueryPool pool, uint32_t query, int bottom) {
	f->cmdWriteTimestamp(cb, bottom ? VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT : VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, pool, query);
}

void tsr_cmd_reset_queries(tsr_fns *f, VkCommandBuffer cb, VkQueryPool pool, uint32_t first, uint32_t count) {
	f->cmdResetQueryPool(cb, pool, first, count);
}

// ---- Window-system integration and side submissions.

// Same layout as VkXlibSurfaceCreateInfoKHR, without <X11/Xlib.h>.
typedef struct {
	VkStructureType sType;
	const void *pNext;
	VkFlags flags;
	void *dpy;
	unsigned long window;
} tsr_xlib_surface_info;

typedef VkResult(VKAPI_PTR *tsr_create_xlib_surface_fn)(VkInstance, const tsr_xlib_surface_info *,
	const VkAllocationCallbacks *, VkSurfaceKHR *);

VkResult tsr_surface_create_xlib(void *gipa, VkInstance instance, void *display, uint64_t window, VkSurfaceKHR *out) {
	PFN_vkGetInstanceProcAddr get = (PFN_vkGetInstanceProcAddr)gipa;
	tsr_create_xlib_surface_fn create = (tsr_create_xlib_surface_fn)get(instance, "vkCreateXlibSurfaceKHR");
	if (!create) {
		return VK_ERROR_EXTENSION_NOT_PRESENT;
	}
	tsr_xlib_surface_info ci = {0};
	ci.sType = VK_STRUCTURE_TYPE_XLIB_SURFACE_CREATE_INFO_KHR;
	ci.dpy = display;
	ci.window = (unsigned long)window;
	return create(instance, &ci, NULL, out);
}

void tsr_surface_destroy(void *gipa, VkInstance instance, VkSurfaceKHR surface) {
	PFN_vkGetInstanceProcAddr get = (PFN_vkGetInstanceProcAddr)gipa;
	PFN_vkDestroySurfaceKHR destroy = (PFN_vkDestroySurfaceKHR)get(instance, "vkDestroySurfaceKHR");
	if (destroy) {
		destroy(instance, surface, NULL);
	}
}

VkResult tsr_surface_support(void *gipa, VkInstance instance, VkPhysicalDevice pd, uint32_t family, VkSurfaceKHR surface, uint32_t *ok) {
	PFN_vkGetInstanceProcAddr get = (PFN_vkGetInstanceProcAddr)gipa;
	PFN_vkGetPhysicalDeviceSurfaceSupportKHR support =
		(PFN_vkGetPhysicalDeviceSurfaceSupportKHR)get(instance, "vkGetPhysicalDeviceSurfaceSupportKHR");
	*ok = 0;
	if (!support) {
		return VK_ERROR_EXTENSION_NOT_PRESENT;
	}
	VkBool32 b = VK_FALSE;
	VkResult r = support(pd, family, surface, &b);
	*ok = b == VK_TRUE;
	return r;
}

VkResult tsr_surface_query(void *gipa, VkInstance instance, VkPhysicalDevice pd, VkSurfaceKHR surface, tsr_surface_caps *c) {
	PFN_vkGetInstanceProcAddr get = (PFN_vkGetInstanceProcAddr)gipa;
	PFN_vkGetPhysicalDeviceSurfaceCapabilitiesKHR caps =
		(PFN_vkGetPhysicalDeviceSurfaceCapabilitiesKHR)get(instance, "vkGetPhysicalDeviceSurfaceCapabilitiesKHR");
	PFN_vkGetPhysicalDeviceSurfaceFormatsKHR formats =
		(PFN_vkGetPhysicalDeviceSurfaceFormatsKHR)get(instance, "vkGetPhysicalDeviceSurfaceFormatsKHR");
	PFN_vkGetPhysicalDeviceSurfacePresentModesKHR modes =
		(PFN_vkGetPhysicalDeviceSurfacePresentModesKHR)get(instance, "vkGetPhysicalDeviceSurfacePresentModesKHR");
	memset(c, 0, sizeof(*c));
	if (!caps || !formats || !modes) {
		return VK_ERROR_EXTENSION_NOT_PRESENT;
	}
	VkSurfaceCapabilitiesKHR sc;
	VkResult r = caps(pd, surface, &sc);
	if (r != VK_SUCCESS) {
		return r;
	}
	c->min_images = sc.minImageCount;
	c->max_images = sc.maxImageCount;
	c->cur_w = sc.currentExtent.width;
	c->cur_h = sc.currentExtent.height;
	c->min_w = sc.minImageExtent.width;
	c->min_h = sc.minImageExtent.height;
	c->max_w = sc.maxImageExtent.width;
	c->max_h = sc.maxImageExtent.height;
	c->usage = sc.supportedUsageFlags;
	c->transforms = sc.supportedTransforms;
	c->current_transform = sc.currentTransform;
	c->composite_alpha = sc.supportedCompositeAlpha;
	VkSurfaceFormatKHR fs[TSR_MAX_FORMATS];
	uint32_t n = TSR_MAX_FORMATS;
	r = formats(pd, surface, &n, fs);
	if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
		return r;
	}
	c->nformats = n;
	for (uint32_t i = 0; i < n; i++) {
		c->formats[i] = fs[i].format;
		c->colorspaces[i] = fs[i].colorSpace;
	}
	VkPresentModeKHR ms[TSR_MAX_MODES];
	n = TSR_MAX_MODES;
	r = modes(pd, surface, &n, ms);
	if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
		return r;
	}
	c->nmodes = n;
	for (uint32_t i = 0; i < n; i++) {
		c->modes[i] = ms[i];
	}
	return VK_SUCCESS;
}

struct tsr_wsi {
	PFN_vkCreateSemaphore createSemaphore;
	PFN_vkDestroySemaphore destroySemaphore;
	PFN_vkCreateFence createFence;
	PFN_vkDestroyFence destroyFence;
	PFN_vkWaitForFences waitForFences;
	PFN_vkResetFences resetFences;
	PFN_vkCreateCommandPool createCommandPool;
	PFN_vkDestroyCommandPool destroyCommandPool;
	PFN_vkAllocateCommandBuffers allocateCommandBuffers;
	PFN_vkBeginCommandBuffer beginCommandBuffer;
	PFN_vkEndCommandBuffer endCommandBuffer;
	PFN_vkResetCommandBuffer resetCommandBuffer;
	PFN_vkCmdPipelineBarrier cmdPipelineBarrier;
	PFN_vkCmdCopyBufferToImage cmdCopyBufferToImage;
	PFN_vkCmdCopyImageToBuffer cmdCopyImageToBuffer;
	PFN_vkCmdCopyBuffer cmdCopyBuffer;
	PFN_vkQueueSubmit queueSubmit;
	PFN_vkQueueWaitIdle queueWaitIdle;
	PFN_vkCreateSwapchainKHR createSwapchain;
	PFN_vkDestroySwapchainKHR destroySwapchain;
	PFN_vkGetSwapchainImagesKHR getSwapchainImages;
	PFN_vkAcquireNextImageKHR acquireNextImage;
	PFN_vkQueuePresentKHR queuePresent;
};

tsr_wsi *tsr_wsi_load(void *gipa, VkInstance instance, VkDevice device, int swapchain) {
	PFN_vkGetInstanceProcAddr get = (PFN_vkGetInstanceProcAddr)gipa;
	PFN_vkGetDeviceProcAddr gdpa = (PFN_vkGetDeviceProcAddr)get(instance, "vkGetDeviceProcAddr");
	if (!gdpa) {
		return NULL;
	}
	tsr_wsi *w = calloc(1, sizeof(tsr_wsi));
#define LOAD(field, name)                                                   \
	w->field = (void *)gdpa(device, name);                                  \
	if (!w->field) {                                                        \
		free(w);                                                            \
		return NULL;                                                        \
	}
	LOAD(createSemaphore, "vkCreateSemaphore");
	LOAD(destroySemaphore, "vkDestroySemaphore");
	LOAD(createFence, "vkCreateFence");
	LOAD(destroyFence, "vkDestroyFence");
	LOAD(waitForFences, "vkWaitForFences");
	LOAD(resetFences, "vkResetFences");
	LOAD(createCommandPool, "vkCreateCommandPool");
	LOAD(destroyCommandPool, "vkDestroyCommandPool");
	LOAD(allocateCommandBuffers, "vkAllocateCommandBuffers");
	LOAD(beginCommandBuffer, "vkBeginCommandBuffer");
	LOAD(endCommandBuffer, "vkEndCommandBuffer");
	LOAD(resetCommandBuffer, "vkResetCommandBuffer");
	LOAD(cmdPipelineBarrier, "vkCmdPipelineBarrier");
	LOAD(cmdCopyBufferToImage, "vkCmdCopyBufferToImage");
	LOAD(cmdCopyImageToBuffer, "vkCmdCopyImageToBuffer");
	LOAD(cmdCopyBuffer, "vkCmdCopyBuffer");
	LOAD(queueSubmit, "vkQueueSubmit");
	LOAD(queueWaitIdle, "vkQueueWaitIdle");
	if (swapchain) {
		LOAD(createSwapchain, "vkCreateSwapchainKHR");
		LOAD(destroySwapchain, "vkDestroySwapchainKHR");
		LOAD(getSwapchainImages, "vkGetSwapchainImagesKHR");
		LOAD(acquireNextImage, "vkAcquireNextImageKHR");
		LOAD(queuePresent, "vkQueuePresentKHR");
	}
#undef LOAD
	return w;
}

void tsr_wsi_free(tsr_wsi *w) { free(w); }

VkResult tsr_side_create(tsr_wsi *w, VkDevice device, uint32_t family, uint32_t n, VkCommandPool *pool,
	VkCommandBuffer *cbs, VkFence *fences) {
	VkCommandPoolCreateInfo pci = {0};
	pci.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
	pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
	pci.queueFamilyIndex = family;
	VkResult r = w->createCommandPool(device, &pci, NULL, pool);
	if (r != VK_SUCCESS) {
		return r;
	}
	VkCommandBufferAllocateInfo ai = {0};
	ai.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
	ai.commandPool = *pool;
	ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
	ai.commandBufferCount = n;
	r = w->allocateCommandBuffers(device, &ai, cbs);
	if (r != VK_SUCCESS) {
		w->destroyCommandPool(device, *pool, NULL);
		return r;
	}
	for (uint32_t i = 0; i < n; i++) {
		// Signalled, so the first wait on a fence that never saw a submit returns at once.
		VkFenceCreateInfo fci = {0};
		fci.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
		fci.flags = VK_FENCE_CREATE_SIGNALED_BIT;
		r = w->createFence(device, &fci, NULL, &fences[i]);
		if (r != VK_SUCCESS) {
			for (uint32_t j = 0; j < i; j++) {
				w->destroyFence(device, fences[j], NULL);
			}
			w->destroyCommandPool(device, *pool, NULL);
			return r;
		}
	}
	return VK_SUCCESS;
}

void tsr_side_destroy(tsr_wsi *w, VkDevice device, VkCommandPool pool, uint32_t n, VkFence *fences) {
	for (uint32_t i = 0; i < n; i++) {
		w->destroyFence(device, fences[i], NULL);
	}
	w->destroyCommandPool(device, pool, NULL);
}

VkResult tsr_semaphore_create(tsr_wsi *w, VkDevice device, VkSemaphore *out) {
	VkSemaphoreCreateInfo ci = {0};
	ci.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO;
	return w->createSemaphore(device, &ci, NULL, out);
}

void tsr_semaphore_destroy(tsr_wsi *w, VkDevice device, VkSemaphore s) { w->destroySemaphore(device, s, NULL); }

VkResult tsr_fence_wait(tsr_wsi *w, VkDevice device, VkFence fence, uint64_t timeout, int reset) {
	VkResult r = w->waitForFences(device, 1, &fence, VK_TRUE, timeout);
	if (r == VK_SUCCESS && reset) {
		r = w->resetFences(device, 1, &fence);
	}
	return r;
}

VkResult tsr_queue_wait_idle(tsr_wsi *w, VkQueue queue) { return w->queueWaitIdle(queue); }

static VkResult tsr_begin(tsr_wsi *w, VkCommandBuffer cb) {
	w->resetCommandBuffer(cb, 0);
	VkCommandBufferBeginInfo bi = {0};
	bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
	bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
	return w->beginCommandBuffer(cb, &bi);
}

static void tsr_image_barrier(tsr_wsi *w, VkCommandBuffer cb, VkImage image, VkImageLayout from, VkImageLayout to,
	VkAccessFlags src_access, VkAccessFlags dst_access, VkPipelineStageFlags src_stage, VkPipelineStageFlags dst_stage,
	const VkMemoryBarrier *mb) {
	VkImageMemoryBarrier ib = {0};
	ib.sType = VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER;
	ib.srcAccessMask = src_access;
	ib.dstAccessMask = dst_access;
	ib.oldLayout = from;
	ib.newLayout = to;
	ib.srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
	ib.dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
	ib.image = image;
	ib.subresourceRange.aspectMask = VK_IMAGE_ASPECT_COLOR_BIT;
	ib.subresourceRange.levelCount = 1;
	ib.subresourceRange.layerCount = 1;
	w->cmdPipelineBarrier(cb, src_stage, dst_stage, 0, mb ? 1 : 0, mb, 0, NULL, 1, &ib);
}

VkResult tsr_record_blit(tsr_wsi *w, VkCommandBuffer cb, uint64_t src, uint64_t src_off, VkImage image,
	uint32_t width, uint32_t height, uint64_t cap, uint64_t cap_off) {
	VkResult r = tsr_begin(w, cb);
	if (r != VK_SUCCESS) {
		return r;
	}
	// The composed buffer was written by a compute shader in an earlier
	// submission on this queue; the image comes from the acquire semaphore,
	// waited on at the transfer stage.
	VkMemoryBarrier mb = {0};
	mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
	mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
	mb.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT;
	tsr_image_barrier(w, cb, image, VK_IMAGE_LAYOUT_UNDEFINED, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 0,
		VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
		VK_PIPELINE_STAGE_TRANSFER_BIT, &mb);
	VkBufferImageCopy region = {0};
	region.bufferOffset = src_off;
	region.imageSubresource.aspectMask = VK_IMAGE_ASPECT_COLOR_BIT;
	region.imageSubresource.layerCount = 1;
	region.imageExtent.width = width;
	region.imageExtent.height = height;
	region.imageExtent.depth = 1;
	w->cmdCopyBufferToImage(cb, (VkBuffer)(uintptr_t)src, image, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1, &region);
	VkImageLayout last = VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL;
	VkAccessFlags last_access = VK_ACCESS_TRANSFER_WRITE_BIT;
	if (cap != 0) {
		tsr_image_barrier(w, cb, image, last, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, VK_ACCESS_TRANSFER_WRITE_BIT,
			VK_ACCESS_TRANSFER_READ_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, NULL);
		region.bufferOffset = cap_off;
		w->cmdCopyImageToBuffer(cb, image, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, (VkBuffer)(uintptr_t)cap, 1, &region);
		VkMemoryBarrier hb = {0};
		hb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
		hb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
		hb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
		w->cmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &hb, 0, NULL, 0, NULL);
		last = VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL;
		last_access = VK_ACCESS_TRANSFER_READ_BIT;
	}
	tsr_image_barrier(w, cb, image, last, VK_IMAGE_LAYOUT_PRESENT_SRC_KHR, last_access == VK_ACCESS_TRANSFER_WRITE_BIT ? last_access : 0,
		0, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, NULL);
	return w->endCommandBuffer(cb);
}

VkResult tsr_record_readback(tsr_wsi *w, VkCommandBuffer cb, uint64_t src, uint64_t src_off, uint64_t dst,
	uint64_t dst_off, uint64_t size) {
	VkResult r = tsr_begin(w, cb);
	if (r != VK_SUCCESS) {
		return r;
	}
	VkMemoryBarrier mb = {0};
	mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
	mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
	mb.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT;
	w->cmdPipelineBarrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
		VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
	VkBufferCopy region = {src_off, dst_off, size};
	w->cmdCopyBuffer(cb, (VkBuffer)(uintptr_t)src, (VkBuffer)(uintptr_t)dst, 1, &region);
	VkMemoryBarrier hb = {0};
	hb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
	hb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
	hb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
	w->cmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &hb, 0, NULL, 0, NULL);
	return w->endCommandBuffer(cb);
}

VkResult tsr_submit(tsr_wsi *w, VkQueue queue, VkCommandBuffer cb, VkSemaphore wait, VkSemaphore signal, VkFence fence) {
	VkPipelineStageFlags stage = VK_PIPELINE_STAGE_TRANSFER_BIT;
	VkSubmitInfo si = {0};
	si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
	if (wait != VK_NULL_HANDLE) {
		si.waitSemaphoreCount = 1;
		si.pWaitSemaphores = &wait;
		si.pWaitDstStageMask = &stage;
	}
	si.commandBufferCount = 1;
	si.pCommandBuffers = &cb;
	if (signal != VK_NULL_HANDLE) {
		si.signalSemaphoreCount = 1;
		si.pSignalSemaphores = &signal;
	}
	return w->queueSubmit(queue, 1, &si, fence);
}

VkResult tsr_swapchain_create(tsr_wsi *w, VkDevice device, VkSurfaceKHR surface, uint32_t min_images,
	uint32_t format, uint32_t colorspace, uint32_t width, uint32_t height, uint32_t usage, uint32_t transform,
	uint32_t alpha, uint32_t mode, VkSwapchainKHR old, VkSwapchainKHR *out, uint32_t *nimages, VkImage *images) {
	if (!w->createSwapchain) {
		return VK_ERROR_EXTENSION_NOT_PRESENT;
	}
	VkSwapchainCreateInfoKHR ci = {0};
	ci.sType = VK_STRUCTURE_TYPE_SWAPCHAIN_CREATE_INFO_KHR;
	ci.surface = surface;
	ci.minImageCount = min_images;
	ci.imageFormat = (VkFormat)format;
	ci.imageColorSpace = (VkColorSpaceKHR)colorspace;
	ci.imageExtent.width = width;
	ci.imageExtent.height = height;
	ci.imageArrayLayers = 1;
	ci.imageUsage = usage;
	ci.imageSharingMode = VK_SHARING_MODE_EXCLUSIVE;
	ci.preTransform = (VkSurfaceTransformFlagBitsKHR)transform;
	ci.compositeAlpha = (VkCompositeAlphaFlagBitsKHR)alpha;
	ci.presentMode = (VkPresentModeKHR)mode;
	ci.clipped = VK_TRUE;
	ci.oldSwapchain = old;
	VkResult r = w->createSwapchain(device, &ci, NULL, out);
	if (r != VK_SUCCESS) {
		return r;
	}
	uint32_t n = TSR_MAX_IMAGES;
	r = w->getSwapchainImages(device, *out, &n, images);
	if (r != VK_SUCCESS) {
		// VK_INCOMPLETE: more images than we track; treat it as a failure.
		w->destroySwapchain(device, *out, NULL);
		*out = VK_NULL_HANDLE;
		return r == VK_INCOMPLETE ? VK_ERROR_INITIALIZATION_FAILED : r;
	}
	*nimages = n;
	return VK_SUCCESS;
}

void tsr_swapchain_destroy(tsr_wsi *w, VkDevice device, VkSwapchainKHR sc) {
	if (w->destroySwapchain && sc != VK_NULL_HANDLE) {
		w->destroySwapchain(device, sc, NULL);
	}
}

VkResult tsr_acquire(tsr_wsi *w, VkDevice device, VkSwapchainKHR sc, uint64_t timeout, VkSemaphore sem, uint32_t *index) {
	return w->acquireNextImage(device, sc, timeout, sem, VK_NULL_HANDLE, index);
}

VkResult tsr_present(tsr_wsi *w, VkQueue queue, VkSwapchainKHR sc, uint32_t index, VkSemaphore wait) {
	VkPresentInfoKHR pi = {0};
	pi.sType = VK_STRUCTURE_TYPE_PRESENT_INFO_KHR;
	pi.waitSemaphoreCount = 1;
	pi.pWaitSemaphores = &wait;
	pi.swapchainCount = 1;
	pi.pSwapchains = &sc;
	pi.pImageIndices = &index;
	return w->queuePresent(queue, &pi);
}
