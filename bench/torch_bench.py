#!/usr/bin/python3
"""PyTorch side of `make bench`: the same cases as bench/bench.c, written the way a PyTorch
user would, timed the same way (one warm-up call; calls per batch calibrated so that a batch
lasts >= --sample-time seconds; the best time per call over --samples batches).

Cases (all F32, torch.set_num_threads(1), OpenBLAS on 1 thread unless said):
    mlp    MLP 784-256-128-10, batch 64, ReLU, cross-entropy, one plain-SGD step
    mlp2   the same with its products (Debian's torch does them in OpenBLAS) on 2 OpenBLAS threads
    tiny   100 x (x = tanh(x*1.01 + 0.1)) on a 1-element tensor that requires grad, fwd + bwd
    expT, softmax0, softmax1   exp of x^T, softmax along dim 0 and along dim 1, x [256, 256], forward only
    lab    y = linear(x[2,64], W[600,64], b[600]), L = 0.5*sum((y-t)^2), fwd + bwd
    agent32, agent64, agent128   the agent step for MLP 16-h-4
    lngelu                       MLP 784-256-10 with gelu and layer_norm, batch 64, SGD
    bf16mm256, bf16mm1024   a bfloat16 [n x n] @ [n x n] (float16 has no CPU matmul in torch 1.13)
    conv16 conv2d 16->16 3x3 pad 1 on x [64,16,28,28], fwd + bwd (grads of x, W, b; oneDNN)
    conv16_2  the same with torch on 2 threads (as cnn2)
    conv1  conv2d 1->16 3x3 pad 1 on x [64,1,28,28], fwd + bwd (grads of W, b)
    pool   max_pool2d 2x2 on [64,16,28,28], fwd + bwd
    cnn    one Adam step of examples/fashion_mnist_cnn.c's CNN, batch 64
    cnn2   the same with torch on 2 threads (OpenMP: oneDNN and ATen) and OpenBLAS on 1

Two ways to run it:

  /usr/bin/python3 bench/torch_bench.py [--sample-time S] [--samples N] [--only mlp,tiny,lab]
      measures and prints `key value` lines (seconds per call converted as named):
          torch_version 1.13.0a0
          mlp_us_t1 412.3 / mlp_us_t2 301.0 / tiny_ns_per_op 2100.5 / lab_us 45.6

  /usr/bin/python3 bench/torch_bench.py --serve --sample-time S
      what bench/bench.c does: prints `torch_version V` and `ready`, then answers commands
      on stdin, one line each, so that the C bench can alternate PyTorch's batches with its own:
          calibrate CASE  ->  ok SECONDS_PER_CALL CPU_SHARE   (warm-up, then calls per batch fixed)
          batch CASE      ->  ok SECONDS_PER_CALL CPU_SHARE   (one batch)
      (CPU_SHARE: this process's CPU time / wall time over the batch; under 1 when the
      machine was busy)
      and `error MESSAGE` for a bad command.

If torch cannot be imported it prints `skip <reason>` and exits 0, so the bench goes on
without the PyTorch rows.
"""
import argparse
import sys
import time


_blas_threads = [None]


def set_threads(torch, intra, blas):
    """torch's own (OpenMP) threads, and OpenBLAS's: Debian's torch does its matrix products
    in OpenBLAS (libblas.so.3 -> openblas-pthread), which does not follow torch.set_num_threads.
    (torch.set_num_threads(2) together with 2 OpenBLAS threads makes the two thread pools spin
    against each other: on a 2-core machine a step then takes 10-20x longer. So `mlp2` keeps
    torch's own ops on 1 thread and puts the products on 2.) Only changes what differs."""
    if torch.get_num_threads() != intra:
        torch.set_num_threads(intra)
    if _blas_threads[0] == blas:
        return
    _blas_threads[0] = blas
    try:
        import ctypes
        for name in ("libopenblas.so.0", "libblas.so.3"):
            try:
                lib = ctypes.CDLL(name)
                lib.openblas_set_num_threads(ctypes.c_int(blas))
                return
            except (OSError, AttributeError):
                continue
    except Exception:
        pass


