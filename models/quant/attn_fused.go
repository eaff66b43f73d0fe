package quant

import "github.com/tessera-ml/tessera/autograd"

// attnFused assigns with autograd.AttnAssign: the forward keeps per-token
// statistics only and the backward recomputes the logits tile by tile, so
// no N×V tensor is ever allocated. The result's Idx is freed with the
// Output (the VJPs read it until Backward has run).
func (a *assigner) attnFused(qv *autograd.Var, scale float32) (level, *autograd.Var) {
	cfg := a.q.cfg
	temp := cfg.EntropyTemp
	if !cfg.Entropy || !(temp > 0) {
		temp = DefaultEntropyTemp // unused without the entropy loss, but must be valid
	}
	r := autograd.AttnAssign(qv, a.k, a.v, autograd.AttnAssignOptions{Scale: scale, Temp: temp, Entropy: cfg.Entropy})
	return level{idx: r.Idx, zq: r.ZqST, entropy: r.Entropy}, r.ZqHard
}
