package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/internal/cli"
	"github.com/tessera-ml/tessera/models/data"
	"github.com/tessera-ml/tessera/models/metrics"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/models/safetensors"
	"github.com/tessera-ml/tessera/models/vae"
	"github.com/tessera-ml/tessera/tensor"
	"github.com/tessera-ml/tessera/viewer"
	"github.com/tessera-ml/tessera/vk"
)

func vaeCommand() *cli.Command {
	return &cli.Command{
		Name:    "vae",
		Summary: "Train continuous VAEs and reconstruct images with them",
		Sub:     []*cli.Command{vaeTrainCommand(), vaeReconstructCommand()},
	}
}

// vaeWeightsName is the file vae train writes the final weights to in --out.
const vaeWeightsName = "vae.safetensors"

func vaeTrainCommand() *cli.Command {
	cfg := vae.DefaultTrainConfig()
	var (
		preset    string
		trainSize int
		dataSpec  string
		skipBad   bool
		quiet     bool
		view      viewFlags
	)
	return &cli.Command{
		Name:    "train",
		Summary: "Train a VAE preset on a data set (default: bundled Fashion-MNIST), reporting held-out PSNR/SSIM",
		Long: "Trains on the first --train images of --data (the bundled Fashion-MNIST\n" +
			"split by default, fed as the preset's channels) and evaluates on the rest\n" +
			"(at most --eval of them): loss\n" +
			"--l1·L1 + --mse·MSE + --kl·KL, AdamW with a cosine schedule, gradient norm\n" +
			"clipped to --clip. Every --every steps it writes a checkpoint and a grid of\n" +
			"originals above reconstructions into --out; --resume continues exactly from\n" +
			"the latest checkpoint there. The final weights go to --out/" + vaeWeightsName + ".\n" +
			"--gan-weight W > 0 adds a PatchGAN discriminator (taming-transformers', GroupNorm\n" +
			"for BatchNorm) with hinge loss from step --gan-start: the loss gains\n" +
			"W·λ·(−mean D(x̂)), λ taming's adaptive weight, and D takes an AdamW step per step\n" +
			"(its checkpoints go to --out/checkpoints/disc).",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&preset, "preset", "small-4x", "model preset (small-4x for 28 px images)")
			fs.IntVar(&cfg.Epochs, "epochs", cfg.Epochs, "passes over the training images")
			fs.IntVar(&cfg.Batch, "batch", cfg.Batch, "images per step")
			fs.Float64Var(&cfg.LR, "lr", cfg.LR, "peak learning rate (cosine decay to 0)")
			fs.Float64Var(&cfg.WeightDecay, "weight-decay", cfg.WeightDecay, "AdamW weight decay (not on norms and biases)")
			fs.Float64Var(&cfg.L1, "l1", cfg.L1, "weight of the L1 reconstruction loss")
			fs.Float64Var(&cfg.MSE, "mse", cfg.MSE, "weight of the MSE reconstruction loss")
			fs.Float64Var(&cfg.KL, "kl", cfg.KL, "weight of the KL term")
			fs.Float64Var(&cfg.Clip, "clip", cfg.Clip, "gradient-norm clip (0: none)")
			fs.Float64Var(&cfg.EMA, "ema", cfg.EMA, "EMA decay of the weights for evaluation and the result (0: none)")
			fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed for initialisation, shuffling and posterior samples")
			fs.IntVar(&trainSize, "train", 0, "training images: the first --train of the data set, the rest held out (0: the first 80%)")
			fs.StringVar(&dataSpec, "data", "fashion-mnist", "data set: fashion-mnist (bundled), an image folder (class subfolders or flat), CIFAR-10 .bin files (comma-separated), or IMAGES,LABELS IDX files")
			fs.BoolVar(&skipBad, "skip-bad", false, "skip (and count) image files that cannot be decoded instead of failing")
			fs.IntVar(&cfg.EvalImages, "eval", cfg.EvalImages, "held-out images evaluated (0: all)")
			fs.StringVar(&cfg.Out, "out", "vae-out", "directory for checkpoints, grids and the final weights")
			fs.IntVar(&cfg.Every, "every", cfg.Every, "steps between evaluations, grids and checkpoints (0: only at the end)")
			fs.BoolVar(&cfg.Resume, "resume", false, "continue from the latest checkpoint in --out")
			fs.IntVar(&cfg.MaxSteps, "max-steps", 0, "stop (with a checkpoint) after this many steps in all; 0 runs to the end")
			fs.Float64Var(&cfg.GANWeight, "gan-weight", 0, "weight of the PatchGAN adversarial loss (0: no GAN)")
			fs.IntVar(&cfg.GANStart, "gan-start", 0, "step from which the GAN trains")
			fs.IntVar(&cfg.DiscLayers, "disc-layers", 2, "PatchGAN stride-2 layers (2 for 28 px images)")
			fs.IntVar(&cfg.DiscCh, "disc-ch", 32, "PatchGAN first-layer channels")
			fs.BoolVar(&quiet, "quiet", false, "no progress bar")
			view.register(fs)
		},
		Run: func(ctx context.Context, _ *flag.FlagSet, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments: %q", args)
			}
			if cfg.Epochs < 1 || cfg.Batch < 1 || trainSize < 0 {
				return cli.Usagef("need --epochs ≥ 1, --batch ≥ 1 and --train ≥ 0")
			}
			if cfg.Out == "" {
				return cli.Usagef("--out must name a directory")
			}
			if cfg.GANWeight < 0 || cfg.GANStart < 0 || cfg.DiscLayers < 1 || cfg.DiscCh < 1 {
				return cli.Usagef("need --gan-weight ≥ 0, --gan-start ≥ 0, --disc-layers ≥ 1 and --disc-ch ≥ 1")
			}
			mcfg, err := vae.Preset(preset)
			if err != nil {
				return cli.Usagef("%v", err)
			}
			train, eval, err := openSplit(splitSpec{Data: dataSpec, Size: mcfg.Resolution, Channels: mcfg.InChannels,
				Train: trainSize, Batch: cfg.Batch, SkipBad: skipBad, Seed: cfg.Seed, Model: "preset " + preset})
			if err != nil {
				return err
			}
			dev, err := vk.Default()
			if err != nil {
				return err
			}
			tp := autograd.NewTape(tensor.New(dev))
			m := vae.New(nn.NewBuilder(tp, cfg.Seed), mcfg)
			defer nn.Release(m)
			total, _ := nn.ParamCount(m)
			errw := cli.Stderr(ctx)
			fmt.Fprintf(errw, "training a %d-parameter %s VAE on %d images of %s (%d held out) on %s\n",
				total, preset, train.Len(), dataSpec, eval.Len(), dev.Info)
			preview, nPreview, err := previewImages(eval, view.images)
			if err != nil {
				return err
			}
			var res vae.Result
			c, h, w := eval.Shape()
			err = trainLive(ctx, dev, &view, "tessera vae train", cfg.Out, quiet, func(stop func() bool, report func(liveStep)) error {
				var lastEval string
				cfg.Stop = stop
				var err error
				res, err = vae.Train(ctx, tp, m, train, eval, cfg, func(p vae.Progress) {
					gan := ""
					if p.GAN {
						gan = fmt.Sprintf(" D %.4f lambda %.3g", p.DiscLoss, p.GANLambda)
					}
					if p.Evaluated {
						lastEval = fmt.Sprintf(" PSNR %.2f SSIM %.3f", p.PSNR, p.SSIM)
						if quiet {
							fmt.Fprintf(errw, "step %d/%d loss %.4f%s held-out%s\n", p.Step, p.Steps, p.Loss, gan, lastEval)
						}
					}
					// The VAE reports no MSE or batch PSNR: the curves show the loss.
					report(liveStep{step: p.Step, steps: p.Steps, loss: p.Loss, mse: p.Loss, psnr: p.PSNR,
						desc: fmt.Sprintf("epoch %d loss %.4f%s%s %4.0f img/s", p.Epoch, p.Loss, gan, lastEval, float64(p.Images)/p.Elapsed.Seconds()),
						post: func(v *viewer.Viewer, cv *curves, status string) error {
							return postVAEFrame(v, tp, m, preview, nPreview, c, h, w, cv, status)
						}})
				})
				return err
			})
			if err != nil {
				return err
			}
			if reportResume(ctx, res.Resumed, res.Steps, res.Stopped) {
				return nil
			}
			evalN := eval.Len()
			if cfg.EvalImages > 0 {
				evalN = min(evalN, cfg.EvalImages)
			}
			fmt.Fprintf(cli.Stdout(ctx), "held-out PSNR %.2f dB SSIM %.4f on %d images; %d steps, trained %d images in %s, last-epoch train loss %.4f\n",
				res.EvalPSNR, res.EvalSSIM, evalN, res.Steps, res.Images, res.Elapsed.Round(time.Second), res.TrainLoss)
			out := filepath.Join(cfg.Out, vaeWeightsName)
			meta := map[string]string{"model": "vae.VAE", "preset": preset,
				"eval_psnr": fmt.Sprintf("%.4f", res.EvalPSNR), "eval_ssim": fmt.Sprintf("%.4f", res.EvalSSIM),
				"command": fmt.Sprint(os.Args[1:])}
			if err := nn.Save(out, m, safetensors.F32, meta); err != nil {
				return err
			}
			fmt.Fprintf(errw, "wrote %s\n", out)
			return nil
		},
	}
}

