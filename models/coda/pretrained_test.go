package coda

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/models/data"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/models/vae"
)

// TestPretrainedTokenizer checks the embedded tokenizer on 200 held-out
// images: it is the small-4x VAE with adapters and CODA's quantizer, and
// keeps (within the noise of a 200-image sample) the quality the README
// reports for all 2 000.
func TestPretrainedTokenizer(t *testing.T) {
	tp := testTape(t)
	tok, err := Pretrained(tp)
	require.NoError(t, err)
	defer nn.Release(tok)
	small, err := vae.Preset(vae.PretrainedPreset)
	require.NoError(t, err)
	assert.Equal(t, small.ChMult, tok.Cfg.VAE.ChMult)
	assert.Equal(t, small.ZChannels, tok.Cfg.VAE.ZChannels)
	assert.Equal(t, "residual", tok.Cfg.Quant.Kind)
	assert.Equal(t, "attn", tok.Cfg.Quant.Assign)
	assert.Greater(t, tok.Cfg.LoRA.Rank, 0)
	ds, err := data.FashionMNIST()
	require.NoError(t, err)
	_, held := ds.Split(8000)
	m, err := Evaluate(context.Background(), tp, tok, held.Channels(3), EvalConfig{Limit: 200, Batch: 50, Seed: 1})
	require.NoError(t, err)
	t.Logf("held-out: PSNR %.2f dB, SSIM %.4f, use %.1f%%, quant error %.4f on 200 images", m.PSNR, m.SSIM, 100*m.Use, m.QuantErr)
	assert.Greater(t, m.PSNR, 21.5)
	assert.Greater(t, m.Use, 0.5)
}
