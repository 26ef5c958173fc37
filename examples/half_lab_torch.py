"""half_lab_torch.py - examples/half_lab.c's lab in PyTorch, on the same inputs.

The Linear(64->600) lab of shared/seeds 004 (parts D and E): y = F.linear(x, W, b),
loss = 0.5 * ((y - target) ** 2).sum(), loss.backward(), and the manual formulas
dy = y - target, dx = dy @ W, dW = dy.T @ x, db = dy.sum(0) under torch.no_grad().
It runs in float64 (the reference), float32, bfloat16 and float16, on the 20 runs' F32 inputs
that `half_lab --save FILE` wrote, and prints the table half_lab.c prints:

    abs = max|a - r|, rel = max|a - r| / max|r| against the float64 run;
    autograd vs manual = max|autograd - manual|, both in the row's dtype;
    each cell the median / max over the 20 runs (numpy.median: the mean of the middle two).

PyTorch 1.13 on the CPU has no float16 addmm ("addmm_impl_cpu_" not implemented for 'Half'):
its rows then say "not run" with the message.

    make build/examples/half_lab
    build/examples/half_lab --save build/half_lab_inputs.safetensors
    /usr/bin/python3 examples/half_lab_torch.py build/half_lab_inputs.safetensors

The file is read without the safetensors package: an 8-byte little-endian header length,
that many bytes of JSON, then the raw little-endian data at each tensor's data_offsets.
"""
import json
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

RUNS = 20
DTYPES = [("float64", torch.float64), ("float32", torch.float32),
          ("float16", torch.float16), ("bfloat16", torch.bfloat16)]
QUANTITIES = ["y", "dx", "dW", "db"]


def read_safetensors(path):
    """{name: numpy array} of an F32/F64 safetensors file"""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = {"F32": "<f4", "F64": "<f8"}[info["dtype"]]
        begin, end = info["data_offsets"]
        out[name] = np.frombuffer(blob[base + begin:base + end], dtype=dt).reshape(info["shape"]).copy()
    return out


def read_inputs(path):
    """the runs' (x, W, b, target) as float32 numpy arrays"""
    t = read_safetensors(path)
    return [tuple(t["%s.%d" % (k, r)] for k in ("x", "W", "b", "target")) for r in range(RUNS)]


def lab(inputs, dtype):
    """(values, manual errors): values[q] the float64 numpy array of y, dx, dW, db;
    manual[q] = max|autograd - manual| in dtype (0 for y)"""
    x, W, b, t = (torch.from_numpy(a).to(dtype) for a in inputs)
    for leaf in (x, W, b):
        leaf.requires_grad_(True)
    y = F.linear(x, W, b)
    loss = 0.5 * ((y - t) ** 2).sum()
    with torch.no_grad():
        dy = y - t
        man = [y, dy @ W, dy.T @ x, dy.sum(dim=0)]
    loss.backward()
    got = [y.detach(), x.grad, W.grad, b.grad]
    for g in got:
        assert g.dtype == dtype, (g.dtype, dtype)
    values = [g.to(torch.float64).numpy() for g in got]
    manual = [float((g.to(torch.float64) - m.to(torch.float64)).abs().max()) for g, m in zip(got, man)]
    return values, manual, float(loss)


def measure(runs):
    """{dtype name: None if PyTorch cannot run it (with the reason in skipped), else
    {"abs"|"rel"|"man": [[per run] for each quantity]}}, and the reasons"""
    res, skipped = {}, {}
    for r, inputs in enumerate(runs):
        ref = None
        for name, dtype in DTYPES:
            if name in skipped:
                continue
            try:
                values, manual, _ = lab(inputs, dtype)
            except RuntimeError as e:   # float16 on the CPU in PyTorch 1.13
                skipped[name] = str(e).splitlines()[0]
                continue
            if ref is None:
                ref = values   # float64 comes first
            d = res.setdefault(name, {"abs": [[] for _ in QUANTITIES], "rel": [[] for _ in QUANTITIES],
                                      "man": [[] for _ in QUANTITIES]})
            for q in range(len(QUANTITIES)):
                a = float(np.abs(values[q] - ref[q]).max())
                d["abs"][q].append(a)
                d["rel"][q].append(a / float(np.abs(ref[q]).max()))
                d["man"][q].append(manual[q])
    return res, skipped


def cell(v):
    return "%.2e / %.2e" % (float(np.median(v)), float(np.max(v)))


def main():
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(sys.argv) == 2 else 2
    torch.set_num_threads(1)
    res, skipped = measure(read_inputs(sys.argv[1]))
    print("seed 004 part E in PyTorch %s: the Linear(64->600) lab, %d runs, inputs from %s" % (torch.__version__, RUNS, sys.argv[1]))
    print("error against the float64 run: abs = max|a - r|, rel = max|a - r| / max|r|; autograd vs manual: max|autograd - manual|,")
    print("both in the row's dtype (part D/E); each cell: median / max over the %d runs\n" % RUNS)
    print("%-9s %-3s %-21s %-21s %s" % ("dtype", "", "abs error vs F64", "rel error vs F64", "autograd vs manual"))
    for name, _ in DTYPES:
        if name in skipped:
            print("%-9s     not run: %s" % (name, skipped[name]))
            continue
        d = res[name]
        for q, qn in enumerate(QUANTITIES):
            print("%-9s %-3s %s   %s   %s" % (name, qn, cell(d["abs"][q]), cell(d["rel"][q]), "-" if qn == "y" else cell(d["man"][q])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
