package bench

import (
	"fmt"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/models/quant"
	"github.com/tessera-ml/tessera/tensor"
	"github.com/tessera-ml/tessera/vk"
)

// quantCases are CODA quantizer training steps. The large one is the FLUX
// setting's finest level: V = 65536 codes, C = 16, d = 32, one 32×32 level,
// batch 8, so N = 8192 tokens; the materialising formulation would need
// N×V×4 bytes = 2 GiB for each of its logits-sized tensors (it keeps about
// fifteen), the fused one none. The small pair compares the fused step
// with the materialising one at V = 4096, N = 2048 (N×V×4 = 32 MiB).
// Result.PeakBytes reports each step's peak device memory, parameters and
// their gradients included.
func quantCases() []Case {
	big := quantStepCase(65536, 16, 32, 8, true)
	big.Heavy = true // about 90 s a step on Lavapipe
	return []Case{
		big,
		quantStepCase(4096, 16, 16, 8, true),
		quantStepCase(4096, 16, 16, 8, false),
	}
}

// QuantLogitsBytes is N×V×4, the size of one materialised logits tensor of
// a quantizer step over n tokens and v codes: what the fused step avoids.
func QuantLogitsBytes(n, v int) uint64 { return uint64(n) * uint64(v) * 4 }

// quantStepCase is one forward and backward pass of an attention quantizer
// (CODA's defaults: RMSNorm, entropy loss) with one level at side×side,
// on the loss sum(ẑ ⊙ G) + L_vq + 0.05·L_ent; fused selects the tiled
// assignment over the materialising one ("-materialised" shapes).
func quantStepCase(codes, channels, side, batch int, fused bool) Case {
	shape := fmt.Sprintf("V%d-%dx%d-b%d", codes, side, side, batch)
	if !fused {
		shape += "-materialised"
	}
	n := batch * side * side
	note := fmt.Sprintf("the materialising step holds N×V×4 = %s per logits-sized tensor", vk.FormatBytes(QuantLogitsBytes(n, codes)))
	if !fused {
		note = fmt.Sprintf("materialises N×V logits (%s each)", vk.FormatBytes(QuantLogitsBytes(n, codes)))
	}
	return Case{
		Op:    "quant-step",
		Shape: shape,
		Note:  note,
		Items: float64(batch),
		Prepare: func(e *tensor.Engine) (func() *tensor.Tensor, func()) {
			tp := autograd.NewTape(e)
			cfg := quant.DefaultConfig(codes, channels, []int{side})
			cfg.Fused = fused
			q, err := quant.New(nn.NewBuilder(tp, 1), cfg)
			if err != nil {
				panic(err) // the configs above are valid
			}
			z := tp.Const(e.Normal(1, 0, 1, batch, channels, side, side))
			g := tp.Const(e.Normal(2, 0, 1, batch, channels, side, side))
			return func() *tensor.Tensor {
				out, err := q.Forward(z)
				if err != nil {
					// The shapes are valid, so this is a failed computation
					// (out of memory): its error sticks on the engine and
					// once's Sync reports it.
					return z.Value
				}
				defer out.Release()
				loss := autograd.Add(autograd.Add(autograd.SumAll(autograd.Mul(out.Zq, g)), out.Loss),
					autograd.MulScalar(out.Entropy, 0.05))
				if err := autograd.Backward(loss); err != nil {
					return loss.Value
				}
				for _, p := range q.Params() {
					p.Var.ZeroGrad()
				}
				return loss.Value
			}, func() { nn.Release(q) }
		},
	}
}
