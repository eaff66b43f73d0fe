package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/internal/cli"
	"github.com/tessera-ml/tessera/vk"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cli.Execute(context.Background(), rootCommand(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func needDevice(t *testing.T) {
	if _, err := vk.Default(); err != nil {
		t.Skipf("no Vulkan device: %v", err)
	}
}

func TestHelpListsEveryCommand(t *testing.T) {
	code, out, _ := run(t, "--help")
	require.Equal(t, cli.ExitOK, code)
	for _, c := range []string{"version", "devices", "bench", "classify"} {
		assert.Contains(t, out, c)
	}
	code, _, errOut := run(t, "nope")
	assert.Equal(t, cli.ExitUsage, code)
	assert.Contains(t, errOut, "nope")
}

func TestDevicesCommand(t *testing.T) {
	needDevice(t)
	code, out, _ := run(t, "devices")
	require.Equal(t, cli.ExitOK, code)
	assert.Contains(t, out, "*[")
	assert.Contains(t, out, "subgroup size")
	code, out, _ = run(t, "devices", "--json")
	require.Equal(t, cli.ExitOK, code)
	var infos []vk.DeviceInfo
	require.NoError(t, json.Unmarshal([]byte(out), &infos))
	assert.NotEmpty(t, infos)
}

func TestBenchCommand(t *testing.T) {
	needDevice(t)
	code, out, _ := run(t, "bench", "--list")
	require.Equal(t, cli.ExitOK, code)
	assert.Contains(t, out, "1024x1024x1024")
	assert.Contains(t, out, "train-convnet")

	code, out, _ = run(t, "bench", "--json", "--op", "matmul,copy", "--shape", "256x256x256,16777216", "--repeat", "1")
	require.Equal(t, cli.ExitOK, code)
	var rs []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &rs))
	require.Len(t, rs, 2)
	assert.Equal(t, "matmul", rs[0]["op"])
	assert.Equal(t, "256x256x256", rs[0]["shape"])
	assert.Greater(t, rs[0]["median_ms"], 0.0)
	assert.Greater(t, rs[0]["gflops"], 0.0)
	assert.Greater(t, rs[1]["gbps"], 0.0)

	code, _, errOut := run(t, "bench", "--op", "nope")
	assert.Equal(t, cli.ExitUsage, code)
	assert.Contains(t, errOut, "no case matches")
}

func TestClassifyEvalEmbeddedWeights(t *testing.T) {
	needDevice(t)
	code, out, errOut := run(t, "classify", "eval", "--skip", "9500")
	require.Equal(t, cli.ExitOK, code, errOut)
	assert.Contains(t, out, "on 500 images")
	code, _, errOut = run(t, "classify", "eval", "--weights", "/nonexistent.safetensors")
	assert.Equal(t, cli.ExitError, code)
	assert.Contains(t, errOut, "/nonexistent.safetensors")
}
