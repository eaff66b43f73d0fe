#!/usr/bin/env python3
"""Writes models/quant/testdata/golden.json: CODA quantizers computed by
PyTorch in float64, for models/quant/golden_test.go.

Each case holds the parameters (by the CODA release's state-dict names),
the latent z, a fixed random G, and what the quantizer gives: per-level ids,
ẑ, L_vq, L_ent, and the gradients w.r.t. z and every parameter of
loss = sum(ẑ ⊙ G) + L_vq + 0.05·L_ent, and those of L_ent alone. The attention cases transcribe the
release's CODAQuantizer and Attention (LeapLabTHU/CODA, Apache-2.0); the
"nn" case is VQGAN's nearest-neighbour straight-through quantizer over the
same residual pyramid. Every value is rounded to float32 first, so the Go
side (float32) starts from exactly these numbers. Each case's seed is the
first whose assignments have no near-ties: the gap between the best and
the second-best code is at least MIN_MARGIN at every token of every level
(the ids are piecewise constant, so float32 rounding must not flip one).
Regenerate with Debian's python3-torch (1.13):

    /usr/bin/python3 models/quant/testdata/golden.py
"""
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

MIN_MARGIN = 2e-3
ENT_WEIGHT = 0.05


def f32(t):
    return t.float().double()


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return x * torch.rsqrt(var + self.eps) * self.weight


class Attention(nn.Module):
    def __init__(self, hidden_dim, norm_type, attn_dim):
        super().__init__()
        self.to_q = nn.Linear(hidden_dim, attn_dim)
        self.to_k = nn.Linear(hidden_dim, attn_dim)
        self.to_v = nn.Linear(hidden_dim, hidden_dim)
        if norm_type is None:
            self.norm_q = self.norm_k = None
        elif norm_type == "layer_norm":
            self.norm_q = nn.LayerNorm(attn_dim)
            self.norm_k = nn.LayerNorm(attn_dim)
        else:
            self.norm_q = RMSNorm(attn_dim, eps=1e-5)
            self.norm_k = RMSNorm(attn_dim, eps=1e-5)

    def forward(self, hidden_states, codebook):
        B, C, H, W = hidden_states.shape
        hs = hidden_states.permute(0, 2, 3, 1).reshape(B, H * W, -1)
        query = self.to_q(hs)
        key = self.to_k(codebook)
        value = self.to_v(codebook)
        scale = 1 / math.sqrt(query.size(-1))
        if self.norm_q is not None:
            query = self.norm_q(query)
            key = self.norm_k(key)
        query = query.permute(0, 2, 1).reshape(B, -1, H, W)
        logits = torch.einsum("bdhw,nd->bnhw", query, key) * scale
        soft = F.softmax(logits, dim=1)
        idx = soft.max(1, keepdim=True)[1]
        hard = torch.zeros_like(logits).scatter_(1, idx, 1.0)
        one_hot = hard - soft.detach() + soft
        z_q = torch.einsum("bnhw,nd->bdhw", one_hot, value)
        z_q_2 = torch.einsum("bnhw,nd->bdhw", hard, value)
        return logits, idx, z_q, z_q_2


def entropy_loss(logits, temperature, eps=1e-5):
    probs = F.softmax(logits / temperature, -1)
    log_probs = F.log_softmax(logits / temperature + eps, -1)
    avg_probs = probs.mean(0)
    avg_entropy = -torch.sum(avg_probs * torch.log(avg_probs + eps))
    sample_entropy = torch.mean(-torch.sum(probs * log_probs, -1))
    return sample_entropy - avg_entropy


def margin(scores):
    """Smallest gap between the best and second-best score of any row."""
    top = scores.topk(2, dim=-1).values
    return float((top[:, 0] - top[:, 1]).min())


