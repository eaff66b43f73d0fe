package shaders

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/shaders/internal/compile"
)

// TestSPIRVUpToDate fails when a committed .spv differs from what its .comp
// compiles to now, or when a .comp has no .spv.
func TestSPIRVUpToDate(t *testing.T) {
	if !compile.Available() {
		t.Skip("glslc not installed: cannot check that the committed SPIR-V is current (apt-get install glslc)")
	}
	srcs, err := filepath.Glob("*.comp")
	require.NoError(t, err)
	require.NotEmpty(t, srcs)
	for _, src := range srcs {
		want, err := compile.Compile(src)
		require.NoError(t, err)
		got, err := os.ReadFile(compile.OutputPath(src))
		require.NoError(t, err, "%s has no compiled SPIR-V: run `go generate ./shaders`", src)
		require.True(t, bytes.Equal(want, got), "%s is stale: run `go generate ./shaders`", compile.OutputPath(src))
	}
}

func TestEveryEmbeddedShaderHasSource(t *testing.T) {
	names := Names()
	require.NotEmpty(t, names)
	for _, n := range names {
		_, err := os.Stat(n + ".comp")
		require.NoError(t, err, "spv/%s.spv has no %s.comp", n, n)
		b, err := SPIRV(n)
		require.NoError(t, err)
		require.Equal(t, uint32(0x07230203), uint32(b[0])|uint32(b[1])<<8|uint32(b[2])<<16|uint32(b[3])<<24, "%s: bad SPIR-V magic", n)
	}
	_, err := SPIRV("no-such-shader")
	require.Error(t, err)
}