def make_cases(torch):
    import torch.nn.functional as F
    torch.manual_seed(0)
    cases = {}

    B, sizes, lr = 64, [784, 256, 128, 10], 0.01
    params = []
    for i in range(3):
        fan_in, fan_out = sizes[i], sizes[i + 1]
        bound = 1.0 / fan_in ** 0.5
        params.append(((torch.rand(fan_out, fan_in) * 2 - 1) * bound).requires_grad_())
        params.append(((torch.rand(fan_out) * 2 - 1) * bound).requires_grad_())
    x = torch.rand(B, 784)
    t = torch.randint(0, 10, (B,))
    W1, b1, W2, b2, W3, b3 = params

    def sgd_step(loss, ps, rate):   # backward into fresh gradients, then p -= rate * grad
        for p in ps:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in ps:
                p.add_(p.grad, alpha=-rate)

    def mlp_step():
        h1 = torch.relu(F.linear(x, W1, b1))
        h2 = torch.relu(F.linear(h1, W2, b2))
        sgd_step(F.cross_entropy(F.linear(h2, W3, b3), t), params, lr)

    cases["mlp"] = (mlp_step, 1, 1)     # (function, torch threads, OpenBLAS threads)
    cases["mlp2"] = (mlp_step, 1, 2)

    x0 = torch.tensor([0.5], requires_grad=True)

    def tiny_step():
        y = x0
        for _ in range(100):
            y = torch.tanh(y * 1.01 + 0.1)
        x0.grad = None
        y.backward()

    cases["tiny"] = (tiny_step, 1, 1)

    # exp of x^T (a view), softmax along dim 0 and along dim 1, x [256, 256]
    vx = torch.rand(256, 256) * 6 - 3
    cases["expT"] = ((lambda: torch.exp(vx.t())), 1, 1)
    cases["softmax0"] = ((lambda: torch.softmax(vx, 0)), 1, 1)
    cases["softmax1"] = ((lambda: torch.softmax(vx, 1)), 1, 1)

    lx = torch.rand(2, 64) * 2 - 1
    lt = torch.rand(2, 600) * 2 - 1
    lW = ((torch.rand(600, 64) * 2 - 1) / 8).requires_grad_()
    lb = ((torch.rand(600) * 2 - 1) / 8).requires_grad_()

    def lab_step():
        y = F.linear(lx, lW, lb)
        L = 0.5 * ((y - lt) ** 2).sum()
        lW.grad = None
        lb.grad = None
        L.backward()

    cases["lab"] = (lab_step, 1, 1)

    # 7. forward mode: the jvp of a small MLP, tanh(x W1^T) W2^T, along tangents for all three inputs
    import torch.autograd.forward_ad as fwAD
    jx, jW1, jW2 = torch.randn(64, 128), torch.randn(128, 128) * 0.09, torch.randn(10, 128) * 0.09
    ju = [torch.randn(64, 128), torch.randn(128, 128), torch.randn(10, 128)]

    def jvp_step():
        with fwAD.dual_level():
            d = [fwAD.make_dual(p, u) for p, u in zip((jx, jW1, jW2), ju)]
            y = F.linear(torch.tanh(F.linear(d[0], d[1])), d[2])
            fwAD.unpack_dual(y).tangent

    cases["jvp"] = (jvp_step, 1, 1)

    # 7. a game agent's step: MLP 16-64-4, batch 1, MSE, Adam
    gW1 = ((torch.rand(64, 16) * 2 - 1) / 4).requires_grad_()
    gb1 = torch.zeros(64, requires_grad=True)
    gW2 = ((torch.rand(4, 64) * 2 - 1) / 8).requires_grad_()
    gb2 = torch.zeros(4, requires_grad=True)
    gopt = torch.optim.Adam([gW1, gb1, gW2, gb2], lr=1e-3)
    gx, gy = torch.rand(1, 16), torch.rand(1, 4)

    def agent_step():
        gopt.zero_grad(set_to_none=True)
        loss = F.mse_loss(F.linear(torch.relu(F.linear(gx, gW1, gb1)), gW2, gb2), gy)
        loss.backward()
        gopt.step()

    cases["agent"] = (agent_step, 1, 1)

    # lngelu: MLP 784-256-10 with gelu and layer_norm, batch 64, cross-entropy, SGD (bench.c's lng_case)
    nW1 = ((torch.rand(256, 784) * 2 - 1) / 28).requires_grad_()
    nb1 = torch.zeros(256, requires_grad=True)
    nW2 = ((torch.rand(10, 256) * 2 - 1) / 16).requires_grad_()
    nb2 = torch.zeros(10, requires_grad=True)
    ng = torch.ones(256, requires_grad=True)
    nbe = torch.zeros(256, requires_grad=True)
    nparams = [nW1, nb1, nW2, nb2, ng, nbe]
    nx, nt = torch.rand(64, 784), torch.arange(64) % 10

    def lngelu_step():
        h = F.layer_norm(F.gelu(F.linear(nx, nW1, nb1)), (256,), ng, nbe, 1e-5)
        sgd_step(F.cross_entropy(F.linear(h, nW2, nb2), nt), nparams, 0.01)

    cases["lngelu"] = (lngelu_step, 1, 1)

    # agent32, agent64, agent128: the same step for MLP 16-h-4 (batch-1 networks of game size)
    def make_agent(h):
        W1 = ((torch.rand(h, 16) * 2 - 1) / 4).requires_grad_()
        b1 = torch.zeros(h, requires_grad=True)
        W2 = ((torch.rand(4, h) * 2 - 1) / 8).requires_grad_()
        b2 = torch.zeros(4, requires_grad=True)
        opt = torch.optim.Adam([W1, b1, W2, b2], lr=1e-3)

        def step():
            opt.zero_grad(set_to_none=True)
            F.mse_loss(F.linear(torch.relu(F.linear(gx, W1, b1)), W2, b2), gy).backward()
            opt.step()
        return step

    for h in (32, 64, 128):
        cases["agent%d" % h] = (make_agent(h), 1, 1)

    # pegrad: per-example gradients of the 784-256-128-10 MLP at batch 64, functorch.vmap(grad(loss))
    try:
        from functorch import vmap, grad
        pp = [torch.randn(256, 784) * 0.05, torch.zeros(256), torch.randn(128, 256) * 0.05, torch.zeros(128),
              torch.randn(10, 128) * 0.05, torch.zeros(10)]
        px, py = torch.rand(64, 784), torch.randint(0, 10, (64,))

        def pe_loss(p, x, y):
            h = torch.relu(F.linear(x, p[0], p[1]))
            h = torch.relu(F.linear(h, p[2], p[3]))
            return F.cross_entropy(F.linear(h, p[4], p[5]).unsqueeze(0), y.unsqueeze(0))
        pe = vmap(grad(pe_loss), in_dims=(None, 0, 0))
        cases["pegrad"] = ((lambda: pe(pp, px, py)), 1, 1)
        from functorch import jacrev
        rW1 = (torch.randn(128, 128) * 0.09).double()   # names of their own: the jvp case's closures read jx, jW1, jW2
        rW2 = (torch.randn(128, 128) * 0.09).double()
        rx = torch.randn(128).double()
        rf = jacrev(lambda x: F.linear(torch.tanh(F.linear(x, rW1)), rW2))
        cases["jacrev"] = ((lambda: rf(rx)), 1, 1)
    except ImportError:
        pass

    # 10. convolutions: conv16 (conv2d 16->16 3x3 pad 1 on x [64,16,28,28], gradients of x, W and b),
    # conv1 (1->16 on [64,1,28,28], gradients of W and b: the input is data), pool (2x2 max pool on
    # [64,16,28,28]); each backward seeded with a fixed random gradient of the output's shape.
    # F.conv2d of a float32 batch of 64 runs in oneDNN (aten::mkldnn_convolution), on torch's
    # OpenMP threads; F.max_pool2d is ATen's own kernel.
    def make_conv(cin, x_grad):
        x = torch.rand(64, cin, 28, 28) * 2 - 1
        x.requires_grad_(x_grad)
        bound = 1.0 / (cin * 9) ** 0.5
        W = ((torch.rand(16, cin, 3, 3) * 2 - 1) * bound).requires_grad_()
        b = ((torch.rand(16) * 2 - 1) * bound).requires_grad_()
        g = torch.rand(64, 16, 28, 28) * 2 - 1

        def step():
            x.grad = W.grad = b.grad = None
            F.conv2d(x, W, b, padding=1).backward(g)
        return step

    cases["conv16"] = (make_conv(16, True), 1, 1)
    cases["conv16_2"] = (cases["conv16"][0], 2, 1)   # on 2 threads, as cnn2 below
    cases["conv1"] = (make_conv(1, False), 1, 1)
    px4 = (torch.rand(64, 16, 28, 28) * 2 - 1).requires_grad_()
    pg4 = torch.rand(64, 16, 14, 14) * 2 - 1

    def pool_step():
        px4.grad = None
        F.max_pool2d(px4, 2).backward(pg4)

    cases["pool"] = (pool_step, 1, 1)

    # cnn: one training step of examples/fashion_mnist_cnn.c's model (conv 1->16 3x3 pad 1, relu,
    # max pool 2, conv 16->32, relu, max pool 2, linear 1568->10, cross-entropy), batch 64, Adam lr 2e-3.
    # cnn2: the same on 2 threads: the convolutions (oneDNN), pools, relus and Adam run on torch's
    # OpenMP threads, so torch.set_num_threads(2); the one product (linear 1568->10, tiny) stays on
    # 1 OpenBLAS thread, so that no two thread pools spin against each other (see set_threads)
    cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                              torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                              torch.nn.Flatten(), torch.nn.Linear(32 * 7 * 7, 10))
    copt = torch.optim.Adam(cnn.parameters(), lr=2e-3)
    cx = (torch.rand(64, 1, 28, 28) - 0.2860) / 0.3530
    ct = torch.randint(0, 10, (64,))

    def cnn_step():
        loss = F.cross_entropy(cnn(cx), ct)
        copt.zero_grad(set_to_none=True)
        loss.backward()
        copt.step()

    cases["cnn"] = (cnn_step, 1, 1)
    cases["cnn2"] = (cnn_step, 2, 1)

    # bf16mm256, bf16mm1024: a bfloat16 matrix product (PyTorch 1.13's CPU has no float16 one)
    for n in (256, 1024):
        a16 = torch.rand(n, n).to(torch.bfloat16)
        b16 = torch.rand(n, n).to(torch.bfloat16)
        cases["bf16mm%d" % n] = ((lambda a, b: lambda: torch.matmul(a, b))(a16, b16), 1, 1)
    return cases


