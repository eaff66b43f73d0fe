package optim

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/internal/testdev"
	"github.com/tessera-ml/tessera/tensor"
)

// testTape opens the default device, an engine with one scope and a tape.
// At cleanup it checks that the test left no error behind, gave back every
// byte of device memory, and that the validation layer said nothing.
func testTape(t *testing.T) *autograd.Tape {
	return autograd.NewTape(testdev.Engine(t))
}

// hostParam is a parameter's float64 twin for the host optimisers.
type hostParam struct {
	p, m, v []float64
	buf     []float64
	shape   []int
}

func randVals(rng *rand.Rand, n int, lo, hi float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = float64(float32(lo + (hi-lo)*rng.Float64()))
	}
	return s
}

func f32(s []float64) []float32 {
	out := make([]float32, len(s))
	for i, v := range s {
		out[i] = float32(v)
	}
	return out
}

func vals(t *testing.T, x *tensor.Tensor) []float32 {
	t.Helper()
	v, err := x.Float32()
	require.NoError(t, err)
	return v
}

// requireNear checks max|got-want| ≤ tol·max(1, max|want|).
func requireNear(t *testing.T, got []float32, want []float64, tol float64, msgAndArgs ...any) {
	t.Helper()
	require.Len(t, got, len(want), msgAndArgs...)
	scale, worst := 1.0, 0.0
	for i := range want {
		scale = math.Max(scale, math.Abs(want[i]))
		worst = math.Max(worst, math.Abs(float64(got[i])-want[i]))
	}
	require.LessOrEqual(t, worst, tol*scale, msgAndArgs...)
}

// setGrad replaces p's gradient with a persistent copy of g (as Backward
// leaves it).
func setGrad(e *tensor.Engine, p *autograd.Var, g []float64) {
	p.ZeroGrad()
	p.Grad = e.FromFloat32(f32(g), p.Value.Shape()...).Persist()
}

func newParam(tp *autograd.Tape, name string, vals []float64, shape ...int) *autograd.Var {
	return tp.Param(tp.Engine().FromFloat32(f32(vals), shape...), name)
}

func releaseParams(ps ...*autograd.Var) {
	for _, p := range ps {
		p.Release()
	}
}

// torchAdamW is torch.optim.AdamW's per-parameter update in float64.
func torchAdamW(h *hostParam, g []float64, lr, b1, b2, eps, wd, scale float64, step int) {
	bc1 := 1 - math.Pow(b1, float64(step))
	bc2 := 1 - math.Pow(b2, float64(step))
	for i := range h.p {
		gi := g[i] * scale
		h.p[i] *= 1 - lr*wd
		h.m[i] += (1 - b1) * (gi - h.m[i])
		h.v[i] = b2*h.v[i] + (1-b2)*gi*gi
		h.p[i] -= lr / bc1 * h.m[i] / (math.Sqrt(h.v[i])/math.Sqrt(bc2) + eps)
	}
}

// torchSGD is torch.optim.SGD's update (dampening 0) in float64.
func torchSGD(h *hostParam, g []float64, lr, momentum, wd, scale float64, nesterov bool, step int) {
	for i := range h.p {
		d := g[i] * scale
		if wd != 0 {
			d += wd * h.p[i]
		}
		if momentum != 0 {
			if step == 1 {
				h.buf[i] = d
			} else {
				h.buf[i] = momentum*h.buf[i] + d
			}
			if nesterov {
				d += momentum * h.buf[i]
			} else {
				d = h.buf[i]
			}
		}
		h.p[i] -= lr * d
	}
}

// quadratic sets each parameter's gradient of Σ (p - c)², 2(p - c), with
// autograd.
func quadraticGrad(t *testing.T, tp *autograd.Tape, p *autograd.Var, c *tensor.Tensor) float32 {
	t.Helper()
	loss := autograd.SumAll(autograd.Square(autograd.Sub(p, tp.Const(c))))
	require.NoError(t, autograd.Backward(loss))
	l, err := loss.Value.Item()
	require.NoError(t, err)
	return l
}

