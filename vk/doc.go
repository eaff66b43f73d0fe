// Package vk is Tessera's Vulkan runtime and the only package that imports
// vulkan-go. It opens the Vulkan loader itself (libvulkan.so.1), lists and
// picks physical devices, and gives each opened Device four things:
//
//   - a caching sub-allocator over large device-memory blocks (Range is one
//     allocation; live and peak bytes are countable, out-of-memory is an
//     error value);
//   - compute kernels: one pipeline per (shader, specialization constants),
//     built on first use and cached, bound with push descriptors where the
//     driver has VK_KHR_push_descriptor and pooled descriptor sets otherwise;
//   - a stream that records dispatches and copies without waiting, emits a
//     barrier only before a command that touches a range an earlier,
//     unsynchronised command wrote (or writes one it read), and submits on
//     read-back, Flush, or a size threshold;
//   - an optional per-kernel profiler (TESSERA_PROFILE=1) built on timestamp
//     queries.
//
// Hot-path recording (bind, push constants, dispatch, barriers) goes through
// a small C shim (shim.c) so one dispatch costs one cgo call, and so that no
// Go pointer ever sits inside a C struct. vulkan-go covers the rest.
//
// The device registry (Devices, Default, Open) is the package's only global
// state: a Vulkan instance is process-wide by nature.
package vk
