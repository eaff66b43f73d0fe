package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/models/optim"
	"github.com/tessera-ml/tessera/models/safetensors"
	"github.com/tessera-ml/tessera/tensor"
)

// State is everything needed to resume training exactly, besides the
// model, optimiser and EMA tensors.
type State struct {
	// Step is how many optimiser steps the run has done.
	Step int
	// Epoch is the data epoch in progress and Batch how many of its batches
	// have been consumed.
	Epoch int
	Batch int
	// RNG is the state of any host RNG the training loop owns, opaque to
	// this package (see EncodeRNG).
	RNG []uint64
	// Extra is free-form metadata (config hash, command line, metrics),
	// stored in the file's "__metadata__". Keys starting with "tessera."
	// are reserved.
	Extra map[string]string
}

// LoadOptions control Load.
type LoadOptions struct {
	// AllowMissing lets an optimiser or EMA passed to Load be absent from
	// the checkpoint (a run that adds an EMA when it resumes): it is left
	// as it is instead of failing. The model must always be complete.
	AllowMissing bool
}

// Metadata keys this package writes; Extra may not use the prefix.
const (
	reservedPrefix = "tessera."
	keyFormat      = "tessera.format"    // format version
	keyOptim       = "tessera.optimizer" // the optimiser's Go type, when saved
	keyEMA         = "tessera.ema"       // present when an EMA was saved
	formatV1       = "checkpoint/1"
)

// Tensor names and prefixes.
const (
	prefixModel   = "model."
	prefixOptim   = "optim."
	prefixEMA     = "ema."
	nameStep      = "state.step"
	nameEpoch     = "state.epoch"
	nameBatch     = "state.batch"
	nameRNG       = "state.rng"
	nameOptimStep = "state.optim_step"
	nameLR        = "state.lr"
)

// hint ends every error about a checkpoint that does not fit the objects it
// is loaded into.
const hint = "checkpoint from a different model/config?"

// Save writes one safetensors file holding model's parameters under
// "model.<name>", opt's state under "optim.<key>", ema's averages under
// "ema.<name>" (all F32, exact), the scalar state (st's step, epoch, batch
// and RNG words, opt's step count and learning rate) under "state.*", and
// st.Extra in "__metadata__". opt and ema may be nil. The file is written
// atomically (safetensors.WriteFile): path holds either its old contents or
// the whole new checkpoint. Missing parent directories are created.
func Save(path string, model nn.Module, opt optim.Optimizer, ema *optim.EMA, st State) error {
	ts, meta, err := encode(model, opt, ema, st)
	if err == nil {
		err = os.MkdirAll(filepath.Dir(path), 0o755)
	}
	if err != nil {
		return fmt.Errorf("checkpoint: save %s: %w", path, err)
	}
	if err := safetensors.WriteFile(path, ts, meta); err != nil {
		return fmt.Errorf("checkpoint: %w", err) // names the path already
	}
	return nil
}

// encode reads everything Save writes to the host.
func encode(model nn.Module, opt optim.Optimizer, ema *optim.EMA, st State) ([]safetensors.Tensor, map[string]string, error) {
	meta := make(map[string]string, len(st.Extra)+3)
	for k, v := range st.Extra {
		if strings.HasPrefix(k, reservedPrefix) {
			return nil, nil, fmt.Errorf("State.Extra key %q: keys starting with %q are reserved", k, reservedPrefix)
		}
		meta[k] = v
	}
	meta[keyFormat] = formatV1

	var ts []safetensors.Tensor
	for _, p := range model.Params() {
		t, err := hostTensor(prefixModel+p.Name, p.Var.Value)
		if err != nil {
			return nil, nil, err
		}
		ts = append(ts, t)
	}
	if opt != nil {
		meta[keyOptim] = typeName(opt)
		state := opt.State()
		for _, k := range sortedKeys(state) {
			t, err := hostTensor(prefixOptim+k, state[k])
			if err != nil {
				return nil, nil, err
			}
			ts = append(ts, t)
		}
		ts = append(ts, int64Tensor(nameOptimStep, int64(opt.StepCount())), float64Tensor(nameLR, opt.LR()))
	}
	if ema != nil {
		meta[keyEMA] = "1"
		state := ema.State()
		for _, k := range sortedKeys(state) {
			t, err := hostTensor(prefixEMA+k, state[k])
			if err != nil {
				return nil, nil, err
			}
			ts = append(ts, t)
		}
	}
	ts = append(ts,
		int64Tensor(nameStep, int64(st.Step)),
		int64Tensor(nameEpoch, int64(st.Epoch)),
		int64Tensor(nameBatch, int64(st.Batch)),
		uint64Tensor(nameRNG, st.RNG))
	return ts, meta, nil
}

