package vae

import (
	"context"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/models/checkpoint"
	"github.com/tessera-ml/tessera/models/data"
	"github.com/tessera-ml/tessera/models/nn"
)

// TestTrainImproves trains small-4x briefly on 256 Fashion-MNIST images:
// the loss falls, and the held-out reconstructions beat the untrained
// model's in PSNR.
func TestTrainImproves(t *testing.T) {
	tp := testTape(t)
	ds, err := data.FashionMNIST()
	require.NoError(t, err)
	trainSet, rest := ds.Split(256)
	evalSet, _ := rest.Split(64)
	train, eval := trainSet.Channels(3), evalSet.Channels(3)

	cfg, err := Preset("small-4x")
	require.NoError(t, err)
	m := New(nn.NewBuilder(tp, 7), cfg)
	defer nn.Release(m)
	ctx := context.Background()
	psnr0, ssim0, err := Evaluate(ctx, tp, m, eval, 32, 0)
	require.NoError(t, err)

	tc := DefaultTrainConfig()
	tc.Epochs, tc.Batch, tc.Every, tc.EvalImages = 2, 16, 16, 0
	tc.Out = t.TempDir()
	var losses []float64
	evals := 0
	res, err := Train(ctx, tp, m, train, eval, tc, func(p Progress) {
		losses = append(losses, p.Loss)
		if p.Evaluated {
			evals++
		}
		assert.Equal(t, 32, p.Steps)
	})
	require.NoError(t, err)
	require.Len(t, losses, 32)
	assert.Equal(t, 1, evals, "evaluated at step 16 (and at the end, outside progress)")
	first := (losses[0] + losses[1] + losses[2] + losses[3]) / 4
	last := (losses[28] + losses[29] + losses[30] + losses[31]) / 4
	t.Logf("loss %.4f → %.4f; held-out PSNR %.2f → %.2f dB, SSIM %.3f → %.3f", first, last, psnr0, res.EvalPSNR, ssim0, res.EvalSSIM)
	assert.Less(t, last, 0.7*first, "training loss falls")
	assert.Greater(t, res.EvalPSNR, psnr0+2, "held-out PSNR rises")
	assert.Greater(t, res.EvalSSIM, ssim0)
	assert.Equal(t, 32, res.Steps)
	assert.Equal(t, 512, res.Images)

	// Checkpoints at steps 16 and 32, grids at 16 and 32.
	path, step, err := checkpoint.Latest(CheckpointDir(tc.Out))
	require.NoError(t, err)
	assert.Equal(t, 32, step)
	assert.FileExists(t, path)
	assert.FileExists(t, checkpoint.Path(CheckpointDir(tc.Out), 16))
	for _, s := range []int{16, 32} {
		f, err := os.Open(filepath.Join(tc.Out, "grid-000000"+map[int]string{16: "16", 32: "32"}[s]+".png"))
		require.NoError(t, err)
		img, err := png.Decode(f)
		f.Close()
		require.NoError(t, err)
		// 8 images of 28 px with 2 px gutters; two rows.
		assert.Equal(t, 8*30+2, img.Bounds().Dx())
		assert.Equal(t, 2*30+2, img.Bounds().Dy())
	}
}

func TestTrainConfigErrors(t *testing.T) {
	tp := testTape(t)
	ds, err := data.FashionMNIST()
	require.NoError(t, err)
	small, _ := ds.Split(8)
	cfg, err := Preset("small-4x")
	require.NoError(t, err)
	m := New(nn.NewBuilder(tp, 1), cfg)
	defer nn.Release(m)
	tc := DefaultTrainConfig()
	tc.Batch = 16
	_, err = Train(context.Background(), tp, m, small.Channels(3), small.Channels(3), tc, nil)
	assert.ErrorContains(t, err, "Batch")
	tc.Batch, tc.Out = 4, ""
	_, err = Train(context.Background(), tp, m, small.Channels(3), small.Channels(3), tc, nil)
	assert.ErrorContains(t, err, "output directory")
}

func TestSampleSeedDiffers(t *testing.T) {
	seen := map[uint64]bool{}
	for s := range 1000 {
		seen[StepSeed(1, s)] = true
	}
	assert.Len(t, seen, 1000)
	assert.NotEqual(t, StepSeed(1, 0), StepSeed(2, 0))
}
