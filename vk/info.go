package vk

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"strings"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"
)

// DeviceType is the kind of a physical device.
type DeviceType string

// Device types, as Vulkan names them.
const (
	TypeDiscrete   DeviceType = "discrete GPU"
	TypeIntegrated DeviceType = "integrated GPU"
	TypeVirtual    DeviceType = "virtual GPU"
	TypeCPU        DeviceType = "CPU"
	TypeOther      DeviceType = "other"
)

func (t DeviceType) rank() int {
	switch t {
	case TypeDiscrete:
		return 4
	case TypeIntegrated:
		return 3
	case TypeVirtual:
		return 2
	case TypeCPU:
		return 1
	}
	return 0
}

// MemoryHeap is one of a device's memory heaps.
type MemoryHeap struct {
	Size        uint64
	DeviceLocal bool
}

// DeviceInfo describes a physical device: what `tessera devices` prints and
// what kernels size their tiles from.
type DeviceInfo struct {
	Index                 int
	Name                  string
	Vendor                string
	VendorID, DeviceID    uint32
	Type                  DeviceType
	APIVersion            string
	Driver                string
	DriverInfo            string
	Heaps                 []MemoryHeap
	SubgroupSize          uint32
	MaxSharedMemory       uint32
	MaxWorkgroupSize      [3]uint32
	MaxWorkgroupCount     [3]uint32
	MaxInvocations        uint32
	MaxStorageBufferRange uint64
	MaxAllocationSize     uint64
	MaxPushConstants      uint32
	MinStorageAlignment   uint64
	TimestampPeriodNs     float32
	TimestampsOnCompute   bool
	PushDescriptor        bool
	queueFamily           uint32
	memTypes              []memType
}

type memType struct {
	flags vk.MemoryPropertyFlags
	heap  uint32
}

func vendorName(id uint32) string {
	switch id {
	case 0x1002:
		return "AMD"
	case 0x10de:
		return "NVIDIA"
	case 0x8086:
		return "Intel"
	case 0x13b5:
		return "ARM"
	case 0x5143:
		return "Qualcomm"
	case 0x106b:
		return "Apple"
	case 0x10005:
		return "Mesa"
	}
	return fmt.Sprintf("0x%04x", id)
}

func versionString(v uint32) string {
	return fmt.Sprintf("%d.%d.%d", v>>22, (v>>12)&0x3ff, v&0xfff)
}

// String is a one-line summary.
func (d DeviceInfo) String() string {
	return fmt.Sprintf("%s (%s, %s, Vulkan %s)", d.Name, d.Vendor, d.Type, d.APIVersion)
}

// Describe renders every field on its own line, for `tessera devices`.
func (d DeviceInfo) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%d] %s\n", d.Index, d.Name)
	fmt.Fprintf(&b, "    vendor:            %s (0x%04x), device 0x%04x\n", d.Vendor, d.VendorID, d.DeviceID)
	fmt.Fprintf(&b, "    type:              %s\n", d.Type)
	fmt.Fprintf(&b, "    Vulkan:            %s\n", d.APIVersion)
	if d.Driver != "" {
		fmt.Fprintf(&b, "    driver:            %s %s\n", d.Driver, d.DriverInfo)
	}
	for i, h := range d.Heaps {
		kind := "host"
		if h.DeviceLocal {
			kind = "device-local"
		}
		fmt.Fprintf(&b, "    memory heap %d:     %s (%s)\n", i, FormatBytes(h.Size), kind)
	}
	fmt.Fprintf(&b, "    subgroup size:     %d\n", d.SubgroupSize)
	fmt.Fprintf(&b, "    shared memory:     %s\n", FormatBytes(uint64(d.MaxSharedMemory)))
	fmt.Fprintf(&b, "    workgroup:         %d invocations, size ≤ %v, count ≤ %v\n", d.MaxInvocations, d.MaxWorkgroupSize, d.MaxWorkgroupCount)
	fmt.Fprintf(&b, "    storage buffer:    ≤ %s per binding, allocations ≤ %s\n", FormatBytes(d.MaxStorageBufferRange), FormatBytes(d.MaxAllocationSize))
	fmt.Fprintf(&b, "    push constants:    %d bytes; push descriptors: %v; timestamps: %v\n", d.MaxPushConstants, d.PushDescriptor, d.TimestampsOnCompute)
	return b.String()
}

// FormatBytes renders a byte count with a binary unit.
func FormatBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func (inst *instance) enumerate() error {
	var n uint32
	if res := vk.EnumeratePhysicalDevices(inst.handle, &n, nil); res != vk.Success {
		return fmt.Errorf("vk: vkEnumeratePhysicalDevices: %v", vk.Error(res))
	}
	pds := make([]vk.PhysicalDevice, n)
	if n > 0 {
		if res := vk.EnumeratePhysicalDevices(inst.handle, &n, pds); res != vk.Success {
			return fmt.Errorf("vk: vkEnumeratePhysicalDevices: %v", vk.Error(res))
		}
	}
	inst.physical = pds[:n]
	for i, pd := range inst.physical {
		info := describe(inst, pd)
		info.Index = i
		inst.infos = append(inst.infos, info)
	}
	return nil
}

