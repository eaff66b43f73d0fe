// Package tensor is Tessera's GPU tensor library: float32 and int32 tensors
// in device memory, and every op as a plain function that records its
// kernel on the device's stream and returns at once.
//
// An Engine wraps one vk.Device with the state the tensor layer keeps for
// it: a stack of scopes. Every tensor an op creates belongs to the innermost
// open scope; closing the scope releases them together (Keep moves a tensor
// out to the enclosing scope). A training step is one scope.
//
// Errors are sticky, like bufio.Scanner's: an op that cannot run (shapes that
// do not fit, device memory exhausted) records the first error on the
// engine and returns a tensor marked failed; ops on failed tensors do
// nothing. Engine.Err, Tensor.Float32 and friends return the error, so model
// code checks once per step instead of after every op. Passing a nil tensor,
// or tensors of two engines, is a programmer error and panics.
//
// Every op has a float64 twin in tensor/ref; the tests compare the two on
// random inputs with odd shapes.
package tensor
