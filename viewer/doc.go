// Package viewer is Tessera's live window: a GLFW window whose swapchain
// images are composed by compute shaders on the device the engine trains
// on, showing image grids (originals, reconstructions), token maps that
// fill in cell by cell, heat maps (code usage) and loss curves, with
// captions and a status line drawn from a bitmap font.
//
// Image data never round-trips through the host: Post copies the frame's
// tensors into a device buffer of the viewer's (device-to-device copies on
// the engine's stream, so training may reuse the tensors at once), the
// window thread composes the newest posted frame with one compute pass into
// a buffer of packed pixels, and that buffer is copied into the acquired
// swapchain image and presented (vk.Swapchain). Only curve samples, which
// live on the host anyway, are uploaded.
//
// Run is the entry point: it opens the window on the calling (main)
// goroutine, runs the training body in another goroutine and the window's
// event loop on the main thread, and returns the body's error. Posting
// never blocks training: the newest frame wins. Closing the window closes
// Viewer.Closed, calls Options.OnClose and turns Post into a no-op while
// training goes on. Without a display (DISPLAY unset, no X server, a
// device that cannot present) frames are written as PNGs instead, and one
// line says so.
//
// A sketch of `tessera vae train --view`:
//
//	err := viewer.Run(ctx, dev, viewer.Options{Title: "vae train", Dir: filepath.Join(cfg.Out, "view")},
//		func(ctx context.Context, v *viewer.Viewer) error {
//			var losses []float32
//			_, err := vae.Train(ctx, tp, m, train, eval, cfg, func(p vae.Progress) {
//				losses = append(losses, float32(p.Loss))
//				if p.Step%50 == 0 {
//					// x, rec: device tensors [B, C, H, W] of a fixed held-out
//					// batch and its reconstruction, made in this goroutine.
//					v.Post(&viewer.Frame{
//						Panels: []viewer.Panel{
//							&viewer.Images{Caption: "originals / reconstructions", Tensors: []*tensor.Tensor{x, rec}},
//							&viewer.Curve{Caption: "loss", LogY: true, Series: []viewer.Series{{Name: "train", Values: losses}}},
//						},
//						Status: fmt.Sprintf("step %d/%d loss %.4f", p.Step, p.Steps, p.Loss),
//					})
//				}
//			})
//			return err
//		})
//
// GLFW runs on the process's main thread: the package locks the main
// goroutine to it at init, so call Run from main's goroutine (cli commands
// run there), or wrap main in Main. Building with -tags tessera_headless
// (or headless) leaves GLFW and X11 out: windows then fail with
// ErrBuiltHeadless and Run writes PNGs.
package viewer
