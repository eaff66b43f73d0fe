package tensor

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor/ref"
	"github.com/tessera-ml/tessera/vk"
)

// Shape ops only move bits, so they are compared exactly (tolerance 0) for
// float32, and element for element for int32. ScatterAdd adds, in a
// different precision from its float64 twin: float32 tolerance 1e-6
// relative (ref.Close), int32 exact.

// randInts returns random int32 values spanning the whole range (so any
// bit pattern mishandled as a float would show) and their float64 twin.
func randInts(rng *rand.Rand, lo, hi int64, shape ...int) ([]int32, *ref.Tensor) {
	r := ref.New(shape...)
	v := make([]int32, len(r.Data))
	for i := range v {
		v[i] = int32(lo + rng.Int63n(hi-lo))
		r.Data[i] = float64(v[i])
	}
	return v, r
}

// requireInts downloads an int32 tensor and compares it exactly with want.
func requireInts(t *testing.T, got *Tensor, want *ref.Tensor, msgAndArgs ...any) {
	t.Helper()
	require.Equal(t, want.Shape, normShape(got.Shape()), msgAndArgs...)
	v, err := got.Int32()
	require.NoError(t, err, msgAndArgs...)
	w := make([]int32, len(want.Data))
	for i, d := range want.Data {
		w[i] = int32(d)
	}
	require.Equal(t, w, v, msgAndArgs...)
}

// checkBothDTypes runs a one-input op on random float32 and int32 inputs of
// shape and compares each with the twin, exactly.
func checkBothDTypes(t *testing.T, e *Engine, rng *rand.Rand, shape []int, gpu func(*Tensor) *Tensor, twin func(*ref.Tensor) *ref.Tensor) {
	t.Helper()
	x := randRef(rng, -10, 10, shape...)
	requireClose(t, gpu(upload(e, x)), twin(x), 0, "float32")
	iv, ix := randInts(rng, math.MinInt32, math.MaxInt32, shape...)
	requireInts(t, gpu(e.FromInt32(iv, shape...)), twin(ix), "int32")
}

// TestFastDiv checks the host's magic numbers with the shader's formula,
// emulated in Go, against true division for n < 2^31.
func TestFastDiv(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	fdiv := func(n, m, s uint32) uint32 {
		hi := uint32((uint64(n) * uint64(m)) >> 32)
		return (hi + n) >> s
	}
	divisors := []int{1, 2, 3, 5, 7, 8, 9, 25, 31, 33, 64, 65, 641, 1000, 4099, 65535, 65536, 65537,
		1<<20 + 1, 1<<30 - 1, 1 << 30, 1<<30 + 1, 1<<31 - 1}
	for range 200 {
		divisors = append(divisors, 1+rng.Intn(1<<31-1), 1+rng.Intn(1<<16))
	}
	for _, d := range divisors {
		m, s := fastDiv(d)
		ns := []uint32{0, 1, uint32(d - 1), uint32(d), uint32(d + 1), 1<<31 - 1, 1<<31 - 2}
		for k := uint32(1); k < 5; k++ {
			if q := uint64(d) * uint64(k); q < 1<<31 {
				ns = append(ns, uint32(q-1), uint32(q))
			}
		}
		for range 2000 {
			ns = append(ns, uint32(rng.Int63n(1<<31)))
		}
		for _, n := range ns {
			if n >= 1<<31 {
				continue
			}
			if got, want := fdiv(n, m, s), n/uint32(d); got != want {
				t.Fatalf("%d / %d: got %d, want %d (m %d, s %d)", n, d, got, want, m, s)
			}
		}
	}
}

