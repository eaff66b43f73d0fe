package checkpoint

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/internal/testdev"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/models/optim"
	"github.com/tessera-ml/tessera/models/safetensors"
	"github.com/tessera-ml/tessera/tensor"
)

// testTape opens the default device, an engine with one scope and a tape.
// At cleanup it checks that the test gave back every byte of device memory
// and that the validation layer said nothing.
func testTape(t *testing.T) *autograd.Tape {
	return autograd.NewTape(testdev.Engine(t))
}

// The synthetic data set: n examples of 6 inputs and 3 targets.
const (
	nExamples = 41
	nIn       = 6
	nOut      = 3
	batchSize = 8
	maxNorm   = 0.5
)

type dataset struct{ x, y []float32 }

func newDataset() dataset {
	r := rand.New(rand.NewPCG(7, 8))
	d := dataset{x: make([]float32, nExamples*nIn), y: make([]float32, nExamples*nOut)}
	for i := range d.x {
		d.x[i] = float32(r.NormFloat64())
	}
	for i := range d.y {
		d.y[i] = float32(2*r.Float64() - 1)
	}
	return d
}

// newModel is Linear(6→hidden) → SiLU → Linear(hidden→3) with PyTorch's
// default initialisation drawn from seed. The layers are built by hand so
// that each Var carries its full dotted name: the optimiser and the EMA key
// their state by Var.Name(), and nn.NewLinear names every weight just
// "weight", which they reject as duplicates.
func newModel(tp *autograd.Tape, seed uint64, hidden int) *nn.Sequential {
	e := tp.Engine()
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	linear := func(prefix string, in, out int) *nn.Linear {
		b := float32(1 / math.Sqrt(float64(in)))
		return &nn.Linear{
			Weight: tp.Param(e.Uniform(r.Uint64(), -b, b, out, in), prefix+".weight"),
			Bias:   tp.Param(e.Uniform(r.Uint64(), -b, b, out), prefix+".bias"),
		}
	}
	return &nn.Sequential{Layers: []nn.Layer{linear("0", nIn, hidden), nn.SiLU, linear("2", hidden, nOut)}}
}

// trainer is everything a run owns: model, optimiser, EMA and the host RNG
// that draws mini-batches.
type trainer struct {
	tp      *autograd.Tape
	model   *nn.Sequential
	opt     *optim.AdamW
	ema     *optim.EMA
	pcg     *rand.PCG
	rng     *rand.Rand
	sched   optim.Schedule
	clipped int // steps whose gradients were clipped
}

// newTrainer builds a run from seed (model init and batch RNG); it is
// released at the test's cleanup (releasing twice is harmless).
func newTrainer(t *testing.T, tp *autograd.Tape, seed uint64, hidden int) *trainer {
	m := newModel(tp, seed, hidden)
	decay, noDecay := optim.NoDecay(nn.Trainable(m))
	opt := optim.NewAdamW(decay, optim.AdamWConfig{LR: 1e-2, WeightDecay: 0.1})
	opt.AddGroup(noDecay, optim.GroupConfig{LRScale: 0.5})
	ema := optim.NewEMA(nn.Trainable(m), 0.99)
	ema.DecayFn = optim.CODAWarmup(0.99)
	pcg := rand.NewPCG(seed, 0xba7c4)
	tr := &trainer{tp: tp, model: m, opt: opt, ema: ema, pcg: pcg, rng: rand.New(pcg),
		sched: optim.Cosine(3e-2, 3, 20, 1e-3)}
	t.Cleanup(tr.release)
	return tr
}

func (tr *trainer) release() {
	tr.opt.Release()
	tr.ema.Release()
	nn.Release(tr.model)
}

// step draws a mini-batch with the host RNG and takes one clipped AdamW
// step followed by an EMA update.
func (tr *trainer) step(t *testing.T, d dataset) {
	t.Helper()
	e := tr.tp.Engine()
	s := e.Scope()
	defer s.Close()
	tr.sched.Apply(tr.opt)
	xb, yb := make([]float32, 0, batchSize*nIn), make([]float32, 0, batchSize*nOut)
	for range batchSize {
		j := tr.rng.IntN(nExamples)
		xb = append(xb, d.x[j*nIn:(j+1)*nIn]...)
		yb = append(yb, d.y[j*nOut:(j+1)*nOut]...)
	}
	x := tr.tp.Const(e.FromFloat32(xb, batchSize, nIn))
	y := tr.tp.Const(e.FromFloat32(yb, batchSize, nOut))
	loss := nn.MSE(tr.model.Forward(x), y)
	require.NoError(t, autograd.Backward(loss))
	norm, err := optim.ClipGradNorm(nn.Trainable(tr.model), maxNorm)
	require.NoError(t, err)
	if norm > maxNorm {
		tr.clipped++
	}
	require.NoError(t, tr.opt.Step())
	tr.opt.ZeroGrad()
	require.NoError(t, tr.ema.Update(tr.opt.StepCount()))
}

