package autograd

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor"
	"github.com/tessera-ml/tessera/tensor/ref"
)

// Tolerances against the float64 twin (ref.Close: max error relative to
// max(1, max |want|)). The soft path is float32 rounding only; the entropy
// path inherits the forward's ~1e-7·|logits|/T error in the tempered
// logits (see tensor/attnassign_grad_test.go), hence 3e-6/T.
const (
	attnSoftTol  = 2e-6
	attnValueTol = 2e-6
)

func attnEntropyTol(temp float64) float64 { return 3e-6 / temp }

// attnCase is one shape of the autograd checks; a zero scale or temp
// takes AttnAssign's defaults (1/√d, 0.01).
type attnCase struct {
	n, v, d, c, tile int
	scale, temp      float32
}

func (tc attnCase) String() string {
	return fmt.Sprintf("N=%d V=%d d=%d C=%d tile=%d scale=%v T=%v", tc.n, tc.v, tc.d, tc.c, tc.tile, tc.scale, tc.temp)
}

// twin returns the scale and temperature AttnAssign uses for tc.
func (tc attnCase) twin() (scale, temp float64) {
	scale, temp = float64(tc.scale), float64(tc.temp)
	if scale == 0 {
		scale = 1 / math.Sqrt(float64(tc.d))
	}
	if temp == 0 {
		temp = float64(float32(0.01))
	}
	return scale, temp
}

// attnData is the random inputs of one case, as float32-exact twins.
type attnData struct{ q, k, val *ref.Tensor }

func newAttnData(rng *rand.Rand, tc attnCase) attnData {
	return attnData{
		q:   randInput(rng, -1.5, 1.5, sh(tc.n, tc.d)),
		k:   randInput(rng, -1.5, 1.5, sh(tc.v, tc.d)),
		val: randInput(rng, -1, 1, sh(tc.v, tc.c)),
	}
}

// requireIdx checks the GPU's token ids against the twin's: they may
// differ only where the twin's logits tie within float32 rounding.
func requireIdx(t *testing.T, got *tensor.Tensor, want ref.AttnAssignResult, msg string) []int {
	t.Helper()
	idx, err := got.Int32()
	require.NoError(t, err, msg)
	v := want.Logits.Shape[1]
	out := make([]int, len(idx))
	for i, g := range idx {
		out[i] = int(g)
		if out[i] == want.Idx[i] {
			continue
		}
		require.True(t, g >= 0 && out[i] < v, "%s: token %d id %d out of range", msg, i, g)
		m := want.Max.Data[i]
		require.LessOrEqual(t, m-want.Logits.Data[i*v+out[i]], 1e-5*math.Max(1, math.Abs(m)),
			"%s: token %d id %d, want %d", msg, i, g, want.Idx[i])
	}
	return out
}

// gatherRows is val[idx] (the code vectors both outputs must equal).
func gatherRows(val *ref.Tensor, idx []int) *ref.Tensor {
	c := val.Shape[1]
	out := ref.New(len(idx), c)
	for i, j := range idx {
		copy(out.Data[i*c:(i+1)*c], val.Data[j*c:(j+1)*c])
	}
	return out
}

func requireGrad(t *testing.T, v *Var, want *ref.Tensor, tol float64, msg string) {
	t.Helper()
	require.NotNil(t, v.Grad, msg)
	g, err := v.Grad.Float32()
	require.NoError(t, err, msg)
	require.Equal(t, want.Shape, v.Grad.Shape(), msg)
	require.NoError(t, ref.Close(g, want, tol), msg)
}

func zeroGrads(vs ...*Var) {
	for _, v := range vs {
		v.ZeroGrad()
	}
}

