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

// Odd shapes: not multiples of any workgroup size, plus empty ones.
var oddShapes = [][]int{{1}, {7}, {3, 5}, {2, 3, 65}, {4099}, {0}, {3, 0, 2}}

func TestUnaryOps(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(1))
	tests := []struct {
		name   string
		lo, hi float64
		gpu    func(*Tensor) *Tensor
		twin   func(*ref.Tensor) *ref.Tensor
		tol    float64
	}{
		{"neg", -3, 3, Neg, ref.Neg, 0},
		{"abs", -3, 3, Abs, ref.Abs, 0},
		{"exp", -5, 5, Exp, ref.Exp, 1e-6},
		{"log", 0.01, 10, Log, ref.Log, 1e-6},
		{"sqrt", 0, 10, Sqrt, ref.Sqrt, 1e-6},
		{"rsqrt", 0.1, 10, Rsqrt, ref.Rsqrt, 1e-5},
		{"square", -3, 3, Square, ref.Square, 1e-6},
		{"tanh", -10, 10, Tanh, ref.Tanh, 1e-6},
		{"sigmoid", -30, 30, Sigmoid, ref.Sigmoid, 1e-6},
		{"relu", -3, 3, Relu, ref.Relu, 0},
		{"silu", -20, 20, Silu, ref.Silu, 1e-6},
		{"gelu", -6, 6, Gelu, ref.Gelu, 1e-6},
		{"leaky", -3, 3, func(x *Tensor) *Tensor { return LeakyRelu(x, 0.2) }, func(x *ref.Tensor) *ref.Tensor { return ref.LeakyRelu(x, 0.2) }, 1e-7},
		{"addscalar", -3, 3, func(x *Tensor) *Tensor { return AddScalar(x, 1.5) }, func(x *ref.Tensor) *ref.Tensor { return ref.AddScalar(x, 1.5) }, 1e-7},
		{"mulscalar", -3, 3, func(x *Tensor) *Tensor { return MulScalar(x, -0.25) }, func(x *ref.Tensor) *ref.Tensor { return ref.MulScalar(x, -0.25) }, 1e-7},
		{"powscalar", 0.1, 3, func(x *Tensor) *Tensor { return PowScalar(x, 2.5) }, func(x *ref.Tensor) *ref.Tensor { return ref.PowScalar(x, 2.5) }, 1e-6},
		{"powscalar-negative-base", -3, 3, func(x *Tensor) *Tensor { return PowScalar(x, 3) }, func(x *ref.Tensor) *ref.Tensor { return ref.PowScalar(x, 3) }, 1e-6},
		{"clone", -3, 3, Clone, func(x *ref.Tensor) *ref.Tensor { return x.Clone() }, 0},
		{"maxscalar", -3, 3, func(x *Tensor) *Tensor { return MaxScalar(x, 0.5) }, func(x *ref.Tensor) *ref.Tensor { return ref.Maximum(x, ref.Full([]int{1}, 0.5)) }, 0},
		{"minscalar", -3, 3, func(x *Tensor) *Tensor { return MinScalar(x, -0.5) }, func(x *ref.Tensor) *ref.Tensor { return ref.Minimum(x, ref.Full([]int{1}, -0.5)) }, 0},
	}
	for _, tc := range tests {
		for _, shape := range oddShapes {
			t.Run(fmt.Sprintf("%s/%v", tc.name, shape), func(t *testing.T) {
				x := randRef(rng, tc.lo, tc.hi, shape...)
				requireClose(t, tc.gpu(upload(e, x)), tc.twin(x), tc.tol)
			})
		}
	}
}

func TestBinaryBroadcast(t *testing.T) {
	e := testEngine(t)
	rng := rand.New(rand.NewSource(2))
	ops := []struct {
		name string
		gpu  func(a, b *Tensor) *Tensor
		twin func(a, b *ref.Tensor) *ref.Tensor
		lo   float64
	}{
		{"add", Add, ref.Add, -2},
		{"sub", Sub, ref.Sub, -2},
		{"mul", Mul, ref.Mul, -2},
		{"div", Div, ref.Div, 0.5},
		{"max", Maximum, ref.Maximum, -2},
		{"min", Minimum, ref.Minimum, -2},
		{"pow", Pow, ref.Pow, 0.5},
	}
	shapes := []struct{ a, b []int }{
		{[]int{5, 7}, []int{5, 7}},
		{[]int{5, 7}, []int{7}},
		{[]int{5, 1}, []int{1, 7}},
		{[]int{2, 3, 4, 5}, []int{3, 1, 5}},
		{[]int{1}, []int{3, 67}},
		{[]int{3, 0}, []int{1}},
	}
	for _, op := range ops {
		for _, sh := range shapes {
			t.Run(fmt.Sprintf("%s/%v*%v", op.name, sh.a, sh.b), func(t *testing.T) {
				a := randRef(rng, op.lo, 2, sh.a...)
				b := randRef(rng, op.lo, 2, sh.b...)
				requireClose(t, op.gpu(upload(e, a), upload(e, b)), op.twin(a, b), 1e-6)
			})
		}
	}
}

