"""Benchmark ffbook.ff.keras against a re-implementation of the keras.io example's training step.

Two measurements on the same data and the same initial weights:

1. **Time per outer epoch** (one ``fit`` epoch = ``inner_steps`` Adam steps for every layer on the
   whole batch): ``ffbook.ff.keras.FFNetwork`` vs ``ExampleFFNetwork`` below, which re-creates what
   the example does in each step (TensorFlow only, as the example): overlays built with
   ``vectorized_map``, negatives from a shuffled label vector, the 50 inner steps unrolled in the
   traced ``train_step``, each step normalising and running positives and negatives separately
   and computing the loss as ``log(1 + exp(.))``. The first epoch (tracing) is reported apart.
2. **Prediction on the 10,000 test images**: the batched ``FFNetwork.predict`` vs the example's
   per-sample scoring mapped with ``vectorized_map``.

Usage (CPU, TensorFlow backend; the default sizes fit a shared 2-core machine):

    python bench/ff_keras.py --train-size 2000 --epochs 4

The GPU target (the full recipe in at most 5 minutes on one H100, Keras on PyTorch, no TensorFlow
installed there) is measured with:

    python bench/ff_keras.py --backend torch --full

which trains the full recipe (60,000 images, 784-500-500, 250 x 50 steps, Adam 0.03, threshold 1.5)
with ``FFNetwork`` only and reports the total time and the test accuracy.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="tensorflow", choices=["tensorflow", "torch"])
    parser.add_argument(
        "--train-size", type=int, default=None, help="training images per (full) batch (2,000; --full: 60,000)"
    )
    parser.add_argument("--epochs", type=int, default=4, help="outer epochs to time (the first includes tracing)")
    parser.add_argument("--inner-steps", type=int, default=50)
    parser.add_argument("--dims", type=int, nargs="+", default=[784, 500, 500])
    parser.add_argument("--full", action="store_true", help="train the full recipe with FFNetwork only")
    parser.add_argument("--skip-predict", action="store_true")
    parser.add_argument("--outer-epochs", type=int, default=250, help="with --full: outer epochs (the recipe: 250)")
    parser.add_argument("--max-seconds", type=float, default=None, help="with --full: stop after this much training")
    parser.add_argument("--json", default=None, help="with --full: write the record (JSON) here")
    return parser.parse_args(argv)


ARGS = parse_args() if __name__ == "__main__" else parse_args([])
os.environ.setdefault("KERAS_BACKEND", ARGS.backend)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from ffbook.data import load_mnist  # noqa: E402
from ffbook.ff.keras import FFNetwork  # noqa: E402

THRESHOLD = 1.5
LEARNING_RATE = 0.03


# ---------------------------------------------------------------- the example's way (TensorFlow)


class ExampleFFDense(keras.layers.Layer):
    """The example's layer: every inner step normalises and runs positives and negatives apart."""

    def __init__(self, units, num_epochs):
        super().__init__()
        self.dense = keras.layers.Dense(units)
        self.relu = keras.layers.ReLU()
        self.optimizer = keras.optimizers.Adam(learning_rate=LEARNING_RATE)
        self.loss_metric = keras.metrics.Mean()
        self.num_epochs = num_epochs

    def build(self, input_shape):
        self.dense.build(input_shape)

    def call(self, x):
        x = x / (ops.norm(x, ord=2, axis=1, keepdims=True) + 1e-4)
        return self.relu(self.dense(x))

    def forward_forward(self, x_pos, x_neg):
        import tensorflow as tf

        for _ in range(self.num_epochs):  # a Python loop: unrolled when traced
            with tf.GradientTape() as tape:
                g_pos = ops.mean(ops.power(self.call(x_pos), 2), 1)
                g_neg = ops.mean(ops.power(self.call(x_neg), 2), 1)
                loss = ops.mean(ops.log(1 + ops.exp(ops.concatenate([-g_pos + THRESHOLD, g_neg - THRESHOLD], 0))))
                self.loss_metric.update_state([loss])
            grads = tape.gradient(loss, self.dense.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.dense.trainable_weights, strict=True))
        return ops.stop_gradient(self.call(x_pos)), ops.stop_gradient(self.call(x_neg)), self.loss_metric.result()