func TestPermute(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(10))
	tests := []struct {
		shape, perm []int
	}{
		{[]int{}, []int{}},
		{[]int{7}, []int{0}},
		{[]int{3, 5}, []int{1, 0}},
		{[]int{33, 65}, []int{-1, 0}},
		{[]int{4, 5, 6}, []int{0, 1, 2}}, // identity: a plain copy
		{[]int{1, 7, 1}, []int{2, 1, 0}}, // only size-1 dims move: a copy
		{[]int{2, 3, 65}, []int{2, 0, 1}},
		{[]int{2, 3, 65}, []int{0, 2, 1}},
		{[]int{2, 3, 7, 5}, []int{2, 0, 3, 1}},
		{[]int{2, 1, 3, 5}, []int{3, 1, 0, 2}},
		{[]int{5, 3, 7, 9}, []int{0, 1, 3, 2}}, // batched transpose
		{[]int{2, 3, 4, 5, 3}, []int{4, 0, 3, 1, 2}},
		{[]int{2, 3, 1, 4, 5, 3}, []int{5, 4, 3, 2, 1, 0}},
		{[]int{3, 2, 5, 1, 3, 7}, []int{0, 1, 4, 5, 2, 3}}, // merges into [6, 21, 5]
		{[]int{3, 0, 2}, []int{2, 1, 0}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%v/%v", tc.shape, tc.perm), func(t *testing.T) {
			checkBothDTypes(t, e, rng, tc.shape,
				func(x *Tensor) *Tensor { return Permute(x, tc.perm...) },
				func(x *ref.Tensor) *ref.Tensor { return ref.Permute(x, tc.perm...) })
		})
	}
}

func TestTranspose(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(11))
	tests := []struct {
		shape []int
		i, j  int
	}{
		{[]int{5, 7}, 0, 1},
		{[]int{129, 65}, 1, 0},
		{[]int{2, 3, 4}, -1, 0},
		{[]int{2, 3, 4}, 1, 1},
		{[]int{2, 3, 7, 5}, 1, -1},
		{[]int{2, 3, 5, 7, 3, 2}, 1, -2},
		{[]int{4, 0}, 0, 1},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%v/%d,%d", tc.shape, tc.i, tc.j), func(t *testing.T) {
			checkBothDTypes(t, e, rng, tc.shape,
				func(x *Tensor) *Tensor { return Transpose(x, tc.i, tc.j) },
				func(x *ref.Tensor) *ref.Tensor { return ref.Transpose(x, tc.i, tc.j) })
		})
	}
}

func TestConcat(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(12))
	tests := []struct {
		axis   int
		shapes [][]int
	}{
		{0, [][]int{{7}, {0}, {65}}},
		{0, [][]int{{3, 5}, {4, 5}}},
		{1, [][]int{{3, 5}, {3, 0}, {3, 7}}},
		{-1, [][]int{{2, 3, 4}, {2, 3, 1}, {2, 3, 9}}},
		{1, [][]int{{2, 3, 7, 5}, {2, 5, 7, 5}}},
		{0, [][]int{{0, 4}, {3, 4}}},
		{1, [][]int{{2, 0}, {2, 0}}}, // empty result
		{0, [][]int{{5, 3}}},         // one piece: a copy
		{2, [][]int{{3, 2, 1, 1}, {3, 2, 4, 1}, {3, 2, 2, 1}, {3, 2, 1, 1}, {3, 2, 5, 1}}},
		{3, [][]int{{2, 1, 3, 2, 3, 2}, {2, 1, 3, 5, 3, 2}}},
		{1, [][]int{{3, 1100}, {3, 1500}}}, // few long rows: device copies
		{1, [][]int{{67, 33}, {67, 1}}},    // many rows: copy_rows
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d/%v", tc.axis, tc.shapes), func(t *testing.T) {
			xs := make([]*ref.Tensor, len(tc.shapes))
			gs := make([]*Tensor, len(tc.shapes))
			is := make([]*Tensor, len(tc.shapes))
			ir := make([]*ref.Tensor, len(tc.shapes))
			for i, s := range tc.shapes {
				xs[i] = randRef(rng, -10, 10, s...)
				gs[i] = upload(e, xs[i])
				var iv []int32
				iv, ir[i] = randInts(rng, math.MinInt32, math.MaxInt32, s...)
				is[i] = e.FromInt32(iv, s...)
			}
			requireClose(t, Concat(tc.axis, gs...), ref.Concat(tc.axis, xs...), 0, "float32")
			requireInts(t, Concat(tc.axis, is...), ref.Concat(tc.axis, ir...), "int32")
		})
	}
}