func TestOptimizersConvergeOnQuadratic(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	rng := rand.New(rand.NewSource(1))
	target := randVals(rng, 7, -2, 2)
	c := e.FromFloat32(f32(target), 7)
	const steps = 200
	cases := []struct {
		name  string
		make  func(ps []*autograd.Var) Optimizer
		sched Schedule
		tol   float64 // β2 = 0.999 keeps early large gradients in v, slowing AdamW's tail
	}{
		{"adamw", func(ps []*autograd.Var) Optimizer {
			return NewAdamW(ps, AdamWConfig{LR: 0.1, WeightDecay: 0})
		}, Cosine(0.1, 10, steps, 0), 1e-2},
		{"adamw-coda-betas", func(ps []*autograd.Var) Optimizer {
			return NewAdamW(ps, AdamWConfig{LR: 0.1, Betas: [2]float64{0.5, 0.9}})
		}, Cosine(0.1, 0, steps, 0), 1e-3},
		{"sgd", func(ps []*autograd.Var) Optimizer { return NewSGD(ps, SGDConfig{LR: 0.1}) }, Constant(0.1), 1e-5},
		{"sgd-nesterov", func(ps []*autograd.Var) Optimizer {
			return NewSGD(ps, SGDConfig{LR: 0.05, Momentum: 0.9, Nesterov: true})
		}, Constant(0.05), 1e-5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newParam(tp, "p", randVals(rng, 7, -3, 3), 7)
			defer p.Release()
			opt := tc.make([]*autograd.Var{p})
			defer opt.Release()
			first := float32(0)
			for i := 0; i < steps; i++ {
				s := e.Scope()
				tc.sched.Apply(opt)
				l := quadraticGrad(t, tp, p, c)
				if i == 0 {
					first = l
				}
				require.NoError(t, opt.Step())
				opt.ZeroGrad()
				s.Close()
			}
			assert.Equal(t, steps, opt.StepCount())
			assert.Greater(t, first, float32(1))
			requireNear(t, vals(t, p.Value), target, tc.tol, "converged to the minimum")
		})
	}
}

// groupSetup is three trainable parameters of odd sizes, one frozen and one
// without a gradient.
type groupSetup struct {
	a, b, bias, frozen, nograd *autograd.Var
	host                       map[*autograd.Var]*hostParam
}

func newGroupSetup(tp *autograd.Tape, rng *rand.Rand) *groupSetup {
	s := &groupSetup{host: map[*autograd.Var]*hostParam{}}
	mk := func(name string, shape ...int) *autograd.Var {
		n := tensor.Numel(shape)
		h := &hostParam{p: randVals(rng, n, -1, 1), m: make([]float64, n), v: make([]float64, n), buf: make([]float64, n), shape: shape}
		p := newParam(tp, name, h.p, shape...)
		h.p = append([]float64(nil), h.p...)
		s.host[p] = h
		return p
	}
	s.a = mk("layer.weight", 5, 7)
	s.b = mk("layer2.weight", 33, 3)
	s.bias = mk("layer.bias", 1)
	s.frozen = mk("base.weight", 4, 3)
	s.frozen.SetRequiresGrad(false)
	s.nograd = mk("unused.weight", 9)
	return s
}

func (s *groupSetup) all() []*autograd.Var {
	return []*autograd.Var{s.a, s.b, s.bias, s.frozen, s.nograd}
}

// grads gives every parameter but nograd a fresh random gradient (the
// frozen one too: a frozen parameter's stale gradient must be ignored).
func (s *groupSetup) grads(e *tensor.Engine, rng *rand.Rand) map[*autograd.Var][]float64 {
	out := map[*autograd.Var][]float64{}
	for _, p := range []*autograd.Var{s.a, s.b, s.bias, s.frozen} {
		g := randVals(rng, p.Value.Numel(), -2, 2)
		setGrad(e, p, g)
		out[p] = g
	}
	return out
}

