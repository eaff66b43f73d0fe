package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/tessera-ml/tessera/internal/bench"
	"github.com/tessera-ml/tessera/internal/cli"
	"github.com/tessera-ml/tessera/tensor"
	"github.com/tessera-ml/tessera/vk"
)

func benchCommand() *cli.Command {
	var (
		ops, shapes string
		repeats     int
		asJSON      bool
		list        bool
	)
	return &cli.Command{
		Name:    "bench",
		Summary: "Time Tessera's kernels on the default device",
		Long: "Runs each benchmark case once untimed (pipeline creation), then --repeat\n" +
			"times, and prints the median time and GFLOP/s (GB/s for memory-bound ops,\n" +
			"images/s for training steps) and the peak device memory the case held.\n" +
			"Matmul shapes are MxNxK (a [M,K] times b [K,N]); conv2d shapes are\n" +
			"NxCinxHxW-Cout-kK with padding K/2. The same cases run under\n" +
			"`go test -bench Cases ./internal/bench`.",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&ops, "op", "", "comma-separated ops to run (default all but the heavy cases; see --list)")
			fs.StringVar(&shapes, "shape", "", "comma-separated shapes to run (default all)")
			fs.IntVar(&repeats, "repeat", 5, "timed runs per case")
			fs.BoolVar(&asJSON, "json", false, "print a JSON array: op, shape, median_ms, gflops or gbps")
			fs.BoolVar(&list, "list", false, "list the cases and exit")
		},
		Run: func(ctx context.Context, _ *flag.FlagSet, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments: %q", args)
			}
			if repeats < 1 {
				return cli.Usagef("--repeat must be at least 1")
			}
			cases := bench.Select(bench.Cases(), ops, shapes)
			out := cli.Stdout(ctx)
			if list {
				for _, c := range bench.Cases() {
					heavy := ""
					if c.Heavy {
						heavy = "  (heavy: run only when --op or --shape names it)"
					}
					fmt.Fprintf(out, "%-10s %s%s\n", c.Op, c.Shape, heavy)
				}
				return nil
			}
			if len(cases) == 0 {
				return cli.Usagef("no case matches --op %q --shape %q (see --list)", ops, shapes)
			}
			dev, err := vk.Default()
			if err != nil {
				return err
			}
			defer dev.Close()
			e := tensor.New(dev)
			errw := cli.Stderr(ctx)
			fmt.Fprintf(errw, "benchmarking on %s, %d timed runs per case\n", dev.Info, repeats)
			var results []bench.Result
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			if !asJSON {
				fmt.Fprintln(tw, "op\tshape\tmedian ms\tGFLOP/s\tGB/s\timages/s\tpeak memory\tnote")
				tw.Flush()
			}
			for _, c := range cases {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				r, err := bench.Run(e, c, repeats)
				if err != nil {
					return err
				}
				results = append(results, r)
				if !asJSON {
					fmt.Fprintf(tw, "%s\t%s\t%.3f\t%s\t%s\t%s\t%s\t%s\n", r.Op, r.Shape, r.MedianMs, rate(r.GFlops), rate(r.GBps), rate(r.PerSec), vk.FormatBytes(r.PeakBytes), r.Note)
					tw.Flush()
				} else {
					fmt.Fprintf(errw, "%s %s: %.3f ms\n", r.Op, r.Shape, r.MedianMs)
				}
			}
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(results)
			}
			return nil
		},
	}
}

func rate(v float64) string {
	if v == 0 {
		return "-"
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
}