func TestSlice(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(13))
	tests := []struct {
		shape            []int
		axis, start, end int
	}{
		{[]int{7}, 0, 0, 7},
		{[]int{7}, 0, 3, 3},
		{[]int{7}, -1, 2, 5},
		{[]int{5, 9}, -1, 1, 8},
		{[]int{5, 9}, 0, 4, 5},
		{[]int{2, 3, 7, 5}, 2, 2, 6},
		{[]int{2, 3, 7, 5}, 3, 0, 1},
		{[]int{2, 3, 2, 5, 3, 2}, 3, 1, 4},
		{[]int{3, 2000}, 1, 500, 1900}, // few long rows: device copies
		{[]int{65, 33}, 1, 3, 30},      // many rows: copy_rows
		{[]int{0, 4}, 1, 1, 3},
		{[]int{4, 0}, 0, 1, 3},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%v/%d[%d:%d]", tc.shape, tc.axis, tc.start, tc.end), func(t *testing.T) {
			checkBothDTypes(t, e, rng, tc.shape,
				func(x *Tensor) *Tensor { return Slice(x, tc.axis, tc.start, tc.end) },
				func(x *ref.Tensor) *ref.Tensor { return ref.Slice(x, tc.axis, tc.start, tc.end) })
		})
	}
}

// outOfRange reports whether j is not an index of a dim of size n.
func outOfRange(j int32, n int) bool { return j < 0 || int(j) >= n }

// gatherSkip is ref.Gather with Gather's rule for bad indices: their
// slices read zeros.
func gatherSkip(x *ref.Tensor, axis int, idx []int32) *ref.Tensor {
	if axis < 0 {
		axis += len(x.Shape)
	}
	n := x.Shape[axis]
	shape := append([]int(nil), x.Shape...)
	shape[axis] = len(idx)
	if n == 0 {
		return ref.New(shape...)
	}
	safe := make([]int32, len(idx))
	for i, j := range idx {
		if !outOfRange(j, n) {
			safe[i] = j
		}
	}
	out := ref.Gather(x, axis, safe)
	inner := ref.Numel(shape[axis+1:])
	outer := ref.Numel(shape[:axis])
	for o := range outer {
		for i, j := range idx {
			if outOfRange(j, n) {
				clear(out.Data[(o*len(idx)+i)*inner : (o*len(idx)+i+1)*inner])
			}
		}
	}
	return out
}

// scatterSkip is ref.ScatterAdd with ScatterAdd's rule for bad indices:
// they contribute nothing. Dropping them keeps the others in order.
func scatterSkip(dst *ref.Tensor, axis int, idx []int32, src *ref.Tensor) *ref.Tensor {
	if axis < 0 {
		axis += len(dst.Shape)
	}
	var good, pos []int32
	for i, j := range idx {
		if !outOfRange(j, dst.Shape[axis]) {
			good = append(good, j)
			pos = append(pos, int32(i))
		}
	}
	return ref.ScatterAdd(dst, axis, good, ref.Gather(src, axis, pos))
}

// randIndex returns m indices in [lo, hi), so duplicates are common when
// hi-lo < m.
func randIndex(rng *rand.Rand, m, lo, hi int) []int32 {
	idx := make([]int32, m)
	for i := range idx {
		idx[i] = int32(lo + rng.Intn(hi-lo))
	}
	return idx
}