// Load restores a checkpoint written by Save into model, opt and ema, which
// must be built with the same configuration as the saved ones (their
// initial values do not matter), and returns the saved State. A nil opt or
// ema skips that part of the checkpoint.
//
// Every model parameter must be in the checkpoint as F32 with its shape,
// and the checkpoint may hold no other model tensor; the optimiser must be
// of the saved type and its state must fit (optim's LoadState rules); the
// EMA must have exactly the saved averages; the scalars must have their
// types. Any problem is an error naming the tensors concerned, and if the
// file is at fault nothing is changed. Besides the tensors, Load restores
// opt's step count and learning rate.
func Load(path string, model nn.Module, opt optim.Optimizer, ema *optim.EMA, opts LoadOptions) (State, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return State{}, fmt.Errorf("checkpoint: %w", err)
	}
	st, err := restore(f, model, opt, ema, opts)
	if err != nil {
		return State{}, fmt.Errorf("checkpoint: load %s: %w", path, err)
	}
	return st, nil
}

// problems collects what does not fit, to report it all at once.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	const show = 12
	msg := strings.Join(p[:min(len(p), show)], "; ")
	if len(p) > show {
		msg += fmt.Sprintf("; and %d more", len(p)-show)
	}
	return fmt.Errorf("checkpoint does not fit (%s): %s", hint, msg)
}

// upload is a host tensor bound for a device tensor.
type upload struct {
	key   string
	shape []int
	vals  []float32
}

