package tensor

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor/ref"
)

// Tolerances (ref.Close: max error over max(1, max |want|)):
//   - Max, Argmax: exact (0); they only compare and copy.
//   - Sum, Mean: 1e-6 relative to the line's sum of |x| (sumTol), the
//     conditioning of a sum; for positive inputs (the whole-tensor sums of a
//     million values) that is 1e-6 relative to the result. A float32 tree
//     stays near log2(n)·eps, ~1e-6; a serial loop over millions would not.
//   - LogSumExp, LogSoftmax, Softmax: 1e-6, with inputs up to ±80 (naive exp
//     overflows float32 above 88).
const (
	tolExact = 0
	tolSum   = 1e-6
	tolAll   = 1e-6
	tolExp   = 1e-6
)

// sumTol turns tol, relative to the largest per-line sum (or mean, when
// mean) of |x| over finite values, into ref.Close's terms for want.
func sumTol(tol float64, x *ref.Tensor, axis int, all, mean bool, want *ref.Tensor) float64 {
	abs := x.Clone()
	for i, v := range abs.Data {
		abs.Data[i] = math.Abs(v)
		if math.IsInf(v, 0) || math.IsNaN(v) {
			abs.Data[i] = 0
		}
	}
	var mag *ref.Tensor
	switch {
	case all:
		mag = plainSum(ref.FromSlice([]int{len(abs.Data)}, abs.Data), 0, mean)
	default:
		mag = plainSum(abs, axis, mean)
	}
	m, scale := 1.0, 1.0
	for _, v := range mag.Data {
		m = math.Max(m, v)
	}
	for _, v := range want.Data {
		if a := math.Abs(v); a > scale && !math.IsInf(a, 0) {
			scale = a
		}
	}
	return tol * m / scale
}

// tolFor is f's tolerance for x reduced along axis (all: every element).
func tolFor(name string, tol float64, x *ref.Tensor, axis int, all bool, want *ref.Tensor) float64 {
	switch name {
	case "Sum", "SumAll", "SumAllSigned":
		return sumTol(tol, x, axis, all, false, want)
	case "Mean", "MeanAll":
		return sumTol(tol, x, axis, all, true, want)
	}
	return tol
}

// reduceShapes are odd shapes: rows shorter and longer than a workgroup,
// unit axes, and empty axes.
var reduceShapes = [][]int{{7}, {3, 5}, {2, 3, 65}, {4, 1, 129}, {5, 4097}, {3, 1023}, {6, 20}, {2, 4096}, {0}, {3, 0, 2}, {2, 0}}

// axisFuncs pairs every axis reduction with its twin.
var axisFuncs = []struct {
	name   string
	gpu    func(*Tensor, int) *Tensor
	twin   func(*ref.Tensor, int) *ref.Tensor
	lo, hi float64
	tol    float64
	noID   bool // no identity: an empty axis is an error
}{
	{"Sum", Sum, ref.Sum, -1, 1, tolSum, false},
	{"Mean", Mean, ref.Mean, -1, 1, tolSum, false},
	{"Max", Max, ref.Max, -3, 3, tolExact, true},
	{"LogSumExp", LogSumExp, ref.LogSumExp, -80, 80, tolExp, false},
	{"Softmax", Softmax, ref.Softmax, -80, 80, tolExp, false},
	{"LogSoftmax", LogSoftmax, ref.LogSoftmax, -80, 80, tolExp, false},
}

// axes lists every axis of a rank-r tensor, negative and non-negative.
func axes(r int) []int {
	var a []int
	for i := -r; i < r; i++ {
		a = append(a, i)
	}
	return a
}

func isLineMap(name string) bool { return name == "Softmax" || name == "LogSoftmax" }