func TestAdamWMatchesTorch(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	rng := rand.New(rand.NewSource(2))
	s := newGroupSetup(tp, rng)
	defer releaseParams(s.all()...)
	const lr, wd, scale = 1e-2, 0.05, 0.5
	b1, b2, eps := 0.5, 0.9, 1e-8
	opt := NewAdamW([]*autograd.Var{s.a, s.b, s.frozen, s.nograd}, AdamWConfig{LR: lr, Betas: [2]float64{b1, b2}, Eps: eps, WeightDecay: wd, GradScale: scale})
	opt.AddGroup([]*autograd.Var{s.bias}, GroupConfig{LRScale: 0.5}) // no weight decay
	defer opt.Release()
	frozen0, nograd0 := vals(t, s.frozen.Value), vals(t, s.nograd.Value)
	sched := Cosine(lr, 2, 5, 1e-3)
	for step := 1; step <= 5; step++ {
		sched.Apply(opt)
		g := s.grads(e, rng)
		require.NoError(t, opt.Step())
		slr := sched(step - 1)
		torchAdamW(s.host[s.a], g[s.a], slr, b1, b2, eps, wd, scale, step)
		torchAdamW(s.host[s.b], g[s.b], slr, b1, b2, eps, wd, scale, step)
		torchAdamW(s.host[s.bias], g[s.bias], slr*0.5, b1, b2, eps, 0, scale, step)
	}
	for _, p := range []*autograd.Var{s.a, s.b, s.bias} {
		h := s.host[p]
		requireNear(t, vals(t, p.Value), h.p, 1e-5, p.Name())
		st := opt.State()
		requireNear(t, vals(t, st[p.Name()+".exp_avg"]), h.m, 1e-5, p.Name())
		requireNear(t, vals(t, st[p.Name()+".exp_avg_sq"]), h.v, 1e-5, p.Name())
	}
	assert.Equal(t, frozen0, vals(t, s.frozen.Value), "frozen parameter untouched")
	assert.Equal(t, nograd0, vals(t, s.nograd.Value), "parameter without a gradient untouched")
	assert.Len(t, opt.State(), 6, "no state for skipped parameters")
	opt.ZeroGrad()
	for _, p := range s.all() {
		assert.Nil(t, p.Grad)
	}
}

func TestSGDMatchesTorch(t *testing.T) {
	for _, nesterov := range []bool{false, true} {
		t.Run(fmt.Sprint("nesterov=", nesterov), func(t *testing.T) {
			tp := testTape(t)
			e := tp.Engine()
			rng := rand.New(rand.NewSource(3))
			s := newGroupSetup(tp, rng)
			defer releaseParams(s.all()...)
			const lr, mom, wd, scale = 0.05, 0.9, 0.01, 0.25
			opt := NewSGD([]*autograd.Var{s.a, s.b, s.frozen, s.nograd}, SGDConfig{LR: lr, Momentum: mom, WeightDecay: wd, Nesterov: nesterov, GradScale: scale})
			opt.AddGroup([]*autograd.Var{s.bias}, GroupConfig{LRScale: 2, WeightDecay: 0})
			defer opt.Release()
			frozen0 := vals(t, s.frozen.Value)
			for step := 1; step <= 5; step++ {
				g := s.grads(e, rng)
				require.NoError(t, opt.Step())
				torchSGD(s.host[s.a], g[s.a], lr, mom, wd, scale, nesterov, step)
				torchSGD(s.host[s.b], g[s.b], lr, mom, wd, scale, nesterov, step)
				torchSGD(s.host[s.bias], g[s.bias], 2*lr, mom, 0, scale, nesterov, step)
			}
			for _, p := range []*autograd.Var{s.a, s.b, s.bias} {
				requireNear(t, vals(t, p.Value), s.host[p].p, 1e-5, p.Name())
				requireNear(t, vals(t, opt.State()[p.Name()+".momentum_buffer"]), s.host[p].buf, 1e-5, p.Name())
			}
			assert.Equal(t, frozen0, vals(t, s.frozen.Value))
			assert.Len(t, opt.State(), 3)
		})
	}
}

