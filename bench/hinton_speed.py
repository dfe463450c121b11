"""Time per training epoch: Hinton's original (GNU Octave) against the port (PyTorch), on one machine.

    python bench/hinton_speed.py [--repeats 2] [--threads 1]

The original's time for 100 batches is the difference between two runs of ``../shared/ffcode/run.sh
--epochs 1`` with 20,000 and 10,000 training images: everything else in a run (starting Octave,
``prep.m``, the final tests on 10,000 training and 10,000 test images) is the same in both. The
port's is 100 calls of ``ffbook.ff.train_step`` (the step ``fit`` runs) on the ``hinton-matlab``
recipe after 10 warm-up calls. The two alternate ``--repeats`` times, so a change in the machine's
load falls on both; each is run with ``--threads`` BLAS/torch threads. An epoch is 500 batches;
its arithmetic is about 1.4 TFLOP (three forward passes and two weight-gradient products of
784-1000-1000-1000 per image), from which the rate each reaches is printed.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import statistics
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
FLOP_PER_IMAGE = 2 * 5 * (784 * 1000 + 2 * 1000 * 1000)  # 3 forward + 2 weight-gradient products


def octave_seconds(ntrain: int, threads: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)}
    command = ["bash", str(ROOT.parent / "shared" / "ffcode" / "run.sh"), "--epochs", "1", "--ntrain", str(ntrain)]
    output = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    return float(re.search(r"seconds ([0-9.]+)", output).group(1))


def port_seconds_per_batch(threads: int, batches: int = 100) -> float:
    import torch

    from ffbook.ff import get_preset, mnist_tensors, train_step
    from ffbook.ff.train import _optimizer

    torch.set_num_threads(threads)
    preset = get_preset("hinton-matlab")
    (x, y), _ = mnist_tensors(train_size=100 * batches, test_size=1)
    net = preset.net.build(0)
    optimizer = _optimizer(net, preset.train)
    uniforms = torch.rand(x.shape[0], generator=torch.Generator().manual_seed(0))
    for start in range(0, 1000, 100):  # warm-up
        train_step(net, optimizer, preset.train, x[start : start + 100], y[start : start + 100], uniforms[:100])
    begin = time.perf_counter()
    for start in range(0, 100 * batches, 100):
        rows = slice(start, start + 100)
        train_step(net, optimizer, preset.train, x[rows], y[rows], uniforms[rows])
    return (time.perf_counter() - begin) / batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    original, port = [], []
    for _ in range(args.repeats):
        big, small = octave_seconds(20_000, args.threads), octave_seconds(10_000, args.threads)
        original.append((big - small) / 100)
        port.append(port_seconds_per_batch(args.threads))
        print(f"original {500 * original[-1]:.1f} s/epoch, port {500 * port[-1]:.1f} s/epoch", flush=True)
    a, b = 500 * statistics.median(original), 500 * statistics.median(port)
    flop = 50_000 * FLOP_PER_IMAGE
    print(
        f"median of {args.repeats}, {args.threads} thread(s): "
        f"original {a:.1f} s per epoch ({flop / a / 1e9:.0f} GFLOP/s), "
        f"port {b:.1f} s ({flop / b / 1e9:.0f} GFLOP/s): the port is {a / b:.2f}x faster; load {os.getloadavg()}"
    )


if __name__ == "__main__":
    main()
