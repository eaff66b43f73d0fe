package data

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// collect runs one epoch and returns its batches, failing on any error.
func collect(t *testing.T, l *Loader, epoch int) []Batch {
	t.Helper()
	var out []Batch
	for b, err := range l.Epoch(context.Background(), epoch) {
		require.NoError(t, err)
		out = append(out, b)
	}
	return out
}

// indices flattens the batches' data set indices.
func indices(bs []Batch) []int {
	var out []int
	for _, b := range bs {
		out = append(out, b.Indices...)
	}
	return out
}

// waitGoroutines fails unless the goroutine count drops back to base.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(2 * time.Second); n > base && time.Now().Before(deadline); n = runtime.NumGoroutine() {
		time.Sleep(5 * time.Millisecond)
	}
	assert.LessOrEqual(t, n, base, "goroutines left running")
}

// plainDataset hides the Filler method, so the Loader must use Get.
type plainDataset struct{ Dataset }

// hookDataset wraps a Dataset and calls hook before each Get.
type hookDataset struct {
	Dataset
	hook func(i int) error
}

func (h hookDataset) Get(i int) ([]float32, int, error) {
	if err := h.hook(i); err != nil {
		return nil, 0, err
	}
	return h.Dataset.Get(i)
}

func TestLoaderCoversEveryIndexOnce(t *testing.T) {
	d := smallMNIST(t, 103, 2, 2)
	tests := []struct {
		name    string
		batch   int
		shuffle bool
		ds      Dataset
	}{
		{"ordered", 10, false, d},
		{"shuffled", 10, true, d},
		{"batch 1", 1, true, d},
		{"batch larger than data", 500, true, d},
		{"exact multiple", 103, true, d},
		{"three channels", 16, true, d.Channels(3)},
		{"via Get", 7, true, plainDataset{d}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLoader(tt.ds, tt.batch, LoaderOptions{Shuffle: tt.shuffle, Seed: 42, Workers: 3})
			bs := collect(t, l, 0)
			require.Len(t, bs, l.Len())
			c, h, w := tt.ds.Shape()
			for k, b := range bs {
				wantN := min(tt.batch, d.Len()-k*tt.batch)
				assert.Equal(t, []int{wantN, c, h, w}, []int{b.N, b.C, b.H, b.W}, "batch %d shape", k)
				require.Len(t, b.Images, b.N*c*h*w)
				require.Len(t, b.Labels, b.N)
				require.Len(t, b.Indices, b.N)
				for j, idx := range b.Indices {
					img, label, err := tt.ds.Get(idx)
					require.NoError(t, err)
					assert.Equal(t, img, b.Images[j*c*h*w:(j+1)*c*h*w], "batch %d image %d", k, j)
					assert.Equal(t, int32(label), b.Labels[j])
				}
			}
			got := indices(bs)
			assert.Equal(t, l.Order(0), got)
			sort.Ints(got)
			for i, v := range got {
				require.Equal(t, i, v, "every index exactly once")
			}
			if !tt.shuffle {
				assert.True(t, sort.IntsAreSorted(indices(bs)))
			}
		})
	}
}

func TestLoaderDeterministicAcrossWorkers(t *testing.T) {
	d := smallMNIST(t, 77, 3, 3)
	augment := func(img []float32, c, h, w int, rng *rand.Rand) {
		shift := rng.Float32()
		for i := range img {
			img[i] += shift
		}
	}
	ref := collect(t, NewLoader(d, 8, LoaderOptions{Shuffle: true, Seed: 7, Workers: 1, Prefetch: 1, Augment: augment}), 3)
	tests := []struct {
		workers, prefetch int
	}{
		{2, 1}, {3, 2}, {8, 4}, {32, 3}, {0, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("workers %d prefetch %d", tt.workers, tt.prefetch), func(t *testing.T) {
			l := NewLoader(d, 8, LoaderOptions{Shuffle: true, Seed: 7, Workers: tt.workers, Prefetch: tt.prefetch, Augment: augment})
			assert.Equal(t, ref, collect(t, l, 3))
		})
	}
}