func TestSchedules(t *testing.T) {
	tests := []struct {
		name string
		s    Schedule
		step int
		want float64
	}{
		{"constant", Constant(3e-4), 0, 3e-4},
		{"constant-late", Constant(3e-4), 1 << 20, 3e-4},
		{"warmup-first", LinearWarmup(1, 4), 0, 0.25},
		{"warmup-mid", LinearWarmup(1, 4), 2, 0.75},
		{"warmup-done", LinearWarmup(1, 4), 3, 1},
		{"warmup-after", LinearWarmup(1, 4), 100, 1},
		{"warmup-none", LinearWarmup(2, 0), 0, 2},
		{"cosine-start", Cosine(1, 0, 100, 0.1), 0, 1},
		{"cosine-half", Cosine(1, 0, 100, 0.1), 50, 0.55},
		{"cosine-quarter", Cosine(1, 0, 100, 0), 25, 0.5 * (1 + math.Sqrt2/2)},
		{"cosine-end", Cosine(1, 0, 100, 0.1), 100, 0.1},
		{"cosine-after", Cosine(1, 0, 100, 0.1), 1000, 0.1},
		{"cosine-warmup-first", Cosine(2, 10, 110, 0), 0, 0.2},
		{"cosine-warmup-last", Cosine(2, 10, 110, 0), 9, 2},
		{"cosine-peak", Cosine(2, 10, 110, 0), 10, 2},
		{"cosine-warmup-half", Cosine(2, 10, 110, 0), 60, 1},
		{"cosine-warmup-end", Cosine(2, 10, 110, 0), 110, 0},
	}
	for _, tc := range tests {
		assert.InDelta(t, tc.want, tc.s(tc.step), 1e-12, tc.name)
	}
}

func TestClipGradNorm(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	rng := rand.New(rand.NewSource(4))
	s := newGroupSetup(tp, rng)
	defer releaseParams(s.all()...)
	params := s.all()
	for _, maxNorm := range []float64{1, 1e4, math.Inf(1)} {
		t.Run(fmt.Sprint(maxNorm), func(t *testing.T) {
			g := s.grads(e, rng)
			frozen := vals(t, s.frozen.Grad)
			sq := 0.0
			for _, p := range []*autograd.Var{s.a, s.b, s.bias} {
				for _, v := range g[p] {
					sq += v * v
				}
			}
			norm := math.Sqrt(sq)
			total, err := ClipGradNorm(params, maxNorm)
			require.NoError(t, err)
			assert.InDelta(t, norm, total, 1e-6*norm)
			for _, p := range []*autograd.Var{s.a, s.b, s.bias} {
				got := vals(t, p.Grad)
				if norm <= maxNorm {
					assert.Equal(t, f32(g[p]), got, "below the threshold nothing changes")
					continue
				}
				want := make([]float64, len(g[p]))
				for i, v := range g[p] {
					want[i] = v * maxNorm / (norm + 1e-6)
				}
				requireNear(t, got, want, 1e-6)
			}
			assert.Equal(t, frozen, vals(t, s.frozen.Grad), "frozen parameters are not clipped")
		})
	}
	total, err := ClipGradNorm([]*autograd.Var{s.nograd}, 1)
	require.NoError(t, err)
	assert.Zero(t, total)
}

