"""Conditional Gradient (Frank-Wolfe) training for Keras 3, and the weight norm it controls.

TensorFlow Addons shipped ``tfa.optimizers.ConditionalGradient``; Addons reached its end of
life in 2024 and never supported Keras 3. :class:`ConditionalGradient` is a maintained
replacement written with ``keras.ops`` only; it is tested on the TensorFlow and PyTorch backends
(and on JAX where JAX is installed).

For every trainable variable $x$ with gradient $g$ the optimizer takes the step

$$x \\leftarrow \\eta\\,x - (1 - \\eta)\\,\\lambda\\,s(g),$$

where $\\eta$ is the ``learning_rate`` (in $(0, 1]$), $\\lambda$ is ``lambda_`` and $s(g)$ is the
unit-norm direction that *maximises* $\\langle g, s\\rangle$, so that the solution of the *linear
minimisation oracle* (LMO), the point of the norm ball of radius $\\lambda$ that minimises
$\\langle g, x\\rangle$, is $-\\lambda s(g)$:

* ``ord="fro"`` (Frobenius ball $\\lVert x\\rVert_F \\le \\lambda$): $s = g / (\\lVert g\\rVert_F + \\epsilon)$;
* ``ord="nuclear"`` (nuclear-norm ball $\\lVert x\\rVert_* \\le \\lambda$): $s = u_1 v_1^\\top$, the
  top singular pair of $g$ seen as a matrix.

This is Frank-Wolfe with step size $\\gamma = 1 - \\eta$: a convex combination of the current
point and a point of the ball. So an iterate that starts inside the ball never leaves it, and
one that starts outside gets closer to the ball by a factor $\\eta$ at every step.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from ffbook._validate import check_choice, check_real, scaled_norm

__all__ = ["ConditionalGradient", "FrobeniusNormHistory", "NormalizedSGD", "frobenius_norm", "as_matrix"]

_ORDS = ("fro", "nuclear")


def as_matrix(tensor):
    """View a tensor of any rank as the matrix whose top singular pair the nuclear LMO uses.

    rank 0 -> ``(1, 1)``; rank 1 ``(n,)`` -> ``(1, n)``; rank 2 unchanged; rank ``k > 2``
    ``(d_1, ..., d_{k-1}, d_k)`` -> ``(d_1 \\cdots d_{k-1}, d_k)``: every axis but the last is
    an input axis (a Dense kernel is ``(in, out)``, a Conv2D kernel ``(h, w, in, out)``), so the
    matrix maps fan-in to fan-out.
    """
    shape = tuple(tensor.shape)
    if len(shape) == 0:
        return ops.reshape(tensor, (1, 1))
    if len(shape) == 1:
        return ops.reshape(tensor, (1, shape[0]))
    return ops.reshape(tensor, (math.prod(shape[:-1]), shape[-1]))


def _enforce(checks: list) -> list:
    """Stop the step when a ``(condition, message)`` check is False, on every backend.

    * Eager execution (PyTorch's default, TensorFlow with ``run_eagerly=True``, direct calls):
      raise ``ValueError(message)`` at once, before any variable changes.
    * A TensorFlow graph (``model.fit`` on TensorFlow): return ``tf.debugging.Assert`` ops; the
      caller makes the whole update depend on them, so a failed check aborts the step, before any
      variable changes, with ``tf.errors.InvalidArgumentError`` carrying the message. XLA
      (``jit_compile=True``, Keras' default on GPUs) compiles assertions away.
    * JAX under ``jit``: values are unknown while tracing, so nothing can be checked.

    In the last two cases ``ConditionalGradient.update_step`` keeps the variable unchanged instead.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if not tf.executing_eagerly():
            return [tf.debugging.Assert(condition, [message]) for condition, message in checks]
    if backend == "jax":
        import jax

        if any(isinstance(condition, jax.core.Tracer) for condition, _ in checks):
            return []
    for condition, message in checks:
        if not bool(ops.convert_to_numpy(condition)):
            raise ValueError(message)
    return []


@keras.saving.register_keras_serializable(package="ffbook")
class ConditionalGradient(keras.optimizers.Optimizer):
    """Conditional Gradient (Frank-Wolfe) optimizer: trains inside a norm ball of radius ``lambda_``.

    For every variable $x$ with gradient $g$:

    $$x \\leftarrow \\eta\\,x - (1 - \\eta)\\,\\lambda\\,s,\\qquad
    s = \\begin{cases} g / (\\lVert g\\rVert_F + \\epsilon) & \\text{ord="fro"}\\\\
    u_1 v_1^\\top & \\text{ord="nuclear"}\\end{cases}$$

    with $\\eta$ = ``learning_rate``, $\\lambda$ = ``lambda_``, $\\epsilon$ = ``epsilon`` and
    $u_1, v_1$ the top singular vectors of $g$ viewed as a matrix by :func:`as_matrix` (scalars
    and vectors become one-row matrices, so for them the nuclear direction is $g/\\lVert g\\rVert$;
    a zero gradient gives $s = 0$). Note the convention inherited from TensorFlow Addons: the
    ``learning_rate`` $\\eta$ is the weight *kept* on the current point, so $\\eta$ close to 1 means
    a small step (the Frank-Wolfe step size is $1 - \\eta$) and $\\eta = 1$ leaves $x$ unchanged.

    Args:
        learning_rate: a float in $(0, 1]$, a ``keras.optimizers.schedules.LearningRateSchedule``
            or a callable; values from schedules are checked at every step.
        lambda_: radius $\\lambda > 0$ of the ball each variable is kept in.
        epsilon: $\\epsilon > 0$ added to $\\lVert g\\rVert_F$ so a zero gradient gives $s = 0$.
        ord: ``"fro"`` (Frobenius ball) or ``"nuclear"`` (nuclear-norm ball).
        name, **kwargs: passed to ``keras.optimizers.Optimizer`` (clipnorm, weight_decay...).

    Errors: a gradient holding NaN or infinity, or a learning rate outside $(0, 1]$, stops
    training with a message naming the variable: a ``ValueError`` in eager execution (the
    PyTorch backend's default), ``tf.errors.InvalidArgumentError`` inside a compiled TensorFlow
    step (``jit_compile=False``), before any variable changes.

    Where raising is impossible, the step is skipped instead of corrupting the weights: XLA
    (``jit_compile=True`` on TensorFlow, Keras' default on GPUs) compiles the checks away, and
    JAX's ``jit`` cannot raise on a traced value. There every variable whose gradient holds a NaN
    or an infinity keeps its value for that step (the update is ``where(all(isfinite(g)), new,
    x)``), as does every variable when the learning rate is outside $(0, 1]$; the other
    variables are updated and ``iterations`` still counts the step. Nothing reports it: compile
    with ``jit_compile=False`` (or ``run_eagerly=True``) to get the error instead.
    """

    def __init__(
        self,
        learning_rate=0.01,
        lambda_: float = 0.01,
        epsilon: float = 1e-7,
        ord: str = "fro",
        name: str | None = None,
        **kwargs,
    ):
        if isinstance(learning_rate, numbers.Real):  # a schedule or a callable is checked at every step
            learning_rate = check_real("learning_rate", learning_rate, positive=True, max=1.0)
        ord = check_choice("ord", ord, _ORDS)  # noqa: A001 (the name TensorFlow Addons used)
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.lambda_ = check_real("lambda_", lambda_, positive=True)
        self.epsilon = check_real("epsilon", epsilon, positive=True)
        self.ord = ord

    def build(self, variables):
        """No slot variables: the step uses only the current weights and gradient."""
        if self.built:
            return
        super().build(variables)

    def apply(self, grads, trainable_variables=None):
        """Check the learning rate and every gradient, then update; a failed check changes nothing."""
        guards = _enforce(self._checks(grads, trainable_variables))
        if not guards:
            return super().apply(grads, trainable_variables)
        import tensorflow as tf  # only a TensorFlow graph returns guards

        with tf.control_dependencies(guards):
            return super().apply(grads, trainable_variables)

    def _checks(self, grads, trainable_variables) -> list:
        learning_rate = ops.convert_to_tensor(self._get_current_learning_rate())
        checks = [
            (
                ops.logical_and(ops.greater(learning_rate, 0), ops.less_equal(learning_rate, 1)),
                "ConditionalGradient: learning_rate must be in (0, 1] at every step (it is the weight kept "
                "on the current point); the current value or schedule gives a value outside it.",
            )
        ]
        if trainable_variables is None:
            trainable_variables = getattr(self, "_trainable_variables", [])
        for gradient, variable in zip(grads, trainable_variables, strict=False):
            if gradient is not None:
                name = getattr(variable, "path", getattr(variable, "name", "?"))
                message = (
                    f"ConditionalGradient: non-finite gradient (NaN or inf) for variable {name!r}; step not applied."
                )
                checks.append((ops.all(ops.isfinite(gradient)), message))
        return checks

    def direction(self, gradient):
        """The unit-norm direction $s(g)$ of the update (see the class docstring).

        Computed on $g / m$ with $m = \\max_{ij} |g_{ij}|$, which changes neither direction: a large
        gradient (about 1e19 and up in float32) would otherwise square to inf and give $s = 0$.
        For "fro", $g / (\\|g\\| + \\epsilon) = (g/m) / (\\|g/m\\| + \\epsilon/m)$ exactly.
        """
        scale = ops.max(ops.abs(gradient))
        scale = ops.where(ops.greater(scale, 0), scale, ops.ones_like(scale))  # a zero gradient stays zero
        scaled = ops.divide(gradient, scale)
        if self.ord == "fro":
            norm = ops.sqrt(ops.sum(ops.square(scaled)))
            epsilon = ops.divide(ops.convert_to_tensor(self.epsilon, dtype=gradient.dtype), scale)
            return ops.divide(scaled, ops.add(norm, epsilon))
        return self._top_singular_direction(scaled)

    @staticmethod
    def _top_singular_direction(gradient):
        dtype = gradient.dtype
        # SVD kernels do not exist for 16-bit floats: compute those in float32.
        work = (
            ops.cast(gradient, "float32")
            if keras.backend.standardize_dtype(dtype) in ("float16", "bfloat16")
            else gradient
        )
        u, singular_values, vh = ops.svd(as_matrix(work), full_matrices=False)
        top = ops.multiply(u[:, :1], vh[:1, :])
        # A zero gradient has no preferred direction: step towards the centre (s = 0) like "fro".
        top = ops.where(ops.greater(singular_values[0], 0), top, ops.zeros_like(top))
        return ops.cast(ops.reshape(top, gradient.shape), dtype)

    def update_step(self, gradient, variable, learning_rate):
        """$x \\leftarrow \\eta x - (1 - \\eta) \\lambda s(g)$.

        The variable keeps its value where $g$ is not finite or $\\eta \\notin (0, 1]$ (see the class docstring).
        """
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        # apply() has already raised on a bad step where it can; where it cannot (XLA, JAX jit), keep x.
        finite = ops.all(ops.isfinite(gradient))
        in_range = ops.logical_and(ops.greater(learning_rate, 0), ops.less_equal(learning_rate, 1))
        valid = ops.logical_and(finite, in_range)
        # A zero stand-in keeps NaN out of the SVD (some backends refuse to decompose it); its result is discarded.
        gradient = ops.where(finite, gradient, ops.zeros_like(gradient))
        learning_rate = ops.cast(learning_rate, dtype)
        # convert_to_tensor with a dtype, not cast: cast would round a Python float to float32 first.
        target = ops.multiply(ops.convert_to_tensor(self.lambda_, dtype=dtype), self.direction(gradient))
        new = ops.subtract(ops.multiply(learning_rate, variable), ops.multiply(1 - learning_rate, target))
        self.assign(variable, ops.where(valid, new, variable))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"lambda_": self.lambda_, "epsilon": self.epsilon, "ord": self.ord})
        return config


