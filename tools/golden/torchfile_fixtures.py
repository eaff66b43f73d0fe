#!/usr/bin/env python3
"""Writes the torch.save fixtures for models/torchfile and, next to each, a
JSON file with what the Go reader must return for it.

Good fixtures (each X.pt has an X.json listing every tensor the Go reader
returns: flattened dotted name, safetensors dtype, shape, and the values of
the contiguous tensor in row-major order as floats):

    zip_mixed.pt     modern zip format: every supported dtype, a 0-d and an
                     empty tensor, non-contiguous views (a transpose, a
                     column slice, a broadcast), storage offsets, tensors
                     sharing one storage, one tensor stored under two names,
                     a nested dict {"model": {...}, "epoch": 3, ...} with
                     non-tensor values that must be skipped, and int keys
    legacy.pt        the same kind of contents in the legacy (non-zip)
                     format, torch.save(..., _use_new_zipfile_serialization=False)
    module_sd.pt     the OrderedDict state_dict of
                     nn.Sequential(nn.Conv2d(3, 4, 3), nn.GroupNorm(2, 4))
    zip_proto4.pt    a small state dict saved with pickle_protocol=4, which
                     uses FRAME, MEMOIZE and STACK_GLOBAL

Bad fixtures (no JSON; the Go tests expect errors):

    bad_global.pt         zip format; the pickle references __main__.Custom
    bad_reduce_legacy.pt  legacy format; the pickle calls posix.system (a
                          classic malicious pickle; never executed here, the
                          Go reader must refuse it by name)

CI has no Python: the Go tests read the committed files only. Regenerate with
Debian's python3-torch (torch 1.13, CPU), not the pyenv python3:

    /usr/bin/python3 tools/golden/torchfile_fixtures.py
"""
import collections
import json
import os
import pickle

import torch
import torch.nn as nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "torchfile", "testdata")

DTYPES = {
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.float64: "F64",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


def flatten(obj, prefix, out):
    """Mirrors the Go reader: dicts nest with dots, tensors are kept,
    everything else (ints, floats, strings, lists, tuples) is skipped."""
    if isinstance(obj, torch.Tensor):
        out[prefix] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(k, bool):
                continue
            if not isinstance(k, (str, int)):
                continue
            name = str(k) if prefix == "" else prefix + "." + str(k)
            flatten(v, name, out)


def expected(obj):
    flat = {}
    flatten(obj, "", flat)
    tensors = []
    for name in sorted(flat):
        t = flat[name].detach()
        tensors.append({
            "name": name,
            "dtype": DTYPES[t.dtype],
            "shape": list(t.shape),
            "values": [float(v) for v in t.double().flatten().tolist()],
        })
    return {"tensors": tensors}


def save(name, obj, **kwargs):
    path = os.path.join(OUT, name + ".pt")
    torch.save(obj, path, **kwargs)
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(expected(obj), f, indent=1)
        f.write("\n")
    # Loading back must give the same tensors (views rebuilt from storages).
    back = {}
    flatten(torch.load(path), "", back)
    want = {}
    flatten(obj, "", want)
    assert back.keys() == want.keys(), name
    for k in want:
        assert torch.equal(back[k], want[k]), (name, k)
    print(f"{path}: {os.path.getsize(path)} bytes")


def rounded(t):
    """Values with few significant bits, exact in every float dtype used."""
    return (t * 8).round() / 8


def mixed():
    g = torch.Generator().manual_seed(1)
    base = rounded(torch.randn(3, 4, generator=g))          # 12 floats
    flat = rounded(torch.randn(10, generator=g))
    shared = torch.arange(6, dtype=torch.float32) - 2.5
    tied = rounded(torch.randn(2, 2, generator=g))
    model = collections.OrderedDict()
    model["f32"] = rounded(torch.randn(2, 3, generator=g))
    model["f16"] = rounded(torch.randn(4, generator=g)).half()
    model["bf16"] = rounded(torch.randn(2, 2, generator=g)).bfloat16()
    model["f64"] = torch.tensor([1.0 / 3, -2.0 ** -40, 1e300], dtype=torch.float64)
    model["i64"] = torch.tensor([[-(2 ** 40), -1], [0, 2 ** 40 + 1]], dtype=torch.int64)
    model["i32"] = torch.tensor([-7, 0, 2 ** 31 - 1], dtype=torch.int32)
    model["u8"] = torch.tensor([0, 1, 255], dtype=torch.uint8)
    model["bool"] = torch.tensor([[True, False, True]])
    model["scalar"] = torch.tensor(2.5)
    model["empty"] = torch.zeros(0, 3)
    model["transposed"] = base.t()                  # [4, 3], stride (1, 4)
    model["cols"] = base[:, 1:3]                    # offset 1, stride (4, 1)
    model["slice"] = flat[3:7]                      # offset 3, contiguous
    model["broadcast"] = flat[:3].expand(2, 3)      # stride (0, 1)
    model["shared_a"] = shared.view(2, 3)           # whole storage
    model["shared_b"] = shared[2:5]                 # same storage, offset 2
    model["encoder"] = {"conv": {"weight": tied}}
    model["decoder_weight"] = tied                  # same tensor, second name
    obj = {
        "model": model,
        "epoch": 3,
        "lr": 0.5,
        "name": "fixture",
        "sizes": [1, 2, torch.ones(2)],             # a list: skipped, tensors too
        "state": {0: {"step": torch.tensor([4], dtype=torch.int64)}},
    }
    save("zip_mixed", obj)


def legacy():
    g = torch.Generator().manual_seed(2)
    base = rounded(torch.randn(2, 3, generator=g))
    shared = torch.arange(8, dtype=torch.int64) * 3 - 5
    obj = {
        "state_dict": {
            "w": rounded(torch.randn(3, 2, generator=g)),
            "h": rounded(torch.randn(3, generator=g)).half(),
            "b": rounded(torch.randn(2, generator=g)).bfloat16(),
            "d": torch.tensor([0.1, -3.0], dtype=torch.float64),
            "mask": torch.tensor([False, True]),
            "t": base.t(),
            "s": shared[1:4],
            "s_all": shared,
            "u": torch.tensor([[7, 8]], dtype=torch.uint8),
            "i": torch.tensor([5, -6], dtype=torch.int32),
        },
        "step": 100,
    }
    save("legacy", obj, _use_new_zipfile_serialization=False)


def module():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.GroupNorm(2, 4))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(rounded(p * 4))
    save("module_sd", net.state_dict())


def proto4():
    obj = collections.OrderedDict()
    obj["a.weight"] = torch.tensor([[1.5, -2.0]])
    obj["a.bias"] = torch.tensor([0.25], dtype=torch.float16)
    save("zip_proto4", obj, pickle_protocol=4)


class Custom:
    """A class the Go reader must refuse to construct."""

    def __init__(self):
        self.x = 1


class Evil:
    """Unpickling this with Python's pickle would run a shell command."""

    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def bad():
    path = os.path.join(OUT, "bad_global.pt")
    torch.save({"w": torch.ones(2), "c": Custom()}, path)
    print(f"{path}: {os.path.getsize(path)} bytes")
    path = os.path.join(OUT, "bad_reduce_legacy.pt")
    torch.save({"w": torch.ones(2), "e": Evil()}, path, _use_new_zipfile_serialization=False)
    print(f"{path}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    mixed()
    legacy()
    module()
    proto4()
    bad()
