// Package safetensors reads and writes the safetensors tensor file format,
// as written by Hugging Face's safetensors library, in pure Go.
//
// A file is an 8-byte little-endian header length N, then N bytes of UTF-8
// JSON, then the data section. The JSON object maps each tensor name to
//
//	{"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
//
// where the offsets are byte offsets into the data section, and may hold one
// extra key, "__metadata__", mapping strings to strings. Tensor data is
// little-endian and row-major (C order).
//
// Read validates a file completely before returning it, so a corrupt or
// truncated file yields an error (a *FormatError for problems with the
// contents), never a panic, and Read never allocates more than the file's
// real size (plus the header, which is capped at 100 MB as in the reference
// library). It is a little more lenient than the reference library in one
// respect: tensors need not be packed back to back, so gaps between tensors
// and trailing bytes after the last one are accepted; overlapping tensors
// are rejected.
//
// Write lays files out the way the reference library does (see Write), so
// for the same tensors, and at most one metadata entry, its output is
// byte-identical to Python's safetensors.torch.save_file.
package safetensors