func describe(inst *instance, pd vk.PhysicalDevice) DeviceInfo {
	var props vk.PhysicalDeviceProperties
	vk.GetPhysicalDeviceProperties(pd, &props)
	props.Deref()
	props.Limits.Deref()
	lim := props.Limits
	info := DeviceInfo{
		Name:                  vk.ToString(props.DeviceName[:]),
		VendorID:              props.VendorID,
		DeviceID:              props.DeviceID,
		Vendor:                vendorName(props.VendorID),
		APIVersion:            versionString(props.ApiVersion),
		MaxSharedMemory:       lim.MaxComputeSharedMemorySize,
		MaxWorkgroupSize:      lim.MaxComputeWorkGroupSize,
		MaxWorkgroupCount:     lim.MaxComputeWorkGroupCount,
		MaxInvocations:        lim.MaxComputeWorkGroupInvocations,
		MaxStorageBufferRange: uint64(lim.MaxStorageBufferRange),
		MaxPushConstants:      lim.MaxPushConstantsSize,
		MinStorageAlignment:   uint64(lim.MinStorageBufferOffsetAlignment),
		TimestampPeriodNs:     lim.TimestampPeriod,
	}
	switch props.DeviceType {
	case vk.PhysicalDeviceTypeDiscreteGpu:
		info.Type = TypeDiscrete
	case vk.PhysicalDeviceTypeIntegratedGpu:
		info.Type = TypeIntegrated
	case vk.PhysicalDeviceTypeVirtualGpu:
		info.Type = TypeVirtual
	case vk.PhysicalDeviceTypeCpu:
		info.Type = TypeCPU
	default:
		info.Type = TypeOther
	}
	api := props.ApiVersion
	if api > inst.api {
		api = inst.api
	}
	var p2 C.tsr_props2
	C.tsr_props2_query(inst.gipa, C.VkInstance(unsafe.Pointer(inst.handle)), C.VkPhysicalDevice(unsafe.Pointer(pd)), C.uint32_t(api), &p2)
	info.SubgroupSize = uint32(p2.subgroup_size)
	info.MaxAllocationSize = uint64(p2.max_memory_allocation_size)
	if info.MaxAllocationSize == 0 {
		info.MaxAllocationSize = 1 << 30
	}
	if p2.has_driver != 0 {
		info.Driver = C.GoString(&p2.driver_name[0])
		info.DriverInfo = C.GoString(&p2.driver_info[0])
	}

	var mp vk.PhysicalDeviceMemoryProperties
	vk.GetPhysicalDeviceMemoryProperties(pd, &mp)
	mp.Deref()
	for i := uint32(0); i < mp.MemoryHeapCount; i++ {
		h := mp.MemoryHeaps[i]
		h.Deref()
		info.Heaps = append(info.Heaps, MemoryHeap{Size: uint64(h.Size), DeviceLocal: h.Flags&vk.MemoryHeapFlags(vk.MemoryHeapDeviceLocalBit) != 0})
	}
	for i := uint32(0); i < mp.MemoryTypeCount; i++ {
		t := mp.MemoryTypes[i]
		t.Deref()
		info.memTypes = append(info.memTypes, memType{flags: t.PropertyFlags, heap: t.HeapIndex})
	}

	var nq uint32
	vk.GetPhysicalDeviceQueueFamilyProperties(pd, &nq, nil)
	qf := make([]vk.QueueFamilyProperties, nq)
	vk.GetPhysicalDeviceQueueFamilyProperties(pd, &nq, qf)
	best := -1
	for i := range qf {
		qf[i].Deref()
		flags := vk.QueueFlagBits(qf[i].QueueFlags)
		if flags&vk.QueueComputeBit == 0 {
			continue
		}
		// Prefer a compute queue family that also does graphics: it is the
		// one a swapchain can present from on every desktop driver.
		if best < 0 || (flags&vk.QueueGraphicsBit != 0 && vk.QueueFlagBits(qf[best].QueueFlags)&vk.QueueGraphicsBit == 0) {
			best = i
		}
	}
	if best >= 0 {
		info.queueFamily = uint32(best)
		info.TimestampsOnCompute = qf[best].TimestampValidBits > 0
	}

	var ne uint32
	vk.EnumerateDeviceExtensionProperties(pd, "", &ne, nil)
	exts := make([]vk.ExtensionProperties, ne)
	vk.EnumerateDeviceExtensionProperties(pd, "", &ne, exts)
	for _, e := range exts {
		e.Deref()
		if vk.ToString(e.ExtensionName[:]) == "VK_KHR_push_descriptor" {
			info.PushDescriptor = true
		}
	}
	return info
}
