package coda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/checkpoint"
	"github.com/tessera-ml/tessera/models/data"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/models/optim"
	"github.com/tessera-ml/tessera/models/vae"
)

// Perceptual is a differentiable perceptual distance between
// reconstructions and originals ([B, C, H, W] in [-1, 1]): LPIPS when its
// weights are given, else a feature loss of a network Tessera has.
type Perceptual interface {
	Name() string
	Loss(recon, orig *autograd.Var) (*autograd.Var, error)
}

// TrainConfig is the tokenizer's training recipe (coda-method.md §4);
// DefaultTrainConfig holds the spec's values.
type TrainConfig struct {
	Epochs, Batch int
	// LR is AdamW's peak learning rate for LoRA and quantizer, cosine-decayed
	// to 0 without warm-up; Betas and WeightDecay are the generator's.
	LR          float64
	Betas       [2]float64
	WeightDecay float64
	// DiscWeightDecay is the discriminator's AdamW weight decay.
	DiscWeightDecay float64
	// Clip is the global gradient-norm clip (0: none).
	Clip float64
	// EMA is the long-run decay of the weights' moving average (warm-up form
	// min(EMA, (s/2+1)/(s/2+10))); evaluation uses the averaged weights.
	// 0: no EMA.
	EMA float64
	// Loss weights: L1, MSE, Perceptual, GAN (the discriminator weight,
	// times λ and the ramp step/steps), VQ (L_vq) and Entropy (L_ent).
	L1, MSE, PerceptualWeight, GAN, VQ, Entropy float64
	// GANStart is the first step (0-based) with the adversarial term and
	// the discriminator's training.
	GANStart int
	// DiscLayers and DiscCh size the PatchGAN (0: 2 and 32).
	DiscLayers, DiscCh int
	// LambdaAtConvOut measures the adaptive weight λ at the decoder's
	// conv_out (taming's choice) instead of the spec's last trainable
	// decoder layer.
	LambdaAtConvOut bool
	// Perceptual is the perceptual loss; nil turns the term off.
	Perceptual Perceptual
	Seed       uint64
	Workers    int
	// Out receives checkpoints, grids and metrics.jsonl; "" writes nothing.
	Out string
	// Every is the step interval of evaluations, grids and checkpoints
	// (0: only at the end).
	Every int
	// EvalImages caps the held-out images of the periodic evaluations.
	EvalImages int
	// GridImages is the number of images in a grid (0: 8).
	GridImages int
	Resume     bool
	MaxSteps   int
	// Keep is how many checkpoints to keep (0: 2).
	Keep int
	// UseWindow is the number of recent steps whose ids count towards the
	// reported codebook utilisation (0: 50).
	UseWindow int
	// Stop, when set, is asked after every step; true ends the run there as
	// MaxSteps does (with a checkpoint), e.g. when the user closes the
	// live view with --view-stop.
	Stop func() bool
}

// DefaultTrainConfig is coda-method.md §4: AdamW (0.5, 0.9), lr 5e-4 with
// cosine decay, weight decay 0.005 (discriminator 5e-4), clipping at 10,
// EMA 0.9999; loss 0.2·L1 + MSE + perceptual + GAN·λ·ramp + L_vq +
// 0.05·L_ent.
func DefaultTrainConfig() TrainConfig {
	return TrainConfig{
		Epochs: 1, Batch: 32, LR: 5e-4, Betas: [2]float64{0.5, 0.9}, WeightDecay: 0.005, DiscWeightDecay: 5e-4,
		Clip: 10, EMA: 0.9999, L1: 0.2, MSE: 1, PerceptualWeight: 1, GAN: 1, VQ: 1, Entropy: 0.05,
		Seed: 1, Every: 250, EvalImages: 500,
	}
}