func TestGather(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(14))
	bad := []int32{-1, 1 << 30, math.MinInt32}
	tests := []struct {
		name  string
		shape []int
		axis  int
		idx   func(n int) []int32
	}{
		{"1d-dups", []int{7}, 0, func(n int) []int32 { return randIndex(rng, 12, 0, n) }},
		{"rows", []int{5, 9}, 0, func(n int) []int32 { return []int32{4, 0, 0, 2} }},
		{"cols", []int{5, 9}, 1, func(n int) []int32 { return randIndex(rng, 20, 0, n) }},
		{"neg-axis", []int{5, 9}, -2, func(n int) []int32 { return []int32{3, 1, 3} }},
		{"4d", []int{2, 3, 7, 5}, 2, func(n int) []int32 { return randIndex(rng, 9, 0, n) }},
		{"6d", []int{2, 3, 2, 5, 3, 2}, 3, func(n int) []int32 { return randIndex(rng, 7, 0, n) }},
		{"embedding", []int{33, 65}, 0, func(n int) []int32 { return randIndex(rng, 129, 0, n) }},
		{"empty-idx", []int{5, 9}, 1, func(n int) []int32 { return nil }},
		{"out-of-range", []int{5, 9}, 1, func(n int) []int32 { return []int32{2, -1, 9, 8, 1 << 30, 0, math.MinInt32} }},
		{"empty-axis", []int{4, 0, 3}, 1, func(n int) []int32 { return bad }},
		{"empty-other", []int{0, 5}, 1, func(n int) []int32 { return []int32{1, 2} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.axis
			if a < 0 {
				a += len(tc.shape)
			}
			idx := tc.idx(tc.shape[a])
			gi := e.FromInt32(idx, len(idx))
			checkBothDTypes(t, e, rng, tc.shape,
				func(x *Tensor) *Tensor { return Gather(x, tc.axis, gi) },
				func(x *ref.Tensor) *ref.Tensor { return gatherSkip(x, tc.axis, idx) })
		})
	}
}

func TestScatterAdd(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(15))
	tests := []struct {
		name  string
		shape []int // dst
		axis  int
		idx   func(n int) []int32
	}{
		{"1d-dups", []int{7}, 0, func(n int) []int32 { return randIndex(rng, 20, 0, n) }},
		{"one", []int{5, 9}, 0, func(n int) []int32 { return []int32{3} }},
		{"cols", []int{5, 9}, 1, func(n int) []int32 { return randIndex(rng, 33, 0, n) }},
		{"neg-axis", []int{5, 9}, -1, func(n int) []int32 { return randIndex(rng, 31, 0, n) }},
		{"4d", []int{2, 3, 7, 5}, 2, func(n int) []int32 { return randIndex(rng, 100, 0, n) }},
		{"6d", []int{2, 3, 2, 5, 3, 2}, 3, func(n int) []int32 { return randIndex(rng, 11, 0, n) }},
		{"all-same", []int{4, 3}, 0, func(n int) []int32 { return randIndex(rng, 257, 2, 3) }},
		{"sparse", []int{1000}, 0, func(n int) []int32 { return randIndex(rng, 130, 0, n) }},
		{"long", []int{17, 3}, 0, func(n int) []int32 { return randIndex(rng, 3001, 0, n) }},
		{"embedding-grad", []int{129, 33}, 0, func(n int) []int32 { return randIndex(rng, 20001, 0, n) }},
		{"empty-idx", []int{3, 4}, 1, func(n int) []int32 { return nil }},
		{"out-of-range", []int{5, 9}, 1, func(n int) []int32 {
			return append(randIndex(rng, 40, 0, n), -1, 9, 1<<30, math.MinInt32, 4, 9)
		}},
		{"empty-dst", []int{0, 5}, 1, func(n int) []int32 { return []int32{1, 2} }},
	}
	for _, tc := range tests {
		for _, mode := range []string{"scan", "sorted", "sorted-segments"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				a := tc.axis
				if a < 0 {
					a += len(tc.shape)
				}
				idx := tc.idx(tc.shape[a])
				oldScan, oldSeg := scatterScanMax, scatterSegment
				defer func() { scatterScanMax, scatterSegment = oldScan, oldSeg }()
				switch mode {
				case "scan":
					if len(idx) > 5000 {
						t.Skip("scanning is for short idx; slow here")
					}
					scatterScanMax = math.MaxInt
				case "sorted":
					scatterScanMax = 0
				case "sorted-segments":
					// Runs longer than a segment span several dispatches.
					scatterScanMax, scatterSegment = 0, 7
					if len(idx) > 5000 {
						scatterSegment = 997
					}
				}
				gi := e.FromInt32(idx, len(idx))
				srcShape := append([]int(nil), tc.shape...)
				srcShape[a] = len(idx)

				dst, src := randRef(rng, -1, 1, tc.shape...), randRef(rng, -1, 1, srcShape...)
				requireClose(t, ScatterAdd(upload(e, dst), tc.axis, gi, upload(e, src)),
					scatterSkip(dst, tc.axis, idx, src), 1e-6, "float32")

				dv, dr := randInts(rng, -1000, 1000, tc.shape...)
				sv, sr := randInts(rng, -1000, 1000, srcShape...)
				requireInts(t, ScatterAdd(e.FromInt32(dv, tc.shape...), tc.axis, gi, e.FromInt32(sv, srcShape...)),
					scatterSkip(dr, tc.axis, idx, sr), "int32")
			})
		}
	}
}

