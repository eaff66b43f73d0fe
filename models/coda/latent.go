package coda

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/data"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/models/vae"
)

// LatentStats estimates a VAE's latent normalisation from data, LDM's
// recipe: Shift is the mean and Scale 1/std of posterior samples of the
// first limit images of ds, so that Scale·(z − Shift) has unit variance.
// CODA's presets carry published values; this serves VAEs that do not
// (Tessera's small presets have Scale 1 as a placeholder).
func LatentStats(ctx context.Context, tp *autograd.Tape, m *vae.VAE, ds data.Dataset, limit int, seed uint64) (scale, shift float32, err error) {
	nn.SetTraining(m, false)
	defer nn.SetTraining(m, true)
	n := min(ds.Len(), limit)
	if n <= 0 {
		return 0, 0, errors.New("coda: no images to estimate the latent scale from")
	}
	var sum, sq float64
	var count int
	loader := data.NewLoader(ds, 64, data.LoaderOptions{})
	done := 0
	for b, berr := range loader.Epoch(ctx, 0) {
		if berr != nil {
			return 0, 0, berr
		}
		k := min(b.N, n-done)
		var z []float32
		tp.NoGrad(func() {
			e := tp.Engine()
			s := e.Scope()
			defer s.Close()
			x := tp.Const(e.FromFloat32(b.Images[:k*b.C*b.H*b.W], k, b.C, b.H, b.W))
			z, err = m.Encode(x).Sample(vae.StepSeed(seed, done)).Value.Float32()
		})
		if err != nil {
			return 0, 0, err
		}
		for _, v := range z {
			sum += float64(v)
			sq += float64(v) * float64(v)
		}
		count += len(z)
		done += k
		if done >= n {
			break
		}
	}
	mean := sum / float64(count)
	std := math.Sqrt(math.Max(sq/float64(count)-mean*mean, 0))
	if !(std > 1e-8) || math.IsInf(std, 0) {
		return 0, 0, fmt.Errorf("coda: latent standard deviation is %g: the VAE's encoder is degenerate", std)
	}
	return float32(1 / std), float32(mean), nil
}
