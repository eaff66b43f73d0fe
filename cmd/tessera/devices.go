package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/tessera-ml/tessera/internal/cli"
	"github.com/tessera-ml/tessera/vk"
)

func devicesCommand() *cli.Command {
	var asJSON bool
	return &cli.Command{
		Name:    "devices",
		Summary: "List the Vulkan devices and which one Tessera uses",
		Long: "Lists every physical device the Vulkan loader reports: name, vendor, type,\n" +
			"driver, memory heaps, subgroup size, shared memory and workgroup limits.\n" +
			"The device marked * is the default: discrete > integrated > virtual > CPU,\n" +
			"overridden by TESSERA_DEVICE=<index or name substring>.",
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&asJSON, "json", false, "print the devices as a JSON array")
		},
		Run: func(ctx context.Context, _ *flag.FlagSet, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unexpected arguments: %q", args)
			}
			infos, err := vk.Devices()
			if err != nil {
				return err
			}
			pick, pickErr := vk.Pick(infos, os.Getenv("TESSERA_DEVICE"))
			out := cli.Stdout(ctx)
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(infos)
			}
			for i, info := range infos {
				mark := " "
				if pickErr == nil && i == pick {
					mark = "*"
				}
				fmt.Fprintf(out, "%s%s", mark, info.Describe())
			}
			if pickErr != nil {
				return pickErr
			}
			return nil
		},
	}
}
