#!/usr/bin/env python3
"""Writes models/vae/testdata/tiny_kl.ckpt: a PyTorch checkpoint shaped like
MAR's kl16.ckpt ({"model": state_dict, ...}) for a tiny LDM-named KL
autoencoder, whose values the Go test (models/vae/load_test.go,
TestLoadWeightsTorchCheckpoint) recreates from a formula.

The model is MAR-like at reduced width: resolution 32, ch 32, ch_mult [1, 2],
one ResnetBlock per level, attention in the encoder's 16x16 level and in
both mid blocks, no decoder level attention, z 4, double_z, quant convs.
Only the module names and shapes matter here (the classes below have no
forward); they follow LDM's Encoder/Decoder as tools/golden/vae_tiny.py does.

Values: with k the index of the tensor's name in the sorted list of the
model's state-dict names,

    g(j)   = ((31*j) mod 257 - 128) / 256     (exact in every float dtype)
    w_k[i] = g(o_k + i),  o_k = (131*k) mod 1024

Tensor k is stored as DTYPES[k % 4] (float32, float16, bfloat16, float64),
except that tensors of more than 4096 elements use float16 for float32 and
bfloat16 for float64, so the file stays small. Every tensor is a view into
one shared storage per dtype (torch.save writes each storage once), which
also exercises storage offsets. The checkpoint also holds "loss.logvar" (as
an LDM training checkpoint does; the Go loader drops "loss.*") and a
non-tensor "epoch".

Regenerate with Debian's python3-torch (torch 1.13, CPU), not the pyenv
python3:

    /usr/bin/python3 tools/golden/vae_ckpt_fixture.py
"""
import collections
import os

import torch
import torch.nn as nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "vae", "testdata",
                   "tiny_kl.ckpt")

DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64]
BIG = 4096
SPREAD = 1024


def norm(c):
    return nn.GroupNorm(32, c, eps=1e-6)


class Resnet(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1 = norm(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1)


class Attn(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = norm(c)
        self.q = nn.Conv2d(c, c, 1)
        self.k = nn.Conv2d(c, c, 1)
        self.v = nn.Conv2d(c, c, 1)
        self.proj_out = nn.Conv2d(c, c, 1)


def mid(c):
    m = nn.Module()
    m.block_1 = Resnet(c, c)
    m.attn_1 = Attn(c)
    m.block_2 = Resnet(c, c)
    return m


class Encoder(nn.Module):
    def __init__(self, ch, ch_mult, nres, attn_res, res, z):
        super().__init__()
        self.conv_in = nn.Conv2d(3, ch, 3, padding=1)
        self.down = nn.ModuleList()
        cin = ch
        for i, m in enumerate(ch_mult):
            lvl = nn.Module()
            lvl.block, lvl.attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(nres):
                lvl.block.append(Resnet(cin, ch * m))
                cin = ch * m
                if res in attn_res:
                    lvl.attn.append(Attn(cin))
            if i != len(ch_mult) - 1:
                lvl.downsample = nn.Module()
                lvl.downsample.conv = nn.Conv2d(cin, cin, 3, stride=2)
                res //= 2
            self.down.append(lvl)
        self.mid = mid(cin)
        self.norm_out = norm(cin)
        self.conv_out = nn.Conv2d(cin, 2 * z, 3, padding=1)


class Decoder(nn.Module):
    def __init__(self, ch, ch_mult, nres, z):
        super().__init__()
        cin = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z, cin, 3, padding=1)
        self.mid = mid(cin)
        self.up = nn.ModuleList()
        for i in reversed(range(len(ch_mult))):
            lvl = nn.Module()
            lvl.block, lvl.attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(nres + 1):
                lvl.block.append(Resnet(cin, ch * ch_mult[i]))
                cin = ch * ch_mult[i]
            if i != 0:
                lvl.upsample = nn.Module()
                lvl.upsample.conv = nn.Conv2d(cin, cin, 3, padding=1)
            self.up.insert(0, lvl)
        self.norm_out = norm(cin)
        self.conv_out = nn.Conv2d(cin, 3, 3, padding=1)


class AutoencoderKL(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder(32, [1, 2], 1, [16], 32, 4)
        self.decoder = Decoder(32, [1, 2], 1, 4)
        self.quant_conv = nn.Conv2d(8, 8, 1)
        self.post_quant_conv = nn.Conv2d(4, 4, 1)


def g(n, dtype):
    j = torch.arange(n, dtype=torch.int64)
    return ((j * 31 % 257 - 128).to(torch.float64) / 256).to(dtype)


def main():
    shapes = {k: v.shape for k, v in AutoencoderKL().state_dict().items()}
    names = sorted(shapes)
    length = max(s.numel() for s in shapes.values()) + SPREAD
    bases = {dt: g(length, dt) for dt in DTYPES}
    small = BIG + SPREAD
    bases[torch.float32] = bases[torch.float32][:small].clone()
    bases[torch.float64] = bases[torch.float64][:small].clone()
    sd = collections.OrderedDict()
    for k, name in enumerate(names):
        shape = shapes[name]
        n = shape.numel()
        dt = DTYPES[k % 4]
        if n > BIG:
            dt = {torch.float32: torch.float16, torch.float64: torch.bfloat16}.get(dt, dt)
        o = 131 * k % SPREAD
        sd[name] = bases[dt][o:o + n].view(shape)
    sd["loss.logvar"] = torch.zeros(())
    torch.save({"model": sd, "epoch": 3}, OUT)
    print("wrote", os.path.normpath(OUT), os.path.getsize(OUT), "bytes,", len(names), "tensors")


if __name__ == "__main__":
    main()
