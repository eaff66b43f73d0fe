package vk

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/tessera-ml/tessera/shaders"
)

// KernelSpec names a compute shader and its interface: how many storage
// buffers it binds (bindings 0..Buffers-1 of set 0) and how many 32-bit push
// constant words it takes.
type KernelSpec struct {
	Name      string
	Buffers   int
	PushWords int
}

// maxSpec is how many specialization constants a kernel may take.
const maxSpec = 8

type kernelKey struct {
	name   string
	n      int
	consts [maxSpec]uint32
}

// Kernel is a compute pipeline built from a shader with fixed
// specialization constants.
type Kernel struct {
	Spec      KernelSpec
	Consts    []uint32
	label     string
	pipeline  C.VkPipeline
	layout    C.VkPipelineLayout
	setLayout C.VkDescriptorSetLayout
}

// Kernel returns the pipeline for spec with the given specialization
// constants (ids 0, 1, ...), building and caching it on first use.
func (d *Device) Kernel(spec KernelSpec, consts ...uint32) (*Kernel, error) {
	if len(consts) > maxSpec {
		return nil, fmt.Errorf("vk: kernel %s: %d specialization constants, at most %d", spec.Name, len(consts), maxSpec)
	}
	key := kernelKey{name: spec.Name, n: len(consts)}
	copy(key.consts[:], consts)
	d.mu.Lock()
	defer d.mu.Unlock()
	if k := d.kernels[key]; k != nil {
		return k, nil
	}
	if d.closed {
		return nil, fmt.Errorf("vk: device %s is closed", d.Info.Name)
	}
	if spec.PushWords*4 > int(d.Info.MaxPushConstants) {
		return nil, fmt.Errorf("vk: kernel %s needs %d bytes of push constants; %s has %d", spec.Name, spec.PushWords*4, d.Info.Name, d.Info.MaxPushConstants)
	}
	code, err := shaders.SPIRV(spec.Name)
	if err != nil {
		return nil, err
	}
	words := unsafe.Slice((*uint32)(unsafe.Pointer(&code[0])), len(code)/4)
	// Copy to C-friendly, 4-byte aligned memory: embedded bytes need not be.
	aligned := make([]uint32, len(words))
	copy(aligned, words)
	var specPtr *C.uint32_t
	cs := make([]uint32, len(consts))
	copy(cs, consts)
	if len(cs) > 0 {
		specPtr = (*C.uint32_t)(unsafe.Pointer(&cs[0]))
	}
	push := C.int(0)
	if d.pushDesc {
		push = 1
	}
	k := &Kernel{Spec: spec, Consts: cs, label: spec.Name}
	if len(cs) > 0 {
		k.label = fmt.Sprintf("%s%v", spec.Name, cs)
	}
	var pipeline C.VkPipeline
	var layout C.VkPipelineLayout
	var setLayout C.VkDescriptorSetLayout
	res := C.tsr_pipeline_create(d.fns, C.VkDevice(unsafe.Pointer(d.handle)),
		(*C.uint32_t)(unsafe.Pointer(&aligned[0])), C.size_t(len(code)),
		C.uint32_t(spec.Buffers), C.uint32_t(spec.PushWords*4), specPtr, C.uint32_t(len(cs)), push,
		&pipeline, &layout, &setLayout)
	k.pipeline, k.layout, k.setLayout = pipeline, layout, setLayout
	if res != C.VK_SUCCESS {
		return nil, fmt.Errorf("vk: building kernel %s on %s: VkResult %d", k.label, d.Info.Name, int(res))
	}
	d.kernels[key] = k
	return k, nil
}
