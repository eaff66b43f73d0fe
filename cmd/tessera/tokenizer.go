package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/internal/cli"
	"github.com/tessera-ml/tessera/models/coda"
	"github.com/tessera-ml/tessera/models/data"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/models/quant"
	"github.com/tessera-ml/tessera/models/vae"
	"github.com/tessera-ml/tessera/tensor"
	"github.com/tessera-ml/tessera/viewer"
	"github.com/tessera-ml/tessera/vk"
)

func tokenizerCommand() *cli.Command {
	return &cli.Command{
		Name:    "tokenizer",
		Summary: "Adapt a continuous VAE into a CODA tokenizer; evaluate, ablate, encode, decode, import",
		Sub: []*cli.Command{tokenizerTrainCommand(), tokenizerEvalCommand(), tokenizerAblateCommand(),
			tokenizerEncodeCommand(), tokenizerDecodeCommand(), tokenizerImportCommand(), tokenizerExportCommand()},
	}
}

// tokenizerName is the file tokenizer train writes the final (EMA)
// tokenizer to in --out.
const tokenizerName = "tokenizer.safetensors"

// archFlags are the flags that define a new tokenizer.
type archFlags struct {
	vaePath, preset    string
	kind, assign, norm string
	codes, dim         int
	scales             string
	beta, entropyTemp  float64
	noEntropy          bool
	loraRank           int
	loraWhere          string
	loraPatterns       string
	latentScale        float64
	latentShift        float64
	materialise        bool
}

func (a *archFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.vaePath, "vae", "", "continuous VAE weights (vae train output, FLUX ae.safetensors, diffusers folder, .ckpt); default: the embedded small-4x Fashion-MNIST VAE")
	fs.StringVar(&a.preset, "preset", vae.PretrainedPreset, "the VAE's preset: small-4x, small-8x, mar-kl16 or flux")
	fs.StringVar(&a.kind, "kind", quant.KindResidual, "quantizer: residual (multi-scale) or vq (one full-resolution level)")
	fs.StringVar(&a.assign, "assign", quant.AssignAttn, "code assignment: attn (CODA's attention) or nn (nearest neighbour)")
	fs.StringVar(&a.norm, "norm", quant.NormRMS, "query/key norm of the attention: rms, layer or none")
	fs.IntVar(&a.codes, "codes", 0, "codebook size V (0: 1024 for small presets, 16384 for mar-kl16, 65536 for flux)")
	fs.IntVar(&a.dim, "dim", quant.DefaultDim, "attention width d")
	fs.StringVar(&a.scales, "scales", "", "residual levels, comma-separated, the last = latent side (default: the preset's: 1,2,3,4,5,7 for small-4x at 28 px, MAR's and FLUX's from the paper)")
	fs.Float64Var(&a.beta, "beta", -1, "commitment weight β (default: 0.05 for attn, 0.25 for nn)")
	fs.Float64Var(&a.entropyTemp, "entropy-temp", quant.DefaultEntropyTemp, "entropy loss temperature T")
	fs.BoolVar(&a.noEntropy, "no-entropy", false, "turn the entropy loss off (attn only)")
	fs.IntVar(&a.loraRank, "lora-rank", 32, "LoRA rank r (0: no adaptation, the VAE stays frozen)")
	fs.StringVar(&a.loraWhere, "lora", "both", "where LoRA goes: both, encoder, decoder")
	fs.StringVar(&a.loraPatterns, "lora-patterns", "", "comma-separated conv name patterns to adapt (default: conv1,conv2; mar-kl16 adds its upsample and downsample convs)")
	fs.Float64Var(&a.latentScale, "latent-scale", 0, "latent scale s (0: the preset's, or estimated from the data when the preset has none)")
	fs.Float64Var(&a.latentShift, "latent-shift", 0, "latent shift (used with --latent-scale)")
	fs.BoolVar(&a.materialise, "materialise", false, "use the reference quantizer that materialises the N×V logits (for checking; needs far more memory)")
}

// defaultScales are the residual levels per preset at its resolution.
func defaultScales(preset string, latent int) []int {
	switch preset {
	case "mar-kl16":
		if latent == 16 {
			return quant.MARScales
		}
	case "flux":
		if latent == 32 {
			return quant.FLUXScales
		}
	case "small-4x":
		if latent == 7 {
			return []int{1, 2, 3, 4, 5, 7}
		}
	case "small-8x":
		if latent == 4 {
			return []int{1, 2, 3, 4}
		}
	}
	// A doubling pyramid ending at the latent side.
	var s []int
	for p := latent; p >= 1; p /= 2 {
		s = append([]int{p}, s...)
	}
	return s
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%q is not a comma-separated list of integers", s)
		}
		out = append(out, v)
	}
	return out, nil
}

