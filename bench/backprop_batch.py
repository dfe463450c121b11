"""Time one mini-batch gradient of ffbook.backprop: matrix form (Network.backward) vs the
lecture's loop over examples (Network.backward_averaged), and check that they agree.

    python bench/backprop_batch.py [--batch 256] [--repeat 5]

Set OPENBLAS_NUM_THREADS=1 on a shared, busy machine: small matrix products otherwise spend
most of their time waiting for BLAS threads.
"""

from __future__ import annotations

import argparse
import os
import platform
import timeit

import numpy as np

import ffbook
from ffbook.backprop import Network


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    network = Network([64, 128, 128, 10], ["tanh", "relu", "softmax"], cost="cross_entropy", seed=0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.batch, 64))
    y = rng.integers(0, 10, size=args.batch)
    gap = np.abs(network.backward(x, y).flat() - network.backward_averaged(x, y).flat()).max()
    print(
        f"ffbook {ffbook.__version__}, numpy {np.__version__}, python {platform.python_version()}, "
        f"{os.cpu_count()} CPU cores, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"
    )
    print(f"network 64-128-128-10 (tanh, relu, softmax), batch {args.batch}; largest difference {gap:.1e}")
    for name, backward in [
        ("vectorised (backward)", network.backward),
        ("per example (backward_averaged)", network.backward_averaged),
    ]:
        seconds = min(timeit.repeat(lambda backward=backward: backward(x, y), number=3, repeat=args.repeat)) / 3
        print(f"{name:34} {seconds * 1e3:8.2f} ms per batch")


if __name__ == "__main__":
    main()
