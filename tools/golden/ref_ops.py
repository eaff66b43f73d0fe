#!/usr/bin/python3
"""Generate PyTorch goldens for package tensor/ref.

Builds small odd-shaped float64 inputs from a fixed seed, runs the PyTorch
ops that tensor/ref reimplements, and writes inputs, parameters and outputs
to tensor/ref/testdata/torch_ops.json. The Go test (golden_test.go) only
reads the JSON, so CI needs no Python.

Run from the repository root with the Debian CPU build of PyTorch
(apt-get install python3-torch), which installs for /usr/bin/python3:

    /usr/bin/python3 tools/golden/ref_ops.py

Inputs are rounded to 4 decimals (so the JSON is short and the float64 value
Go parses is exactly the one PyTorch used); outputs are written with 15
significant digits, far below the 1e-9 tolerance the Go test applies.
"""

import json
import os
import sys

import torch
import torch.nn.functional as F

SEED = 20240611
OUT = os.path.join("tensor", "ref", "testdata", "torch_ops.json")

torch.manual_seed(SEED)
torch.set_default_dtype(torch.float64)

tensors = {}  # name -> {"shape": [...], "data": [...]}
cases = []


def rand(name, *shape, lo=-2.0, hi=2.0):
    """Register a named uniform input in [lo, hi), rounded to 4 decimals."""
    t = torch.rand(*shape, dtype=torch.float64) * (hi - lo) + lo
    t = torch.round(t * 1e4) / 1e4
    tensors[name] = {"shape": list(t.shape), "data": t.flatten().tolist()}
    return t


def case(name, op, inputs, want, **params):
    """Record one golden: op applied to the named inputs with params."""
    if isinstance(want, torch.Tensor):
        shape, data = list(want.shape), want.flatten().tolist()
    else:
        shape, data = [], [want]
    data = [float("%.15g" % v) for v in data]
    c = {"name": name, "op": op, "inputs": inputs,
         "want": {"shape": shape, "data": data}}
    if params:
        c["params"] = params
    cases.append(c)


# ---- inputs ---------------------------------------------------------------
x4 = rand("x4", 2, 3, 7, 5)           # main NCHW input
xg = rand("xg", 2, 6, 5, 3)           # group norm, C=6
xr = rand("xr", 3, 4, 9, lo=-4.0, hi=4.0)  # reductions, wide range
w_conv = rand("w_conv", 4, 3, 3, 2, lo=-1.0, hi=1.0)
b_conv = rand("b_conv", 4, lo=-1.0, hi=1.0)
b_bcast = rand("b_bcast", 3, 1, 5)     # broadcasts against x4
pos = rand("pos", 3, 1, 5, lo=0.5, hi=2.0)  # positive base for pow
g6 = rand("g6", 6, lo=0.5, hi=1.5)
be6 = rand("be6", 6, lo=-0.5, hi=0.5)
g5 = rand("g5", 5, lo=0.5, hi=1.5)
be5 = rand("be5", 5, lo=-0.5, hi=0.5)
ma = rand("ma", 2, 3, 5, 4)            # [B1, B2, M, K]
mb = rand("mb", 2, 3, 4, 6)            # [B1, B2, K, N]
ma_t = rand("ma_t", 2, 3, 4, 5)        # [B1, B2, K, M]
mb_t = rand("mb_t", 2, 3, 6, 4)        # [B1, B2, N, K]
m2a = rand("m2a", 5, 4)
m2b = rand("m2b", 4, 6)
src1 = rand("src1", 2, 5, 7, 5)        # index_add along axis 1
src3 = rand("src3", 2, 3, 7, 4)        # index_add along axis 3

# ---- elementwise ----------------------------------------------------------
for op, fn in [
    ("neg", torch.neg), ("abs", torch.abs), ("exp", torch.exp),
    ("square", torch.square), ("tanh", torch.tanh),
    ("sigmoid", torch.sigmoid), ("relu", torch.relu), ("silu", F.silu),
    ("gelu", F.gelu),
]:
    case(op, op, ["x4"], fn(x4))
for op, fn in [("log", torch.log), ("sqrt", torch.sqrt), ("rsqrt", torch.rsqrt)]:
    case(op, op, ["pos"], fn(pos))
case("leaky_relu", "leaky_relu", ["x4"], F.leaky_relu(x4, 0.15), scalar=0.15)

for op, fn in [
    ("add", torch.add), ("sub", torch.sub), ("mul", torch.mul),
    ("div", torch.div), ("maximum", torch.maximum),
    ("minimum", torch.minimum),
]:
    case(op + "_bcast", op, ["x4", "b_bcast"], fn(x4, b_bcast))
    case(op + "_bcast_rev", op, ["b_bcast", "x4"], fn(b_bcast, x4))
case("pow_bcast", "pow", ["pos", "x4"], torch.pow(pos, x4))
case("add_scalar", "add_scalar", ["x4"], x4 + 0.375, scalar=0.375)
case("mul_scalar", "mul_scalar", ["x4"], x4 * -1.25, scalar=-1.25)
case("pow_scalar", "pow_scalar", ["pos"], pos ** 1.7, scalar=1.7)

