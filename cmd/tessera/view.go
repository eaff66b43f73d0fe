package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/internal/cli"
	"github.com/tessera-ml/tessera/models/coda"
	"github.com/tessera-ml/tessera/models/data"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/models/vae"
	"github.com/tessera-ml/tessera/tensor"
	"github.com/tessera-ml/tessera/viewer"
	"github.com/tessera-ml/tessera/vk"
)

// viewFlags are the live-view flags of the training commands.
type viewFlags struct {
	on, headless, stop bool
	every, images      int
	dir                string
}

func (f *viewFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.on, "view", false, "show training live in a window (PNG frames in --view-dir when there is no display)")
	fs.IntVar(&f.every, "view-every", 10, "steps between live-view frames")
	fs.IntVar(&f.images, "view-images", 8, "held-out images shown in the live view")
	fs.StringVar(&f.dir, "view-dir", "", "folder for headless frames and screenshots (default: --out/view)")
	fs.BoolVar(&f.headless, "view-headless", false, "never open a window: write the live view's frames as PNGs")
	fs.BoolVar(&f.stop, "view-stop", false, "closing the window stops training cleanly with a checkpoint (default: training goes on headless)")
}

// run calls body with a viewer when --view is on (nil otherwise);
// stop reports whether the user closed the window with --view-stop.
func (f *viewFlags) run(ctx context.Context, dev *vk.Device, title, out string, body func(ctx context.Context, v *viewer.Viewer, stop func() bool) error) error {
	if !f.on {
		return body(ctx, nil, nil)
	}
	dir := f.dir
	if dir == "" {
		dir = filepath.Join(out, "view")
	}
	var closed atomic.Bool
	opts := viewer.Options{Title: title, Dir: dir, Headless: f.headless, Interval: 100 * time.Millisecond,
		Log: cli.Stderr(ctx), OnClose: func() {
			closed.Store(true)
			if f.stop {
				fmt.Fprintln(cli.Stderr(ctx), "viewer closed: stopping after this step (--view-stop)")
			} else {
				fmt.Fprintln(cli.Stderr(ctx), "viewer closed: training goes on")
			}
		}}
	var stop func() bool
	if f.stop {
		stop = closed.Load
	}
	return viewer.Run(ctx, dev, opts, func(ctx context.Context, v *viewer.Viewer) error { return body(ctx, v, stop) })
}

// curves collects loss and PSNR series for the live view.
type curves struct {
	loss, mse, psnr []float32
}

func (c *curves) add(loss, mse, psnr float64) {
	c.loss = append(c.loss, float32(loss))
	c.mse = append(c.mse, float32(mse))
	c.psnr = append(c.psnr, float32(psnr))
}

func (c *curves) panels() []viewer.Panel {
	return []viewer.Panel{
		&viewer.Curve{Caption: "loss (log)", LogY: true, Series: []viewer.Series{{Name: "loss", Values: c.loss}, {Name: "mse", Values: c.mse}}},
		&viewer.Curve{Caption: "PSNR (batch, dB)", Series: []viewer.Series{{Name: "psnr", Values: c.psnr}}},
	}
}

// previewImages reads the first n images of ds for the live view.
func previewImages(ds data.Dataset, n int) ([]float32, int, error) {
	n = min(max(n, 1), ds.Len())
	var imgs []float32
	for i := range n {
		img, _, err := ds.Get(i)
		if err != nil {
			return nil, 0, err
		}
		imgs = append(imgs, img...)
	}
	return imgs, n, nil
}

