package ref

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// goldenTol is the tolerance against the PyTorch float64 goldens:
// |got_i - want_i| <= goldenTol * max(1, max_j |want_j|) for every element.
// Both sides compute in float64 (the fixture stores 15 significant digits),
// so only summation order and libm differences remain.
const goldenTol = 1e-9

// goldenFile mirrors testdata/torch_ops.json, written by
// tools/golden/ref_ops.py.
type goldenFile struct {
	TorchVersion string                  `json:"torch_version"`
	Tensors      map[string]goldenTensor `json:"tensors"`
	Cases        []goldenCase            `json:"cases"`
}

type goldenTensor struct {
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
}

type goldenCase struct {
	Name   string       `json:"name"`
	Op     string       `json:"op"`
	Inputs []string     `json:"inputs"`
	Params goldenParams `json:"params"`
	Want   goldenTensor `json:"want"`
}

// goldenParams is the union of every op's parameters; each op reads the
// fields it needs.
type goldenParams struct {
	Axis   int     `json:"axis"`
	Axes   []int   `json:"axes"`
	Perm   []int   `json:"perm"`
	Start  int     `json:"start"`
	End    int     `json:"end"`
	Idx    []int32 `json:"idx"`
	Scalar float64 `json:"scalar"`
	TransA bool    `json:"transA"`
	TransB bool    `json:"transB"`
	Stride []int   `json:"stride"`
	Pad    []int   `json:"pad"`
	Dil    []int   `json:"dil"`
	Size   []int   `json:"size"`
	Groups int     `json:"groups"`
	Eps    float64 `json:"eps"`
}

type goldenOp func(in []*Tensor, p goldenParams) *Tensor

func unaryOp(f func(*Tensor) *Tensor) goldenOp {
	return func(in []*Tensor, _ goldenParams) *Tensor { return f(in[0]) }
}

func binaryOp(f func(a, b *Tensor) *Tensor) goldenOp {
	return func(in []*Tensor, _ goldenParams) *Tensor { return f(in[0], in[1]) }
}

func axisOp(f func(*Tensor, int) *Tensor) goldenOp {
	return func(in []*Tensor, p goldenParams) *Tensor { return f(in[0], p.Axis) }
}

func scalarOp(f func(*Tensor, float64) *Tensor) goldenOp {
	return func(in []*Tensor, p goldenParams) *Tensor { return f(in[0], p.Scalar) }
}

// optional returns in[i], or nil when the case has fewer inputs.
func optional(in []*Tensor, i int) *Tensor {
	if i < len(in) {
		return in[i]
	}
	return nil
}

// indicesAsTensor turns argmax output into a float tensor for comparison.
func indicesAsTensor(shape []int, idx []int32) *Tensor {
	t := New(shape...)
	for i, v := range idx {
		t.Data[i] = float64(v)
	}
	return t
}

