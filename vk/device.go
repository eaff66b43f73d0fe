package vk

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"os"
	"sync"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"
)

// Device is an opened logical device with one compute queue, its memory,
// its kernel cache and its stream. A Device is safe for use by one goroutine
// at a time; its methods lock internally so concurrent misuse is not a crash.
type Device struct {
	Info DeviceInfo

	mu       sync.Mutex
	inst     *instance
	handle   vk.Device
	queue    vk.Queue
	fns      *C.tsr_fns
	pushDesc bool

	mem     *allocator // tensors
	staging *allocator // host-visible copies for devices without host-visible tensor memory

	kernels map[kernelKey]*Kernel
	stream  *stream
	prof    *profiler
	err     error // first recording failure, returned by Err / Sync
	closed  bool

	wsi wsiDevice // surfaces, swapchains and side submissions (surface.go)
}

// deviceOptions force the fallback paths a driver may need, so tests can
// exercise them on any device.
type deviceOptions struct {
	noPushDescriptor bool // bind through descriptor pools
	staging          bool // treat tensor memory as not host visible
	profile          bool // time every dispatch, as TESSERA_PROFILE=1 does
}

func newDevice(inst *instance, index int) (*Device, error) {
	return openDevice(inst, index, deviceOptions{})
}

func openDevice(inst *instance, index int, opts deviceOptions) (*Device, error) {
	info := inst.infos[index]
	if opts.noPushDescriptor {
		info.PushDescriptor = false
	}
	pd := inst.physical[index]
	prio := []float32{1}
	qci := []vk.DeviceQueueCreateInfo{{
		SType:            vk.StructureTypeDeviceQueueCreateInfo,
		QueueFamilyIndex: info.queueFamily,
		QueueCount:       1,
		PQueuePriorities: prio,
	}}
	var exts []string
	if info.PushDescriptor {
		exts = append(exts, cstr("VK_KHR_push_descriptor"))
	}
	swapchain := len(inst.wsiExts) > 0 && deviceHasExtension(pd, "VK_KHR_swapchain")
	if swapchain {
		exts = append(exts, cstr("VK_KHR_swapchain"))
	}
	dci := vk.DeviceCreateInfo{
		SType:                   vk.StructureTypeDeviceCreateInfo,
		QueueCreateInfoCount:    1,
		PQueueCreateInfos:       qci,
		EnabledExtensionCount:   uint32(len(exts)),
		PpEnabledExtensionNames: exts,
	}
	var handle vk.Device
	if res := vk.CreateDevice(pd, &dci, nil, &handle); res != vk.Success {
		return nil, fmt.Errorf("vk: opening %s: %w", info.Name, wrapResult("vkCreateDevice", res))
	}
	d := &Device{Info: info, inst: inst, handle: handle, pushDesc: info.PushDescriptor, kernels: map[kernelKey]*Kernel{}}
	d.wsi.swapchain = swapchain
	var queue vk.Queue // a local: cgo refuses pointers into Go structs holding Go pointers
	vk.GetDeviceQueue(handle, info.queueFamily, 0, &queue)
	d.queue = queue
	push := C.int(0)
	if d.pushDesc {
		push = 1
	}
	d.fns = C.tsr_fns_load(inst.gipa, C.VkInstance(unsafe.Pointer(inst.handle)), C.VkDevice(unsafe.Pointer(handle)), push)
	if d.fns == nil {
		vk.DestroyDevice(handle, nil)
		return nil, fmt.Errorf("vk: %s: missing device entry points", info.Name)
	}
	tt, host, st, err := chooseMemoryTypes(&info)
	if err != nil {
		d.destroy()
		return nil, err
	}
	if opts.staging {
		host = false
	}
	align := info.MinStorageAlignment
	if align < 256 {
		align = 256
	}
	blockSize := uint64(64 << 20)
	if blockSize > info.MaxAllocationSize {
		blockSize = info.MaxAllocationSize
	}
	const xfer = vk.BufferUsageTransferSrcBit | vk.BufferUsageTransferDstBit
	d.mem = &allocator{name: "device memory", dev: handle, typeIndex: uint32(tt), hostVisible: host,
		usage: vk.BufferUsageStorageBufferBit | xfer, blockSize: blockSize,
		maxAlloc: info.MaxAllocationSize, maxRange: info.MaxStorageBufferRange, align: align}
	d.staging = &allocator{name: "staging memory", dev: handle, typeIndex: uint32(st), hostVisible: true,
		usage: xfer, blockSize: 16 << 20, maxAlloc: info.MaxAllocationSize, maxRange: info.MaxAllocationSize, align: 256}
	if (opts.profile || os.Getenv("TESSERA_PROFILE") == "1") && info.TimestampsOnCompute {
		d.prof = newProfiler(info.TimestampPeriodNs)
	}
	s, err := newStream(d)
	if err != nil {
		d.destroy()
		return nil, err
	}
	d.stream = s
	return d, nil
}