func TestLoaderShuffleOrder(t *testing.T) {
	d := smallMNIST(t, 200, 1, 1)
	order := func(seed uint64, epoch int, shuffle bool) []int {
		return indices(collect(t, NewLoader(d, 32, LoaderOptions{Shuffle: shuffle, Seed: seed, Workers: 2}), epoch))
	}
	identity := make([]int, 200)
	for i := range identity {
		identity[i] = i
	}
	tests := []struct {
		name   string
		a, b   []int
		same   bool
		differ string
	}{
		{"same seed and epoch", order(1, 0, true), order(1, 0, true), true, ""},
		{"different epochs", order(1, 0, true), order(1, 1, true), false, ""},
		{"different seeds", order(1, 0, true), order(2, 0, true), false, ""},
		{"shuffled is not identity", order(1, 0, true), identity, false, ""},
		{"unshuffled is identity in every epoch", order(1, 5, false), identity, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.same {
				assert.Equal(t, tt.a, tt.b)
			} else {
				assert.NotEqual(t, tt.a, tt.b)
			}
		})
	}
}

func TestLoaderAugmentDependsOnEpoch(t *testing.T) {
	d := smallMNIST(t, 10, 2, 2)
	var calls atomic.Int32
	opts := LoaderOptions{Seed: 3, Workers: 2, Augment: func(img []float32, c, h, w int, rng *rand.Rand) {
		calls.Add(1)
		assert.Equal(t, []int{1, 2, 2}, []int{c, h, w})
		img[0] = rng.Float32()
	}}
	l := NewLoader(d, 4, opts)
	a, b := collect(t, l, 0), collect(t, l, 1)
	assert.Equal(t, int32(20), calls.Load())
	assert.Equal(t, indices(a), indices(b), "unshuffled: same order")
	assert.NotEqual(t, a[0].Images[0], b[0].Images[0], "augmentation differs between epochs")
	assert.Equal(t, a, collect(t, l, 0), "and repeats for the same epoch")
}

func TestLoaderDropLast(t *testing.T) {
	d := smallMNIST(t, 25, 1, 1)
	tests := []struct {
		batch    int
		dropLast bool
		batches  int
		images   int
	}{
		{10, false, 3, 25},
		{10, true, 2, 20},
		{5, true, 5, 25},
		{30, true, 0, 0},
		{30, false, 1, 25},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("batch %d drop %v", tt.batch, tt.dropLast), func(t *testing.T) {
			l := NewLoader(d, tt.batch, LoaderOptions{Shuffle: true, DropLast: tt.dropLast, Workers: 2})
			assert.Equal(t, tt.batches, l.Len())
			bs := collect(t, l, 0)
			assert.Len(t, bs, tt.batches)
			assert.Len(t, indices(bs), tt.images)
			for _, b := range bs {
				if tt.dropLast {
					assert.Equal(t, tt.batch, b.N)
				}
			}
		})
	}
}

func TestLoaderEmptyDataset(t *testing.T) {
	d := smallMNIST(t, 0, 2, 2)
	l := NewLoader(d, 4, LoaderOptions{})
	assert.Equal(t, 0, l.Len())
	assert.Empty(t, collect(t, l, 0))
}

func TestLoaderGetErrors(t *testing.T) {
	d := smallMNIST(t, 60, 2, 2)
	boom := errors.New("bad sector")
	tests := []struct {
		name      string
		ds        Dataset
		wantErr   string
		wantBatch int // batches delivered before the error
	}{
		{"failing Get", hookDataset{d, func(i int) error {
			if i == 37 || i == 39 {
				return boom
			}
			return nil
		}}, "epoch 0: image 37: bad sector", 3},
		{"wrong image size", wrongSize{d}, "image 0: Get returned 3 values, want 1×2×2 = 4", 0},
		{"label out of range", badLabel{d}, "label 10 outside [0, 10)", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			l := NewLoader(tt.ds, 10, LoaderOptions{Workers: 4})
			got, errs := 0, 0
			for b, err := range l.Epoch(context.Background(), 0) {
				if err != nil {
					errs++
					assert.ErrorContains(t, err, tt.wantErr)
					assert.Zero(t, b.N)
					continue
				}
				got++
			}
			assert.Equal(t, 1, errs, "exactly one error, then the sequence stops")
			assert.Equal(t, tt.wantBatch, got)
			waitGoroutines(t, base)
		})
	}
	l := NewLoader(hookDataset{d, func(i int) error {
		if i == 5 {
			return boom
		}
		return nil
	}}, 10, LoaderOptions{})
	for _, err := range l.Epoch(context.Background(), 0) {
		assert.ErrorIs(t, err, boom, "the dataset's error is wrapped")
	}
}