func TestEMA(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	rng := rand.New(rand.NewSource(5))
	w0, b0 := randVals(rng, 13, -1, 1), randVals(rng, 3, -1, 1)
	w := newParam(tp, "w", w0, 13)
	b := newParam(tp, "b", b0, 3)
	frozen := newParam(tp, "frozen", randVals(rng, 2, -1, 1), 2)
	frozen.SetRequiresGrad(false)
	defer releaseParams(w, b, frozen)

	ema := NewEMA([]*autograd.Var{w, b, frozen}, 0.999)
	defer ema.Release()
	assert.Len(t, ema.State(), 2, "frozen parameters are not averaged")
	for step, want := range map[int]float64{0: 0.1, 1: 2.0 / 11, 10: 11.0 / 20, 1e6: 0.999} {
		assert.InDelta(t, want, ema.DecayAt(step), 1e-15, "default warm-up at %d", step)
	}
	coda := CODAWarmup(0.9999)
	for step, want := range map[int]float64{0: 0.1, 1: 1.5 / 10.5, 2: 2.0 / 11, 20: 11.0 / 20, 1e8: 0.9999} {
		assert.InDelta(t, want, coda(step), 1e-15, "CODA warm-up at %d", step)
	}
	ema.DecayFn = coda

	sw, sb := append([]float64(nil), w0...), append([]float64(nil), b0...)
	var cw, cb []float64
	for step := 0; step < 6; step++ {
		cw, cb = randVals(rng, 13, -1, 1), randVals(rng, 3, -1, 1)
		require.NoError(t, e.Device().Write(w.Value.Range(), bytesOf(f32(cw))))
		require.NoError(t, e.Device().Write(b.Value.Range(), bytesOf(f32(cb))))
		require.NoError(t, ema.Update(step))
		d := coda(step)
		for i := range sw {
			sw[i] = d*sw[i] + (1-d)*cw[i]
		}
		for i := range sb {
			sb[i] = d*sb[i] + (1-d)*cb[i]
		}
	}
	requireNear(t, vals(t, ema.State()["w"]), sw, 1e-6)
	requireNear(t, vals(t, ema.State()["b"]), sb, 1e-6)

	// Swap puts the averages in and the current values aside; twice restores.
	require.NoError(t, ema.Swap([]*autograd.Var{w, b, frozen}))
	requireNear(t, vals(t, w.Value), sw, 1e-6)
	requireNear(t, vals(t, ema.State()["w"]), cw, 0)
	require.NoError(t, ema.Swap([]*autograd.Var{w, b}))
	requireNear(t, vals(t, w.Value), cw, 0)
	requireNear(t, vals(t, b.Value), cb, 0)

	// CopyTo a second instance of the model, matched by name.
	w2 := newParam(tp, "w", make([]float64, 13), 13)
	defer w2.Release()
	require.NoError(t, ema.CopyTo([]*autograd.Var{w2}))
	assert.Equal(t, vals(t, ema.State()["w"]), vals(t, w2.Value))
	unknown := newParam(tp, "unknown", make([]float64, 13), 13)
	defer unknown.Release()
	require.Error(t, ema.CopyTo([]*autograd.Var{unknown}))

	// State/LoadState round trip into a fresh EMA.
	ck := map[string]*tensor.Tensor{}
	for k, v := range ema.State() {
		ck[k] = e.FromFloat32(vals(t, v), v.Shape()...)
	}
	ema2 := NewEMA([]*autograd.Var{w, b}, 0.999)
	defer ema2.Release()
	require.NoError(t, ema2.LoadState(ck))
	for k, v := range ema.State() {
		assert.Equal(t, vals(t, v), vals(t, ema2.State()[k]), k)
	}
	require.NoError(t, ema2.LoadState(ema2.State()), "loading its own state")
	require.Error(t, ema2.LoadState(map[string]*tensor.Tensor{"w": ck["w"]}), "missing average")
	ck["extra"] = e.Zeros(1)
	require.Error(t, ema2.LoadState(ck), "unknown key")
}

func bytesOf(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		u := math.Float32bits(f)
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	return b
}

// checkpoint copies an optimiser's state through the host, as saving and
// loading a file would.
func checkpoint(t *testing.T, e *tensor.Engine, st map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	out := map[string]*tensor.Tensor{}
	for k, v := range st {
		out[k] = e.FromFloat32(vals(t, v), v.Shape()...)
	}
	return out
}