// loadVAE builds the VAE the flags name (the embedded one by default).
func (a *archFlags) loadVAE(tp *autograd.Tape, seed uint64) (*vae.VAE, error) {
	if a.vaePath == "" {
		if a.preset != vae.PretrainedPreset {
			return nil, cli.Usagef("--vae is required for preset %s (the embedded VAE is %s)", a.preset, vae.PretrainedPreset)
		}
		return vae.Pretrained(nn.NewBuilder(tp, seed))
	}
	mcfg, err := vae.Preset(a.preset)
	if err != nil {
		return nil, cli.Usagef("%v", err)
	}
	m := vae.New(nn.NewBuilder(tp, seed), mcfg)
	if _, err := vae.LoadWeights(a.vaePath, m); err != nil {
		nn.Release(m)
		return nil, err
	}
	return m, nil
}

// config turns the flags into a tokenizer config for m.
func (a *archFlags) config(m *vae.VAE) (coda.Config, error) {
	cfg := coda.Config{VAE: m.Cfg}
	latent := m.Cfg.LatentSize(m.Cfg.Resolution)
	codes := a.codes
	if codes == 0 {
		switch a.preset {
		case "mar-kl16":
			codes = 16384
		case "flux":
			codes = 65536
		default:
			codes = 1024
		}
	}
	scales := defaultScales(a.preset, latent)
	if a.scales != "" {
		var err error
		if scales, err = parseInts(a.scales); err != nil {
			return cfg, cli.Usagef("--scales: %v", err)
		}
	}
	var q quant.Config
	switch a.kind {
	case quant.KindVQ:
		q = quant.DefaultVQConfig(codes, m.Cfg.ZChannels)
		q.Scales = []int{latent}
		q.Assign = a.assign
	case quant.KindResidual:
		q = quant.DefaultConfig(codes, m.Cfg.ZChannels, scales)
		q.Assign = a.assign
	default:
		return cfg, cli.Usagef("--kind must be residual or vq, not %q", a.kind)
	}
	q.Dim, q.Norm, q.EntropyTemp = a.dim, a.norm, float32(a.entropyTemp)
	q.Entropy = a.assign == quant.AssignAttn && !a.noEntropy
	switch {
	case a.beta >= 0:
		q.Beta = float32(a.beta)
	case a.assign == quant.AssignAttn:
		q.Beta = quant.AttnBeta
	default:
		q.Beta = quant.VQBeta
	}
	q.Fused = !a.materialise
	if err := q.Validate(); err != nil {
		return cfg, cli.Usagef("%v", err)
	}
	cfg.Quant = q
	cfg.LoRA.Rank = a.loraRank
	switch a.loraWhere {
	case "both":
		cfg.LoRA.Encoder, cfg.LoRA.Decoder = true, true
	case "encoder":
		cfg.LoRA.Encoder = true
	case "decoder":
		cfg.LoRA.Decoder = true
	default:
		return cfg, cli.Usagef("--lora must be both, encoder or decoder, not %q", a.loraWhere)
	}
	if a.loraPatterns != "" {
		cfg.LoRA.Patterns = strings.Split(a.loraPatterns, ",")
	}
	cfg.LoRA.Resample = a.preset == "mar-kl16"
	if a.latentScale != 0 {
		cfg.VAE.Scale, cfg.VAE.Shift = float32(a.latentScale), float32(a.latentShift)
	}
	return cfg, nil
}

// needsLatentStats reports whether the VAE's latent scale is a
// placeholder to be estimated from data.
func (a *archFlags) needsLatentStats(cfg vae.Config) bool {
	return a.latentScale == 0 && cfg.Scale == 1 && cfg.Shift == 0
}

// openTokenizer loads a saved tokenizer, or the embedded one for "".
func openTokenizer(tp *autograd.Tape, path string) (*coda.Tokenizer, error) {
	if path == "" {
		return coda.Pretrained(tp)
	}
	return coda.Load(tp, path)
}

// newTape opens the default device.
func newTape() (*autograd.Tape, *vk.Device, error) {
	dev, err := vk.Default()
	if err != nil {
		return nil, nil, err
	}
	return autograd.NewTape(tensor.New(dev)), dev, nil
}

