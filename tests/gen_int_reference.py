#!/usr/bin/python3
"""gen_int_reference.py - PyTorch's results for the integer and boolean dtypes (>>int) for
tests/test_int.c: casts between all seven dtypes, promotion, integer arithmetic, comparisons
and logic, isnan/isinf/isfinite, where and masked_fill (forward and gradients), one_hot, and
the I64 indices of argmax/argmin/argsort.

Run from the repository root with Debian's python3-torch (torch 1.13):

    /usr/bin/python3 tests/gen_int_reference.py     # writes tests/data/int_reference.txt

FILE FORMAT, one record per line, whitespace-separated. A tensor T is written

    <dtype> <ndim> <dims...> <elements...>

with dtype one of f32 f64 f16 bf16 i32 i64 bool and each element the hexadecimal value of its
bits (f32/i32 8 digits, f64/i64 16, f16/bf16 4, bool 2), so that the C test rebuilds the inputs
bit for bit with ag_from and compares the results bit for bit. Records:

    cast T_src T_dst                       T_src.to(dst dtype)
    promote <tt|t0|0t|00> <dtA> <dtB> <dtY> torch.result_type: both with dims, the second
                                           0-d, the first 0-d, both 0-d
    bin <op> T_a T_b T_y                   torch.<op>(a, b)
    un <op> T_a T_y                        torch.<op>(a)
    sum T_a T_y                            torch.sum(a)
    where <g> T_cond T_a T_b T_y [T_w T_ga T_gb]
                                           torch.where(cond, a, b); g = 1: a and b are float
                                           leaves and T_ga, T_gb are the gradients of
                                           sum(where(...) * w)
    mfill <g> T_t T_mask <value> T_y [T_w T_gt]
                                           t.masked_fill(mask, value) (value a Python repr)
    onehot <num_classes> T_index T_y       F.one_hot(index, num_classes)
    argmax|argmin <dim> <keepdim> T_x T_y
    argsort <dim> <descending> T_x T_y     (stable=True: ours is stable)

What torch cannot give: an integer division of the type's minimum by -1 (floor_divide,
remainder, fmod) stops torch 1.13 with SIGFPE on x86, so those pairs are left out here and
test_int.c checks them against two's complement wraparound / Python's answers itself.
"""
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

DT = {"f32": torch.float32, "f64": torch.float64, "f16": torch.float16, "bf16": torch.bfloat16,
      "i32": torch.int32, "i64": torch.int64, "bool": torch.bool}
NAME = {v: k for k, v in DT.items()}
NAMES = ["f32", "f64", "f16", "bf16", "i32", "i64", "bool"]
BITS = {torch.float32: (torch.int32, 8, 1 << 32), torch.float64: (torch.int64, 16, 1 << 64),
        torch.float16: (torch.int16, 4, 1 << 16), torch.bfloat16: (torch.int16, 4, 1 << 16),
        torch.int32: (torch.int32, 8, 1 << 32), torch.int64: (torch.int64, 16, 1 << 64),
        torch.bool: (torch.uint8, 2, 1 << 8)}

LINES = []


def ten(t):
    """a tensor as <dtype> <ndim> <dims...> <hex bits...>"""
    t = t.detach().contiguous()
    view, digits, mod = BITS[t.dtype]
    raw = t.view(view) if t.dtype != torch.bool else t.to(torch.uint8)
    vals = [(int(v) % mod) for v in raw.reshape(-1).tolist()]
    return " ".join([NAME[t.dtype], str(t.dim())] + [str(d) for d in t.shape] + ["%0*x" % (digits, v) for v in vals])


def emit(*parts):
    LINES.append(" ".join(str(p) for p in parts))


# ---- casts: every pair of the seven dtypes over special values ----
FLOATS = [0.0, -0.0, 0.5, -0.5, 1.5, -2.7, 2.5, -1.0, 1.0, 255.9, 300.0, -129.0, 65504.0, 65520.0,
          2.0 ** 24 + 1, 16842753.0, 2.0 ** 31 - 1, 2.0 ** 31, -2.0 ** 31, -2.0 ** 31 - 1, 2.0 ** 32 + 5,
          2.0 ** 53 + 1, 2.0 ** 63 - 1024, 2.0 ** 63, -2.0 ** 63, 1e20, -1e20, 3.4e38, 1e300, 1e-40, -1e-310,
          1 + 2.0 ** -11 + 2.0 ** -40, 1 + 2.0 ** -8 + 2.0 ** -40,   # a tie after the first rounding to float
          math.inf, -math.inf, math.nan, -math.nan]
