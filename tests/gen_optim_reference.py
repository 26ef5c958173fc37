#!/usr/bin/python3
"""Writes tests/data/optim_reference.txt: PyTorch's optimizer trajectories, gradient
clipping and learning-rate schedules, which tests/test_optim.c reproduces.

    /usr/bin/python3 tests/gen_optim_reference.py      (Debian: python3-torch)

The model: x [8, 4] -> Linear(4, 5) -> tanh -> Linear(5, 3), MSE against y [8, 3],
plus a parameter `unused` [2] that gets no gradient (optimizers must skip it).
Each case runs 20 steps: zero_grad, forward, backward, (clip), (set lr), step, and
prints every parameter after the step: W1 b1 W2 b2 unused, row-major.
"""
import math
import os
import torch

torch.set_num_threads(1)
STEPS = 20
out = []


def vals(t):   # %.9g is exact for float32
    fmt = "%.9g" if t.dtype == torch.float32 else "%.17g"
    return " ".join(fmt % v for v in t.detach().double().reshape(-1).tolist())


def data(name, n, f):
    return [f(i) for i in range(n)]


# fixed data, written to the file so the C side uses the same numbers
D = {
    "x": data("x", 32, lambda i: math.sin(0.7 * i + 0.3) * 1.5),
    "y": data("y", 24, lambda i: math.cos(0.45 * i - 0.2)),
    "W1": data("W1", 20, lambda i: math.sin(1.3 * i + 0.5) * 0.6),
    "b1": data("b1", 5, lambda i: 0.1 * (i - 2)),
    "W2": data("W2", 15, lambda i: math.cos(0.9 * i + 0.1) * 0.5),
    "b2": data("b2", 3, lambda i: -0.05 * i),
    "unused": [0.25, -0.75],
}
SHAPES = {"x": (8, 4), "y": (8, 3), "W1": (5, 4), "b1": (5,), "W2": (3, 5), "b2": (3,), "unused": (2,)}
for k in ["x", "y", "W1", "b1", "W2", "b2", "unused"]:
    out.append("data %s %d %s" % (k, len(D[k]), " ".join("%.17g" % v for v in D[k])))

