package vk

/*
#cgo LDFLAGS: -ldl -lpthread
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"
)

// ErrNoVulkan is returned (wrapped) when no Vulkan loader or driver is present.
var ErrNoVulkan = errors.New("vk: no Vulkan driver")

const installHint = "install a Vulkan driver: on Debian/Ubuntu `apt-get install libvulkan1 mesa-vulkan-drivers` " +
	"(Mesa's Lavapipe runs Vulkan on the CPU), or your GPU vendor's driver; `make deps` does this"

// validationLayer is the Khronos validation layer, enabled by TESSERA_VALIDATION=1.
const validationLayer = "VK_LAYER_KHRONOS_validation"

// instance is the process's Vulkan instance and the physical devices it sees.
type instance struct {
	gipa       unsafe.Pointer
	handle     vk.Instance
	api        uint32
	debug      *C.tsr_debug
	validation bool
	infos      []DeviceInfo
	physical   []vk.PhysicalDevice
	wsiExts    []string // window-system extensions enabled (surface.go)
}

// registry is the package's one piece of global state: the instance and the
// devices opened on it, shared by every caller in the process.
var registry struct {
	mu      sync.Mutex
	inst    *instance
	devices map[int]*Device
}

func cstr(s string) string { return s + "\x00" }

// loadInstance creates the process's Vulkan instance on first use.
func loadInstance() (*instance, error) {
	if registry.inst != nil {
		return registry.inst, nil
	}
	var errbuf [256]C.char
	gipa := C.tsr_open_loader(&errbuf[0], C.int(len(errbuf)))
	if gipa == nil {
		return nil, fmt.Errorf("%w: cannot open libvulkan.so.1 (%s); %s", ErrNoVulkan, C.GoString(&errbuf[0]), installHint)
	}
	vk.SetGetInstanceProcAddr(gipa)
	if err := vk.Init(); err != nil {
		return nil, fmt.Errorf("%w: %v; %s", ErrNoVulkan, err, installHint)
	}
	api := uint32(C.tsr_instance_version(gipa))
	if api < vk.MakeVersion(1, 1, 0) {
		return nil, fmt.Errorf("%w: the Vulkan loader is 1.0; Tessera needs Vulkan 1.1 (%s)", ErrNoVulkan, installHint)
	}
	if api > vk.MakeVersion(1, 2, 0) {
		api = vk.MakeVersion(1, 2, 0)
	}

	var layers, exts []string
	validation := false
	if os.Getenv("TESSERA_VALIDATION") == "1" {
		if hasInstanceLayer(validationLayer) && hasInstanceExtension("VK_EXT_debug_utils") {
			layers = append(layers, cstr(validationLayer))
			exts = append(exts, cstr("VK_EXT_debug_utils"))
			validation = true
		} else {
			fmt.Fprintf(os.Stderr, "tessera: TESSERA_VALIDATION=1 but %s is not installed (apt-get install vulkan-validationlayers); running without it\n", validationLayer)
		}
	}
	// Surface extensions cost nothing when unused and must be enabled now
	// for a window (the viewer) to present from this instance later.
	wsiExts := wsiInstanceExtensions()
	for _, e := range wsiExts {
		exts = append(exts, cstr(e))
	}
	app := vk.ApplicationInfo{
		SType:            vk.StructureTypeApplicationInfo,
		PApplicationName: cstr("tessera"),
		PEngineName:      cstr("tessera"),
		ApiVersion:       api,
	}
	ci := vk.InstanceCreateInfo{
		SType:                   vk.StructureTypeInstanceCreateInfo,
		PApplicationInfo:        &app,
		EnabledLayerCount:       uint32(len(layers)),
		PpEnabledLayerNames:     layers,
		EnabledExtensionCount:   uint32(len(exts)),
		PpEnabledExtensionNames: exts,
	}
	var handle vk.Instance
	if res := vk.CreateInstance(&ci, nil, &handle); res != vk.Success {
		return nil, fmt.Errorf("%w: vkCreateInstance: %v; %s", ErrNoVulkan, vk.Error(res), installHint)
	}
	if err := vk.InitInstance(handle); err != nil {
		return nil, fmt.Errorf("vk: loading instance functions: %w", err)
	}
	inst := &instance{gipa: gipa, handle: handle, api: api, validation: validation}
	inst.wsiExts = wsiExts
	if validation {
		var ok C.int
		inst.debug = C.tsr_debug_create(gipa, C.VkInstance(unsafe.Pointer(handle)), &ok)
	}
	if err := inst.enumerate(); err != nil {
		return nil, err
	}
	registry.inst = inst
	return inst, nil
}

func hasInstanceLayer(name string) bool {
	var n uint32
	if vk.EnumerateInstanceLayerProperties(&n, nil) != vk.Success || n == 0 {
		return false
	}
	props := make([]vk.LayerProperties, n)
	if vk.EnumerateInstanceLayerProperties(&n, props) != vk.Success {
		return false
	}
	for _, p := range props {
		p.Deref()
		if vk.ToString(p.LayerName[:]) == name {
			return true
		}
	}
	return false
}

func hasInstanceExtension(name string) bool {
	// The validation layer provides debug utils itself; ask it and the loader.
	for _, layer := range []string{"", cstr(validationLayer)} {
		var n uint32
		if vk.EnumerateInstanceExtensionProperties(layer, &n, nil) != vk.Success || n == 0 {
			continue
		}
		props := make([]vk.ExtensionProperties, n)
		if vk.EnumerateInstanceExtensionProperties(layer, &n, props) != vk.Success {
			continue
		}
		for _, p := range props {
			p.Deref()
			if vk.ToString(p.ExtensionName[:]) == name {
				return true
			}
		}
	}
	return false
}

// takeValidationMessages drains the validation layer's pending messages.
func (inst *instance) takeValidationMessages() []string {
	if inst.debug == nil {
		return nil
	}
	var out []string
	buf := make([]C.char, 2048)
	for C.tsr_debug_take(inst.debug, &buf[0], C.int(len(buf))) != 0 {
		out = append(out, C.GoString(&buf[0]))
	}
	return out
}

// ValidationEnabled reports whether the Khronos validation layer is active
// (TESSERA_VALIDATION=1 and the layer installed).
func ValidationEnabled() bool {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	inst, err := loadInstance()
	return err == nil && inst.validation
}

// TakeValidationMessages returns and clears the validation layer's messages
// (warnings and errors) since the last call. Tests fail on any.
func TakeValidationMessages() []string {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.inst == nil {
		return nil
	}
	return registry.inst.takeValidationMessages()
}

// Devices lists every physical device the Vulkan loader reports.
func Devices() ([]DeviceInfo, error) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	inst, err := loadInstance()
	if err != nil {
		return nil, err
	}
	return append([]DeviceInfo(nil), inst.infos...), nil
}

// Default opens (once per process) the device chosen by TESSERA_DEVICE, or the
// best one by type: discrete > integrated > virtual > CPU.
func Default() (*Device, error) {
	infos, err := Devices()
	if err != nil {
		return nil, err
	}
	idx, err := Pick(infos, os.Getenv("TESSERA_DEVICE"))
	if err != nil {
		return nil, err
	}
	return Open(idx)
}

// Open opens physical device index (as listed by Devices), or returns the
// already-open Device for it.
func Open(index int) (*Device, error) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	inst, err := loadInstance()
	if err != nil {
		return nil, err
	}
	if index < 0 || index >= len(inst.infos) {
		return nil, fmt.Errorf("vk: no device %d (there are %d; see `tessera devices`)", index, len(inst.infos))
	}
	if d := registry.devices[index]; d != nil {
		return d, nil
	}
	d, err := newDevice(inst, index)
	if err != nil {
		return nil, err
	}
	if registry.devices == nil {
		registry.devices = map[int]*Device{}
	}
	registry.devices[index] = d
	return d, nil
}

// Pick chooses a device: selector is an index or a case-insensitive
// substring of the name; empty picks by type.
func Pick(infos []DeviceInfo, selector string) (int, error) {
	if len(infos) == 0 {
		return 0, fmt.Errorf("%w: the loader found no Vulkan devices; %s", ErrNoVulkan, installHint)
	}
	selector = strings.TrimSpace(selector)
	if selector != "" {
		var idx int
		if _, err := fmt.Sscanf(selector, "%d", &idx); err == nil && fmt.Sprint(idx) == selector {
			if idx < 0 || idx >= len(infos) {
				return 0, fmt.Errorf("vk: TESSERA_DEVICE=%s: no such device index (0..%d)", selector, len(infos)-1)
			}
			return idx, nil
		}
		for i, info := range infos {
			if strings.Contains(strings.ToLower(info.Name), strings.ToLower(selector)) {
				return i, nil
			}
		}
		names := make([]string, len(infos))
		for i, info := range infos {
			names[i] = fmt.Sprintf("%d: %s", i, info.Name)
		}
		return 0, fmt.Errorf("vk: TESSERA_DEVICE=%q matches no device (have %s)", selector, strings.Join(names, "; "))
	}
	best := 0
	for i, info := range infos {
		if info.Type.rank() > infos[best].Type.rank() {
			best = i
		}
	}
	return best, nil
}

// CloseAll closes every open device (printing TESSERA_PROFILE tables) and
// returns the first error.
func CloseAll() error {
	registry.mu.Lock()
	devs := make([]*Device, 0, len(registry.devices))
	for _, d := range registry.devices {
		devs = append(devs, d)
	}
	registry.mu.Unlock()
	var first error
	for _, d := range devs {
		if err := d.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
