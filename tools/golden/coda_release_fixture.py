#!/usr/bin/env python3
"""Writes models/coda/testdata/release_vae.pth and release_quantizer.pth:
files in the layout of the official CODA release (vae.pth, quantizer.pth)
at reduced size, for `tessera tokenizer import` (models/coda/import_test.go).

The VAE is the tiny MAR-like LDM autoencoder of vae_ckpt_fixture.py
(resolution 32, ch 32, ch_mult [1, 2], z 4, quant convs). As the release
does for MAR, every conv whose name contains conv1, conv2, upsample or
downsample, in encoder and decoder, is wrapped in a LoRA adapter of rank
R: the base keeps <path>.weight and <path>.bias and gains
<path>.lora_layer.down.weight [R, c_in, k, k] (same geometry, no bias) and
<path>.lora_layer.up.weight [c_out, R, 1, 1]. The quantizer holds
codebooks.weight [V, C], attn.to_q/to_k (C -> D, bias), attn.to_v (C -> C,
bias) and the RMSNorm gains attn.norm_q/norm_k.weight [D].

All values are seeded random normals scaled by 0.05 (up weights non-zero,
as after training); the VAE's tensors are stored as float16 to keep the
file small (the release's are float32; the layout is what matters). The Go test compares every imported tensor
with the file through the torch reader, so the values need no formula.

    /usr/bin/python3 tools/golden/coda_release_fixture.py
"""
import collections
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vae_ckpt_fixture import AutoencoderKL  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "coda", "testdata")
R, V, C, D = 4, 48, 4, 8


def adapted(name):
    parts = name.split(".")
    return parts[0] in ("encoder", "decoder") and any(p in ("conv1", "conv2", "upsample", "downsample") for p in parts)


def main():
    torch.manual_seed(7)
    model = AutoencoderKL()
    sd = collections.OrderedDict()
    convs = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)}
    for name, t in model.state_dict().items():
        sd[name] = torch.randn(t.shape) * 0.05
    for name, conv in sorted(convs.items()):
        if not adapted(name):
            continue
        k = conv.kernel_size
        sd[name + ".lora_layer.down.weight"] = torch.randn(R, conv.in_channels, *k) * 0.05
        sd[name + ".lora_layer.up.weight"] = torch.randn(conv.out_channels, R, 1, 1) * 0.05
    q = collections.OrderedDict()
    q["codebooks.weight"] = torch.randn(V, C)
    q["attn.to_q.weight"] = torch.randn(D, C) * 0.3
    q["attn.to_q.bias"] = torch.randn(D) * 0.05
    q["attn.to_k.weight"] = torch.randn(D, C) * 0.3
    q["attn.to_k.bias"] = torch.randn(D) * 0.05
    q["attn.to_v.weight"] = torch.randn(C, C) * 0.3
    q["attn.to_v.bias"] = torch.randn(C) * 0.05
    q["attn.norm_q.weight"] = 1 + 0.1 * torch.randn(D)
    q["attn.norm_k.weight"] = 1 + 0.1 * torch.randn(D)
    os.makedirs(OUT, exist_ok=True)
    sd = collections.OrderedDict((k, v.half()) for k, v in sd.items())
    torch.save(sd, os.path.join(OUT, "release_vae.pth"))
    torch.save(q, os.path.join(OUT, "release_quantizer.pth"))
    n = sum(1 for k in sd if k.endswith("lora_layer.down.weight"))
    print("wrote", os.path.normpath(OUT), len(sd), "VAE tensors,", n, "adapters,", len(q), "quantizer tensors")


if __name__ == "__main__":
    main()
