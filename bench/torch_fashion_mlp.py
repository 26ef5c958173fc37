#!/usr/bin/python3
"""The Fashion-MNIST MLP of examples/fashion_mnist_mlp.c, in PyTorch, on one thread.

Same model (784-256-128-10 ReLU, nn.Linear's default init), optimizer (Adam, lr 1e-3
warmed up linearly over 100 steps, then cosine decay to 0: ag_lr_cosine), batch (64,
shuffled, last partial batch kept), input normalisation and epochs.
Prints training samples/s and the final test accuracy.

    /usr/bin/python3 bench/torch_fashion_mlp.py [epochs, default 5]
    /usr/bin/python3 bench/torch_fashion_mlp.py --bf16 [epochs]
        (mixed precision, as fashion_mnist_mlp --bf16: float32 weights and Adam, the forward under
        torch.autocast("cpu", torch.bfloat16), which runs the linear layers in bfloat16 and the
        loss in float32; no GradScaler: it needs CUDA in torch 1.13, and bfloat16 has float32's range)
    /usr/bin/python3 bench/torch_fashion_mlp.py --eval-checkpoint fashion_mnist_mlp.safetensors
        (test accuracy of the weights the C example saved, read with struct + json)

Data: Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist).
Exit status 2 when the data is not installed.
"""
import gzip
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch

DATA = "/usr/share/datasets/fashion-mnist/"
BATCH = 64


def read_idx(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def read_fashion(prog):   # the four IDX files as numpy arrays (also used by torch_fashion_cnn.py)
    try:
        return (read_idx("train-images-idx3-ubyte.gz"), read_idx("train-labels-idx1-ubyte.gz"),
                read_idx("t10k-images-idx3-ubyte.gz"), read_idx("t10k-labels-idx1-ubyte.gz"))
    except OSError as e:
        print("%s: cannot read the Fashion-MNIST files in %s (%s)\n"
              "install them with: apt-get install dataset-fashion-mnist" % (prog, DATA, e), file=sys.stderr)
        sys.exit(2)


def load_data():
    xtr, ytr, xte, yte = read_fashion("torch_fashion_mlp")
    norm = lambda x: ((torch.from_numpy(x.astype(np.float32)).reshape(-1, 784) / 255.0) - 0.2860) / 0.3530
    return norm(xtr), torch.from_numpy(ytr.astype(np.int64)), norm(xte), torch.from_numpy(yte.astype(np.int64))


def model():
    return torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128), torch.nn.ReLU(),
                               torch.nn.Linear(128, 10))


def accuracy(m, x, y, bf16=False):
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        return sum(int((m(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum()) for i in range(0, len(x), 1000)) / len(x)


def load_safetensors(path):   # plain struct + json; the safetensors package is not needed
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    head = json.loads(b[8:8 + n])
    head.pop("__metadata__", None)
    dt = {"F32": torch.float32, "F64": torch.float64}
    return {k: torch.frombuffer(bytearray(b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]),
                                dtype=dt[v["dtype"]]).reshape(v["shape"]) for k, v in head.items()}


def cosine_lr(step, warmup, total, base, lo):   # ag_lr_cosine
    if step < warmup:
        return base * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return lo + (base - lo) * (1 + math.cos(math.pi * t)) / 2


def main():
    torch.set_num_threads(1)
    torch.manual_seed(1)
    xtr, ytr, xte, yte = load_data()
    m = model()
    if len(sys.argv) > 2 and sys.argv[1] == "--eval-checkpoint":
        w = load_safetensors(sys.argv[2])
        m.load_state_dict({k.replace("fc1", "0").replace("fc2", "2").replace("fc3", "4"): v for k, v in w.items()})
        print("checkpoint %s: test accuracy %.2f%% in PyTorch" % (sys.argv[2], 100 * accuracy(m, xte, yte)))
        return
    bf16 = "--bf16" in sys.argv[1:]
    args = [a for a in sys.argv[1:] if a != "--bf16"]
    epochs = int(args[0]) if args else 5
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    lossf = torch.nn.CrossEntropyLoss()
    n = len(xtr)
    total, step = epochs * ((n + BATCH - 1) // BATCH), 0
    train_time = 0.0
    print("PyTorch %s, 1 thread: 784-256-128-10 ReLU, Adam, batch %d, %d epochs, %s" %
          (torch.__version__, BATCH, epochs, "bfloat16 autocast (float32 weights)" if bf16 else "float32"))
    for e in range(epochs):
        perm = torch.randperm(n)
        t0 = time.perf_counter()
        for b in range(0, n, BATCH):
            idx = perm[b:b + BATCH]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = lossf(m(xtr[idx]), ytr[idx])
            opt.zero_grad()
            for g in opt.param_groups:
                g["lr"] = cosine_lr(step, 100, total, 1e-3, 0.0)
            step += 1
            loss.backward()
            opt.step()
        dt = time.perf_counter() - t0
        train_time += dt
        print("epoch %d/%d  %.0f samples/s  loss %.4f  test acc %.2f%%" % (e + 1, epochs, n / dt, float(loss),
                                                                          100 * accuracy(m, xte, yte, bf16)))
    print("PyTorch: %.0f samples/s (training, one thread), final test accuracy %.2f%%" %
          (epochs * n / train_time, 100 * accuracy(m, xte, yte, bf16)))


if __name__ == "__main__":
    main()