INTS64 = [0, 1, -1, 7, -7, 255, 256, 65504, 65520, 2 ** 24 + 1, 16842753, 2 ** 31 - 1, -2 ** 31, 2 ** 31, -2 ** 31 - 1,
          2 ** 32 + 5, 2 ** 53 + 1, 9007199254740993, -9007199254740993, 2 ** 63 - 1, -2 ** 63, 2 ** 63 - 1024,
          -(2 ** 62) - 1, 123456789012345]
INTS32 = [0, 1, -1, 7, -7, 255, 256, 65504, 65520, 2 ** 24 + 1, 16842753, 2 ** 31 - 1, -2 ** 31, 123456789, -99999999]
BOOLS = [False, True, True, False]


def cast_inputs(src):
    if src.is_floating_point:
        # F32, F16 and BF16 get the float64 values rounded by torch (as bits: whatever torch made is the input)
        return torch.tensor(FLOATS, dtype=torch.float64).to(src)
    if src == torch.int64:
        return torch.tensor(INTS64, dtype=torch.int64)
    if src == torch.int32:
        return torch.tensor(INTS32, dtype=torch.int32)
    return torch.tensor(BOOLS, dtype=torch.bool)


for s in NAMES:
    x = cast_inputs(DT[s])
    # repeated to 3 copies: long enough that torch takes its vectorised copy for the first part
    x = torch.cat([x, x, x])
    for d in NAMES:
        emit("cast", ten(x), ten(x.to(DT[d])))

# ---- promotion ----
for a in NAMES:
    for b in NAMES:
        ta, tb = torch.ones(2, dtype=DT[a]), torch.ones(2, dtype=DT[b])
        za, zb = torch.ones((), dtype=DT[a]), torch.ones((), dtype=DT[b])
        emit("promote", "tt", a, b, NAME[torch.result_type(ta, tb)])
        emit("promote", "t0", a, b, NAME[torch.result_type(ta, zb)])
        emit("promote", "0t", a, b, NAME[torch.result_type(za, tb)])
        emit("promote", "00", a, b, NAME[torch.result_type(za, zb)])

# ---- integer arithmetic ----
I32V = [0, 1, -1, 2, -2, 3, -3, 7, -7, 46341, -46341, 65536, 2 ** 31 - 1, -2 ** 31, 2 ** 31 - 2]
I64V = [0, 1, -1, 2, -2, 3, -3, 7, -7, 3037000500, 2 ** 32, 2 ** 62, 2 ** 63 - 1, -2 ** 63, -2 ** 63 + 1]


def pairs(vals, nonzero_b, dt):
    mn = torch.iinfo(dt).min
    a, b = [], []
    for u in vals:
        for v in vals:
            if nonzero_b and (v == 0 or (u == mn and v == -1)):   # torch: ZeroDivisionError / SIGFPE
                continue
            a.append(u)
            b.append(v)
    return torch.tensor(a, dtype=dt), torch.tensor(b, dtype=dt)


for dt, vals in ((torch.int32, I32V), (torch.int64, I64V)):
    for op in ("add", "sub", "mul", "maximum", "minimum"):
        a, b = pairs(vals, False, dt)
        emit("bin", op, ten(a), ten(b), ten(getattr(torch, op)(a, b)))
    for op in ("floor_divide", "remainder", "fmod"):
        a, b = pairs(vals, True, dt)
        emit("bin", op, ten(a), ten(b), ten(getattr(torch, op)(a, b)))
    a = torch.tensor(vals, dtype=dt)
    for op in ("neg", "abs", "sign"):
        emit("un", op, ten(a), ten(getattr(torch, op)(a)))
    emit("sum", ten(a), ten(torch.sum(a)))
    emit("bin", "div", ten(a[1:]), ten(a[:-1].flip(0)), ten(torch.div(a[1:], a[:-1].flip(0))))   # true division: F32
