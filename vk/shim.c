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