// postTokenizerFrame shows originals, reconstructions, the reconstruction
// from levels 1..K, code recency and the curves.
func postTokenizerFrame(v *viewer.Viewer, tp *autograd.Tape, t *coda.Tokenizer, imgs []float32, n int, c *curves, lastUsed []int, status string) error {
	e := tp.Engine()
	vc := t.Cfg.VAE
	var err error
	nn.SetTraining(t, false)
	defer nn.SetTraining(t, true)
	tp.NoGrad(func() {
		s := e.Scope()
		defer s.Close()
		x := e.FromFloat32(imgs, n, vc.InChannels, vc.Resolution, vc.Resolution)
		var ids []*tensor.Tensor
		if ids, err = t.Encode(tp.Const(x), 1); err != nil {
			return
		}
		levels := make([]*tensor.Tensor, 0, len(ids))
		for k := 1; k <= len(ids); k++ {
			var y *autograd.Var
			if y, err = t.Decode(ids, k); err != nil {
				return
			}
			levels = append(levels, y.Value)
		}
		rec := levels[len(levels)-1]
		panels := []viewer.Panel{
			&viewer.Images{Caption: "held-out originals / reconstructions", Tensors: []*tensor.Tensor{x, rec}},
			&viewer.Images{Caption: fmt.Sprintf("levels 1..%d (coarse to fine)", len(levels)), Tensors: levels},
		}
		if len(lastUsed) > 0 {
			used := make([]float32, len(lastUsed))
			for i, u := range lastUsed {
				used[i] = float32(u)
			}
			panels = append(panels, &viewer.HeatMap{Caption: "codes: step last used (blue: never/long ago)", Values: e.FromFloat32(used, len(used))})
		}
		panels = append(panels, c.panels()...)
		v.Post(&viewer.Frame{Panels: panels, Status: status})
	})
	return err
}

// postVAEFrame shows originals, reconstructions and the curves.
func postVAEFrame(v *viewer.Viewer, tp *autograd.Tape, m *vae.VAE, imgs []float32, n, c, h, w int, cv *curves, status string) error {
	e := tp.Engine()
	var err error
	nn.SetTraining(m, false)
	defer nn.SetTraining(m, true)
	tp.NoGrad(func() {
		s := e.Scope()
		defer s.Close()
		x := e.FromFloat32(imgs, n, c, h, w)
		y := m.Decode(m.Encode(tp.Const(x)).Mode())
		if err = y.Value.Err(); err != nil {
			return
		}
		panels := append([]viewer.Panel{&viewer.Images{Caption: "held-out originals / reconstructions", Tensors: []*tensor.Tensor{x, y.Value}}}, cv.panels()...)
		v.Post(&viewer.Frame{Panels: panels, Status: status})
	})
	return err
}

func viewCommand() *cli.Command {
	var (
		src      tokenSource
		dir      string
		headless bool
	)
	return &cli.Command{
		Name:    "view",
		Summary: "Browse a tokenizer's reconstructions in a window: arrows step, digits pick levels, s saves, q quits",
		Long: "Shows --batch images of --data at a time (from --skip, --count in all) above\n" +
			"their reconstructions by --tokenizer (default: the embedded one), with the\n" +
			"token maps of the finest level. Keys: ←/→ (or PgUp/PgDn) previous/next batch,\n" +
			"1-9 decode only the first N levels, 0 all levels, s screenshot PNG into --dir,\n" +
			"q or Esc quit; the mouse wheel zooms. Without a display it writes the first\n" +
			"frame as a PNG into --dir and says so.",
		Flags: func(fs *flag.FlagSet) {
			src.register(fs, 8000, 0, 8, "images to browse (0: all after --skip)")
			fs.StringVar(&dir, "dir", "view-out", "folder for screenshots and headless frames")
			fs.BoolVar(&headless, "headless", false, "never open a window: write the first frame as a PNG")
		},
		Run: func(ctx context.Context, _ *flag.FlagSet, args []string) error {
			tp, dev, t, ds, err := src.open(args)
			if err != nil {
				return err
			}
			defer nn.Release(t)
			batch := src.batch
			// Requests from the window's key handler to the body.
			type request struct{ move, levels int }
			reqs := make(chan request, 16)
			opts := viewer.Options{Title: "tessera view", Dir: dir, Headless: headless, Log: cli.Stderr(ctx),
				OnKey: func(k viewer.KeyEvent) bool {
					var r request
					switch {
					case k.Key == viewer.KeyRight || k.Key == viewer.KeyPageDown || k.Key == viewer.KeySpace:
						r = request{move: 1, levels: -1}
					case k.Key == viewer.KeyLeft || k.Key == viewer.KeyPageUp:
						r = request{move: -1, levels: -1}
					case k.Key >= '0' && k.Key <= '9':
						r = request{levels: int(k.Key - '0')}
					default:
						return false
					}
					select { // never block the window's thread
					case reqs <- r:
					default:
					}
					return true
				}}
			return viewer.Run(ctx, dev, opts, func(ctx context.Context, v *viewer.Viewer) error {
				pos, levels := 0, 0
				pages := (ds.Len() + batch - 1) / batch
				for {
					if err := postBrowseFrame(v, tp, t, ds, pos*batch, batch, levels); err != nil {
						return err
					}
					if v.Headless() {
						// One frame is the output; give the writer its interval.
						time.Sleep(200 * time.Millisecond)
						return nil
					}
					select {
					case <-ctx.Done():
						return nil
					case <-v.Closed():
						return nil
					case r := <-reqs:
						pos = (pos + r.move + pages) % pages
						if r.levels >= 0 {
							levels = min(r.levels, t.Levels())
						}
					}
				}
			})
		},
	}
}