class Quantizer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.codebooks = nn.Embedding(cfg["codes"], cfg["channels"])
        if cfg["assign"] == "attn":
            norm = {"rms": "rms_norm", "layer": "layer_norm", "none": None}[cfg["norm"]]
            self.attn = Attention(cfg["channels"], norm, cfg["dim"])

    def forward(self, z):
        cfg = self.cfg
        V = cfg["codes"]
        _, _, H, W = z.shape
        f_hat = torch.zeros_like(z)
        f_res = z.clone()
        ids, losses, ents, margins = [], [], [], []
        for p in cfg["scales"]:
            r = F.interpolate(f_res, size=(p, p), mode="area")
            if cfg["assign"] == "attn":
                logits, idx, z_q, z_q_2 = self.attn(r, self.codebooks.weight)
                flat = logits.permute(0, 2, 3, 1).reshape(-1, V)
                margins.append(margin(flat.detach()))
                ents.append(entropy_loss(flat, cfg["temp"]))
                losses.append(torch.mean((z_q - r) ** 2) + torch.mean((z_q_2.detach() - r) ** 2)
                              + cfg["beta"] * torch.mean((z_q_2 - r.detach()) ** 2))
                idx = idx[:, 0]
            else:
                B, C = r.shape[:2]
                tok = r.permute(0, 2, 3, 1).reshape(-1, C)
                e = self.codebooks.weight
                d = (tok ** 2).sum(1, keepdim=True) - 2 * tok @ e.t() + (e ** 2).sum(1)
                margins.append(margin(-d.detach()))
                flat_idx = d.argmin(1)
                code = e[flat_idx]
                losses.append(torch.mean((tok.detach() - code) ** 2)
                              + cfg["beta"] * torch.mean((tok - code.detach()) ** 2))
                q = tok + (code - tok).detach()
                z_q = q.reshape(B, p, p, C).permute(0, 3, 1, 2)
                idx = flat_idx.reshape(B, p, p)
            h = F.interpolate(z_q, size=(H, W), mode="bicubic")
            f_hat = f_hat + h
            f_res = f_res - h
            ids.append(idx)
        l_vq = torch.stack(losses).mean()
        l_ent = torch.stack(ents).mean() if ents else None
        return ids, f_hat, l_vq, l_ent, min(margins)


def enc(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1).tolist()]}


def make_case(cfg, batch, seed0):
    for seed in range(seed0, seed0 + 1000):
        torch.manual_seed(seed)
        m = Quantizer(cfg)
        with torch.no_grad():
            for name, p in m.named_parameters():
                if name.startswith("attn.norm"):
                    # Gains near 1 and small biases, so their gradients matter.
                    base = 1.0 if name.endswith("weight") else 0.0
                    p.copy_(base + 0.1 * torch.randn_like(p))
                p.copy_(f32(p))
        last = cfg["scales"][-1]
        z = f32(torch.randn(batch, cfg["channels"], last, last)).requires_grad_(True)
        g = f32(torch.randn(batch, cfg["channels"], last, last))
        ids, zq, l_vq, l_ent, mg = m(z)
        if mg < MIN_MARGIN:
            continue
        loss = (zq * g).sum() + l_vq
        if l_ent is not None:
            loss = loss + ENT_WEIGHT * l_ent
        named = [("z", z)] + list(m.named_parameters())
        grads_ent = None
        if l_ent is not None:
            # L_ent's own gradients: in the total they are small beside ẑ's.
            ge = torch.autograd.grad(l_ent, [p for _, p in named], retain_graph=True, allow_unused=True)
            grads_ent = {k: enc(g if g is not None else torch.zeros_like(p)) for (k, p), g in zip(named, ge)}
        loss.backward()
        grads = {k: enc(p.grad) for k, p in named}
        return {
            "config": cfg,
            "seed": seed,
            "margin": mg,
            "params": {k: enc(v) for k, v in m.state_dict().items()},
            "z": enc(z),
            "g": enc(g),
            "ids": [[int(v) for v in i.reshape(-1).tolist()] for i in ids],
            "zq": enc(zq),
            "loss_vq": float(l_vq),
            "loss_ent": None if l_ent is None else float(l_ent),
            "loss": float(loss),
            "grads": grads,
            "grads_ent": grads_ent,
        }
    raise SystemExit("no seed without near-ties for %s" % cfg)


def attn_cfg(**kw):
    cfg = {"assign": "attn", "norm": "rms", "beta": 0.05, "temp": 0.01}
    cfg.update(kw)
    return cfg


cases = {
    # The brief's case: MAR-like pyramid in miniature.
    "rms": make_case(attn_cfg(codes=64, channels=4, dim=8, scales=[1, 2, 4]), 2, 1),
    # Overlapping area windows (5 → 3) and a non-integer bicubic ratio.
    "layer": make_case(attn_cfg(codes=48, channels=3, dim=6, norm="layer", scales=[1, 3, 5]), 2, 100),
    "none": make_case(attn_cfg(codes=40, channels=5, dim=4, norm="none", scales=[2, 3]), 3, 200),
    # Nearest neighbour over the same kind of pyramid (VQGAN β).
    "nn": make_case({"assign": "nn", "codes": 32, "channels": 4, "beta": 0.25, "scales": [1, 2, 4]}, 2, 300),
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.json")
with open(path, "w") as f:
    json.dump({"ent_weight": ENT_WEIGHT, "cases": cases}, f, separators=(",", ":"))
for k, c in cases.items():
    print(k, "seed", c["seed"], "margin %.4g" % c["margin"], "loss", c["loss"])
print("wrote", path, os.path.getsize(path), "bytes")