func TestStateRoundTrip(t *testing.T) {
	makers := map[string]func(ps []*autograd.Var) Optimizer{
		"adamw": func(ps []*autograd.Var) Optimizer {
			return NewAdamW(ps, AdamWConfig{LR: 1e-2, Betas: [2]float64{0.5, 0.9}, WeightDecay: 0.005})
		},
		"sgd": func(ps []*autograd.Var) Optimizer {
			return NewSGD(ps, SGDConfig{LR: 1e-2, Momentum: 0.9, WeightDecay: 1e-4})
		},
	}
	for name, mk := range makers {
		t.Run(name, func(t *testing.T) {
			tp := testTape(t)
			e := tp.Engine()
			rng := rand.New(rand.NewSource(6))
			p0 := randVals(rng, 21, -1, 1)
			a := newParam(tp, "a", p0, 3, 7)
			b := newParam(tp, "", p0, 3, 7) // unnamed: "param.1"
			defer releaseParams(a, b)
			optA := mk([]*autograd.Var{a})
			defer optA.Release()
			for step := 0; step < 3; step++ {
				setGrad(e, a, randVals(rng, 21, -1, 1))
				require.NoError(t, optA.Step())
			}
			// b resumes from a's weights and a's checkpointed state.
			e.Device().Copy(b.Value.Range(), a.Value.Range())
			first := tp.Param(e.Zeros(1), "first")
			defer first.Release()
			optB := mk([]*autograd.Var{first, b})
			defer optB.Release()
			ck := checkpoint(t, e, optA.State())
			renamed := map[string]*tensor.Tensor{}
			var key string
			for k, v := range ck {
				key = "param.1" + k[len("a"):]
				renamed[key] = v
			}
			require.NoError(t, optB.LoadState(renamed))
			optB.SetStepCount(optA.StepCount())
			assert.Equal(t, 3, optB.StepCount())
			g := randVals(rng, 21, -1, 1)
			setGrad(e, a, g)
			setGrad(e, b, g)
			require.NoError(t, optA.Step())
			require.NoError(t, optB.Step())
			assert.Equal(t, vals(t, a.Value), vals(t, b.Value), "identical next step")

			// Bad checkpoints are rejected and change nothing.
			before := vals(t, optB.State()[key])
			bad := map[string]*tensor.Tensor{"nope.exp_avg": e.Zeros(3, 7)}
			require.Error(t, optB.LoadState(bad))
			wrong := map[string]*tensor.Tensor{}
			for k := range renamed {
				wrong[k] = e.Zeros(7, 3)
			}
			require.Error(t, optB.LoadState(wrong))
			assert.Equal(t, before, vals(t, optB.State()[key]))
		})
	}
}

func TestAdamWHalfStateRejected(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	a := newParam(tp, "a", []float64{1, 2, 3}, 3)
	defer a.Release()
	opt := NewAdamW([]*autograd.Var{a}, AdamWConfig{LR: 1})
	defer opt.Release()
	require.Error(t, opt.LoadState(map[string]*tensor.Tensor{"a.exp_avg": e.Zeros(3)}))
	require.NoError(t, opt.LoadState(map[string]*tensor.Tensor{"a.exp_avg": e.Zeros(3), "a.exp_avg_sq": e.Zeros(3)}))
	assert.Len(t, opt.State(), 2)
	// Loading the live state itself is a no-op, not a use after release.
	setGrad(e, a, []float64{1, -1, 0.5})
	require.NoError(t, opt.Step())
	before := vals(t, opt.State()["a.exp_avg"])
	require.NoError(t, opt.LoadState(opt.State()))
	assert.Equal(t, before, vals(t, opt.State()["a.exp_avg"]))
	// An empty checkpoint drops the state: the next step starts fresh moments.
	require.NoError(t, opt.LoadState(map[string]*tensor.Tensor{}))
	assert.Empty(t, opt.State())
}