# floor_divide / remainder / fmod: every sign combination, small values, I64 broadcast [5,1] x [4]
a = torch.tensor([[-7], [7], [-6], [6], [0]], dtype=torch.int64)
b = torch.tensor([2, -2, 3, -3], dtype=torch.int64)
for op in ("floor_divide", "remainder", "fmod"):
    emit("bin", op, ten(a), ten(b), ten(getattr(torch, op)(a, b)))
# the same on floats (PyTorch's floor_divide for floats, including a zero divisor and -0.0)
fa = torch.tensor([-7.0, 7.0, -7.5, 7.5, 1.0, -1.0, 0.0, -0.0, 5.0, math.inf, math.nan, 1e308, -1e-300, 0.3, 4.0, -4.0])
fb = torch.tensor([2.0, -2.0, 2.0, -2.0, 0.0, 0.0, 0.0, 3.0, math.inf, 2.0, 1.0, 1e-10, 7.0, 0.1, -0.0, 0.5])
for dt in (torch.float32, torch.float64):
    for op in ("floor_divide", "remainder", "fmod"):
        x, y = fa.to(dt), fb.to(dt)
        emit("bin", op, ten(x), ten(y), ten(getattr(torch, op)(x, y)))
# sums: I32 that overflows 32 bits (I64 result), I64 that wraps, BOOL
emit("sum", ten(torch.tensor([2 ** 31 - 1, 2 ** 31 - 1, 5, -3], dtype=torch.int32)),
     ten(torch.sum(torch.tensor([2 ** 31 - 1, 2 ** 31 - 1, 5, -3], dtype=torch.int32))))
emit("sum", ten(torch.tensor([2 ** 63 - 1, 1, 2], dtype=torch.int64)), ten(torch.sum(torch.tensor([2 ** 63 - 1, 1, 2], dtype=torch.int64))))
bb = torch.tensor([True, False, True, True, False, True, True], dtype=torch.bool)
emit("sum", ten(bb), ten(torch.sum(bb)))
emit("sum", ten(bb.reshape(1, 7).expand(3, 7).contiguous()), ten(torch.sum(bb.reshape(1, 7).expand(3, 7))))
# bool with bool, mixed integer widths, bool with ints
ba = torch.tensor([False, False, True, True]); bc = torch.tensor([False, True, False, True])
for op in ("add", "mul", "maximum", "minimum"):
    emit("bin", op, ten(ba), ten(bc), ten(getattr(torch, op)(ba, bc)))
i32 = torch.tensor([2 ** 31 - 1, -2 ** 31, 5, -5], dtype=torch.int32)
i64 = torch.tensor([1, -1, 2 ** 40, -(2 ** 40)], dtype=torch.int64)
for op in ("add", "sub", "mul"):
    emit("bin", op, ten(i32), ten(i64), ten(getattr(torch, op)(i32, i64)))
    if op != "sub":   # torch refuses bool - int too ("Subtraction ... with a bool tensor is not supported"): test_int.c
        emit("bin", op, ten(ba), ten(i32), ten(getattr(torch, op)(ba, i32)))
    emit("bin", op, ten(i64), ten(torch.tensor(3, dtype=torch.int32)), ten(getattr(torch, op)(i64, torch.tensor(3, dtype=torch.int32))))
    emit("bin", op, ten(i32), ten(torch.tensor(2.5, dtype=torch.float64)), ten(getattr(torch, op)(i32, torch.tensor(2.5, dtype=torch.float64))))
    emit("bin", op, ten(i64), ten(torch.tensor([0.5, 1.5, -2.5, 3.0], dtype=torch.float16)),
         ten(getattr(torch, op)(i64, torch.tensor([0.5, 1.5, -2.5, 3.0], dtype=torch.float16))))

# ---- comparisons and logic ----
CMP = ("eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor")
FV = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1.0, -1.0, 1e-45, 2.5]
for dt in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
    a = torch.tensor([u for u in FV for v in FV], dtype=dt)
    b = torch.tensor([v for u in FV for v in FV], dtype=dt)
    for op in CMP:
        emit("bin", op, ten(a), ten(b), ten(getattr(torch, op)(a, b)))
    emit("un", "logical_not", ten(a[:9]), ten(torch.logical_not(a[:9])))