func vaeReconstructCommand() *cli.Command {
	var (
		preset, weights, out string
		skip, count, size    int
	)
	return &cli.Command{
		Name:    "reconstruct",
		Summary: "Reconstruct images with trained VAE weights; write side-by-side PNGs, print PSNR/SSIM",
		Long: "Without arguments it reconstructs --count bundled Fashion-MNIST images from\n" +
			"index --skip; otherwise the image files and folders given (folders read flat,\n" +
			"centre-cropped to --size). Each image is written to --out as a PNG with the\n" +
			"original on the left and the reconstruction (posterior mean) on the right.",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&preset, "preset", "small-4x", "model preset the weights were trained with")
			fs.StringVar(&weights, "weights", "", "weights: `vae train` output, FLUX's ae.safetensors, a diffusers AutoencoderKL folder or a PyTorch .ckpt (default: the embedded small-4x Fashion-MNIST weights)")
			fs.IntVar(&skip, "skip", 8000, "first bundled image (8000: the held-out part)")
			fs.IntVar(&count, "count", 16, "bundled images to reconstruct")
			fs.IntVar(&size, "size", 0, "image side for files (0: the preset's resolution)")
			fs.StringVar(&out, "out", "vae-recon", "directory for the PNGs")
		},
		Run: func(ctx context.Context, _ *flag.FlagSet, args []string) error {
			if weights == "" && preset != vae.PretrainedPreset {
				return cli.Usagef("--weights is required for preset %s (the embedded weights are %s)", preset, vae.PretrainedPreset)
			}
			mcfg, err := vae.Preset(preset)
			if err != nil {
				return cli.Usagef("%v", err)
			}
			if size <= 0 {
				size = mcfg.Resolution
			}
			ds, names, cleanup, err := reconstructInputs(args, mcfg, skip, count, size)
			if err != nil {
				return err
			}
			defer cleanup()
			dev, err := vk.Default()
			if err != nil {
				return err
			}
			tp := autograd.NewTape(tensor.New(dev))
			var m *vae.VAE
			if weights == "" {
				if m, err = vae.Pretrained(nn.NewBuilder(tp, 0)); err != nil {
					return err
				}
			} else {
				m = vae.New(nn.NewBuilder(tp, 0), mcfg)
				if _, err := vae.LoadWeights(weights, m); err != nil {
					nn.Release(m)
					return err
				}
			}
			defer nn.Release(m)
			nn.SetTraining(m, false)
			c, h, w := ds.Shape()
			var psnr, ssim float64
			const batch = 32
			for i := 0; i < ds.Len(); i += batch {
				if err := ctx.Err(); err != nil {
					return err
				}
				k := min(batch, ds.Len()-i)
				imgs := make([]float32, 0, k*c*h*w)
				for j := range k {
					img, _, err := ds.Get(i + j)
					if err != nil {
						return err
					}
					imgs = append(imgs, img...)
				}
				rec, oh, ow, err := vae.Reconstruct(tp, m, imgs, k, c, h, w)
				if err != nil {
					return err
				}
				if oh != h || ow != w {
					return fmt.Errorf("reconstructions are %d×%d for %d×%d images: --size must be a multiple of %d", oh, ow, h, w, mcfg.Factor())
				}
				p, err := metrics.PSNR(imgs, rec, k, c, h, w)
				if err != nil {
					return err
				}
				s, err := metrics.SSIM(imgs, rec, k, c, h, w)
				if err != nil {
					return err
				}
				psnr += p * float64(k)
				ssim += s * float64(k)
				size := c * h * w
				for j := range k {
					// One image per PNG: original | reconstruction.
					pair := make([]float32, 0, 2*size)
					pair = append(append(pair, imgs[j*size:(j+1)*size]...), rec[j*size:(j+1)*size]...)
					path := filepath.Join(out, names[i+j]+".png")
					if err := vae.WritePNG(path, vae.Grid([][]float32{pair}, 2, c, h, w)); err != nil {
						return err
					}
				}
			}
			n := float64(ds.Len())
			fmt.Fprintf(cli.Stdout(ctx), "PSNR %.2f dB SSIM %.4f on %d images; wrote %s\n", psnr/n, ssim/n, ds.Len(), out)
			return nil
		},
	}
}