# ---- reductions -----------------------------------------------------------
for axis in (0, 1, -1):
    case("sum_%d" % axis, "sum", ["xr"], xr.sum(axis), axis=axis)
    case("mean_%d" % axis, "mean", ["xr"], xr.mean(axis), axis=axis)
    case("max_%d" % axis, "max", ["xr"], xr.amax(axis), axis=axis)
    case("logsumexp_%d" % axis, "logsumexp", ["xr"],
         torch.logsumexp(xr, axis), axis=axis)
    case("argmax_%d" % axis, "argmax", ["xr"],
         xr.argmax(axis).to(torch.float64), axis=axis)
    case("softmax_%d" % axis, "softmax", ["xr"], F.softmax(xr, axis), axis=axis)
    case("log_softmax_%d" % axis, "log_softmax", ["xr"],
         F.log_softmax(xr, axis), axis=axis)
# Many ties: argmax must pick the first maximum, like torch.
xt = torch.randint(-1, 2, (3, 4, 5)).to(torch.float64)
tensors["xt"] = {"shape": list(xt.shape), "data": xt.flatten().tolist()}
for axis in (0, 1, 2):
    case("argmax_ties_%d" % axis, "argmax", ["xt"],
         xt.argmax(axis).to(torch.float64), axis=axis)
case("argmax_all_ties", "argmax_all", ["xt"], float(xt.argmax()))
case("softmax_x4_1", "softmax", ["x4"], F.softmax(x4, 1), axis=1)
case("sum_all", "sum_all", ["xr"], xr.sum())
case("mean_all", "mean_all", ["xr"], xr.mean())
case("max_all", "max_all", ["xr"], xr.max())
case("logsumexp_all", "logsumexp_all", ["xr"], torch.logsumexp(xr.flatten(), 0))
case("argmax_all", "argmax_all", ["xr"], float(xr.argmax()))

# ---- matmul ---------------------------------------------------------------
case("matmul_nn", "matmul", ["ma", "mb"], ma @ mb, transA=False, transB=False)
case("matmul_tn", "matmul", ["ma_t", "mb"], ma_t.transpose(-1, -2) @ mb,
     transA=True, transB=False)
case("matmul_nt", "matmul", ["ma", "mb_t"], ma @ mb_t.transpose(-1, -2),
     transA=False, transB=True)
case("matmul_tt", "matmul", ["ma_t", "mb_t"],
     ma_t.transpose(-1, -2) @ mb_t.transpose(-1, -2), transA=True, transB=True)
case("matmul_b2d", "matmul", ["ma", "m2b"], ma @ m2b, transA=False, transB=False)
case("matmul_a2d", "matmul", ["m2a", "mb"], m2a @ mb, transA=False, transB=False)
case("matmul_2d_tt", "matmul", ["m2b", "m2a"], m2b.t() @ m2a.t(),
     transA=True, transB=True)

# ---- shape ops ------------------------------------------------------------
case("permute", "permute", ["x4"], x4.permute(2, 0, 3, 1), perm=[2, 0, 3, 1])
case("transpose", "transpose", ["x4"], x4.transpose(1, -1), axes=[1, -1])
case("concat_1", "concat", ["x4", "src1"], torch.cat([x4, src1], 1), axis=1)
case("slice_2", "slice", ["x4"], x4[:, :, 2:6], axis=2, start=2, end=6)
case("index_select_1", "index_select", ["x4"],
     torch.index_select(x4, 1, torch.tensor([2, 0, 2, 1])), axis=1, idx=[2, 0, 2, 1])
case("index_select_m1", "index_select", ["x4"],
     torch.index_select(x4, -1, torch.tensor([4, 4, 0, 3, 1, 2])),
     axis=-1, idx=[4, 4, 0, 3, 1, 2])
case("index_add_1", "index_add", ["x4", "src1"],
     x4.index_add(1, torch.tensor([2, 0, 2, 1, 2]), src1), axis=1, idx=[2, 0, 2, 1, 2])
case("index_add_3", "index_add", ["x4", "src3"],
     x4.index_add(3, torch.tensor([4, 0, 4, 3]), src3), axis=3, idx=[4, 0, 4, 3])

# ---- conv -----------------------------------------------------------------
case("conv2d_s2_p1_d2_bias", "conv2d", ["x4", "w_conv", "b_conv"],
     F.conv2d(x4, w_conv, b_conv, stride=2, padding=1, dilation=2),
     stride=[2, 2], pad=[1, 1], dil=[2, 2])
case("conv2d_asym_nobias", "conv2d", ["x4", "w_conv"],
     F.conv2d(x4, w_conv, None, stride=(1, 2), padding=(0, 2), dilation=(2, 1)),
     stride=[1, 2], pad=[0, 2], dil=[2, 1])
