// Package quant is CODA's tokenizer quantizer (coda-method.md §2): a
// multi-scale residual quantizer whose levels share one codebook, with
// either CODA's attention assignment (a query/key/value attention over the
// whole codebook, straight-through over the softmax, plus the MAGVIT/IBQ
// entropy loss) or plain nearest-neighbour assignment (VQGAN's
// straight-through estimator), at a single full-resolution level ("vq") or
// over several spatial scales ("residual").
//
// Parameter names are the CODA release's (CODAQuantizer's state dict):
// codebooks.weight, attn.to_q.weight, attn.to_q.bias, attn.to_k.*,
// attn.to_v.*, attn.norm_q.weight, attn.norm_k.weight (plus .bias for the
// LayerNorm variant), so release checkpoints load by name.
//
// Neither assignment stores the N×V logits in its default (fused) form:
// nearest-neighbour search runs as a maximum inner product in
// tensor.AttnAssignForward's tiles over the codebook, and the attention
// goes through autograd.AttnAssign, whose backward recomputes the logits
// tile by tile. The materialising formulation, as the release computes it,
// stays behind Config.Fused = false as the reference the tests and
// benchmarks compare against.
package quant
