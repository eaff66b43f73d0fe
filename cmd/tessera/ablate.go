package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/internal/cli"
	"github.com/tessera-ml/tessera/models/coda"
	"github.com/tessera-ml/tessera/models/data"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/models/quant"
)

// ablationRow is one line of CODA's Table 1 chain.
type ablationRow struct {
	Name   string
	Kind   string
	Assign string
	LoRA   int
}

// ablationRows are VQ → + residual → + attention assignment → + LoRA.
var ablationRows = []ablationRow{
	{"VQ", quant.KindVQ, quant.AssignNN, 0},
	{"+ residual", quant.KindResidual, quant.AssignNN, 0},
	{"+ attention assignment", quant.KindResidual, quant.AssignAttn, 0},
	{"+ LoRA adaptation", quant.KindResidual, quant.AssignAttn, 32},
}

// ablationResult is a row's outcome.
type ablationResult struct {
	Row     string        `json:"row"`
	Config  string        `json:"config_hash"`
	Tokens  int           `json:"tokens_per_image"`
	Steps   int           `json:"steps"`
	Elapsed time.Duration `json:"elapsed_ns"`
	Metrics *coda.Metrics `json:"metrics"`
}

func tokenizerAblateCommand() *cli.Command {
	cfg := coda.DefaultTrainConfig()
	var (
		arch      archFlags
		perc      percFlags
		trainSize int
		dataSpec  string
		rows      string
		quiet     bool
	)
	return &cli.Command{
		Name:    "ablate",
		Summary: "Reproduce CODA's Table 1 chain (VQ → + residual → + attention → + LoRA) with equal budgets",
		Long: "Trains and evaluates four tokenizers on the same VAE, data, loss, seed and\n" +
			"step budget: plain VQ (nearest neighbour, one full-resolution level), the\n" +
			"multi-scale residual quantizer with nearest-neighbour assignment, the same with\n" +
			"attention assignment, and the full CODA tokenizer with LoRA. Writes\n" +
			"--out/ablation.md (a table of quantization error, FID, PSNR, SSIM and codebook\n" +
			"use), ablation.json, and each row's run in its own folder.",
		Flags: func(fs *flag.FlagSet) {
			arch.register(fs)
			perc.register(fs)
			fs.IntVar(&cfg.Epochs, "epochs", cfg.Epochs, "passes over the training images, per row")
			fs.IntVar(&cfg.Batch, "batch", cfg.Batch, "images per step")
			fs.Float64Var(&cfg.LR, "lr", cfg.LR, "peak learning rate")
			fs.Float64Var(&cfg.GAN, "gan-weight", cfg.GAN, "discriminator weight (0: no GAN)")
			fs.Float64Var(&cfg.PerceptualWeight, "perceptual-weight", cfg.PerceptualWeight, "weight of the perceptual loss")
			fs.BoolVar(&cfg.LambdaAtConvOut, "gan-lambda-conv-out", false, "measure the GAN's adaptive weight at the decoder's conv_out instead of the last trainable decoder layer")
			fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed (the same for every row)")
			fs.IntVar(&trainSize, "train", 0, "training images (0: 80%)")
			fs.StringVar(&dataSpec, "data", "fashion-mnist", "data set")
			fs.IntVar(&cfg.MaxSteps, "max-steps", 0, "step budget per row (0: --epochs over --train)")
			fs.StringVar(&rows, "rows", "", "comma-separated row numbers to run (1-4; default all)")
			fs.StringVar(&cfg.Out, "out", "ablation", "directory for the table and the runs")
			fs.BoolVar(&quiet, "quiet", false, "no progress bar")
		},
		Run: func(ctx context.Context, _ *flag.FlagSet, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments: %q", args)
			}
			pick := map[int]bool{}
			if rows != "" {
				rs, err := parseInts(rows)
				if err != nil {
					return cli.Usagef("--rows: %v", err)
				}
				for _, r := range rs {
					if r < 1 || r > len(ablationRows) {
						return cli.Usagef("--rows: %d is not a row (1-%d)", r, len(ablationRows))
					}
					pick[r-1] = true
				}
			}
			tp, dev, err := newTape()
			if err != nil {
				return err
			}
			errw := cli.Stderr(ctx)
			out := cfg.Out
			var results []ablationResult
			for i, row := range ablationRows {
				if len(pick) > 0 && !pick[i] {
					continue
				}
				a := arch
				a.kind, a.assign, a.loraRank = row.Kind, row.Assign, row.LoRA
				a.beta = -1
				rc := cfg
				rc.Out = filepath.Join(out, fmt.Sprintf("row%d", i+1))
				rc.Every = 0
				fmt.Fprintf(errw, "row %d/%d: %s\n", i+1, len(ablationRows), row.Name)
				res, err := ablationRun(ctx, tp, &a, &perc, rc, dataSpec, trainSize, quiet, errw)
				if err != nil {
					return fmt.Errorf("row %d (%s): %w", i+1, row.Name, err)
				}
				res.Row = row.Name
				results = append(results, res)
				printMetrics(errw, res.Metrics)
			}
			if err := writeAblation(out, results, dev.Info.String()); err != nil {
				return err
			}
			writeAblationTable(cli.Stdout(ctx), results)
			fmt.Fprintf(errw, "wrote %s and %s\n", filepath.Join(out, "ablation.md"), filepath.Join(out, "ablation.json"))
			return nil
		},
	}
}