// goldenOps maps fixture op names to the reference implementation.
var goldenOps = map[string]goldenOp{
	"neg": unaryOp(Neg), "abs": unaryOp(Abs), "exp": unaryOp(Exp),
	"log": unaryOp(Log), "sqrt": unaryOp(Sqrt), "rsqrt": unaryOp(Rsqrt),
	"square": unaryOp(Square), "tanh": unaryOp(Tanh),
	"sigmoid": unaryOp(Sigmoid), "relu": unaryOp(Relu),
	"silu": unaryOp(Silu), "gelu": unaryOp(Gelu),
	"leaky_relu": scalarOp(LeakyRelu),

	"add": binaryOp(Add), "sub": binaryOp(Sub), "mul": binaryOp(Mul),
	"div": binaryOp(Div), "maximum": binaryOp(Maximum),
	"minimum": binaryOp(Minimum), "pow": binaryOp(Pow),
	"add_scalar": scalarOp(AddScalar), "mul_scalar": scalarOp(MulScalar),
	"pow_scalar": scalarOp(PowScalar),

	"sum": axisOp(Sum), "mean": axisOp(Mean), "max": axisOp(Max),
	"logsumexp": axisOp(LogSumExp), "softmax": axisOp(Softmax),
	"log_softmax": axisOp(LogSoftmax),
	"argmax": func(in []*Tensor, p goldenParams) *Tensor {
		return indicesAsTensor(Argmax(in[0], p.Axis))
	},
	"sum_all": unaryOp(SumAll), "mean_all": unaryOp(MeanAll),
	"max_all": unaryOp(MaxAll), "logsumexp_all": unaryOp(LogSumExpAll),
	"argmax_all": func(in []*Tensor, _ goldenParams) *Tensor {
		return scalar(float64(ArgmaxAll(in[0])))
	},

	"matmul": func(in []*Tensor, p goldenParams) *Tensor {
		return Matmul(in[0], in[1], p.TransA, p.TransB)
	},

	"permute": func(in []*Tensor, p goldenParams) *Tensor { return Permute(in[0], p.Perm...) },
	"transpose": func(in []*Tensor, p goldenParams) *Tensor {
		return Transpose(in[0], p.Axes[0], p.Axes[1])
	},
	"concat": func(in []*Tensor, p goldenParams) *Tensor { return Concat(p.Axis, in...) },
	"slice": func(in []*Tensor, p goldenParams) *Tensor {
		return Slice(in[0], p.Axis, p.Start, p.End)
	},
	"index_select": func(in []*Tensor, p goldenParams) *Tensor {
		return Gather(in[0], p.Axis, p.Idx)
	},
	"index_add": func(in []*Tensor, p goldenParams) *Tensor {
		return ScatterAdd(in[0], p.Axis, p.Idx, in[1])
	},

	"conv2d": func(in []*Tensor, p goldenParams) *Tensor {
		return Conv2d(in[0], in[1], optional(in, 2), ConvParams{
			StrideH: p.Stride[0], StrideW: p.Stride[1],
			PadH: p.Pad[0], PadW: p.Pad[1],
			DilH: p.Dil[0], DilW: p.Dil[1],
		})
	},

	"bicubic": func(in []*Tensor, p goldenParams) *Tensor {
		return UpsampleBicubic(in[0], p.Size[0], p.Size[1])
	},
	"nearest": func(in []*Tensor, p goldenParams) *Tensor {
		return UpsampleNearest(in[0], p.Size[0], p.Size[1])
	},
	"area": func(in []*Tensor, p goldenParams) *Tensor {
		return AreaDownsample(in[0], p.Size[0], p.Size[1])
	},

	"group_norm": func(in []*Tensor, p goldenParams) *Tensor {
		return GroupNorm(in[0], p.Groups, optional(in, 1), optional(in, 2), p.Eps)
	},
	"layer_norm": func(in []*Tensor, p goldenParams) *Tensor {
		return LayerNorm(in[0], optional(in, 1), optional(in, 2), p.Eps)
	},
	"rms_norm": func(in []*Tensor, p goldenParams) *Tensor {
		return RMSNorm(in[0], optional(in, 1), p.Eps)
	},
}

func loadGolden(t *testing.T) goldenFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "torch_ops.json"))
	require.NoError(t, err, "regenerate with: /usr/bin/python3 tools/golden/ref_ops.py")
	var g goldenFile
	require.NoError(t, json.Unmarshal(raw, &g))
	require.NotEmpty(t, g.Cases)
	return g
}

// TestTorchGoldens checks every reference op against PyTorch 1.13 float64
// outputs stored in testdata/torch_ops.json.
func TestTorchGoldens(t *testing.T) {
	g := loadGolden(t)
	for _, c := range g.Cases {
		t.Run(c.Name, func(t *testing.T) {
			op, ok := goldenOps[c.Op]
			require.Truef(t, ok, "fixture op %q has no reference implementation", c.Op)
			in := make([]*Tensor, len(c.Inputs))
			for i, name := range c.Inputs {
				gt, ok := g.Tensors[name]
				require.Truef(t, ok, "fixture input %q missing", name)
				// Clone so an op that mutated its input would corrupt
				// nothing shared and be caught below.
				in[i] = FromSlice(gt.Shape, append([]float64(nil), gt.Data...))
			}
			got := op(in, c.Params)
			want := FromSlice(c.Want.Shape, c.Want.Data)
			require.Equal(t, want.Shape, got.Shape, "shape")
			diff := MaxAbsDiff(got, want)
			t.Logf("max abs diff %.3g (scale %g)", diff, errScale(want.Data))
			require.LessOrEqualf(t, diff, goldenTol*errScale(want.Data),
				"max |diff| %g vs torch %s", diff, g.TorchVersion)
			for i, name := range c.Inputs {
				require.Equalf(t, g.Tensors[name].Data, in[i].Data, "op modified input %q", name)
			}
		})
	}
}

// TestTorchGoldensCoverEveryOp guards against a fixture that silently
// stops exercising an op.
func TestTorchGoldensCoverEveryOp(t *testing.T) {
	g := loadGolden(t)
	seen := map[string]bool{}
	for _, c := range g.Cases {
		seen[c.Op] = true
	}
	for op := range goldenOps {
		require.Truef(t, seen[op], "no golden case for op %q", op)
	}
}
