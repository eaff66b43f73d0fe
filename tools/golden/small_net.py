#!/usr/bin/env python3
"""Writes models/nn/testdata/small_net.json: a small network's parameters,
input, output, loss and every parameter's gradient, computed by PyTorch.

The Go test (models/nn/golden_test.go) builds the same network with
Tessera's layers, loads the parameters by name, and must reproduce the
output, the loss and all gradients. CI reads the committed fixture and
needs no Python. Regenerate with (Debian's python3-torch):

    /usr/bin/python3 tools/golden/small_net.py
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(20261128)
torch.set_default_dtype(torch.float64)


class SmallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.norm = nn.GroupNorm(4, 8, eps=1e-5)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        h = F.silu(self.norm(self.conv(x)))          # [B, 8, H, W]
        t = h.flatten(2).transpose(1, 2)             # [B, HW, 8]
        a, _ = self.attn(t, t, t, need_weights=False)
        t = t + a
        return self.fc(t.mean(1))                    # [B, 5]


def f32(t):
    # Round to float32 so Go, which computes in float32, starts from exactly these values.
    return t.float().double()


net = SmallNet()
with torch.no_grad():
    for p in net.parameters():
        p.copy_(f32(torch.randn_like(p) * 0.3))
x = f32(torch.randn(2, 3, 5, 6))
y = torch.tensor([3, 1])

logits = net(x)
loss = F.cross_entropy(logits, y, label_smoothing=0.1)
loss.backward()


def enc(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1).tolist()]}


out = {
    "params": {k: enc(v) for k, v in net.state_dict().items()},
    "grads": {k: enc(p.grad) for k, p in net.named_parameters()},
    "x": enc(x),
    "y": [int(v) for v in y.tolist()],
    "logits": enc(logits),
    "loss": float(loss),
    "label_smoothing": 0.1,
}
path = os.path.join(os.path.dirname(__file__), "..", "..", "models", "nn", "testdata", "small_net.json")
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path, "w") as f:
    json.dump(out, f, indent=0)
print("wrote", os.path.normpath(path))