for dt, vals in ((torch.int32, [0, 1, -1, 2 ** 31 - 1, -2 ** 31]), (torch.int64, [0, 1, -1, 2 ** 63 - 1, -2 ** 63, 2 ** 53 + 1, 2 ** 53])):
    a = torch.tensor([u for u in vals for v in vals], dtype=dt)
    b = torch.tensor([v for u in vals for v in vals], dtype=dt)
    for op in CMP:
        emit("bin", op, ten(a), ten(b), ten(getattr(torch, op)(a, b)))
    emit("un", "logical_not", ten(a), ten(torch.logical_not(a)))
for op in CMP:
    emit("bin", op, ten(ba), ten(bc), ten(getattr(torch, op)(ba, bc)))
emit("un", "logical_not", ten(ba), ten(torch.logical_not(ba)))
emit("un", "sign", ten(ba), ten(torch.sign(ba)))   # torch keeps bool (neg and abs of bool are errors in torch)
# mixed dtypes (they promote first: 2^24 + 1 as I64 equals 2^24 in F32), broadcasting, 0-d
mi = torch.tensor([2 ** 24 + 1, 2 ** 24, 3, -1, 0, 2 ** 53 + 1], dtype=torch.int64)
mf = torch.tensor([2.0 ** 24, 2.0 ** 24, 2.5, math.nan, -0.0, 2.0 ** 53])
for op in CMP:
    emit("bin", op, ten(mi), ten(mf), ten(getattr(torch, op)(mi, mf)))
    emit("bin", op, ten(mi), ten(mf.double()), ten(getattr(torch, op)(mi, mf.double())))
    emit("bin", op, ten(mi.to(torch.int32)), ten(mi), ten(getattr(torch, op)(mi.to(torch.int32), mi)))
    emit("bin", op, ten(torch.tensor([True, False, True, False, True, False])), ten(mf),
         ten(getattr(torch, op)(torch.tensor([True, False, True, False, True, False]), mf)))
x = torch.tensor([[1.0], [math.nan], [-2.0]])                      # [3, 1]
y = torch.tensor([1, -2, 0, 5], dtype=torch.int32)                 # [4]
z = torch.tensor(1, dtype=torch.int64)                             # 0-d
for op in CMP:
    emit("bin", op, ten(x), ten(y), ten(getattr(torch, op)(x, y)))
    emit("bin", op, ten(y), ten(z), ten(getattr(torch, op)(y, z)))
    emit("bin", op, ten(torch.tensor(0.5)), ten(y), ten(getattr(torch, op)(torch.tensor(0.5), y)))

# ---- isnan / isinf / isfinite for every dtype ----
for s in NAMES:
    x = cast_inputs(DT[s])
    for op in ("isnan", "isinf", "isfinite"):
        emit("un", op, ten(x), ten(getattr(torch, op)(x)))

# ---- where ----
g = torch.Generator().manual_seed(13)


def randf(shape, dt=torch.float64):
    return (torch.rand(shape, generator=g, dtype=torch.float64) * 4 - 2).to(dt)


def randb(shape):
    return torch.rand(shape, generator=g) < 0.5


WHERE_GRAD = [((3, 4), (3, 4), (3, 4)), ((3, 1), (1, 4), (4,)), ((4,), (3, 4), ()), ((2, 1, 4), (3, 1), (1,)),
              ((), (2, 3), (2, 3)), ((1, 3), (), (2, 1)), ((5,), (5,), (5,))]
for cs, as_, bs in WHERE_GRAD:
    for adt, bdt in ((torch.float64, torch.float64),) + (((torch.float32, torch.float64),) if cs == (3, 4) else ()):
        c = randb(cs)
        a = randf(as_, adt).requires_grad_()
        b = randf(bs, bdt).requires_grad_()
        yv = torch.where(c, a, b)
        w = randf(yv.shape, yv.dtype)
        ga, gb = torch.autograd.grad((yv * w).sum(), (a, b))
        emit("where", 1, ten(c), ten(a), ten(b), ten(yv), ten(w), ten(ga), ten(gb))
