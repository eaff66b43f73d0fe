package main

import (
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/internal/cli"
	"github.com/tessera-ml/tessera/models/safetensors"
)

// TestVAETrainResumeReconstruct trains a few steps straight through and,
// separately, stopped at step 5 and resumed: the final weights are
// identical bit for bit. The weights then reconstruct bundled images and
// PNG files into PNGs that decode.
func TestVAETrainResumeReconstruct(t *testing.T) {
	needDevice(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	// 64 images, batch 16, 2 epochs: 8 steps; checkpoints every 3.
	common := []string{"vae", "train", "--train", "64", "--batch", "16", "--epochs", "2", "--every", "3", "--eval", "16", "--quiet"}
	code, out, errOut := run(t, append(common, "--out", a)...)
	require.Equal(t, cli.ExitOK, code, errOut)
	assert.Contains(t, out, "held-out PSNR")
	assert.Contains(t, out, "8 steps")

	code, out, errOut = run(t, append(common, "--out", b, "--max-steps", "5")...)
	require.Equal(t, cli.ExitOK, code, errOut)
	assert.Contains(t, out, "stopped after step 5")
	assert.NoFileExists(t, filepath.Join(b, vaeWeightsName))
	code, _, errOut = run(t, append(common, "--out", b, "--resume")...)
	require.Equal(t, cli.ExitOK, code, errOut)
	assert.Contains(t, errOut, "resumed from step 5")

	fa, err := safetensors.ReadFile(filepath.Join(a, vaeWeightsName))
	require.NoError(t, err)
	fb, err := safetensors.ReadFile(filepath.Join(b, vaeWeightsName))
	require.NoError(t, err)
	require.Equal(t, len(fa.Tensors), len(fb.Tensors))
	for i := range fa.Tensors {
		require.Equal(t, fa.Tensors[i].Name, fb.Tensors[i].Name)
		require.Equal(t, fa.Tensors[i].Data, fb.Tensors[i].Data, "parameter %s differs after resuming", fa.Tensors[i].Name)
	}
	assert.Equal(t, fa.Metadata["eval_psnr"], fb.Metadata["eval_psnr"])

	// A resume with other hyper-parameters is refused.
	code, _, errOut = run(t, "vae", "train", "--train", "64", "--batch", "16", "--epochs", "3", "--out", b, "--resume", "--quiet")
	assert.Equal(t, cli.ExitError, code)
	assert.Contains(t, errOut, "steps")

	// Bundled images.
	rec := filepath.Join(dir, "rec")
	code, out, errOut = run(t, "vae", "reconstruct", "--weights", filepath.Join(a, vaeWeightsName), "--skip", "9000", "--count", "3", "--out", rec)
	require.Equal(t, cli.ExitOK, code, errOut)
	assert.Contains(t, out, "PSNR")
	assert.Contains(t, out, "on 3 images")
	for _, name := range []string{"fashion-09000", "fashion-09001", "fashion-09002"} {
		requirePNG(t, filepath.Join(rec, name+".png"), 2*30+2, 30+2)
	}

	// Files and a folder: the grids train wrote are PNGs (centre-cropped to 28).
	grids, err := filepath.Glob(filepath.Join(a, "grid-*.png"))
	require.NoError(t, err)
	require.NotEmpty(t, grids)
	rec2 := filepath.Join(dir, "rec2")
	code, out, errOut = run(t, "vae", "reconstruct", "--weights", filepath.Join(a, vaeWeightsName), "--out", rec2, grids[0], b)
	require.Equal(t, cli.ExitOK, code, errOut)
	bGrids, err := filepath.Glob(filepath.Join(b, "grid-*.png"))
	require.NoError(t, err)
	assert.Contains(t, out, "on "+strconv.Itoa(1+len(bGrids))+" images")
	outs, err := filepath.Glob(filepath.Join(rec2, "*.png"))
	require.NoError(t, err)
	require.Len(t, outs, 1+len(bGrids))
	for _, p := range outs {
		requirePNG(t, p, 2*30+2, 30+2)
	}

	// Without --weights the embedded small-4x weights reconstruct; other
	// presets need weights.
	rec3 := filepath.Join(t.TempDir(), "rec3")
	code, out, errOut = run(t, "vae", "reconstruct", "--skip", "9990", "--count", "4", "--out", rec3)
	require.Equal(t, cli.ExitOK, code, errOut)
	assert.Contains(t, out, "on 4 images")
	code, _, errOut = run(t, "vae", "reconstruct", "--preset", "small-8x", "--out", rec)
	assert.Equal(t, cli.ExitUsage, code)
	assert.Contains(t, errOut, "--weights")
}

// TestVAETrainOnAFolder trains one step on a flat folder of PNGs with a
// corrupt file skipped by --skip-bad, and fails naming it without.
func TestVAETrainOnAFolder(t *testing.T) {
	needDevice(t)
	dir := t.TempDir()
	for i := 0; i < 10; i++ {
		m := image.NewRGBA(image.Rect(0, 0, 40, 36))
		for p := range m.Pix {
			m.Pix[p] = uint8(i*20 + p%7)
		}
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("img%02d.png", i)))
		require.NoError(t, err)
		require.NoError(t, png.Encode(f, m))
		require.NoError(t, f.Close())
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "broken.png"), []byte("\x89PNG truncated"), 0o644))
	out := t.TempDir()
	args := []string{"vae", "train", "--data", dir, "--train", "8", "--batch", "4", "--epochs", "1", "--eval", "2", "--quiet", "--out", out}
	code, _, errOut := run(t, args...)
	assert.Equal(t, cli.ExitError, code)
	assert.Contains(t, errOut, "broken.png")
	code, _, errOut = run(t, append(args, "--skip-bad")...)
	require.Equal(t, cli.ExitOK, code, errOut)
	_, err := os.Stat(filepath.Join(out, vaeWeightsName))
	require.NoError(t, err)
}

func TestVAEHelp(t *testing.T) {
	code, out, _ := run(t, "--help")
	require.Equal(t, cli.ExitOK, code)
	assert.Contains(t, out, "vae")
	code, _, errOut := run(t, "vae", "train", "--preset", "nope")
	assert.Equal(t, cli.ExitUsage, code)
	assert.Contains(t, errOut, "nope")
}

func requirePNG(t *testing.T, path string, w, h int) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	assert.Equal(t, w, img.Bounds().Dx(), path)
	assert.Equal(t, h, img.Bounds().Dy(), path)
}
