#!/usr/bin/python3
"""gen_half_reference.py - PyTorch's F16 and BF16 conversions and 16-bit ops for tests/test_half.c.

Run from the repository root with Debian's python3-torch:

    /usr/bin/python3 tests/gen_half_reference.py     # writes tests/data/half_reference.txt

CONVERSIONS. Four tables of torch's results, each given as FNV-1a 64 hashes of blocks of
4096 results (the results' little-endian bytes, in input order), so that the file stays small
and the C test can name the block where a result differs:

    to_f32 f16 / to_f32 bf16    all 65,536 16-bit patterns -> float32 bits
    from_f32 f16                float32 bits (i << 13) + d for i in [0, 2^19), d in {0, 0xfff,
                                0x1000, 0x1001} (every rounding boundary of the normal range, both
                                signs, inf and NaN payloads), then the ties of the subnormal range:
                                for k in [0, 2048) the float32 nearest (k + 1/2) 2^-24 and its two
                                neighbours, then the same negated -> float16 bits
    from_f32 bf16               float32 bits (i << 16) + d for i in [0, 2^16), d in {0, 0x7fff,
                                0x8000, 0x8001} -> bfloat16 bits

NaN: torch 1.13's vectorised float32 -> bfloat16 copy gives 0xffff for every NaN; autograd.h
gives sign | 0x7fc0 (a quiet NaN, the sign kept, as torch's scalar c10::BFloat16 does for
positive NaN). The table records torch's result with that one difference applied: a NaN output
is written as autograd.h's. Every other bit is torch's.

OPS. For each dtype (f16, bf16), inputs x (97 values in [-4, 4]) and y (97 in (0, 5]), rounded
to the dtype by torch; then torch's 16-bit result of each op, one line:

    op <name> <dtype> <n> <hex16 results...>

and for the gradient cases the gradient of sum(op(x) * y) with respect to x (x a 16-bit leaf),
"grad <name> <dtype> <n> <hex16...>". An op torch 1.13 cannot run on the CPU in that dtype is
written "skip <name> <dtype> <torch's message>" (the C test then checks ours against float64).
"""
import os
import sys

import numpy as np
import torch

BLOCK = 4096
FNV_OFFSET = 0xcbf29ce484222325
FNV_PRIME = 0x100000001b3
MASK = (1 << 64) - 1


def fnv_blocks(arr):
    """FNV-1a 64 over each block of BLOCK results (arr: uint16 or uint32 numpy array)."""
    raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
    per = BLOCK * arr.dtype.itemsize
    out = []
    for start in range(0, len(raw), per):
        h = FNV_OFFSET
        for b in raw[start:start + per]:
            h = ((h ^ b) * FNV_PRIME) & MASK
        out.append("%016x" % h)
    return out


def to_f32_table(tdt):
    p = np.arange(65536, dtype=np.uint16)
    t = torch.from_numpy(p.view(np.int16).copy()).view(tdt).to(torch.float32)
    return t.view(torch.int32).numpy().view(np.uint32)


def from_f32_inputs(kind):
    if kind == "bf16":
        i = np.arange(1 << 16, dtype=np.uint64)
        u = (i[:, None] << 16) + np.array([0, 0x7fff, 0x8000, 0x8001], dtype=np.uint64)[None, :]
        return u.reshape(-1).astype(np.uint32)
    i = np.arange(1 << 19, dtype=np.uint64)
    u = ((i[:, None] << 13) + np.array([0, 0xfff, 0x1000, 0x1001], dtype=np.uint64)[None, :]).reshape(-1)
    ties = []
    for k in range(2048):
        v = np.float32((k + 0.5) * 2.0 ** -24)   # exact: k + 1/2 needs 13 bits
        b = int(v.view(np.uint32))
        ties += [b - 1 if b else 0, b, b + 1]
    ties = np.array(ties, dtype=np.uint64)
    return np.concatenate([u, ties, ties | 0x80000000]).astype(np.uint32)


