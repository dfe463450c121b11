"""Keras 3 networks of the lecture's section 12.3: MNIST multilayer perceptrons and the 4-pixel camera.

Backend-agnostic (TensorFlow, PyTorch or JAX through ``KERAS_BACKEND``): only ``keras``
and ``keras.ops`` are used, never ``tf.keras``.

Every model here is a stack of dense layers. With the lecture's row-vector convention a
layer computes $a^{(l)} = g^{(l)}(a^{(l-1)}\\Theta^{(l)} + \\beta^{(l)})$, which is exactly
``keras.layers.Dense``: its ``kernel`` is $\\Theta^{(l)}$ (shape fan-in x fan-out) and its
``bias`` is $\\beta^{(l)}$.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import keras
import numpy as np
from tqdm.auto import tqdm

from ffbook._validate import check_choice, check_int, check_int_sequence, check_real

__all__ = [
    "MNISTExperiment",
    "LECTURE_MNIST_EXPERIMENTS",
    "dense_classifier",
    "compile_like_lecture",
    "EpochTimer",
    "CleanTrainingMetrics",
    "TqdmProgress",
    "StopAtAccuracy",
    "CAMERA_LAYER_SIZES",
    "CAMERA_ACTIVATIONS",
    "HAND_SET_CAMERA_WEIGHTS",
    "camera_network",
    "hand_set_camera_network",
    "dense_forward",
]

_ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear", "softmax")


def _check_dense_settings(hidden_units, activation, dropout) -> tuple[tuple[int, ...], str, float | None]:
    units = check_int_sequence("hidden_units", hidden_units, min=1, nonempty=False)
    activation = check_choice("activation", activation, _ACTIVATIONS)
    if dropout is not None:
        dropout = check_real("dropout", dropout, min=0.0)
        if not dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    return units, activation, dropout


def dense_classifier(
    hidden_units: Sequence[int],
    activation: str = "relu",
    dropout: float | None = None,
    input_dim: int = 784,
    num_classes: int = 10,
    name: str | None = None,
) -> keras.Sequential:
    """A fully connected classifier: input, hidden dense layers (each optionally followed by Dropout), softmax.

    The number of trainable parameters is $\\sum_l (n_{l-1} + 1)\\,n_l$ over the dense layers,
    with $n_0$ = ``input_dim`` and the last $n_l$ = ``num_classes``; Dropout adds none.

    Args:
        hidden_units: sizes of the hidden layers, e.g. ``(512, 512)``; positive ints.
        activation: activation of every hidden layer: one of relu, tanh, sigmoid, linear, softmax.
        dropout: rate of the Dropout layer after each hidden layer, in [0, 1); ``None`` for none.
        input_dim: length of the input vectors (784 for flattened MNIST).
        num_classes: number of softmax outputs, at least 2 (a softmax over one class is always 1).
        name: the model's name.
    """
    units, activation, dropout = _check_dense_settings(hidden_units, activation, dropout)
    input_dim = check_int("input_dim", input_dim, min=1)
    num_classes = check_int("num_classes", num_classes, min=2)

    layers: list = [keras.Input(shape=(int(input_dim),))]
    for size in units:
        layers.append(keras.layers.Dense(int(size), activation=activation))
        if dropout:
            layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(int(num_classes), activation="softmax"))
    return keras.Sequential(layers, name=name)


def compile_like_lecture(model: keras.Model, optimizer: str | keras.optimizers.Optimizer = "rmsprop") -> keras.Model:
    """Compile as the lecture does: RMSprop (Keras defaults, learning rate 0.001), categorical
    cross-entropy $J = -\\frac{1}{m}\\sum_i \\sum_k y_{ik}\\log h_k(x_i)$ on one-hot labels, accuracy."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    return model


@dataclasses.dataclass(frozen=True)
class MNISTExperiment:
    """One of the lecture's MNIST runs: the network, the schedule, and what the lecture measured."""

    name: str
    hidden_units: tuple[int, ...]
    activation: str
    dropout: float | None
    epochs: int
    lecture_parameters: int
    lecture_test_accuracy: float
    batch_size: int = 128

    def __post_init__(self) -> None:
        """Refuse a record that could not run (``epochs=-1``, ``batch_size=0``, ``hidden_units=(0,)``...)."""
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"name must be a non-empty string, got {self.name!r}")
        units, _, dropout = _check_dense_settings(self.hidden_units, self.activation, self.dropout)
        object.__setattr__(self, "hidden_units", units)
        object.__setattr__(self, "dropout", dropout)
        object.__setattr__(self, "epochs", check_int("epochs", self.epochs, min=1))
        object.__setattr__(self, "batch_size", check_int("batch_size", self.batch_size, min=1))
        object.__setattr__(self, "lecture_parameters", check_int("lecture_parameters", self.lecture_parameters, min=1))
        accuracy = check_real("lecture_test_accuracy", self.lecture_test_accuracy, min=0.0, max=1.0)
        object.__setattr__(self, "lecture_test_accuracy", accuracy)

    def build(self) -> keras.Sequential:
        """The uncompiled network of this experiment (784 inputs, 10 softmax outputs)."""
        return dense_classifier(self.hidden_units, self.activation, self.dropout, name=self.name)