func (tr *trainer) state(t *testing.T, step int, extra map[string]string) State {
	words, err := EncodeRNG(tr.pcg)
	require.NoError(t, err)
	return State{Step: step, Epoch: step / 7, Batch: step % 7, RNG: words, Extra: extra}
}

func bits(t *testing.T, x *tensor.Tensor) []uint32 {
	t.Helper()
	v, err := x.Float32()
	require.NoError(t, err)
	out := make([]uint32, len(v))
	for i, f := range v {
		out[i] = math.Float32bits(f)
	}
	return out
}

// snapshot is every float of a run as bit patterns, keyed as in the file,
// plus the optimiser's step count and learning rate.
func (tr *trainer) snapshot(t *testing.T) map[string][]uint32 {
	out := map[string][]uint32{}
	for _, p := range tr.model.Params() {
		out["model."+p.Name] = bits(t, p.Var.Value)
	}
	for k, v := range tr.opt.State() {
		out["optim."+k] = bits(t, v)
	}
	for k, v := range tr.ema.State() {
		out["ema."+k] = bits(t, v)
	}
	lr := math.Float64bits(tr.opt.LR())
	out["steps,lr"] = []uint32{uint32(tr.opt.StepCount()), uint32(lr), uint32(lr >> 32)}
	return out
}

// TestResumeIsExact: 20 steps straight and 10 steps, save, rebuild from a
// different seed, load, 10 steps end bit-identical.
func TestResumeIsExact(t *testing.T) {
	tp := testTape(t)
	d := newDataset()
	dir := t.TempDir()

	a := newTrainer(t, tp, 1, 16)
	for range 20 {
		a.step(t, d)
	}
	want := a.snapshot(t)
	require.Len(t, want, 4+8+4+1, "4 parameters, 2 moments each, 4 averages")
	require.Positive(t, a.clipped, "the test should exercise clipping")
	require.Less(t, a.clipped, 20)

	b := newTrainer(t, tp, 1, 16)
	for range 10 {
		b.step(t, d)
	}
	path := Path(dir, 10)
	extra := map[string]string{"config": "mlp 6-16-3", "loss": "0.5"}
	saved := b.state(t, 10, extra)
	require.NoError(t, Save(path, b.model, b.opt, b.ema, saved))
	atTen := b.snapshot(t)
	b.release()

	c := newTrainer(t, tp, 2, 16) // different init and batch RNG
	assert.NotEqual(t, atTen["model.0.weight"], c.snapshot(t)["model.0.weight"])
	st, err := Load(path, c.model, c.opt, c.ema, LoadOptions{})
	require.NoError(t, err)
	assert.Equal(t, saved, st)
	require.Equal(t, atTen, c.snapshot(t), "loading restores every tensor, the step count and the LR")
	require.NoError(t, DecodeRNG(st.RNG, c.pcg))
	for range 10 {
		c.step(t, d)
	}
	got := c.snapshot(t)
	for k, w := range want {
		require.Equal(t, w, got[k], "%s differs between the straight and the resumed run", k)
	}
	require.Equal(t, want, got)

	// The file stores floats as F32 and the scalars with their types.
	f, err := safetensors.ReadFile(path)
	require.NoError(t, err)
	for _, tn := range f.Tensors {
		switch tn.Name {
		case nameStep, nameEpoch, nameBatch, nameOptimStep:
			assert.Equal(t, safetensors.I64, tn.DType, tn.Name)
		case nameLR:
			assert.Equal(t, safetensors.F64, tn.DType, tn.Name)
		case nameRNG:
			assert.Equal(t, safetensors.U64, tn.DType, tn.Name)
		default:
			assert.Equal(t, safetensors.F32, tn.DType, tn.Name)
		}
	}
	assert.Len(t, f.Tensors, len(atTen)-1+6)
	assert.Equal(t, "mlp 6-16-3", f.Metadata["config"])
}

// saveAfter trains a fresh run for steps and saves it into dir.
func saveAfter(t *testing.T, tp *autograd.Tape, dir string, steps, hidden int) (string, State) {
	tr := newTrainer(t, tp, 3, hidden)
	d := newDataset()
	for range steps {
		tr.step(t, d)
	}
	st := tr.state(t, steps, map[string]string{"k": "v"})
	path := Path(dir, steps)
	require.NoError(t, Save(path, tr.model, tr.opt, tr.ema, st))
	tr.release()
	return path, st
}

