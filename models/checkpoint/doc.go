// Package checkpoint saves and restores the whole state of a training run,
// so that a run interrupted and resumed from a checkpoint ends with exactly
// the parameters of an uninterrupted run.
//
// A checkpoint is one safetensors file holding
//
//	model.<param>   the module's parameters (and buffers), F32
//	optim.<key>     the optimiser's state tensors (AdamW moments, SGD momentum), F32
//	ema.<param>     the EMA's averages, F32
//	state.step, state.epoch, state.batch        I64 scalars
//	state.rng       U64 [n], the training loop's host RNG words
//	state.optim_step I64 scalar, state.lr F64 scalar (with an optimiser)
//
// and in "__metadata__" the caller's Extra strings plus a few "tessera."
// keys (format version, optimiser type, whether an EMA was saved). Floats
// are stored as F32 and the learning rate as F64, bit for bit.
//
// What exactness needs from the training loop: everything random on the
// host must come from generators whose state goes into State.RNG (EncodeRNG
// and DecodeRNG pack math/rand/v2's PCG or ChaCha8), the schedule must be a
// function of the optimiser's step count (optim.Schedule.Apply), the EMA must
// be updated with a step number that is restored (the optimiser's step
// count), and the data position must be reconstructed from State.Epoch and
// State.Batch (data.Loader's order depends only on its seed and the epoch,
// so skipping Batch batches of Epoch resumes it).
//
// Typical use:
//
//	path, _, err := checkpoint.Latest(dir)
//	if path != "" {
//		st, err = checkpoint.Load(path, model, opt, ema, checkpoint.LoadOptions{})
//		err = checkpoint.DecodeRNG(st.RNG, pcg)
//	}
//	...
//	words, _ := checkpoint.EncodeRNG(pcg)
//	checkpoint.Save(checkpoint.Path(dir, step), model, opt, ema, checkpoint.State{Step: step, RNG: words})
//	checkpoint.Keep(dir, 3)
package checkpoint