class ExampleFFNetwork(keras.Model):
    """The example's model: shuffled negatives, per-sample overlays and per-sample prediction."""

    def __init__(self, dims, num_epochs):
        super().__init__()
        self.ff_layers = [ExampleFFDense(units, num_epochs) for units in dims[1:]]
        self.loss_var = keras.metrics.Mean()

    def overlay_one(self, data):
        import tensorflow as tf

        x, y = data
        x_max = ops.max(x)
        x = tf.tensor_scatter_nd_update(x, tf.range(10)[:, None], tf.zeros(10))
        return tf.tensor_scatter_nd_update(x, [[ops.cast(y, "int32")]], [x_max])

    def train_step(self, data):
        import tensorflow as tf

        x, y = data
        x_pos = ops.vectorized_map(self.overlay_one, (x, y))
        x_neg = ops.vectorized_map(self.overlay_one, (x, tf.random.shuffle(y)))
        h_pos, h_neg = x_pos, x_neg
        for layer in self.ff_layers:
            h_pos, h_neg, loss = layer.forward_forward(h_pos, h_neg)
            self.loss_var.update_state(loss)
        return {"FinalLoss": self.loss_var.result()}

    def predict_one_sample(self, x):
        import tensorflow as tf

        scores = []
        for label in range(10):
            h = self.overlay_one((x, tf.constant(label)))[None, :]
            total = 0.0
            for layer in self.ff_layers:
                h = layer(h)
                total += ops.mean(ops.power(h, 2), 1)
            scores.append(total)
        return ops.argmax(ops.concatenate(scores, 0))

    def predict(self, x):
        import tensorflow as tf

        return ops.convert_to_numpy(tf.function(lambda x: ops.vectorized_map(self.predict_one_sample, x))(x))


# ---------------------------------------------------------------- timing helpers


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def copy_weights(source_layers, target_layers):
    for source, target in zip(source_layers, target_layers, strict=True):
        target.dense.set_weights(source.dense.get_weights())


def load_data(train_size):
    (x_train, y_train), (x_test, y_test) = load_mnist()
    x_train = x_train[:train_size].reshape(train_size, -1).astype("float32") / 255
    x_test = x_test.reshape(len(x_test), -1).astype("float32") / 255
    return x_train, y_train[:train_size].astype("int32"), x_test, y_test


def describe_machine() -> str:
    import ffbook

    device = ffbook.default_device()
    if device == "cuda":
        import torch

        device = f"cuda ({torch.cuda.get_device_name(0)})"
    else:
        device = f"cpu ({os.cpu_count()} cores, {platform.machine()})"
    return f"{device}; Keras {keras.__version__} on {keras.backend.backend()}; Python {platform.python_version()}"


def time_fit(model, x, y, epochs):
    timer = EpochTimer()
    model.fit(x, y, batch_size=len(x), epochs=epochs, verbose=0, shuffle=False, callbacks=[timer])
    return timer.seconds


def time_call(fn, repeats=1):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def run_comparison(args):
    if keras.backend.backend() != "tensorflow":
        sys.exit("the example's training step is TensorFlow code: run the comparison with --backend tensorflow")
    args.train_size = args.train_size or 2000
    x, y, x_test, y_test = load_data(args.train_size)
    keras.utils.set_random_seed(0)
    ours = FFNetwork(args.dims, num_epochs=args.inner_steps, threshold=THRESHOLD, seed=0)
    ours.compile()
    ours.build()
    example = ExampleFFNetwork(args.dims, args.inner_steps)
    example.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="mse", jit_compile=False)
    width = args.dims[0]
    for layer, units in zip(example.ff_layers, args.dims[1:], strict=True):
        layer.build((None, width))
        width = units
    copy_weights(ours.ff_layers, example.ff_layers)

    print(f"# {describe_machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(
        f"# {args.train_size} images per batch, dims {args.dims}, {args.inner_steps} inner steps, {args.epochs} epochs"
    )
    if not args.skip_predict:
        # Same weights, before training: predictions must agree (untrained nets tie rarely).
        t_ours, p_ours = time_call(lambda: ours.predict(x_test), repeats=2)
        t_example, p_example = time_call(lambda: example.predict(x_test), repeats=1)
        agree = np.mean(p_ours == p_example)
        print(
            f"predict 10,000: FFNetwork {t_ours:.2f} s, example per-sample {t_example:.2f} s, "
            f"speed-up {t_example / t_ours:.1f}x (predictions agree on {agree:.1%})"
        )
    # The first epoch traces and compiles; then the two alternate epoch by epoch, so that both
    # see the same load on a shared machine.
    first = {"FFNetwork": time_fit(ours, x, y, 1)[0], "example": time_fit(example, x, y, 1)[0]}
    later = {"FFNetwork": [], "example": []}
    for _ in range(args.epochs - 1):
        later["FFNetwork"] += time_fit(ours, x, y, 1)
        later["example"] += time_fit(example, x, y, 1)
    for name in later:
        print(
            f"{name:>10}: first epoch (tracing) {first[name]:.1f} s, "
            f"later epochs median {np.median(later[name]):.1f} s ({np.round(later[name], 1)})"
        )
    ratios = np.array(later["example"]) / np.array(later["FFNetwork"])
    print(f"per outer epoch, example / FFNetwork: median {np.median(ratios):.2f} (each round: {np.round(ratios, 2)})")