// reconstructInputs returns the images to reconstruct and an output name
// for each: bundled Fashion-MNIST images without args, else the files and
// flat folders in args (files are linked into a temporary folder so that
// data.OpenFolder decodes and crops everything the same way).
func reconstructInputs(args []string, mcfg vae.Config, skip, count, size int) (data.Dataset, []string, func(), error) {
	noop := func() {}
	if len(args) == 0 {
		ds, err := data.FashionMNIST()
		if err != nil {
			return nil, nil, noop, err
		}
		if skip < 0 || count < 1 || skip+count > ds.Len() {
			return nil, nil, noop, cli.Usagef("need --skip ≥ 0, --count ≥ 1 and --skip + --count ≤ %d", ds.Len())
		}
		_, rest := ds.Split(skip)
		part, _ := rest.Split(count)
		names := make([]string, count)
		for i := range names {
			names[i] = fmt.Sprintf("fashion-%05d", skip+i)
		}
		return part.Channels(mcfg.InChannels), names, noop, nil
	}
	tmp, err := os.MkdirTemp("", "tessera-vae-")
	if err != nil {
		return nil, nil, noop, err
	}
	cleanup := func() { os.RemoveAll(tmp) }
	n := 0
	link := func(path string) error {
		abs, err := filepath.Abs(path)
		if err != nil {
			return err
		}
		n++
		return os.Symlink(abs, filepath.Join(tmp, fmt.Sprintf("%06d-%s", n, filepath.Base(path))))
	}
	for _, a := range args {
		info, err := os.Stat(a)
		if err != nil {
			cleanup()
			return nil, nil, noop, err
		}
		if !info.IsDir() {
			if err := link(a); err != nil {
				cleanup()
				return nil, nil, noop, err
			}
			continue
		}
		f, err := data.OpenFolder(a, data.FolderOptions{Size: size, Channels: mcfg.InChannels, Flat: true})
		if err != nil {
			cleanup()
			return nil, nil, noop, err
		}
		for i := range f.Len() {
			if err := link(f.Path(i)); err != nil {
				cleanup()
				return nil, nil, noop, err
			}
		}
	}
	f, err := data.OpenFolder(tmp, data.FolderOptions{Size: size, Channels: mcfg.InChannels, Flat: true})
	if err != nil {
		cleanup()
		return nil, nil, noop, err
	}
	if f.Len() == 0 {
		cleanup()
		return nil, nil, noop, cli.Usagef("no images (.png, .jpg, .webp) in %q", args)
	}
	names := make([]string, f.Len())
	for i := range names {
		base := filepath.Base(f.Path(i))
		names[i] = strings.TrimSuffix(base, filepath.Ext(base))
	}
	return f, names, cleanup, nil
}