// edit rewrites the checkpoint at src to a new file after fn changes it.
func edit(t *testing.T, src string, fn func(f *safetensors.File)) string {
	f, err := safetensors.ReadFile(src)
	require.NoError(t, err)
	fn(f)
	dst := filepath.Join(t.TempDir(), "edited.safetensors")
	require.NoError(t, safetensors.WriteFile(dst, f.Tensors, f.Metadata))
	return dst
}

func drop(name string) func(f *safetensors.File) {
	return func(f *safetensors.File) {
		f.Tensors = slices.DeleteFunc(f.Tensors, func(t safetensors.Tensor) bool { return t.Name == name })
	}
}

func replace(t *testing.T, name string, fn func(old safetensors.Tensor) safetensors.Tensor) func(f *safetensors.File) {
	return func(f *safetensors.File) {
		tn, ok := f.Get(name)
		require.True(t, ok, name)
		*tn = fn(*tn)
	}
}

// TestLoadRejects: a checkpoint that does not fit, or a damaged file, is
// an error naming the tensor and the problem, and changes nothing.
func TestLoadRejects(t *testing.T) {
	tp := testTape(t)
	path, _ := saveAfter(t, tp, t.TempDir(), 3, 16)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	writeRaw := func(b []byte) string {
		p := filepath.Join(t.TempDir(), "raw.safetensors")
		require.NoError(t, os.WriteFile(p, b, 0o644))
		return p
	}

	cases := []struct {
		name   string
		path   func() string
		hidden int
		want   []string
	}{
		{"different layer size", func() string { return path }, 17,
			[]string{`"model.0.weight": checkpoint [16 6] vs model [17 6]`, `"model.2.weight"`, "different model/config?", `"ema.0.bias"`}},
		{"truncated", func() string { return writeRaw(raw[:len(raw)-9]) }, 16, []string{"safetensors"}},
		{"truncated header", func() string { return writeRaw(raw[:100]) }, 16, []string{"header"}},
		{"too short", func() string { return writeRaw(raw[:5]) }, 16, []string{"shorter than"}},
		{"missing parameter", func() string { return edit(t, path, drop("model.2.bias")) }, 16,
			[]string{`"model.2.bias" is missing`}},
		{"unknown parameter", func() string {
			return edit(t, path, func(f *safetensors.File) {
				tn, _ := f.Get("model.2.bias")
				extra := *tn
				extra.Name = "model.4.bias"
				f.Tensors = append(f.Tensors, extra)
			})
		}, 16, []string{`"model.4.bias": the model has no parameter "4.bias"`}},
		{"F16 parameter", func() string {
			return edit(t, path, replace(t, "model.0.bias", func(old safetensors.Tensor) safetensors.Tensor {
				v, err := old.Float32()
				require.NoError(t, err)
				n, err := safetensors.Float32Tensor(old.Name, old.Shape, v, safetensors.F16)
				require.NoError(t, err)
				return n
			}))
		}, 16, []string{`"model.0.bias" is F16, want F32`}},
		{"I32 step", func() string {
			return edit(t, path, replace(t, nameStep, func(old safetensors.Tensor) safetensors.Tensor {
				return safetensors.Int32Tensor(old.Name, nil, []int32{3})
			}))
		}, 16, []string{`"state.step" is I32 [], want a scalar of I64`}},
		{"vector epoch", func() string {
			return edit(t, path, replace(t, nameEpoch, func(old safetensors.Tensor) safetensors.Tensor {
				return uint64Tensor(old.Name, []uint64{1})
			}))
		}, 16, []string{`"state.epoch" is U64 [1], want a scalar of I64`}},
		{"F64 rng", func() string {
			return edit(t, path, replace(t, nameRNG, func(old safetensors.Tensor) safetensors.Tensor {
				return float64Tensor(old.Name, 1)
			}))
		}, 16, []string{`"state.rng" is F64 [], want a U64 vector`}},
		{"missing lr", func() string { return edit(t, path, drop(nameLR)) }, 16, []string{`"state.lr" is missing`}},
		{"half the moments", func() string { return edit(t, path, drop("optim.0.weight.exp_avg")) }, 16,
			[]string{"optimiser state", `"0.weight"`, "different model/config?"}},
		{"mis-shaped moment", func() string {
			return edit(t, path, replace(t, "optim.0.bias.exp_avg_sq", func(old safetensors.Tensor) safetensors.Tensor {
				n, err := safetensors.Float32Tensor(old.Name, []int{4, 4}, make([]float32, 16), safetensors.F32)
				require.NoError(t, err)
				return n
			}))
		}, 16, []string{"optimiser state", `"0.bias.exp_avg_sq" is [4 4]`}},
		{"missing average", func() string { return edit(t, path, drop("ema.2.weight")) }, 16,
			[]string{`"ema.2.weight" is missing`}},
		{"stray tensor", func() string {
			return edit(t, path, func(f *safetensors.File) { f.Tensors = append(f.Tensors, int64Tensor("state.extra", 1)) })
		}, 16, []string{`unexpected tensor "state.extra"`}},
		{"weights-only file", func() string {
			return edit(t, path, func(f *safetensors.File) { delete(f.Metadata, keyFormat) })
		}, 16, []string{"not a training checkpoint", "nn.Load"}},
		{"future format", func() string {
			return edit(t, path, func(f *safetensors.File) { f.Metadata[keyFormat] = "checkpoint/9" })
		}, 16, []string{`unsupported checkpoint format "checkpoint/9"`}},
		{"other optimiser", func() string {
			return edit(t, path, func(f *safetensors.File) { f.Metadata[keyOptim] = "*optim.SGD" })
		}, 16, []string{"optimiser is *optim.SGD, loading into *optim.AdamW"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.path()
			tr := newTrainer(t, tp, 4, c.hidden)
			before := tr.snapshot(t)
			_, err := Load(p, tr.model, tr.opt, tr.ema, LoadOptions{})
			require.Error(t, err)
			t.Log(err)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Equal(t, before, tr.snapshot(t), "a failed load changes nothing")
			tr.release()
		})
	}
}