LECTURE_MNIST_EXPERIMENTS = (
    MNISTExperiment("relu_dropout", (512, 512), "relu", 0.2, 5, 669_706, 0.9785),
    MNISTExperiment("relu_no_dropout", (512, 512), "relu", None, 5, 669_706, 0.9825),
    MNISTExperiment("deep_tanh", (2500, 2000, 1500, 1000, 500), "tanh", None, 10, 11_972_510, 0.9736),
)
"""The three experiments of section 12.3, in the lecture's order (RMSprop, batch 128)."""


class EpochTimer(keras.callbacks.Callback):
    """Record the wall-clock seconds of each epoch in ``logs["epoch_seconds"]`` (so in the History)."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self._start


class CleanTrainingMetrics(keras.callbacks.Callback):
    """After each epoch, evaluate on fixed training examples in inference mode (Dropout off).

    Keras' own ``accuracy`` is averaged over the epoch while the weights change and, for a
    network with Dropout, with units dropped; it is not comparable with ``val_accuracy``.
    This callback adds ``clean_loss`` and ``clean_accuracy``: the same weights and the same
    inference mode as the validation numbers, so ``clean_accuracy - val_accuracy`` is the
    generalisation gap.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int = 1024):
        super().__init__()
        if len(x) != len(y):
            raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
        if len(x) == 0:
            raise ValueError("x must hold at least one example")
        self.x, self.y, self.batch_size = x, y, check_int("batch_size", batch_size, min=1)

    def on_epoch_end(self, epoch, logs=None):
        loss, accuracy = self.model.evaluate(self.x, self.y, batch_size=self.batch_size, verbose=0)[:2]
        if logs is not None:
            logs["clean_loss"] = float(loss)
            logs["clean_accuracy"] = float(accuracy)


class TqdmProgress(keras.callbacks.Callback):
    """One tqdm bar over all training batches (use with ``fit(..., verbose=0)``).

    Keras' own progress bar writes carriage returns that clutter a saved notebook; this bar
    updates in place and shows the latest epoch's metrics.
    """

    def __init__(self, description: str = "training"):
        super().__init__()
        self.description = description
        self.bar = None

    def on_train_begin(self, logs=None):
        steps = self.params.get("steps") or 0
        self.bar = tqdm(total=self.params["epochs"] * steps or None, desc=self.description, unit="batch")

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update(1)

    def on_epoch_end(self, epoch, logs=None):
        shown = {key: f"{value:.4f}" for key, value in (logs or {}).items() if key in ("accuracy", "val_accuracy")}
        self.bar.set_postfix(epoch=epoch + 1, **shown)

    def on_train_end(self, logs=None):
        self.bar.close()


class StopAtAccuracy(keras.callbacks.Callback):
    """Stop training at the end of the first epoch whose ``monitor`` reaches ``target``.

    ``model.fit(..., epochs=n, callbacks=[StopAtAccuracy(1.0)])`` then trains *until* the
    validation accuracy is ``target`` or more, for ``n`` epochs at most. Afterwards
    ``reached_epoch`` holds that epoch, counted from 1 like Keras' log lines (with
    ``initial_epoch=k`` the count goes on from k), or ``None`` when the target was not reached.

    Args:
        target: the value to reach, in (0, 1].
        monitor: the entry of the epoch logs to watch, ``"val_accuracy"`` by default (it needs
            ``validation_data``); ``"accuracy"`` watches Keras' running training accuracy.
    """

    def __init__(self, target: float = 1.0, monitor: str = "val_accuracy"):
        super().__init__()
        target = check_real("target", target, positive=True, max=1.0)
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(f"monitor must be the non-empty name of a logged metric, got {monitor!r}")
        self.target, self.monitor = target, monitor
        self.reached_epoch: int | None = None

    def on_train_begin(self, logs=None):
        self.reached_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise ValueError(
                f"monitor {self.monitor!r} is not among the logged metrics {sorted(logs)}"
                " (val_* entries need validation_data in fit)"
            )
        if logs[self.monitor] >= self.target:
            self.reached_epoch = epoch + 1
            self.model.stop_training = True


# --- The 4-pixel camera -------------------------------------------------------------------------------------------

CAMERA_LAYER_SIZES = (4, 4, 8, 4)
CAMERA_ACTIVATIONS = ("tanh", "tanh", "relu", "softmax")