// Progress is reported after every step.
type Progress struct {
	Epoch, Step, Steps int
	// Loss is the total generator loss; the rest are its (unweighted)
	// terms. PSNR is the batch's, from its MSE on the [-1, 1] scale.
	Loss, L1, MSE, Perc, Adv, VQ, Ent, PSNR float64
	// Use is the share of codes used over the last UseWindow steps.
	Use float64
	// GAN is set on steps where the discriminator trained.
	GAN              bool
	DiscLoss, Lambda float64
	Images           int
	Elapsed          time.Duration
	// Eval is set on steps that evaluated.
	Eval *Metrics
	// LastUsed[v] is the step (from 1) at which code v was last chosen, 0
	// if never: a read-only view for the live viewer's usage map.
	LastUsed []int
}

// Result summarises a run.
type Result struct {
	Steps, Resumed, Images int
	Elapsed                time.Duration
	Stopped                bool
	Final                  *Metrics
}

// CheckpointDir is where Train keeps checkpoints under out.
func CheckpointDir(out string) string { return filepath.Join(out, "checkpoints") }

// discCheckpointDir holds the discriminator's checkpoints, written before
// the tokenizer's so that the latest tokenizer checkpoint has its partner.
func discCheckpointDir(out string) string { return filepath.Join(CheckpointDir(out), "disc") }

// trainer is one run's state.
type trainer struct {
	tp     *autograd.Tape
	t      *Tokenizer
	cfg    TrainConfig
	params []*autograd.Var
	opt    *optim.AdamW
	ema    *optim.EMA
	disc   *vae.PatchGAN
	dOpt   *optim.AdamW
	// last is the weight the GAN's adaptive weight λ is measured at; tail
	// lists the decoder-tail parameters whose gradients measuring it
	// leaves behind (cleared after).
	last  *autograd.Var
	tail  []*autograd.Var
	steps int
	use   *usage
	log   *os.File
}