case("conv2d_plain", "conv2d", ["x4", "w_conv", "b_conv"],
     F.conv2d(x4, w_conv, b_conv), stride=[1, 1], pad=[0, 0], dil=[1, 1])

# ---- resampling (x4 is H=7, W=5) -------------------------------------------
for oh, ow in [(16, 11), (10, 8), (4, 3), (7, 5), (9, 2)]:
    case("bicubic_%dx%d" % (oh, ow), "bicubic", ["x4"],
         F.interpolate(x4, size=(oh, ow), mode="bicubic", align_corners=False),
         size=[oh, ow])


def nearest_f32(x, size):
    """F.interpolate(mode='nearest') with PyTorch's float32 index rule.

    PyTorch computes the source index as floorf(float(dst) * (float(in) /
    float(out))). For float32 tensors it always does; for float64 tensors it
    does only when N*C == 1 and otherwise uses the exact floor(dst*in/out),
    so the two disagree for some sizes (2 -> 82, 3 -> 123, ...). The GPU
    works in float32, so the reference follows the float32 rule: the index
    maps come from the float32 kernel run on an arange, and the float64
    values are then gathered with them.
    """
    oh, ow = size
    h, w = x.shape[-2:]
    iy = F.interpolate(torch.arange(h, dtype=torch.float32).reshape(1, 1, h, 1),
                       size=(oh, 1), mode="nearest").flatten().long()
    ix = F.interpolate(torch.arange(w, dtype=torch.float32).reshape(1, 1, 1, w),
                       size=(1, ow), mode="nearest").flatten().long()
    return x[:, :, iy][:, :, :, ix]


for oh, ow in [(16, 11), (14, 10), (3, 4), (10, 8), (7, 5)]:
    want = nearest_f32(x4, (oh, ow))
    # For these sizes both index rules agree, so float64 PyTorch matches too.
    assert torch.equal(want, F.interpolate(x4, size=(oh, ow), mode="nearest"))
    case("nearest_%dx%d" % (oh, ow), "nearest", ["x4"], want, size=[oh, ow])
# Sizes where the float32 rule lands one below the exact floor(dst*in/out).
xn = rand("xn", 1, 2, 2, 3)
for oh, ow in [(82, 3), (2, 123)]:
    want = nearest_f32(xn, (oh, ow))
    assert not torch.equal(want, F.interpolate(xn, size=(oh, ow), mode="nearest"))
    case("nearest_f32_%dx%d" % (oh, ow), "nearest", ["xn"], want, size=[oh, ow])
for oh, ow in [(3, 4), (2, 3), (7, 5), (1, 1), (4, 2)]:
    case("area_%dx%d" % (oh, ow), "area", ["x4"],
         F.adaptive_avg_pool2d(x4, (oh, ow)), size=[oh, ow])

# ---- norms ----------------------------------------------------------------
for groups in (1, 2, 3, 6):
    case("group_norm_g%d" % groups, "group_norm", ["xg", "g6", "be6"],
         F.group_norm(xg, groups, g6, be6, eps=1e-5), groups=groups, eps=1e-5)
case("group_norm_noaffine", "group_norm", ["x4"],
     F.group_norm(x4, 3, eps=1e-3), groups=3, eps=1e-3)
case("layer_norm", "layer_norm", ["x4", "g5", "be5"],
     F.layer_norm(x4, (5,), g5, be5, eps=1e-5), eps=1e-5)
case("layer_norm_noaffine", "layer_norm", ["x4"],
     F.layer_norm(x4, (5,), eps=1e-6), eps=1e-6)
rms = x4 / torch.sqrt(x4.pow(2).mean(-1, keepdim=True) + 1e-6) * g5
case("rms_norm", "rms_norm", ["x4", "g5"], rms, eps=1e-6)
case("rms_norm_nogamma", "rms_norm", ["x4"],
     x4 / torch.sqrt(x4.pow(2).mean(-1, keepdim=True) + 1e-2), eps=1e-2)

doc = {
    "generator": "tools/golden/ref_ops.py",
    "torch_version": torch.__version__,
    "seed": SEED,
    "dtype": "float64",
    "tensors": tensors,
    "cases": cases,
}
os.makedirs(os.path.dirname(OUT), exist_ok=True)
# One tensor or case per line keeps diffs of the fixture readable.
compact = dict(separators=(",", ":"))
with open(OUT, "w") as f:
    f.write("{\n")
    for key in ("generator", "torch_version", "seed", "dtype"):
        f.write("%s:%s,\n" % (json.dumps(key), json.dumps(doc[key])))
    f.write('"tensors":{\n')
    f.write(",\n".join("%s:%s" % (json.dumps(k), json.dumps(v, **compact))
                        for k, v in tensors.items()))
    f.write('\n},\n"cases":[\n')
    f.write(",\n".join(json.dumps(c, **compact) for c in cases))
    f.write("\n]}\n")
json.load(open(OUT))  # sanity: the hand-assembled document parses
print("wrote %s: %d cases, %d bytes" % (OUT, len(cases), os.path.getsize(OUT)),
      file=sys.stderr)