CASES = [
    ("sgd_plain", dict(opt="sgd", lr=0.1)),
    ("sgd_momentum", dict(opt="sgd", lr=0.05, momentum=0.9)),
    ("sgd_damp_wd", dict(opt="sgd", lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("sgd_nesterov", dict(opt="sgd", lr=0.05, momentum=0.9, nesterov=1, weight_decay=0.001)),
    ("sgd_maximize", dict(opt="sgd", lr=0.02, momentum=0.5, maximize=1)),
    ("adam_default", dict(opt="adam", lr=0.001)),
    ("adam_lr", dict(opt="adam", lr=0.01)),
    ("adam_wd_amsgrad", dict(opt="adam", lr=0.01, weight_decay=0.01, amsgrad=1)),
    ("adam_betas", dict(opt="adam", lr=0.003, beta1=0.5, beta2=0.9, eps=1e-6)),
    ("adamw_default", dict(opt="adamw", lr=0.01)),
    ("adamw_amsgrad", dict(opt="adamw", lr=0.01, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1, amsgrad=1)),
    ("adam_clipnorm", dict(opt="adam", lr=0.01, clip_norm=0.05)),
    ("sgd_clipvalue", dict(opt="sgd", lr=0.1, momentum=0.9, clip_value=0.02)),
    ("sgd_steplr", dict(opt="sgd", lr=0.1, momentum=0.9, sched="step")),
    ("adamw_cosine", dict(opt="adamw", lr=0.02, sched="cosine")),
]
DEFAULTS = dict(opt="sgd", lr=0.001, momentum=0, dampening=0, weight_decay=-1, nesterov=0, maximize=0,
                beta1=0.9, beta2=0.999, eps=1e-8, amsgrad=0, clip_norm=0, clip_value=0, sched="none")


def cosine_lr(step, warmup, total, base, lo):   # the schedule ag_lr_cosine computes
    if step < warmup:
        return base * (step + 1) / warmup
    t = min(1.0, (step - warmup) / (total - warmup))
    return lo + (base - lo) * (1 + math.cos(math.pi * t)) / 2


for name, cfg in CASES:
    c = dict(DEFAULTS)
    c.update(cfg)
    for dtype, dname in [(torch.float32, "F32"), (torch.float64, "F64")]:
        P = {k: torch.tensor(D[k], dtype=dtype).reshape(SHAPES[k]).requires_grad_(True) for k in ["W1", "b1", "W2", "b2", "unused"]}
        x = torch.tensor(D["x"], dtype=dtype).reshape(8, 4)
        y = torch.tensor(D["y"], dtype=dtype).reshape(8, 3)
        params = [P["W1"], P["b1"], P["W2"], P["b2"], P["unused"]]
        wd = c["weight_decay"]
        if c["opt"] == "sgd":
            opt = torch.optim.SGD(params, lr=c["lr"], momentum=c["momentum"], dampening=c["dampening"],
                                  weight_decay=max(wd, 0), nesterov=bool(c["nesterov"]), maximize=bool(c["maximize"]))
        elif c["opt"] == "adam":
            opt = torch.optim.Adam(params, lr=c["lr"], betas=(c["beta1"], c["beta2"]), eps=c["eps"],
                                   weight_decay=max(wd, 0), amsgrad=bool(c["amsgrad"]), maximize=bool(c["maximize"]))
        else:
            kw = {} if wd < 0 else dict(weight_decay=wd)   # AdamW's own default (0.01) when not given
            opt = torch.optim.AdamW(params, lr=c["lr"], betas=(c["beta1"], c["beta2"]), eps=c["eps"],
                                    amsgrad=bool(c["amsgrad"]), maximize=bool(c["maximize"]), **kw)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5) if c["sched"] == "step" else None
        keys = " ".join("%s=%s" % (k, c[k]) for k in DEFAULTS)
        out.append("case %s %s %s" % (name, dname, keys))
        for step in range(STEPS):
            opt.zero_grad()
            h = torch.tanh(torch.nn.functional.linear(x, P["W1"], P["b1"]))
            o = torch.nn.functional.linear(h, P["W2"], P["b2"])
            loss = torch.nn.functional.mse_loss(o, y)
            loss.backward()
            norm = float("nan")
            if c["clip_norm"]:
                norm = float(torch.nn.utils.clip_grad_norm_(params, c["clip_norm"]))
            if c["clip_value"]:
                torch.nn.utils.clip_grad_value_(params, c["clip_value"])
            if c["sched"] == "cosine":
                for g in opt.param_groups:
                    g["lr"] = cosine_lr(step, 3, STEPS, c["lr"], c["lr"] * 0.1)
            lr_used = opt.param_groups[0]["lr"]
            opt.step()
            if sched:
                sched.step()
            out.append("step %d %.17g %.17g %.17g %s" % (step, lr_used, norm, float(loss),
                                                      " ".join(vals(P[k]) for k in ["W1", "b1", "W2", "b2", "unused"])))

# gradient clipping alone: grads set to fixed values (and one parameter without a grad)
G = [[math.sin(0.3 * i + 0.2) * 0.4 for i in range(12)], [math.cos(1.1 * i) * 0.7 for i in range(5)]]
out.append("clipdata %s | %s" % (" ".join("%.17g" % v for v in G[0]), " ".join("%.17g" % v for v in G[1])))
for dtype, dname in [(torch.float32, "F32"), (torch.float64, "F64")]:
    for norm_type, max_norm in [(2.0, 0.5), (1.0, 0.3), (float("inf"), 0.2), (3.0, 0.4), (2.0, 100.0), (0.0, 0.15)]:
        ps = [torch.zeros(3, 4, dtype=dtype, requires_grad=True), torch.zeros(5, dtype=dtype, requires_grad=True),
              torch.zeros(2, dtype=dtype, requires_grad=True)]
        ps[0].grad = torch.tensor(G[0], dtype=dtype).reshape(3, 4)
        ps[1].grad = torch.tensor(G[1], dtype=dtype)
        if norm_type == 0.0:   # clip by value
            torch.nn.utils.clip_grad_value_(ps, max_norm)
            total = float("nan")
        else:
            total = float(torch.nn.utils.clip_grad_norm_(ps, max_norm, norm_type=norm_type))
        out.append("clip %s %r %r %.17g %s %s" % (dname, norm_type, max_norm, total, vals(ps[0].grad), vals(ps[1].grad)))

# schedules
p = torch.zeros(1, requires_grad=True)
o = torch.optim.SGD([p], lr=0.1)
s = torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)
lrs = []
for _ in range(30):
    lrs.append(o.param_groups[0]["lr"])
    o.step()
    s.step()
out.append("sched step base=0.1 step_size=3 gamma=0.5 %s" % " ".join("%.17g" % v for v in lrs))
o = torch.optim.SGD([p], lr=0.1)
s = torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=20, eta_min=0.001)
lrs = []
for _ in range(21):
    lrs.append(o.param_groups[0]["lr"])
    o.step()
    s.step()
out.append("sched cosine base=0.1 warmup=0 total=20 min=0.001 %s" % " ".join("%.17g" % v for v in lrs))
o = torch.optim.SGD([p], lr=0.1)
s = torch.optim.lr_scheduler.LambdaLR(o, lambda st: cosine_lr(st, 5, 30, 1.0, 0.05))
lrs = []
for _ in range(35):
    lrs.append(o.param_groups[0]["lr"])
    o.step()
    s.step()
out.append("sched cosine base=0.1 warmup=5 total=30 min=0.005 %s" % " ".join("%.17g" % v for v in lrs))

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "optim_reference.txt")
with open(path, "w") as f:
    f.write("# generated by tests/gen_optim_reference.py with torch %s\n" % torch.__version__)
    f.write("\n".join(out) + "\n")
print("wrote", path, len(out), "lines")
