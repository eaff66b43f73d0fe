package ref

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUnary(t *testing.T) {
	x := FromSlice([]int{5}, []float64{-2, -0.5, 0, 1, 3})
	tests := []struct {
		name string
		f    func(*Tensor) *Tensor
		want []float64
	}{
		{"Neg", Neg, []float64{2, 0.5, 0, -1, -3}},
		{"Abs", Abs, []float64{2, 0.5, 0, 1, 3}},
		{"Square", Square, []float64{4, 0.25, 0, 1, 9}},
		{"Relu", Relu, []float64{0, 0, 0, 1, 3}},
		{"Exp", Exp, []float64{math.Exp(-2), math.Exp(-0.5), 1, math.E, math.Exp(3)}},
		{"Tanh", Tanh, []float64{-0.9640275800758169, -0.46211715726000974, 0, 0.7615941559557649, 0.9950547536867305}},
		{"Sigmoid", Sigmoid, []float64{0.11920292202211755, 0.3775406687981454, 0.5, 0.7310585786300049, 0.9525741268224334}},
		{"Silu", Silu, []float64{-0.2384058440442351, -0.1887703343990727, 0, 0.7310585786300049, 2.8577223804673}},
		// torch.nn.functional.gelu (erf form) in float64.
		{"Gelu", Gelu, []float64{-0.04550026389635842, -0.15426876936299344, 0, 0.841344746068543, 2.99595030590511}},
		{"LeakyRelu", func(x *Tensor) *Tensor { return LeakyRelu(x, 0.1) }, []float64{-0.2, -0.05, 0, 1, 3}},
		{"AddScalar", func(x *Tensor) *Tensor { return AddScalar(x, 1.5) }, []float64{-0.5, 1, 1.5, 2.5, 4.5}},
		{"MulScalar", func(x *Tensor) *Tensor { return MulScalar(x, -2) }, []float64{4, 1, 0, -2, -6}},
		{"PowScalar", func(x *Tensor) *Tensor { return PowScalar(x, 2) }, []float64{4, 0.25, 0, 1, 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.f(x)
			require.Equal(t, x.Shape, got.Shape)
			assert.InDeltaSlice(t, tt.want, got.Data, 1e-14)
		})
	}
	assert.Equal(t, []float64{-2, -0.5, 0, 1, 3}, x.Data, "inputs must not change")
}

func TestUnaryPositiveDomain(t *testing.T) {
	x := FromSlice([]int{2, 2}, []float64{0.25, 1, 4, 16})
	assert.InDeltaSlice(t, []float64{0.5, 1, 2, 4}, Sqrt(x).Data, 1e-15)
	assert.InDeltaSlice(t, []float64{2, 1, 0.5, 0.25}, Rsqrt(x).Data, 1e-15)
	assert.InDeltaSlice(t, []float64{-2 * math.Ln2, 0, 2 * math.Ln2, 4 * math.Ln2}, Log(x).Data, 1e-15)
}

func TestBroadcastShape(t *testing.T) {
	tests := []struct {
		name    string
		a, b    []int
		want    []int
		wantErr bool
	}{
		{"equal", []int{2, 3}, []int{2, 3}, []int{2, 3}, false},
		{"scalar", []int{}, []int{4, 5}, []int{4, 5}, false},
		{"both scalar", []int{}, []int{}, []int{}, false},
		{"trailing vector", []int{2, 3, 4}, []int{4}, []int{2, 3, 4}, false},
		{"ones both sides", []int{3, 1, 5}, []int{1, 4, 1}, []int{3, 4, 5}, false},
		{"rank extension", []int{8, 1, 6, 1}, []int{7, 1, 5}, []int{8, 7, 6, 5}, false},
		{"zero size", []int{0, 1}, []int{1, 3}, []int{0, 3}, false},
		{"mismatch", []int{2, 3}, []int{3, 2}, nil, true},
		{"trailing mismatch", []int{2, 3, 4}, []int{3}, nil, true},
		{"middle mismatch", []int{2, 3, 4}, []int{2, 1, 5}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BroadcastShape(tt.a, tt.b)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			rev, err := BroadcastShape(tt.b, tt.a)
			require.NoError(t, err)
			assert.Equal(t, tt.want, rev, "broadcast must be symmetric")
		})
	}
}

func TestBinaryBroadcast(t *testing.T) {
	a := FromSlice([]int{2, 3}, []float64{1, 2, 3, 4, 5, 6})
	col := FromSlice([]int{2, 1}, []float64{10, 20})
	row := FromSlice([]int{3}, []float64{1, 0, -1})
	tests := []struct {
		name  string
		got   *Tensor
		shape []int
		want  []float64
	}{
		{"Add col", Add(a, col), []int{2, 3}, []float64{11, 12, 13, 24, 25, 26}},
		{"Add row", Add(a, row), []int{2, 3}, []float64{2, 2, 2, 5, 5, 5}},
		{"Sub col first", Sub(col, a), []int{2, 3}, []float64{9, 8, 7, 16, 15, 14}},
		{"Mul outer", Mul(col, row), []int{2, 3}, []float64{10, 0, -10, 20, 0, -20}},
		{"Div", Div(a, col), []int{2, 3}, []float64{0.1, 0.2, 0.3, 0.2, 0.25, 0.3}},
		{"Maximum", Maximum(a, FromSlice([]int{}, []float64{3.5})), []int{2, 3}, []float64{3.5, 3.5, 3.5, 4, 5, 6}},
		{"Minimum", Minimum(a, row), []int{2, 3}, []float64{1, 0, -1, 1, 0, -1}},
		{"Pow", Pow(col, FromSlice([]int{1, 2}, []float64{0, 2})), []int{2, 2}, []float64{1, 100, 1, 400}},
		{"scalar both", Add(scalar(1), scalar(2)), []int{}, []float64{3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.shape, tt.got.Shape)
			assert.InDeltaSlice(t, tt.want, tt.got.Data, 1e-15)
		})
	}
}

func TestBinaryPanicsOnBadShapes(t *testing.T) {
	a, b := New(2, 3), New(3, 2)
	for name, f := range map[string]func(a, b *Tensor) *Tensor{
		"Add": Add, "Sub": Sub, "Mul": Mul, "Div": Div,
		"Maximum": Maximum, "Minimum": Minimum, "Pow": Pow,
	} {
		assert.Panics(t, func() { f(a, b) }, name)
	}
}

func TestMaximumMinimumPropagateNaN(t *testing.T) {
	a := FromSlice([]int{2}, []float64{math.NaN(), 1})
	b := FromSlice([]int{2}, []float64{0, math.NaN()})
	for _, got := range []*Tensor{Maximum(a, b), Minimum(a, b)} {
		assert.True(t, math.IsNaN(got.Data[0]))
		assert.True(t, math.IsNaN(got.Data[1]))
	}
}