// Train adapts t (its trainable parameters: adapters and quantizer) on
// train, evaluating on eval (see Evaluate) every cfg.Every steps and at the
// end. With an EMA, t ends holding the averaged weights.
func Train(ctx context.Context, tp *autograd.Tape, t *Tokenizer, train, eval data.Dataset, cfg TrainConfig, ev EvalConfig, progress func(Progress)) (Result, error) {
	var res Result
	if cfg.Epochs < 1 || cfg.Batch < 1 || train.Len() < cfg.Batch {
		return res, fmt.Errorf("coda: need Epochs ≥ 1 and 1 ≤ Batch ≤ %d training images (got %d, %d)", train.Len(), cfg.Epochs, cfg.Batch)
	}
	if (cfg.Every > 0 || cfg.Resume) && cfg.Out == "" {
		return res, errors.New("coda: checkpoints and resuming need an output directory")
	}
	if cfg.Keep <= 0 {
		cfg.Keep = 2
	}
	if cfg.UseWindow <= 0 {
		cfg.UseWindow = 50
	}
	loader := data.NewLoader(train, cfg.Batch, data.LoaderOptions{Shuffle: true, Seed: cfg.Seed, DropLast: true, Workers: cfg.Workers})
	perEpoch := loader.Len()
	tr := &trainer{tp: tp, t: t, cfg: cfg, steps: cfg.Epochs * perEpoch, use: newUsage(t.Cfg.Quant.Codes, cfg.UseWindow)}
	tr.params = nn.Trainable(t)
	if len(tr.params) == 0 {
		return res, errors.New("coda: the tokenizer has no trainable parameters")
	}
	decay, noDecay := optim.NoDecay(tr.params)
	tr.opt = optim.NewAdamW(decay, optim.AdamWConfig{LR: cfg.LR, Betas: cfg.Betas, WeightDecay: cfg.WeightDecay})
	tr.opt.AddGroup(noDecay, optim.GroupConfig{})
	defer tr.opt.Release()
	if cfg.EMA > 0 {
		tr.ema = optim.NewEMA(tr.params, cfg.EMA)
		tr.ema.DecayFn = optim.CODAWarmup(cfg.EMA)
		defer tr.ema.Release()
	}
	if cfg.GAN > 0 {
		if err := tr.newDisc(); err != nil {
			return res, err
		}
		defer tr.dOpt.Release()
		defer nn.Release(tr.disc)
	}
	sched := optim.Cosine(cfg.LR, 0, tr.steps, 0)
	nn.SetTraining(t, true)

	ckDir := CheckpointDir(cfg.Out)
	startEpoch, skip := 0, 0
	if cfg.Resume {
		st, ok, err := tr.resume(ckDir)
		if err != nil {
			return res, err
		}
		if ok {
			res.Resumed = st.Step
			startEpoch, skip = st.Epoch, st.Batch
			if skip >= perEpoch {
				startEpoch, skip = startEpoch+1, 0
			}
		}
	}
	if cfg.Out != "" {
		if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
			return res, err
		}
		flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
		if res.Resumed == 0 {
			flags |= os.O_TRUNC
		}
		f, err := os.OpenFile(filepath.Join(cfg.Out, "metrics.jsonl"), flags, 0o644)
		if err != nil {
			return res, err
		}
		tr.log = f
		defer f.Close()
	}
	step := res.Resumed
	save := func(epoch, batch int) error {
		if cfg.Out == "" {
			return nil
		}
		st := checkpoint.State{Step: step, Epoch: epoch, Batch: batch, Extra: map[string]string{"steps": strconv.Itoa(tr.steps), "config_hash": t.Cfg.Hash()}}
		if tr.disc != nil {
			dDir := discCheckpointDir(cfg.Out)
			if err := checkpoint.Save(checkpoint.Path(dDir, step), tr.disc, tr.dOpt, nil, st); err != nil {
				return err
			}
			if err := checkpoint.Keep(dDir, cfg.Keep); err != nil {
				return err
			}
		}
		if err := checkpoint.Save(checkpoint.Path(ckDir, step), t, tr.opt, tr.ema, st); err != nil {
			return err
		}
		return checkpoint.Keep(ckDir, cfg.Keep)
	}
	evaluate := func(limit int) (m *Metrics, err error) {
		if tr.ema != nil {
			if err := tr.ema.Swap(tr.params); err != nil {
				return nil, err
			}
			defer func() {
				if serr := tr.ema.Swap(tr.params); err == nil {
					err = serr
				}
			}()
		}
		e := ev
		if limit > 0 {
			e.Limit = limit
		}
		e.Seed = cfg.Seed
		m, err = Evaluate(ctx, tp, t, eval, e)
		if err == nil && cfg.Out != "" {
			err = SaveGrid(ctx, tp, t, eval, cfg.GridImages, cfg.Seed, filepath.Join(cfg.Out, fmt.Sprintf("grid-%08d.png", step)))
		}
		if err == nil {
			err = tr.logLine(map[string]any{"step": step, "eval": m})
		}
		return m, err
	}

	start := time.Now()
	for epoch := startEpoch; epoch < cfg.Epochs; epoch++ {
		batchIdx := 0
		for batch, err := range loader.Epoch(ctx, epoch) {
			if err != nil {
				return res, err
			}
			batchIdx++
			if epoch == startEpoch && batchIdx <= skip {
				continue
			}
			sched.Apply(tr.opt)
			p, err := tr.step(batch, step)
			if err != nil {
				return res, fmt.Errorf("coda: step %d: %w", step+1, err)
			}
			step++
			res.Images += batch.N
			p.Epoch, p.Step, p.Steps, p.Images = epoch+1, step, tr.steps, res.Images
			if err := tr.logLine(p.logFields()); err != nil {
				return res, err
			}
			if cfg.Every > 0 && step%cfg.Every == 0 && step != tr.steps {
				if err := save(epoch, batchIdx); err != nil {
					return res, err
				}
				if p.Eval, err = evaluate(cfg.EvalImages); err != nil {
					return res, err
				}
			}
			p.Elapsed = time.Since(start)
			if progress != nil {
				progress(p)
			}
			if (cfg.MaxSteps > 0 && step >= cfg.MaxSteps || cfg.Stop != nil && cfg.Stop()) && step != tr.steps {
				res.Stopped, res.Steps, res.Elapsed = true, step, time.Since(start)
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
	}
	res.Steps = step
	res.Elapsed = time.Since(start)
	if res.Resumed < tr.steps {
		if err := save(cfg.Epochs-1, perEpoch); err != nil {
			return res, err
		}
	}
	var err error
	res.Final, err = evaluate(0)
	if err == nil && tr.ema != nil {
		err = tr.ema.CopyTo(tr.params)
	}
	return res, err
}

// logLine appends one JSON object to metrics.jsonl.
func (tr *trainer) logLine(v any) error {
	if tr.log == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = tr.log.Write(append(b, '\n'))
	return err
}

// logFields is a step's metrics line.
func (p Progress) logFields() map[string]any {
	m := map[string]any{"step": p.Step, "epoch": p.Epoch, "loss": p.Loss, "l1": p.L1, "mse": p.MSE, "vq": p.VQ, "ent": p.Ent, "psnr": p.PSNR, "use": p.Use}
	if p.Perc != 0 {
		m["perc"] = p.Perc
	}
	if p.GAN {
		m["adv"], m["disc"], m["lambda"] = p.Adv, p.DiscLoss, p.Lambda
	}
	for k, v := range m {
		if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			m[k] = fmt.Sprint(f) // JSON has no NaN
		}
	}
	return m
}

