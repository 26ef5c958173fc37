"""gen_half_lab_reference.py - PyTorch's errors in the seed 004 part E lab, for tests/test_half_lab.c.

    make build/examples/half_lab
    build/examples/half_lab --save build/half_lab_inputs.safetensors
    /usr/bin/python3 tests/gen_half_lab_reference.py build/half_lab_inputs.safetensors > tests/data/half_lab_torch.txt

Runs examples/half_lab_torch.py's lab (float64 reference, float32, bfloat16; float16 if this
PyTorch runs it on the CPU) on the 20 runs' inputs and writes, one line each:

    inputs R SX SW SB ST           run R's inputs: the float64 sums of x, W, b and target as
                                   the file holds them (the test draws its own with ag_randn and
                                   checks they are these numbers)
    err DTYPE Q KIND E0 ... E19    PyTorch's error of Q (y, dx, dW, db) in DTYPE, per run:
                                   KIND abs = max|a - r|, rel = max|a - r| / max|r| against the
                                   float64 run, man = max|autograd - manual| in DTYPE
    skipped DTYPE REASON...        a dtype PyTorch did not run
"""
import importlib.util
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("half_lab_torch", os.path.join(HERE, "..", "examples", "half_lab_torch.py"))
hl = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hl)


def main():
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    torch.set_num_threads(1)
    runs = hl.read_inputs(sys.argv[1])
    res, skipped = hl.measure(runs)
    print("# tests/gen_half_lab_reference.py, PyTorch %s (CPU), numpy %s: the Linear(64->600) lab of" % (torch.__version__, np.__version__))
    print("# shared/seeds 004 part E on the inputs of `half_lab --save` (ag_randn, seed 123); see the script's docstring")
    print("runs %d" % len(runs))
    for r, arrays in enumerate(runs):
        print("inputs %d %s" % (r, " ".join("%.17g" % float(np.sum(a.astype(np.float64))) for a in arrays)))
    for name, _ in hl.DTYPES:
        if name in skipped:
            print("skipped %s %s" % (name, skipped[name]))
            continue
        for q, qn in enumerate(hl.QUANTITIES):
            for kind in ("abs", "rel", "man"):
                print("err %s %s %s %s" % (name, qn, kind, " ".join("%.17g" % v for v in res[name][kind][q])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
