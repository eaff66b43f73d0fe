package bench

import (
	"fmt"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/models/classify"
	"github.com/tessera-ml/tessera/models/nn"
	"github.com/tessera-ml/tessera/models/optim"
	"github.com/tessera-ml/tessera/models/vae"
	"github.com/tessera-ml/tessera/tensor"
)

// Cases returns every benchmark case, in the order they are printed.
func Cases() []Case {
	var cs []Case
	// Matmul shapes are named MxNxK: a [M, K] times b [K, N].
	for _, s := range [][3]int{{256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024}, {2048, 2048, 2048}, {4096, 768, 768}, {4096, 3072, 768}} {
		cs = append(cs, matmulCase(s[0], s[1], s[2]))
	}
	cs = append(cs,
		conv2dCase(8, 128, 64, 64, 128, 3),
		conv2dCase(8, 256, 32, 32, 256, 3),
		groupNormCase(8, 128, 64, 64, 32),
		softmaxCase(4096, 4096),
		copyCase(16<<20),
		trainConvNetCase(64),
		vaeTrainCase(32),
		vaeForwardCase("flux", 256),
	)
	cs = append(cs, quantCases()...)
	return cs
}

func matmulCase(m, n, k int) Case {
	return Case{
		Op:    "matmul",
		Shape: fmt.Sprintf("%dx%dx%d", m, n, k),
		Flops: tensor.MatmulFlops(m, n, k, 1),
		Bytes: 4 * float64(m*k+k*n+m*n),
		Prepare: func(e *tensor.Engine) (func() *tensor.Tensor, func()) {
			a := e.Uniform(1, -1, 1, m, k)
			b := e.Uniform(2, -1, 1, k, n)
			return func() *tensor.Tensor { return tensor.Matmul(a, b, false, false) }, nil
		},
	}
}

func conv2dCase(n, cin, h, w, cout, k int) Case {
	p := tensor.ConvParams{PadH: k / 2, PadW: k / 2}
	return Case{
		Op:    "conv2d",
		Shape: fmt.Sprintf("%dx%dx%dx%d-%d-k%d", n, cin, h, w, cout, k),
		Flops: tensor.Conv2dFlops(n, cin, h, w, cout, k, k, p),
		Prepare: func(e *tensor.Engine) (func() *tensor.Tensor, func()) {
			x := e.Uniform(1, -1, 1, n, cin, h, w)
			wt := e.Uniform(2, -0.1, 0.1, cout, cin, k, k)
			bias := e.Uniform(3, -0.1, 0.1, cout)
			return func() *tensor.Tensor { return tensor.Conv2d(x, wt, bias, p) }, nil
		},
	}
}

func groupNormCase(n, c, h, w, groups int) Case {
	return Case{
		Op:    "groupnorm",
		Shape: fmt.Sprintf("%dx%dx%dx%d-g%d", n, c, h, w, groups),
		Bytes: tensor.GroupNormBytes(n * c * h * w),
		Prepare: func(e *tensor.Engine) (func() *tensor.Tensor, func()) {
			x := e.Normal(1, 0, 1, n, c, h, w)
			gamma := e.Full(1, c)
			beta := e.Zeros(c)
			return func() *tensor.Tensor { return tensor.GroupNorm(x, groups, gamma, beta, 1e-6) }, nil
		},
	}
}

func softmaxCase(rows, cols int) Case {
	return Case{
		Op:    "softmax",
		Shape: fmt.Sprintf("%dx%d", rows, cols),
		Bytes: tensor.SoftmaxBytes(rows, cols),
		Prepare: func(e *tensor.Engine) (func() *tensor.Tensor, func()) {
			x := e.Normal(1, 0, 1, rows, cols)
			return func() *tensor.Tensor { return tensor.Softmax(x, -1) }, nil
		},
	}
}

