package data

import (
	"context"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
)

// LoaderOptions configures a Loader. The zero value gives batches in data
// set order, keeps a short last batch, decodes on runtime.NumCPU()
// goroutines and prepares two batches ahead.
type LoaderOptions struct {
	// Shuffle visits the examples in a pseudo-random order that depends
	// only on Seed and the epoch number.
	Shuffle bool
	// Seed seeds the shuffle and the random numbers handed to Augment.
	Seed uint64
	// DropLast drops the last batch of an epoch if it is short.
	DropLast bool
	// Workers is how many goroutines decode images; 0 or less means
	// runtime.NumCPU(). It changes speed, never the batches.
	Workers int
	// Prefetch is how many batches are prepared ahead of the one the caller
	// holds; 0 or less means 2.
	Prefetch int
	// Augment, if set, is called on every image after it is decoded, with
	// the image's CHW values, its shape and a random source that depends
	// only on Seed, the epoch and the image's index in the data set, so
	// results do not depend on Workers, the batch size or the timing. It
	// runs on the worker goroutines, so it must be safe for concurrent
	// calls on different images.
	Augment func(img []float32, c, h, w int, rng *rand.Rand)
}

// Batch is one batch of examples.
type Batch struct {
	// Images holds N images of C×H×W values, NCHW.
	Images []float32
	// Labels holds the N labels.
	Labels []int32
	// N, C, H and W are the batch's shape; N is smaller than the loader's
	// batch size only for a short last batch.
	N, C, H, W int
	// Indices holds each example's index in the data set.
	Indices []int
}

// Loader cuts a Dataset into batches, decoding them on background
// goroutines while the caller works on the previous batch. A Loader is
// immutable and safe for concurrent use; each Epoch call runs its own
// goroutines.
type Loader struct {
	ds      Dataset
	batch   int
	opts    LoaderOptions
	c, h, w int
	classes int
}

// NewLoader returns a Loader of batches of the given size from ds. It
// panics if ds is nil or batch is less than 1.
func NewLoader(ds Dataset, batch int, opts LoaderOptions) *Loader {
	if ds == nil {
		panic("data: NewLoader: nil Dataset")
	}
	if batch < 1 {
		panic(fmt.Sprintf("data: NewLoader: batch size %d, need at least 1", batch))
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.NumCPU()
	}
	if opts.Prefetch <= 0 {
		opts.Prefetch = 2
	}
	c, h, w := ds.Shape()
	return &Loader{ds: ds, batch: batch, opts: opts, c: c, h: h, w: w, classes: len(ds.Classes())}
}

// Len returns the number of batches in one epoch.
func (l *Loader) Len() int {
	n := l.ds.Len()
	if l.opts.DropLast {
		return n / l.batch
	}
	return (n + l.batch - 1) / l.batch
}

// BatchSize returns the number of examples in a full batch.
func (l *Loader) BatchSize() int { return l.batch }

// Order returns the data set indices in the order epoch visits them: 0, 1,
// 2, … without Shuffle, otherwise a permutation that depends only on Seed
// and epoch. With DropLast an epoch leaves out the last ds.Len() % batch
// entries of the order.
func (l *Loader) Order(epoch int) []int {
	n := l.ds.Len()
	if !l.opts.Shuffle {
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		return order
	}
	rng := rand.New(rand.NewPCG(mix(l.opts.Seed, 0x5368756666), mix(uint64(epoch), 0x65706f6368)))
	return rng.Perm(n)
}

// imageRand returns the random source Augment gets for data set index idx
// in epoch.
func (l *Loader) imageRand(epoch, idx int) *rand.Rand {
	s := mix(l.opts.Seed, uint64(epoch))
	return rand.New(rand.NewPCG(s, mix(s, uint64(idx))))
}

// mix hashes a and b into one well-mixed 64-bit value (SplitMix64's
// finaliser applied twice).
func mix(a, b uint64) uint64 {
	z := a ^ (b+0x9e3779b97f4a7c15)*0xbf58476d1ce4e5b9
	for range 2 {
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
	}
	return z
}

// pendingBatch is a batch being filled by the workers.
type pendingBatch struct {
	b         Batch
	remaining atomic.Int32  // chunks not yet finished
	done      chan struct{} // closed when remaining reaches 0
	mu        sync.Mutex
	errPos    int // position in the batch of the first failed image
	err       error
}

// fail records err for the image at position pos, keeping the error of the
// earliest position so the reported error does not depend on timing.
func (p *pendingBatch) fail(pos int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil || pos < p.errPos {
		p.errPos, p.err = pos, err
	}
}

// chunk is a run of positions [lo, hi) in one batch for a worker to fill.
type chunk struct {
	p      *pendingBatch
	lo, hi int
}

