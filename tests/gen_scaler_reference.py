#!/usr/bin/python3
"""Writes tests/data/scaler_reference.txt: dynamic loss scaling trajectories (torch.cuda.amp.GradScaler's
rules) that tests/test_optim.c reproduces with ag_grad_scaler.

    /usr/bin/python3 tests/gen_scaler_reference.py      (Debian: python3-torch)

GradScaler itself needs CUDA (Debian's torch 1.13 disables it on the CPU, and its two kernels,
torch._amp_foreach_non_finite_check_and_unscale_ and torch._amp_update_scale_, have no CPU
implementation), so the class Scaler below does what they do, on CPU tensors:
    scale(loss)  = loss * scale, scale a float32 tensor of one element
    unscale_     inv = scale.double().reciprocal().float(); found_inf = any gradient not finite;
                 every gradient *= inv, in place (float64 gradients: by inv converted to float64)
    step         unscale_ unless done since the last update, then optimizer.step() unless found_inf
    update       found_inf: scale = float32(scale * backoff), tracker = 0;
                 else tracker + 1, and when that reaches growth_interval:
                 scale = float32(scale * growth) unless that is inf, tracker = 0
(the update computes in double and rounds to float32, as the CUDA kernel's float * double does).

The model is test_optim's: x [8, 4] -> Linear(4, 5) -> tanh -> Linear(5, 3), MSE against y [8, 3]
(times 16 in adam_huge_scale).
Each case runs its steps: zero_grad, forward, backward of the scaled loss, then at chosen steps
one gradient element is overwritten with inf, -inf or NaN (what an F16 overflow gives), then
(unscale_, clip_grad_norm_), step, update. Every step line has the injection, the scale before,
whether an inf was found, whether the optimizer stepped, the growth tracker and scale after the
update, the unscaled loss, and every parameter after the step: W1 b1 W2 b2, row-major.
"""
import math
import os
import numpy as np
import torch

torch.set_num_threads(1)
out = []

D = {
    "x": [math.sin(0.7 * i + 0.3) * 1.5 for i in range(32)],
    "y": [math.cos(0.45 * i - 0.2) for i in range(24)],
    "W1": [math.sin(1.3 * i + 0.5) * 0.6 for i in range(20)],
    "b1": [0.1 * (i - 2) for i in range(5)],
    "W2": [math.cos(0.9 * i + 0.1) * 0.5 for i in range(15)],
    "b2": [-0.05 * i for i in range(3)],
}
SHAPES = {"x": (8, 4), "y": (8, 3), "W1": (5, 4), "b1": (5,), "W2": (3, 5), "b2": (3,)}
NAMES = ["W1", "b1", "W2", "b2"]
for k in ["x", "y"] + NAMES:
    out.append("sdata %s %d %s" % (k, len(D[k]), " ".join("%.17g" % v for v in D[k])))

INF, NINF, NAN = 1, 2, 3
# (name, optimizer, lr, init_scale, growth, backoff, interval, unscale+clip max_norm (0: none), steps,
#  {step: (parameter, element, kind)})
CASES = [
    ("sgd_inject", "sgd", 0.1, 65536.0, 2.0, 0.5, 3, 0.0, 24,
     {4: (0, 3, INF), 9: (3, 1, NAN), 10: (2, 0, NINF), 17: (1, 4, INF)}),
    ("adam_factors", "adam", 0.01, 1000.0, 3.0, 0.3, 2, 0.0, 24,   # scales that are not powers of two
     {2: (2, 7, NAN), 3: (0, 0, INF), 12: (3, 2, NINF)}),
    ("sgd_unscale_clip", "sgd", 0.05, 4096.0, 2.0, 0.25, 2, 0.5, 20,
     {5: (0, 19, NAN), 11: (2, 14, INF)}),
    ("adamw_growth_cap", "adamw", 0.01, 2.0 ** 125, 2.0, 0.5, 1, 0.0, 12, {}),   # growth stops below inf
    ("adam_huge_scale", "adam", 0.01, 3e38, 4.0, 0.125, 2, 0.0, 16, {}),     # the backward overflows by itself
]
LOSS_MULT = {"adam_huge_scale": 16.0}   # loss = 16 MSE: gradients of 16 x 0.1 x 3e38 overflow F32 by themselves


