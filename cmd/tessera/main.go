// Command tessera trains and runs discrete image tokenizers and token
// generators on Vulkan GPUs (or Mesa's Lavapipe on a CPU).
//
// Run "tessera help" for the list of commands.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/tessera-ml/tessera/internal/cli"
	"github.com/tessera-ml/tessera/vk"
)

// commands returns the top-level subcommands, in the order "tessera help"
// lists them. Each one is built by a constructor in its own file.
func commands() []*cli.Command {
	return []*cli.Command{
		versionCommand(),
		devicesCommand(),
		benchCommand(),
		classifyCommand(),
		vaeCommand(),
		tokenizerCommand(),
		viewCommand(),
	}
}

// rootCommand returns the "tessera" command tree.
func rootCommand() *cli.Command {
	return &cli.Command{
		Name:    "tessera",
		Summary: "Train and run discrete image tokenizers and MaskGIT generators on Vulkan.",
		Sub:     commands(),
	}
}

func main() {
	code := cli.Main(rootCommand(), os.Args[1:], os.Stdout, os.Stderr)
	// Closing the devices waits for their work and prints TESSERA_PROFILE tables.
	if err := vk.CloseAll(); err != nil && code == cli.ExitOK {
		fmt.Fprintln(os.Stderr, "tessera:", err)
		code = cli.ExitError
	}
	os.Exit(code)
}

// version returns the main module's version as recorded by the Go
// toolchain, or "dev" for a build from a source tree.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return v
		}
	}
	return "dev"
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:    "version",
		Summary: "Print the tessera version",
		Long:    "Prints the module version (\"dev\" for a build from a source tree), the Go\nversion and the target platform.",
		Run: func(ctx context.Context, _ *flag.FlagSet, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments: %q", args)
			}
			_, err := fmt.Fprintf(cli.Stdout(ctx), "tessera %s (%s %s/%s)\n",
				version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