// restore is Load on a file already read: it checks everything first and
// only then changes model, opt and ema.
func restore(f *safetensors.File, model nn.Module, opt optim.Optimizer, ema *optim.EMA, opts LoadOptions) (State, error) {
	switch v, ok := f.Metadata[keyFormat]; {
	case !ok:
		return State{}, fmt.Errorf("not a training checkpoint: no %q in its metadata (a weights-only file? load it with nn.Load)", keyFormat)
	case v != formatV1:
		return State{}, fmt.Errorf("unsupported checkpoint format %q (this version reads %q)", v, formatV1)
	}
	savedOpt, haveOpt := f.Metadata[keyOptim]
	_, haveEMA := f.Metadata[keyEMA]

	var probs problems
	byName := make(map[string]*safetensors.Tensor, len(f.Tensors))
	for i := range f.Tensors {
		t := &f.Tensors[i]
		byName[t.Name] = t
		switch {
		case strings.HasPrefix(t.Name, prefixModel):
		case strings.HasPrefix(t.Name, prefixOptim) && haveOpt:
		case strings.HasPrefix(t.Name, prefixEMA) && haveEMA:
		case t.Name == nameStep, t.Name == nameEpoch, t.Name == nameBatch, t.Name == nameRNG:
		case (t.Name == nameOptimStep || t.Name == nameLR) && haveOpt:
		default:
			probs.add("unexpected tensor %q", t.Name)
		}
	}

	var st State
	st.Step = int(scalarInt(byName, nameStep, &probs))
	st.Epoch = int(scalarInt(byName, nameEpoch, &probs))
	st.Batch = int(scalarInt(byName, nameBatch, &probs))
	st.RNG = rngWords(byName, &probs)
	for k, v := range f.Metadata {
		if !strings.HasPrefix(k, reservedPrefix) {
			if st.Extra == nil {
				st.Extra = map[string]string{}
			}
			st.Extra[k] = v
		}
	}

	// The model: every parameter, nothing else.
	type write struct {
		v    *autograd.Var
		vals []float32
	}
	var writes []write
	var eng *tensor.Engine
	params := model.Params()
	wanted := make(map[string]bool, len(params))
	for _, p := range params {
		name := prefixModel + p.Name
		wanted[name] = true
		if eng == nil {
			eng = p.Var.Value.Engine()
		}
		vals, ok := floats(byName, name, p.Var.Shape(), "model", &probs)
		if ok {
			writes = append(writes, write{p.Var, vals})
		}
	}
	for _, t := range f.Tensors {
		if strings.HasPrefix(t.Name, prefixModel) && !wanted[t.Name] {
			probs.add("%q: the model has no parameter %q", t.Name, strings.TrimPrefix(t.Name, prefixModel))
		}
	}

	// The optimiser: its type here, the shapes in its LoadState.
	var optUploads []upload
	var optStep int64
	var lr float64
	loadOpt := false
	if opt != nil {
		switch {
		case !haveOpt && opts.AllowMissing:
		case !haveOpt:
			probs.add("the checkpoint has no optimiser state (pass a nil optimiser to skip it, or set LoadOptions.AllowMissing to keep this one fresh)")
		case savedOpt != typeName(opt):
			probs.add("the checkpoint's optimiser is %s, loading into %s", savedOpt, typeName(opt))
		default:
			loadOpt = true
			optStep = scalarInt(byName, nameOptimStep, &probs)
			lr = scalarFloat(byName, nameLR, &probs)
			for _, t := range f.Tensors {
				if key, ok := strings.CutPrefix(t.Name, prefixOptim); ok {
					if vals, ok := floats(byName, t.Name, nil, "", &probs); ok {
						optUploads = append(optUploads, upload{key, t.Shape, vals})
					}
				}
			}
		}
	}

	// The EMA: exactly its averages, checked here as its LoadState would,
	// so that once the optimiser has loaded nothing can fail on the file.
	var emaUploads []upload
	loadEMA := false
	if ema != nil {
		switch {
		case !haveEMA && opts.AllowMissing:
		case !haveEMA:
			probs.add("the checkpoint has no EMA (pass a nil EMA to skip it, or set LoadOptions.AllowMissing to keep this one)")
		default:
			loadEMA = true
			cur := ema.State()
			for _, k := range sortedKeys(cur) {
				if eng == nil {
					eng = cur[k].Engine()
				}
				if vals, ok := floats(byName, prefixEMA+k, cur[k].Shape(), "EMA", &probs); ok {
					emaUploads = append(emaUploads, upload{k, cur[k].Shape(), vals})
				}
			}
			for _, t := range f.Tensors {
				if key, ok := strings.CutPrefix(t.Name, prefixEMA); ok {
					if _, ok := cur[key]; !ok {
						probs.add("%q: the EMA averages no parameter %q", t.Name, key)
					}
				}
			}
		}
	}
	if err := probs.err(); err != nil {
		return State{}, err
	}
	if eng == nil && len(optUploads)+len(emaUploads) > 0 {
		return State{}, errors.New("the model has no parameters, so there is no device to load the optimiser state onto")
	}

	// Apply: the optimiser first, as its LoadState is the one check left
	// and changes nothing when it fails.
	if loadOpt {
		ts, err := toDevice(eng, optUploads)
		if err != nil {
			return State{}, err
		}
		err = opt.LoadState(ts)
		releaseMap(ts)
		if err != nil {
			return State{}, fmt.Errorf("optimiser state (%s): %w", hint, err)
		}
		opt.SetStepCount(int(optStep))
		opt.SetLR(lr)
	}
	if loadEMA {
		ts, err := toDevice(eng, emaUploads)
		if err != nil {
			return State{}, err
		}
		err = ema.LoadState(ts)
		releaseMap(ts)
		if err != nil {
			return State{}, fmt.Errorf("EMA state: %w", err)
		}
	}
	for _, w := range writes {
		if err := w.v.Value.Write(w.vals); err != nil {
			return State{}, fmt.Errorf("loading %s: %w", w.v, err)
		}
	}
	return st, nil
}

// toDevice uploads host tensors; the caller releases them.
func toDevice(e *tensor.Engine, ups []upload) (map[string]*tensor.Tensor, error) {
	out := make(map[string]*tensor.Tensor, len(ups))
	for _, u := range ups {
		t := e.FromFloat32(u.vals, u.shape...)
		out[u.key] = t
		if err := t.Err(); err != nil {
			releaseMap(out)
			return nil, fmt.Errorf("uploading %s: %w", u.key, err)
		}
	}
	return out, nil
}

func releaseMap(ts map[string]*tensor.Tensor) {
	for _, t := range ts {
		t.Release()
	}
}

