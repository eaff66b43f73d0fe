// Package viewer will hold Tessera's live window: a GLFW window whose
// swapchain images are composed by compute shaders on the device the
// engine trains on, showing reconstructions, per-level decodes, loss curves
// and MaskGIT's unmasking as they happen. It has no code yet; training
// commands run headless.
package viewer
