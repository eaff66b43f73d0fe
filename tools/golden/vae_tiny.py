#!/usr/bin/env python3
"""Writes models/vae/testdata/vae_tiny.safetensors: a tiny latent-diffusion KL
autoencoder's weights, an input batch, and what PyTorch computes from them
(posterior mean and log-variance, the decoded mean, the KL term, a loss and
the gradients of the smaller parameters).

The model classes below follow LDM's `Encoder`/`Decoder`
(ldm/modules/diffusionmodules/model.py), which FLUX's `ae.py` and MAR's
`vae.py` copy, with the same module names, so the Go package
(models/vae) loads this file by parameter name exactly as it would load a
real FLUX or MAR checkpoint. The decoder takes its own list of attention
resolutions because MAR's `AutoencoderKL` builds its decoder with none
(`Decoder(attn_resolutions=())`) while its encoder attends at 16.

Weights are rounded to float16 and stored as F16 to keep the fixture small
(the smallest LDM block is 32 channels wide: GroupNorm uses 32 groups);
PyTorch computes in float64 from exactly those values, inputs and outputs
are F32/F64-exact. The script also writes models/vae/testdata/presets.json:
the parameter counts, names and shapes of the FLUX and MAR KL-16
autoencoders at full size (the Go test builds both and compares).

Regenerate with Debian's python3-torch (no safetensors package needed):

    /usr/bin/python3 tools/golden/vae_tiny.py
"""
import json
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(20260311)
torch.set_default_dtype(torch.float64)


def Normalize(c):
    return nn.GroupNorm(num_groups=32, num_channels=c, eps=1e-6, affine=True)


def nonlinearity(x):
    return x * torch.sigmoid(x)


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, kernel_size=3, stride=1, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Downsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        # no asymmetric padding in torch conv, must do it ourselves
        self.conv = nn.Conv2d(c, c, kernel_size=3, stride=2, padding=0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1), mode="constant", value=0))


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.in_channels, self.out_channels = cin, cout
        self.norm1 = Normalize(cin)
        self.conv1 = nn.Conv2d(cin, cout, kernel_size=3, stride=1, padding=1)
        self.norm2 = Normalize(cout)
        self.dropout = nn.Dropout(0.0)
        self.conv2 = nn.Conv2d(cout, cout, kernel_size=3, stride=1, padding=1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, kernel_size=1, stride=1, padding=0)

    def forward(self, x):
        h = self.conv1(nonlinearity(self.norm1(x)))
        h = self.conv2(self.dropout(nonlinearity(self.norm2(h))))
        if self.in_channels != self.out_channels:
            x = self.nin_shortcut(x)
        return x + h


class AttnBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = Normalize(c)
        self.q = nn.Conv2d(c, c, kernel_size=1, stride=1, padding=0)
        self.k = nn.Conv2d(c, c, kernel_size=1, stride=1, padding=0)
        self.v = nn.Conv2d(c, c, kernel_size=1, stride=1, padding=0)
        self.proj_out = nn.Conv2d(c, c, kernel_size=1, stride=1, padding=0)

    def forward(self, x):
        h_ = self.norm(x)
        q, k, v = self.q(h_), self.k(h_), self.v(h_)
        b, c, h, w = q.shape
        q = q.reshape(b, c, h * w).permute(0, 2, 1)  # b,hw,c
        k = k.reshape(b, c, h * w)  # b,c,hw
        w_ = torch.bmm(q, k) * (int(c) ** (-0.5))  # b,hw,hw
        w_ = F.softmax(w_, dim=2)
        v = v.reshape(b, c, h * w)
        h_ = torch.bmm(v, w_.permute(0, 2, 1)).reshape(b, c, h, w)
        return x + self.proj_out(h_)