// ablationRun trains and evaluates one row.
func ablationRun(ctx context.Context, tp *autograd.Tape, a *archFlags, perc *percFlags, cfg coda.TrainConfig, dataSpec string, trainSize int, quiet bool, errw io.Writer) (ablationResult, error) {
	var res ablationResult
	var train, eval data.Dataset
	open := func(size, ch int) (data.Dataset, error) {
		var err error
		train, eval, err = openSplit(splitSpec{Data: dataSpec, Size: size, Channels: ch, Train: trainSize, Batch: cfg.Batch, Seed: cfg.Seed, Model: "the VAE"})
		return train, err
	}
	t, err := buildTokenizer(ctx, tp, a, "", cfg.Seed, errw, open)
	if err != nil {
		return res, err
	}
	defer nn.Release(t)
	if train == nil {
		if _, err := open(t.Cfg.VAE.Resolution, t.Cfg.VAE.InChannels); err != nil {
			return res, err
		}
	}
	if cfg.Perceptual, err = perc.open(tp, t.Cfg.VAE, io.Discard); err != nil {
		return res, err
	}
	ev := coda.EvalConfig{Batch: cfg.Batch}
	if ev.Features, err = perc.features(tp, io.Discard); err != nil {
		return res, err
	}
	bar := &stepBar{w: errw}
	progress := func(p coda.Progress) {
		if !quiet {
			bar.update(p.Step, p.Steps, fmt.Sprintf("loss %.3f mse %.4f vq %.4f PSNR %.1f use %.0f%%", p.Loss, p.MSE, p.VQ, p.PSNR, 100*p.Use))
		}
	}
	// A MaxSteps budget must end the run with its final evaluation, so it
	// is applied by shortening the epoch count's data instead.
	if cfg.MaxSteps > 0 {
		n := min(train.Len(), cfg.MaxSteps*cfg.Batch/cfg.Epochs)
		if train, err = data.Range(train, 0, max(n, cfg.Batch)); err != nil {
			return res, err
		}
		cfg.MaxSteps = 0
	}
	r, err := coda.Train(ctx, tp, t, train, eval, cfg, ev, progress)
	bar.finish()
	if err != nil {
		return res, err
	}
	if err := coda.Save(filepath.Join(cfg.Out, tokenizerName), t, nil); err != nil {
		return res, err
	}
	if err := writeTokenizerPictures(ctx, tp, t, eval, r.Final, cfg.Seed, cfg.Out); err != nil {
		return res, err
	}
	return ablationResult{Config: t.Cfg.Hash(), Tokens: tokensPerImage(t), Steps: r.Steps, Elapsed: r.Elapsed, Metrics: r.Final}, nil
}

func writeAblationTable(w io.Writer, rs []ablationResult) {
	fid := "FID"
	if len(rs) > 0 && rs[0].Metrics.FIDNet != "" {
		fid = fmt.Sprintf("FID (%s)", rs[0].Metrics.FIDNet)
	}
	fmt.Fprintf(w, "| tokenizer | tokens/image | quant error | %s | PSNR (dB) | SSIM | codebook use | steps | time |\n", fid)
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		m := r.Metrics
		fmt.Fprintf(w, "| %s | %d | %.4f | %.2f | %.2f | %.4f | %.1f%% | %d | %s |\n",
			r.Row, r.Tokens, m.QuantErr, m.FID, m.PSNR, m.SSIM, 100*m.Use, r.Steps, r.Elapsed.Round(time.Second))
	}
}

func writeAblation(dir string, rs []ablationResult, device string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# CODA ablation (equal budgets)\n\nMeasured by `tessera %s` on %s.\n\n", strings.Join(os.Args[1:], " "), device)
	writeAblationTable(&b, rs)
	if err := os.WriteFile(filepath.Join(dir, "ablation.md"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	j, err := json.MarshalIndent(rs, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "ablation.json"), append(j, '\n'), 0o644)
}
