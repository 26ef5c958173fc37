#!/usr/bin/python3
"""gen_special_reference.py - PyTorch's values and gradients at special inputs (NaN, +-inf,
+-0, tiny, huge, overflow boundaries) for tests/test_special.c.

Run from the repository root with Debian's python3-torch:

    /usr/bin/python3 tests/gen_special_reference.py     # writes tests/data/special_reference.txt

Each case runs in float32 and in float64 (torch computes in that dtype, so overflow happens
where it happens in that precision). The gradient is that of sum(op(x)) (every output
element's seed is 1). FILE FORMAT, one record per line:

    case <name> <op> <dtype f32|f64> <nparams> <params...> <rows> <cols>
    in <n> <values...>          (one line per input; binary ops have two)
    out <n> <values...>
    grad <n> <values...>        (one line per input)
    end

Values are Python reprs (nan, inf, -inf, -0.0 included); inputs are exact in the case's dtype.
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

SPECIAL = [float("nan"), float("inf"), float("-inf"), 0.0, -0.0, 1e-30, -1e-30, 1e-300, 1e30, -1e30,
           1e300, -1e300, 88.7, -88.7, 104.0, -104.0, 710.0, -710.0, 20.5, -20.5, 1.0, -1.0, 0.5, -0.5, 3.0]
PAIR = [float("nan"), float("inf"), float("-inf"), 0.0, -0.0, 1e-30, 1e30, -2.0, 3.0]

LINES = []


def fmt(v):
    v = float(v)
    if math.isnan(v):
        return "nan"
    return repr(v)


def emit(name, op, dt, params, shape, ins, fn):
    tdt = torch.float32 if dt == "f32" else torch.float64
    xs = [torch.tensor(x, dtype=tdt).reshape(shape).requires_grad_(True) for x in ins]
    y = fn(*xs)
    grads = torch.autograd.grad(y.sum(), xs, allow_unused=True)
    LINES.append("case %s %s %s %d %s %d %d" % (name, op, dt, len(params), " ".join(fmt(p) for p in params),
                                                shape[0], shape[1] if len(shape) > 1 else 1))
    for x in xs:
        flat = x.detach().reshape(-1).tolist()
        LINES.append("in %d %s" % (len(flat), " ".join(fmt(v) for v in flat)))
    out = y.detach().reshape(-1).tolist()
    LINES.append("out %d %s" % (len(out), " ".join(fmt(v) for v in out)))
    for g, x in zip(grads, xs):
        gl = (g if g is not None else torch.zeros_like(x)).reshape(-1).tolist()
        LINES.append("grad %d %s" % (len(gl), " ".join(fmt(v) for v in gl)))
    LINES.append("end")


UNARY = {
    "neg": lambda x: -x, "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "abs": torch.abs,
    "tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu, "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"), "silu": F.silu, "erf": torch.erf,
    "sin": torch.sin, "cos": torch.cos, "tan": torch.tan, "asin": torch.asin, "acos": torch.acos, "atan": torch.atan,
    "sinh": torch.sinh, "cosh": torch.cosh, "asinh": torch.asinh, "acosh": torch.acosh, "atanh": torch.atanh,
    "log2": torch.log2, "log10": torch.log10, "log1p": torch.log1p, "exp2": torch.exp2, "expm1": torch.expm1,
    "rsqrt": torch.rsqrt, "reciprocal": torch.reciprocal, "square": torch.square, "floor": torch.floor,
    "ceil": torch.ceil, "round": torch.round, "trunc": torch.trunc, "frac": torch.frac, "sign": torch.sign, "softsign": F.softsign,
    "logsigmoid": F.logsigmoid,
}
for dt in ("f32", "f64"):
    n = len(SPECIAL)
    for op, fn in UNARY.items():
        emit(op, op, dt, [], [n], [SPECIAL], fn)
    emit("leaky_relu", "leaky_relu", dt, [0.1], [n], [SPECIAL], lambda x: F.leaky_relu(x, 0.1))
    emit("clamp", "clamp", dt, [-1.0, 2.0], [n], [SPECIAL], lambda x: torch.clamp(x, -1.0, 2.0))
    emit("softplus", "softplus", dt, [1.0, 20.0], [n], [SPECIAL], lambda x: F.softplus(x, 1.0, 20.0))
    emit("elu", "elu", dt, [1.0], [n], [SPECIAL], lambda x: F.elu(x, 1.0))
    emit("selu", "selu", dt, [], [n], [SPECIAL], F.selu)
    emit("celu", "celu", dt, [0.5], [n], [SPECIAL], lambda x: F.celu(x, 0.5))
    emit("hardtanh", "hardtanh", dt, [-1.0, 2.0], [n], [SPECIAL], lambda x: F.hardtanh(x, -1.0, 2.0))
    emit("relu6", "relu6", dt, [], [n], [SPECIAL], F.relu6)
    emit("hardsigmoid", "hardsigmoid", dt, [], [n], [SPECIAL], F.hardsigmoid)
    emit("hardswish", "hardswish", dt, [], [n], [SPECIAL], F.hardswish)
    emit("mish", "mish", dt, [], [n], [SPECIAL], F.mish)
    for k, p in enumerate([0.0, 1.0, 2.0, 3.0, -1.0, 0.5, -1.5]):
        emit("pow_%d" % k, "pow", dt, [p], [n], [SPECIAL], lambda x, p=p: torch.pow(x, p))
    emit("add_scalar", "add_scalar", dt, [2.5], [n], [SPECIAL], lambda x: x + 2.5)
    emit("mul_scalar", "mul_scalar", dt, [-3.0], [n], [SPECIAL], lambda x: x * -3.0)
    a = [u for u in PAIR for _ in PAIR]
    b = [v for _ in PAIR for v in PAIR]
    for op, fn in {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
                   "maximum": torch.maximum, "minimum": torch.minimum, "atan2": torch.atan2, "hypot": torch.hypot,
                   "logaddexp": torch.logaddexp, "fmod": torch.fmod, "remainder": torch.remainder,
                   "pow_tensor": torch.pow}.items():
        emit(op, op, dt, [], [len(a)], [a, b], fn)
    # rows of 4: the reductions and softmax family over the last dim
    rows = [[1e30, 1e30, 0.0, -1e30], [float("inf"), 1.0, 2.0, 3.0], [float("-inf"), 1.0, 2.0, 3.0],
            [float("-inf"), float("-inf"), 0.0, 1.0], [float("nan"), 1.0, 2.0, 3.0], [1e-30, -1e-30, 0.0, 1e-30],
            [1e4, 1e4, 1e4, 1e4], [1e8, 1e8 + 1, 0.0, -1e8], [88.0, 89.0, 90.0, 0.0], [-1e30, -1e30, -1e30, -1e30]]
    flat = [v for r in rows for v in r]
    shape = [len(rows), 4]
    emit("softmax", "softmax", dt, [], shape, [flat], lambda x: torch.softmax(x, -1))
    emit("log_softmax", "log_softmax", dt, [], shape, [flat], lambda x: torch.log_softmax(x, -1))
    emit("sum_dim", "sum_dim", dt, [], shape, [flat], lambda x: x.sum(-1))
    emit("mean_dim", "mean_dim", dt, [], shape, [flat], lambda x: x.mean(-1))
    emit("max_dim", "max_dim", dt, [], shape, [flat], lambda x: x.amax(-1))
    emit("min_dim", "min_dim", dt, [], shape, [flat], lambda x: x.amin(-1))
    emit("var_dim", "var_dim", dt, [], shape, [flat], lambda x: x.var(-1))
    emit("logsumexp", "logsumexp", dt, [], shape, [flat], lambda x: torch.logsumexp(x, -1))
    emit("cumsum", "cumsum", dt, [], shape, [flat], lambda x: torch.cumsum(x, -1))
    emit("layer_norm", "layer_norm", dt, [1e-5], shape, [flat], lambda x: F.layer_norm(x, (4,), None, None, 1e-5))
    # cross_entropy with target class 0 of each row (mean over the rows)
    emit("cross_entropy", "cross_entropy", dt, [], shape, [flat],
         lambda x: F.cross_entropy(x, torch.zeros(len(rows), dtype=torch.long)))
    logits = [1e30, -1e30, 100.0, -100.0, 0.0, 1e-30, 50.0, -50.0, 800.0, -800.0]
    targets = [1.0, 0.0, 0.3, 0.7, 0.5, 1.0, 0.0, 1.0, 0.2, 0.9]
    emit("bce_with_logits", "bce_with_logits", dt, [], [len(logits)], [logits, targets],
         lambda x, t: F.binary_cross_entropy_with_logits(x, t))

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "special_reference.txt")
if len(sys.argv) > 1:
    out = sys.argv[1]
with open(out, "w") as f:
    f.write("# generated by tests/gen_special_reference.py with torch %s; do not edit\n" % torch.__version__.split("+")[0])
    f.write("\n".join(LINES))
    f.write("\n")
print("%s: %d lines" % (out, len(LINES)))
