// Package torchfile reads PyTorch checkpoints (files written by torch.save)
// in pure Go, with no Python at run time.
//
// Both of torch.save's formats load:
//
//   - the zip format (torch >= 1.6, the default since): a zip archive whose
//     records are <name>/data.pkl (the pickled object), <name>/data/<key>
//     (one raw record per storage), <name>/version and, in newer releases,
//     <name>/byteorder;
//   - the legacy format (torch.save(..., _use_new_zipfile_serialization=False)
//     and releases before 1.6): a magic-number pickle, a protocol-version
//     pickle, a system-info pickle, the object's pickle, a pickle listing the
//     storage keys, then each storage as an 8-byte element count followed by
//     its raw little-endian bytes.
//
// The pickled object is expected to be a state dict or a dict holding one
// (or several), as in {"model": state_dict, "epoch": 3}. Read flattens it:
// nested dicts become dotted names ("model.encoder.conv_in.weight"; integer
// keys are written in decimal), tensors are returned, and every other value
// (numbers, strings, None, lists and tuples, including any tensors inside
// lists or tuples) is skipped. StateDict then removes a "model.",
// "state_dict." or "module." wrapper shared by every name.
//
// Storages of dtype float32, float16, bfloat16, float64, int64, int32,
// int16, int8, uint8 and bool are supported. Every returned tensor is
// contiguous, row-major and little-endian, whatever the view the file
// describes: storage offsets, non-contiguous strides (a transposed or sliced
// tensor), zero strides (a broadcast tensor) and storages shared by several
// tensors are all resolved by copying, and no two returned tensors share
// Data.
//
// # Safety
//
// Pickles are a program for a stack machine that can call any Python
// function; torch.load runs them. This package never runs anything: it uses
// the unpickler of github.com/nlpodyssey/gopickle, which builds Go values
// only, and before unpickling it walks every opcode of the pickle to check
// it. Only these globals may be referenced, and any other makes Read fail
// with a *GlobalError naming it:
//
//	collections.OrderedDict
//	torch._utils._rebuild_tensor, torch._utils._rebuild_tensor_v2
//	torch._utils._rebuild_parameter, torch._utils._rebuild_parameter_with_state
//	torch.Size
//	torch.FloatStorage, torch.HalfStorage, torch.BFloat16Storage,
//	torch.DoubleStorage, torch.LongStorage, torch.IntStorage,
//	torch.ShortStorage, torch.CharStorage, torch.ByteStorage,
//	torch.BoolStorage
//
// This is close to torch.load(weights_only=True), so checkpoints that pickle
// other objects (an argparse.Namespace of training arguments, NumPy scalars,
// whole nn.Module objects) are refused rather than partly read.
//
// Corrupt, truncated or hostile files make Read return an error (a
// *FormatError for problems with the contents, naming the tensor where one
// is concerned), never panic. Lengths in the file are checked against the
// file's size before anything is allocated for them, and the tensors
// returned may total at most 8 times the bytes of the storages they view
// plus 64 MiB, so a small file cannot ask for unbounded memory by
// broadcasting or by naming one storage many times.
package torchfile
