#!/usr/bin/env python3
"""Writes the fixtures of models/perceptual (and prints the FID reference
values that models/metrics/fid_test.go holds).

1. inception_w16.pth: pytorch-fid's FIDInceptionV3 (torchvision's Inception3
   with pytorch-fid's FIDInceptionA/C/E_1/E_2 blocks) with every channel count
   divided by 16 and random weights and BatchNorm statistics, saved as a torch
   state dict with the real key names (Conv2d_1a_3x3.conv.weight,
   Mixed_5b.branch1x1.bn.running_mean, ...). The classifier `fc` of the real
   pt_inception-2015-12-05 file is left out to keep the fixture small (the
   pool3 features do not use it; the Go loader skips it when present).
2. vgg16_w16.pth: torchvision's vgg16 `features` stack (features.N.weight,
   features.N.bias) with channel counts divided by 16; the `classifier.*`
   tensors of the real vgg16-397923af.pth are left out likewise.
3. lpips_lin_w16.pth: lpips' linear heads (lin0.model.1.weight ...
   lin4.model.1.weight, [1, C, 1, 1], non-negative as in lpips' vgg.pth) for
   those widths.
4. golden.json: fixed inputs and what PyTorch computes from them in float64:
   pool3 features through pytorch-fid's InceptionV3 wrapper (bilinear resize
   to 299 with align_corners=False, 2x-1 normalisation of [0, 1] input), per
   block channel means (to locate a mismatch), and LPIPS(vgg, v0.1) per-image
   distances, their batch mean and its gradient with respect to the first
   input, for RGB and grey (replicated) inputs.

The model classes follow torchvision/models/inception.py, pytorch-fid's
src/pytorch_fid/inception.py and lpips/pretrained_networks.py +
lpips/lpips.py, with the same module names. Weights are stored as float32;
PyTorch computes in float64 from exactly those values.

Regenerate with Debian's python3-torch (no torchvision, lpips or
pytorch-fid needed):

    /usr/bin/python3 models/perceptual/testdata/golden.py
"""
import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DIV = 16
HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(20260412)


def w(c):
    assert c % DIV == 0, c
    return c // DIV


# ---------------------------------------------------------------- Inception