// TestScatterAddLongRun adds 70000 slices into one index: more loop
// iterations than llvmpipe lets one invocation run (65535), so only the
// segmented dispatches get it right there. The float32 values are
// multiples of 1/16, so every partial sum is exact (tolerance 0).
func TestScatterAddLongRun(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(17))
	const m = 70000
	idx := randIndex(rng, m, 2, 3)
	idx[m/2] = 0
	gi := e.FromInt32(idx, m)
	dst, src := randRef(rng, -1, 1, 3, 2), randRef(rng, -1, 1, m, 2)
	for _, r := range []*ref.Tensor{dst, src} {
		for i, v := range r.Data {
			r.Data[i] = math.Round(v*16) / 16
		}
	}
	requireClose(t, ScatterAdd(upload(e, dst), 0, gi, upload(e, src)), scatterSkip(dst, 0, idx, src), 0, "float32")
	dv, dr := randInts(rng, -1000, 1000, 3, 2)
	sv, sr := randInts(rng, -1000, 1000, m, 2)
	requireInts(t, ScatterAdd(e.FromInt32(dv, 3, 2), 0, gi, e.FromInt32(sv, m, 2)), scatterSkip(dr, 0, idx, sr), "int32")
}

// TestScatterAddDeterministic checks that repeated runs, and the scan and
// sorted paths, give bit-identical results: both add in ascending i.
func TestScatterAddDeterministic(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(16))
	idx := randIndex(rng, 5000, 0, 7)
	gi := e.FromInt32(idx, len(idx))
	dst := upload(e, randRef(rng, -1, 1, 7, 9))
	src := upload(e, randRef(rng, -1e3, 1e3, len(idx), 9))
	old := scatterScanMax
	defer func() { scatterScanMax = old }()
	oldSeg := scatterSegment
	defer func() { scatterSegment = oldSeg }()
	var runs [][]float32
	for i, limit := range []int{0, 0, math.MaxInt, 0} {
		scatterScanMax = limit
		if i == 3 {
			scatterSegment = 100
		}
		v, err := ScatterAdd(dst, 0, gi, src).Float32()
		require.NoError(t, err)
		runs = append(runs, v)
	}
	assert.Equal(t, runs[0], runs[1], "sorted path, twice")
	assert.Equal(t, runs[0], runs[2], "sorted and scan paths")
	assert.Equal(t, runs[0], runs[3], "one and several segments")
}