// TestPartial: nil parts are skipped on either side; a part the checkpoint
// lacks is an error unless AllowMissing.
func TestPartial(t *testing.T) {
	tp := testTape(t)
	d := newDataset()
	dir := t.TempDir()
	tr := newTrainer(t, tp, 5, 16)
	for range 2 {
		tr.step(t, d)
	}
	full := Path(dir, 2)
	require.NoError(t, Save(full, tr.model, tr.opt, tr.ema, State{Step: 2}))
	modelOnly := filepath.Join(dir, "model-only.safetensors")
	require.NoError(t, Save(modelOnly, tr.model, nil, nil, State{}))
	want := tr.snapshot(t)
	tr.release()

	// Only the model, from a full checkpoint.
	u := newTrainer(t, tp, 6, 16)
	st, err := Load(full, u.model, nil, nil, LoadOptions{})
	require.NoError(t, err)
	assert.Equal(t, State{Step: 2}, st)
	assert.Equal(t, want["model.0.weight"], u.snapshot(t)["model.0.weight"])
	assert.Empty(t, u.opt.State())

	// A model-only checkpoint into a full run.
	_, err = Load(modelOnly, u.model, u.opt, u.ema, LoadOptions{})
	require.ErrorContains(t, err, "no optimiser state")
	require.ErrorContains(t, err, "no EMA")
	_, err = Load(modelOnly, u.model, u.opt, u.ema, LoadOptions{AllowMissing: true})
	require.NoError(t, err)
	assert.Empty(t, u.opt.State())
	assert.Equal(t, 0, u.opt.StepCount())

	// Into an SGD: the optimiser type is checked.
	sgd := optim.NewSGD(nn.Trainable(u.model), optim.SGDConfig{LR: 0.1, Momentum: 0.9})
	defer sgd.Release()
	_, err = Load(full, u.model, sgd, nil, LoadOptions{})
	require.ErrorContains(t, err, "the checkpoint's optimiser is *optim.AdamW, loading into *optim.SGD")

	// Reserved metadata keys.
	err = Save(Path(dir, 3), u.model, nil, nil, State{Extra: map[string]string{"tessera.format": "x"}})
	require.ErrorContains(t, err, "reserved")
	_, err = os.Stat(Path(dir, 3))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestSaveAtomic: Save leaves no temporary files, overwriting keeps a
// valid checkpoint, and a failed Save keeps the old one.
func TestSaveAtomic(t *testing.T) {
	tp := testTape(t)
	d := newDataset()
	dir := filepath.Join(t.TempDir(), "run", "ckpt") // created by Save
	tr := newTrainer(t, tp, 7, 16)
	tr.step(t, d)
	path := Path(dir, 1)
	require.NoError(t, Save(path, tr.model, tr.opt, tr.ema, State{Step: 1}))
	tr.step(t, d)
	require.NoError(t, Save(path, tr.model, tr.opt, tr.ema, State{Step: 2, Extra: map[string]string{"n": "2"}}))
	want := tr.snapshot(t)

	names := func() []string {
		des, err := os.ReadDir(dir)
		require.NoError(t, err)
		var out []string
		for _, de := range des {
			out = append(out, de.Name())
		}
		return out
	}
	assert.Equal(t, []string{"step-00000001.safetensors"}, names())

	// A Save that fails while reading the model leaves the old file.
	broken := newModel(tp, 8, 16)
	nn.Release(broken)
	require.Error(t, Save(path, broken, nil, nil, State{Step: 99}))
	assert.Equal(t, []string{"step-00000001.safetensors"}, names())

	u := newTrainer(t, tp, 9, 16)
	st, err := Load(path, u.model, u.opt, u.ema, LoadOptions{})
	require.NoError(t, err)
	assert.Equal(t, State{Step: 2, Extra: map[string]string{"n": "2"}}, st)
	assert.Equal(t, want, u.snapshot(t))
}

func TestLatestKeep(t *testing.T) {
	dir := t.TempDir()
	p, step, err := Latest(filepath.Join(dir, "absent"))
	require.NoError(t, err)
	assert.Equal(t, "", p)
	assert.Equal(t, 0, step)
	p, _, err = Latest(dir)
	require.NoError(t, err)
	assert.Equal(t, "", p, "empty directory")

	for _, s := range []int{5, 100, 20, 100_000_000, 7} {
		require.NoError(t, os.WriteFile(Path(dir, s), nil, 0o644))
	}
	others := []string{"step-abc.safetensors", "step-.safetensors", ".step-00000200.safetensors.tmp-123", "notes.txt", "step-00000300.bin"}
	for _, n := range others {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), nil, 0o644))
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, "step-00000999.safetensors"), 0o755))
	assert.Equal(t, filepath.Join(dir, "step-00000005.safetensors"), Path(dir, 5))
	assert.Equal(t, filepath.Join(dir, "step-100000000.safetensors"), Path(dir, 100_000_000))

	p, step, err = Latest(dir)
	require.NoError(t, err)
	assert.Equal(t, Path(dir, 100_000_000), p)
	assert.Equal(t, 100_000_000, step)

	require.Error(t, Keep(dir, 0))
	require.NoError(t, Keep(dir, 2))
	des, err := os.ReadDir(dir)
	require.NoError(t, err)
	var left []string
	for _, de := range des {
		left = append(left, de.Name())
	}
	want := append([]string{"step-00000100.safetensors", "step-100000000.safetensors", "step-00000999.safetensors"}, others...)
	assert.ElementsMatch(t, want, left)
	require.NoError(t, Keep(dir, 5), "keeping more than there are")
	require.NoError(t, Keep(filepath.Join(dir, "absent"), 1))
}

