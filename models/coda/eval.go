package coda

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/data"
	"github.com/tessera-ml/tessera/models/metrics"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/models/vae"
	"github.com/tessera-ml/tessera/tensor"
)

// FeatureNet maps images [B, C, H, W] in [-1, 1] to features [B, F] for
// FID: Inception-v3's pool3 when its weights are given, else a network
// Tessera embeds.
type FeatureNet interface {
	Name() string
	Features(x *autograd.Var) (*autograd.Var, error)
}

// EvalConfig controls Evaluate.
type EvalConfig struct {
	// Limit caps the images evaluated (0: all).
	Limit int
	// Batch is the evaluation batch (0: 32).
	Batch int
	// Seed draws the posterior noise (CODA samples in evaluation too).
	Seed uint64
	// Features computes FID between originals and reconstructions; nil
	// skips FID.
	Features FeatureNet
}

// Metrics are a tokenizer's reconstruction metrics (coda-method.md §6).
type Metrics struct {
	Images int `json:"images"`
	// QuantErr is the mean of (ẑ − z)² over latent elements.
	QuantErr float64 `json:"quant_err"`
	// PSNR and SSIM are on uint8 RGB (SSIM per channel, averaged).
	PSNR float64 `json:"psnr"`
	SSIM float64 `json:"ssim"`
	// Use is the share of codes used at least once over all levels;
	// LevelUse per level.
	Use      float64   `json:"use"`
	LevelUse []float64 `json:"level_use"`
	// FID between originals and reconstructions with the FIDNet features
	// (absent without a feature network).
	FID    float64 `json:"fid,omitempty"`
	FIDNet string  `json:"fid_net,omitempty"`
	// Counts is how often each code was chosen (all levels).
	Counts []int64 `json:"-"`
}

// Evaluate reconstructs ds (at most cfg.Limit images) with t in inference
// mode and measures it.
func Evaluate(ctx context.Context, tp *autograd.Tape, t *Tokenizer, ds data.Dataset, cfg EvalConfig) (*Metrics, error) {
	nn.SetTraining(t, false)
	defer nn.SetTraining(t, true)
	n := ds.Len()
	if cfg.Limit > 0 && cfg.Limit < n {
		n = cfg.Limit
	}
	if n == 0 {
		return nil, errors.New("coda: empty evaluation set")
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 32
	}
	K := t.Levels()
	V := t.Cfg.Quant.Codes
	m := &Metrics{Counts: make([]int64, V), LevelUse: make([]float64, K)}
	levelCounts := make([][]bool, K)
	for i := range levelCounts {
		levelCounts[i] = make([]bool, V)
	}
	var fid *metrics.FID
	var qerrSum float64
	var qerrN int
	loader := data.NewLoader(ds, cfg.Batch, data.LoaderOptions{})
	done := 0
	for b, err := range loader.Epoch(ctx, 0) {
		if err != nil {
			return nil, err
		}
		k := min(b.N, n-done)
		size := b.C * b.H * b.W
		imgs := b.Images[:k*size]
		var rec, z, zq []float32
		var ids [][]int32
		var fr, ff []float32
		var fdim int
		var ferr error
		tp.NoGrad(func() {
			e := tp.Engine()
			s := e.Scope()
			defer s.Close()
			x := tp.Const(e.FromFloat32(imgs, k, b.C, b.H, b.W))
			var out *Output
			if out, ferr = t.Forward(x, vae.StepSeed(cfg.Seed, done)); ferr != nil {
				return
			}
			defer out.Release()
			if rec, ferr = out.Recon.Value.Float32(); ferr != nil {
				return
			}
			if z, ferr = out.Z.Value.Float32(); ferr != nil {
				return
			}
			if zq, ferr = out.Q.Zq.Value.Float32(); ferr != nil {
				return
			}
			for _, id := range out.Q.Ids {
				v, err := id.Int32()
				if err != nil {
					ferr = err
					return
				}
				ids = append(ids, v)
			}
			if cfg.Features != nil {
				var f *autograd.Var
				if f, ferr = cfg.Features.Features(x); ferr != nil {
					return
				}
				fdim = f.Shape()[1]
				if fr, ferr = f.Value.Float32(); ferr != nil {
					return
				}
				xr := autograd.MinScalar(autograd.MaxScalar(out.Recon, -1), 1)
				if f, ferr = cfg.Features.Features(xr); ferr != nil {
					return
				}
				ff, ferr = f.Value.Float32()
			}
		})
		if ferr != nil {
			return nil, ferr
		}
		if len(rec) != len(imgs) {
			return nil, fmt.Errorf("coda: reconstructions have %d values for %d", len(rec), len(imgs))
		}
		p, err := metrics.PSNR(imgs, rec, k, b.C, b.H, b.W)
		if err != nil {
			return nil, err
		}
		ss, err := metrics.SSIM(imgs, rec, k, b.C, b.H, b.W)
		if err != nil {
			return nil, err
		}
		m.PSNR += p * float64(k)
		m.SSIM += ss * float64(k)
		for i := range z {
			d := float64(zq[i]) - float64(z[i])
			qerrSum += d * d
		}
		qerrN += len(z)
		for lv, v := range ids {
			for _, id := range v {
				m.Counts[id]++
				levelCounts[lv][id] = true
			}
		}
		if cfg.Features != nil {
			if fid == nil {
				fid = metrics.NewFID(fdim)
			}
			if err := fid.AddReal(fr); err != nil {
				return nil, err
			}
			if err := fid.AddFake(ff); err != nil {
				return nil, err
			}
		}
		done += k
		if done >= n {
			break
		}
	}
	m.Images = done
	m.PSNR /= float64(done)
	m.SSIM /= float64(done)
	m.QuantErr = qerrSum / float64(max(qerrN, 1))
	used := 0
	for _, c := range m.Counts {
		if c > 0 {
			used++
		}
	}
	m.Use = float64(used) / float64(V)
	for lv, seen := range levelCounts {
		u := 0
		for _, s := range seen {
			if s {
				u++
			}
		}
		m.LevelUse[lv] = float64(u) / float64(V)
	}
	if cfg.Features != nil {
		d, err := fid.Distance()
		if err != nil {
			return nil, fmt.Errorf("coda: FID: %w", err)
		}
		m.FID, m.FIDNet = d, cfg.Features.Name()
	}
	return m, nil
}