@keras.saving.register_keras_serializable(package="ffbook")
class NormalizedSGD(keras.optimizers.Optimizer):
    """Normalised gradient descent: a step of fixed length $\\eta$ against each variable's gradient.

    For every variable $x$ with gradient $g$:

    $$x \\leftarrow x - \\eta\\,\\frac{g}{\\lVert g\\rVert_F + \\epsilon},$$

    with $\\eta$ = ``learning_rate`` and $\\epsilon$ = ``epsilon`` (the same $\\epsilon$ and the same
    direction as :class:`ConditionalGradient` with ``ord="fro"``). It is Conditional Gradient's step
    without the decay term and without a ball: with $\\eta = (1 - \\eta_{CG})\\,\\lambda$ the two
    differ only by the term $-(1 - \\eta_{CG})\\,x$, so it serves as a control that separates the
    normalised step from the constraint. A zero gradient leaves $x$ unchanged.

    Args:
        learning_rate: the step length $\\eta > 0$, a ``keras.optimizers.schedules.LearningRateSchedule``
            or a callable.
        epsilon: $\\epsilon > 0$ added to $\\lVert g\\rVert_F$.
        name, **kwargs: passed to ``keras.optimizers.Optimizer`` (clipnorm, weight_decay...).

    Like ``keras.optimizers.SGD`` it does not check the gradients: a NaN or infinity in $g$ reaches the weights.
    """

    def __init__(self, learning_rate=0.01, epsilon: float = 1e-7, name: str | None = None, **kwargs):
        if isinstance(learning_rate, numbers.Real):  # a schedule or a callable is not a number
            learning_rate = check_real("learning_rate", learning_rate, positive=True)
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.epsilon = check_real("epsilon", epsilon, positive=True)

    def build(self, variables):
        """No slot variables: the step uses only the current gradient."""
        if self.built:
            return
        super().build(variables)

    def update_step(self, gradient, variable, learning_rate):
        """$x \\leftarrow x - \\eta\\, g / (\\lVert g\\rVert_F + \\epsilon)$, computed on $g / \\max|g|$ as in
        :meth:`ConditionalGradient.direction` so that a large gradient does not overflow."""
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        scale = ops.max(ops.abs(gradient))
        scale = ops.where(ops.greater(scale, 0), scale, ops.ones_like(scale))
        scaled = ops.divide(gradient, scale)
        norm = ops.sqrt(ops.sum(ops.square(scaled)))
        epsilon = ops.divide(ops.convert_to_tensor(self.epsilon, dtype=dtype), scale)
        step = ops.multiply(ops.cast(learning_rate, dtype), ops.divide(scaled, ops.add(norm, epsilon)))
        self.assign_sub(variable, step)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"epsilon": self.epsilon})
        return config