// newDisc builds the PatchGAN and its optimiser (betas 0.5, 0.9), and
// picks the layer λ is measured at: the last trainable parameter of the
// decoder's final block (the spec's "last trainable layer of the
// decoder": with CODA's LoRA, that block's conv2 adapter), or, when the
// decoder trains nothing there, conv_out's weight (taming's choice),
// given a gradient only for the measurement.
func (tr *trainer) newDisc() error {
	for _, p := range tr.t.VAE.DecodeTailParams() {
		if p.Var.RequiresGrad() && !tr.cfg.LambdaAtConvOut {
			tr.last = p.Var
			tr.tail = append(tr.tail, p.Var)
		}
	}
	if tr.last == nil {
		conv, ok := tr.t.VAE.Decoder.ConvOut.(*nn.Conv2d)
		if !ok {
			return fmt.Errorf("coda: the GAN's adaptive weight needs a trainable decoder layer or an nn.Conv2d conv_out, not %T", tr.t.VAE.Decoder.ConvOut)
		}
		tr.last = conv.Weight
	}
	layers, ch := tr.cfg.DiscLayers, tr.cfg.DiscCh
	if layers <= 0 {
		layers = 2
	}
	if ch <= 0 {
		ch = 32
	}
	tr.disc = vae.NewPatchGAN(nn.NewBuilder(tr.tp, tr.cfg.Seed^0xd15c0d15c0d15c0d), tr.t.Cfg.VAE.OutChannels, ch, layers)
	params := nn.Trainable(tr.disc)
	decay, noDecay := optim.NoDecay(params)
	tr.dOpt = optim.NewAdamW(decay, optim.AdamWConfig{LR: tr.cfg.LR, Betas: [2]float64{0.5, 0.9}, WeightDecay: tr.cfg.DiscWeightDecay})
	tr.dOpt.AddGroup(noDecay, optim.GroupConfig{})
	return nil
}

// resume loads the latest checkpoint in dir, if any.
func (tr *trainer) resume(dir string) (checkpoint.State, bool, error) {
	path, _, err := checkpoint.Latest(dir)
	if err != nil || path == "" {
		return checkpoint.State{}, false, err
	}
	st, err := checkpoint.Load(path, tr.t, tr.opt, tr.ema, checkpoint.LoadOptions{})
	if err != nil {
		return st, false, err
	}
	if st.Extra["steps"] != strconv.Itoa(tr.steps) {
		return st, false, fmt.Errorf("coda: %s was written by a run of %s steps, this one has %d (same --epochs, --batch and --train needed to resume)", path, st.Extra["steps"], tr.steps)
	}
	if h := st.Extra["config_hash"]; h != tr.t.Cfg.Hash() {
		return st, false, fmt.Errorf("coda: %s was written by tokenizer config %s, this one is %s", path, h, tr.t.Cfg.Hash())
	}
	if tr.disc != nil {
		dpath := checkpoint.Path(discCheckpointDir(tr.cfg.Out), st.Step)
		if _, err := checkpoint.Load(dpath, tr.disc, tr.dOpt, nil, checkpoint.LoadOptions{}); err != nil {
			return st, false, fmt.Errorf("coda: the discriminator's checkpoint for step %d: %w", st.Step, err)
		}
	}
	return st, true, nil
}