// checkAttnAssign runs AttnAssign on one case and checks the three
// outputs' values and, one output at a time, their gradients into q, k and
// v against the twin.
func checkAttnAssign(t *testing.T, rng *rand.Rand, tc attnCase) {
	msg := tc.String()
	scale, temp := tc.twin()
	in := newAttnData(rng, tc)
	tp := testTape(t)
	e := tp.Engine()
	q := tp.Param(e.FromFloat32(in.q.Float32(), in.q.Shape...), "q")
	k := tp.Param(e.FromFloat32(in.k.Float32(), in.k.Shape...), "k")
	v := tp.Param(e.FromFloat32(in.val.Float32(), in.val.Shape...), "v")
	defer q.Release()
	defer k.Release()
	defer v.Release()

	r := AttnAssign(q, k, v, AttnAssignOptions{Scale: tc.scale, Temp: tc.temp, Entropy: true, TileCodes: tc.tile})
	defer r.Release()
	want := ref.AttnAssign(in.q, in.k, in.val, scale, temp)
	idx := requireIdx(t, r.Idx, want, msg)
	// Both code vectors are exactly v[idx].
	zq := gatherRows(in.val, idx)
	for _, out := range []*Var{r.ZqST, r.ZqHard} {
		got, err := out.Value.Float32()
		require.NoError(t, err, msg)
		require.Equal(t, zq.Float32(), got, msg)
	}
	ent, err := r.Entropy.Value.Item()
	require.NoError(t, err, msg)
	require.InDelta(t, ref.AttnAssignEntropy(in.q, in.k, scale, temp), float64(ent), attnValueTol, msg+" entropy")

	dy := randInput(rng, -1, 1, sh(tc.n, tc.c))
	require.NoError(t, BackwardWith(r.ZqST, e.FromFloat32(dy.Float32(), dy.Shape...)), msg)
	wq, wk := ref.AttnAssignSoftVJP(in.q, in.k, in.val, scale, dy)
	requireGrad(t, q, wq, attnSoftTol, msg+" ZqST dq")
	requireGrad(t, k, wk, attnSoftTol, msg+" ZqST dk")
	requireGrad(t, v, ref.AttnAssignHardVJP(idx, tc.v, dy), attnSoftTol, msg+" ZqST dv")
	zeroGrads(q, k, v)

	dy = randInput(rng, -1, 1, sh(tc.n, tc.c))
	require.NoError(t, BackwardWith(r.ZqHard, e.FromFloat32(dy.Float32(), dy.Shape...)), msg)
	require.Nil(t, q.Grad, msg+" ZqHard sends nothing into q")
	require.Nil(t, k.Grad, msg+" ZqHard sends nothing into k")
	requireGrad(t, v, ref.AttnAssignHardVJP(idx, tc.v, dy), attnSoftTol, msg+" ZqHard dv")
	zeroGrads(q, k, v)

	const up = 0.8
	require.NoError(t, BackwardWith(r.Entropy, e.Full(up)), msg)
	wq, wk = ref.AttnAssignEntropyVJP(in.q, in.k, scale, temp, up)
	requireGrad(t, q, wq, attnEntropyTol(temp), msg+" entropy dq")
	requireGrad(t, k, wk, attnEntropyTol(temp), msg+" entropy dk")
	require.Nil(t, v.Grad, msg+" the entropy sends nothing into v")
}

// TestAttnAssign checks values and gradients on odd shapes, with tiles
// forced small (several tiles, a ragged last one, sizes that are not
// multiples of 4) or chosen automatically (tile 0).
func TestAttnAssign(t *testing.T) {
	rng := rand.New(rand.NewSource(29))
	for _, tc := range []attnCase{
		{7, 5, 3, 1, 2, 0.9, 0.5},
		{7, 65, 8, 4, 16, 0.7, 0.05},
		{33, 65, 3, 16, 9, 1, 0.5},
		{33, 300, 8, 1, 64, 0.6, 0.05},
		{129, 300, 32, 16, 37, float32(1 / math.Sqrt(32)), 0.05},
		{129, 5, 32, 4, 0, 0.3, 0.5},
		{129, 300, 3, 4, 0, 1.1, 0.5},
		{33, 5, 32, 16, 3, 0.4, 0.05},
		{33, 65, 8, 4, 0, 0, 0}, // defaults: scale 1/√d, T = 0.01
	} {
		t.Run(tc.String(), func(t *testing.T) { checkAttnAssign(t, rng, tc) })
	}
}

// TestAttnAssignInLoss uses all three outputs in one loss, as the
// quantizer does, and checks that the gradients add up.
func TestAttnAssignInLoss(t *testing.T) {
	rng := rand.New(rand.NewSource(31))
	tc := attnCase{33, 65, 8, 4, 16, 0.6, 0.5}
	scale, temp := tc.twin()
	in := newAttnData(rng, tc)
	tp := testTape(t)
	e := tp.Engine()
	q := tp.Param(e.FromFloat32(in.q.Float32(), in.q.Shape...), "q")
	k := tp.Param(e.FromFloat32(in.k.Float32(), in.k.Shape...), "k")
	v := tp.Param(e.FromFloat32(in.val.Float32(), in.val.Shape...), "v")
	defer q.Release()
	defer k.Release()
	defer v.Release()
	w1, w2 := randInput(rng, -1, 1, sh(tc.n, tc.c)), randInput(rng, -1, 1, sh(tc.n, tc.c))
	const lambda = 0.05

	r := AttnAssign(q, k, v, AttnAssignOptions{Scale: tc.scale, Temp: tc.temp, Entropy: true, TileCodes: tc.tile})
	defer r.Release()
	loss := Add(Add(SumAll(Mul(r.ZqST, tp.Const(e.FromFloat32(w1.Float32(), w1.Shape...)))),
		SumAll(Mul(r.ZqHard, tp.Const(e.FromFloat32(w2.Float32(), w2.Shape...))))),
		MulScalar(r.Entropy, lambda))
	require.NoError(t, Backward(loss))

	want := ref.AttnAssign(in.q, in.k, in.val, scale, temp)
	idx := requireIdx(t, r.Idx, want, "loss")
	sq, sk := ref.AttnAssignSoftVJP(in.q, in.k, in.val, scale, w1)
	eq, ek := ref.AttnAssignEntropyVJP(in.q, in.k, scale, temp, lambda)
	requireGrad(t, q, ref.Add(sq, eq), attnEntropyTol(temp), "dq")
	requireGrad(t, k, ref.Add(sk, ek), attnEntropyTol(temp), "dk")
	requireGrad(t, v, ref.Add(ref.AttnAssignHardVJP(idx, tc.v, w1), ref.AttnAssignHardVJP(idx, tc.v, w2)), attnSoftTol, "dv")
}