func tokenizerTrainCommand() *cli.Command {
	cfg := coda.DefaultTrainConfig()
	var (
		arch                 archFlags
		perc                 percFlags
		view                 viewFlags
		init                 string
		trainSize, holdout   int
		dataSpec             string
		skipBad, quiet, nfid bool
	)
	return &cli.Command{
		Name:    "train",
		Summary: "Turn a continuous VAE into a CODA tokenizer (LoRA + residual attention quantizer) and train it",
		Long: "Freezes the VAE (default: the embedded small-4x Fashion-MNIST one), adds LoRA\n" +
			"adapters to its convolutions and a multi-scale residual quantizer with attention\n" +
			"code assignment, and trains adapters and quantizer on the first --train images of\n" +
			"--data with the CODA loss: --l1·L1 + --mse·MSE + --perceptual-weight·perceptual +\n" +
			"ramp·λ·--gan-weight·adversarial + --vq-weight·L_vq + --entropy-weight·L_ent; AdamW\n" +
			"(0.5, 0.9), cosine learning rate, clipping, EMA. Every --every steps it writes a\n" +
			"checkpoint, a grid and held-out metrics into --out (metrics.jsonl has every step);\n" +
			"--resume continues exactly. The final EMA tokenizer goes to --out/" + tokenizerName + ",\n" +
			"with per-level reconstructions (levels.png) and a code-usage histogram (usage.png).\n" +
			"--init starts from a saved tokenizer (fine-tuning; its architecture wins over the flags).",
		Flags: func(fs *flag.FlagSet) {
			arch.register(fs)
			perc.register(fs)
			view.register(fs)
			fs.StringVar(&init, "init", "", "start from this saved tokenizer (\"pretrained\": the embedded one) instead of a fresh one")
			fs.IntVar(&cfg.Epochs, "epochs", cfg.Epochs, "passes over the training images")
			fs.IntVar(&cfg.Batch, "batch", cfg.Batch, "images per step")
			fs.Float64Var(&cfg.LR, "lr", cfg.LR, "peak learning rate (cosine decay to 0)")
			fs.Float64Var(&cfg.WeightDecay, "weight-decay", cfg.WeightDecay, "AdamW weight decay of LoRA and quantizer")
			fs.Float64Var(&cfg.L1, "l1", cfg.L1, "weight of the L1 loss")
			fs.Float64Var(&cfg.MSE, "mse", cfg.MSE, "weight of the MSE loss")
			fs.Float64Var(&cfg.PerceptualWeight, "perceptual-weight", cfg.PerceptualWeight, "weight of the perceptual loss")
			fs.Float64Var(&cfg.GAN, "gan-weight", cfg.GAN, "discriminator weight of the adversarial loss (0: no GAN)")
			fs.IntVar(&cfg.GANStart, "gan-start", 0, "first step with the adversarial loss")
			fs.IntVar(&cfg.DiscLayers, "disc-layers", 2, "PatchGAN stride-2 layers")
			fs.IntVar(&cfg.DiscCh, "disc-ch", 32, "PatchGAN first-layer channels")
			fs.BoolVar(&cfg.LambdaAtConvOut, "gan-lambda-conv-out", false, "measure the GAN's adaptive weight at the decoder's conv_out (taming) instead of the last trainable decoder layer (the spec)")
			fs.Float64Var(&cfg.VQ, "vq-weight", cfg.VQ, "weight of L_vq")
			fs.Float64Var(&cfg.Entropy, "entropy-weight", cfg.Entropy, "weight of the entropy loss")
			fs.Float64Var(&cfg.Clip, "clip", cfg.Clip, "gradient-norm clip (0: none)")
			fs.Float64Var(&cfg.EMA, "ema", cfg.EMA, "EMA decay (warm-up form; 0: none)")
			fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed for initialisation, shuffling and posterior samples")
			fs.IntVar(&trainSize, "train", 0, "training images: the first --train of the data set (0: 80%)")
			fs.IntVar(&holdout, "holdout", 0, "held-out images: the last --holdout of the data set (0: all after the training images)")
			fs.StringVar(&dataSpec, "data", "fashion-mnist", "data set (see vae train --help)")
			fs.BoolVar(&skipBad, "skip-bad", false, "skip undecodable image files")
			fs.IntVar(&cfg.EvalImages, "eval", cfg.EvalImages, "held-out images in the periodic evaluations (the final one uses all)")
			fs.StringVar(&cfg.Out, "out", "tokenizer-out", "directory for checkpoints, grids, metrics and the tokenizer")
			fs.IntVar(&cfg.Every, "every", cfg.Every, "steps between evaluations, grids and checkpoints (0: only at the end)")
			fs.BoolVar(&cfg.Resume, "resume", false, "continue from the latest checkpoint in --out")
			fs.IntVar(&cfg.MaxSteps, "max-steps", 0, "stop (with a checkpoint) after this many steps in all")
			fs.BoolVar(&nfid, "no-fid", false, "skip FID in evaluations")
			fs.BoolVar(&quiet, "quiet", false, "no progress bar")
		},
		Run: func(ctx context.Context, _ *flag.FlagSet, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments: %q", args)
			}
			if cfg.Epochs < 1 || cfg.Batch < 1 || trainSize < 0 || cfg.Out == "" {
				return cli.Usagef("need --epochs ≥ 1, --batch ≥ 1, --train ≥ 0 and an --out directory")
			}
			tp, dev, err := newTape()
			if err != nil {
				return err
			}
			errw := cli.Stderr(ctx)
			t, err := buildTokenizer(ctx, tp, &arch, init, cfg.Seed, errw, func(res int, ch int) (data.Dataset, error) {
				tr, _, err := openSplit(splitSpec{Data: dataSpec, Size: res, Channels: ch, Train: trainSize, Batch: cfg.Batch, SkipBad: skipBad, Seed: cfg.Seed, Model: "the VAE"})
				return tr, err
			})
			if err != nil {
				return err
			}
			defer nn.Release(t)
			train, eval, err := openSplit(splitSpec{Data: dataSpec, Size: t.Cfg.VAE.Resolution, Channels: t.Cfg.VAE.InChannels,
				Train: trainSize, Holdout: holdout, Batch: cfg.Batch, SkipBad: skipBad, Seed: cfg.Seed, Model: "the tokenizer's VAE"})
			if err != nil {
				return err
			}
			if cfg.Perceptual, err = perc.open(tp, t.Cfg.VAE, errw); err != nil {
				return err
			}
			ev := coda.EvalConfig{Batch: cfg.Batch}
			if !nfid {
				if ev.Features, err = perc.features(tp, errw); err != nil {
					return err
				}
			}
			total, trainable := nn.ParamCount(t)
			vc := t.Cfg.VAE
			lat := vc.LatentSize(vc.Resolution)
			fmt.Fprintf(errw, "CODA tokenizer %s: VAE %d px → %d×%d×%d + %s/%s quantizer, V=%d, levels %v (%d tokens/image), LoRA r=%d on %d convs; %d of %d parameters trainable\n",
				t.Cfg.Hash(), vc.Resolution, lat, lat, vc.ZChannels, t.Cfg.Quant.Kind, t.Cfg.Quant.Assign, t.Cfg.Quant.Codes, t.Cfg.Quant.Scales, tokensPerImage(t), t.Cfg.LoRA.Rank, len(t.Adapted), trainable, total)
			fmt.Fprintf(errw, "training on %d images of %s (%d held out) on %s\n", train.Len(), dataSpec, eval.Len(), dev.Info)
			preview, nPreview, err := previewImages(eval, view.images)
			if err != nil {
				return err
			}
			var res coda.Result
			err = trainLive(ctx, dev, &view, "tessera tokenizer train", cfg.Out, quiet, func(stop func() bool, report func(liveStep)) error {
				var lastEval string
				cfg.Stop = stop
				var err error
				res, err = coda.Train(ctx, tp, t, train, eval, cfg, ev, func(p coda.Progress) {
					gan := ""
					if p.GAN {
						gan = fmt.Sprintf(" adv %.3f D %.3f lambda %.2g", p.Adv, p.DiscLoss, p.Lambda)
					}
					if p.Eval != nil {
						lastEval = fmt.Sprintf(" | held-out PSNR %.2f use %.0f%%", p.Eval.PSNR, 100*p.Eval.Use)
						if quiet {
							fmt.Fprintf(errw, "step %d/%d loss %.4f%s\n", p.Step, p.Steps, p.Loss, lastEval)
						}
					}
					report(liveStep{step: p.Step, steps: p.Steps, loss: p.Loss, mse: p.MSE, psnr: p.PSNR,
						desc: fmt.Sprintf("loss %.3f l1 %.3f mse %.4f perc %.3f vq %.4f ent %.3f%s PSNR %.1f use %.0f%%%s %3.0f img/s",
							p.Loss, p.L1, p.MSE, p.Perc, p.VQ, p.Ent, gan, p.PSNR, 100*p.Use, lastEval, float64(p.Images)/p.Elapsed.Seconds()),
						post: func(v *viewer.Viewer, cv *curves, status string) error {
							return postTokenizerFrame(v, tp, t, preview, nPreview, cv, p.LastUsed, status)
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
			return finishTokenizer(ctx, tp, t, eval, res, cfg, os.Args[1:])
		},
	}
}

// finishTokenizer saves the trained tokenizer and its pictures and prints
// the final metrics.
func finishTokenizer(ctx context.Context, tp *autograd.Tape, t *coda.Tokenizer, eval data.Dataset, res coda.Result, cfg coda.TrainConfig, command []string) error {
	out := cli.Stdout(ctx)
	m := res.Final
	fmt.Fprintf(out, "%d steps, %d images in %s\n", res.Steps, res.Images, res.Elapsed.Round(time.Second))
	printMetrics(out, m)
	path := filepath.Join(cfg.Out, tokenizerName)
	meta := map[string]string{"command": fmt.Sprint(command), "eval": mustJSON(m)}
	if err := coda.Save(path, t, meta); err != nil {
		return err
	}
	if err := writeTokenizerPictures(ctx, tp, t, eval, m, cfg.Seed, cfg.Out); err != nil {
		return err
	}
	fmt.Fprintf(cli.Stderr(ctx), "wrote %s, levels.png, usage.png and metrics.json in %s\n", path, cfg.Out)
	return nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%q", err.Error())
	}
	return string(b)
}

// writeTokenizerPictures writes levels.png, usage.png and metrics.json.
func writeTokenizerPictures(ctx context.Context, tp *autograd.Tape, t *coda.Tokenizer, ds data.Dataset, m *coda.Metrics, seed uint64, dir string) error {
	if err := coda.SaveLevels(ctx, tp, t, ds, 8, seed, filepath.Join(dir, "levels.png")); err != nil {
		return err
	}
	if err := vae.WritePNG(filepath.Join(dir, "usage.png"), coda.UsageHistogram(m.Counts, 1024, 160)); err != nil {
		return err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "metrics.json"), append(b, '\n'), 0o644)
}

func tokensPerImage(t *coda.Tokenizer) int {
	n := 0
	for _, p := range t.Cfg.Quant.Scales {
		n += p * p
	}
	return n
}

func printMetrics(w io.Writer, m *coda.Metrics) {
	fmt.Fprintf(w, "held-out (%d images): quant error %.4f, PSNR %.2f dB, SSIM %.4f, codebook use %.1f%%", m.Images, m.QuantErr, m.PSNR, m.SSIM, 100*m.Use)
	if m.FIDNet != "" {
		fmt.Fprintf(w, ", FID %.2f (%s features)", m.FID, m.FIDNet)
	}
	fmt.Fprintln(w)
	parts := make([]string, len(m.LevelUse))
	for i, u := range m.LevelUse {
		parts[i] = fmt.Sprintf("%.0f%%", 100*u)
	}
	fmt.Fprintf(w, "codebook use per level: %s\n", strings.Join(parts, " "))
}

// buildTokenizer makes the tokenizer to train: loaded from init, or a
// fresh one over the flags' VAE (estimating the latent scale from the
// training data when the VAE has none).
func buildTokenizer(ctx context.Context, tp *autograd.Tape, arch *archFlags, init string, seed uint64, log io.Writer,
	trainData func(res, ch int) (data.Dataset, error)) (*coda.Tokenizer, error) {
	if init != "" {
		path := init
		if init == "pretrained" {
			path = ""
		}
		t, err := openTokenizer(tp, path)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "starting from %s (its architecture; the architecture flags are ignored)\n", init)
		return t, nil
	}
	m, err := arch.loadVAE(tp, seed)
	if err != nil {
		return nil, err
	}
	cfg, err := arch.config(m)
	if err != nil {
		nn.Release(m)
		return nil, err
	}
	if arch.needsLatentStats(m.Cfg) {
		ds, err := trainData(m.Cfg.Resolution, m.Cfg.InChannels)
		if err != nil {
			nn.Release(m)
			return nil, err
		}
		s, sh, err := coda.LatentStats(ctx, tp, m, ds, 1024, seed)
		if err != nil {
			nn.Release(m)
			return nil, err
		}
		cfg.VAE.Scale, cfg.VAE.Shift = s, sh
		m.Cfg.Scale, m.Cfg.Shift = s, sh
		fmt.Fprintf(log, "latent scale %.4f, shift %.4f (estimated from 1024 training images; the VAE has none)\n", s, sh)
	} else {
		m.Cfg.Scale, m.Cfg.Shift = cfg.VAE.Scale, cfg.VAE.Shift
	}
	t, err := coda.New(nn.NewBuilder(tp, seed^0xc0da), m, cfg)
	if err != nil {
		nn.Release(m)
		return nil, err
	}
	return t, nil
}

func tokenizerEvalCommand() *cli.Command {
	var (
		src  tokenSource
		out  string
		perc percFlags
		nfid bool
	)
	return &cli.Command{
		Name:    "eval",
		Summary: "Measure a tokenizer: quantization error, PSNR, SSIM, codebook use, FID; write per-level and usage PNGs",
		Long: "Reconstructs --count images of --data from index --skip (default: the held-out\n" +
			"part of the bundled Fashion-MNIST) and reports quantization error, PSNR and SSIM\n" +
			"(uint8, per-channel mean), codebook utilisation overall and per level, and FID\n" +
			"between originals and reconstructions: Inception-v3 features with --inception\n" +
			"(pytorch-fid's pt_inception-2015-12-05 weights), else the embedded classifier's\n" +
			"(the output says which; the two are not comparable). Writes levels.png (coarse\n" +
			"levels first, adding finer ones row by row), usage.png, grid.png and metrics.json.",
		Flags: func(fs *flag.FlagSet) {
			src.register(fs, 8000, 2000, 32, "images evaluated (0: all after --skip)")
			fs.StringVar(&out, "out", "tokenizer-eval", "directory for the PNGs and metrics.json")
			fs.BoolVar(&nfid, "no-fid", false, "skip FID")
			perc.registerFID(fs)
		},
		Run: func(ctx context.Context, _ *flag.FlagSet, args []string) error {
			tp, _, t, ds, err := src.open(args)
			if err != nil {
				return err
			}
			defer nn.Release(t)
			seed := src.seed
			ev := coda.EvalConfig{Batch: src.batch, Seed: seed}
			if !nfid {
				if ev.Features, err = perc.features(tp, cli.Stderr(ctx)); err != nil {
					return err
				}
			}
			m, err := coda.Evaluate(ctx, tp, t, ds, ev)
			if err != nil {
				return err
			}
			printMetrics(cli.Stdout(ctx), m)
			if err := writeTokenizerPictures(ctx, tp, t, ds, m, seed, out); err != nil {
				return err
			}
			if err := coda.SaveGrid(ctx, tp, t, ds, 16, seed, filepath.Join(out, "grid.png")); err != nil {
				return err
			}
			fmt.Fprintf(cli.Stderr(ctx), "wrote levels.png, usage.png, grid.png and metrics.json in %s\n", out)
			return nil
		},
	}
}

// tokenSource is a saved tokenizer and a range of a data set: the inputs
// of tokenizer eval, tokenizer encode and view.
type tokenSource struct {
	path, data         string
	skip, count, batch int
	seed               uint64
}

// register adds the flags, with the command's defaults for --skip, --count
// and --batch.
func (s *tokenSource) register(fs *flag.FlagSet, skip, count, batch int, countHelp string) {
	fs.StringVar(&s.path, "tokenizer", "", "saved tokenizer (default: the embedded one)")
	fs.StringVar(&s.data, "data", "fashion-mnist", "data set (see vae train --help)")
	fs.IntVar(&s.skip, "skip", skip, "first image (8000: the held-out part of the bundled data)")
	fs.IntVar(&s.count, "count", count, countHelp)
	fs.IntVar(&s.batch, "batch", batch, "images per batch")
	fs.Uint64Var(&s.seed, "seed", 1, "seed of the posterior samples")
}

// open checks the arguments and opens the device, the tokenizer (the
// caller releases it) and the data range.
func (s *tokenSource) open(args []string) (*autograd.Tape, *vk.Device, *coda.Tokenizer, data.Dataset, error) {
	if len(args) > 0 {
		return nil, nil, nil, nil, cli.Usagef("unexpected arguments: %q", args)
	}
	if s.batch < 1 {
		return nil, nil, nil, nil, cli.Usagef("--batch must be positive")
	}
	tp, dev, err := newTape()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	t, err := openTokenizer(tp, s.path)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	ds, err := openRange(s.data, t.Cfg.VAE, s.skip, s.count)
	if err != nil {
		nn.Release(t)
		return nil, nil, nil, nil, err
	}
	return tp, dev, t, ds, nil
}

// openRange opens count images of a data set from skip (all after skip
// for count 0) at the VAE's size and channels.
func openRange(spec string, cfg vae.Config, skip, count int) (data.Dataset, error) {
	ds, err := data.Open(spec, data.OpenOptions{Size: cfg.Resolution, Channels: cfg.InChannels})
	if err != nil {
		return nil, err
	}
	if c, h, w := ds.Shape(); c != cfg.InChannels || h != cfg.Resolution || w != cfg.Resolution {
		return nil, cli.Usagef("--data gives %d×%d×%d images but the tokenizer takes %d×%d×%d", c, h, w, cfg.InChannels, cfg.Resolution, cfg.Resolution)
	}
	end := ds.Len()
	if count > 0 {
		end = skip + count
	}
	if skip < 0 || count < 0 || end > ds.Len() || skip >= end {
		return nil, cli.Usagef("need 0 ≤ --skip < --skip + --count ≤ %d (the data set's size)", ds.Len())
	}
	return data.Range(ds, skip, end)
}

func tokenizerEncodeCommand() *cli.Command {
	var (
		src tokenSource
		out string
	)
	return &cli.Command{
		Name:    "encode",
		Summary: "Encode images into a token file (ids per level, tagged with the tokenizer's config hash)",
		Long: "Writes the token ids of --count images of --data (from --skip) to --out: a\n" +
			"safetensors file with one int32 tensor level.<i> [N, p, p] per level and the\n" +
			"tokenizer's config hash, codebook size and scales in its metadata.",
		Flags: func(fs *flag.FlagSet) {
			src.register(fs, 0, 0, 64, "images (0: all after --skip)")
			fs.StringVar(&out, "out", "tokens.safetensors", "token file to write")
		},
		Run: func(ctx context.Context, _ *flag.FlagSet, args []string) error {
			tp, _, t, ds, err := src.open(args)
			if err != nil {
				return err
			}
			defer nn.Release(t)
			nn.SetTraining(t, false)
			seed, batch := src.seed, src.batch
			tk := t.NewTokens()
			tk.Metadata = map[string]string{"data": src.data, "skip": strconv.Itoa(src.skip), "seed": strconv.FormatUint(seed, 10)}
			bar := &stepBar{w: cli.Stderr(ctx)}
			loader := data.NewLoader(ds, batch, data.LoaderOptions{})
			done := 0
			for b, err := range loader.Epoch(ctx, 0) {
				if err != nil {
					return err
				}
				var levels [][]int32
				var eerr error
				tp.NoGrad(func() {
					e := tp.Engine()
					s := e.Scope()
					defer s.Close()
					x := tp.Const(e.FromFloat32(b.Images, b.N, b.C, b.H, b.W))
					ids, err := t.Encode(x, seed+uint64(done))
					if err != nil {
						eerr = err
						return
					}
					for _, id := range ids {
						v, err := id.Int32()
						if err != nil {
							eerr = err
							return
						}
						levels = append(levels, v)
					}
				})
				if eerr != nil {
					return eerr
				}
				if err := tk.Append(b.N, levels); err != nil {
					return err
				}
				done += b.N
				bar.update(done, ds.Len(), "encoding")
			}
			bar.finish()
			if err := coda.WriteTokens(out, tk); err != nil {
				return err
			}
			fmt.Fprintf(cli.Stdout(ctx), "wrote %d images × %d tokens to %s (tokenizer %s)\n", tk.N, tokensPerImage(t), out, tk.ConfigHash)
			return nil
		},
	}
}

func tokenizerDecodeCommand() *cli.Command {
	var (
		path, tokens, out string
		levels, count     int
	)
	return &cli.Command{
		Name:    "decode",
		Summary: "Decode a token file back into PNG images (optionally from the coarsest levels only)",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&path, "tokenizer", "", "saved tokenizer that made the tokens (default: the embedded one)")
			fs.StringVar(&tokens, "tokens", "tokens.safetensors", "token file")
			fs.IntVar(&levels, "levels", 0, "decode only the first (coarsest) levels (0: all)")
			fs.IntVar(&count, "count", 64, "images to decode (0: all)")
			fs.StringVar(&out, "out", "tokens-decoded", "directory for the PNGs")
		},
		Run: func(ctx context.Context, _ *flag.FlagSet, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments: %q", args)
			}
			tk, err := coda.ReadTokens(tokens)
			if err != nil {
				return err
			}
			tp, _, err := newTape()
			if err != nil {
				return err
			}
			t, err := openTokenizer(tp, path)
			if err != nil {
				return err
			}
			defer nn.Release(t)
			if err := t.CheckTokens(tk); err != nil {
				return err
			}
			if levels < 0 || levels > len(tk.Scales) {
				return cli.Usagef("--levels must be in [0, %d]", len(tk.Scales))
			}
			n := tk.N
			if count > 0 {
				n = min(n, count)
			}
			nn.SetTraining(t, false)
			c, h := t.Cfg.VAE.OutChannels, t.Cfg.VAE.Resolution
			for i := range n {
				var img []float32
				var derr error
				tp.NoGrad(func() {
					e := tp.Engine()
					s := e.Scope()
					defer s.Close()
					var ids []*tensor.Tensor
					for lv, v := range tk.Image(i) {
						p := tk.Scales[lv]
						ids = append(ids, e.FromInt32(v, 1, p, p))
					}
					y, err := t.Decode(ids, levels)
					if err != nil {
						derr = err
						return
					}
					img, derr = y.Value.Float32()
				})
				if derr != nil {
					return derr
				}
				if err := vae.WritePNG(filepath.Join(out, fmt.Sprintf("%06d.png", i)), vae.Grid([][]float32{img}, 1, c, h, h)); err != nil {
					return err
				}
			}
			fmt.Fprintf(cli.Stdout(ctx), "decoded %d images into %s\n", n, out)
			return nil
		},
	}
}