func TestReduceAxisVsTwin(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(11))
	for _, f := range axisFuncs {
		for _, shape := range reduceShapes {
			for _, axis := range axes(len(shape)) {
				t.Run(fmt.Sprintf("%s/%v/axis%d", f.name, shape, axis), func(t *testing.T) {
					s := e.Scope()
					defer s.Close()
					x := randRef(rng, f.lo, f.hi, shape...)
					got := f.gpu(upload(e, x), axis)
					a := (axis + len(shape)) % len(shape)
					n, rest := shape[a], outNumel(shape, a)
					switch {
					case isLineMap(f.name) && x.Numel() == 0:
						// Torch returns an empty result; ref.Softmax panics
						// on an empty line, so compare with the empty tensor.
						requireClose(t, got, ref.New(shape...), 0)
					case f.noID && n == 0 && rest > 0:
						require.ErrorIs(t, got.Err(), ErrShape)
						require.ErrorIs(t, e.Err(), ErrShape)
					default:
						want := f.twin(x, axis)
						requireClose(t, got, want, tolFor(f.name, f.tol, x, axis, false, want))
					}
				})
			}
		}
	}
}

func TestArgmaxAxisVsTwin(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(12))
	for _, shape := range reduceShapes {
		for _, axis := range axes(len(shape)) {
			for _, ties := range []bool{false, true} {
				t.Run(fmt.Sprintf("%v/axis%d/ties=%v", shape, axis, ties), func(t *testing.T) {
					s := e.Scope()
					defer s.Close()
					x := randRef(rng, -3, 3, shape...)
					if ties {
						// Few distinct values: every line has ties for first.
						for i := range x.Data {
							x.Data[i] = math.Floor(x.Data[i])
						}
					}
					got := Argmax(upload(e, x), axis)
					a := (axis + len(shape)) % len(shape)
					if shape[a] == 0 && outNumel(shape, a) > 0 {
						require.ErrorIs(t, got.Err(), ErrShape)
						require.ErrorIs(t, e.Err(), ErrShape)
						return
					}
					wantShape, want := ref.Argmax(x, axis)
					require.Equal(t, Int32, got.DType())
					assert.Equal(t, wantShape, normShape(got.Shape()))
					v, err := got.Int32()
					require.NoError(t, err)
					require.Equal(t, normInts(want), normInts(v))
				})
			}
		}
	}
}

// outNumel is the element count of shape without axis a.
func outNumel(shape []int, a int) int {
	n := 1
	for i, d := range shape {
		if i != a {
			n *= d
		}
	}
	return n
}

func normInts(v []int32) []int32 {
	if v == nil {
		return []int32{}
	}
	return v
}

func TestReduceAllVsTwin(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(13))
	shapes := [][]int{{7}, {3, 5}, {2, 3, 65}, {5, 4097}, {1000003}, {1}, {}}
	funcs := []struct {
		name   string
		gpu    func(*Tensor) *Tensor
		twin   func(*ref.Tensor) *ref.Tensor
		lo, hi float64
		tol    float64
	}{
		{"SumAll", SumAll, ref.SumAll, 0, 1, tolAll},
		{"SumAllSigned", SumAll, ref.SumAll, -1, 1, tolAll},
		{"MeanAll", MeanAll, ref.MeanAll, 0, 1, tolAll},
		{"MaxAll", MaxAll, ref.MaxAll, -3, 3, tolExact},
		{"LogSumExpAll", LogSumExpAll, ref.LogSumExpAll, -80, 80, tolExp},
		{"LogSumExpAllSmall", LogSumExpAll, ref.LogSumExpAll, -3, 3, tolExp},
	}
	for _, f := range funcs {
		for _, shape := range shapes {
			t.Run(fmt.Sprintf("%s/%v", f.name, shape), func(t *testing.T) {
				s := e.Scope()
				defer s.Close()
				x := randRef(rng, f.lo, f.hi, shape...)
				got := f.gpu(upload(e, x))
				assert.Equal(t, []int{}, normShape(got.Shape()))
				want := f.twin(x)
				requireClose(t, got, want, tolFor(f.name, f.tol, x, 0, true, want))
			})
		}
		t.Run(f.name+"/ties", func(t *testing.T) {
			s := e.Scope()
			defer s.Close()
			x := randRef(rng, -3, 3, 1000003)
			for i := range x.Data {
				x.Data[i] = math.Floor(x.Data[i])
			}
			want := f.twin(x)
			requireClose(t, f.gpu(upload(e, x)), want, tolFor(f.name, f.tol, x, 0, true, want))
		})
	}
	for _, shape := range shapes {
		for _, ties := range []bool{false, true} {
			t.Run(fmt.Sprintf("ArgmaxAll/%v/ties=%v", shape, ties), func(t *testing.T) {
				s := e.Scope()
				defer s.Close()
				x := randRef(rng, -3, 3, shape...)
				if ties {
					for i := range x.Data {
						x.Data[i] = math.Floor(x.Data[i])
					}
				}
				got := ArgmaxAll(upload(e, x))
				assert.Equal(t, []int{}, normShape(got.Shape()))
				v, err := got.Int32()
				require.NoError(t, err)
				require.Equal(t, []int32{ref.ArgmaxAll(x)}, v)
			})
		}
	}
}

