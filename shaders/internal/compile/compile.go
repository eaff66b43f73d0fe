// Package compile runs glslc on one compute shader, the same way for `go
// generate` and for the staleness test.
package compile

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Available reports whether glslc is on PATH.
func Available() bool {
	_, err := exec.LookPath("glslc")
	return err == nil
}

// OutputPath is where src's SPIR-V is committed.
func OutputPath(src string) string {
	base := strings.TrimSuffix(filepath.Base(src), ".comp")
	return filepath.Join(filepath.Dir(src), "spv", base+".spv")
}

// Compile returns the SPIR-V for src.
func Compile(src string) ([]byte, error) {
	tmp, err := os.CreateTemp("", "tessera-*.spv")
	if err != nil {
		return nil, err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.Command("glslc", "--target-env=vulkan1.1", "-O", "-I", filepath.Join(filepath.Dir(src), "include"),
		"-o", tmp.Name(), src)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("glslc %s: %v\n%s", src, err, stderr.String())
	}
	return os.ReadFile(tmp.Name())
}
