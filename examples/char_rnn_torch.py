#!/usr/bin/python3
"""char_rnn_torch.py - examples/char_rnn.c's model in PyTorch, for the side-by-side check.

Run from the repository root with Debian's python3-torch (and wamerican for the words):

    /usr/bin/python3 examples/char_rnn_torch.py     # writes the two files below

It builds the same model (nn.Embedding(27, 16), nn.LSTMCell(16, 64), nn.Linear(64, 27)) with
PyTorch's own initialisation (seed 0), writes those weights to
tests/data/char_rnn_init.safetensors, trains 100 Adam steps (lr 0.01) on the same windows as
char_rnn.c (the same words, the same xorshift64* numbers) and writes each step's loss to
tests/data/char_rnn_losses.txt. `make check` runs char_rnn.c from those weights and compares.
Everything is float32, as in the C program.
"""
import json
import os
import struct

import numpy as np
import torch

WORDS = "/usr/share/dict/words"
V, E, H, B, T = 27, 16, 64, 32, 16
STEPS = 100
HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "tests", "data")

MASK = (1 << 64) - 1
rng = 0x2545F4914F6CDD1D


def uniform():
    """char_rnn.c's xorshift64*: the same doubles in [0, 1)."""
    global rng
    rng ^= rng >> 12
    rng ^= (rng << 25) & MASK
    rng ^= rng >> 27
    return (((rng * 0x2545F4914F6CDD1D) & MASK) >> 11) * (1.0 / 9007199254740992.0)


def load_words():
    text = [0]
    with open(WORDS, "rb") as f:
        for line in f:
            w = line.rstrip(b"\r\n")
            if len(w) < 2 or any(c < ord("a") or c > ord("z") for c in w):
                continue
            text.extend(c - ord("a") + 1 for c in w)
            text.append(0)
    return np.array(text, dtype=np.int64)


def save_safetensors(path, tensors):
    """The format: 8-byte little-endian header size, JSON header, raw little-endian data."""
    header, blobs, at = {}, [], 0
    for name, t in tensors:
        b = t.detach().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    torch.manual_seed(0)
    text = load_words()
    emb = torch.nn.Embedding(V, E)
    cell = torch.nn.LSTMCell(E, H)
    out = torch.nn.Linear(H, V)
    save_safetensors(os.path.join(DATA, "char_rnn_init.safetensors"),
                     [("emb", emb.weight), ("w_ih", cell.weight_ih), ("w_hh", cell.weight_hh), ("b_ih", cell.bias_ih),
                      ("b_hh", cell.bias_hh), ("out_w", out.weight), ("out_b", out.bias)])
    params = list(emb.parameters()) + list(cell.parameters()) + list(out.parameters())
    opt = torch.optim.Adam(params, lr=0.01)
    losses = []
    n = len(text)
    for step in range(STEPS):
        starts = [int(uniform() * float(n - T - 1)) for _ in range(B)]
        win = torch.tensor(np.stack([text[s:s + T + 1] for s in starts]))       # [B, T + 1]
        h = torch.zeros(B, H)
        c = torch.zeros(B, H)
        logits = []
        for t in range(T):
            h, c = cell(emb(win[:, t]), (h, c))
            logits.append(out(h))
        loss = torch.nn.functional.cross_entropy(torch.cat(logits, 0), win[:, 1:].T.reshape(-1))   # time-major
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with open(os.path.join(DATA, "char_rnn_losses.txt"), "w") as f:
        f.write("".join("%r\n" % l for l in losses))
    print("torch %s: losses %.6f .. %.6f over %d steps" % (torch.__version__, losses[0], losses[-1], STEPS))


if __name__ == "__main__":
    main()
