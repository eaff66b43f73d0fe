// Package optim holds Tessera's optimisers (AdamW, SGD), learning-rate
// schedules, global-norm gradient clipping and an exponential moving
// average of parameters.
//
// Parameters are *autograd.Var with persistent Value and Grad tensors. A
// step updates each Value in place with one fused kernel per parameter
// (tensor.AdamWStep, tensor.SGDStep) and allocates nothing once the state
// exists: the moments are made lazily on the first step as persistent
// tensors, named for checkpoints as PyTorch names them ("<param>.exp_avg",
// "<param>.exp_avg_sq", "<param>.momentum_buffer"), and freed by Release.
// Parameters that do not require a gradient, or have none, are skipped.
//
// A training step:
//
//	Cosine(5e-4, 0, total, 0).Apply(opt) // LR for the coming step
//	loss := model(batch)
//	autograd.Backward(loss)
//	ClipGradNorm(params, 10)
//	opt.Step()
//	opt.ZeroGrad()
//	ema.Update(opt.StepCount())
//
// Gradient accumulation: Backward adds into Var.Grad until ZeroGrad, so k
// micro-batches of a loss that averages over its batch leave k times the
// big-batch gradient (sum of the k micro-batch means). Setting the
// optimiser's GradScale to 1/k before Step makes the step the big-batch
// step (the kernels scale the gradient as they read it, so no extra pass):
//
//	opt.GradScale = 1.0 / k
//	for i := 0; i < k; i++ {
//		autograd.Backward(lossOf(micro[i]))
//	}
//	opt.Step()
//	opt.ZeroGrad()
//
// Clip after accumulating, with the maximum norm multiplied by k (the
// gradients are still k times too large when ClipGradNorm sees them), or
// fold 1/k into the loss instead of GradScale.
package optim