def from_f32_table(kind):
    tdt = torch.float16 if kind == "f16" else torch.bfloat16
    u = from_f32_inputs(kind)
    f = torch.from_numpy(u.view(np.int32).copy()).view(torch.float32)
    r = f.to(tdt).view(torch.int16).numpy().view(np.uint16).copy()
    if kind == "bf16":
        nan = np.isnan(f.numpy())
        r[nan] = ((u[nan] >> 16) & 0x8000).astype(np.uint16) | np.uint16(0x7fc0)
    return r


def hex16(t):
    return " ".join("%04x" % v for v in t.reshape(-1).view(torch.int16).numpy().view(np.uint16))


def ops_lines():
    import torch.nn.functional as F
    lines = []
    xs = torch.linspace(-4, 4, 97, dtype=torch.float64)
    ys = torch.linspace(0.05, 5, 97, dtype=torch.float64)
    unary = {
        "neg": torch.neg, "abs": torch.abs, "relu": torch.relu, "exp": torch.exp, "tanh": torch.tanh,
        "sigmoid": torch.sigmoid, "silu": F.silu, "gelu": F.gelu, "sin": torch.sin, "square": torch.square,
        "softplus": F.softplus, "erf": torch.erf,
    }
    positive = {"sqrt": torch.sqrt, "log": torch.log, "rsqrt": torch.rsqrt, "reciprocal": torch.reciprocal}
    binary = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "maximum": torch.maximum,
              "atan2": torch.atan2, "pow_tensor": lambda a, b: torch.pow(a.abs(), b)}
    for dname, tdt in (("f16", torch.float16), ("bf16", torch.bfloat16)):
        x = xs.to(tdt)
        y = ys.to(tdt)
        lines.append("input x %s 97 %s" % (dname, hex16(x)))
        lines.append("input y %s 97 %s" % (dname, hex16(y)))
        cases = [(n, (lambda f: lambda: f(x))(f)) for n, f in unary.items()]
        cases += [(n, (lambda f: lambda: f(y))(f)) for n, f in positive.items()]
        cases += [(n, (lambda f: lambda: f(x, y))(f)) for n, f in binary.items()]
        cases += [("sum_rows", lambda: x[:96].reshape(8, 12).sum(1)),
                  ("mean_cols", lambda: x[:96].reshape(8, 12).mean(0)),
                  ("matmul", lambda: x[:96].reshape(8, 12) @ y[:96].reshape(12, 8)),
                  ("linear", lambda: F.linear(x[:96].reshape(8, 12), y[:96].reshape(8, 12), x[:8]))]
        for name, fn in cases:
            try:
                lines.append("op %s %s %d %s" % (name, dname, fn().numel(), hex16(fn())))
            except RuntimeError as e:
                lines.append("skip %s %s %s" % (name, dname, str(e).splitlines()[0]))
        for name, fn in (("tanh", torch.tanh), ("sigmoid", torch.sigmoid), ("mul", lambda a: a * a), ("exp", torch.exp)):
            try:
                xl = x.clone().requires_grad_(True)
                (fn(xl) * y).sum().backward()
                lines.append("grad %s %s 97 %s" % (name, dname, hex16(xl.grad)))
            except RuntimeError as e:
                lines.append("skip grad_%s %s %s" % (name, dname, str(e).splitlines()[0]))
    return lines


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = [
        "# generated by tests/gen_half_reference.py with torch %s; do not edit" % torch.__version__,
        "to_f32 f16 65536 %s" % " ".join(fnv_blocks(to_f32_table(torch.float16))),
        "to_f32 bf16 65536 %s" % " ".join(fnv_blocks(to_f32_table(torch.bfloat16))),
    ]
    for kind in ("f16", "bf16"):
        r = from_f32_table(kind)
        out.append("from_f32 %s %d %s" % (kind, len(r), " ".join(fnv_blocks(r))))
    out += ops_lines()
    path = os.path.join(root, "tests", "data", "half_reference.txt")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    print("wrote", path, file=sys.stderr)


if __name__ == "__main__":
    main()