class Encoder(nn.Module):
    def __init__(self, *, ch, ch_mult, num_res_blocks, attn_resolutions, in_channels,
                 resolution, z_channels, double_z=True, mid_attn=True):
        super().__init__()
        self.num_resolutions = len(ch_mult)
        self.num_res_blocks = num_res_blocks
        self.conv_in = nn.Conv2d(in_channels, ch, kernel_size=3, stride=1, padding=1)
        curr_res = resolution
        in_ch_mult = (1,) + tuple(ch_mult)
        self.down = nn.ModuleList()
        for i_level in range(self.num_resolutions):
            block, attn = nn.ModuleList(), nn.ModuleList()
            block_in = ch * in_ch_mult[i_level]
            block_out = ch * ch_mult[i_level]
            for _ in range(num_res_blocks):
                block.append(ResnetBlock(block_in, block_out))
                block_in = block_out
                if curr_res in attn_resolutions:
                    attn.append(AttnBlock(block_in))
            down = nn.Module()
            down.block, down.attn = block, attn
            if i_level != self.num_resolutions - 1:
                down.downsample = Downsample(block_in)
                curr_res = curr_res // 2
            self.down.append(down)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(block_in, block_in)
        if mid_attn:
            self.mid.attn_1 = AttnBlock(block_in)
        self.mid.block_2 = ResnetBlock(block_in, block_in)
        self.norm_out = Normalize(block_in)
        self.conv_out = nn.Conv2d(block_in, 2 * z_channels if double_z else z_channels,
                                  kernel_size=3, stride=1, padding=1)

    def forward(self, x):
        hs = [self.conv_in(x)]
        for i_level in range(self.num_resolutions):
            for i_block in range(self.num_res_blocks):
                h = self.down[i_level].block[i_block](hs[-1])
                if len(self.down[i_level].attn) > 0:
                    h = self.down[i_level].attn[i_block](h)
                hs.append(h)
            if i_level != self.num_resolutions - 1:
                hs.append(self.down[i_level].downsample(hs[-1]))
        h = self.mid.block_1(hs[-1])
        if hasattr(self.mid, "attn_1"):
            h = self.mid.attn_1(h)
        h = self.mid.block_2(h)
        return self.conv_out(nonlinearity(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, *, ch, out_ch, ch_mult, num_res_blocks, attn_resolutions,
                 resolution, z_channels, mid_attn=True):
        super().__init__()
        self.num_resolutions = len(ch_mult)
        self.num_res_blocks = num_res_blocks
        block_in = ch * ch_mult[self.num_resolutions - 1]
        curr_res = resolution // 2 ** (self.num_resolutions - 1)
        self.conv_in = nn.Conv2d(z_channels, block_in, kernel_size=3, stride=1, padding=1)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(block_in, block_in)
        if mid_attn:
            self.mid.attn_1 = AttnBlock(block_in)
        self.mid.block_2 = ResnetBlock(block_in, block_in)
        self.up = nn.ModuleList()
        for i_level in reversed(range(self.num_resolutions)):
            block, attn = nn.ModuleList(), nn.ModuleList()
            block_out = ch * ch_mult[i_level]
            for _ in range(num_res_blocks + 1):
                block.append(ResnetBlock(block_in, block_out))
                block_in = block_out
                if curr_res in attn_resolutions:
                    attn.append(AttnBlock(block_in))
            up = nn.Module()
            up.block, up.attn = block, attn
            if i_level != 0:
                up.upsample = Upsample(block_in)
                curr_res = curr_res * 2
            self.up.insert(0, up)  # prepend to get consistent order
        self.norm_out = Normalize(block_in)
        self.conv_out = nn.Conv2d(block_in, out_ch, kernel_size=3, stride=1, padding=1)

    def forward(self, z):
        h = self.mid.block_1(self.conv_in(z))
        if hasattr(self.mid, "attn_1"):
            h = self.mid.attn_1(h)
        h = self.mid.block_2(h)
        for i_level in reversed(range(self.num_resolutions)):
            for i_block in range(self.num_res_blocks + 1):
                h = self.up[i_level].block[i_block](h)
                if len(self.up[i_level].attn) > 0:
                    h = self.up[i_level].attn[i_block](h)
            if i_level != 0:
                h = self.up[i_level].upsample(h)
        return self.conv_out(nonlinearity(self.norm_out(h)))


class AutoencoderKL(nn.Module):
    """LDM's AutoencoderKL (quant convs on) or FLUX's AutoEncoder (off)."""

    def __init__(self, *, resolution, in_channels, out_ch, ch, ch_mult, num_res_blocks,
                 attn_resolutions, decoder_attn_resolutions, z_channels, double_z,
                 quant_conv, mid_attn=True):
        super().__init__()
        self.encoder = Encoder(ch=ch, ch_mult=ch_mult, num_res_blocks=num_res_blocks,
                               attn_resolutions=attn_resolutions, in_channels=in_channels,
                               resolution=resolution, z_channels=z_channels,
                               double_z=double_z, mid_attn=mid_attn)
        self.decoder = Decoder(ch=ch, out_ch=out_ch, ch_mult=ch_mult,
                               num_res_blocks=num_res_blocks,
                               attn_resolutions=decoder_attn_resolutions,
                               resolution=resolution, z_channels=z_channels, mid_attn=mid_attn)
        m = 2 if double_z else 1
        if quant_conv:
            self.quant_conv = nn.Conv2d(m * z_channels, m * z_channels, 1)
            self.post_quant_conv = nn.Conv2d(z_channels, z_channels, 1)
        self.z = z_channels

    def encode(self, x):
        h = self.encoder(x)
        if hasattr(self, "quant_conv"):
            h = self.quant_conv(h)
        mean, logvar = torch.chunk(h, 2, dim=1)
        # ldm's DiagonalGaussianDistribution
        return mean, torch.clamp(logvar, -30.0, 20.0)

    def decode(self, z):
        if hasattr(self, "post_quant_conv"):
            z = self.post_quant_conv(z)
        return self.decoder(z)


def kl(mean, logvar):
    # DiagonalGaussianDistribution.kl(), averaged over the batch.
    per = 0.5 * torch.sum(mean ** 2 + torch.exp(logvar) - 1.0 - logvar, dim=[1, 2, 3])
    return per.mean()


def count(m):
    return sum(p.numel() for p in m.parameters())


# The full-size presets (weights stay in CPU memory, float32 to halve it):
# every state-dict name and shape, so the Go test can check that real FLUX
# and MAR checkpoints load by name. LDM's own kl-f16 (decoder attention at
# 16 too) is counted for reference.
def full_presets():
    torch.set_default_dtype(torch.float32)
    common = dict(resolution=256, in_channels=3, out_ch=3, ch=128, num_res_blocks=2,
                  z_channels=16, double_z=True)
    models = {
        "flux": AutoencoderKL(ch_mult=[1, 2, 4, 4], attn_resolutions=[],
                              decoder_attn_resolutions=[], quant_conv=False, **common),
        "mar-kl16": AutoencoderKL(ch_mult=[1, 1, 2, 2, 4], attn_resolutions=[16],
                                  decoder_attn_resolutions=[], quant_conv=True, **common),
    }
    out = {name: {"params": count(m),
                  "tensors": {k: list(v.shape) for k, v in m.state_dict().items()}}
           for name, m in models.items()}
    del models
    ldm = AutoencoderKL(ch_mult=[1, 1, 2, 2, 4], attn_resolutions=[16],
                        decoder_attn_resolutions=[16], quant_conv=True, **common)
    out["ldm-kl-f16"] = {"params": count(ldm)}
    del ldm
    torch.set_default_dtype(torch.float64)
    return out


def f16(t):
    # Round to float16: the fixture stores weights as F16 and Go computes
    # from exactly these values.
    return t.half().double()


def f32(t):
    return t.float().double()


# ch_mult [2, 1] rather than the usual increasing [1, 2]: half the weights
# (the fixture stays under 1 MB), and channel changes in both directions
# (nin_shortcut 32→64 and 64→32 in the encoder, 32→64 in the decoder).
# Attention at resolution 16: a level attention block in the encoder and in
# the decoder, besides both mid blocks.
TINY = dict(resolution=32, in_channels=3, out_ch=3, ch=32, ch_mult=[2, 1], num_res_blocks=1,
            attn_resolutions=[16], decoder_attn_resolutions=[16], z_channels=4, double_z=True,
            quant_conv=True)
KL_WEIGHT = 0.01
# Gradients are stored for the vectors (biases, norms) and the small convs
# at both ends: between them they see the whole backward pass.
GRAD_NAMES = ("encoder.conv_in.weight", "quant_conv.weight", "post_quant_conv.weight",
              "decoder.conv_out.weight")

model = AutoencoderKL(**TINY)
with torch.no_grad():
    for name, p in model.named_parameters():
        if ".norm" in name or name.endswith("norm_out.weight") or name.endswith("norm_out.bias"):
            # Not the identity init: a wrong gamma/beta must show.
            base = 1.0 if name.endswith("weight") else 0.0
            p.copy_(f16(base + 0.2 * torch.randn_like(p)))
        else:
            p.copy_(f16(p))  # PyTorch's default init, rounded
# Non-square input: a transposed H/W anywhere shows.
x = f32(torch.rand(2, 3, 32, 24) * 2 - 1)

mean, logvar = model.encode(x)
dec = model.decode(mean)
klv = kl(mean, logvar)
loss = torch.mean((dec - x) ** 2) + KL_WEIGHT * klv
loss.backward()

tensors = {}  # name -> (dtype, numpy array)
for name, p in model.named_parameters():
    tensors[name] = ("F16", p.detach().numpy().astype(np.float16))
tensors["golden.x"] = ("F32", x.numpy().astype(np.float32))
# Outputs as F32: Go computes in float32, so the rounding (~6e-8) is far
# below the test's tolerance.
tensors["golden.mean"] = ("F32", mean.detach().numpy())
tensors["golden.logvar"] = ("F32", logvar.detach().numpy())
tensors["golden.decoded"] = ("F32", dec.detach().numpy())
tensors["golden.kl"] = ("F64", klv.detach().numpy().reshape(()))
tensors["golden.loss"] = ("F64", loss.detach().numpy().reshape(()))
for name, p in model.named_parameters():
    if p.dim() == 1 or name in GRAD_NAMES:
        tensors["golden.grad." + name] = ("F32", p.grad.numpy())

meta = {
    "config": json.dumps(TINY),
    "kl_weight": repr(KL_WEIGHT),
    "tiny_params": str(count(model)),
}

header, blobs, off = {}, [], 0
for name, (dt, a) in tensors.items():
    raw = {"F16": a.astype("<f2"), "F32": a.astype("<f4"), "F64": a.astype("<f8")}[dt].tobytes()
    header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
    blobs.append(raw)
    off += len(raw)
header["__metadata__"] = meta
hb = json.dumps(header, separators=(",", ":")).encode()
hb += b" " * (-len(hb) % 8)  # data section 8-byte aligned, as the reference writer does

testdata = os.path.join(os.path.dirname(__file__), "..", "..", "models", "vae", "testdata")
os.makedirs(testdata, exist_ok=True)
path = os.path.join(testdata, "vae_tiny.safetensors")
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(hb)))
    f.write(hb)
    for b in blobs:
        f.write(b)
print("wrote", os.path.normpath(path), os.path.getsize(path), "bytes")
print("tiny parameters:", count(model))

presets = full_presets()
ppath = os.path.join(testdata, "presets.json")
with open(ppath, "w") as f:
    json.dump(presets, f, indent=0, sort_keys=True)
print("wrote", os.path.normpath(ppath), os.path.getsize(ppath), "bytes")
print("full-size parameter counts:", {k: v["params"] for k, v in presets.items()})