// Close waits for outstanding work, prints the profile when profiling, and
// releases every Vulkan object of the device. Ranges still allocated are
// freed with it.
func (d *Device) Close() error {
	registry.mu.Lock()
	for i, dd := range registry.devices {
		if dd == d {
			delete(registry.devices, i)
		}
	}
	registry.mu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	err := d.syncLocked()
	if d.prof != nil {
		d.prof.print(os.Stderr, d.Info.Name)
	}
	d.destroy()
	d.closed = true
	return err
}

func (d *Device) destroy() {
	if d.handle == nil {
		return
	}
	vk.DeviceWaitIdle(d.handle)
	d.wsi.destroy()
	if d.stream != nil {
		d.stream.destroy()
	}
	for _, k := range d.kernels {
		C.tsr_pipeline_destroy(d.fns, C.VkDevice(unsafe.Pointer(d.handle)), k.pipeline, k.layout, k.setLayout)
	}
	d.kernels = nil
	if d.mem != nil {
		d.mem.destroy()
	}
	if d.staging != nil {
		d.staging.destroy()
	}
	if d.fns != nil {
		C.tsr_fns_free(d.fns)
	}
	vk.DestroyDevice(d.handle, nil)
	d.handle = nil
}

// MemoryStats reports device-memory use in bytes: live (allocated to ranges),
// peak live since the last ResetPeak, and reserved (held in blocks).
type MemoryStats struct {
	Live, Peak, Reserved uint64
	Blocks               int
}

// Memory returns the tensor allocator's counters.
func (d *Device) Memory() MemoryStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return MemoryStats{Live: d.mem.live, Peak: d.mem.peak, Reserved: d.mem.reserved, Blocks: len(d.mem.blocks)}
}

// ResetPeak sets the peak counter to the current live bytes.
func (d *Device) ResetPeak() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mem.peak = d.mem.live
}

// Trim returns cached, empty memory blocks to the driver.
func (d *Device) Trim() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.syncLocked(); err != nil {
		return err
	}
	d.mem.trim()
	d.staging.trim()
	return nil
}

// Alloc allocates size bytes of device memory for a tensor.
func (d *Device) Alloc(size uint64) (Range, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return Range{}, fmt.Errorf("vk: device %s is closed", d.Info.Name)
	}
	return d.mem.alloc(size)
}

// Free returns r to the allocator. Work already recorded against r still
// runs correctly: the stream orders any later reuse after it.
func (d *Device) Free(r Range) {
	if !r.Valid() {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.mem.release(r)
}

// Err returns the first error met while recording work (an out-of-memory
// staging copy, a pipeline that failed to build) and clears it.
func (d *Device) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.err
	d.err = nil
	return err
}

func (d *Device) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// Flush submits recorded work without waiting for it.
func (d *Device) Flush() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stream.submit()
}

// Sync submits recorded work and waits for all of it; it returns (and clears)
// any recording error.
func (d *Device) Sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.syncLocked()
}

func (d *Device) syncLocked() error {
	if err := d.stream.waitAll(); err != nil {
		return err
	}
	err := d.err
	d.err = nil
	return err
}