func copyCase(floats int) Case {
	return Case{
		Op:    "copy",
		Shape: fmt.Sprintf("%d", floats),
		Bytes: 2 * 4 * float64(floats),
		Prepare: func(e *tensor.Engine) (func() *tensor.Tensor, func()) {
			x := e.Full(1, floats)
			return func() *tensor.Tensor { return tensor.Clone(x) }, nil
		},
	}
}

// trainConvNetCase is one training step of the Fashion-MNIST convnet:
// forward, cross-entropy, backward and an AdamW update.
func trainConvNetCase(batch int) Case {
	return Case{
		Op:    "train-convnet",
		Shape: fmt.Sprintf("%dx1x28x28", batch),
		Items: float64(batch),
		Prepare: func(e *tensor.Engine) (func() *tensor.Tensor, func()) {
			tp := autograd.NewTape(e)
			m := classify.New(nn.NewBuilder(tp, 1), classify.DefaultConfig())
			opt := optim.NewAdamW(nn.Trainable(m), optim.AdamWConfig{LR: 1e-3})
			x := tp.Const(e.Uniform(1, -1, 1, batch, 1, 28, 28))
			ids := make([]int32, batch)
			for i := range ids {
				ids[i] = int32(i % 10)
			}
			labels := e.FromInt32(ids, batch)
			release := func() {
				opt.Release()
				nn.Release(m)
			}
			return func() *tensor.Tensor {
				loss := nn.CrossEntropy(m.Forward(x), labels, 0)
				if err := autograd.Backward(loss); err != nil {
					return loss.Value
				}
				if err := opt.Step(); err != nil {
					return loss.Value
				}
				opt.ZeroGrad()
				return loss.Value
			}, release
		},
	}
}

// vaeTrainCase is one training step of the small-4x VAE on 28×28 RGB:
// encode, sample, decode, L1 + MSE + KL, backward and AdamW.
func vaeTrainCase(batch int) Case {
	return Case{
		Op:    "train-vae",
		Shape: fmt.Sprintf("small-4x-%dx3x28x28", batch),
		Items: float64(batch),
		Prepare: func(e *tensor.Engine) (func() *tensor.Tensor, func()) {
			tp := autograd.NewTape(e)
			cfg, _ := vae.Preset("small-4x")
			m := vae.New(nn.NewBuilder(tp, 1), cfg)
			opt := optim.NewAdamW(nn.Trainable(m), optim.AdamWConfig{LR: 1e-3})
			x := tp.Const(e.Uniform(1, -1, 1, batch, 3, 28, 28))
			step := uint64(0)
			return func() *tensor.Tensor {
					step++
					post := m.Encode(x)
					y := m.Decode(post.Sample(step))
					loss := autograd.Add(autograd.Add(nn.L1(y, x), nn.MSE(y, x)), autograd.MulScalar(post.KL(), 1e-6))
					if err := autograd.Backward(loss); err != nil {
						return loss.Value
					}
					if err := opt.Step(); err != nil {
						return loss.Value
					}
					opt.ZeroGrad()
					return loss.Value
				}, func() {
					opt.Release()
					nn.Release(m)
				}
		},
	}
}

// vaeForwardCase encodes and decodes one image with a preset's VAE and
// random weights (the flux preset: 84 M parameters).
func vaeForwardCase(preset string, size int) Case {
	return Case{
		Op:    "vae-forward",
		Shape: fmt.Sprintf("%s-1x3x%dx%d", preset, size, size),
		Items: 1,
		Prepare: func(e *tensor.Engine) (func() *tensor.Tensor, func()) {
			tp := autograd.NewTape(e)
			cfg, _ := vae.Preset(preset)
			m := vae.New(nn.NewBuilder(tp, 1), cfg)
			x := tp.Const(e.Uniform(1, -1, 1, 1, 3, size, size))
			return func() *tensor.Tensor {
				var y *autograd.Var
				tp.NoGrad(func() { y = m.Decode(m.Encode(x).Mode()) })
				return y.Value
			}, func() { nn.Release(m) }
		},
	}
}
