package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/internal/cli"
	"github.com/tessera-ml/tessera/models/coda"
)

// TestTokenizerCommands runs the tokenizer's life cycle through the CLI on
// the embedded VAE and bundled data: a short training run with the live
// view writing PNG frames, evaluation, encoding to a token file and
// decoding it, browsing headless, and importing the release-layout
// fixture.
func TestTokenizerCommands(t *testing.T) {
	needDevice(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "tok")
	code, stdout, errOut := run(t, "tokenizer", "train", "--train", "32", "--holdout", "16", "--batch", "16",
		"--codes", "64", "--every", "1", "--eval", "16", "--out", out, "--quiet",
		"--view", "--view-headless", "--view-every", "1", "--view-images", "2")
	require.Equal(t, cli.ExitOK, code, errOut)
	assert.Contains(t, stdout, "2 steps")
	assert.Contains(t, stdout, "codebook use per level")
	assert.Contains(t, errOut, "FID features: fashion-mnist-convnet")
	assert.Contains(t, errOut, "writing frames as PNGs")
	for _, f := range []string{"tokenizer.safetensors", "levels.png", "usage.png", "metrics.json", "metrics.jsonl", "view/frame-000001.png"} {
		assert.FileExists(t, filepath.Join(out, f))
	}
	var m coda.Metrics
	b, err := os.ReadFile(filepath.Join(out, "metrics.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &m))
	assert.Equal(t, 16, m.Images)
	assert.Len(t, m.LevelUse, 6)
	assert.Greater(t, m.Use, 0.0)

	tok := filepath.Join(out, "tokenizer.safetensors")
	evalDir := filepath.Join(dir, "eval")
	code, stdout, errOut = run(t, "tokenizer", "eval", "--tokenizer", tok, "--skip", "9000", "--count", "16", "--out", evalDir)
	require.Equal(t, cli.ExitOK, code, errOut)
	assert.Contains(t, stdout, "PSNR")
	assert.FileExists(t, filepath.Join(evalDir, "grid.png"))

	tokens := filepath.Join(dir, "tokens.safetensors")
	code, stdout, errOut = run(t, "tokenizer", "encode", "--tokenizer", tok, "--skip", "9000", "--count", "5", "--batch", "2", "--out", tokens)
	require.Equal(t, cli.ExitOK, code, errOut)
	assert.Contains(t, stdout, "5 images × 104 tokens")
	tk, err := coda.ReadTokens(tokens)
	require.NoError(t, err)
	assert.Equal(t, 5, tk.N)
	dec := filepath.Join(dir, "dec")
	code, _, errOut = run(t, "tokenizer", "decode", "--tokenizer", tok, "--tokens", tokens, "--levels", "2", "--out", dec)
	require.Equal(t, cli.ExitOK, code, errOut)
	requirePNG(t, filepath.Join(dec, "000004.png"), 28+4, 28+4)

	// Tokens are tied to their tokenizer: another configuration refuses them.
	other := filepath.Join(dir, "other")
	code, _, errOut = run(t, "tokenizer", "train", "--train", "16", "--holdout", "16", "--batch", "16", "--codes", "32",
		"--every", "0", "--no-fid", "--perceptual", "off", "--gan-weight", "0", "--out", other, "--quiet")
	require.Equal(t, cli.ExitOK, code, errOut)
	code, _, errOut = run(t, "tokenizer", "decode", "--tokenizer", filepath.Join(other, "tokenizer.safetensors"), "--tokens", tokens, "--out", dec)
	assert.Equal(t, cli.ExitError, code)
	assert.Contains(t, errOut, "config")

	code, _, errOut = run(t, "view", "--tokenizer", tok, "--headless", "--dir", filepath.Join(dir, "view"), "--count", "4")
	require.Equal(t, cli.ExitOK, code, errOut)
	assert.FileExists(t, filepath.Join(dir, "view", "frame-000001.png"))

	imported := filepath.Join(dir, "imported.safetensors")
	code, stdout, errOut = run(t, "tokenizer", "import", "--vae", "../../models/coda/testdata/release_vae.pth",
		"--quantizer", "../../models/coda/testdata/release_quantizer.pth", "--preset", "mar-kl16", "--out", imported)
	// The fixture is MAR-like at reduced size (4 latent channels): the full
	// mar-kl16 preset must refuse it, saying why (the package test imports
	// it with its own architecture).
	assert.Equal(t, cli.ExitError, code)
	assert.Contains(t, errOut, "the quantizer has 4 channels but the VAE's latents have 16")
	assert.NoFileExists(t, imported)
	assert.Empty(t, stdout)

	// Usage errors.
	for _, args := range [][]string{
		{"tokenizer", "train", "--kind", "bogus", "--out", other},
		{"tokenizer", "train", "--lora", "middle", "--out", other},
		{"tokenizer", "train", "--scales", "1,x", "--out", other},
		{"tokenizer", "decode", "--tokens", filepath.Join(dir, "missing.safetensors")},
	} {
		code, _, _ := run(t, args...)
		assert.NotEqual(t, cli.ExitOK, code, "%v", args)
	}
}
