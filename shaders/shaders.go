// Package shaders holds Tessera's GLSL compute shaders and their SPIR-V.
//
// Each op family has one NAME.comp file here (shared code in include/); `go
// generate ./shaders` compiles them with glslc into spv/NAME.spv, which are
// committed and embedded, so building Tessera needs no shader compiler.
// Workgroup and tile sizes are specialization constants (ids 0, 1, ...)
// chosen per device at pipeline creation; shapes travel as push constants.
//
// Conventions every shader follows: set 0 binds storage buffers at bindings
// 0..n-1 in the order the Go launcher passes them; 1-D grids index with
// gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x so large tensors
// can spill into y.
package shaders

//go:generate go run ./internal/glslc

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed spv/*.spv
var spv embed.FS

// SPIRV returns the compiled module for a shader name (file name without
// extension).
func SPIRV(name string) ([]byte, error) {
	b, err := spv.ReadFile("spv/" + name + ".spv")
	if err != nil {
		return nil, fmt.Errorf("shaders: no compiled shader %q (is shaders/%s.comp missing, or `go generate ./shaders` not run?)", name, name)
	}
	if len(b) < 20 || len(b)%4 != 0 {
		return nil, fmt.Errorf("shaders: %s.spv is not a SPIR-V module (%d bytes)", name, len(b))
	}
	return b, nil
}

// Names lists every embedded shader.
func Names() []string {
	entries, _ := fs.ReadDir(spv, "spv")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".spv"))
	}
	sort.Strings(names)
	return names
}