// batchLoss is mean((X⊙W - Y)²) over a batch of rows samples (X, Y:
// [rows, 5, 3], W [5, 3] broadcast), built with autograd ops. It avoids
// Matmul so the test checks the optimiser, not the matmul kernel.
func batchLoss(tp *autograd.Tape, w *autograd.Var, x, y []float64, rows int) *autograd.Var {
	e := tp.Engine()
	xv := tp.Const(e.FromFloat32(f32(x), rows, 5, 3))
	yv := tp.Const(e.FromFloat32(f32(y), rows, 5, 3))
	d := autograd.Sub(autograd.Mul(xv, w), yv)
	return autograd.MulScalar(autograd.SumAll(autograd.Mul(d, d)), 1/float32(rows*15))
}

// TestGradientAccumulation: 4 micro-batches with GradScale 1/4 take the
// same steps as the full batch. SGD is what checks the scale (Adam is
// nearly invariant to it); AdamW checks that accumulation composes with it.
func TestGradientAccumulation(t *testing.T) {
	makers := map[string]func(ps []*autograd.Var) Optimizer{
		"adamw": func(ps []*autograd.Var) Optimizer { return NewAdamW(ps, AdamWConfig{LR: 1e-2, WeightDecay: 0.01}) },
		"sgd":   func(ps []*autograd.Var) Optimizer { return NewSGD(ps, SGDConfig{LR: 0.1, Momentum: 0.9}) },
	}
	for name, mk := range makers {
		t.Run(name, func(t *testing.T) {
			tp := testTape(t)
			e := tp.Engine()
			rng := rand.New(rand.NewSource(7))
			const rows, micro = 12, 4
			w0 := randVals(rng, 15, -1, 1)
			full := newParam(tp, "w", w0, 5, 3)
			acc := newParam(tp, "w", w0, 5, 3)
			defer releaseParams(full, acc)
			optFull, optAcc := mk([]*autograd.Var{full}), mk([]*autograd.Var{acc})
			defer optFull.Release()
			defer optAcc.Release()
			switch o := optAcc.(type) {
			case *AdamW:
				o.GradScale = 1.0 / micro
			case *SGD:
				o.GradScale = 1.0 / micro
			}
			for step := 0; step < 2; step++ {
				s := e.Scope()
				x, y := randVals(rng, rows*15, -1, 1), randVals(rng, rows*15, -1, 1)
				require.NoError(t, autograd.Backward(batchLoss(tp, full, x, y, rows)))
				require.NoError(t, optFull.Step())
				optFull.ZeroGrad()
				per := rows / micro
				for i := 0; i < micro; i++ {
					require.NoError(t, autograd.Backward(batchLoss(tp, acc, x[i*per*15:(i+1)*per*15], y[i*per*15:(i+1)*per*15], per)))
				}
				require.NoError(t, optAcc.Step())
				optAcc.ZeroGrad()
				s.Close()
			}
			want := vals(t, full.Value)
			w64 := make([]float64, len(want))
			for i, v := range want {
				w64[i] = float64(v)
			}
			// Only float32 summation order differs.
			requireNear(t, vals(t, acc.Value), w64, 1e-6)
		})
	}
}

func TestNoDecaySplit(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	w := tp.Param(e.Zeros(3, 4), "w")
	b := tp.Param(e.Zeros(4), "b")
	g := tp.Param(e.Zeros(1), "g")
	defer releaseParams(w, b, g)
	decay, noDecay := NoDecay([]*autograd.Var{w, b, g})
	assert.Equal(t, []*autograd.Var{w}, decay)
	assert.Equal(t, []*autograd.Var{b, g}, noDecay)
	assert.Panics(t, func() { NewAdamW([]*autograd.Var{w, w}, AdamWConfig{}) })
	twin := tp.Param(e.Zeros(1), "w")
	defer twin.Release()
	assert.Panics(t, func() { NewSGD([]*autograd.Var{w, twin}, SGDConfig{}) })
}