// scalar reads a scalar Var (0 for nil).
func scalar(v *autograd.Var) (float64, error) {
	if v == nil {
		return 0, nil
	}
	f, err := v.Value.Item()
	return float64(f), err
}

// weighted adds w·term to sum (sum may be nil; w = 0 or a nil term adds
// nothing).
func weighted(sum, term *autograd.Var, w float64) *autograd.Var {
	if term == nil || w == 0 {
		return sum
	}
	t := autograd.MulScalar(term, float32(w))
	if sum == nil {
		return t
	}
	return autograd.Add(sum, t)
}

// step takes one generator step and, when the GAN is on, one
// discriminator step.
func (tr *trainer) step(b data.Batch, step int) (Progress, error) {
	var p Progress
	tp, cfg, t := tr.tp, tr.cfg, tr.t
	e := tp.Engine()
	s := e.Scope()
	defer s.Close()
	x := tp.Const(e.FromFloat32(b.Images, b.N, b.C, b.H, b.W))
	if err := t.checkImages(x); err != nil {
		return p, err
	}
	z := t.VAE.EncodeScaled(x, vae.StepSeed(cfg.Seed, step))
	q, err := t.Quant.Forward(z)
	if err != nil {
		return p, err
	}
	defer q.Release()
	head, tail := t.VAE.DecodeSplit(t.VAE.Unscale(q.Zq))
	xr := tail(head)

	l1, mse := nn.L1(xr, x), nn.MSE(xr, x)
	var perc *autograd.Var
	if cfg.Perceptual != nil && cfg.PerceptualWeight != 0 {
		if perc, err = cfg.Perceptual.Loss(xr, x); err != nil {
			return p, err
		}
	}
	rec := weighted(weighted(weighted(nil, l1, cfg.L1), mse, cfg.MSE), perc, cfg.PerceptualWeight)
	loss := weighted(weighted(rec, q.Loss, cfg.VQ), q.Entropy, cfg.Entropy)

	gan := tr.disc != nil && step >= cfg.GANStart
	var adv *autograd.Var
	if gan {
		p.GAN = true
		if p.Lambda, err = tr.lambda(head, tail, x); err != nil {
			return p, err
		}
		nn.Freeze(tr.disc, true)
		adv = vae.GenAdvLoss(tr.disc.Forward(xr))
		ramp := float64(step) / float64(tr.steps)
		loss = weighted(loss, adv, cfg.GAN*p.Lambda*ramp)
	}
	if loss == nil {
		return p, errors.New("every loss weight is 0")
	}
	if err := autograd.Backward(loss); err != nil {
		return p, err
	}
	if cfg.Clip > 0 {
		if _, err := optim.ClipGradNorm(tr.params, cfg.Clip); err != nil {
			return p, err
		}
	}
	if err := tr.opt.Step(); err != nil {
		return p, err
	}
	tr.opt.ZeroGrad()
	if tr.ema != nil {
		if err := tr.ema.Update(tr.opt.StepCount()); err != nil {
			return p, err
		}
	}
	if gan {
		nn.Freeze(tr.disc, false)
		dl := vae.HingeDLoss(tr.disc.Forward(x), tr.disc.Forward(xr.Detach()))
		if err := autograd.Backward(dl); err != nil {
			return p, err
		}
		tr.dOpt.SetLR(tr.opt.LR())
		if err := tr.dOpt.Step(); err != nil {
			return p, err
		}
		tr.dOpt.ZeroGrad()
		if p.DiscLoss, err = scalar(dl); err != nil {
			return p, err
		}
	}
	for _, r := range []struct {
		dst *float64
		v   *autograd.Var
	}{{&p.Loss, loss}, {&p.L1, l1}, {&p.MSE, mse}, {&p.Perc, perc}, {&p.Adv, adv}, {&p.VQ, q.Loss}, {&p.Ent, q.Entropy}} {
		if *r.dst, err = scalar(r.v); err != nil {
			return p, err
		}
	}
	p.PSNR = 10 * math.Log10(4/math.Max(p.MSE, 1e-12))
	if math.IsNaN(p.Loss) || math.IsInf(p.Loss, 0) {
		return p, fmt.Errorf("the loss is %v (l1 %g, mse %g, vq %g, ent %g): lower --lr or check the data", p.Loss, p.L1, p.MSE, p.VQ, p.Ent)
	}
	for _, ids := range q.Ids {
		v, err := ids.Int32()
		if err != nil {
			return p, err
		}
		tr.use.add(step, v)
	}
	p.Use = tr.use.share(step)
	p.LastUsed = tr.use.last
	return p, nil
}

