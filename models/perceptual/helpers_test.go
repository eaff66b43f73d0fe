package perceptual

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/internal/testdev"
)

// Fixtures written by testdata/golden.py.
const (
	inceptionFixture = "testdata/inception_w16.pth"
	vggFixture       = "testdata/vgg16_w16.pth"
	linFixture       = "testdata/lpips_lin_w16.pth"
	goldenFixture    = "testdata/golden.json"
)

// golden is golden.json: inputs and PyTorch's float64 outputs.
type golden struct {
	Inception struct {
		Div           int         `json:"div"`
		XShape        []int       `json:"x_shape"`
		X             []float32   `json:"x"`
		FeaturesShape []int       `json:"features_shape"`
		Features      []float64   `json:"features"`
		BlockMeans    [][]float64 `json:"block_means"`
		GreyShape     []int       `json:"grey_shape"`
		Grey          []float32   `json:"grey"`
		GreyFeatures  []float64   `json:"grey_features"`
	} `json:"inception"`
	LPIPS struct {
		Div          int       `json:"div"`
		Shape        []int     `json:"shape"`
		X0           []float32 `json:"x0"`
		X1           []float32 `json:"x1"`
		PerImage     []float64 `json:"per_image"`
		Loss         float64   `json:"loss"`
		GradX0       []float64 `json:"grad_x0"`
		GreyShape    []int     `json:"grey_shape"`
		Grey0        []float32 `json:"grey0"`
		Grey1        []float32 `json:"grey1"`
		GreyPerImage []float64 `json:"grey_per_image"`
		GreyGrad0    []float64 `json:"grey_grad0"`
	} `json:"lpips"`
}

func readGolden(t *testing.T) *golden {
	t.Helper()
	raw, err := os.ReadFile(goldenFixture)
	require.NoError(t, err, "regenerate with /usr/bin/python3 models/perceptual/testdata/golden.py")
	var g golden
	require.NoError(t, json.Unmarshal(raw, &g))
	return &g
}

// testTape opens the default device with one scope for the test and
// checks at cleanup for leaks and validation messages.
func testTape(t *testing.T) *autograd.Tape {
	return autograd.NewTape(testdev.Engine(t))
}

// read returns v's values, failing the test on a device error.
func read(t *testing.T, v *autograd.Var) []float32 {
	t.Helper()
	out, err := v.Value.Float32()
	require.NoError(t, err)
	return out
}

// constant uploads data as an input that needs no gradient.
func constant(tp *autograd.Tape, data []float32, shape ...int) *autograd.Var {
	return tp.Const(tp.Engine().FromFloat32(data, shape...))
}

// closeTo checks |got − want| ≤ rel·max|want| + abs elementwise: scaled
// by the tensor's own size, with an absolute floor for values that are
// zero in exact arithmetic.
func closeTo(got []float32, want []float64, rel, abs float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("got %d elements, want %d", len(got), len(want))
	}
	scale := 0.0
	for _, w := range want {
		scale = math.Max(scale, math.Abs(w))
	}
	bound := rel*scale + abs
	bad, first, worst := 0, -1, 0.0
	for i, g := range got {
		d := math.Abs(float64(g) - want[i])
		worst = math.Max(worst, d)
		if !(d <= bound) {
			if first < 0 {
				first = i
			}
			bad++
		}
	}
	if bad == 0 {
		return nil
	}
	return fmt.Errorf("element %d: got %g, want %g (bound %.3g, worst error %.3g); %d of %d elements out of tolerance",
		first, got[first], want[first], bound, worst, bad, len(got))
}

// maxRelErr is max|got − want| / max|want|, for logging how close a match
// is.
func maxRelErr(got []float32, want []float64) float64 {
	scale, worst := 0.0, 0.0
	for i, w := range want {
		scale = math.Max(scale, math.Abs(w))
		worst = math.Max(worst, math.Abs(float64(got[i])-w))
	}
	if scale == 0 {
		return worst
	}
	return worst / scale
}