// floats returns the values of the F32 tensor name, checking its shape
// against want if what (the owner's word for mismatches) is not empty.
func floats(byName map[string]*safetensors.Tensor, name string, want []int, what string, probs *problems) ([]float32, bool) {
	t, ok := byName[name]
	if !ok {
		probs.add("%q is missing", name)
		return nil, false
	}
	if t.DType != safetensors.F32 {
		probs.add("%q is %s, want F32", name, t.DType)
		return nil, false
	}
	if what != "" && !slices.Equal(t.Shape, want) {
		probs.add("%q: checkpoint %v vs %s %v", name, t.Shape, what, want)
		return nil, false
	}
	vals, err := t.Float32()
	if err != nil {
		probs.add("%q: %v", name, err)
		return nil, false
	}
	return vals, true
}

// scalarInt reads the I64 scalar name.
func scalarInt(byName map[string]*safetensors.Tensor, name string, probs *problems) int64 {
	t := scalar(byName, name, safetensors.I64, probs)
	if t == nil {
		return 0
	}
	v := int64(binary.LittleEndian.Uint64(t.Data))
	if int64(int(v)) != v {
		probs.add("%q: %d does not fit an int", name, v)
		return 0
	}
	return v
}

// scalarFloat reads the F64 scalar name.
func scalarFloat(byName map[string]*safetensors.Tensor, name string, probs *problems) float64 {
	t := scalar(byName, name, safetensors.F64, probs)
	if t == nil {
		return 0
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(t.Data))
}

// scalar returns the tensor name after checking that it is a scalar of
// dtype, or nil.
func scalar(byName map[string]*safetensors.Tensor, name string, dtype safetensors.DType, probs *problems) *safetensors.Tensor {
	t, ok := byName[name]
	switch {
	case !ok:
		probs.add("%q is missing", name)
	case t.DType != dtype || len(t.Shape) != 0:
		probs.add("%q is %s %v, want a scalar of %s", name, t.DType, t.Shape, dtype)
	default:
		return t
	}
	return nil
}

// rngWords reads the U64 vector of RNG words; none gives nil.
func rngWords(byName map[string]*safetensors.Tensor, probs *problems) []uint64 {
	t, ok := byName[nameRNG]
	switch {
	case !ok:
		probs.add("%q is missing", nameRNG)
		return nil
	case t.DType != safetensors.U64 || len(t.Shape) != 1:
		probs.add("%q is %s %v, want a U64 vector", nameRNG, t.DType, t.Shape)
		return nil
	case t.Shape[0] == 0:
		return nil
	}
	out := make([]uint64, t.Shape[0])
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(t.Data[8*i:])
	}
	return out
}

// hostTensor reads a float32 device tensor into an F32 safetensors tensor.
func hostTensor(name string, t *tensor.Tensor) (safetensors.Tensor, error) {
	if t == nil {
		return safetensors.Tensor{}, fmt.Errorf("%s: nil tensor", name)
	}
	if t.DType() != tensor.Float32 {
		return safetensors.Tensor{}, fmt.Errorf("%s: %s tensor, only float32 state is supported", name, t.DType())
	}
	vals, err := t.Float32()
	if err != nil {
		return safetensors.Tensor{}, fmt.Errorf("reading %s: %w", name, err)
	}
	return safetensors.Float32Tensor(name, t.Shape(), vals, safetensors.F32)
}

func int64Tensor(name string, v int64) safetensors.Tensor {
	return safetensors.Tensor{Name: name, DType: safetensors.I64, Shape: []int{}, Data: binary.LittleEndian.AppendUint64(nil, uint64(v))}
}

func float64Tensor(name string, v float64) safetensors.Tensor {
	return safetensors.Tensor{Name: name, DType: safetensors.F64, Shape: []int{}, Data: binary.LittleEndian.AppendUint64(nil, math.Float64bits(v))}
}

func uint64Tensor(name string, vs []uint64) safetensors.Tensor {
	data := make([]byte, 0, 8*len(vs))
	for _, v := range vs {
		data = binary.LittleEndian.AppendUint64(data, v)
	}
	return safetensors.Tensor{Name: name, DType: safetensors.U64, Shape: []int{len(vs)}, Data: data}
}

// typeName identifies an optimiser's kind, e.g. "*optim.AdamW", so that a
// checkpoint is not loaded into another kind.
func typeName(opt optim.Optimizer) string { return fmt.Sprintf("%T", opt) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