// wrongSize returns images one value short; it hides Fill.
type wrongSize struct{ Dataset }

func (w wrongSize) Get(i int) ([]float32, int, error) { return make([]float32, 3), 0, nil }

// badLabel returns a label past the last class; it hides Fill.
type badLabel struct{ Dataset }

func (b badLabel) Get(i int) ([]float32, int, error) {
	img, _, err := b.Dataset.Get(i)
	return img, 10, err
}

func TestLoaderCancellation(t *testing.T) {
	d := smallMNIST(t, 400, 4, 4)
	slow := hookDataset{d, func(int) error { time.Sleep(100 * time.Microsecond); return nil }}
	tests := []struct {
		name     string
		cancelAt int // cancel after this many batches; -1: before the epoch
		brk      bool
	}{
		{"cancel before start", -1, false},
		{"cancel mid epoch", 3, false},
		{"break mid epoch", 3, true},
		{"break after first", 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancelAt < 0 {
				cancel()
			}
			l := NewLoader(slow, 8, LoaderOptions{Shuffle: true, Workers: 4, Prefetch: 3})
			got := 0
			var last error
			for _, err := range l.Epoch(ctx, 0) {
				if err != nil {
					last = err
					continue
				}
				got++
				if got == tt.cancelAt {
					if tt.brk {
						break
					}
					cancel()
				}
			}
			if tt.brk {
				assert.NoError(t, last)
			} else {
				assert.ErrorIs(t, last, context.Canceled)
				assert.ErrorContains(t, last, "data: loader: epoch 0")
			}
			assert.Equal(t, max(tt.cancelAt, 0), got)
			waitGoroutines(t, base)
		})
	}
}

func TestLoaderPull(t *testing.T) {
	d := smallMNIST(t, 50, 2, 2)
	base := runtime.NumGoroutine()
	next, stop := iter.Pull2(NewLoader(d, 10, LoaderOptions{Workers: 2}).Epoch(context.Background(), 0))
	b, err, ok := next()
	require.True(t, ok)
	require.NoError(t, err)
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, b.Indices)
	stop()
	_, _, ok = next()
	assert.False(t, ok)
	waitGoroutines(t, base)
}

// TestLoaderPrefetchBound checks that while the caller holds a batch the
// loader prepares at most Prefetch batches ahead.
func TestLoaderPrefetchBound(t *testing.T) {
	d := smallMNIST(t, 200, 1, 1)
	tests := []struct{ prefetch int }{{1}, {2}, {4}}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.prefetch), func(t *testing.T) {
			var mu sync.Mutex
			seen := map[int]bool{}
			ds := hookDataset{d, func(i int) error {
				mu.Lock()
				seen[i] = true
				mu.Unlock()
				return nil
			}}
			l := NewLoader(ds, 10, LoaderOptions{Workers: 4, Prefetch: tt.prefetch})
			for b, err := range l.Epoch(context.Background(), 0) {
				require.NoError(t, err)
				require.Equal(t, 0, b.Indices[0])
				time.Sleep(50 * time.Millisecond) // let the workers run ahead
				mu.Lock()
				n := len(seen)
				mu.Unlock()
				assert.Equal(t, 10*(1+tt.prefetch), n, "images decoded while the first batch is held")
				break
			}
		})
	}
}

func TestNewLoaderPanics(t *testing.T) {
	d := smallMNIST(t, 4, 1, 1)
	assert.Panics(t, func() { NewLoader(d, 0, LoaderOptions{}) })
	assert.Panics(t, func() { NewLoader(nil, 1, LoaderOptions{}) })
	assert.Equal(t, 4, NewLoader(d, 4, LoaderOptions{}).BatchSize())
}

func TestLoaderFashionMNIST(t *testing.T) {
	d, err := FashionMNIST()
	require.NoError(t, err)
	train, _ := d.Split(8000)
	l := NewLoader(train.Channels(3), 256, LoaderOptions{Shuffle: true, Seed: 1, DropLast: true})
	n := 0
	for b, err := range l.Epoch(context.Background(), 0) {
		require.NoError(t, err)
		assert.Equal(t, []int{256, 3, 28, 28}, []int{b.N, b.C, b.H, b.W})
		n += b.N
	}
	assert.Equal(t, 8000/256*256, n)
}