// Epoch returns the batches of epoch number epoch, in order. The order is
// fixed by Seed and epoch and does not depend on Workers. Images are
// decoded on Workers goroutines up to Prefetch batches ahead of the loop
// body. Each Batch owns its slices.
//
// The sequence stops at the first error, which it yields with a zero
// Batch: a failed Get (the error names the data set index) or ctx being
// done. Leaving the loop early, or an error, stops and waits for every
// goroutine the epoch started before the loop ends. For a pull-style API
// use iter.Pull2, and call its stop function.
func (l *Loader) Epoch(ctx context.Context, epoch int) iter.Seq2[Batch, error] {
	return func(yield func(Batch, error) bool) {
		nb := l.Len()
		if nb == 0 {
			return
		}
		order := l.Order(epoch)
		ctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer func() {
			cancel()
			wg.Wait()
		}()

		tokens := make(chan struct{}, l.opts.Prefetch)
		pending := make(chan *pendingBatch, l.opts.Prefetch)
		jobs := make(chan chunk)
		per := max(1, (l.batch+l.opts.Workers-1)/l.opts.Workers)

		wg.Go(func() {
			defer close(pending)
			defer close(jobs)
			for k := range nb {
				select {
				case tokens <- struct{}{}:
				case <-ctx.Done():
					return
				}
				lo := k * l.batch
				hi := min(lo+l.batch, len(order))
				p := l.newPending(order[lo:hi], per)
				pending <- p // never blocks: at most Prefetch batches hold tokens
				for a := 0; a < p.b.N; a += per {
					select {
					case jobs <- chunk{p: p, lo: a, hi: min(a+per, p.b.N)}:
					case <-ctx.Done():
						return
					}
				}
			}
		})
		for range l.opts.Workers {
			wg.Go(func() {
				for j := range jobs {
					l.fillChunk(ctx, epoch, j)
				}
			})
		}

		stopped := func() {
			yield(Batch{}, fmt.Errorf("data: loader: epoch %d: %w", epoch, context.Cause(ctx)))
		}
		for range nb {
			if ctx.Err() != nil {
				stopped()
				return
			}
			var p *pendingBatch
			select {
			case p = <-pending:
			case <-ctx.Done():
				stopped()
				return
			}
			if p == nil { // the producer stopped: ctx is done
				stopped()
				return
			}
			select {
			case <-p.done:
			case <-ctx.Done():
				stopped()
				return
			}
			if ctx.Err() != nil { // workers skip work once ctx is done
				stopped()
				return
			}
			<-tokens
			if p.err != nil {
				yield(Batch{}, fmt.Errorf("data: loader: epoch %d: %w", epoch, p.err))
				return
			}
			if !yield(p.b, nil) {
				return
			}
		}
	}
}

// newPending allocates a batch for the data set indices idx, to be filled in
// chunks of per images.
func (l *Loader) newPending(idx []int, per int) *pendingBatch {
	n := len(idx)
	p := &pendingBatch{
		b: Batch{
			Images:  make([]float32, n*l.c*l.h*l.w),
			Labels:  make([]int32, n),
			N:       n,
			C:       l.c,
			H:       l.h,
			W:       l.w,
			Indices: append([]int(nil), idx...),
		},
		done: make(chan struct{}),
	}
	p.remaining.Store(int32((n + per - 1) / per))
	return p
}

// fillChunk decodes one chunk of a batch, skipping the work if ctx is done,
// and marks the batch done when its last chunk finishes.
func (l *Loader) fillChunk(ctx context.Context, epoch int, j chunk) {
	defer func() {
		if j.p.remaining.Add(-1) == 0 {
			close(j.p.done)
		}
	}()
	chw := l.c * l.h * l.w
	for pos := j.lo; pos < j.hi; pos++ {
		if ctx.Err() != nil {
			return
		}
		idx := j.p.b.Indices[pos]
		dst := j.p.b.Images[pos*chw : (pos+1)*chw]
		// One source per image serves the data set's own random crops
		// (RandomFiller) and then Augment, so the two never correlate.
		rng := l.imageRand(epoch, idx)
		label, err := l.fillOne(idx, dst, rng)
		if err != nil {
			j.p.fail(pos, fmt.Errorf("image %d: %w", idx, err))
			return
		}
		j.p.b.Labels[pos] = int32(label)
		if l.opts.Augment != nil {
			l.opts.Augment(dst, l.c, l.h, l.w, rng)
		}
	}
}

// fillOne decodes data set image idx into dst and checks its label.
func (l *Loader) fillOne(idx int, dst []float32, rng *rand.Rand) (int, error) {
	var label int
	if f, ok := l.ds.(RandomFiller); ok {
		var err error
		if label, err = f.FillRand(idx, dst, rng); err != nil {
			return 0, err
		}
	} else if f, ok := l.ds.(Filler); ok {
		var err error
		if label, err = f.Fill(idx, dst); err != nil {
			return 0, err
		}
	} else {
		img, lab, err := l.ds.Get(idx)
		if err != nil {
			return 0, err
		}
		if len(img) != len(dst) {
			return 0, fmt.Errorf("Get returned %d values, want %d×%d×%d = %d", len(img), l.c, l.h, l.w, len(dst))
		}
		copy(dst, img)
		label = lab
	}
	limit := l.classes
	if limit == 0 {
		limit = math.MaxInt32
	}
	if label < 0 || label >= limit {
		return 0, fmt.Errorf("label %d outside [0, %d)", label, limit)
	}
	return label, nil
}