// TestReduceLongLines covers the split paths: few lines much longer than a
// workgroup, along the contiguous axis and along a strided one.
func TestReduceLongLines(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(14))
	cases := []struct {
		shape []int
		axis  int
	}{
		{[]int{3, 70001}, 1},
		{[]int{70001, 3}, 0},
		{[]int{2, 40003, 5}, 1},
		{[]int{1, 100003}, -1},
	}
	for _, c := range cases {
		for _, f := range axisFuncs {
			t.Run(fmt.Sprintf("%s/%v/axis%d", f.name, c.shape, c.axis), func(t *testing.T) {
				s := e.Scope()
				defer s.Close()
				x := randRef(rng, f.lo, f.hi, c.shape...)
				want := f.twin(x, c.axis)
				requireClose(t, f.gpu(upload(e, x), c.axis), want, tolFor(f.name, f.tol, x, c.axis, false, want))
			})
		}
		t.Run(fmt.Sprintf("Argmax/%v/axis%d", c.shape, c.axis), func(t *testing.T) {
			s := e.Scope()
			defer s.Close()
			x := randRef(rng, -3, 3, c.shape...)
			for i := range x.Data {
				x.Data[i] = math.Floor(x.Data[i])
			}
			wantShape, want := ref.Argmax(x, c.axis)
			got := Argmax(upload(e, x), c.axis)
			assert.Equal(t, wantShape, normShape(got.Shape()))
			v, err := got.Int32()
			require.NoError(t, err)
			require.Equal(t, want, v)
		})
	}
}

// TestReduceManyLines has more workgroups than a grid row holds (65535),
// so the grid spills into y.
func TestReduceManyLines(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(16))
	x := randRef(rng, -3, 3, 4500001, 2)
	g := upload(e, x)
	requireClose(t, Sum(g, 1), ref.Sum(x, 1), tolSum)
	requireClose(t, Softmax(g, 1), ref.Softmax(x, 1), tolExp)
	_, want := ref.Argmax(x, 1)
	v, err := Argmax(g, 1).Int32()
	require.NoError(t, err)
	require.Equal(t, want, v)
}

