"""Time one training step of the tutorial's MNIST network with SGD and with ConditionalGradient.

Usage: ``KERAS_BACKEND=tensorflow python bench/bench_conditional_gradient.py [--steps 300]``.
Prints one Markdown table (milliseconds per batch of 64) with the device, versions and date,
ready to paste into bench/RESULTS.md. Random inputs: the cost of a step does not depend on the data.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from ffbook.keras_models import dense_classifier  # noqa: E402
from ffbook.optimizers import ConditionalGradient  # noqa: E402

OPTIMIZERS = {
    "SGD(0.01)": lambda: keras.optimizers.SGD(0.01),
    'ConditionalGradient(ord="fro")': lambda: ConditionalGradient(0.99949, lambda_=203.0, ord="fro"),
    'ConditionalGradient(ord="nuclear")': lambda: ConditionalGradient(0.99949, lambda_=203.0, ord="nuclear"),
}


def milliseconds_per_step(make_optimizer, steps: int, repeats: int, batch_size: int = 64, seed: int = 0) -> float:
    """Best (smallest) of ``repeats`` timed epochs of ``steps`` batches, after one untimed warm-up."""
    rng = np.random.default_rng(seed)
    x = rng.random((steps * batch_size, 784), dtype=np.float32)
    y = rng.integers(0, 10, size=steps * batch_size)
    keras.utils.set_random_seed(seed)
    model = dense_classifier((64, 64))
    model.compile(optimizer=make_optimizer(), loss="sparse_categorical_crossentropy")
    model.fit(x[: 10 * batch_size], y[: 10 * batch_size], batch_size=batch_size, verbose=0)  # build and trace
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        timings.append(time.perf_counter() - start)
    return 1000.0 * min(timings) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="timed batches per optimizer")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per optimizer; the best is kept")
    args = parser.parse_args()
    if args.steps < 1 or args.repeats < 1:
        parser.error("--steps and --repeats must be positive")
    print(
        f"{datetime.date.today()}, {platform.machine()} CPU ({os.cpu_count()} cores), Keras {keras.__version__}, "
        f"backend {keras.backend.backend()}, best of {args.repeats} x {args.steps} batches of 64\n"
    )
    print("| optimizer | ms per batch |\n|---|---|")
    for name, make_optimizer in OPTIMIZERS.items():
        print(f"| {name} | {milliseconds_per_step(make_optimizer, args.steps, args.repeats):.2f} |")


if __name__ == "__main__":
    main()
