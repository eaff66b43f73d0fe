// Command glslc compiles every shaders/*.comp into shaders/spv/*.spv; run it
// with `go generate ./shaders` from the repository root or the shaders
// directory. It recompiles everything (glslc is fast, and includes make
// per-file staleness checks fragile) unless shader names are given:
// `go run ./shaders/internal/glslc matmul` compiles only matmul.comp.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tessera-ml/tessera/shaders/internal/compile"
)

func main() {
	dir := "."
	if _, err := os.Stat("shaders.go"); err != nil {
		dir = "shaders"
	}
	srcs, err := filepath.Glob(filepath.Join(dir, "*.comp"))
	if names := os.Args[1:]; len(names) > 0 {
		// Compile just the named shaders (NAME or NAME.comp).
		srcs = srcs[:0]
		for _, n := range names {
			srcs = append(srcs, filepath.Join(dir, strings.TrimSuffix(filepath.Base(n), ".comp")+".comp"))
		}
	}
	if err != nil || len(srcs) == 0 {
		fmt.Fprintln(os.Stderr, "glslc: no shaders found (run from the repository root or shaders/)")
		os.Exit(1)
	}
	failed := false
	for _, src := range srcs {
		out, err := compile.Compile(src)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			failed = true
			continue
		}
		dst := compile.OutputPath(src)
		if err := os.WriteFile(dst, out, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
	fmt.Printf("compiled %d shaders\n", len(srcs))
}
