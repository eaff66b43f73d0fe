package vae

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/checkpoint"
	"github.com/tessera-ml/tessera/models/data"
	"github.com/tessera-ml/tessera/models/metrics"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/models/optim"
)

// TrainConfig are the autoencoder's training hyper-parameters and
// bookkeeping.
type TrainConfig struct {
	Epochs int
	Batch  int
	// LR is AdamW's peak learning rate (betas 0.9/0.999), decayed to 0 by
	// a cosine schedule over the run.
	LR          float64
	WeightDecay float64
	// L1, MSE and KL weight the loss terms: L1·|x̂−x| + MSE·(x̂−x)² (means
	// over pixels) + KL·Posterior.KL().
	L1, MSE, KL float64
	// Clip is the global gradient-norm clip (0: none).
	Clip float64
	// EMA is the decay of an exponential moving average of the weights
	// used for evaluation and the final weights (0: no EMA).
	EMA  float64
	Seed uint64
	// Workers decode batches (0: one per CPU).
	Workers int
	// Out is the directory for reconstruction grids (grid-<step>.png) and
	// checkpoints (checkpoints/step-*.safetensors); "" writes nothing.
	Out string
	// Every is the step interval of evaluation, grids and checkpoints
	// (0: only at the end).
	Every int
	// EvalImages caps the held-out images evaluated (0: all).
	EvalImages int
	// GridImages is the number of image pairs in a grid (0: 8).
	GridImages int
	// Resume continues from the latest checkpoint in Out, if any.
	Resume bool
	// MaxSteps stops the run once it has taken this many steps in all
	// (counting those before a resume), after writing a checkpoint; 0
	// runs to the end. The schedule still spans Epochs.
	MaxSteps int
	// Keep is how many checkpoints to keep (0: 2).
	Keep int
	// GANWeight > 0 adds a PatchGAN discriminator with hinge loss
	// (taming-transformers' VQLPIPSWithDiscriminator without the
	// perceptual term): the generator's loss gains
	// GANWeight·λ·(−mean D(x̂)), λ the adaptive weight at the decoder's
	// conv_out, and D takes one AdamW step per generator step. 0: off.
	GANWeight float64
	// GANStart is the step (0-based) from which the adversarial term and
	// the discriminator's training are on (taming's disc_start).
	GANStart int
	// DiscLayers and DiscCh are the PatchGAN's stride-2 layer count and
	// first-layer channels (0: 2 and 32, for 28-pixel images).
	DiscLayers, DiscCh int
	// Stop, when set, is asked after every step; true ends the run there as
	// MaxSteps does (with a checkpoint).
	Stop func() bool
}

// DefaultTrainConfig is the recipe of the tokenizer issue: L1 + MSE with a
// 1e-6 KL weight, AdamW at 1e-3 with a cosine schedule, gradients clipped
// to norm 1.
func DefaultTrainConfig() TrainConfig {
	return TrainConfig{Epochs: 4, Batch: 32, LR: 1e-3, L1: 1, MSE: 1, KL: 1e-6, Clip: 1, Seed: 1, Every: 250, EvalImages: 500}
}

// Progress is reported after every optimiser step; PSNR and SSIM are set
// (Evaluated true) on the steps that evaluated.
type Progress struct {
	Epoch, Step, Steps int // Step counts from 1 over the whole run
	Loss, KL           float64
	Images             int
	Elapsed            time.Duration
	Evaluated          bool
	PSNR, SSIM         float64
	// DiscLoss is the discriminator's hinge loss and GANLambda the
	// adaptive weight λ on steps where the GAN was on (GAN true).
	GAN                 bool
	DiscLoss, GANLambda float64
}

// Result summarises a run.
type Result struct {
	TrainLoss float64 // mean over the steps of the last epoch run
	EvalPSNR  float64
	EvalSSIM  float64
	Steps     int // steps taken in all, counting those before a resume
	Resumed   int // the step resumed from (0: a fresh run)
	Images    int // images trained on in this call
	Elapsed   time.Duration
	Stopped   bool // MaxSteps ended the run early
}

