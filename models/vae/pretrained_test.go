package vae

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/models/data"
	"github.com/tessera-ml/tessera/models/nn"
)

// TestPretrainedReconstructs checks the embedded weights on held-out
// images: they must keep (within noise of a 200-image sample) the quality
// the README reports for all 2 000.
func TestPretrainedReconstructs(t *testing.T) {
	tp := testTape(t)
	m, err := Pretrained(nn.NewBuilder(tp, 0))
	require.NoError(t, err)
	defer nn.Release(m)
	ds, err := data.FashionMNIST()
	require.NoError(t, err)
	_, held := ds.Split(8000)
	psnr, ssim, err := Evaluate(context.Background(), tp, m, held.Channels(3), 50, 200)
	require.NoError(t, err)
	t.Logf("held-out PSNR %.2f dB, SSIM %.4f on 200 images", psnr, ssim)
	assert.Greater(t, psnr, 22.5)
	assert.Greater(t, ssim, 0.78)
}