class BasicConv2d(nn.Module):
    def __init__(self, cin, cout, **kw):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, bias=False, **kw)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class FIDInceptionA(nn.Module):
    def __init__(self, cin, pool_features):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, w(64), kernel_size=1)
        self.branch5x5_1 = BasicConv2d(cin, w(48), kernel_size=1)
        self.branch5x5_2 = BasicConv2d(w(48), w(64), kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, w(64), kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(w(64), w(96), kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(w(96), w(96), kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, kernel_size=1)

    def forward(self, x):
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        # Patch: TF's avg pool does not count the padding.
        bp = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        bp = self.branch_pool(bp)
        return torch.cat([b1, b5, b3, bp], 1)


class InceptionB(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, w(384), kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, w(64), kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(w(64), w(96), kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(w(96), w(96), kernel_size=3, stride=2)

    def forward(self, x):
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, bd, bp], 1)


class FIDInceptionC(nn.Module):
    def __init__(self, cin, c7):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, w(192), kernel_size=1)
        self.branch7x7_1 = BasicConv2d(cin, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, w(192), kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, w(192), kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, w(192), kernel_size=1)

    def forward(self, x):
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        bd = self.branch7x7dbl_2(bd)
        bd = self.branch7x7dbl_3(bd)
        bd = self.branch7x7dbl_4(bd)
        bd = self.branch7x7dbl_5(bd)
        bp = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        bp = self.branch_pool(bp)
        return torch.cat([b1, b7, bd, bp], 1)


class InceptionD(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, w(192), kernel_size=1)
        self.branch3x3_2 = BasicConv2d(w(192), w(320), kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, w(192), kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(w(192), w(192), kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(w(192), w(192), kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(w(192), w(192), kernel_size=3, stride=2)

    def forward(self, x):
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_1(x)
        b7 = self.branch7x7x3_2(b7)
        b7 = self.branch7x7x3_3(b7)
        b7 = self.branch7x7x3_4(b7)
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, b7, bp], 1)


class FIDInceptionE(nn.Module):
    def __init__(self, cin, max_pool):
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(cin, w(320), kernel_size=1)
        self.branch3x3_1 = BasicConv2d(cin, w(384), kernel_size=1)
        self.branch3x3_2a = BasicConv2d(w(384), w(384), kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(w(384), w(384), kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, w(448), kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(w(448), w(384), kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(w(384), w(384), kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(w(384), w(384), kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, w(192), kernel_size=1)

    def forward(self, x):
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        if self.max_pool:
            # FIDInceptionE_2: the TF graph max-pools here.
            bp = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        else:
            bp = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        bp = self.branch_pool(bp)
        return torch.cat([b1, b3, bd, bp], 1)


class FIDInception3(nn.Module):
    """The modules of torchvision's Inception3 that pytorch-fid keeps, under
    their names."""

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, w(32), kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(w(32), w(32), kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(w(32), w(64), kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(w(64), w(80), kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(w(80), w(192), kernel_size=3)
        self.Mixed_5b = FIDInceptionA(w(192), pool_features=w(32))
        self.Mixed_5c = FIDInceptionA(w(256), pool_features=w(64))
        self.Mixed_5d = FIDInceptionA(w(288), pool_features=w(64))
        self.Mixed_6a = InceptionB(w(288))
        self.Mixed_6b = FIDInceptionC(w(768), c7=w(128))
        self.Mixed_6c = FIDInceptionC(w(768), c7=w(160))
        self.Mixed_6d = FIDInceptionC(w(768), c7=w(160))
        self.Mixed_6e = FIDInceptionC(w(768), c7=w(192))
        self.Mixed_7a = InceptionD(w(768))
        self.Mixed_7b = FIDInceptionE(w(1280), max_pool=False)
        self.Mixed_7c = FIDInceptionE(w(2048), max_pool=True)

    def blocks(self):
        return [
            [self.Conv2d_1a_3x3, self.Conv2d_2a_3x3, self.Conv2d_2b_3x3, nn.MaxPool2d(kernel_size=3, stride=2)],
            [self.Conv2d_3b_1x1, self.Conv2d_4a_3x3, nn.MaxPool2d(kernel_size=3, stride=2)],
            [self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a,
             self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e],
            [self.Mixed_7a, self.Mixed_7b, self.Mixed_7c, nn.AdaptiveAvgPool2d(output_size=(1, 1))],
        ]

    def pool3(self, inp):
        """pytorch-fid's InceptionV3.forward with output_blocks=[3],
        resize_input=True, normalize_input=True: inp is in [0, 1]."""
        x = F.interpolate(inp, size=(299, 299), mode="bilinear", align_corners=False)
        x = 2 * x - 1
        means = []
        for block in self.blocks():
            for layer in block:
                x = layer(x)
            means.append(x.mean(dim=(0, 2, 3)))
        return x[:, :, 0, 0], means


def randomize(model):
    """Random convolution weights (He-scaled) and BatchNorm parameters and
    statistics, so that activations stay of order one through the net."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
            m.weight.data.normal_(0, (2.0 / fan_in) ** 0.5)
            if m.bias is not None:
                m.bias.data.uniform_(-0.1, 0.1)
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(0.0, 0.4)
            m.running_mean.normal_(0, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.num_batches_tracked.fill_(1000)
    model.eval()


# ---------------------------------------------------------------- VGG / LPIPS

VGG_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def vgg16_features():
    layers, cin = [], 3
    for v in VGG_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(cin, w(v), kernel_size=3, padding=1), nn.ReLU(inplace=False)]
            cin = w(v)
    return nn.Sequential(*layers)


class LPIPS(nn.Module):
    """lpips.LPIPS(net='vgg', version='0.1', lpips=True) at reduced width."""

    def __init__(self, features):
        super().__init__()
        self.features = features
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188])[None, :, None, None])
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450])[None, :, None, None])
        self.slices = [(0, 4), (4, 9), (9, 16), (16, 23), (23, 30)]
        chns = [w(64), w(128), w(256), w(512), w(512)]
        self.lins = nn.ModuleList()
        for c in chns:
            lin = nn.Module()
            lin.model = nn.Sequential(nn.Dropout(), nn.Conv2d(c, 1, 1, stride=1, padding=0, bias=False))
            self.lins.append(lin)

    def net(self, x):
        outs = []
        for a, b in self.slices:
            for i in range(a, b):
                x = self.features[i](x)
            outs.append(x)
        return outs

    def forward(self, in0, in1):
        x0 = (in0 - self.shift) / self.scale
        x1 = (in1 - self.shift) / self.scale
        outs0, outs1 = self.net(x0), self.net(x1)
        val = 0
        for kk in range(5):
            f0 = outs0[kk] / (torch.sqrt(torch.sum(outs0[kk] ** 2, dim=1, keepdim=True)) + 1e-10)
            f1 = outs1[kk] / (torch.sqrt(torch.sum(outs1[kk] ** 2, dim=1, keepdim=True)) + 1e-10)
            d = (f0 - f1) ** 2
            val = val + self.lins[kk].model(d).mean(dim=[2, 3], keepdim=True)
        return val[:, 0, 0, 0]


# ---------------------------------------------------------------- helpers


def f32list(t):
    """Float32 values (inputs), written exactly in their shortest form."""
    return [float(repr(np.float32(v))) for v in t.detach().to(torch.float32).reshape(-1).tolist()]


def f64list(t):
    """Computed values to 9 significant digits."""
    return [float(f"{float(v):.9g}") for v in t.detach().reshape(-1).tolist()]


def save(path, sd):
    """Saves float32 copies of sd's tensors at path and returns them."""
    sd = {k: v.detach().to(torch.float32).clone().contiguous() if v.is_floating_point() else v.detach().clone()
          for k, v in sd.items()}
    torch.save(sd, path)
    return sd


def main():
    golden = {}

    # Inception.
    inc = FIDInception3()
    randomize(inc)
    path = os.path.join(HERE, "inception_w16.pth")
    sd = save(path, inc.state_dict())
    inc = inc.double()
    for k, v in inc.state_dict().items():  # compute from the float32 values
        if v.is_floating_point():
            v.copy_(sd[k].to(torch.float64))
    x = torch.rand(2, 3, 19, 23, dtype=torch.float32) * 2 - 1
    grey = torch.rand(1, 1, 21, 17, dtype=torch.float32) * 2 - 1
    with torch.no_grad():
        feats, means = inc.pool3((x.double() + 1) / 2)
        gfeats, _ = inc.pool3((grey.double().repeat(1, 3, 1, 1) + 1) / 2)
    golden["inception"] = {
        "div": DIV,
        "x_shape": list(x.shape), "x": f32list(x),
        "features_shape": list(feats.shape), "features": f64list(feats),
        "block_means": [f64list(m) for m in means],
        "grey_shape": list(grey.shape), "grey": f32list(grey),
        "grey_features": f64list(gfeats),
    }
    print(f"inception_w16.pth: {os.path.getsize(path)} bytes, {sum(v.numel() for v in sd.values() if v.is_floating_point())} floats")

    # VGG16 features + LPIPS heads.
    feats_mod = vgg16_features()
    lp = LPIPS(feats_mod)
    randomize(lp)
    for lin in lp.lins:
        lin.model[1].weight.data.uniform_(0, 1.0 / lin.model[1].in_channels)
    vpath, lpath = os.path.join(HERE, "vgg16_w16.pth"), os.path.join(HERE, "lpips_lin_w16.pth")
    vsd = save(vpath, {"features." + k: v for k, v in feats_mod.state_dict().items()})
    lsd = save(lpath, {f"lin{i}.model.1.weight": lp.lins[i].model[1].weight for i in range(5)})
    lp = lp.double()
    for k, v in vsd.items():
        feats_mod.state_dict()[k[len("features."):]].copy_(v.to(torch.float64))
    for i in range(5):
        lp.lins[i].model[1].weight.data.copy_(lsd[f"lin{i}.model.1.weight"].to(torch.float64))
    lp.eval()
    x0 = torch.rand(2, 3, 20, 18, dtype=torch.float32) * 2 - 1
    x1 = (x0 + 0.3 * torch.randn(2, 3, 20, 18)).clamp(-1, 1).to(torch.float32)
    a = x0.double().requires_grad_(True)
    per = lp(a, x1.double())
    loss = per.mean()
    loss.backward()
    g0 = torch.rand(2, 1, 20, 18, dtype=torch.float32) * 2 - 1
    g1 = (g0 + 0.3 * torch.randn(2, 1, 20, 18)).clamp(-1, 1).to(torch.float32)
    ga = g0.double().requires_grad_(True)
    gper = lp(ga.repeat(1, 3, 1, 1), g1.double().repeat(1, 3, 1, 1))
    gper.mean().backward()
    golden["lpips"] = {
        "div": DIV,
        "shape": list(x0.shape), "x0": f32list(x0), "x1": f32list(x1),
        "per_image": f64list(per), "loss": float(loss),
        "grad_x0": f64list(a.grad),
        "grey_shape": list(g0.shape), "grey0": f32list(g0), "grey1": f32list(g1),
        "grey_per_image": f64list(gper),
        "grey_grad0": f64list(ga.grad),
    }
    print(f"vgg16_w16.pth: {os.path.getsize(vpath)} bytes; lpips_lin_w16.pth: {os.path.getsize(lpath)} bytes")

    with open(os.path.join(HERE, "golden.json"), "w") as f:
        json.dump(golden, f, separators=(",", ":"))
    print(f"golden.json: {os.path.getsize(os.path.join(HERE, 'golden.json'))} bytes")

    fid_reference()


# ---------------------------------------------------------------- FID

# The data of models/metrics/fid_test.go (TestFIDReference): rows are samples.
FID_A = [
    [0.12, -0.53, 1.70, 0.33, -0.91],
    [0.85, 0.07, 1.10, -0.42, -0.15],
    [-0.36, -1.22, 2.05, 0.61, -1.33],
    [1.41, 0.58, 0.72, -0.77, 0.26],
    [0.03, -0.19, 1.48, 0.12, -0.64],
    [-0.88, -0.95, 2.31, 0.94, -1.02],
    [0.67, 0.36, 0.95, -0.21, 0.08],
    [0.29, -0.71, 1.83, 0.47, -0.58],
    [1.02, 0.21, 1.27, -0.65, -0.37],
    [-0.45, -0.38, 1.62, 0.29, -0.83],
    [0.51, -0.02, 1.05, -0.11, 0.31],
]
FID_B = [
    [0.44, -0.12, 1.21, 0.08, -0.47],
    [-0.21, -0.87, 1.95, 0.71, -0.95],
    [1.17, 0.49, 0.63, -0.58, 0.12],
    [0.36, -0.44, 1.52, 0.22, -0.31],
    [-0.63, -1.05, 2.18, 0.88, -1.21],
    [0.92, 0.15, 0.88, -0.35, -0.06],
    [0.05, -0.61, 1.71, 0.41, -0.72],
    [0.73, 0.32, 1.34, -0.49, 0.19],
    [-0.14, -0.26, 1.44, 0.17, -0.55],
]


def fid_eigvals(mu1, s1, mu2, s2):
    """‖μ1−μ2‖² + tr S1 + tr S2 − 2 Σ √λ(S1 S2): the eigenvalues of the
    (non-symmetric) product, as an independent route from the Go code's
    symmetric S1^½ S2 S1^½."""
    lam = np.linalg.eigvals(s1 @ s2)
    tr = np.sum(np.sqrt(np.clip(lam.real, 0, None)))
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr)


def fid_sqrtm(mu1, s1, mu2, s2):
    """pytorch-fid's calculate_frechet_distance with scipy.linalg.sqrtm of
    S1 S2 replaced by its eigendecomposition (scipy is not installed here)."""
    lam, v = np.linalg.eig(s1 @ s2)
    covmean = (v * np.sqrt(lam.astype(complex))) @ np.linalg.inv(v)
    covmean = covmean.real
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def fid_mpmath(p, q):
    """The exact value, to 40 digits (mpmath): mean and covariance of the
    (decimal) data in 50-digit arithmetic, tr(Σ1^½ Σ2 Σ1^½)^½ from two
    symmetric eigendecompositions. Zero eigenvalues of singular covariances
    come out near 1e-50 here, not 1e-16, so their square roots vanish."""
    import mpmath as mp

    mp.mp.dps = 50

    def stats(rows):
        n, d = len(rows), len(rows[0])
        x = [[mp.mpf(str(v)) for v in r] for r in rows]
        mu = [sum(r[j] for r in x) / n for j in range(d)]
        cov = mp.matrix(d, d)
        for i in range(d):
            for j in range(d):
                cov[i, j] = sum((r[i] - mu[i]) * (r[j] - mu[j]) for r in x) / (n - 1)
        return mu, cov

    mu1, s1 = stats(p)
    mu2, s2 = stats(q)
    e, v = mp.eigsy(s1)
    d = len(mu1)
    b = mp.matrix(d, d)
    for i in range(d):
        for j in range(d):
            b[i, j] = v[i, j] * mp.sqrt(max(e[j], 0))
    m = b.T * s2 * b
    m = (m + m.T) / 2
    e2, _ = mp.eigsy(m)
    tr = sum(mp.sqrt(max(l, 0)) for l in e2)
    diff = sum((a - c) ** 2 for a, c in zip(mu1, mu2))
    tr1 = sum(s1[i, i] for i in range(d))
    tr2 = sum(s2[i, i] for i in range(d))
    return mp.nstr(diff + tr1 + tr2 - 2 * tr, 40)


def fid_reference():
    a, b = np.array(FID_A, dtype=np.float64), np.array(FID_B, dtype=np.float64)
    cases = {
        "full": (a, b),
        # Fewer samples than dimensions: rank-deficient covariances.
        "rank_deficient": (a[:3], b[:4]),
    }
    for name, (p, q) in cases.items():
        mu1, mu2 = p.mean(0), q.mean(0)
        s1, s2 = np.cov(p, rowvar=False), np.cov(q, rowvar=False)
        print(f"FID {name}: mpmath {fid_mpmath(p.tolist(), q.tolist())}")
        print(f"  numpy: eigvals {fid_eigvals(mu1, s1, mu2, s2)!r} sqrtm {fid_sqrtm(mu1, s1, mu2, s2)!r}")


if __name__ == "__main__":
    main()