def frobenius_norm(weights: Sequence) -> float:
    """Frobenius norm of a list of tensors taken together: $\\sqrt{\\sum_k \\sum_{ij} (W_k)_{ij}^2}$.

    ``weights`` is a list or tuple of arrays, tensors or Keras variables (``model.trainable_weights``).
    Computed in float64 and scaled (``ffbook._validate.scaled_norm``), so large weights (1e160 and up)
    do not overflow: the norm of the per-tensor norms, each $m \\sqrt{\\sum (w/m)^2}$ with $m = \\max |w|$.
    """
    if not isinstance(weights, (list, tuple)):
        raise TypeError(
            f"weights must be a list or tuple of tensors (e.g. model.trainable_weights), got {type(weights).__name__}"
        )
    if len(weights) == 0:
        raise ValueError("weights must hold at least one tensor, got an empty sequence")
    norms = []
    for index, weight in enumerate(weights):
        if isinstance(weight, keras.Variable):
            weight = weight.value
        array = np.asarray(ops.convert_to_numpy(weight))
        if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
            raise TypeError(f"weights[{index}] must hold real numbers, got dtype {array.dtype}")
        norms.append(scaled_norm(array))
    return scaled_norm(norms)


class FrobeniusNormHistory(keras.callbacks.Callback):
    """Record :func:`frobenius_norm` of the model's trainable weights after every epoch.

    The values accumulate in ``self.norms`` and are added to the epoch logs as ``"weight_norm"``,
    so they also appear in ``model.fit(...).history["weight_norm"]``.
    """

    def __init__(self, key: str = "weight_norm"):
        super().__init__()
        if not isinstance(key, str) or not key:
            raise TypeError(f"key must be a non-empty string, got {key!r}")
        self.key = key
        self.norms: list[float] = []

    def on_epoch_end(self, epoch, logs=None):
        norm = frobenius_norm(self.model.trainable_weights)
        self.norms.append(norm)
        if logs is not None:
            logs[self.key] = norm
