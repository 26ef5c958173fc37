#!/usr/bin/python3
"""gen_reference.py - PyTorch reference data for tests/test_reference.c.

Run from the repository root with Debian's python3-torch:

    /usr/bin/python3 tests/gen_reference.py        # writes tests/data/reference.txt

Deterministic: fixed seeds, so rerunning gives the same file (the data is
committed; `make test` needs no Python).

Every case records the op's inputs, its forward output, a random upstream
gradient ("seed") of the output's shape, and torch's float64 gradient of
every input that requires grad (the vector-Jacobian product with that seed).
Inputs and seeds are float32-representable numbers, so the F32 and F64 runs
of the C test start from exactly the numbers torch used; the outputs and
gradients are computed in float64.

FILE FORMAT (whitespace-separated tokens, one record per line)

    case <name> <op>                 starts a case
    ints <n> <i1> ... <in>           integer parameters (dims, shapes, indices, flags)
    reals <n> <r1> ... <rn>          real parameters (exponent, eps, bounds), shortest float64 repr
    in <rg> <ndim> <d1..dndim> <values...>    an input; rg 1 = requires grad; values are
                                     float32 shortest repr (parse with strtof)
    out <ndim> <dims> <values...>    forward output, float64 repr (parse with strtod)
    seed <ndim> <dims> <values...>   upstream gradient, float32 shortest repr (strtof)
    grad <ndim> <dims> <values...>   gradient of the k-th requires-grad input, float64 repr
    end

Values are row-major. A case with no `seed` is forward-only (argmax).
The meaning of ints/reals per op is in the comment next to each group below
and in apply_op() in tests/test_reference.c.
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
torch.manual_seed(0)
GEN = torch.Generator().manual_seed(20240611)

F64 = torch.float64


def f32(t):
    """Round to the nearest float32, keep float64 (so torch computes in F64 on F32 values)."""
    return t.to(torch.float32).to(F64)


def randn(*shape, scale=1.0):
    return f32(torch.randn(tuple(shape), generator=GEN, dtype=F64) * scale)


def uniform(lo, hi, *shape):
    return f32(lo + (hi - lo) * torch.rand(tuple(shape), generator=GEN, dtype=F64))


def away(*shape, lo=0.1, hi=2.0):
    """Random sign, magnitude in [lo, hi]: away from 0 (abs, relu, div denominators)."""
    mag = lo + (hi - lo) * torch.rand(tuple(shape), generator=GEN, dtype=F64)
    sign = torch.where(torch.rand(tuple(shape), generator=GEN, dtype=F64) < 0.5, -1.0, 1.0)
    return f32(mag * sign)


def away_from_bounds(x, bounds, margin):
    """Push any value within margin of a bound to bound +- 2 margin."""
    x = x.clone()
    for b in bounds:
        close = (x - b).abs() < margin
        x[close] = torch.where(x[close] >= b, b + 2 * margin, b - 2 * margin)
    return f32(x)


def fmt32(v):
    s = str(np.float32(v))
    assert float(np.float32(s)) == float(np.float32(v)), (s, v)
    return s


def fmt64(v):
    return repr(float(v))


def tensor_line(tag, t, f, prefix=()):
    t = t.detach()
    shape = list(t.shape)
    vals = t.reshape(-1).tolist()
    parts = [tag] + [str(p) for p in prefix] + [str(len(shape))] + [str(d) for d in shape]
    parts += [f(v) for v in vals]
    return " ".join(parts)


CASES = []
NAMES = set()


def case(name, op, inputs, fn, ints=(), reals=(), rg=None, backward=True):
    """inputs: float64 tensors holding float32-representable values; fn(*leaves) -> output."""
    assert name not in NAMES, name
    NAMES.add(name)
    if rg is None:
        rg = [True] * len(inputs)
    for x in inputs:
        assert x.dtype == F64 and torch.equal(f32(x), x), name
    leaves = [x.clone().requires_grad_(bool(r)) for x, r in zip(inputs, rg)]
    out = fn(*leaves)
    lines = ["case %s %s" % (name, op),
             "ints %d%s" % (len(ints), "".join(" %d" % i for i in ints)),
             "reals %d%s" % (len(reals), "".join(" " + fmt64(r) for r in reals))]
    for x, r in zip(inputs, rg):
        lines.append(tensor_line("in", x, fmt32, prefix=(int(bool(r)),)))
    lines.append(tensor_line("out", out.to(F64), fmt64))
    if backward:
        if op == "lab":
            seed = torch.ones((), dtype=F64)      # the lab calls loss.backward()
        else:
            seed = randn(*out.shape)
        want = [l for l in leaves if l.requires_grad]
        grads = torch.autograd.grad(out, want, seed.to(out.dtype))
        lines.append(tensor_line("seed", seed, fmt32))
        for g in grads:
            assert g.dtype == F64
            lines.append(tensor_line("grad", g, fmt64))
    lines.append("end")
    CASES.append("\n".join(lines))


def no_ties(*ts, gap=1e-2):
    """True if broadcast elements of a and b differ by more than gap (maximum/minimum)."""
    a, b = torch.broadcast_tensors(*ts)
    return bool(((a - b).abs() > gap).all())


# ---------------------------------------------------------------- binary, broadcasting
# no ints, no reals
BCAST = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((5,), ()), ((), (2, 3)),
         ((4, 1), (1, 5)), ((2, 3, 4), (1, 3, 1))]
BINARY = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
          "maximum": torch.maximum, "minimum": torch.minimum}
for op, fn in BINARY.items():
    for k, (sa, sb) in enumerate(BCAST):
        while True:
            a = randn(*sa)
            b = away(*sb, lo=0.5, hi=2.0) if op == "div" else randn(*sb)
            if op not in ("maximum", "minimum") or no_ties(a, b):
                break
        case("%s_%d" % (op, k), op, [a, b], fn)
# the same input twice (gradients from both operands accumulate)
x = randn(3, 4)
case("mul_self", "mul_self", [x], lambda x: x * x)

# ---------------------------------------------------------------- elementwise, one input
# reals: [exponent]
POW = [(2.0, "any"), (3.0, "any"), (1.0, "any"), (0.5, "pos"), (-1.0, "away"), (-2.5, "pos"),
       (1.7, "pos"), (0.0, "pos"), (-2.0, "away")]
for k, (e, dom) in enumerate(POW):
    x = {"any": randn(3, 4), "pos": uniform(0.3, 3.0, 3, 4), "away": away(3, 4, lo=0.5)}[dom]
    case("pow_%d" % k, "pow", [x], lambda x, e=e: torch.pow(x, e), reals=[e])
case("pow_0d", "pow", [randn()], lambda x: torch.pow(x, 2.0), reals=[2.0])

# reals: [s]
for k, s in enumerate([2.5, -0.75]):
    case("add_scalar_%d" % k, "add_scalar", [randn(3, 4)], lambda x, s=s: x + s, reals=[s])
for k, s in enumerate([-1.5, 0.3]):
    case("mul_scalar_%d" % k, "mul_scalar", [randn(3, 4)], lambda x, s=s: x * s, reals=[s])

UNARY = [("neg", torch.neg, lambda: randn(3, 4)),
         ("exp", torch.exp, lambda: uniform(-2.0, 2.0, 3, 4)),
         ("log", torch.log, lambda: uniform(0.2, 3.0, 3, 4)),
         ("sqrt", torch.sqrt, lambda: uniform(0.2, 3.0, 3, 4)),
         ("abs", torch.abs, lambda: away(3, 4, lo=0.05)),
         ("tanh", torch.tanh, lambda: randn(3, 4, scale=1.5)),
         ("sigmoid", torch.sigmoid, lambda: randn(3, 4, scale=2.0)),
         ("relu", torch.relu, lambda: away(3, 4, lo=0.05)),
         ("gelu", F.gelu, lambda: randn(3, 4, scale=2.0)),
         ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), lambda: randn(3, 4, scale=2.0)),
         ("silu", F.silu, lambda: randn(3, 4, scale=2.0)),
         ("erf", torch.erf, lambda: randn(3, 4, scale=1.5))]
for op, fn, mk in UNARY:
    case(op + "_0", op, [mk()], fn)
    case(op + "_1", op, [mk().reshape(2, 3, 2)], fn)     # another shape
case("exp_0d", "exp", [randn()], torch.exp)
case("tanh_1d", "tanh", [randn(17)], torch.tanh)
case("sigmoid_big", "sigmoid", [f32(torch.tensor([-30.0, -12.0, -3.0, 0.5, 4.0, 15.0, 40.0]))], torch.sigmoid)

# reals: [negative_slope]
for k, s in enumerate([0.01, 0.2]):
    case("leaky_relu_%d" % k, "leaky_relu", [away(3, 4, lo=0.05)],
         lambda x, s=s: F.leaky_relu(x, s), reals=[s])

# reals: [lo, hi]
for k, (lo, hi) in enumerate([(-0.5, 0.8), (0.0, 1.0), (-1.0, float("inf"))]):
    x = away_from_bounds(randn(4, 5, scale=1.5), [lo, hi], 0.02)
    case("clamp_%d" % k, "clamp", [x], lambda x, lo=lo, hi=hi: torch.clamp(x, lo, hi), reals=[lo, hi])

# ---------------------------------------------------------------- reductions
# full: no ints; var: ints [correction]
for shape in [(3, 4, 5), (7,)]:
    tag = "x".join(str(d) for d in shape)
    case("sum_" + tag, "sum", [randn(*shape)], torch.sum)
    case("mean_" + tag, "mean", [randn(*shape)], torch.mean)
    case("max_" + tag, "max", [randn(*shape)], torch.amax)
    case("min_" + tag, "min", [randn(*shape)], torch.amin)
    for c in (0, 1):
        case("var_c%d_%s" % (c, tag), "var", [randn(*shape)],
             lambda x, c=c: torch.var(x, unbiased=bool(c)), ints=[c])
case("sum_0d", "sum", [randn()], torch.sum)
case("mean_0d", "mean", [randn()], torch.mean)

# _dim: ints [dim, keepdim]; var_dim: ints [dim, keepdim, correction]
DIMFN = {"sum_dim": lambda x, d, k: torch.sum(x, d, keepdim=k),
         "mean_dim": lambda x, d, k: torch.mean(x, d, keepdim=k),
         "max_dim": lambda x, d, k: torch.max(x, d, keepdim=k).values,
         "min_dim": lambda x, d, k: torch.min(x, d, keepdim=k).values}
for op, fn in DIMFN.items():
    for d in (0, 1, 2, -1, -3):
        for k in (False, True):
            case("%s_%d_%d" % (op, d, k), op, [randn(3, 4, 5)],
                 lambda x, d=d, k=k, fn=fn: fn(x, d, k), ints=[d, int(k)])
    case("%s_1d" % op, op, [randn(6)], lambda x, fn=fn: fn(x, 0, False), ints=[0, 0])
    case("%s_2d" % op, op, [randn(4, 3)], lambda x, fn=fn: fn(x, -1, True), ints=[-1, 1])
for d in (0, 1, -1):
    for k in (False, True):
        for c in (0, 1):
            case("var_dim_%d_%d_c%d" % (d, k, c), "var_dim", [randn(3, 4, 5)],
                 lambda x, d=d, k=k, c=c: torch.var(x, d, correction=c, keepdim=k), ints=[d, int(k), c])
case("var_dim_1d", "var_dim", [randn(6)],
     lambda x: torch.var(x, 0, correction=1, keepdim=False), ints=[0, 0, 1])

# argmax: ints [dim, keepdim]; forward only (values are float indices)
for d in (0, 1, -1):
    for k in (False, True):
        case("argmax_%d_%d" % (d, k), "argmax", [randn(3, 4, 5)],
             lambda x, d=d, k=k: torch.argmax(x, d, keepdim=k).to(F64),
             ints=[d, int(k)], rg=[False], backward=False)

# ---------------------------------------------------------------- linear algebra
# matmul: no ints
MATMUL = [((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 5)), ((3, 4), (4, 5)), ((2, 3, 4), (4, 5)),
          ((2, 1, 3, 4), (5, 4, 2)), ((2, 3, 4), (2, 4, 5)), ((4,), (2, 4, 5)), ((2, 3, 4), (4,)),
          ((1, 1), (1, 1)), ((7, 17), (17, 9))]
for k, (sa, sb) in enumerate(MATMUL):
    case("matmul_%d" % k, "matmul", [randn(*sa), randn(*sb)], torch.matmul)
# linear: inputs x, W[, b]
case("linear_bias", "linear", [randn(3, 4), randn(5, 4), randn(5)], F.linear)
case("linear_nobias", "linear", [randn(3, 4), randn(5, 4)], F.linear)
case("linear_batched", "linear", [randn(2, 3, 4), randn(5, 4), randn(5)], F.linear)
case("linear_1d", "linear", [randn(4), randn(5, 4), randn(5)], F.linear)

# ---------------------------------------------------------------- shape
# reshape, expand: ints = the new shape
for k, (s, ns) in enumerate([((3, 4), (2, 6)), ((2, 3, 4), (4, -1)), ((2, 3), (6,)), ((6,), (1, 2, 3)),
                             ((), (1, 1)), ((1,), ())]):
    case("reshape_%d" % k, "reshape", [randn(*s)], lambda x, ns=ns: x.reshape(ns), ints=list(ns))
for k, (s, ns) in enumerate([((3, 1), (3, 4)), ((4,), (2, 3, 4)), ((3, 1), (2, -1, 5)), ((), (2, 3))]):
    case("expand_%d" % k, "expand", [randn(*s)], lambda x, ns=ns: x.expand(*ns), ints=list(ns))
# transpose: ints [d0, d1]
for k, (s, d0, d1) in enumerate([((3, 4), 0, 1), ((2, 3, 4), -1, 0), ((2, 3, 4), 1, 2), ((3, 4), 1, 1)]):
    case("transpose_%d" % k, "transpose", [randn(*s)],
         lambda x, d0=d0, d1=d1: x.transpose(d0, d1), ints=[d0, d1])
# permute: ints = perm
for k, p in enumerate([(2, 0, 1), (1, 2, 0), (0, 1, 2)]):
    case("permute_%d" % k, "permute", [randn(2, 3, 4)], lambda x, p=p: x.permute(*p), ints=list(p))
# squeeze, unsqueeze: ints [dim]
for k, (s, d) in enumerate([((3, 1, 4), 1), ((3, 1, 4), -2), ((3, 4), 0), ((1,), 0)]):
    case("squeeze_%d" % k, "squeeze", [randn(*s)], lambda x, d=d: x.squeeze(d), ints=[d])
for k, (s, d) in enumerate([((3, 4), 0), ((3, 4), 2), ((3, 4), -1), ((3, 4), -3), ((), 0)]):
    case("unsqueeze_%d" % k, "unsqueeze", [randn(*s)], lambda x, d=d: x.unsqueeze(d), ints=[d])
# slice: ints [dim, start, end, step] (Python rules)
BIG = 2 ** 62
def pyslice(x, d, a, b, st):
    idx = [slice(None)] * x.dim()
    idx[d] = slice(a, b, st)
    return x[tuple(idx)]
for k, (d, a, b, st) in enumerate([(1, 1, 5, 2), (0, -3, BIG, 1), (-1, 0, 6, 3), (0, 0, 5, 1),
                                   (1, -100, 4, 1), (0, 1, 2, 1), (1, 2, -1, 1)]):
    case("slice_%d" % k, "slice", [randn(5, 6)],
         lambda x, d=d, a=a, b=b, st=st: pyslice(x, d, a, b, st), ints=[d, a, b, st])
# narrow: ints [dim, start, length]
for k, (d, a, n) in enumerate([(0, 1, 3), (-1, 2, 2), (1, 0, 6)]):
    case("narrow_%d" % k, "narrow", [randn(5, 6)], lambda x, d=d, a=a, n=n: x.narrow(d, a, n), ints=[d, a, n])
# contiguous: none
case("contiguous_0", "contiguous", [randn(3, 4)], lambda x: x.contiguous())
case("contiguous_1", "contiguous", [randn(2, 3, 4)], lambda x: x.contiguous())
# cat, stack: inputs = the list; ints [dim]
for k, (shapes, d) in enumerate([([(2, 3), (1, 3), (4, 3)], 0), ([(2, 3), (2, 5)], 1),
                                 ([(2, 3), (2, 1), (2, 2)], -1), ([(2, 2, 3), (2, 1, 3)], 1), ([(4,)], 0)]):
    case("cat_%d" % k, "cat", [randn(*s) for s in shapes], lambda *xs, d=d: torch.cat(xs, d), ints=[d])
for k, (n, s, d) in enumerate([(3, (2, 3), 0), (2, (2, 3), 1), (3, (2, 3), -1), (2, (2, 3), 2), (2, (), 0)]):
    case("stack_%d" % k, "stack", [randn(*s) for _ in range(n)], lambda *xs, d=d: torch.stack(xs, d), ints=[d])
# gather_rows: ints = the row indices (repeats accumulate)
for k, (s, idx) in enumerate([((5, 3), [4, 0, 4, 2, 1, 4]), ((6,), [5, 5, 0, 3]), ((5, 2, 3), [1, 3, 1])]):
    case("gather_rows_%d" % k, "gather_rows", [randn(*s)],
         lambda x, idx=idx: x[torch.tensor(idx, dtype=torch.long)], ints=idx)

# ---------------------------------------------------------------- neural-network pieces
# softmax, log_softmax: ints [dim]
for op, fn in (("softmax", torch.softmax), ("log_softmax", torch.log_softmax)):
    for d in (0, 1, -1, 2):
        case("%s_%d" % (op, d), op, [randn(3, 4, 5, scale=2.0)], lambda x, d=d, fn=fn: fn(x, d), ints=[d])
    case("%s_1d" % op, op, [randn(6, scale=2.0)], lambda x, fn=fn: fn(x, 0), ints=[0])
    case("%s_big" % op, op, [f32(torch.tensor([[100.0, 101.0, 99.5], [-50.0, -52.0, -49.0]]))],
         lambda x, fn=fn: fn(x, -1), ints=[-1])
# cross_entropy: ints = targets (N of them, or 1 for a [C] input)
case("cross_entropy_0", "cross_entropy", [randn(4, 5, scale=2.0)],
     lambda x: F.cross_entropy(x, torch.tensor([1, 0, 4, 1])), ints=[1, 0, 4, 1])
case("cross_entropy_1", "cross_entropy", [randn(1, 3)],
     lambda x: F.cross_entropy(x, torch.tensor([2])), ints=[2])
case("cross_entropy_1d", "cross_entropy", [randn(5, scale=2.0)],
     lambda x: F.cross_entropy(x, torch.tensor(3)), ints=[3])
case("cross_entropy_big", "cross_entropy", [f32(torch.tensor([[80.0, 81.0, 79.0], [-40.0, -45.0, -41.0]]))],
     lambda x: F.cross_entropy(x, torch.tensor([0, 2])), ints=[0, 2])
# mse_loss, bce_with_logits: inputs (a, b) / (logits, targets)
case("mse_loss_0", "mse_loss", [randn(3, 4), randn(3, 4)], F.mse_loss)
case("mse_loss_1", "mse_loss", [randn(7), randn(7)], F.mse_loss)
case("bce_with_logits_0", "bce_with_logits", [randn(3, 4, scale=2.0), uniform(0.0, 1.0, 3, 4)],
     F.binary_cross_entropy_with_logits, rg=[True, False])
case("bce_with_logits_1", "bce_with_logits", [randn(3, 4, scale=2.0), uniform(0.0, 1.0, 3, 4)],
     F.binary_cross_entropy_with_logits, rg=[True, True])
case("bce_with_logits_big", "bce_with_logits",
     [f32(torch.tensor([-60.0, -20.0, -1.0, 0.5, 20.0, 60.0])), f32(torch.tensor([0.0, 1.0, 0.25, 0.5, 0.0, 1.0]))],
     F.binary_cross_entropy_with_logits, rg=[True, False])
# layer_norm: inputs x[, weight][, bias]; ints [has_weight, has_bias]; reals [eps]
for k, (s, hw, hb, eps) in enumerate([((3, 5), 1, 1, 1e-5), ((2, 3, 4), 1, 1, 1e-5), ((3, 5), 0, 0, 1e-5),
                                      ((3, 5), 1, 0, 1e-5), ((4, 6), 0, 1, 1e-3), ((8,), 1, 1, 1e-5)]):
    n = s[-1]
    ins = [randn(*s, scale=2.0)]
    if hw:
        ins.append(randn(n))
    if hb:
        ins.append(randn(n))
    def ln(x, *wb, hw=hw, hb=hb, n=n, eps=eps):
        w = wb[0] if hw else None
        b = wb[-1] if hb else None
        return F.layer_norm(x, (n,), w, b, eps)
    case("layer_norm_%d" % k, "layer_norm", ins, ln, ints=[hw, hb], reals=[eps])

# ---------------------------------------------------------------- dtype conversion
# to: ints [target dtype: 0 = F32, 1 = F64]; the C test runs the input in both dtypes
case("to_f32", "to", [randn(3, 4)], lambda x: x.to(torch.float32), ints=[0])
case("to_f64", "to", [randn(3, 4)], lambda x: x.to(F64) * 1.0, ints=[1])

# ---------------------------------------------------------------- a small composite graph
# reuse of one input along several paths, softmax into matmul, mean
a, w = randn(4, 3), randn(3, 3)
case("composite_0", "composite", [a, w],
     lambda a, w: torch.tanh(torch.softmax(a @ w, -1) @ w.t() + a).mean(0))

# ---------------------------------------------------------------- the seeds' lab (004)
# x (2,64), W (600,64), b (600), target (2,600) ~ randn with torch.manual_seed(42), float32
# y = linear(x, W, b); L = 0.5 * ((y - target) ** 2).sum(); backward from L (seed 1)
torch.manual_seed(42)
lx = torch.randn(2, 64, dtype=torch.float32)
lW = torch.randn(600, 64, dtype=torch.float32)
lb = torch.randn(600, dtype=torch.float32)
lt = torch.randn(2, 600, dtype=torch.float32)
assert lx.dtype == torch.float32
case("lab_seed42", "lab", [lx.to(F64), lW.to(F64), lb.to(F64), lt.to(F64)],
     lambda x, W, b, t: 0.5 * ((F.linear(x, W, b) - t) ** 2).sum(), rg=[True, True, True, False])

# ---------------------------------------------------------------- ops added later (appended, so
# the random draws of the cases above stay the same)
# softplus: reals [beta, threshold]; inputs on both sides of the threshold
for k, (beta, thr) in enumerate([(1.0, 20.0), (2.0, 3.0), (0.5, 1.0)]):
    x = away_from_bounds(randn(4, 5, scale=4.0), [thr / beta], 0.05)
    case("softplus_%d" % k, "softplus", [x], lambda x, b=beta, t=thr: F.softplus(x, b, t), reals=[beta, thr])

# trigonometric, hyperbolic, exponential and rounding functions, each in its domain
UNARY2 = [("sin", torch.sin, lambda: randn(3, 4, scale=2.0)), ("cos", torch.cos, lambda: randn(3, 4, scale=2.0)),
          ("tan", torch.tan, lambda: uniform(-1.2, 1.2, 3, 4)), ("asin", torch.asin, lambda: uniform(-0.95, 0.95, 3, 4)),
          ("acos", torch.acos, lambda: uniform(-0.95, 0.95, 3, 4)), ("atan", torch.atan, lambda: randn(3, 4, scale=2.0)),
          ("sinh", torch.sinh, lambda: randn(3, 4, scale=2.0)), ("cosh", torch.cosh, lambda: randn(3, 4, scale=2.0)),
          ("asinh", torch.asinh, lambda: randn(3, 4, scale=3.0)), ("acosh", torch.acosh, lambda: uniform(1.05, 5.0, 3, 4)),
          ("atanh", torch.atanh, lambda: uniform(-0.95, 0.95, 3, 4)), ("log2", torch.log2, lambda: uniform(0.1, 8.0, 3, 4)),
          ("log10", torch.log10, lambda: uniform(0.1, 8.0, 3, 4)), ("log1p", torch.log1p, lambda: uniform(-0.9, 3.0, 3, 4)),
          ("exp2", torch.exp2, lambda: randn(3, 4, scale=2.0)), ("expm1", torch.expm1, lambda: randn(3, 4, scale=1e-3)),
          ("rsqrt", torch.rsqrt, lambda: uniform(0.1, 4.0, 3, 4)), ("reciprocal", torch.reciprocal, lambda: away(3, 4, lo=0.2)),
          ("square", torch.square, lambda: randn(3, 4)), ("floor", torch.floor, lambda: randn(3, 4, scale=3.0)),
          ("ceil", torch.ceil, lambda: randn(3, 4, scale=3.0)), ("round", torch.round, lambda: randn(3, 4, scale=3.0)),
          ("trunc", torch.trunc, lambda: randn(3, 4, scale=3.0)), ("frac", torch.frac, lambda: randn(3, 4, scale=3.0)),
          ("softsign", F.softsign, lambda: randn(3, 4, scale=2.0)), ("logsigmoid", F.logsigmoid, lambda: randn(3, 4, scale=5.0))]
for op, fn, mk in UNARY2:
    case(op + "_0", op, [mk()], fn)
case("round_halves", "round", [f32(torch.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5]))], torch.round)
case("logsigmoid_big", "logsigmoid", [f32(torch.tensor([-80.0, -30.0, 0.0, 30.0, 80.0]))], F.logsigmoid)

# activations; reals: elu/celu [alpha], hardtanh [min, max]
for k, al in enumerate([1.0, 0.5]):
    case("elu_%d" % k, "elu", [away(3, 4, lo=0.05)], lambda x, al=al: F.elu(x, al), reals=[al])
# alpha 0.5: PyTorch's F64 celu divides by alpha in float32 (1/0.7 is off by 1.7e-8); 1/0.5 is exact
case("celu_0", "celu", [away(3, 4, lo=0.05)], lambda x: F.celu(x, 0.5), reals=[0.5])
case("hardtanh_0", "hardtanh", [away_from_bounds(randn(4, 5, scale=1.5), [-0.5, 0.8], 0.02)],
     lambda x: F.hardtanh(x, -0.5, 0.8), reals=[-0.5, 0.8])
for op, fn, mk in [("selu", F.selu, lambda: away(3, 4, lo=0.05)),
                   ("relu6", F.relu6, lambda: away_from_bounds(randn(4, 5, scale=5.0), [0.0, 6.0], 0.05)),
                   # PyTorch's F64 hardsigmoid backward uses a float32 1/6: the same function written exactly
                   ("hardsigmoid", lambda x: torch.clamp(x / 6 + 0.5, 0.0, 1.0),
                    lambda: away_from_bounds(randn(4, 5, scale=4.0), [-3.0, 3.0], 0.05)),
                   ("hardswish", F.hardswish, lambda: away_from_bounds(randn(4, 5, scale=4.0), [-3.0, 3.0], 0.05)),
                   ("mish", F.mish, lambda: randn(4, 5, scale=3.0))]:
    case(op + "_0", op, [mk()], fn)

# binary ops with broadcasting; rsub/rdiv: reals [s]; lerp: three inputs
case("atan2_0", "atan2", [randn(3, 4), away(4, lo=0.2)], torch.atan2)
case("hypot_0", "hypot", [randn(3, 4), randn(1, 4)], torch.hypot)
case("logaddexp_0", "logaddexp", [randn(3, 4, scale=3.0), randn(3, 1, scale=3.0)], torch.logaddexp)
case("fmod_0", "fmod", [randn(3, 4, scale=4.0), uniform(0.7, 1.3, 3, 4)], torch.fmod)
case("remainder_0", "remainder", [randn(3, 4, scale=4.0), uniform(0.7, 1.3, 3, 4)], torch.remainder)
case("remainder_neg", "remainder", [randn(3, 4, scale=4.0), uniform(-1.3, -0.7, 3, 4)], torch.remainder)
case("pow_tensor_0", "pow_tensor", [uniform(0.3, 3.0, 3, 4), randn(3, 4)], torch.pow)
case("pow_tensor_scalar_base", "pow_tensor", [f32(torch.tensor(2.5, dtype=F64)), randn(3, 4)], torch.pow)
case("lerp_0", "lerp", [randn(3, 4), randn(3, 4), uniform(0.0, 1.0, 4)], torch.lerp)
case("rsub_scalar_0", "rsub_scalar", [randn(3, 4)], lambda x: 3.0 - x, reals=[3.0])
case("rdiv_scalar_0", "rdiv_scalar", [away(3, 4, lo=0.2)], lambda x: 2.0 / x, reals=[2.0])
case("rpow_scalar_0", "rpow_scalar", [randn(3, 4)], lambda x: 2.5 ** x, reals=[2.5])
case("rpow_scalar_half", "rpow_scalar", [randn(3, 4)], lambda x: torch.pow(0.5, x), reals=[0.5])
case("sign_0", "sign", [away(3, 4, lo=0.2)], torch.sign)

# logsumexp, cumsum: ints [dim, keepdim] / [dim]; std_dim: ints [dim, keepdim, correction]
case("logsumexp_0", "logsumexp", [randn(3, 4, scale=3.0)], lambda x: torch.logsumexp(x, 1), ints=[1, 0])
case("logsumexp_1", "logsumexp", [randn(2, 3, 4)], lambda x: torch.logsumexp(x, 0, keepdim=True), ints=[0, 1])
case("logsumexp_big", "logsumexp", [f32(torch.tensor([[1e4, 1e4, 0.0], [-1e4, -2e4, -3e4]]))], lambda x: torch.logsumexp(x, -1), ints=[-1, 0])
case("std_dim_0", "std_dim", [randn(3, 5)], lambda x: torch.std(x, 1), ints=[1, 0, 1])
case("cumsum_0", "cumsum", [randn(3, 4)], lambda x: torch.cumsum(x, 1), ints=[1])
case("cumsum_1", "cumsum", [randn(2, 3, 4)], lambda x: torch.cumsum(x, 0), ints=[0])
for d, k in ((0, False), (-1, True)):
    case("argmin_%d_%d" % (d, k), "argmin", [randn(3, 4, 5)], lambda x, d=d, k=k: torch.argmin(x, d, keepdim=k).to(F64),
         ints=[d, int(k)], rg=[False], backward=False)
# tril, triu: ints [diagonal]
case("tril_0", "tril", [randn(3, 4)], lambda x: torch.tril(x), ints=[0])
case("tril_neg", "tril", [randn(2, 4, 3)], lambda x: torch.tril(x, -1), ints=[-1])
case("triu_0", "triu", [randn(4, 3)], lambda x: torch.triu(x), ints=[0])
case("triu_2", "triu", [randn(2, 3, 5)], lambda x: torch.triu(x, 2), ints=[2])
# flip: ints [ndims, dims...]; roll: ints [shift, dim]
case("flip_0", "flip", [randn(2, 3, 4)], lambda x: torch.flip(x, [0, -1]), ints=[2, 0, -1])
case("flip_1", "flip", [randn(3, 4)], lambda x: torch.flip(x, [1]), ints=[1, 1])
case("roll_0", "roll", [randn(3, 4)], lambda x: torch.roll(x, 2, 1), ints=[2, 1])
case("roll_neg", "roll", [randn(3, 4)], lambda x: torch.roll(x, -5, 0), ints=[-5, 0])
case("argmin_ties", "argmin", [f32(torch.tensor([[2.0, -1.0, -1.0, 3.0], [0.5, 0.5, 0.5, 0.5]]))],
     lambda x: torch.argmin(x, 1).to(F64), ints=[1, 0], rg=[False], backward=False)

# ---- ops built from other ops (appended: earlier cases keep their random draws) ----
# select: ints [dim, index]; flatten: [start, end]; unflatten: [dim, sizes...]; movedim: [src, dst]
case("select_0", "select", [randn(2, 3, 4)], lambda x: x.select(1, -1), ints=[1, -1])
case("flatten_0", "flatten", [randn(2, 3, 2, 2)], lambda x: torch.flatten(x, 1, 2), ints=[1, 2])
case("unflatten_0", "unflatten", [randn(3, 4)], lambda x: torch.unflatten(x, 1, (2, -1)), ints=[1, 2, -1])
case("movedim_0", "movedim", [randn(2, 3, 4)], lambda x: torch.movedim(x, 0, 2), ints=[0, 2])
# split: ints [dim, sizes...], chunk: [dim, chunks], unbind: [dim]; the output is the pieces in
# reverse order, concatenated (unbind: stacked) along dim
case("split_0", "split", [randn(3, 5)], lambda x: torch.cat(list(reversed(torch.split(x, [1, 3, 1], 1))), 1), ints=[1, 1, 3, 1])
case("chunk_0", "chunk", [randn(3, 5)], lambda x: torch.cat(list(reversed(torch.chunk(x, 3, -1))), -1), ints=[-1, 3])
case("chunk_1", "chunk", [randn(7, 2)], lambda x: torch.cat(list(reversed(torch.chunk(x, 4, 0))), 0), ints=[0, 4])
case("unbind_0", "unbind", [randn(4, 3)], lambda x: torch.stack(list(reversed(torch.unbind(x, 1))), 1), ints=[1])
# repeat: ints [repeats...]
case("repeat_0", "repeat", [randn(2, 3)], lambda x: x.repeat(2, 1, 3), ints=[2, 1, 3])
case("repeat_1", "repeat", [randn(3, 1, 2)], lambda x: x.repeat(1, 4, 2), ints=[1, 4, 2])
# sum_dims, mean_dims: ints [keepdim, dims...] (no dims: all)
case("sum_dims_0", "sum_dims", [randn(2, 3, 4)], lambda x: x.sum((0, 2)), ints=[0, 0, 2])
case("mean_dims_0", "mean_dims", [randn(2, 3, 4)], lambda x: x.mean((-1, 1), keepdim=True), ints=[1, -1, 1])
case("mean_dims_all", "mean_dims", [randn(2, 3)], lambda x: x.mean(), ints=[0])
# norm: reals [p], ints [keepdim, dims...] (no dims: all); torch.linalg.vector_norm
for k, (p, dims, keep, mk) in enumerate([(2.0, [], 0, lambda: randn(3, 4)), (2.0, [1], 0, lambda: randn(2, 3, 4)),
                                         (3.0, [0, 2], 1, lambda: away(2, 3, 4)), (0.5, [-1], 0, lambda: away(3, 4)),
                                         (1.0, [0], 0, lambda: away(3, 4)), (float("inf"), [1], 0, lambda: randn(3, 4))]):
    case("norm_%d" % k, "norm", [mk()], lambda x, p=p, dims=dims, keep=keep: torch.linalg.vector_norm(x, p, dim=dims or None, keepdim=bool(keep)),
         ints=[keep] + dims, reals=[p])
# a zero row (gradient 0 there) and values whose squares overflow F32
case("norm_zero_row", "norm", [f32(torch.tensor([[0.0, 0.0, 0.0], [1.0, -2.0, 2.0]]))], lambda x: torch.linalg.vector_norm(x, 2, dim=1), ints=[0, 1], reals=[2.0])
case("norm_big", "norm", [f32(torch.tensor([3e30, -4e30]))], lambda x: torch.linalg.vector_norm(x, 2), ints=[0], reals=[2.0])
# prelu: inputs x, weight; glu: ints [dim]
case("prelu_0", "prelu", [away(2, 3, 4), randn(3)], F.prelu)
case("prelu_1", "prelu", [away(3, 4), randn(1)], F.prelu)
case("glu_0", "glu", [randn(3, 4)], lambda x: F.glu(x, -1), ints=[-1])
# normalize: ints [dim], reals [p, eps]; cosine_similarity: ints [dim], reals [eps]; pairwise_distance: reals [p, eps]
case("normalize_0", "normalize", [randn(3, 4)], lambda x: F.normalize(x, 2.0, 1, 1e-12), ints=[1], reals=[2.0, 1e-12])
case("normalize_1", "normalize", [away(3, 4)], lambda x: F.normalize(x, 1.0, 0, 1e-12), ints=[0], reals=[1.0, 1e-12])
case("cosine_similarity_0", "cosine_similarity", [randn(3, 4), randn(3, 4)], lambda a, b: F.cosine_similarity(a, b, 1, 1e-8), ints=[1], reals=[1e-8])
case("cosine_similarity_1", "cosine_similarity", [randn(2, 3, 4), randn(1, 4)], lambda a, b: F.cosine_similarity(a, b, -1, 1e-8), ints=[-1], reals=[1e-8])
case("pairwise_distance_0", "pairwise_distance", [randn(3, 4), randn(3, 4)], lambda a, b: F.pairwise_distance(a, b, 2.0, 1e-6), reals=[2.0, 1e-6])
case("pairwise_distance_1", "pairwise_distance", [randn(3, 4), randn(4)], lambda a, b: F.pairwise_distance(a, b, 3.0, 1e-6), reals=[3.0, 1e-6])
# rms_norm: inputs x (, weight), reals [eps] (torch 1.13 has no RMSNorm: its formula)
case("rms_norm_0", "rms_norm", [randn(3, 5), randn(5)], lambda x, w: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * w, reals=[1e-5])
case("rms_norm_1", "rms_norm", [randn(2, 2, 4)], lambda x: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5), reals=[1e-5])
# losses: ints [reduction: 0 mean, 1 sum, 2 none, 3 batchmean (, log_target)], reals [beta / delta]
RED = {0: "mean", 1: "sum", 2: "none", 3: "batchmean"}
for r in (0, 1, 2):
    case("l1_loss_%d" % r, "l1_loss", [randn(3, 4), randn(3, 4)], lambda a, b, r=r: F.l1_loss(a, b, reduction=RED[r]), ints=[r])
    case("smooth_l1_loss_%d" % r, "smooth_l1_loss", [randn(3, 4), randn(3, 4)], lambda a, b, r=r: F.smooth_l1_loss(a, b, reduction=RED[r], beta=0.5), ints=[r], reals=[0.5])
    case("huber_loss_%d" % r, "huber_loss", [randn(3, 4), randn(3, 4)], lambda a, b, r=r: F.huber_loss(a, b, reduction=RED[r], delta=0.7), ints=[r], reals=[0.7])
    case("bce_loss_%d" % r, "bce_loss", [uniform(0.05, 0.95, 3, 4), uniform(0.0, 1.0, 3, 4)], lambda a, b, r=r: F.binary_cross_entropy(a, b, reduction=RED[r]), ints=[r])
case("smooth_l1_loss_beta0", "smooth_l1_loss", [randn(3, 4), randn(3, 4)], lambda a, b: F.smooth_l1_loss(a, b, beta=0.0), ints=[0], reals=[0.0])
for r in (0, 1, 2, 3):
    case("kl_div_%d" % r, "kl_div", [f32(torch.log_softmax(randn(3, 4), -1)), f32(torch.softmax(randn(3, 4), -1))],
         lambda a, b, r=r: F.kl_div(a, b, reduction=RED[r]), ints=[r, 0])
case("kl_div_log_target", "kl_div", [f32(torch.log_softmax(randn(3, 4), -1)), f32(torch.log_softmax(randn(3, 4), -1))],
     lambda a, b: F.kl_div(a, b, reduction="sum", log_target=True), ints=[1, 1])
case("kl_div_zero_target", "kl_div", [f32(torch.log_softmax(randn(2, 3), -1)), f32(torch.tensor([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]]))],
     lambda a, b: F.kl_div(a, b, reduction="sum"), ints=[1, 0], rg=[True, False])
# nll_loss: ints [reduction, targets...]
for r in (0, 1, 2):
    case("nll_loss_%d" % r, "nll_loss", [f32(torch.log_softmax(randn(4, 5), -1))], lambda x, r=r: F.nll_loss(x, torch.tensor([1, 0, 4, 2]), reduction=RED[r]),
         ints=[r, 1, 0, 4, 2])

# lstm_cell: inputs x, h, c, w_ih, w_hh (, b_ih, b_hh); the output is h' + 0.7 c'. gru_cell: x, h, w_ih, w_hh (, b_ih, b_hh)
def lstm_ref(x, h, c, wi, wh, bi=None, bh=None):
    g = x @ wi.T + h @ wh.T + (bi if bi is not None else 0) + (bh if bh is not None else 0)
    i, f, gg, o = g.chunk(4, -1)
    c2 = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
    h2 = torch.sigmoid(o) * torch.tanh(c2)
    return h2 + 0.7 * c2
case("lstm_cell_0", "lstm_cell", [randn(2, 3), randn(2, 4), randn(2, 4), randn(16, 3, scale=0.5), randn(16, 4, scale=0.5), randn(16), randn(16)], lstm_ref)
case("lstm_cell_nobias", "lstm_cell", [randn(3), randn(4), randn(4), randn(16, 3, scale=0.5), randn(16, 4, scale=0.5)], lstm_ref)
cell = torch.nn.LSTMCell(3, 4).double()   # the module itself agrees with the formula above
with torch.no_grad():
    xs, hs, cs = randn(2, 3), randn(2, 4), randn(2, 4)
    hm, cm = cell(xs, (hs, cs))
    assert torch.allclose(hm + 0.7 * cm, lstm_ref(xs, hs, cs, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh))
gcell = torch.nn.GRUCell(3, 4).double()
case("gru_cell_0", "gru_cell", [randn(2, 3), randn(2, 4), randn(12, 3, scale=0.5), randn(12, 4, scale=0.5), randn(12), randn(12)],
     lambda x, h, wi, wh, bi, bh: torch._VF.gru_cell(x, h, wi, wh, bi, bh))
case("gru_cell_nobias", "gru_cell", [randn(2, 3), randn(2, 4), randn(12, 3, scale=0.5), randn(12, 4, scale=0.5)],
     lambda x, h, wi, wh: torch._VF.gru_cell(x, h, wi, wh, None, None))

# order and indexing. sort: ints [dim, descending]; topk: [k, dim, largest]; kthvalue: [k, dim, keepdim];
# median_dim: [dim, keepdim]; median: none; argsort: [dim, descending] (forward only, F64 indices)
def distinct(*shape):
    return f32(torch.randperm(int(np.prod(shape)), generator=GEN).to(F64).reshape(shape) * 0.37 - 1.5)
case("sort_0", "sort", [distinct(3, 5)], lambda x: torch.sort(x, 1)[0], ints=[1, 0])
case("sort_1", "sort", [distinct(4, 2, 3)], lambda x: torch.sort(x, 0, descending=True)[0], ints=[0, 1])
case("argsort_0", "argsort", [distinct(3, 5)], lambda x: torch.argsort(x, -1).to(F64), ints=[-1, 0], rg=[False], backward=False)
case("topk_0", "topk", [distinct(3, 6)], lambda x: torch.topk(x, 3, -1)[0], ints=[3, -1, 1])
case("topk_1", "topk", [distinct(5, 2)], lambda x: torch.topk(x, 2, 0, largest=False)[0], ints=[2, 0, 0])
case("kthvalue_0", "kthvalue", [distinct(3, 5)], lambda x: torch.kthvalue(x, 2, 1)[0], ints=[2, 1, 0])
case("kthvalue_1", "kthvalue", [distinct(4, 3)], lambda x: torch.kthvalue(x, 4, 0, keepdim=True)[0], ints=[4, 0, 1])
case("median_dim_0", "median_dim", [distinct(3, 4)], lambda x: torch.median(x, 1)[0], ints=[1, 0])
case("median_dim_1", "median_dim", [distinct(5, 2)], lambda x: torch.median(x, 0, keepdim=True)[0], ints=[0, 1])
case("median_0", "median", [distinct(3, 5)], torch.median)
# gather: ints [dim, ndim, shape..., index...]; index_select: [dim, index...]; scatter_add: [dim, index...] (src's shape)
gi = [2, 0, 1, 1, 0, 2]
case("gather_0", "gather", [randn(3, 4)], lambda x: torch.gather(x, 1, torch.tensor(gi).reshape(3, 2)), ints=[1, 2, 3, 2] + gi)
case("gather_1", "gather", [randn(3, 4)], lambda x: torch.gather(x, 0, torch.tensor(gi).reshape(2, 3)), ints=[0, 2, 2, 3] + gi)
case("index_select_0", "index_select", [randn(2, 3, 4)], lambda x: torch.index_select(x, 1, torch.tensor([2, 0, 1, 1])), ints=[1, 2, 0, 1, 1])
case("index_select_1", "index_select", [randn(4, 3)], lambda x: torch.index_select(x, -2, torch.tensor([3, 3, 0])), ints=[-2, 3, 3, 0])
case("scatter_add_0", "scatter_add", [randn(3, 4), randn(3, 2)], lambda x, v: torch.scatter_add(x, 1, torch.tensor(gi).reshape(3, 2), v), ints=[1] + gi)
case("scatter_add_1", "scatter_add", [randn(3, 4), randn(2, 3)], lambda x, v: torch.scatter_add(x, 0, torch.tensor(gi).reshape(2, 3), v), ints=[0] + gi)

# squeeze_all: none; tile: ints [reps...]; repeat_interleave: [repeats, dim]; diagonal: [offset, d1, d2]; diag: [offset];
# trace: none; pad: ints [mode (0 constant, 1 reflect, 2 replicate, 3 circular), pads...], reals [value]
case("squeeze_all_0", "squeeze_all", [randn(3, 1, 4, 1)], torch.squeeze)
case("tile_0", "tile", [randn(2, 3)], lambda x: torch.tile(x, (2,)), ints=[2])
case("tile_1", "tile", [randn(2, 3)], lambda x: torch.tile(x, (2, 1, 2)), ints=[2, 1, 2])
case("repeat_interleave_0", "repeat_interleave", [randn(3, 2)], lambda x: torch.repeat_interleave(x, 3, 1), ints=[3, 1])
case("diagonal_0", "diagonal", [randn(3, 4)], lambda x: torch.diagonal(x, 1), ints=[1, 0, 1])
case("diagonal_1", "diagonal", [randn(3, 2, 4)], lambda x: torch.diagonal(x, -1, 2, 0), ints=[-1, 2, 0])
case("diag_0", "diag", [randn(3)], lambda x: torch.diag(x, 1), ints=[1])
case("diag_1", "diag", [randn(4)], lambda x: torch.diag(x, -2), ints=[-2])
case("diag_2", "diag", [randn(3, 4)], lambda x: torch.diag(x, -1), ints=[-1])
case("trace_0", "trace", [randn(3, 4)], torch.trace)
for k, (mode, pads, shape) in enumerate([("constant", [1, 2, 0, 1], (3, 4)), ("reflect", [2, 1], (2, 3, 4)),
                                          ("replicate", [1, 1, 2, 0], (1, 2, 3, 4)), ("circular", [2, 3], (2, 3, 4)),
                                          ("constant", [-1, 1], (3, 4))]):
    mi = ["constant", "reflect", "replicate", "circular"].index(mode)
    case("pad_%d" % k, "pad", [randn(*shape)], lambda x, m=mode, p=pads: F.pad(x, p, mode=m, value=0.5) if m == "constant" else F.pad(x, p, mode=m),
         ints=[mi] + pads, reals=[0.5])
# prod: none; prod_dim: [dim, keepdim]; cumprod, cummax, cummin: [dim] (with zeros: exact gradients)
case("prod_0", "prod", [away(3, 3, lo=0.5, hi=1.5)], torch.prod)
case("prod_zero", "prod", [f32(torch.tensor([1.5, 0.0, -2.0, 0.5]))], torch.prod)
case("prod_dim_0", "prod_dim", [f32(torch.tensor([[1.5, 0.0, -2.0, 0.5, 3.0], [0.0, 2.0, 0.0, 1.0, 1.0], [1.0, 2.0, 3.0, 0.5, -1.0]]))],
     lambda x: torch.prod(x, 1), ints=[1, 0])
case("prod_dim_1", "prod_dim", [randn(3, 2, 2)], lambda x: torch.prod(x, 0, keepdim=True), ints=[0, 1])
case("cumprod_0", "cumprod", [f32(torch.tensor([[1.5, 0.0, -2.0, 0.5, 3.0], [0.5, 2.0, -1.0, 1.5, 1.0]]))], lambda x: torch.cumprod(x, 1), ints=[1])
case("cummax_0", "cummax", [distinct(3, 5)], lambda x: torch.cummax(x, 1)[0], ints=[1])
case("cummin_0", "cummin", [distinct(4, 3)], lambda x: torch.cummin(x, 0)[0], ints=[0])
# einsum: ints [spec index into the list in test_reference.c]
EIN = ["ij,jk->ik", "bij,bjk->bik", "i,j->ij", "ii->", "ij->ji", "ik,jkl,il->ij", "ii->i", "ij,ij->i", "ij", "bn,anm,bm->ba"]
for k, (spec, shapes) in enumerate([("ij,jk->ik", [(3, 4), (4, 2)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]), ("i,j->ij", [(3,), (4,)]),
                                     ("ii->", [(3, 3)]), ("ij->ji", [(3, 4)]), ("ik,jkl,il->ij", [(2, 3), (4, 3, 2), (2, 2)]),
                                     ("ii->i", [(3, 3)]), ("ij,ij->i", [(3, 4), (3, 4)]), ("ij", [(2, 3)]), ("bn,anm,bm->ba", [(2, 3), (4, 3, 2), (2, 2)])]):
    case("einsum_%d" % k, "einsum", [randn(*sh) for sh in shapes], lambda *xs, sp=spec: torch.einsum(sp, *xs), ints=[EIN.index(spec)])
# eye: ints [n, m, f64]; linspace: ints [steps], reals [start, end]; logspace: reals [start, end, base] (forward only)
case("eye_0", "eye", [randn(1)], lambda x: torch.eye(3, 4), ints=[3, 4], rg=[False], backward=False)
case("linspace_0", "linspace", [randn(1)], lambda x: torch.linspace(-1.5, 2.25, 7, dtype=F64), ints=[7], reals=[-1.5, 2.25], rg=[False], backward=False)
case("linspace_1", "linspace", [randn(1)], lambda x: torch.linspace(0.0, 1.0, 10, dtype=F64), ints=[10], reals=[0.0, 1.0], rg=[False], backward=False)
case("logspace_0", "logspace", [randn(1)], lambda x: torch.logspace(-2.0, 1.0, 5, base=2.0, dtype=F64), ints=[5], reals=[-2.0, 1.0, 2.0], rg=[False], backward=False)
# meshgrid: ints [xy]; the output is o0 * exp(o1)
case("meshgrid_0", "meshgrid", [randn(3), randn(4)], lambda a, b: (lambda o: o[0] * torch.exp(o[1]))(torch.meshgrid(a, b, indexing="ij")), ints=[0])
case("meshgrid_1", "meshgrid", [randn(3), randn(4)], lambda a, b: (lambda o: o[0] * torch.exp(o[1]))(torch.meshgrid(a, b, indexing="xy")), ints=[1])

# pools with options: ints [k, stride, pad, dilation, ceil_mode, exclude_pad]
for k, (is_max, o, shape) in enumerate([(1, [2, 1, 0, 2, 0, 0], (1, 2, 5, 5)), (1, [2, 2, 1, 1, 1, 0], (2, 2, 4, 5)),
                                         (0, [3, 2, 1, 1, 1, 1], (1, 2, 5, 4)), (0, [2, 2, 0, 1, 1, 0], (1, 1, 5, 5)),
                                         (0, [3, 2, 1, 1, 0, 0], (1, 2, 5, 6))]):
    if is_max:
        case("max_pool2d_ex_%d" % k, "max_pool2d_ex", [distinct(*shape)], lambda x, o=o: F.max_pool2d(x, o[0], o[1], o[2], o[3], bool(o[4])), ints=o)
    else:
        case("avg_pool2d_ex_%d" % k, "avg_pool2d_ex", [randn(*shape)], lambda x, o=o: F.avg_pool2d(x, o[0], o[1], o[2], bool(o[4]), not o[5]), ints=o)
# adaptive pools: ints [out_h, out_w]
case("adaptive_avg_pool2d_0", "adaptive_avg_pool2d", [randn(2, 2, 5, 7)], lambda x: F.adaptive_avg_pool2d(x, (3, 2)), ints=[3, 2])
case("adaptive_avg_pool2d_1", "adaptive_avg_pool2d", [randn(1, 3, 8, 6)], lambda x: F.adaptive_avg_pool2d(x, (4, 6)), ints=[4, 6])
case("adaptive_max_pool2d_0", "adaptive_max_pool2d", [distinct(1, 2, 5, 7)], lambda x: F.adaptive_max_pool2d(x, (2, 3)), ints=[2, 3])
# conv1d: ints [stride, pad, dilation, groups]; conv_transpose2d / 1d: [stride, pad, output_pad, dilation, groups]
case("conv1d_0", "conv1d", [randn(2, 3, 7), randn(4, 3, 3), randn(4)], lambda x, w, b: F.conv1d(x, w, b, 2, 1, 1, 1), ints=[2, 1, 1, 1])
case("conv1d_1", "conv1d", [randn(1, 4, 8), randn(2, 2, 2)], lambda x, w: F.conv1d(x, w, None, 1, 0, 2, 2), ints=[1, 0, 2, 2])
case("conv_transpose2d_0", "conv_transpose2d", [randn(1, 2, 3, 3), randn(2, 3, 3, 3), randn(3)],
     lambda x, w, b: F.conv_transpose2d(x, w, b, 2, 1, 1, 1, 1), ints=[2, 1, 1, 1, 1])
case("conv_transpose2d_1", "conv_transpose2d", [randn(2, 4, 2, 3), randn(4, 1, 2, 2)],
     lambda x, w: F.conv_transpose2d(x, w, None, 1, 0, 0, 2, 2), ints=[1, 0, 0, 2, 2])
case("conv_transpose1d_0", "conv_transpose1d", [randn(2, 2, 4), randn(2, 3, 4), randn(3)],
     lambda x, w, b: F.conv_transpose1d(x, w, b, 3, 1, 0, 1, 1), ints=[3, 1, 0, 1, 1])
# group_norm: ints [groups], inputs x (, weight, bias); instance_norm: x (, weight, bias)
case("group_norm_0", "group_norm", [randn(2, 4, 3), randn(4), randn(4)], lambda x, w, b: F.group_norm(x, 2, w, b, 1e-5), ints=[2])
case("group_norm_1", "group_norm", [randn(2, 6, 2, 2)], lambda x: F.group_norm(x, 3, eps=1e-5), ints=[3])
case("instance_norm_0", "instance_norm", [randn(2, 2, 2, 3), randn(2), randn(2)], lambda x, w, b: F.instance_norm(x, weight=w, bias=b, eps=1e-5))
# sdpa: ints [is_causal, mask kind (0 none, 1 float, 2 boolean from the fourth input > 0)]; torch 1.13 has no
# F.scaled_dot_product_attention: its documented formula
def sdpa_ref(q, k, v, attn_mask=None, is_causal=False):
    a = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if is_causal:
        a = a.masked_fill(torch.ones(a.shape[-2], a.shape[-1], dtype=torch.bool).triu(1), float("-inf"))
    if attn_mask is not None:
        a = a.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else a + attn_mask
    return torch.softmax(a, -1) @ v
F.scaled_dot_product_attention = sdpa_ref
case("sdpa_0", "sdpa", [randn(2, 3, 4), randn(2, 3, 4), randn(2, 3, 2)], lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), ints=[1, 0])
case("sdpa_1", "sdpa", [randn(2, 3, 4), randn(2, 5, 4), randn(2, 5, 2), randn(3, 5)], lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m), ints=[0, 1])
MASKIN = f32(torch.tensor([[1.0, -1.0, 1.0, 1.0, -1.0], [1.0, 1.0, -1.0, 1.0, 1.0], [-1.0, 1.0, 1.0, -1.0, 1.0]]))
case("sdpa_2", "sdpa", [randn(2, 3, 4), randn(2, 5, 4), randn(2, 5, 2), MASKIN], lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m > 0),
     ints=[0, 2], rg=[True, True, True, False])
# interpolate: ints [out_h, out_w, mode (0 nearest, 1 bilinear), align_corners]
case("interpolate_0", "interpolate", [randn(1, 2, 3, 4)], lambda x: F.interpolate(x, (5, 7), mode="nearest"), ints=[5, 7, 0, 0])
case("interpolate_1", "interpolate", [randn(1, 2, 3, 4)], lambda x: F.interpolate(x, (5, 6), mode="bilinear", align_corners=False), ints=[5, 6, 1, 0])
case("interpolate_2", "interpolate", [randn(2, 1, 3, 4)], lambda x: F.interpolate(x, (4, 7), mode="bilinear", align_corners=True), ints=[4, 7, 1, 1])
case("interpolate_3", "interpolate", [randn(1, 2, 4, 6)], lambda x: F.interpolate(x, (2, 3), mode="bilinear", align_corners=False), ints=[2, 3, 1, 0])
# cross_entropy_ex: ints [reduction, ignore_index, targets...], reals [label_smoothing], inputs logits (, weight)
TG = [1, -100, 4, 2]
for k, (red, eps, weighted) in enumerate([(0, 0.0, False), (0, 0.2, True), (1, 0.1, False), (2, 0.3, True), (0, 0.0, True)]):
    ins = [randn(4, 5)] + ([uniform(0.5, 2.0, 5)] if weighted else [])
    case("cross_entropy_ex_%d" % k, "cross_entropy_ex", ins,
         lambda x, w=None, red=red, eps=eps: F.cross_entropy(x, torch.tensor(TG), weight=w, ignore_index=-100, reduction=RED[red], label_smoothing=eps),
         ints=[red, -100] + TG, reals=[eps], rg=[True, False][:len(ins)])
case("cross_entropy_probs_0", "cross_entropy_probs", [randn(3, 4), f32(torch.softmax(randn(3, 4), -1))],
     lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1), ints=[0], reals=[0.1])
case("cross_entropy_probs_1", "cross_entropy_probs", [randn(3, 4), f32(torch.softmax(randn(3, 4), -1)), uniform(0.5, 2.0, 4)],
     lambda x, t, w: F.cross_entropy(x, t, weight=w, reduction="sum"), ints=[1], reals=[0.0], rg=[True, True, False])
# bce_with_logits_ex: ints [reduction], inputs x, t (, weight (, pos_weight))
case("bce_with_logits_ex_0", "bce_with_logits_ex", [randn(3, 4, scale=3.0), uniform(0.0, 1.0, 3, 4), uniform(0.5, 2.0, 4), uniform(0.5, 3.0, 4)],
     lambda x, t, w, pw: F.binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw, reduction="sum"), ints=[1], rg=[True, True, False, False])
case("bce_with_logits_ex_1", "bce_with_logits_ex", [randn(5, scale=3.0), uniform(0.0, 1.0, 5)],
     lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction="none"), ints=[2])

# scatter: ints [dim, index...] (unique along dim); cummax/cummin with ties: ints [dim] (values; their
# gradient goes to the index PyTorch picks); cumargmax: ints [dim, min] (F64 indices, forward only);
# max_pool2d_indices: ints [k, stride, pad, dilation, ceil]; max_unpool2d: ints [k, stride] (of max_pool2d's output)
GU = [2, 0, 1, 3, 0, 2]
case("scatter_0", "scatter", [randn(3, 4), randn(3, 2)], lambda x, v: torch.scatter(x, 1, torch.tensor(GU).reshape(3, 2), v), ints=[1] + GU)
TIES = f32(torch.tensor([[1.0, 3.0, 3.0, 2.0, 5.0, 5.0], [2.0, -1.0, 2.0, 0.5, 2.0, 7.0]]))
case("cummax_ties", "cummax", [TIES], lambda x: torch.cummax(x, 1)[0], ints=[1])
case("cummin_ties", "cummin", [TIES], lambda x: torch.cummin(x, 1)[0], ints=[1])
case("cumargmax_0", "cumargmax", [TIES], lambda x: torch.cummax(x, 1)[1].to(F64), ints=[1, 0], rg=[False], backward=False)
case("cumargmin_0", "cumargmax", [TIES], lambda x: torch.cummin(x, 1)[1].to(F64), ints=[1, 1], rg=[False], backward=False)
for k, (o, shape) in enumerate([([2, 1, 0, 2, 0], (1, 2, 5, 5)), ([3, 2, 1, 1, 1], (2, 2, 5, 6))]):
    case("max_pool2d_indices_%d" % k, "max_pool2d_indices", [distinct(*shape)],
         lambda x, o=o: F.max_pool2d(x, o[0], o[1], o[2], o[3], bool(o[4]), return_indices=True)[1].to(F64), ints=o, rg=[False], backward=False)
case("max_unpool2d_0", "max_unpool2d", [distinct(1, 2, 4, 6)],
     lambda x: F.max_unpool2d(*F.max_pool2d(x, 2, 2, return_indices=True), 2, 2, output_size=(4, 6)), ints=[2, 2])

# mse_loss_ex: ints [reduction]
for r in (0, 1, 2):
    case("mse_loss_ex_%d" % r, "mse_loss_ex", [randn(3, 4), randn(3, 4)], lambda a, b, r=r: F.mse_loss(a, b, reduction=RED[r]), ints=[r])

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "reference.txt")
if len(sys.argv) > 1:
    out = sys.argv[1]
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out, "w") as f:
    f.write("# generated by tests/gen_reference.py with torch %s; do not edit\n" % torch.__version__.split("+")[0])
    f.write("\n".join(CASES))
    f.write("\n")
print("%s: %d cases, %d bytes" % (out, len(CASES), os.path.getsize(out)))