// TestAttnAssignFrozenAndNoEntropy: frozen inputs get no gradient and
// leave the others unchanged; without Entropy there is no entropy output;
// under NoGrad nothing is recorded.
func TestAttnAssignFrozenAndNoEntropy(t *testing.T) {
	rng := rand.New(rand.NewSource(37))
	tc := attnCase{9, 21, 5, 3, 8, 0.8, 0.5}
	scale, _ := tc.twin()
	in := newAttnData(rng, tc)
	tp := testTape(t)
	e := tp.Engine()
	q := tp.Param(e.FromFloat32(in.q.Float32(), in.q.Shape...), "q")
	k := tp.Param(e.FromFloat32(in.k.Float32(), in.k.Shape...), "k")
	v := tp.Param(e.FromFloat32(in.val.Float32(), in.val.Shape...), "v")
	defer q.Release()
	defer k.Release()
	defer v.Release()
	dy := randInput(rng, -1, 1, sh(tc.n, tc.c))
	wq, wk := ref.AttnAssignSoftVJP(in.q, in.k, in.val, scale, dy)

	for _, frozen := range []*Var{q, k, v} {
		frozen.SetRequiresGrad(false)
		r := AttnAssign(q, k, v, AttnAssignOptions{Scale: tc.scale, Temp: tc.temp, TileCodes: tc.tile})
		require.Nil(t, r.Entropy)
		require.NoError(t, BackwardWith(r.ZqST, e.FromFloat32(dy.Float32(), dy.Shape...)))
		want := map[*Var]*ref.Tensor{q: wq, k: wk, v: nil}
		for x, w := range want {
			switch {
			case x == frozen:
				require.Nil(t, x.Grad)
			case w != nil:
				requireGrad(t, x, w, attnSoftTol, x.Name())
			default:
				require.NotNil(t, x.Grad)
			}
		}
		zeroGrads(q, k, v)
		r.Release()
		frozen.SetRequiresGrad(true)
	}

	tp.NoGrad(func() {
		r := AttnAssign(q, k, v, AttnAssignOptions{Scale: tc.scale, Temp: tc.temp, Entropy: true})
		require.False(t, r.ZqST.RequiresGrad())
		require.False(t, r.Entropy.RequiresGrad())
		r.Release()
	})
}

// TestAttnAssignEmptyAndErrors: no tokens give zero gradients and a zero
// entropy; shape errors are sticky on every output.
func TestAttnAssignEmptyAndErrors(t *testing.T) {
	tp := testTape(t)
	e := tp.Engine()
	q := tp.Param(e.Zeros(0, 4), "q")
	k := tp.Param(e.Full(0.5, 6, 4), "k")
	v := tp.Param(e.Full(1, 6, 3), "v")
	defer q.Release()
	defer k.Release()
	defer v.Release()
	r := AttnAssign(q, k, v, AttnAssignOptions{Entropy: true})
	require.Equal(t, []int{0, 3}, r.ZqST.Shape())
	ent, err := r.Entropy.Value.Item()
	require.NoError(t, err)
	require.Equal(t, float32(0), ent)
	loss := Add(Add(SumAll(r.ZqST), SumAll(r.ZqHard)), r.Entropy)
	require.NoError(t, Backward(loss))
	require.Equal(t, []int{0, 4}, q.Grad.Shape())
	require.Equal(t, make([]float32, 24), values(t, k.Grad))
	require.Equal(t, make([]float32, 18), values(t, v.Grad))
	r.Release()

	bad := tp.Param(e.Zeros(2, 5), "bad")
	defer bad.Release()
	r = AttnAssign(bad, k, v, AttnAssignOptions{Entropy: true})
	for _, x := range []*Var{r.ZqST, r.ZqHard, r.Entropy} {
		require.ErrorIs(t, x.Value.Err(), tensor.ErrShape)
	}
	require.ErrorIs(t, r.Idx.Err(), tensor.ErrShape)
	require.Error(t, Backward(SumAll(r.ZqST)))
	r.Release()
	require.ErrorIs(t, e.Sync(), tensor.ErrShape) // also clears the engine's error
}