class Scaler:
    def __init__(self, init_scale, growth, backoff, interval):
        self.scale = torch.full((1,), init_scale, dtype=torch.float32)
        self.growth, self.backoff, self.interval, self.tracker = growth, backoff, interval, 0
        self.unscaled, self.found_inf = False, False

    def scale_loss(self, loss):
        return loss * self.scale

    def unscale_(self, params):
        assert not self.unscaled
        inv = self.scale.double().reciprocal().float()
        for p in params:
            if p.grad is None:
                continue
            if not bool(torch.isfinite(p.grad).all()):
                self.found_inf = True
            p.grad.mul_(inv)
        self.unscaled = True

    def step(self, opt, params):
        if not self.unscaled:
            self.unscale_(params)
        if not self.found_inf:
            opt.step()
            return True
        return False

    def update(self):
        s = float(self.scale)
        if self.found_inf:
            self.scale.fill_(float(np.float32(s * self.backoff)))
            self.tracker = 0
        else:
            self.tracker += 1
            if self.tracker == self.interval:
                with np.errstate(over="ignore"):
                    g = np.float32(s * self.growth)
                if np.isfinite(g):
                    self.scale.fill_(float(g))
                self.tracker = 0
        self.unscaled, self.found_inf = False, False


def vals(t):   # %.9g is exact for float32
    fmt = "%.9g" if t.dtype == torch.float32 else "%.17g"
    return " ".join(fmt % v for v in t.detach().double().reshape(-1).tolist())


for name, optname, lr, init, growth, backoff, interval, clip, steps, inject in CASES:
    for dtype, dname in [(torch.float32, "F32"), (torch.float64, "F64")]:
        P = {k: torch.tensor(D[k], dtype=dtype).reshape(SHAPES[k]).requires_grad_(True) for k in NAMES}
        params = [P[k] for k in NAMES]
        x = torch.tensor(D["x"], dtype=dtype).reshape(8, 4)
        y = torch.tensor(D["y"], dtype=dtype).reshape(8, 3)
        if optname == "sgd":
            opt = torch.optim.SGD(params, lr=lr, momentum=0.9)
        elif optname == "adam":
            opt = torch.optim.Adam(params, lr=lr)
        else:
            opt = torch.optim.AdamW(params, lr=lr)
        sc = Scaler(init, growth, backoff, interval)
        out.append("scase %s %s opt=%s lr=%r init=%r growth=%r backoff=%r interval=%d clip=%r steps=%d loss_mult=%r" %
                   (name, dname, optname, lr, init, growth, backoff, interval, clip, steps, LOSS_MULT.get(name, 1.0)))
        for step in range(steps):
            opt.zero_grad()
            h = torch.tanh(torch.nn.functional.linear(x, P["W1"], P["b1"]))
            o = torch.nn.functional.linear(h, P["W2"], P["b2"])
            loss = torch.nn.functional.mse_loss(o, y) * LOSS_MULT.get(name, 1.0)
            before = float(sc.scale)
            sc.scale_loss(loss).backward()
            ip, ie, kind = inject.get(step, (-1, -1, 0))
            if kind:
                params[ip].grad.view(-1)[ie] = {INF: math.inf, NINF: -math.inf, NAN: math.nan}[kind]
            if clip:
                sc.unscale_(params)
                torch.nn.utils.clip_grad_norm_(params, clip)
            stepped = sc.step(opt, params)
            found = sc.found_inf
            sc.update()
            out.append("sstep %d %d %d %d %.9g %d %d %d %.9g %.17g %s" %
                       (step, ip, ie, kind, before, int(found), int(stepped), sc.tracker, float(sc.scale), float(loss),
                        " ".join(vals(P[k]) for k in NAMES)))

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "scaler_reference.txt")
with open(path, "w") as f:
    f.write("# generated by tests/gen_scaler_reference.py with torch %s\n" % torch.__version__)
    f.write("\n".join(out) + "\n")
print("wrote", path, len(out), "lines")