// StepSeed is the posterior noise of a step: a function of the seed and
// the step alone, so a resumed run draws what the uninterrupted one did.
func StepSeed(seed uint64, step int) uint64 {
	z := seed ^ (uint64(step)+1)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// CheckpointDir is where Train keeps checkpoints under out.
func CheckpointDir(out string) string { return filepath.Join(out, "checkpoints") }

// DiscCheckpointDir is where Train keeps the discriminator's checkpoints
// (parameters and optimiser, same step names as the autoencoder's) when
// the GAN is on: checkpoint.Save holds one model and one optimiser, so
// the discriminator gets its own file, written before the autoencoder's
// so that the latest autoencoder checkpoint always has its partner.
func DiscCheckpointDir(out string) string { return filepath.Join(CheckpointDir(out), "disc") }

// discSeed derives the discriminator's initialisation seed from the run's.
func discSeed(seed uint64) uint64 { return seed ^ 0xd15c0d15c0d15c0d }

// gan is the discriminator side of a GAN run.
type gan struct {
	d      *PatchGAN
	params []*autograd.Var
	opt    *optim.AdamW
	last   *autograd.Var // the decoder's conv_out weight
	cfg    TrainConfig
}

// newGAN builds the discriminator and its optimiser: AdamW with betas
// (0.5, 0.9) and weight decay 5e-4 (not on norms and biases, as for the
// autoencoder), its learning rate set to the generator's every step.
func newGAN(tp *autograd.Tape, m *VAE, cfg TrainConfig) (*gan, error) {
	conv, ok := m.Decoder.ConvOut.(*nn.Conv2d)
	if !ok {
		return nil, fmt.Errorf("vae: the GAN's adaptive weight needs the decoder's conv_out to be an nn.Conv2d, not %T", m.Decoder.ConvOut)
	}
	layers, ch := cfg.DiscLayers, cfg.DiscCh
	if layers <= 0 {
		layers = 2
	}
	if ch <= 0 {
		ch = 32
	}
	d := NewPatchGAN(nn.NewBuilder(tp, discSeed(cfg.Seed)), m.Cfg.OutChannels, ch, layers)
	params := nn.Trainable(d)
	decay, noDecay := optim.NoDecay(params)
	opt := optim.NewAdamW(decay, optim.AdamWConfig{LR: cfg.LR, Betas: [2]float64{0.5, 0.9}, WeightDecay: 5e-4})
	opt.AddGroup(noDecay, optim.GroupConfig{})
	return &gan{d: d, params: params, opt: opt, last: conv.Weight, cfg: cfg}, nil
}

func (g *gan) release() {
	g.opt.Release()
	nn.Release(g.d)
}

// on reports whether the GAN trains at 0-based step.
func (g *gan) on(step int) bool { return g != nil && step >= g.cfg.GANStart }

// Train fits m to train by reconstruction (see TrainConfig), evaluating
// PSNR and SSIM of the posterior mode's reconstructions on eval every
// cfg.Every steps and at the end. With cfg.Out it writes grids and
// checkpoints there, and cfg.Resume continues exactly from the latest
// checkpoint. progress, if not nil, is called after every step. With an
// EMA, m ends holding the averaged weights.
func Train(ctx context.Context, tp *autograd.Tape, m *VAE, train, eval data.Dataset, cfg TrainConfig, progress func(Progress)) (Result, error) {
	var res Result
	if cfg.Epochs < 1 || cfg.Batch < 1 || train.Len() < cfg.Batch {
		return res, fmt.Errorf("vae: need Epochs ≥ 1 and 1 ≤ Batch ≤ %d training images (got %d, %d)", train.Len(), cfg.Epochs, cfg.Batch)
	}
	if (cfg.Every > 0 || cfg.Resume) && cfg.Out == "" {
		return res, errors.New("vae: checkpoints and resuming need an output directory")
	}
	if cfg.Keep <= 0 {
		cfg.Keep = 2
	}
	e := tp.Engine()
	loader := data.NewLoader(train, cfg.Batch, data.LoaderOptions{Shuffle: true, Seed: cfg.Seed, DropLast: true, Workers: cfg.Workers})
	perEpoch := loader.Len()
	steps := cfg.Epochs * perEpoch
	params := nn.Trainable(m)
	decay, noDecay := optim.NoDecay(params)
	opt := optim.NewAdamW(decay, optim.AdamWConfig{LR: cfg.LR, Betas: [2]float64{0.9, 0.999}, WeightDecay: cfg.WeightDecay})
	opt.AddGroup(noDecay, optim.GroupConfig{})
	defer opt.Release()
	var ema *optim.EMA
	if cfg.EMA > 0 {
		ema = optim.NewEMA(params, cfg.EMA)
		defer ema.Release()
	}
	sched := optim.Cosine(cfg.LR, 0, steps, 0)
	nn.SetTraining(m, true)
	var g *gan
	if cfg.GANWeight > 0 {
		var err error
		if g, err = newGAN(tp, m, cfg); err != nil {
			return res, err
		}
		defer g.release()
	}

	ckDir := CheckpointDir(cfg.Out)
	startEpoch, skip := 0, 0
	if cfg.Resume {
		path, _, err := checkpoint.Latest(ckDir)
		if err != nil {
			return res, err
		}
		if path != "" {
			st, err := checkpoint.Load(path, m, opt, ema, checkpoint.LoadOptions{})
			if err != nil {
				return res, err
			}
			if st.Extra["steps"] != strconv.Itoa(steps) {
				return res, fmt.Errorf("vae: %s was written by a run of %s steps, this one has %d (same --epochs, --batch and --train needed to resume)", path, st.Extra["steps"], steps)
			}
			if g != nil {
				// A checkpoint from before the GAN existed (or from a run
				// without one) has no partner: resuming would not be exact.
				dpath := checkpoint.Path(DiscCheckpointDir(cfg.Out), st.Step)
				if _, err := checkpoint.Load(dpath, g.d, g.opt, nil, checkpoint.LoadOptions{}); err != nil {
					return res, fmt.Errorf("vae: the discriminator's checkpoint for step %d: %w", st.Step, err)
				}
			}
			res.Resumed = st.Step
			startEpoch, skip = st.Epoch, st.Batch
			if skip >= perEpoch {
				startEpoch, skip = startEpoch+1, 0
			}
		}
	}
	step := res.Resumed
	save := func(epoch, batch int) error {
		if cfg.Out == "" {
			return nil
		}
		st := checkpoint.State{Step: step, Epoch: epoch, Batch: batch, Extra: map[string]string{"steps": strconv.Itoa(steps)}}
		if g != nil {
			dDir := DiscCheckpointDir(cfg.Out)
			if err := checkpoint.Save(checkpoint.Path(dDir, step), g.d, g.opt, nil, st); err != nil {
				return err
			}
			if err := checkpoint.Keep(dDir, cfg.Keep); err != nil {
				return err
			}
		}
		if err := checkpoint.Save(checkpoint.Path(ckDir, step), m, opt, ema, st); err != nil {
			return err
		}
		return checkpoint.Keep(ckDir, cfg.Keep)
	}
	// evaluate scores eval (with the EMA weights swapped in) and writes a grid.
	evaluate := func() (psnr, ssim float64, err error) {
		if ema != nil {
			if err := ema.Swap(params); err != nil {
				return 0, 0, err
			}
			defer func() {
				if serr := ema.Swap(params); err == nil {
					err = serr
				}
			}()
		}
		psnr, ssim, err = Evaluate(ctx, tp, m, eval, cfg.Batch, cfg.EvalImages)
		if err == nil && cfg.Out != "" {
			err = SaveGrid(ctx, tp, m, eval, max(cfg.GridImages, 0), filepath.Join(cfg.Out, fmt.Sprintf("grid-%08d.png", step)))
		}
		return psnr, ssim, err
	}

	start := time.Now()
	for epoch := startEpoch; epoch < cfg.Epochs; epoch++ {
		var lossSum float64
		var lossN, batchIdx int
		for batch, err := range loader.Epoch(ctx, epoch) {
			if err != nil {
				return res, err
			}
			batchIdx++
			if epoch == startEpoch && batchIdx <= skip {
				continue // consumed before the checkpoint
			}
			sched.Apply(opt)
			var p Progress
			var loss, kl float64
			var err error
			if g.on(step) {
				p.GAN = true
				loss, kl, p.DiscLoss, p.GANLambda, err = ganStep(tp, m, opt, ema, params, g, batch, cfg, StepSeed(cfg.Seed, step))
			} else {
				loss, kl, err = trainStep(tp, m, opt, ema, params, batch, cfg, StepSeed(cfg.Seed, step))
			}
			if err != nil {
				return res, fmt.Errorf("vae: step %d: %w", step+1, err)
			}
			step++
			res.Images += batch.N
			lossSum += loss
			lossN++
			p.Epoch, p.Step, p.Steps, p.Loss, p.KL, p.Images = epoch+1, step, steps, loss, kl, res.Images
			if cfg.Every > 0 && step%cfg.Every == 0 && step != steps {
				if err := save(epoch, batchIdx); err != nil {
					return res, err
				}
				if p.PSNR, p.SSIM, err = evaluate(); err != nil {
					return res, err
				}
				p.Evaluated = true
			}
			p.Elapsed = time.Since(start)
			if progress != nil {
				progress(p)
			}
			if (cfg.MaxSteps > 0 && step >= cfg.MaxSteps || cfg.Stop != nil && cfg.Stop()) && step != steps {
				res.Stopped = true
				res.Steps = step
				res.TrainLoss = lossSum / float64(lossN)
				res.Elapsed = time.Since(start)
				if cfg.Every <= 0 || step%cfg.Every != 0 {
					if err := save(epoch, batchIdx); err != nil {
						return res, err
					}
				}
				return res, nil
			}
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if lossN > 0 {
			res.TrainLoss = lossSum / float64(lossN)
		}
	}
	res.Steps = step
	if err := e.Sync(); err != nil {
		return res, err
	}
	res.Elapsed = time.Since(start)
	if res.Resumed < steps {
		if err := save(cfg.Epochs-1, perEpoch); err != nil {
			return res, err
		}
	}
	var err error
	res.EvalPSNR, res.EvalSSIM, err = evaluate()
	if err == nil && ema != nil {
		err = ema.CopyTo(params)
	}
	return res, err
}

// trainStep takes one optimiser step and returns the loss and the KL term.
func trainStep(tp *autograd.Tape, m *VAE, opt optim.Optimizer, ema *optim.EMA, params []*autograd.Var, b data.Batch, cfg TrainConfig, seed uint64) (loss, kl float64, err error) {
	e := tp.Engine()
	s := e.Scope()
	defer s.Close()
	x := tp.Const(e.FromFloat32(b.Images, b.N, b.C, b.H, b.W))
	post := m.Encode(x)
	xr := m.Decode(post.Sample(seed))
	klv := post.KL()
	l := autograd.MulScalar(klv, float32(cfg.KL))
	if cfg.L1 != 0 {
		l = autograd.Add(l, autograd.MulScalar(nn.L1(xr, x), float32(cfg.L1)))
	}
	if cfg.MSE != 0 {
		l = autograd.Add(l, autograd.MulScalar(nn.MSE(xr, x), float32(cfg.MSE)))
	}
	if err := autograd.Backward(l); err != nil {
		return 0, 0, err
	}
	if cfg.Clip > 0 {
		if _, err := optim.ClipGradNorm(params, cfg.Clip); err != nil {
			return 0, 0, err
		}
	}
	if err := opt.Step(); err != nil {
		return 0, 0, err
	}
	opt.ZeroGrad()
	if ema != nil {
		if err := ema.Update(opt.StepCount()); err != nil {
			return 0, 0, err
		}
	}
	lv, err := l.Value.Item()
	if err != nil {
		return 0, 0, err
	}
	kv, err := klv.Value.Item()
	return float64(lv), float64(kv), err
}

// recLoss is the reconstruction part of the loss: L1·|x̂−x| + MSE·(x̂−x)²
// (nil when both weights are 0).
func recLoss(xr, x *autograd.Var, cfg TrainConfig) *autograd.Var {
	var l *autograd.Var
	add := func(t *autograd.Var) {
		if l == nil {
			l = t
		} else {
			l = autograd.Add(l, t)
		}
	}
	if cfg.L1 != 0 {
		add(autograd.MulScalar(nn.L1(xr, x), float32(cfg.L1)))
	}
	if cfg.MSE != 0 {
		add(autograd.MulScalar(nn.MSE(xr, x), float32(cfg.MSE)))
	}
	return l
}

// LastGradNorm runs Backward of loss, which must depend on the
// parameters only through the decoder's conv_out (its input detached, the
// discriminator frozen), and returns the L2 norm of the conv_out weight's
// gradient, leaving no gradients behind.
func LastGradNorm(loss *autograd.Var, conv *nn.Conv2d) (float64, error) {
	defer conv.Weight.ZeroGrad()
	if conv.Bias != nil {
		defer conv.Bias.ZeroGrad()
	}
	if err := autograd.Backward(loss); err != nil {
		return 0, err
	}
	if conv.Weight.Grad == nil {
		return 0, nil
	}
	return optim.ClipGradNorm([]*autograd.Var{conv.Weight}, math.Inf(1))
}

// ganStep is trainStep with the adversarial term, then one discriminator
// step; it also returns the discriminator's loss and λ.
//
// λ = ‖∇_W rec‖ / (‖∇_W adv‖ + 1e-6), W the decoder's conv_out weight, is
// taken from two extra backward passes over conv_out alone: the decoder's
// features h (conv_out's input) are computed once, and conv_out is applied
// again to h detached, so those graphs reach no parameter but conv_out's
// (the discriminator is frozen while the generator's loss is built). The
// gradient of a loss with respect to W depends only on h and on the
// gradient at x̂, which those recomputed graphs share with the full one,
// so the norms are exactly the full graph's. Both norms are read back to
// the host (one sync each).
func ganStep(tp *autograd.Tape, m *VAE, opt optim.Optimizer, ema *optim.EMA, params []*autograd.Var, g *gan, b data.Batch, cfg TrainConfig, seed uint64) (loss, kl, dLoss, lambda float64, err error) {
	e := tp.Engine()
	s := e.Scope()
	defer s.Close()
	conv := m.Decoder.ConvOut.(*nn.Conv2d) // checked by newGAN
	x := tp.Const(e.FromFloat32(b.Images, b.N, b.C, b.H, b.W))
	post := m.Encode(x)
	h := m.DecodeFeatures(post.Sample(seed))
	xr := conv.Forward(h)
	klv := post.KL()

	nn.Freeze(g.d, true)
	defer nn.Freeze(g.d, false)
	hd := h.Detach()
	var recNorm float64
	if rl := recLoss(conv.Forward(hd), x, cfg); rl != nil {
		if recNorm, err = LastGradNorm(rl, conv); err != nil {
			return 0, 0, 0, 0, err
		}
	}
	advNorm, err := LastGradNorm(GenAdvLoss(g.d.Forward(conv.Forward(hd))), conv)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	lambda = AdaptiveWeight(recNorm, advNorm)
	if math.IsNaN(lambda) {
		return 0, 0, 0, 0, fmt.Errorf("the GAN's adaptive weight is NaN (gradient norms %g, %g)", recNorm, advNorm)
	}

	l := autograd.MulScalar(klv, float32(cfg.KL))
	if rl := recLoss(xr, x, cfg); rl != nil {
		l = autograd.Add(l, rl)
	}
	l = autograd.Add(l, autograd.MulScalar(GenAdvLoss(g.d.Forward(xr)), float32(cfg.GANWeight*lambda)))
	if err := autograd.Backward(l); err != nil {
		return 0, 0, 0, 0, err
	}
	if cfg.Clip > 0 {
		if _, err := optim.ClipGradNorm(params, cfg.Clip); err != nil {
			return 0, 0, 0, 0, err
		}
	}
	if err := opt.Step(); err != nil {
		return 0, 0, 0, 0, err
	}
	opt.ZeroGrad()
	if ema != nil {
		if err := ema.Update(opt.StepCount()); err != nil {
			return 0, 0, 0, 0, err
		}
	}

	// The discriminator's step, on this step's reconstructions (from the
	// generator before its update), at the generator's learning rate.
	nn.Freeze(g.d, false)
	dl := HingeDLoss(g.d.Forward(x), g.d.Forward(xr.Detach()))
	if err := autograd.Backward(dl); err != nil {
		return 0, 0, 0, 0, err
	}
	g.opt.SetLR(opt.LR())
	if err := g.opt.Step(); err != nil {
		return 0, 0, 0, 0, err
	}
	g.opt.ZeroGrad()

	lv, err := l.Value.Item()
	if err != nil {
		return 0, 0, 0, 0, err
	}
	kv, err := klv.Value.Item()
	if err != nil {
		return 0, 0, 0, 0, err
	}
	dv, err := dl.Value.Item()
	return float64(lv), float64(kv), float64(dv), lambda, err
}

// Reconstruct decodes the posterior mode of n images (NCHW, [-1, 1]) and
// returns the reconstructions, of the decoder's size (LatentSize·Factor).
func Reconstruct(tp *autograd.Tape, m *VAE, images []float32, n, c, h, w int) (out []float32, oh, ow int, err error) {
	e := tp.Engine()
	tp.NoGrad(func() {
		s := e.Scope()
		defer s.Close()
		x := tp.Const(e.FromFloat32(images, n, c, h, w))
		y := m.Decode(m.Encode(x).Mode())
		shape := y.Shape()
		oh, ow = shape[2], shape[3]
		out, err = y.Value.Float32()
	})
	return out, oh, ow, err
}

// Evaluate returns the mean PSNR and SSIM (metrics, on uint8 RGB) of m's
// posterior-mode reconstructions of the first limit images of ds (all
// with limit 0), in batches of batch.
func Evaluate(ctx context.Context, tp *autograd.Tape, m *VAE, ds data.Dataset, batch, limit int) (psnr, ssim float64, err error) {
	nn.SetTraining(m, false)
	defer nn.SetTraining(m, true)
	n := ds.Len()
	if limit > 0 && limit < n {
		n = limit
	}
	if n == 0 {
		return 0, 0, errors.New("vae: empty evaluation set")
	}
	loader := data.NewLoader(ds, max(batch, 1), data.LoaderOptions{})
	total := 0
	for b, berr := range loader.Epoch(ctx, 0) {
		if berr != nil {
			return 0, 0, berr
		}
		k := min(b.N, n-total)
		size := b.C * b.H * b.W
		imgs := b.Images[:k*size]
		rec, oh, ow, err := Reconstruct(tp, m, imgs, k, b.C, b.H, b.W)
		if err != nil {
			return 0, 0, err
		}
		if oh != b.H || ow != b.W {
			return 0, 0, fmt.Errorf("vae: reconstructions are %d×%d for %d×%d images (sides must be multiples of %d)", oh, ow, b.H, b.W, m.Cfg.Factor())
		}
		p, err := metrics.PSNR(imgs, rec, k, b.C, b.H, b.W)
		if err != nil {
			return 0, 0, err
		}
		s, err := metrics.SSIM(imgs, rec, k, b.C, b.H, b.W)
		if err != nil {
			return 0, 0, err
		}
		psnr += p * float64(k)
		ssim += s * float64(k)
		total += k
		if total >= n {
			break
		}
	}
	return psnr / float64(total), ssim / float64(total), nil
}

// SaveGrid writes a PNG of the first count images of ds (8 if count is 0)
// in a row above their reconstructions.
func SaveGrid(ctx context.Context, tp *autograd.Tape, m *VAE, ds data.Dataset, count int, path string) error {
	if count <= 0 {
		count = 8
	}
	count = min(count, ds.Len())
	c, h, w := ds.Shape()
	imgs := make([]float32, 0, count*c*h*w)
	for i := range count {
		if err := ctx.Err(); err != nil {
			return err
		}
		img, _, err := ds.Get(i)
		if err != nil {
			return err
		}
		imgs = append(imgs, img...)
	}
	nn.SetTraining(m, false)
	defer nn.SetTraining(m, true)
	rec, oh, ow, err := Reconstruct(tp, m, imgs, count, c, h, w)
	if err != nil {
		return err
	}
	if oh != h || ow != w {
		return fmt.Errorf("vae: reconstructions are %d×%d for %d×%d images", oh, ow, h, w)
	}
	return WritePNG(path, Grid([][]float32{imgs, rec}, count, c, h, w))
}

// Grid lays out rows of count NCHW images in [-1, 1] (1 or 3 channels)
// one row above the next, with a 2-pixel white gutter.
func Grid(rows [][]float32, count, c, h, w int) *image.RGBA {
	const gap = 2
	W := count*(w+gap) + gap
	H := len(rows)*(h+gap) + gap
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	hw := h * w
	for r, row := range rows {
		for k := range count {
			base := k * c * hw
			for y := range h {
				for x := range w {
					ch := func(i int) uint8 { return metrics.ToUint8(row[base+min(i, c-1)*hw+y*w+x]) }
					img.SetRGBA(gap+k*(w+gap)+x, gap+r*(h+gap)+y, color.RGBA{ch(0), ch(1), ch(2), 255})
				}
			}
		}
	}
	return img
}

// WritePNG writes img to path, creating the directory.
func WritePNG(path string, img image.Image) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("vae: writing %s: %w", path, err)
	}
	return f.Close()
}