func TestBinaryShapeErrorIsSticky(t *testing.T) {
	e := testEngine(t)
	a := e.Zeros(2, 3)
	b := e.Zeros(4)
	c := Add(a, b)
	require.ErrorIs(t, c.Err(), ErrShape)
	d := Exp(c) // does nothing: its input failed
	_, err := d.Float32()
	require.ErrorIs(t, err, ErrShape)
	require.ErrorIs(t, e.Err(), ErrShape)
	require.NoError(t, e.Err(), "Err clears the sticky error")
}

func TestFillArangeReshape(t *testing.T) {
	e := testEngine(t)
	requireClose(t, e.Full(2.5, 3, 5), ref.Full([]int{3, 5}, 2.5), 0)
	requireClose(t, e.Arange(1001, -3, 0.5), ref.Arange(1001, -3, 0.5), 1e-7)
	ints, err := e.ArangeInt(7, 10, -3).Int32()
	require.NoError(t, err)
	assert.Equal(t, []int32{10, 7, 4, 1, -2, -5, -8}, ints)

	x := e.FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	v := x.Reshape(3, -1)
	assert.Equal(t, []int{3, 2}, v.Shape())
	got, err := v.Float32()
	require.NoError(t, err)
	assert.Equal(t, []float32{1, 2, 3, 4, 5, 6}, got)
	require.ErrorIs(t, x.Reshape(4, -1).Err(), ErrShape)
	require.ErrorIs(t, e.Err(), ErrShape)
	require.ErrorIs(t, e.FromFloat32([]float32{1}, 2).Err(), ErrShape)
	require.Error(t, e.Err())
}

func TestScopesReleaseAndKeep(t *testing.T) {
	e := testEngine(t)
	dev := e.Device()
	require.NoError(t, e.Sync())
	base := dev.Memory().Live
	var kept *Tensor
	for i := 0; i < 50; i++ {
		s := e.Scope()
		x := e.Full(float32(i), 1000)
		y := Exp(Neg(x))
		z := Add(y, x).Reshape(10, 100)
		if i == 49 {
			s.Keep(z)
			kept = z
		}
		s.Close()
	}
	v, err := kept.Float32()
	require.NoError(t, err)
	assert.InDelta(t, 49+math.Exp(-49), float64(v[0]), 1e-5)
	kept.Release()
	require.NoError(t, e.Sync())
	assert.Equal(t, base, dev.Memory().Live, "live device bytes back at the baseline")
}

func TestOutOfMemoryIsAnError(t *testing.T) {
	e := testEngine(t)
	huge := e.Empty(int(e.Device().Info.MaxStorageBufferRange/4) + 1)
	require.Error(t, huge.Err())
	require.Error(t, e.Err())
	_, err := Exp(huge).Float32()
	require.Error(t, err)
	require.Error(t, e.Err())
}

func TestAddInPlaceAndPersist(t *testing.T) {
	e := testEngine(t)
	var acc *Tensor
	for i := 0; i < 3; i++ {
		s := e.Scope()
		g := e.Full(float32(i+1), 2, 3)
		if acc == nil {
			acc = Clone(g).Persist()
		} else {
			require.NoError(t, AddInPlace(acc, e.Full(float32(i+1), 3)))
		}
		s.Close()
	}
	got, err := acc.Float32()
	require.NoError(t, err)
	assert.Equal(t, []float32{6, 6, 6, 6, 6, 6}, got)
	require.ErrorIs(t, AddInPlace(acc, e.Zeros(4)), ErrShape)
	acc.Release()
}

func TestOneHotGreaterEqualBroadcastTo(t *testing.T) {
	e := testEngine(t)
	oh, err := OneHot(e.FromInt32([]int32{2, 0, 5, -1}, 4), 3).Float32()
	require.NoError(t, err)
	assert.Equal(t, []float32{0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0}, oh, "out-of-range ids give zero rows")
	require.ErrorIs(t, OneHot(e.Zeros(3), 2).Err(), ErrShape)
	require.Error(t, e.Err())

	ge, err := GreaterEqual(e.FromFloat32([]float32{1, 2, 3}, 3), e.FromFloat32([]float32{2}, 1)).Float32()
	require.NoError(t, err)
	assert.Equal(t, []float32{0, 1, 1}, ge)

	rng := rand.New(rand.NewSource(5))
	x := randRef(rng, -1, 1, 3, 1)
	want := ref.Add(x, ref.New(2, 3, 5))
	requireClose(t, BroadcastTo(upload(e, x), 2, 3, 5), want, 0)
	require.ErrorIs(t, BroadcastTo(upload(e, x), 4, 5).Err(), ErrShape)
	require.Error(t, e.Err())
}
