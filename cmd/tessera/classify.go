package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/internal/cli"
	"github.com/tessera-ml/tessera/models/classify"
	"github.com/tessera-ml/tessera/models/data"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/models/safetensors"
	"github.com/tessera-ml/tessera/tensor"
	"github.com/tessera-ml/tessera/vk"
)

func classifyCommand() *cli.Command {
	return &cli.Command{
		Name:    "classify",
		Summary: "Train and evaluate the Fashion-MNIST convnet (the training stack's proof on real data)",
		Sub:     []*cli.Command{classifyTrainCommand(), classifyEvalCommand()},
	}
}

func classifyTrainCommand() *cli.Command {
	cfg := classify.DefaultTrainConfig()
	mcfg := classify.DefaultConfig()
	var (
		trainSize int
		out       string
		seed      uint64
		quiet     bool
	)
	return &cli.Command{
		Name:    "train",
		Summary: "Train the convnet on the bundled Fashion-MNIST split and report held-out accuracy",
		Long: "Trains on the first --train images of the bundled Fashion-MNIST test split\n" +
			"(10 000 images) and evaluates on the rest, then writes the weights as\n" +
			"safetensors. AdamW with a cosine schedule, no weight decay on norms and\n" +
			"biases, random horizontal flips.",
		Flags: func(fs *flag.FlagSet) {
			fs.IntVar(&cfg.Epochs, "epochs", cfg.Epochs, "passes over the training images")
			fs.IntVar(&cfg.Batch, "batch", cfg.Batch, "images per step")
			fs.Float64Var(&cfg.LR, "lr", cfg.LR, "peak learning rate (cosine decay to 0)")
			fs.Float64Var(&cfg.WeightDecay, "weight-decay", cfg.WeightDecay, "AdamW weight decay")
			fs.BoolVar(&cfg.Flip, "flip", cfg.Flip, "augment with random horizontal flips")
			fs.IntVar(&mcfg.Width, "width", mcfg.Width, "channels of the first conv block")
			fs.IntVar(&trainSize, "train", 8000, "training images; the rest of the 10 000 are held out")
			fs.Uint64Var(&seed, "seed", 1, "seed for initialisation, shuffling and augmentation")
			fs.StringVar(&out, "out", "classifier.safetensors", "where to write the trained weights")
			fs.BoolVar(&quiet, "quiet", false, "no progress bar")
		},
		Run: func(ctx context.Context, _ *flag.FlagSet, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments: %q", args)
			}
			if cfg.Epochs < 1 || cfg.Batch < 1 || trainSize < cfg.Batch || trainSize >= data.FashionMNISTLen {
				return cli.Usagef("need --epochs ≥ 1, --batch ≥ 1 and --batch ≤ --train < %d", data.FashionMNISTLen)
			}
			cfg.Seed = seed
			ds, err := data.FashionMNIST()
			if err != nil {
				return err
			}
			train, eval := ds.Split(trainSize)
			dev, err := vk.Default()
			if err != nil {
				return err
			}
			tp := autograd.NewTape(tensor.New(dev))
			m := classify.New(nn.NewBuilder(tp, seed), mcfg)
			defer nn.Release(m)
			total, _ := nn.ParamCount(m)
			errw := cli.Stderr(ctx)
			fmt.Fprintf(errw, "training a %d-parameter convnet on %d Fashion-MNIST images (%d held out) on %s\n",
				total, train.Len(), eval.Len(), dev.Info)
			bar := &stepBar{w: errw}
			progress := func(p classify.Progress) {
				if quiet {
					return
				}
				bar.update(p.Step, p.Steps, fmt.Sprintf("epoch %d loss %.3f %4.0f img/s", p.Epoch, p.Loss, float64(p.Images)/p.Elapsed.Seconds()))
			}
			res, err := classify.Train(ctx, tp, m, train, eval, cfg, progress)
			bar.finish()
			if err != nil {
				return err
			}
			fmt.Fprintf(cli.Stdout(ctx), "held-out accuracy %.2f%% (loss %.4f) on %d images; trained %d images in %s (%.0f img/s), last-epoch train loss %.4f\n",
				100*res.EvalAccuracy, res.EvalLoss, eval.Len(), res.Images, res.Elapsed.Round(time.Second),
				float64(res.Images)/res.Elapsed.Seconds(), res.TrainLoss)
			meta := map[string]string{"model": "classify.ConvNet", "width": fmt.Sprint(mcfg.Width),
				"eval_accuracy": fmt.Sprintf("%.4f", res.EvalAccuracy), "command": fmt.Sprint(os.Args[1:])}
			if err := nn.Save(out, m, safetensors.F32, meta); err != nil {
				return err
			}
			fmt.Fprintf(errw, "wrote %s\n", out)
			return nil
		},
	}
}

func classifyEvalCommand() *cli.Command {
	var (
		weights string
		skip    int
		width   int
	)
	return &cli.Command{
		Name:    "eval",
		Summary: "Evaluate trained convnet weights on the bundled Fashion-MNIST images",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&weights, "weights", "", "weights written by `classify train` (default: the embedded pretrained weights)")
			fs.IntVar(&skip, "skip", 8000, "evaluate on the images after the first --skip (the held-out part)")
			fs.IntVar(&width, "width", classify.DefaultConfig().Width, "channels of the first conv block (as trained)")
		},
		Run: func(ctx context.Context, _ *flag.FlagSet, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments: %q", args)
			}
			ds, err := data.FashionMNIST()
			if err != nil {
				return err
			}
			if skip < 0 || skip >= ds.Len() {
				return cli.Usagef("--skip must be in [0, %d)", ds.Len())
			}
			_, eval := ds.Split(skip)
			dev, err := vk.Default()
			if err != nil {
				return err
			}
			tp := autograd.NewTape(tensor.New(dev))
			var m *classify.ConvNet
			if weights == "" {
				if m, err = classify.Pretrained(nn.NewBuilder(tp, 0)); err != nil {
					return err
				}
				fmt.Fprintln(cli.Stderr(ctx), "evaluating the embedded pretrained weights")
			} else {
				cfg := classify.DefaultConfig()
				cfg.Width = width
				m = classify.New(nn.NewBuilder(tp, 0), cfg)
				if _, err := nn.Load(weights, m, nn.LoadOptions{Strict: true}); err != nil {
					nn.Release(m)
					return err
				}
			}
			defer nn.Release(m)
			acc, loss, err := classify.Evaluate(ctx, tp, m, eval, 250)
			if err != nil {
				return err
			}
			fmt.Fprintf(cli.Stdout(ctx), "accuracy %.2f%% (loss %.4f) on %d images\n", 100*acc, loss, eval.Len())
			return nil
		},
	}
}
