#!/usr/bin/python3
"""Writes tests/data/inplace_view_reference.txt: PyTorch's gradients through in-place ops on views
(CopySlices, and views made before the write, which PyTorch regenerates), in float64, for the
cases tests/test_inplace.c builds the same way with autograd.h.

    /usr/bin/python3 tests/gen_inplace_view_reference.py      (Debian: python3-torch)

Line format: "t NAME ndim dims... values..." (17 significant digits); inputs are written too.
"""
import math
import os
import torch

torch.set_default_dtype(torch.float64)
out = []


def emit(name, t):
    t = t.detach()
    out.append("t %s %d %s %s" % (name, t.dim(), " ".join(str(s) for s in t.shape),
                                  " ".join("%.17g" % float(v) for v in t.reshape(-1))))


def det(shape, a, b, scale):
    n = 1
    for s in shape:
        n *= s
    return torch.tensor([math.sin(a * i + b) * scale for i in range(n)]).reshape(shape)


x0 = det((4, 3), 0.7, 0.2, 1.3)
w0 = det((2, 3), 1.1, 0.4, 0.9)
c0 = det((4,), 0.5, 0.9, 1.1)
emit("x", x0)
emit("w", w0)
emit("c", c0)


def case(name, f, *inputs):
    ins = [t.clone().requires_grad_(True) for t in inputs]
    L = f(*ins)
    gs = torch.autograd.grad(L, ins)
    emit(name + "_L", L)
    for i, g in enumerate(gs):
        emit("%s_g%d" % (name, i), g)


def A(x, w):   # CopySlices: the base used after an in-place op on rows 1..2
    b = x * 1
    b[1:3].mul_(w)
    return (b * b).sum()


def B(x, c):   # a column view written, then the view itself and the base used
    b = x * 1
    v = b[:, 1]
    v.add_(c)
    return (v * 3).sum() + (b ** 3).sum()


def C(x):      # a view of a view written; a sibling view made before the write, used after
    b = x * 1
    s2 = b[0]
    s = b.t()[1]
    s.mul_(2)
    return (s2 * s2).sum() + b.exp().sum()


def D(x):      # relu_ on a view
    b = x * 1
    b[2].relu_()
    return (b * b).sum()


def E(x, w):   # two writes through two views
    b = x * 1
    b[0].mul_(w[0])
    b[1:].mul_(0.5)
    return (b * b * b).sum()


case("A", A, x0, w0)
case("B", B, x0, c0)
case("C", C, x0)
case("D", D, x0)
case("E", E, x0, w0)

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "inplace_view_reference.txt")
with open(path, "w") as f:
    f.write("# torch %s, written by tests/gen_inplace_view_reference.py\n" % torch.__version__)
    f.write("\n".join(out) + "\n")
print("wrote %s: %d tensors" % (path, len(out)))