func tokenizerImportCommand() *cli.Command {
	var (
		vaePath, quantPath, preset, scales, out string
		latentScale, latentShift                float64
	)
	return &cli.Command{
		Name:    "import",
		Summary: "Convert an official CODA checkpoint (vae.pth + quantizer.pth, or the _ema twins) to Tessera's format",
		Long: "Reads the release's PyTorch pickles: the VAE with its LoRA adapters\n" +
			"(<conv>.lora_layer.down/up.weight) and the quantizer (codebooks.weight,\n" +
			"attn.to_q/to_k/to_v, attn.norm_q/norm_k), infers codebook size, widths, norm and\n" +
			"LoRA placement from the tensors, loads every tensor strictly and writes one\n" +
			"safetensors tokenizer. Use the _ema files for the weights the paper evaluates.",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&vaePath, "vae", "", "the release's vae.pth (or vae_ema.pth)")
			fs.StringVar(&quantPath, "quantizer", "", "the release's quantizer.pth (or quantizer_ema.pth)")
			fs.StringVar(&preset, "preset", "mar-kl16", "base VAE: mar-kl16 or flux")
			fs.StringVar(&scales, "scales", "", "residual levels (default: the preset's from the paper)")
			fs.Float64Var(&latentScale, "latent-scale", 0, "latent scale (0: the preset's)")
			fs.Float64Var(&latentShift, "latent-shift", 0, "latent shift (with --latent-scale)")
			fs.StringVar(&out, "out", "coda.safetensors", "tokenizer file to write")
		},
		Run: func(ctx context.Context, _ *flag.FlagSet, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments: %q", args)
			}
			if vaePath == "" || quantPath == "" {
				return cli.Usagef("need --vae and --quantizer")
			}
			mcfg, err := vae.Preset(preset)
			if err != nil {
				return cli.Usagef("%v", err)
			}
			if latentScale != 0 {
				mcfg.Scale, mcfg.Shift = float32(latentScale), float32(latentShift)
			}
			sc := defaultScales(preset, mcfg.LatentSize(mcfg.Resolution))
			if scales != "" {
				if sc, err = parseInts(scales); err != nil {
					return cli.Usagef("--scales: %v", err)
				}
			}
			tp, _, err := newTape()
			if err != nil {
				return err
			}
			t, err := coda.Import(tp, coda.Release{VAE: vaePath, Quantizer: quantPath, VAEConfig: mcfg, Scales: sc})
			if err != nil {
				return err
			}
			defer nn.Release(t)
			if err := coda.Save(out, t, map[string]string{"imported_from": vaePath + "," + quantPath}); err != nil {
				return err
			}
			total, _ := nn.ParamCount(t)
			fmt.Fprintf(cli.Stdout(ctx), "imported %d parameters: V=%d, C=%d, d=%d, norm %s, LoRA r=%d on %d convs, levels %v; wrote %s (config %s)\n",
				total, t.Cfg.Quant.Codes, t.Cfg.Quant.Channels, t.Cfg.Quant.Dim, t.Cfg.Quant.Norm, t.Cfg.LoRA.Rank, len(t.Adapted), t.Cfg.Quant.Scales, out, t.Cfg.Hash())
			return nil
		},
	}
}

