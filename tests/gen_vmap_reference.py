#!/usr/bin/python3
"""Writes tests/data/vmap_reference.txt: what PyTorch's functorch (torch 1.13) gives for the
computations tests/test_vmap.c runs through ag_vmap, in float64.

    /usr/bin/python3 tests/gen_vmap_reference.py      (Debian: python3-torch; functorch ships with it)

Cases (every input is written to the file, so the C test computes on the same numbers):
  pe_mlp, pe_cnn, pe_attn   per-example gradients, functorch.vmap(grad(loss), in_dims=(None, 0, 0)),
                            of test_vmap's three models on a batch of 5 (labels per example)
  jacrev, jacfwd            functorch.jacrev / jacfwd of f(x) = sin(x) * sum(x^2), x [5]
  nested                    vmap(vmap(f, (0, None)), (0, None)) of f(x, w) = (x . w) x, x [2, 4, 3]

Line format: "t NAME ndim dims... values..." (values with 17 significant digits).
"""
import math
import os
import torch
import torch.nn.functional as F
from functorch import vmap, grad, jacrev, jacfwd

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)
out = []


def put(name, t):
    t = t.detach().contiguous().reshape(-1) if t.dim() else t.detach().reshape(1)
    shape = list(put.shape_of)
    out.append("t %s %d %s %s" % (name, len(shape), " ".join(str(s) for s in shape), " ".join("%.17g" % float(v) for v in t)))


def emit(name, t):
    put.shape_of = tuple(t.shape)
    put(name, t)


def det(shape, a, b, scale):
    n = 1
    for s in shape:
        n *= s
    return torch.tensor([math.sin(a * i + b) * scale for i in range(n)]).reshape(shape)


def mlp_loss(p, x, y):
    h = torch.tanh(F.linear(x, p[0], p[1]))
    h = F.gelu(F.linear(h, p[2], p[3]))
    return F.cross_entropy(F.linear(h, p[4], p[5]).unsqueeze(0), y.unsqueeze(0))


def cnn_loss(p, x, y):
    h = F.conv2d(x.reshape(1, 1, 6, 6), p[0], p[1])
    h = F.max_pool2d(F.relu(h), 2, 2)
    logits = F.linear(h.reshape(1, -1), p[2], p[3])
    return F.cross_entropy(logits, y.unsqueeze(0))


def attn_loss(p, x, y):
    q, k, v = F.linear(x, p[0]), F.linear(x, p[1]), F.linear(x, p[2])
    s = q @ k.T / math.sqrt(q.shape[-1])
    s = s.masked_fill(torch.ones(4, 4, dtype=torch.bool).triu(1), float("-inf"))
    h = torch.softmax(s, -1) @ v
    return F.cross_entropy(F.linear(h.mean(0), p[3], p[4]).unsqueeze(0), y.unsqueeze(0))


B = 5
labels = torch.tensor([3, 0, 4, 1, 2])
models = {
    "pe_mlp": (mlp_loss, [(16, 12), (16,), (8, 16), (8,), (5, 8), (5,)], (B, 12)),
    "pe_cnn": (cnn_loss, [(4, 1, 3, 3), (4,), (5, 16), (5,)], (B, 1, 6, 6)),
    "pe_attn": (attn_loss, [(6, 6), (6, 6), (6, 6), (5, 6), (5,)], (B, 4, 6)),
}
for mi, (name, (loss, shapes, xshape)) in enumerate(models.items()):
    p = [det(s, 0.37 + 0.11 * j + mi, 0.2 * j, 0.4) for j, s in enumerate(shapes)]
    x = det(xshape, 0.53 + mi, 0.1, 1.0)
    emit(name + "_x", x)
    emit(name + "_y", labels.double())
    for j, t in enumerate(p):
        emit("%s_p%d" % (name, j), t)
    g = vmap(grad(loss), in_dims=(None, 0, 0))(p, x, labels)
    for j, t in enumerate(g):
        emit("%s_g%d" % (name, j), t)


def fx(x):
    return torch.sin(x) * (x * x).sum()


x5 = det((5,), 0.9, 0.3, 1.2)
emit("jac_x", x5)
emit("jacrev", jacrev(fx)(x5))
emit("jacfwd", jacfwd(fx)(x5))


def fn(x, w):
    return (x * w).sum() * x


X = det((2, 4, 3), 0.71, 0.0, 1.0)
w = det((3,), 1.3, 0.5, 0.8)
emit("nested_x", X)
emit("nested_w", w)
emit("nested", vmap(vmap(fn, (0, None)), (0, None))(X, w))

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "vmap_reference.txt")
with open(path, "w") as f:
    f.write("# functorch %s (torch %s), written by tests/gen_vmap_reference.py\n" % (torch.__version__, torch.__version__))
    f.write("\n".join(out) + "\n")
print("wrote %s: %d tensors" % (path, len(out)))
