// Package autograd is Tessera's define-by-run reverse-mode differentiation
// over tensor ops.
//
// A Var holds a tensor value and, when it requires one, a gradient. Every
// differentiable op has a form here that computes its value with the tensor
// package and, unless gradients are off, records a node holding its inputs
// and a vector–Jacobian product. Backward(loss) walks the nodes reachable
// from loss in reverse topological order; each VJP runs on the GPU, and its
// results are accumulated into the inputs' gradients (a Var used twice gets
// the sum). Intermediate gradients and the tensors a node saved for its VJP
// are released as soon as the walk no longer needs them.
//
// The graph is implicit in the nodes, as in micrograd and PyTorch; the Tape
// only carries what must be shared by a run's Vars: the engine and whether
// gradients are being recorded (NoGrad).
//
// Leaf gradients (parameters) persist across scopes and accumulate until
// ZeroGrad; everything else lives in the tensor scope that was open when it
// was made.
package autograd