class TimeGuard(keras.callbacks.Callback):
    """Stops ``fit`` at the end of the first epoch that ends past ``max_seconds`` of training."""

    def __init__(self, max_seconds):
        super().__init__()
        self.max_seconds, self.start = max_seconds, None

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if self.max_seconds is not None and time.perf_counter() - self.start > self.max_seconds:
            self.model.stop_training = True


def run_full(args):
    import json

    if keras.backend.backend() == "torch":
        import torch

        # TF32 matmuls on CUDA (float32 accumulation), as ffbook.ff's PyTorch presets use by default.
        torch.backends.cuda.matmul.allow_tf32 = True
    x, y, x_test, y_test = load_data(args.train_size or 60_000)
    keras.utils.set_random_seed(0)
    model = FFNetwork(args.dims, num_epochs=args.inner_steps, threshold=THRESHOLD, seed=0)
    model.compile()
    print(f"# {describe_machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    timer, guard = EpochTimer(), TimeGuard(args.max_seconds)
    start = time.perf_counter()
    model.fit(x, y, batch_size=len(x), epochs=args.outer_epochs, verbose=0, shuffle=False, callbacks=[timer, guard])
    total = time.perf_counter() - start
    accuracy = float(np.mean(model.predict(x_test) == y_test))
    done = len(timer.seconds)
    print(
        f"full recipe: {done} of {args.outer_epochs} outer epochs in {total / 60:.2f} min (first epoch "
        f"{timer.seconds[0]:.1f} s, median {np.median(timer.seconds[1:] or timer.seconds):.2f} s); "
        f"test accuracy {accuracy:.2%}"
    )
    if args.json:
        import ffbook
        from ffbook.ff.records import SCHEMA, environment

        machine = {"machine": describe_machine(), "keras": keras.__version__, "keras_backend": keras.backend.backend()}
        run = {
            "status": "interrupted" if done < args.outer_epochs else "complete",  # stopped by --max-seconds
            "epochs_done": done,
            "preset": "keras-io (FFNetwork)",
            "net": {"dims": list(args.dims), "threshold": THRESHOLD},
            "train": {"outer_epochs": args.outer_epochs, "inner_steps": args.inner_steps, "train_size": len(x),
                      "batch_size": len(x), "seed": 0},  # fmt: skip
            "history": {"epoch_seconds": timer.seconds, "test_epochs": [done], "test_error": [1.0 - accuracy]},
            "results": {"test_error": 1.0 - accuracy, "train_seconds": total, "test_size": len(x_test)},
        }
        environment_now = environment(ffbook.default_device()) | machine
        record = {"schema": SCHEMA, "environment": environment_now, "runs": {"keras-ffnetwork": run}}
        with open(args.json, "w") as handle:
            json.dump(record, handle, indent=2)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import gpu_imports

    gpu_imports.record("keras")


if __name__ == "__main__":
    if ARGS.full:
        run_full(ARGS)
    else:
        run_comparison(ARGS)