// lambda is the adaptive GAN weight ‖∇rec‖ / (‖∇adv‖ + 1e-6) at tr.last.
// Both norms come from the decoder's tail applied again to its detached
// input head: tr.last lives in the tail, so this gives exactly the full
// graph's gradient there (as vae.LastGradNorm does at conv_out) for the
// cost of one block, with the discriminator frozen.
func (tr *trainer) lambda(head *autograd.Var, tail func(*autograd.Var) *autograd.Var, x *autograd.Var) (float64, error) {
	cfg := tr.cfg
	was := tr.last.RequiresGrad()
	tr.last.SetRequiresGrad(true)
	defer tr.last.SetRequiresGrad(was)
	nn.Freeze(tr.disc, true)
	hd := head.Detach()
	xr := tail(hd)
	rec := weighted(weighted(nil, nn.L1(xr, x), cfg.L1), nn.MSE(xr, x), cfg.MSE)
	if cfg.Perceptual != nil && cfg.PerceptualWeight != 0 {
		perc, err := cfg.Perceptual.Loss(xr, x)
		if err != nil {
			return 0, err
		}
		rec = weighted(rec, perc, cfg.PerceptualWeight)
	}
	var recNorm float64
	if rec != nil {
		var err error
		if recNorm, err = tr.gradNorm(rec); err != nil {
			return 0, err
		}
	}
	advNorm, err := tr.gradNorm(vae.GenAdvLoss(tr.disc.Forward(tail(hd))))
	if err != nil {
		return 0, err
	}
	l := vae.AdaptiveWeight(recNorm, advNorm)
	if math.IsNaN(l) {
		return 0, fmt.Errorf("the GAN's adaptive weight is NaN (gradient norms %g, %g)", recNorm, advNorm)
	}
	return l, nil
}

// gradNorm runs Backward of loss (a graph over the decoder's tail alone)
// and returns the L2 norm of tr.last's gradient, clearing every gradient
// the pass left in the tail.
func (tr *trainer) gradNorm(loss *autograd.Var) (float64, error) {
	defer tr.last.ZeroGrad()
	for _, p := range tr.tail {
		defer p.ZeroGrad()
	}
	if err := autograd.Backward(loss); err != nil {
		return 0, err
	}
	if tr.last.Grad == nil {
		return 0, nil
	}
	return optim.ClipGradNorm([]*autograd.Var{tr.last}, math.Inf(1))
}

// usage tracks which codes were used in the last window steps.
type usage struct {
	last   []int // step+1 at which each code was last used (0: never)
	window int
}

func newUsage(codes, window int) *usage { return &usage{last: make([]int, codes), window: window} }

func (u *usage) add(step int, ids []int32) {
	for _, id := range ids {
		if int(id) >= 0 && int(id) < len(u.last) {
			u.last[id] = step + 1
		}
	}
}

// share is the fraction of codes used in steps (step−window, step].
func (u *usage) share(step int) float64 {
	n := 0
	for _, s := range u.last {
		if s > 0 && s > step+1-u.window {
			n++
		}
	}
	return float64(n) / float64(len(u.last))
}
