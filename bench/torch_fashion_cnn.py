#!/usr/bin/python3
"""The Fashion-MNIST CNN of examples/fashion_mnist_cnn.c, in PyTorch, from the same start.

Same model (conv 1->16 3x3 pad 1, relu, max pool 2; conv 16->32, relu, max pool 2; linear
1568->10; cross-entropy), same initial weights and same order of the training images (both
read from the file the example writes with --save-init), same optimizer (Adam, lr 2e-3, betas
0.9/0.999, eps 1e-8, decayed by a cosine to 0 over all the steps: ag_lr_cosine with no warm-up,
the lr of step s set before that step), batch 64 (the last partial batch dropped, as the
example does), input normalisation ((v / 255 - 0.2860) / 0.3530 in float32). Trains on 1
thread, then again from the same start on 2, and prints for each epoch its loss (the mean of
the batch losses), samples/s (the training loop alone, batch gathering included) and the
test accuracy after it (10,000 images, not timed): the example's epoch line, to compare.

    build/examples/fashion_mnist_cnn --save-init build/cnn_init.safetensors 1 6400 1
    /usr/bin/python3 bench/torch_fashion_cnn.py build/cnn_init.safetensors [--threads 1,2]

Threads: torch.set_num_threads(n) (oneDNN's convolutions, the pools, relus and Adam run on
torch's OpenMP threads) with OpenBLAS, which does the one small product (linear 1568->10) in
Debian's torch, kept on 1 thread: two thread pools spinning against each other on a 2-core
machine make a step many times slower (see bench/torch_bench.py, set_threads).

The file is read with struct + json (the safetensors package is not needed).
Data: Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist).
Exit status 2 when the data or the file is missing.
"""
import argparse
import ctypes
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_fashion_mlp import read_fashion   # noqa: E402 (the same data reader)

BATCH = 64
LR = 2e-3


def load_data():
    xtr, ytr, xte, yte = read_fashion("torch_fashion_cnn")

    def norm(x):   # the example's pixels(): ((float)v / 255.0f - 0.2860f) / 0.3530f, each step in float32
        v = x.astype(np.float32) / np.float32(255.0)
        v = (v - np.float32(0.2860)) / np.float32(0.3530)
        return torch.from_numpy(v.reshape(-1, 1, 28, 28))
    return norm(xtr), torch.from_numpy(ytr.astype(np.int64)), norm(xte), torch.from_numpy(yte.astype(np.int64))


def load_safetensors(path):   # 8-byte little-endian header size, JSON header, raw little-endian data
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    head = json.loads(b[8:8 + n])
    head.pop("__metadata__", None)
    dt = {"F32": torch.float32, "F64": torch.float64, "I32": torch.int32, "I64": torch.int64}
    return {k: torch.frombuffer(bytearray(b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]),
                                dtype=dt[v["dtype"]]).reshape(v["shape"]) for k, v in head.items()}


class CNN(torch.nn.Module):   # state_dict names as the example writes them
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(16, 32, 3, padding=1)
        self.fc = torch.nn.Linear(32 * 7 * 7, 10)

    def forward(self, x):   # [N, 1, 28, 28] -> [N, 16, 14, 14] -> [N, 32, 7, 7] -> [N, 10]
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(x.reshape(x.shape[0], -1))


def cosine_lr(step, warmup, total, base, lo):   # ag_lr_cosine
    if step < warmup:
        return base * (step + 1) / warmup
    if total <= warmup:
        return lo
    t = min(1.0, (step - warmup) / (total - warmup))
    return lo + (base - lo) * (1 + math.cos(math.pi * t)) / 2


def set_threads(n):
    """torch's OpenMP threads n, OpenBLAS's 1"""
    torch.set_num_threads(n)
    for name in ("libopenblas.so.0", "libblas.so.3"):
        try:
            ctypes.CDLL(name).openblas_set_num_threads(ctypes.c_int(1))
            return
        except (OSError, AttributeError):
            continue


def accuracy(m, x, y):
    with torch.no_grad():
        return sum(int((m(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum()) for i in range(0, len(x), 1000)) / len(x)


def train(init, order, data, threads):
    xtr, ytr, xte, yte = data
    set_threads(threads)
    m = CNN()
    m.load_state_dict({k: v for k, v in init.items() if k != "order"})
    opt = torch.optim.Adam(m.parameters(), lr=LR)
    epochs, used = order.shape
    total, step, samples, secs = epochs * (used // BATCH), 0, 0, 0.0
    print("PyTorch %s, %d thread%s (OpenBLAS 1): %d training images, batch %d, Adam lr %g with cosine decay" %
          (torch.__version__, torch.get_num_threads(), "" if threads == 1 else "s", used, BATCH, LR))
    for e in range(epochs):
        idx = order[e].long()
        loss_sum, batches = 0.0, 0
        t0 = time.perf_counter()
        for b in range(0, used - BATCH + 1, BATCH):
            i = idx[b:b + BATCH]
            loss = F.cross_entropy(m(xtr[i]), ytr[i])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            loss_sum += loss.item()
            batches += 1
            for g in opt.param_groups:
                g["lr"] = cosine_lr(step, 0, total, LR, 0.0)
            step += 1
            opt.step()
        dt = time.perf_counter() - t0
        samples += batches * BATCH
        secs += dt
        print("epoch %d/%d  loss %.4f  test accuracy %.2f%%  %.1f s (%.0f samples/s)" %
              (e + 1, epochs, loss_sum / max(batches, 1), 100 * accuracy(m, xte, yte), dt, batches * BATCH / dt))
        sys.stdout.flush()
    return samples / secs


def main():
    ap = argparse.ArgumentParser(description="examples/fashion_mnist_cnn.c's training in PyTorch, from its --save-init file")
    ap.add_argument("init", help="the file fashion_mnist_cnn --save-init wrote (initial parameters and the epochs' order)")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts, each trained from the same start (default 1,2)")
    args = ap.parse_args()
    try:
        init = load_safetensors(args.init)
    except OSError as e:
        print("torch_fashion_cnn: %s" % e, file=sys.stderr)
        sys.exit(2)
    order = init["order"]
    data = load_data()
    if order.numel() and int(order.max()) >= len(data[0]):
        sys.exit("torch_fashion_cnn: %s: image index %d out of range" % (args.init, int(order.max())))
    for t in [int(v) for v in args.threads.split(",")]:
        rate = train(init, order, data, t)
        print("PyTorch, %d thread%s: %.0f samples/s (training)" % (t, "" if t == 1 else "s", rate))


if __name__ == "__main__":
    main()