# forward only: integer and mixed operands, special values picked exactly
c = torch.tensor([True, False, True, False, True, False])
for a, b in ((torch.tensor([1, 2, 3, 4, 5, 6], dtype=torch.int32), torch.tensor([-1, -2, -3, -4, -5, -6], dtype=torch.int64)),
             (torch.tensor([1, 2, 3, 4, 5, 6], dtype=torch.int64), torch.tensor([0.5, -0.0, math.nan, math.inf, 1e30, -2.5])),
             (torch.tensor([math.nan, -0.0, 1.0, 2.0, 3.0, 4.0]), torch.tensor(7, dtype=torch.int64)),
             (torch.tensor([True, True, False, False, True, True]), torch.tensor([False] * 6)),
             (torch.tensor([1.5, 2.5, 3.5, -4.5, 5.5, 6.5], dtype=torch.bfloat16), torch.tensor([0.25] * 6, dtype=torch.float16)),
             (torch.tensor(2.0 ** 40, dtype=torch.float64), torch.tensor([3, -3, 2 ** 62, 0, 1, 2], dtype=torch.int64))):
    emit("where", 0, ten(c), ten(a), ten(b), ten(torch.where(c, a, b)))

# ---- masked_fill ----
MF = [((3, 4), (3, 4), 0.5), ((3, 4), (4,), -math.inf), ((2, 3, 4), (3, 1), math.nan), ((2, 3), (), 7.0), ((4,), (1,), -0.0)]
for ts, ms, v in MF:
    t = randf(ts).requires_grad_()
    m = randb(ms)
    yv = t.masked_fill(m, v)
    w = randf(yv.shape)
    (gt,) = torch.autograd.grad((yv * w).sum(), (t,))
    emit("mfill", 1, ten(t), ten(m), repr(v), ten(yv), ten(w), ten(gt))
m = torch.tensor([[True, False, False], [False, True, True]])
for t, v in ((torch.tensor([[1, 2, 3], [4, 5, 6]], dtype=torch.int32), -7.0), (torch.tensor([[1, 2, 3], [4, 5, 6]], dtype=torch.int64), 2.5),
             (torch.tensor([[1, 2, 3], [4, 5, 6]], dtype=torch.int64), 2.0 ** 40), (torch.tensor([[True, False, True], [False, True, False]]), 0.0),
             (torch.tensor([[1, 2, 3], [4, 5, 6]], dtype=torch.float16), 1000.3), (torch.tensor([[1, 2, 3], [4, 5, 6]], dtype=torch.float32), 1e-3)):
    emit("mfill", 0, ten(t), ten(m), repr(v), ten(t.masked_fill(m, v)))

# ---- one_hot ----
for idx, n in ((torch.tensor([0, 2, 1, 2]), -1), (torch.tensor([0, 2, 1, 2]), 5), (torch.tensor([[3, 0], [1, 1], [0, 2]]), -1),
               (torch.tensor([[3, 0], [1, 1], [0, 2]], dtype=torch.int32), 4), (torch.tensor(2), 3), (torch.tensor([0, 0]), -1),
               (torch.tensor([], dtype=torch.int64), 3)):
    emit("onehot", n, ten(idx), ten(F.one_hot(idx.long(), n)))

# ---- argmax / argmin / argsort: I64 indices ----
xs = torch.tensor([[1.0, 3.0, 3.0, -1.0], [math.nan, 0.0, 5.0, 5.0], [-2.0, -2.0, -3.0, -3.0]])
for dim, keep in ((1, 0), (0, 1), (-1, 1)):
    emit("argmax", dim, keep, ten(xs), ten(torch.argmax(xs, dim, keepdim=bool(keep))))
    emit("argmin", dim, keep, ten(xs), ten(torch.argmin(xs, dim, keepdim=bool(keep))))
xi = torch.tensor([[5, -2, 7, 7], [0, 0, -9, 3]], dtype=torch.int32)
emit("argmax", 1, 0, ten(xi), ten(torch.argmax(xi, 1)))
emit("argmin", 0, 0, ten(xi), ten(torch.argmin(xi, 0)))
for dim, desc in ((1, 0), (1, 1), (0, 0)):
    emit("argsort", dim, desc, ten(xs), ten(torch.sort(xs, dim=dim, descending=bool(desc), stable=True).indices))

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "int_reference.txt")
with open(out, "w") as f:
    f.write("# written by tests/gen_int_reference.py with torch %s; /usr/bin/python3 tests/gen_int_reference.py rewrites it\n" % torch.__version__)
    f.write("\n".join(LINES) + "\n")
print("wrote %s: %d records" % (out, len(LINES)), file=sys.stderr)
