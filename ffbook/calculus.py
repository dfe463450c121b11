"""Numerical derivatives and gradient checks.

Small enough to show whole in a chapter: the derivative chapter builds them,
the backpropagation chapters use ``gradient_check`` to verify analytic gradients.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = ["numerical_derivative", "numerical_gradient", "gradient_check", "optimal_step"]


def _check_step(h: float) -> float:
    if isinstance(h, bool) or not isinstance(h, (int, float, np.floating, np.integer)):
        raise TypeError(f"h must be a real number, got {type(h).__name__}")
    h = float(h)
    if not math.isfinite(h) or h <= 0:
        raise ValueError(f"h must be a finite number > 0, got {h}")
    return h


def _real_array(value, name: str) -> np.ndarray:
    """``value`` as a new float64 array; a TypeError/ValueError naming ``name`` otherwise."""
    expected = "a real number or a rectangular array (ndarray, nested lists or tuples) of real numbers"
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__}")
    try:
        array = np.asarray(value)
    except ValueError as exc:  # NumPy refuses ragged nesting
        raise ValueError(f"{name} must be {expected}, got a ragged sequence (rows of different lengths)") from exc
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__} of dtype {array.dtype}")
    return np.array(array, dtype=np.float64, copy=True)


def _check_callable(f) -> None:
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")


def _finite_scalar(value, what: str) -> float:
    array = np.asarray(value)
    if array.size != 1:
        raise ValueError(f"f must return a scalar, got an array of shape {array.shape} {what}")
    scalar = float(array.reshape(()))
    if not math.isfinite(scalar):
        raise ValueError(f"f returned a non-finite value ({scalar}) {what}")
    return scalar


def numerical_derivative(f: Callable[[float], float], x: float, h: float = 1e-5, method: str = "central") -> float:
    """Approximate f'(x) by a finite difference.

    ``method="forward"``: (f(x + h) - f(x)) / h, error O(h).
    ``method="central"``: (f(x + h) - f(x - h)) / (2h), error O(h^2).
    """
    _check_callable(f)
    h = _check_step(h)
    if isinstance(x, np.ndarray) and x.ndim == 0 and x.dtype.kind in "iuf":
        x = x.item()
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.floating, np.integer)):
        raise TypeError(
            f"x must be a real number (int or float; use numerical_gradient for arrays), got {type(x).__name__}"
        )
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"x must be finite, got {x}")
    if method == "forward":
        return (_finite_scalar(f(x + h), f"at x + h = {x + h}") - _finite_scalar(f(x), f"at x = {x}")) / h
    if method == "central":
        return (_finite_scalar(f(x + h), f"at x + h = {x + h}") - _finite_scalar(f(x - h), f"at x - h = {x - h}")) / (
            2 * h
        )
    raise ValueError(f"method must be 'forward' or 'central', got {method!r}")


def numerical_gradient(f: Callable[[np.ndarray], float], x, h: float = 1e-5) -> np.ndarray:
    """Central-difference gradient of a scalar function of an array of any shape.

    ``x`` is a real number or a rectangular array-like (ndarray, nested lists) of
    real numbers; ragged nesting, ``None``, strings and non-real dtypes are refused.
    Perturbs one entry at a time (2 * x.size calls of f) and returns a float64 array
    shaped like ``x``. ``x`` itself is left unchanged.
    """
    _check_callable(f)
    h = _check_step(h)
    point = _real_array(x, "x")
    if point.size == 0:
        raise ValueError("x must have at least one entry, got an empty array")
    if not np.all(np.isfinite(point)):
        raise ValueError("x must contain only finite values")
    grad = np.empty_like(point)
    flat, flat_grad = point.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + h
        plus = _finite_scalar(f(point), f"at entry {i} + h")
        flat[i] = original - h
        minus = _finite_scalar(f(point), f"at entry {i} - h")
        flat[i] = original
        flat_grad[i] = (plus - minus) / (2 * h)
    return grad


def gradient_check(analytic, numeric, eps: float = 1e-12) -> float:
    """Relative error ``|a - n| / max(|a| + |n|, eps)`` (norms over all entries).

    Around 1e-7 or below in float64 means the analytic gradient is right;
    1e-2 or above means it is almost certainly wrong. ``eps`` (a finite number > 0)
    keeps the ratio defined when both gradients are zero.
    """
    if isinstance(eps, (bool, np.bool_)) or not isinstance(eps, (int, float, np.floating, np.integer)):
        raise TypeError(f"eps must be a real number, got {type(eps).__name__}")
    if not math.isfinite(eps) or eps <= 0:
        raise ValueError(f"eps must be a finite number > 0, got {eps}")
    a = _real_array(analytic, "analytic")
    n = _real_array(numeric, "numeric")
    if a.shape != n.shape:
        raise ValueError(f"analytic and numeric must have the same shape, got {a.shape} and {n.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(n))):
        raise ValueError("analytic and numeric must contain only finite values")
    return float(np.linalg.norm(a - n) / max(np.linalg.norm(a) + np.linalg.norm(n), eps))


def optimal_step(method: str = "central", dtype=np.float64) -> float:
    """The step h that balances truncation and rounding error for a smooth f of size ~1.

    Forward differences: h ~ sqrt(machine epsilon); central: h ~ cbrt(machine epsilon).
    """
    eps = float(np.finfo(dtype).eps)
    if method == "forward":
        return math.sqrt(eps)
    if method == "central":
        return eps ** (1 / 3)
    raise ValueError(f"method must be 'forward' or 'central', got {method!r}")
