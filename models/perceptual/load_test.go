package perceptual

import (
	"encoding/binary"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/models/torchfile"
)

// readFixture reads a fixture's tensors for editing.
func readFixture(t *testing.T, path string) map[string]torchfile.Tensor {
	t.Helper()
	ts, err := torchfile.ReadFile(path)
	require.NoError(t, err, "regenerate with /usr/bin/python3 models/perceptual/testdata/golden.py")
	return ts
}

// f32Tensor makes an F32 tensor of the given values.
func f32Tensor(name string, vals []float32, shape ...int) torchfile.Tensor {
	data := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(v))
	}
	return torchfile.Tensor{Name: name, DType: "F32", Shape: shape, Data: data}
}

// edit returns a copy of ts changed by f.
func edit(ts map[string]torchfile.Tensor, f func(ts map[string]torchfile.Tensor)) map[string]torchfile.Tensor {
	out := maps.Clone(ts)
	f(out)
	return out
}

// reshaped returns ts[name] with another shape (its data is not looked at
// once the shape is wrong).
func reshaped(ts map[string]torchfile.Tensor, name string, shape ...int) torchfile.Tensor {
	t := ts[name]
	t.Shape = shape
	return t
}

// TestInceptionLoadErrors: what a wrong file gets, each error naming the
// file and the tensor; the known extras of the real file load. Failed
// loads free what they uploaded (testdev checks for leaks).
func TestInceptionLoadErrors(t *testing.T) {
	base := readFixture(t, inceptionFixture)
	for _, tc := range []struct {
		name string
		edit func(ts map[string]torchfile.Tensor)
		want string // "" loads
	}{
		{"fixture", func(map[string]torchfile.Tensor) {}, ""},
		{"classifier and counters skipped", func(ts map[string]torchfile.Tensor) {
			ts["fc.weight"] = f32Tensor("fc.weight", make([]float32, 1008*128), 1008, 128)
			ts["fc.bias"] = f32Tensor("fc.bias", make([]float32, 1008), 1008)
			delete(ts, "Mixed_6b.branch1x1.bn.num_batches_tracked")
		}, ""},
		{"missing", func(ts map[string]torchfile.Tensor) {
			delete(ts, "Mixed_6c.branch7x7dbl_3.bn.running_var")
		}, `edited.pth: missing tensor "Mixed_6c.branch7x7dbl_3.bn.running_var" (want shape [10])`},
		{"kernel transposed", func(ts map[string]torchfile.Tensor) {
			ts["Mixed_7b.branch3x3_2a.conv.weight"] = reshaped(ts, "Mixed_7b.branch3x3_2a.conv.weight", 24, 24, 3, 1)
		}, `edited.pth: tensor "Mixed_7b.branch3x3_2a.conv.weight" has shape [24 24 3 1], want [24 24 1 3]`},
		{"unexpected", func(ts map[string]torchfile.Tensor) {
			ts["Mixed_5b.branch9x9.conv.weight"] = f32Tensor("Mixed_5b.branch9x9.conv.weight", []float32{1}, 1)
		}, `edited.pth: unexpected tensors "Mixed_5b.branch9x9.conv.weight"`},
		{"aux logits are not pytorch-fid's", func(ts map[string]torchfile.Tensor) {
			ts["AuxLogits.fc.weight"] = f32Tensor("AuxLogits.fc.weight", []float32{1}, 1)
		}, `unexpected tensors "AuxLogits.fc.weight"`},
		{"integer weights", func(ts map[string]torchfile.Tensor) {
			w := ts["Mixed_5d.branch_pool.conv.weight"]
			w.DType = "I32"
			ts["Mixed_5d.branch_pool.conv.weight"] = w
		}, `tensor "Mixed_5d.branch_pool.conv.weight" is I32, want floating point`},
		{"width not a divisor", func(ts map[string]torchfile.Tensor) {
			ts["Conv2d_1a_3x3.conv.weight"] = reshaped(ts, "Conv2d_1a_3x3.conv.weight", 3, 3, 3, 3)
		}, `"Conv2d_1a_3x3.conv.weight" has shape [3 3 3 3]: 3 output channels do not divide the real 32`},
		{"width too narrow", func(ts map[string]torchfile.Tensor) {
			ts["Conv2d_1a_3x3.conv.weight"] = reshaped(ts, "Conv2d_1a_3x3.conv.weight", 1, 3, 3, 3)
		}, `width 1/32 does not divide the channel count 48`},
		{"negative variance", func(ts map[string]torchfile.Tensor) {
			ts["Conv2d_4a_3x3.bn.running_var"] = f32Tensor("Conv2d_4a_3x3.bn.running_var", []float32{1, 1, -1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 12)
		}, `tensor "Conv2d_4a_3x3.bn.running_var" has a negative variance -1 at channel 2`},
		{"NaN", func(ts map[string]torchfile.Tensor) {
			ts["Conv2d_3b_1x1.bn.bias"] = f32Tensor("Conv2d_3b_1x1.bn.bias", []float32{0, 0, 0, float32(math.NaN()), 0}, 5)
		}, `tensor "Conv2d_3b_1x1.bn.bias" has a non-finite value at element 3`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := testTape(t)
			m, err := loadInception(tp, newState("edited.pth", edit(base, tc.edit)))
			if tc.want == "" {
				require.NoError(t, err)
				m.Release()
				return
			}
			require.Error(t, err)
			assert.Nil(t, m)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestLPIPSLoadErrors: the same for the two LPIPS files, each error naming
// its own file.
func TestLPIPSLoadErrors(t *testing.T) {
	vgg, lin := readFixture(t, vggFixture), readFixture(t, linFixture)
	none := func(map[string]torchfile.Tensor) {}
	for _, tc := range []struct {
		name             string
		editVGG, editLin func(ts map[string]torchfile.Tensor)
		want             string
	}{
		{"fixtures", none, none, ""},
		{"vgg classifier skipped", func(ts map[string]torchfile.Tensor) {
			ts["classifier.6.bias"] = f32Tensor("classifier.6.bias", make([]float32, 1000), 1000)
		}, none, ""},
		{"vgg missing", func(ts map[string]torchfile.Tensor) { delete(ts, "features.28.bias") }, none,
			`vgg.pth: missing tensor "features.28.bias" (want shape [32])`},
		{"vgg mis-shaped", func(ts map[string]torchfile.Tensor) {
			ts["features.10.weight"] = reshaped(ts, "features.10.weight", 16, 8, 1, 1)
		}, none, `vgg.pth: tensor "features.10.weight" has shape [16 8 1 1], want [16 8 3 3]`},
		{"vgg unexpected", func(ts map[string]torchfile.Tensor) {
			ts["features.30.weight"] = f32Tensor("features.30.weight", []float32{1}, 1)
		}, none, `vgg.pth: unexpected tensors "features.30.weight"`},
		{"lin missing", none, func(ts map[string]torchfile.Tensor) { delete(ts, "lin3.model.1.weight") },
			`lin.pth: missing tensor "lin3.model.1.weight" (want shape [1 32 1 1])`},
		{"lin wrong width", none, func(ts map[string]torchfile.Tensor) {
			ts["lin0.model.1.weight"] = reshaped(ts, "lin0.model.1.weight", 1, 64, 1, 1)
		}, `lin.pth: tensor "lin0.model.1.weight" has shape [1 64 1 1], want [1 4 1 1]`},
		{"lin negative", none, func(ts map[string]torchfile.Tensor) {
			ts["lin1.model.1.weight"] = f32Tensor("lin1.model.1.weight", []float32{0.1, 0.2, -0.3, 0, 0, 0, 0, 0}, 1, 8, 1, 1)
		}, `lin.pth: tensor "lin1.model.1.weight" has a negative weight -0.3 at channel 2`},
		{"lin unexpected", none, func(ts map[string]torchfile.Tensor) {
			ts["lin5.model.1.weight"] = f32Tensor("lin5.model.1.weight", []float32{1}, 1, 1, 1, 1)
		}, `lin.pth: unexpected tensors "lin5.model.1.weight"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := testTape(t)
			m, err := loadLPIPS(tp, newState("vgg.pth", edit(vgg, tc.editVGG)), newState("lin.pth", edit(lin, tc.editLin)))
			if tc.want == "" {
				require.NoError(t, err)
				m.Release()
				return
			}
			require.Error(t, err)
			assert.Nil(t, m)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestLoadFileErrors: unreadable or swapped files name the path.
func TestLoadFileErrors(t *testing.T) {
	tp := testTape(t)
	_, err := LoadInception(tp, "testdata/no-such.pth")
	require.ErrorContains(t, err, "testdata/no-such.pth")
	_, err = LoadInception(tp, vggFixture)
	require.ErrorContains(t, err, vggFixture+`: missing tensor "Conv2d_1a_3x3.conv.weight"`)
	_, err = LoadLPIPS(tp, linFixture, vggFixture)
	require.ErrorContains(t, err, linFixture+`: missing tensor "features.0.weight"`)
	_, err = LoadLPIPS(tp, vggFixture, inceptionFixture)
	require.ErrorContains(t, err, inceptionFixture+`: missing tensor "lin0.model.1.weight"`)
	_, err = LoadLPIPS(tp, vggFixture, "testdata/no-such-lin.pth")
	require.ErrorContains(t, err, "testdata/no-such-lin.pth")
}

// fullSize widens a 1/16 fixture's state dict to the real network's
// shapes with random He-scaled weights (BatchNorm: γ 1, β 0.1, μ 0, σ²
// 1; LPIPS heads non-negative).
func fullSize(ts map[string]torchfile.Tensor, rng *rand.Rand) map[string]torchfile.Tensor {
	out := map[string]torchfile.Tensor{}
	for name, t := range ts {
		if t.DType != "F32" {
			out[name] = t
			continue
		}
		shape := append([]int(nil), t.Shape...)
		rgbIn := name == "Conv2d_1a_3x3.conv.weight" || name == "features.0.weight"
		for i := range shape {
			// Output and input channels widen, except the RGB input and
			// an LPIPS head's single output.
			if (i == 0 && !strings.HasPrefix(name, "lin")) || (i == 1 && !rgbIn) {
				shape[i] *= 16
			}
		}
		n := 1
		for _, d := range shape {
			n *= d
		}
		vals := make([]float32, n)
		switch {
		case strings.HasSuffix(name, "running_var"), strings.HasSuffix(name, "bn.weight"):
			for i := range vals {
				vals[i] = 1
			}
		case strings.HasSuffix(name, "bias"):
			for i := range vals {
				vals[i] = 0.1
			}
		case strings.HasSuffix(name, "running_mean"):
		default:
			std := math.Sqrt(2 / float64(n/shape[0]))
			for i := range vals {
				vals[i] = float32(math.Abs(rng.NormFloat64() * std))
				if !strings.HasPrefix(name, "lin") && rng.IntN(2) == 0 {
					vals[i] = -vals[i]
				}
			}
		}
		out[name] = f32Tensor(name, vals, shape...)
	}
	return out
}

// TestFullSizeNetworks: the real networks' shapes (pytorch-fid's
// Inception: 21 768 352 parameters once its 94 BatchNorms are folded,
// 2048-d pool3; VGG16's 14 714 688 plus LPIPS's 1 472) load through the
// same code as the fixtures, from tensors widened to full size. With
// TESSERA_FULL_SIZE=1 the full networks also run once (slow on Lavapipe).
func TestFullSizeNetworks(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	tp := testTape(t)
	inc, err := loadInception(tp, newState("full-inception.pth", fullSize(readFixture(t, inceptionFixture), rng)))
	require.NoError(t, err)
	defer inc.Release()
	assert.Equal(t, InceptionDim, inc.Dim())
	assert.Equal(t, "inception-v3-fid (pool3, 2048-d)", inc.Name())
	total, trainable := nn.ParamCount(inc)
	assert.Equal(t, 21768352, total)
	assert.Zero(t, trainable, "frozen")

	lp, err := loadLPIPS(tp, newState("full-vgg.pth", fullSize(readFixture(t, vggFixture), rng)),
		newState("full-lin.pth", fullSize(readFixture(t, linFixture), rng)))
	require.NoError(t, err)
	defer lp.Release()
	assert.Equal(t, "lpips-vgg16 (v0.1)", lp.Name())
	total, trainable = nn.ParamCount(lp)
	assert.Equal(t, 14714688+1472, total)
	assert.Zero(t, trainable, "frozen")

	if os.Getenv("TESSERA_FULL_SIZE") == "" {
		t.Log("set TESSERA_FULL_SIZE=1 to run the full-size networks too")
		return
	}
	e := tp.Engine()
	tp.NoGrad(func() {
		x := constant(tp, randImages(rng, 2, 3, 64, 48), 2, 3, 64, 48)
		f, err := inc.Features(x)
		require.NoError(t, err)
		require.Equal(t, []int{2, InceptionDim}, f.Shape())
		vals := read(t, f)
		for i, v := range vals {
			require.False(t, math.IsNaN(float64(v)) || math.IsInf(float64(v), 0), "feature %d is %g", i, v)
		}
		y := constant(tp, randImages(rng, 2, 3, 64, 48), 2, 3, 64, 48)
		d, err := lp.Distances(x, y)
		require.NoError(t, err)
		for _, v := range read(t, d) {
			require.Greater(t, v, float32(0))
		}
	})
	require.NoError(t, e.Err())
}