// TestReduceSpecialValues checks ±inf and NaN against the twin: NaN
// propagates through Max and wins Argmax (first NaN), logsumexp of all
// -inf is -inf, and softmax of a row with +inf, NaN or only -inf is NaN.
func TestReduceSpecialValues(t *testing.T) {
	e := testEngine(t)
	inf, nan := math.Inf(1), math.NaN()
	rows := [][]float64{
		{1, 2, 3, 4, 5},
		{-inf, -inf, -inf, -inf, -inf},
		{-inf, 2, -inf, 1, 0},
		{1, inf, 2, inf, 3},
		{1, nan, 5, nan, 2},
		{nan, inf, -inf, 0, 1},
		{-80, 80, 79.5, -79.5, 80},
		{3, 3, 3, 3, 3},
	}
	// Longer rows too, so the specials land in different lanes, vec4s and
	// splits, on every softmax path: 20 and 4096 (vec4, register cache),
	// 1023 (scalar cache), 4097 (two reads), 70001 (split reductions).
	tile := func(long int) *ref.Tensor {
		r := ref.New(len(rows), long)
		for i, row := range rows {
			for k := range long {
				r.Data[i*long+k] = row[k%5]
			}
			// Move the first special value far from index 0.
			r.Data[i*long+long-1], r.Data[i*long] = r.Data[i*long], r.Data[i*long+long-1]
		}
		return r
	}
	x := tile(5)
	const long = 70001
	longRows := tile(long)
	for _, xr := range []*ref.Tensor{x, tile(20), tile(1023), tile(4096), tile(4097), longRows, ref.Permute(x, 1, 0), ref.Permute(tile(20), 1, 0)} {
		axis := -1
		if xr.Shape[1] == len(rows) {
			axis = 0
		}
		for _, f := range axisFuncs {
			twin := f.twin
			switch f.name {
			case "Sum":
				twin = func(x *ref.Tensor, axis int) *ref.Tensor { return plainSum(x, axis, false) }
			case "Mean":
				twin = func(x *ref.Tensor, axis int) *ref.Tensor { return plainSum(x, axis, true) }
			}
			t.Run(fmt.Sprintf("%s/%v", f.name, xr.Shape), func(t *testing.T) {
				s := e.Scope()
				defer s.Close()
				want := twin(xr, axis)
				requireClose(t, f.gpu(upload(e, xr), axis), want, tolFor(f.name, f.tol, xr, axis, false, want))
			})
		}
		t.Run(fmt.Sprintf("Argmax/%v", xr.Shape), func(t *testing.T) {
			s := e.Scope()
			defer s.Close()
			_, want := ref.Argmax(xr, axis)
			v, err := Argmax(upload(e, xr), axis).Int32()
			require.NoError(t, err)
			require.Equal(t, want, v)
		})
	}
	for i := range rows {
		t.Run(fmt.Sprintf("All/row%d", i), func(t *testing.T) {
			s := e.Scope()
			defer s.Close()
			r := ref.FromSlice([]int{long}, longRows.Data[i*long:(i+1)*long])
			g := upload(e, r)
			want := plainSum(r.Clone(), 0, false)
			requireClose(t, SumAll(g), want, tolFor("SumAll", tolAll, r, 0, true, want))
			requireClose(t, MaxAll(g), ref.MaxAll(r), tolExact)
			requireClose(t, LogSumExpAll(g), ref.LogSumExpAll(r), tolExp)
			v, err := ArgmaxAll(g).Int32()
			require.NoError(t, err)
			require.Equal(t, []int32{ref.ArgmaxAll(r)}, v)
		})
	}
}

func TestReduceEmpty(t *testing.T) {
	e := testEngine(t)
	x := e.Zeros(3, 0, 2)
	requireClose(t, Sum(x, 1), ref.New(3, 2), 0)
	requireClose(t, Mean(x, 1), ref.Full([]int{3, 2}, math.NaN()), 0)
	requireClose(t, LogSumExp(x, 1), ref.Full([]int{3, 2}, math.Inf(-1)), 0)
	requireClose(t, Sum(x, 0), ref.New(0, 2), 0)
	requireClose(t, Max(x, 2), ref.New(3, 0), 0)
	requireClose(t, Softmax(x, 1), ref.New(3, 0, 2), 0)
	requireClose(t, LogSoftmax(x, 1), ref.New(3, 0, 2), 0)
	require.ErrorIs(t, Max(x, 1).Err(), ErrShape)
	require.ErrorIs(t, e.Err(), ErrShape)
	require.ErrorIs(t, Argmax(x, -2).Err(), ErrShape)
	require.ErrorIs(t, e.Err(), ErrShape)

	empty := e.Zeros(0)
	requireClose(t, SumAll(empty), ref.SumAll(ref.New(0)), 0)
	requireClose(t, MeanAll(empty), ref.Full([]int{}, math.NaN()), 0)
	requireClose(t, LogSumExpAll(empty), ref.LogSumExpAll(ref.New(0)), 0)
	require.ErrorIs(t, MaxAll(empty).Err(), ErrShape)
	require.ErrorIs(t, e.Err(), ErrShape)
	require.ErrorIs(t, ArgmaxAll(empty).Err(), ErrShape)
	require.ErrorIs(t, e.Err(), ErrShape)
}

