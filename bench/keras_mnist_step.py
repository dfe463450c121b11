"""Time one training step of the lecture's MNIST networks on the current Keras backend.

Usage: KERAS_BACKEND=torch python bench/keras_mnist_step.py  (or tensorflow, jax)

Trains 40 mini-batches of 128 after a 2-batch warm-up (which compiles/traces) and reports the
mean time per step and the implied time per 60,000-example epoch (469 steps, no validation).
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from ffbook.data import load_mnist  # noqa: E402
from ffbook.keras_models import LECTURE_MNIST_EXPERIMENTS, compile_like_lecture  # noqa: E402

STEPS, BATCH = 40, 128


def main() -> None:
    (images, labels), _ = load_mnist()
    x = images[: STEPS * BATCH].reshape(-1, 784).astype("float32") / 255.0
    y = keras.utils.to_categorical(labels[: STEPS * BATCH], 10)
    print(f"Keras {keras.__version__}, backend {keras.backend.backend()}, {os.cpu_count()} CPU cores")
    for experiment in (LECTURE_MNIST_EXPERIMENTS[0], LECTURE_MNIST_EXPERIMENTS[2]):
        keras.utils.set_random_seed(0)
        model = compile_like_lecture(experiment.build())
        model.fit(x[: 2 * BATCH], y[: 2 * BATCH], batch_size=BATCH, epochs=1, verbose=0)  # warm-up
        start = time.perf_counter()
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
        per_step = (time.perf_counter() - start) / STEPS
        print(f"{experiment.name:14s} {per_step * 1000:7.1f} ms/step  ~{per_step * 469:5.0f} s/epoch")


if __name__ == "__main__":
    main()
