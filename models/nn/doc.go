// Package nn holds Tessera's layers: modules with named parameters in
// PyTorch's dotted form (encoder.down.0.block.1.conv2.weight), PyTorch's
// default initialisations, freezing, train/eval mode and state dicts that
// load real checkpoints by name.
//
// A layer is a struct of *autograd.Var parameters and child layers; its
// Params method lists them with names relative to the layer, and the
// composite layers prefix their children's names. Forward passes are plain
// methods that call autograd ops.
package nn
