"""Forward-Forward for Keras 3: ``FFDense`` and ``FFNetwork``, fixed and fast, on several backends.

The public shape follows the keras.io Forward-Forward example, so its readers feel at home:
``FFDense(units, init_optimizer, loss_metric, num_epochs=50, ...)`` is normalise -> Dense -> ReLU
with its own optimizer and a ``forward_forward(x_pos, x_neg)`` that trains it locally;
``FFNetwork(dims, init_layer_optimizer=...)`` stacks them, and ``compile``/``fit``/``predict``
work as in the example. What changed:

* negatives always carry a *wrong* label (the example shuffles the label vector, so about one
  negative in ten carries its true label and is pushed towards low goodness while being real);
* ``predict`` scores every label of every sample in one batched computation, no per-sample map;
* the threshold $\\theta$ is an argument (default 1.5, the example's code; its prose says 2.0);
* the inner loop of ``num_epochs`` local steps is compiled once per layer (TensorFlow) and the
  normalised input, which has no weights, is computed once per call instead of once per step;
* the loss uses a stable softplus instead of ``log(1 + exp(.))``, which overflows.

With $\\hat x = x / (\\lVert x \\rVert_2 + 10^{-4})$, $h = \\mathrm{ReLU}(W^\\top \\hat x + b)$ and the
goodness $G = \\frac{1}{H}\\sum_j h_j^2$, a layer minimises
$$L = \\operatorname{mean}\\big(\\operatorname{softplus}(\\theta - G_{pos}),
\\ \\operatorname{softplus}(G_{neg} - \\theta)\\big),$$
the mean over the $N_{pos} + N_{neg}$ samples, as in the example.

Model maths uses ``keras.ops`` only. Gradients are taken with the backend's own autodiff
(TensorFlow ``GradientTape``, PyTorch ``autograd``) inside backend-specific branches, which
import their framework lazily: importing this module imports neither TensorFlow nor PyTorch.
JAX is not supported yet (its stateless training needs a different loop).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence

import keras
import numpy as np
from keras import ops

from ffbook._validate import (
    MAX_SEED,
    check_array,
    check_choice,
    check_int,
    check_int_sequence,
    check_real,
    check_seed,
    small_seed,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "NumpyGlorotUniform",
    "NEGATIVE_LABELS",
    "SUPPORTED_BACKENDS",
    "FFDense",
    "FFNetwork",
    "ff_loss",
    "l2_normalize",
    "mean_goodness",
    "value_and_grad",
]

# The keras.io example's code uses 1.5; its prose says 2.0.
DEFAULT_THRESHOLD = 1.5
SUPPORTED_BACKENDS = ("tensorflow", "torch")
NORM_EPS = 1e-4
# "wrong": a uniformly drawn wrong label (the fix); "shuffled": the example's permuted label
# vector, kept to measure what the fix changes (about 1 negative in 10 carries its true label).
NEGATIVE_LABELS = ("wrong", "shuffled")


def _check_backend() -> str:
    backend = keras.backend.backend()
    if backend not in SUPPORTED_BACKENDS:
        raise NotImplementedError(
            f"ffbook.ff.keras trains on the Keras backends {SUPPORTED_BACKENDS}; the active backend is {backend!r}. "
            "Set KERAS_BACKEND=tensorflow or KERAS_BACKEND=torch before importing keras."
        )
    return backend


def l2_normalize(x, eps: float = NORM_EPS):
    """Divide each row by its length: $\\hat x = x / (\\lVert x\\rVert_2 + \\varepsilon)$.

    This is why a layer cannot pass goodness upward for free: the next layer sees only the
    *direction* of the activity vector, never its length (which is what the goodness measured).
    """
    return x / (ops.norm(x, axis=-1, keepdims=True) + eps)


def mean_goodness(h):
    """The goodness of each sample: $G = \\frac{1}{H}\\sum_{j=1}^{H} h_j^2$, shape (N,)."""
    return ops.mean(ops.square(h), axis=-1)


def ff_loss(g_pos, g_neg, threshold: float = DEFAULT_THRESHOLD, sharpness: float = 1.0):
    """Mean of $\\operatorname{softplus}(k(\\theta - G_{pos}))$ and $\\operatorname{softplus}(k(G_{neg} - \\theta))$.

    The mean runs over the concatenation of both batches; with the slope $k$ = ``sharpness`` = 1
    it is exactly the example's ``mean(log(1 + exp(cat([-g_pos + thr, g_neg - thr]))))``, computed
    without overflow. A larger $k$ is the logistic $p = \\sigma(k(G - \\theta))$ made steeper, as
    in ``ffbook.ff.ff_loss``.
    """
    threshold = check_real("threshold", threshold, positive=True)
    sharpness = check_real("sharpness", sharpness, positive=True)
    goodness = ops.concatenate([g_pos, g_neg], axis=0)
    signs = ops.concatenate([-ops.ones_like(g_pos), ops.ones_like(g_neg)], axis=0)
    return _signed_ff_loss(goodness, signs, threshold, sharpness)


def _signed_ff_loss(goodness, signs, threshold: float, sharpness: float):
    # The one formula: softplus(k (theta - G)) for a positive (sign -1), softplus(k (G - theta))
    # for a negative (sign +1), averaged. FFDense's training loop calls it with the signs it
    # builds once per batch; ff_loss builds them from the two goodness vectors.
    return ops.mean(ops.softplus(signs * sharpness * (goodness - threshold)))


def value_and_grad(loss_fn: Callable, variables: Sequence) -> tuple:
    """Return ``loss_fn()`` and its gradients with respect to ``variables`` (Keras variables).

    The one place where backends differ: TensorFlow records a ``GradientTape``, PyTorch runs
    ``autograd`` on the tensors behind the variables.
    """
    backend = _check_backend()
    variables = list(variables)
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn()
        return loss, tape.gradient(loss, variables)
    import torch

    with torch.enable_grad():
        loss = loss_fn()
        grads = torch.autograd.grad(loss, [variable.value for variable in variables])
    return loss, list(grads)


def _width(x) -> int | None:
    width = x.shape[-1]
    return None if width is None else int(width)


class NumpyGlorotUniform(keras.initializers.Initializer):
    """Glorot-uniform weights drawn by NumPy from ``seed``: the same numbers on every Keras backend.

    $W_{ij} \\sim \\mathcal U(-a, a)$ with $a = \\sqrt{6 / (\text{fan\\_in} + \text{fan\\_out})}$, as Keras'
    ``GlorotUniform``, whose seeded draws differ from backend to backend.
    """

    def __init__(self, seed: int) -> None:
        self.seed = check_seed("seed", seed)

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = shape[0], shape[-1]
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        values = np.random.default_rng(self.seed).uniform(-limit, limit, size=tuple(shape))
        return ops.convert_to_tensor(values, dtype=dtype or "float32")

    def get_config(self) -> dict:
        return {"seed": self.seed}


class FFDense(keras.layers.Layer):
    """A Forward-Forward dense layer: ``call(x)`` = ReLU(Dense(l2_normalize(x))).

    It owns an optimizer (built by the zero-argument callable ``init_optimizer``; default
    Adam with learning rate 0.03 as in the example) and trains itself in ``forward_forward``:
    ``num_epochs`` local steps on one positive and one negative batch, minimising ``ff_loss``
    with threshold $\\theta$ and slope ``sharpness`` (plus the Dense layer's regularization terms, if any). No gradient
    leaves the layer.
    """

    def __init__(
        self,
        units: int,
        init_optimizer: Callable | None = None,
        loss_metric: keras.metrics.Metric | None = None,
        num_epochs: int = 50,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        threshold: float = DEFAULT_THRESHOLD,
        sharpness: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_int("units", units, min=1)
        self.num_epochs = check_int("num_epochs", num_epochs, min=1)
        self.threshold = check_real("threshold", threshold, positive=True)
        self.sharpness = check_real("sharpness", sharpness, positive=True)
        if init_optimizer is None:
            init_optimizer = _default_optimizer
        if not callable(init_optimizer):
            raise TypeError(
                "init_optimizer must be a zero-argument callable returning a Keras optimizer "
                f"(e.g. lambda: keras.optimizers.Adam(0.03)), got {type(init_optimizer).__name__}"
            )
        self.optimizer = init_optimizer()
        if not isinstance(self.optimizer, keras.optimizers.Optimizer):
            raise TypeError(f"init_optimizer() must return a keras.optimizers.Optimizer, got {type(self.optimizer)}")
        if loss_metric is None:
            loss_metric = keras.metrics.Mean(name="ff_loss")
        if not isinstance(loss_metric, keras.metrics.Metric):
            raise TypeError(f"loss_metric must be a keras.metrics.Metric, got {type(loss_metric).__name__}")
        self.loss_metric = loss_metric
        self.dense = keras.layers.Dense(
            self.units,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
        )
        self.relu = keras.layers.ReLU()
        self._compiled_steps = None

    def build(self, input_shape):
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(f"FFDense expects inputs of shape (N, features), got {tuple(input_shape)}")
        if not self.dense.built:
            self.dense.build(tuple(input_shape))
        if not self.optimizer.built:
            self.optimizer.build(self.trainable_variables)

    def _check_input(self, x, name: str):
        if len(x.shape) != 2:
            raise ValueError(f"{name} must have shape (N, features), got shape {tuple(x.shape)}")
        if self.built and _width(x) not in (None, self.dense.kernel.shape[0]):
            raise ValueError(f"{name} must have {self.dense.kernel.shape[0]} features, got {_width(x)}")

    def call(self, x):
        return self.relu(self.dense(l2_normalize(x)))

    def _loss_on_normalized(self, x_both_normalized, signs):
        # h = ReLU(W^T x_hat + b) on positives and negatives at once (signs: -1 positive, +1 negative).
        h = self.relu(self.dense(x_both_normalized))
        loss = _signed_ff_loss(mean_goodness(h), signs, self.threshold, self.sharpness)
        regularization = self.dense.losses  # kernel/bias regularizers, if any were given
        return loss + ops.sum(ops.stack(regularization)) if regularization else loss

    def forward_forward(self, x_pos, x_neg):
        """Train this layer for ``num_epochs`` steps; return ``(h_pos, h_neg, mean_loss)``.

        ``h_pos``, ``h_neg`` are this layer's outputs after training, with gradients stopped:
        the next layer's input. ``mean_loss`` is the mean loss over the steps (``loss_metric``).
        """
        backend = _check_backend()
        for name, values in (("x_pos", x_pos), ("x_neg", x_neg)):
            concrete = _concrete_values(values)  # None inside traced code, where values do not exist yet
            if concrete is not None:
                _check_finite(concrete, name)
        x_pos = ops.convert_to_tensor(x_pos, dtype="float32")
        x_neg = ops.convert_to_tensor(x_neg, dtype="float32")
        self._check_input(x_pos, "x_pos")
        self._check_input(x_neg, "x_neg")
        if not self.built:
            self.build(x_pos.shape)
        # The input has no weights, so normalising it once serves all num_epochs steps.
        x_both = ops.stop_gradient(l2_normalize(ops.concatenate([x_pos, x_neg], axis=0)))
        signs = ops.concatenate([-ops.ones_like(x_pos[:, 0]), ops.ones_like(x_neg[:, 0])], axis=0)
        self.loss_metric.reset_state()
        if backend == "tensorflow":
            self._train_steps_tensorflow(x_both, signs)
        else:
            self._train_steps_torch(x_both, signs)
        h_both = ops.stop_gradient(self.relu(self.dense(x_both)))
        n_pos = ops.shape(x_pos)[0]
        return h_both[:n_pos], h_both[n_pos:], self.loss_metric.result()

    def _train_steps_tensorflow(self, x_both, signs):
        if self._compiled_steps is None:
            import tensorflow as tf

            variables = self.trainable_variables

            # Traced once per layer; tf.range keeps the loop a loop in the graph (not 50 copies),
            # and the step count is an argument, so changing num_epochs needs no retracing.
            @tf.function
            def train_steps(x_both, signs, num_steps):
                for _ in tf.range(num_steps):
                    with tf.GradientTape() as tape:
                        loss = self._loss_on_normalized(x_both, signs)
                    self.optimizer.apply(tape.gradient(loss, variables), variables)
                    self.loss_metric.update_state(loss)

            self._compiled_steps = train_steps
        self._compiled_steps(x_both, signs, ops.convert_to_tensor(self.num_epochs, dtype="int32"))

    def _train_steps_torch(self, x_both, signs):
        import torch

        variables = self.trainable_variables
        parameters = [variable.value for variable in variables]
        # Eager PyTorch has nothing to retrace: each step is two matrix products and a few
        # element-wise operations on the whole batch.
        for _ in range(self.num_epochs):
            with torch.enable_grad():
                loss = self._loss_on_normalized(x_both, signs)
                grads = torch.autograd.grad(loss, parameters)
            self.optimizer.apply(list(grads), variables)
            self.loss_metric.update_state(loss.detach())


def _default_optimizer() -> keras.optimizers.Optimizer:
    return keras.optimizers.Adam(learning_rate=0.03)


def _check_dims(dims) -> list[int]:
    dims = list(check_int_sequence("dims", dims, min=1, nonempty=False))  # a list, tuple or 1-D array
    if len(dims) < 2:
        raise ValueError(f"dims must list the input width and at least one layer width (length >= 2), got {dims}")
    return dims


def _check_labels_array(y, num_samples: int | None, num_classes: int, name: str = "y") -> np.ndarray:
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if y.ndim != 1 or (num_samples is not None and y.shape[0] != num_samples):
        expected = "(N,)" if num_samples is None else f"({num_samples},)"
        raise ValueError(f"{name} must have shape {expected} to match x, got {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"{name} must lie in [0, {num_classes - 1}], got values in [{y.min()}, {y.max()}]")
    return y.astype("int32")


def _flatten(x):
    """``x`` as a float32 tensor of shape (N, features); images (N, H, W) are flattened."""
    x = ops.convert_to_tensor(x, dtype="float32")
    return ops.reshape(x, (ops.shape(x)[0], -1))


def _concrete_values(y) -> np.ndarray | None:
    """``y`` as a NumPy array when its values exist now; ``None`` inside traced code.

    Lists, tuples, NumPy arrays and eager backend tensors (TensorFlow eager tensors, PyTorch
    tensors, on any device) have values and are converted. Symbolic tensors have none: Keras
    inputs, tensors inside a ``tf.function`` (Keras traces ``train_step`` on the TensorFlow
    backend), and PyTorch tensors while ``torch.compile`` traces.
    """
    if isinstance(y, np.ndarray):
        return y
    if isinstance(y, (list, tuple, numbers.Number, np.generic)):
        return np.asarray(y)
    if keras.utils.is_keras_tensor(y):
        return None
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if tf.is_tensor(y) and tf.is_symbolic_tensor(y):
            return None
    elif backend == "torch":
        import torch

        if torch.compiler.is_compiling():
            return None
    return np.asarray(ops.convert_to_numpy(y))


def _as_feature_array(x, width: int, name: str = "x") -> np.ndarray:
    x = check_array(name, x, dtype=np.float32)  # real numbers, finite, at least one
    if x.ndim < 2:
        raise ValueError(f"{name} must have shape (N, {width}) or (N, H, W), got shape {x.shape}")
    x = x.reshape(x.shape[0], -1)
    if x.shape[1] != width:
        raise ValueError(f"{name} must have {width} features per sample (dims[0]), got {x.shape[1]}")
    blank = x.max(axis=1) <= 0
    if blank.any():
        raise ValueError(
            f"{name}: the label is written as each sample's largest value, but {int(blank.sum())} sample(s) "
            f"(the first is sample {int(np.argmax(blank))}) have no positive value, so their label would be lost "
            "or inverted; scale the data to [0, 1]"
        )
    return x


def _check_finite(values: np.ndarray, name: str) -> None:
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinite values (one NaN pixel would turn every weight into NaN)")


class FFNetwork(keras.Model):
    """A stack of ``FFDense`` layers trained greedily with Forward-Forward, as in the keras.io example.

    ``dims = [784, 500, 500]`` gives two layers. Each ``fit`` epoch (an *outer* epoch) overlays the
    true label on every image (positive data) and a uniformly drawn wrong label (negative data),
    then trains layer 1 for ``num_epochs`` local steps, passes its detached outputs to layer 2,
    and so on. ``predict`` returns, for each image, the label with the highest goodness summed
    over layers, $\\hat y = \\arg\\max_c \\sum_l G_l(x \\oplus c)$, all labels in one batch.
    ``negative_labels="shuffled"`` restores the example's negatives, for comparison only.
    ``sharpness`` (the logistic's slope $k$, 1 in the example) is passed to every layer.
    """

    def __init__(
        self,
        dims: Sequence[int],
        init_layer_optimizer: Callable | None = None,
        num_epochs: int = 50,
        threshold: float = DEFAULT_THRESHOLD,
        num_classes: int = 10,
        seed: int = 0,
        negative_labels: str = "wrong",
        sharpness: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.dims = _check_dims(dims)
        self.negative_labels = check_choice("negative_labels", negative_labels, NEGATIVE_LABELS)
        self.num_classes = check_int("num_classes", num_classes, min=2)  # 2 at least: a wrong label must exist
        if self.dims[0] < self.num_classes:
            raise ValueError(f"dims[0] = {self.dims[0]} leaves no room for a {self.num_classes}-pixel label overlay")
        self.seed = check_seed("seed", seed)
        self.threshold = check_real("threshold", threshold, positive=True)
        self.sharpness = check_real("sharpness", sharpness, positive=True)
        self.ff_layers = [
            FFDense(
                units,
                # layer i draws from seed + i (wrapping round past the largest seed, 2**63 - 1)
                kernel_initializer=NumpyGlorotUniform((self.seed + i) % (MAX_SEED + 1)),
                init_optimizer=init_layer_optimizer,
                loss_metric=keras.metrics.Mean(name=f"ff_loss_{i}"),
                num_epochs=num_epochs,
                threshold=self.threshold,
                sharpness=self.sharpness,
                name=f"ff_dense_{i}",
            )
            for i, units in enumerate(self.dims[1:])
        ]
        # Keras' SeedGenerator takes seeds below 2**31 on the PyTorch backend: a larger one is derived.
        self.label_seed = keras.random.SeedGenerator(small_seed(self.seed, 31))

    def build(self, input_shape=None):
        width = self.dims[0]
        for layer, units in zip(self.ff_layers, self.dims[1:], strict=True):
            layer.build((None, width))
            width = units
        self.built = True

    def overlay_y_on_x(self, x, y):
        """Write the one-hot label $y$ into the first ``num_classes`` features of each sample.

        The "on" feature takes the sample's maximum value (as in the example), the other
        label features become 0; images of shape (N, H, W) are flattened first.

        ``y`` holds one integer label in ``[0, num_classes)`` per sample: a NumPy array, a list or
        a backend tensor. Labels with values (everything outside traced code) are checked, and a
        wrong dtype, shape or range raises ``TypeError``/``ValueError``. Inside traced code (a
        ``tf.function``, as when Keras compiles ``train_step`` on TensorFlow) the labels are
        symbolic and cannot be checked: an out-of-range label there gives an all-zero label part,
        as ``one_hot`` does. ``fit`` checks array labels before any tracing.
        """
        x = _flatten(x)
        values = _concrete_values(y)
        if values is not None:
            _check_labels_array(values, x.shape[0], self.num_classes)
        return self._overlay(x, y)

    def _overlay(self, x, y):
        # x: (N, features) float32 tensor; y: labels already known to be in range (not checked).
        on_value = ops.max(x, axis=1, keepdims=True)
        label_part = ops.one_hot(ops.cast(y, "int32"), self.num_classes) * on_value
        return ops.concatenate([label_part, x[:, self.num_classes :]], axis=1)

    def wrong_labels(self, y):
        """A uniformly drawn wrong label for each sample: $(y + k) \\bmod C$, $k \\in \\{1, \\dots, C-1\\}$."""
        y = ops.cast(y, "int32")
        offsets = keras.random.randint(ops.shape(y), 1, self.num_classes, dtype="int32", seed=self.label_seed)
        return (y + offsets) % self.num_classes

    def shuffled_labels(self, y):
        """The keras.io example's negatives: the label vector permuted (a label may stay on its image)."""
        return keras.random.shuffle(ops.cast(y, "int32"), seed=self.label_seed)

    def train_step(self, data):
        x, y = data[0], data[1]
        x = _flatten(x)
        x_pos = self.overlay_y_on_x(x, y)  # checks y when it has values (eager PyTorch, run_eagerly)
        negative = self.wrong_labels(y) if self.negative_labels == "wrong" else self.shuffled_labels(y)
        # Negatives are in range by construction: no second check (and no device-to-host copy).
        x_neg = self._overlay(x, negative)
        h_pos, h_neg = x_pos, x_neg
        losses = []
        for layer in self.ff_layers:
            h_pos, h_neg, loss = layer.forward_forward(h_pos, h_neg)
            losses.append(loss)
        return {"FinalLoss": ops.mean(ops.stack(losses))}

    def goodness_per_label(self, x):
        """Goodness summed over layers for every (sample, label) pair: shape (N, num_classes).

        All labels go through at once. The first layer needs no copies of the image: every
        overlaid version $\\tilde x_c$ of a sample has the same length
        $\\sqrt{m^2 + \\lVert x_{rest} \\rVert^2}$ ($m$ = the on value, $x_{rest}$ = the features after
        the label), so $\\tilde x_c W = x_{rest} W_{rest} + m\\, W_c$: one product for the shared part,
        plus row $c$ of the kernel.
        """
        x = ops.convert_to_tensor(x, dtype="float32")
        num_classes, first = self.num_classes, self.ff_layers[0]
        on_value = ops.max(x, axis=1, keepdims=True)  # (N, 1)
        rest = x[:, num_classes:]
        length = ops.sqrt(ops.square(on_value) + ops.sum(ops.square(rest), axis=1, keepdims=True)) + NORM_EPS
        shared = ops.matmul(rest, first.dense.kernel[num_classes:])  # (N, H)
        label_rows = first.dense.kernel[:num_classes]  # (C, H)
        z = (shared[None, :, :] + on_value[None, :, :] * label_rows[:, None, :]) / length[None, :, :]
        if first.dense.use_bias:
            z = z + first.dense.bias
        h = ops.relu(z)  # (C, N, H): label c, sample n
        total = mean_goodness(h)  # (C, N)
        h = ops.reshape(h, (-1, h.shape[-1]))
        for layer in self.ff_layers[1:]:
            h = layer(h)
            total = total + ops.reshape(mean_goodness(h), (num_classes, -1))
        return ops.transpose(total)

    def call(self, x):
        return self.goodness_per_label(x)

    def fit(self, x=None, y=None, batch_size=None, epochs=1, **kwargs):
        """Keras ``fit``; with arrays, ``batch_size=None`` means one batch of all samples (the recipe).

        ``epochs`` and ``batch_size`` (when given) are ints >= 1. Arrays and backend tensors are
        checked first and trained on as NumPy arrays: ``x`` of shape (N, dims[0]) or (N, H, W), finite,
        integer labels ``y`` in ``[0, num_classes)``. Other inputs (a ``tf.data.Dataset`` of ``(x, y)``)
        go to Keras as is; their labels are checked only where they have values (eager PyTorch).
        """
        _check_backend()
        epochs = check_int("epochs", epochs, min=1)
        if batch_size is not None:
            batch_size = check_int("batch_size", batch_size, min=1)
        if isinstance(x, np.ndarray) or ops.is_tensor(x):
            if y is None:
                raise ValueError("y (the labels) is required: Forward-Forward needs them to build positive data")
            x = _as_feature_array(_concrete_values(x), self.dims[0])
            y = _check_labels_array(_concrete_values(y), x.shape[0], self.num_classes)
            if batch_size is None:
                batch_size = x.shape[0]
            kwargs.setdefault("shuffle", False)
        return super().fit(x, y, batch_size=batch_size, epochs=epochs, **kwargs)

    def compile(self, optimizer=None, loss=None, jit_compile=False, **kwargs):
        """Keras ``compile``; the layers own their optimizers and losses, so neither is needed here.

        ``loss`` is accepted so that the keras.io example's call (``loss="mse"``) works, and it is
        not used: each layer minimises its own FF loss, and the model's output (the goodness of
        every label) has no target to compare with. Keras would otherwise build that loss against
        the (N,) labels, which fails on the PyTorch backend.
        """
        super().compile(optimizer=optimizer, loss=None, jit_compile=jit_compile, **kwargs)

    def predict(self, x, batch_size: int = 2000, **kwargs) -> np.ndarray:
        """The predicted label of each sample (int array of shape (N,)), all labels scored at once.

        Samples go through in chunks of ``batch_size`` (each chunk is ``num_classes`` times
        larger inside), which bounds memory; the chunks do not change the result.
        """
        if kwargs:
            raise TypeError(f"FFNetwork.predict takes x and batch_size only, got {sorted(kwargs)}")
        _check_backend()
        batch_size = check_int("batch_size", batch_size, min=1)
        x = _as_feature_array(x, self.dims[0])  # refuses an empty x: nothing to predict
        labels = []
        for start in range(0, x.shape[0], batch_size):
            scores = self.goodness_per_label(x[start : start + batch_size])
            labels.append(ops.convert_to_numpy(ops.argmax(scores, axis=1)))
        return np.concatenate(labels).astype("int64")