func TestReduceBadArguments(t *testing.T) {
	e := testEngine(t)
	x := e.Zeros(3, 5)
	for _, axis := range []int{2, -3, 100} {
		for _, f := range axisFuncs {
			require.ErrorIs(t, f.gpu(x, axis).Err(), ErrShape, "%s axis %d", f.name, axis)
			require.ErrorIs(t, e.Err(), ErrShape)
		}
		require.ErrorIs(t, Argmax(x, axis).Err(), ErrShape)
		require.ErrorIs(t, e.Err(), ErrShape)
	}
	// A scalar has no axis to reduce.
	sc := e.Full(1, []int{}...)
	require.ErrorIs(t, Sum(sc, 0).Err(), ErrShape)
	require.ErrorIs(t, e.Err(), ErrShape)
	requireClose(t, SumAll(sc), ref.Full([]int{}, 1), 0)

	// Int32 inputs are rejected; failed inputs propagate.
	ints := e.FullInt(1, 4)
	require.ErrorIs(t, Sum(ints, 0).Err(), ErrShape)
	require.ErrorIs(t, e.Err(), ErrShape)
	require.ErrorIs(t, Softmax(ints, -1).Err(), ErrShape)
	require.ErrorIs(t, e.Err(), ErrShape)
	bad := Add(e.Zeros(2), e.Zeros(3))
	require.ErrorIs(t, MaxAll(bad).Err(), ErrShape)
	require.ErrorIs(t, Softmax(bad, 0).Err(), ErrShape)
	require.ErrorIs(t, e.Err(), ErrShape)
}

// TestSoftmaxRowsSumToOne checks a property independent of the twin on the
// benchmark's shape (rows longer than the register-cached path allows are
// covered by TestReduceLongLines).
func TestSoftmaxRowsSumToOne(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(15))
	x := randRef(rng, -80, 80, 33, 4096)
	y := Softmax(upload(e, x), -1)
	sums, err := Sum(y, -1).Float32()
	require.NoError(t, err)
	for i, v := range sums {
		require.InDelta(t, 1, v, 1e-5, "row %d", i)
	}
	requireClose(t, y, ref.Softmax(x, -1), tolExp)
}

// plainSum is a float64 sum (or mean) along axis that handles infinities
// as torch does: ref.Sum's Neumaier compensation turns a sum holding ±inf
// into NaN ((inf - inf) in the correction term), so special-value tests use
// this instead.
func plainSum(x *ref.Tensor, axis int, mean bool) *ref.Tensor {
	a := (axis + len(x.Shape)) % len(x.Shape)
	n, inner := x.Shape[a], Numel(x.Shape[a+1:])
	outer := Numel(x.Shape[:a])
	shape := append(append([]int{}, x.Shape[:a]...), x.Shape[a+1:]...)
	out := ref.New(shape...)
	for o := range outer {
		for i := range inner {
			var s float64
			for k := range n {
				s += x.Data[(o*n+k)*inner+i]
			}
			if mean {
				s /= float64(n)
			}
			out.Data[o*inner+i] = s
		}
	}
	return out
}