// postBrowseFrame shows images [from, from+n) of ds, their reconstruction
// from levels levels (0: all) and the finest decoded level's token maps.
func postBrowseFrame(v *viewer.Viewer, tp *autograd.Tape, t *coda.Tokenizer, ds data.Dataset, from, n, levels int) error {
	n = min(n, ds.Len()-from)
	c, h, w := ds.Shape()
	imgs := make([]float32, 0, n*c*h*w)
	for i := range n {
		img, _, err := ds.Get(from + i)
		if err != nil {
			return err
		}
		imgs = append(imgs, img...)
	}
	K := t.Levels()
	if levels <= 0 || levels > K {
		levels = K
	}
	e := tp.Engine()
	var err error
	nn.SetTraining(t, false)
	tp.NoGrad(func() {
		s := e.Scope()
		defer s.Close()
		x := e.FromFloat32(imgs, n, c, h, w)
		var ids []*tensor.Tensor
		if ids, err = t.Encode(tp.Const(x), 1); err != nil {
			return
		}
		var y *autograd.Var
		if y, err = t.Decode(ids, levels); err != nil {
			return
		}
		v.Post(&viewer.Frame{
			Panels: []viewer.Panel{
				&viewer.Images{Caption: fmt.Sprintf("images %d-%d / reconstruction from %d of %d levels", from, from+n-1, levels, K), Tensors: []*tensor.Tensor{x, y.Value}},
				&viewer.Tokens{Caption: fmt.Sprintf("level %d tokens (%dx%d)", levels, t.Cfg.Quant.Scales[levels-1], t.Cfg.Quant.Scales[levels-1]), IDs: ids[levels-1]},
			},
			Columns: 1,
			Status:  fmt.Sprintf("%d/%d  left/right: batch  1-9: levels (0: all)  s: screenshot  q: quit  wheel: zoom", from/max(n, 1)+1, (ds.Len()+n-1)/max(n, 1)),
		})
	})
	return err
}

// liveStep is one training step as the progress bar and the live view
// see it: the bar's description, and (for the view) the step's curve
// values and how to draw a frame.
type liveStep struct {
	step, steps     int
	desc            string
	loss, mse, psnr float64
	post            func(v *viewer.Viewer, c *curves, status string) error
}

// trainLive runs a training loop under the progress bar and, with --view,
// the live view: train calls report after every step and must pass stop
// (non-nil with --view-stop) on to the trainer. It returns train's error,
// or the first error drawing a frame.
func trainLive(ctx context.Context, dev *vk.Device, vf *viewFlags, title, out string, quiet bool,
	train func(stop func() bool, report func(liveStep)) error) error {
	return vf.run(ctx, dev, title, out, func(ctx context.Context, v *viewer.Viewer, stop func() bool) error {
		bar := &stepBar{w: cli.Stderr(ctx)}
		var cv curves
		var perr error
		report := func(s liveStep) {
			if v != nil {
				cv.add(s.loss, s.mse, s.psnr)
				if (s.step%max(vf.every, 1) == 0 || s.step == s.steps) && perr == nil {
					perr = s.post(v, &cv, fmt.Sprintf("step %d/%d  %s", s.step, s.steps, s.desc))
				}
			}
			if !quiet {
				bar.update(s.step, s.steps, s.desc)
			}
		}
		err := train(stop, report)
		bar.finish()
		if err == nil {
			err = perr
		}
		return err
	})
}

// reportResume says where a run resumed and whether it stopped early;
// done is true when it stopped (nothing more to write).
func reportResume(ctx context.Context, resumed, steps int, stopped bool) (done bool) {
	if resumed > 0 {
		fmt.Fprintf(cli.Stderr(ctx), "resumed from step %d\n", resumed)
	}
	if stopped {
		fmt.Fprintf(cli.Stdout(ctx), "stopped after step %d; continue with --resume\n", steps)
	}
	return stopped
}