# The lecture's hand-set weights, as (kernel, bias) per layer. Inputs are the flattened
# image [top-left, top-right, bottom-left, bottom-right].
_LAYER_1 = np.array(  # columns: left column sum, right column sum, left column top-bottom, right column top-bottom
    [[1, 0, 1, 0], [0, 1, 0, 1], [1, 0, -1, 0], [0, 1, 0, -1]], dtype=np.float32
)
_LAYER_2 = np.array(  # columns: solid (all), vertical (right-left), diagonal, horizontal (bottom-top)
    [[1, -1, 0, 0], [1, 1, 0, 0], [0, 0, 1, -1], [0, 0, -1, -1]], dtype=np.float32
)
_LAYER_3 = np.array(  # each class detector split in two: its positive part, then its negative part
    [
        [1, -1, 0, 0, 0, 0, 0, 0],
        [0, 0, 1, -1, 0, 0, 0, 0],
        [0, 0, 0, 0, 1, -1, 0, 0],
        [0, 0, 0, 0, 0, 0, 1, -1],
    ],
    dtype=np.float32,
)
_LAYER_4 = np.array(  # both parts vote for their class
    [[1, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1]],
    dtype=np.float32,
)

HAND_SET_CAMERA_WEIGHTS = tuple(
    (kernel, np.zeros(kernel.shape[1], dtype=np.float32)) for kernel in (_LAYER_1, _LAYER_2, _LAYER_3, _LAYER_4)
)
"""The lecture's hand-set (kernel, bias) pairs of the 4-4-4-8-4 camera network; every bias is 0."""


def camera_network(name: str | None = None) -> keras.Sequential:
    """The 4-pixel camera's network: 4 inputs, Dense 4 tanh, Dense 4 tanh, Dense 8 relu, Dense 4 softmax.

    It has $(4+1)4 + (4+1)4 + (4+1)8 + (8+1)4 = 116$ parameters.
    """
    layers: list = [keras.Input(shape=(CAMERA_LAYER_SIZES[0],))]
    for units, activation in zip(CAMERA_LAYER_SIZES, CAMERA_ACTIVATIONS, strict=True):
        layers.append(keras.layers.Dense(units, activation=activation))
    return keras.Sequential(layers, name=name)


def hand_set_camera_network(name: str | None = "hand_set_camera") -> keras.Sequential:
    """The camera network with the lecture's hand-set weights (no training needed)."""
    model = camera_network(name=name)
    for layer, (kernel, bias) in zip(model.layers, HAND_SET_CAMERA_WEIGHTS, strict=True):
        layer.set_weights([kernel, bias])
    return model


def _softmax(z: np.ndarray) -> np.ndarray:
    shifted = np.exp(z - z.max(axis=-1, keepdims=True))  # subtracting the max avoids overflow
    return shifted / shifted.sum(axis=-1, keepdims=True)


_NUMPY_ACTIVATIONS = {
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "linear": lambda z: z,
    "softmax": _softmax,
}


def dense_forward(weights, activations: Sequence[str], x: np.ndarray) -> list[np.ndarray]:
    """Run a stack of dense layers in NumPy and return every layer's output.

    Layer $l$ computes $a^{(l)} = g^{(l)}(a^{(l-1)}\\Theta^{(l)} + \\beta^{(l)})$ with $a^{(0)} = x$,
    the same as a Keras ``Dense`` layer, so the last entry equals ``model.predict(x)`` and the
    others show what each hidden layer computes.

    Args:
        weights: one ``(kernel, bias)`` pair per layer, e.g. ``HAND_SET_CAMERA_WEIGHTS`` or
            ``[layer.get_weights() for layer in model.layers]``.
        activations: one name per layer: tanh, relu, sigmoid, linear or softmax.
        x: inputs of shape (n, fan-in of the first layer).
    """
    weights = list(weights)
    if len(weights) != len(activations):
        raise ValueError(
            f"weights and activations must have one entry per layer, got {len(weights)} and {len(activations)}"
        )
    outputs, a = [], np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"x must have shape (n, features), got {a.shape}")
    for index, ((kernel, bias), name) in enumerate(zip(weights, activations, strict=True)):
        if name not in _NUMPY_ACTIVATIONS:
            raise ValueError(f"activation {index} must be one of {sorted(_NUMPY_ACTIVATIONS)}, got {name!r}")
        kernel, bias = np.asarray(kernel, dtype=np.float64), np.asarray(bias, dtype=np.float64)
        if kernel.ndim != 2 or kernel.shape[0] != a.shape[1] or bias.shape != (kernel.shape[1],):
            raise ValueError(
                f"layer {index}: kernel {kernel.shape} and bias {bias.shape} do not fit {a.shape[1]} input features"
            )
        a = _NUMPY_ACTIVATIONS[name](a @ kernel + bias)
        outputs.append(a)
    return outputs
