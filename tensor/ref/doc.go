// Package ref holds float64 CPU reference implementations ("twins") of the
// tensor operations that tessera runs on the GPU.
//
// Every GPU kernel is checked against the matching function here. The code
// favours clarity over speed: tensors are dense row-major float64 slices and
// every operation returns a freshly allocated result, never aliasing its
// inputs. Semantics follow PyTorch (broadcasting, reduction axes, argmax tie
// breaking, interpolation modes); the testdata fixture torch_ops.json pins
// them against PyTorch itself (see tools/golden/ref_ops.py).
//
// Invalid arguments (mismatched shapes, out-of-range axes or indices) are
// programming errors in a test or launcher and cause a panic with a message
// that starts with "ref:".
package ref