func TestShapeOpErrors(t *testing.T) {
	e := testEngine(t)
	x := e.Zeros(2, 3, 4)
	xi := e.FullInt(1, 2, 3, 4)
	idx := e.FromInt32([]int32{0, 1}, 2)
	img := e.Zeros(1, 2, 3, 3)
	tests := []struct {
		name string
		op   func() *Tensor
	}{
		{"permute-short", func() *Tensor { return Permute(x, 0, 1) }},
		{"permute-repeat", func() *Tensor { return Permute(x, 0, 1, 1) }},
		{"permute-range", func() *Tensor { return Permute(x, 0, 1, 3) }},
		{"transpose-range", func() *Tensor { return Transpose(x, 0, 3) }},
		{"transpose-neg-range", func() *Tensor { return Transpose(x, -4, 0) }},
		{"concat-axis", func() *Tensor { return Concat(3, x, x) }},
		{"concat-dims", func() *Tensor { return Concat(0, x, e.Zeros(2, 4, 4)) }},
		{"concat-rank", func() *Tensor { return Concat(0, x, e.Zeros(2, 3)) }},
		{"concat-dtype", func() *Tensor { return Concat(0, x, xi) }},
		{"concat-scalar", func() *Tensor { return Concat(0, e.Full(1), e.Full(2)) }},
		{"slice-axis", func() *Tensor { return Slice(x, 3, 0, 1) }},
		{"slice-neg-start", func() *Tensor { return Slice(x, 1, -1, 2) }},
		{"slice-end", func() *Tensor { return Slice(x, 1, 0, 4) }},
		{"slice-reversed", func() *Tensor { return Slice(x, 1, 2, 1) }},
		{"gather-float-idx", func() *Tensor { return Gather(x, 0, e.Zeros(2)) }},
		{"gather-2d-idx", func() *Tensor { return Gather(x, 0, e.FullInt(0, 1, 2)) }},
		{"gather-axis", func() *Tensor { return Gather(x, -4, idx) }},
		{"scatter-src-shape", func() *Tensor { return ScatterAdd(x, 1, idx, e.Zeros(2, 3, 4)) }},
		{"scatter-dtype", func() *Tensor { return ScatterAdd(x, 0, idx, xi) }},
		{"scatter-float-idx", func() *Tensor { return ScatterAdd(x, 0, e.Zeros(2), x) }},
		{"scatter-axis", func() *Tensor { return ScatterAdd(x, 3, idx, x) }},
		{"nearest-3d", func() *Tensor { return UpsampleNearest(x, 4, 4) }},
		{"nearest-zero", func() *Tensor { return UpsampleNearest(img, 0, 4) }},
		{"bicubic-zero", func() *Tensor { return UpsampleBicubic(img, 4, 0) }},
		{"bicubic-int", func() *Tensor { return UpsampleBicubic(e.FullInt(1, 1, 1, 2, 2), 4, 4) }},
		{"bicubic-5d", func() *Tensor { return UpsampleBicubic(e.Zeros(1, 1, 1, 2, 2), 4, 4) }},
		{"area-negative", func() *Tensor { return AreaDownsample(img, -1, 2) }},
		{"area-2d", func() *Tensor { return AreaDownsample(e.Zeros(4, 4), 2, 2) }},
		{"area-empty-plane", func() *Tensor { return AreaDownsample(e.Zeros(1, 1, 0, 4), 2, 2) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			y := tc.op()
			require.ErrorIs(t, y.Err(), ErrShape)
			require.ErrorIs(t, e.Err(), ErrShape)
			// Failures propagate through later ops.
			z := Permute(y)
			require.ErrorIs(t, z.Err(), ErrShape)
			require.ErrorIs(t, e.Err(), ErrShape)
			require.NoError(t, e.Err())
		})
	}
	require.Panics(t, func() { Concat(0) })
}

// BenchmarkShapeOps is a sanity check that the shape kernels run at memory
// speed: compare ns/op with a plain Clone of the same bytes.
func BenchmarkShapeOps(b *testing.B) {
	dev, err := vk.Default()
	if err != nil {
		b.Skipf("no Vulkan device: %v", err)
	}
	e := New(dev)
	s := e.Scope()
	defer s.Close()
	x := e.Full(1, 64, 256, 256)
	idx := e.FromInt32(randIndex(rand.New(rand.NewSource(1)), 30000, 0, 64*256), 30000)
	rows := x.Reshape(64*256, 256)
	grads := e.Full(1, 30000, 256)
	cases := []struct {
		name string
		op   func() *Tensor
	}{
		{"clone", func() *Tensor { return Clone(x) }},
		{"transpose-last2", func() *Tensor { return Transpose(x, 1, 2) }},
		{"permute-021", func() *Tensor { return Permute(x, 2, 0, 1) }},
		{"concat-last", func() *Tensor { return Concat(-1, x, x) }},
		{"slice-last", func() *Tensor { return Slice(x, -1, 1, 255) }},
		{"gather-rows", func() *Tensor { return Gather(rows, 0, idx) }},
		{"scatter-add-rows", func() *Tensor { return ScatterAdd(rows, 0, idx, grads) }},
		{"nearest-2x", func() *Tensor { return UpsampleNearest(x.Reshape(1, 64, 256, 256), 512, 512) }},
		{"bicubic-2x", func() *Tensor { return UpsampleBicubic(x.Reshape(1, 64, 256, 256), 512, 512) }},
		{"area-4x", func() *Tensor { return AreaDownsample(x.Reshape(1, 64, 256, 256), 64, 64) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				c.op().Release()
				if err := e.Sync(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
