"""Numerical derivatives and gradient checks.

Small enough to show whole in a chapter: the derivative chapter builds them,
the backpropagation chapters use ``gradient_check`` to verify analytic gradients.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np

from ffbook._validate import check_array, check_callable, check_choice, check_real, scaled_norm

__all__ = ["ResolutionWarning", "numerical_derivative", "numerical_gradient", "gradient_check", "optimal_step"]


class ResolutionWarning(RuntimeWarning):
    """A finite-difference step h below the resolution of x: x + h rounds to x (or nearly so).

    A ``RuntimeWarning`` of its own, so that code sweeping h on purpose (chapter 1 shows rounding
    error taking over) can silence exactly this one:
    ``warnings.simplefilter("ignore", ffbook.calculus.ResolutionWarning)``.
    """


def _check_resolution(h: float, x: np.ndarray, argument: str = "x") -> None:
    """Warn (``ResolutionWarning``) about a step that x + h cannot represent: the quotient is 0 or noise.

    A warning, not an error: chapter 1 sweeps h down to 1e-16 on purpose to show rounding error
    taking over; what must not happen is a silent 0.0.

    In float64, x + h differs from x only if h is at least about the spacing of floats next to x
    (``np.spacing(x)``, 2.2e-16 * |x|): h = 1e-300 at x = 1, or h = 1e-5 at x = 1e12, would make
    f(x + h) - f(x - h) exactly 0 and the "derivative" silently 0.0.
    """
    spacing = np.spacing(np.abs(x))
    too_small = h < spacing
    if np.any(too_small):
        where = np.flatnonzero(too_small)[0]
        at = float(np.ravel(x)[where])
        entry = f"{argument} = {at:g}" if np.ndim(x) == 0 else f"{argument}[{where}] = {at:g} (flat index)"
        warnings.warn(
            f"h = {h:g} is below the resolution of {entry}: floats there are {float(np.ravel(spacing)[where]):.3g}"
            f" apart, so x + h rounds to x and the estimate is 0 or rounding noise;"
            f" use h >= about {float(np.ravel(np.abs(x))[where]) * 1e-8 or 1e-8:.3g}",
            ResolutionWarning,
            stacklevel=3,
        )


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

    A step below the resolution of x (``h < np.spacing(x)``: x + h rounds to x) gives 0 or
    rounding noise; a ``ResolutionWarning`` (a RuntimeWarning) names h and x.
    """
    check_callable("f", f)
    h = check_real("h", h, positive=True)
    x = check_real("x", x, hint=" (int or float; use numerical_gradient for arrays)")
    method = check_choice("method", method, ("forward", "central"))
    _check_resolution(h, np.float64(x))
    if method == "forward":
        return (_finite_scalar(f(x + h), f"at x + h = {x + h}") - _finite_scalar(f(x), f"at x = {x}")) / h
    if method == "central":
        return (_finite_scalar(f(x + h), f"at x + h = {x + h}") - _finite_scalar(f(x - h), f"at x - h = {x - h}")) / (
            2 * h
        )
    raise AssertionError(method)  # unreachable: check_choice above


def numerical_gradient(f: Callable[[np.ndarray], float], x, h: float = 1e-5) -> np.ndarray:
    """Central-difference gradient of a scalar function of an array of any shape.

    ``h`` should be representable next to every entry of ``x``: a smaller step gives 0 or
    noise, and a ``ResolutionWarning`` (a RuntimeWarning) says which entry.

    ``x`` is a real number or a rectangular array-like (ndarray, nested lists) of
    real numbers; ragged nesting, ``None``, strings and non-real dtypes are refused.
    Perturbs one entry at a time (2 * x.size calls of f) and returns a float64 array
    shaped like ``x``. ``x`` itself is left unchanged.
    """
    check_callable("f", f)
    h = check_real("h", h, positive=True)
    point = check_array("x", x, nonempty=True)
    _check_resolution(h, point)
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
    keeps the ratio defined when both gradients are zero. Empty arrays are refused: there is
    nothing to check, and a 0.0 would read as a pass.
    """
    eps = check_real("eps", eps, positive=True)
    a = check_array("analytic", analytic, nonempty=True)
    n = check_array("numeric", numeric, nonempty=True)
    if a.shape != n.shape:
        raise ValueError(f"analytic and numeric must have the same shape, got {a.shape} and {n.shape}")
    return float(scaled_norm(a - n) / max(scaled_norm(a) + scaled_norm(n), eps))


def optimal_step(method: str = "central", dtype=np.float64) -> float:
    """The step h that balances truncation and rounding error for a smooth f of size ~1.

    Forward differences: h ~ sqrt(machine epsilon); central: h ~ cbrt(machine epsilon).
    """
    method = check_choice("method", method, ("forward", "central"))
    eps = float(np.finfo(dtype).eps)
    if method == "forward":
        return math.sqrt(eps)
    if method == "central":
        return eps ** (1 / 3)
    raise ValueError(f"method must be 'forward' or 'central', got {method!r}")