def run_batch(fn, iters):
    """wall seconds of `iters` calls"""
    return run_batch_share(fn, iters)[0]


def run_batch_share(fn, iters):
    """wall seconds of `iters` calls, and this process's CPU time / wall time over them"""
    c0 = time.process_time()
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    w = time.perf_counter() - t0
    return w, (time.process_time() - c0) / w if w > 0 else 1.0


def calibrate(fn, sample_time):
    """warm-up, then the number of calls for a batch of >= sample_time; (iters, seconds per call, CPU share)"""
    fn()
    iters = 1
    while True:
        t, share = run_batch_share(fn, iters)
        if t >= sample_time:
            return iters, t / iters, share
        iters = max(iters * 2, int(iters * sample_time / t * 1.2) + 1) if t > 0 else iters * 10


def measure(fn, sample_time, samples):
    iters, best, _ = calibrate(fn, sample_time)
    n = samples
    while n > 3 and n * best * iters > 1.0:   # slow calls: about a second at most
        n -= 1
    for _ in range(n - 1):
        best = min(best, run_batch(fn, iters) / iters)
    return best


def serve(torch, cases, sample_time):
    iters = {}
    print("ready")
    sys.stdout.flush()
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in cases or parts[0] not in ("calibrate", "batch"):
            print("error bad command: %s" % line.strip())
        else:
            fn, intra, blas = cases[parts[1]]
            set_threads(torch, intra, blas)
            if parts[0] == "calibrate":
                iters[parts[1]], per, share = calibrate(fn, sample_time)
            else:
                n = iters.get(parts[1]) or calibrate(fn, sample_time)[0]
                w, share = run_batch_share(fn, n)
                per = w / n
            print("ok %.9g %.4f" % (per, share))
        sys.stdout.flush()
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sample-time", type=float, default=0.002)
    ap.add_argument("--samples", type=int, default=101)
    ap.add_argument("--only", default="mlp,tiny,lab")
    ap.add_argument("--serve", action="store_true")
    args = ap.parse_args()
    try:
        import torch
    except Exception as e:  # ImportError, or a broken install
        print("skip cannot import torch with %s: %s" % (sys.executable, str(e).replace("\n", " ")))
        return 0
    print("torch_version %s" % torch.__version__)
    sys.stdout.flush()
    set_threads(torch, 1, 1)
    cases = make_cases(torch)
    if args.serve:
        return serve(torch, cases, args.sample_time)
    only = set(args.only.split(","))
    st, ns = args.sample_time, args.samples

    def run(case):
        fn, intra, blas = cases[case]
        set_threads(torch, intra, blas)
        r = measure(fn, st, ns)
        set_threads(torch, 1, 1)
        return r

    if "mlp" in only:
        print("mlp_us_t1 %.3f" % (run("mlp") * 1e6))
        print("mlp_us_t2 %.3f" % (run("mlp2") * 1e6))
    if "tiny" in only:
        print("tiny_ns_per_op %.3f" % (run("tiny") * 1e9 / 300))
    if "lab" in only:
        print("lab_us %.3f" % (run("lab") * 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main())