func tokenizerExportCommand() *cli.Command {
	var (
		path, out          string
		trainedOnly, merge bool
	)
	return &cli.Command{
		Name:    "export",
		Summary: "Rewrite a saved tokenizer: only its trained parameters (over the embedded VAE), or with LoRA merged",
		Long: "--trained-only writes just the adapters and the quantizer with the configuration\n" +
			"(the VAE must be the embedded one, unchanged); loading completes it with the\n" +
			"embedded VAE. --merge-lora folds every adapter into its convolution (the adapters\n" +
			"are kept, zeroed, so the file loads anywhere a tokenizer does).",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&path, "tokenizer", "", "saved tokenizer (default: the embedded one)")
			fs.StringVar(&out, "out", "", "file to write")
			fs.BoolVar(&trainedOnly, "trained-only", false, "write only the adapters and the quantizer")
			fs.BoolVar(&merge, "merge-lora", false, "merge the adapters into the convolutions")
		},
		Run: func(ctx context.Context, _ *flag.FlagSet, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments: %q", args)
			}
			if out == "" || trainedOnly == merge {
				return cli.Usagef("need --out and exactly one of --trained-only and --merge-lora")
			}
			tp, _, err := newTape()
			if err != nil {
				return err
			}
			t, err := openTokenizer(tp, path)
			if err != nil {
				return err
			}
			defer nn.Release(t)
			meta := map[string]string{"exported_from": path}
			if trainedOnly {
				err = coda.SaveTrained(out, t, meta)
			} else {
				if err = t.MergeLoRA(); err == nil {
					err = coda.Save(out, t, meta)
				}
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cli.Stdout(ctx), "wrote %s (tokenizer %s)\n", out, t.Cfg.Hash())
			return nil
		},
	}
}