// firstImages reads the first count images of ds.
func firstImages(ctx context.Context, ds data.Dataset, count int) ([]float32, int, error) {
	count = min(count, ds.Len())
	c, h, w := ds.Shape()
	imgs := make([]float32, 0, count*c*h*w)
	for i := range count {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		img, _, err := ds.Get(i)
		if err != nil {
			return nil, 0, err
		}
		imgs = append(imgs, img...)
	}
	return imgs, count, nil
}

// ReconstructLevels returns, for n images, their reconstructions from the
// first 1, 2, …, K levels (rows[k-1] from k levels; rows[K-1] is the full
// reconstruction).
func ReconstructLevels(tp *autograd.Tape, t *Tokenizer, imgs []float32, n, c, h, w int, seed uint64) ([][]float32, error) {
	nn.SetTraining(t, false)
	defer nn.SetTraining(t, true)
	var rows [][]float32
	var err error
	tp.NoGrad(func() {
		e := tp.Engine()
		s := e.Scope()
		defer s.Close()
		x := tp.Const(e.FromFloat32(imgs, n, c, h, w))
		var ids []*tensor.Tensor
		if ids, err = t.Encode(x, seed); err != nil {
			return
		}
		for k := 1; k <= len(ids); k++ {
			var y *autograd.Var
			if y, err = t.Decode(ids, k); err != nil {
				return
			}
			var v []float32
			if v, err = y.Value.Float32(); err != nil {
				return
			}
			rows = append(rows, v)
		}
	})
	return rows, err
}

// SaveGrid writes a PNG of the first count images of ds (8 if count ≤ 0)
// above their reconstructions.
func SaveGrid(ctx context.Context, tp *autograd.Tape, t *Tokenizer, ds data.Dataset, count int, seed uint64, path string) error {
	return saveRows(ctx, tp, t, ds, count, seed, path, false)
}

// SaveLevels writes a PNG with the originals in the first row and, below,
// their reconstructions from the coarsest level alone, then adding one
// finer level per row.
func SaveLevels(ctx context.Context, tp *autograd.Tape, t *Tokenizer, ds data.Dataset, count int, seed uint64, path string) error {
	return saveRows(ctx, tp, t, ds, count, seed, path, true)
}

// saveRows writes originals above their full reconstructions, or above
// the reconstructions from every level count when levels is set.
func saveRows(ctx context.Context, tp *autograd.Tape, t *Tokenizer, ds data.Dataset, count int, seed uint64, path string, levels bool) error {
	if count <= 0 {
		count = 8
	}
	imgs, n, err := firstImages(ctx, ds, count)
	if err != nil {
		return err
	}
	c, h, w := ds.Shape()
	rows, err := ReconstructLevels(tp, t, imgs, n, c, h, w, seed)
	if err != nil {
		return err
	}
	if !levels {
		rows = rows[len(rows)-1:]
	}
	return vae.WritePNG(path, vae.Grid(append([][]float32{imgs}, rows...), n, c, h, w))
}

// UsageHistogram draws code-usage counts as a bar chart: one column per
// code (codes binned when there are more than width), heights on a log
// scale, log(1+count) relative to the largest bin's, so that rare codes
// stay visible beside busy ones; unused codes are marked red along the
// baseline.
func UsageHistogram(counts []int64, width, height int) *image.RGBA {
	width = max(min(width, len(counts)), 1)
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	bins := make([]int64, width)
	unused := make([]bool, width)
	for i, c := range counts {
		b := i * width / len(counts)
		bins[b] += c
		if c == 0 {
			unused[b] = true
		}
	}
	var top int64 = 1
	for _, b := range bins {
		top = max(top, b)
	}
	logTop := math.Log1p(float64(top))
	for x, b := range bins {
		bar := int(float64(height-4) * math.Log1p(float64(b)) / logTop)
		for y := range height {
			col := color.RGBA{255, 255, 255, 255}
			if y >= height-bar {
				col = color.RGBA{40, 90, 200, 255}
			}
			if unused[x] && y >= height-3 {
				col = color.RGBA{220, 30, 30, 255}
			}
			img.SetRGBA(x, y, col)
		}
	}
	return img
}