func TestRNGRoundTrip(t *testing.T) {
	pcg := rand.NewPCG(1, 2)
	cha := rand.NewChaCha8([32]byte{3})
	r1, r2 := rand.New(pcg), rand.New(cha)
	for range 17 {
		r1.Uint64()
		r2.Uint64()
	}
	words, err := EncodeRNG(pcg, cha)
	require.NoError(t, err)
	want := []uint64{r1.Uint64(), r2.Uint64(), r1.Uint64(), r2.Uint64()}

	pcg2, cha2 := rand.NewPCG(0, 0), rand.NewChaCha8([32]byte{})
	require.NoError(t, DecodeRNG(words, pcg2, cha2))
	q1, q2 := rand.New(pcg2), rand.New(cha2)
	assert.Equal(t, want, []uint64{q1.Uint64(), q2.Uint64(), q1.Uint64(), q2.Uint64()})

	none, err := EncodeRNG()
	require.NoError(t, err)
	assert.Empty(t, none)
	require.NoError(t, DecodeRNG(nil))
	require.ErrorContains(t, DecodeRNG(words, pcg2), "left over")
	require.ErrorContains(t, DecodeRNG(words, pcg2, cha2, rand.NewPCG(0, 0)), "hold 2 generators, want 3")
	require.ErrorContains(t, DecodeRNG(words[:2], pcg2), "only 1 words left")
	require.ErrorContains(t, DecodeRNG([]uint64{math.MaxUint64}, pcg2), "only 0 words left")
	bad := slices.Clone(words)
	bad[1] ^= 0xff // PCG's "pcg:" tag
	require.Error(t, DecodeRNG(bad, pcg2, cha2))
}
