"""ffbook.calculus against analytic derivatives worked out by hand."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from ffbook.calculus import ResolutionWarning, gradient_check, numerical_derivative, numerical_gradient, optimal_step


@pytest.mark.parametrize(
    ("f", "df", "x"),
    [
        (math.sin, math.cos, 0.7),
        (math.exp, math.exp, -1.3),
        (lambda x: x**3 - 2 * x, lambda x: 3 * x**2 - 2, 2.0),
        (lambda x: 1 / (1 + math.exp(-x)), lambda x: math.exp(-x) / (1 + math.exp(-x)) ** 2, 0.25),
    ],
)
def test_central_difference_matches_the_analytic_derivative(f, df, x):
    assert numerical_derivative(f, x) == pytest.approx(df(x), rel=1e-8, abs=1e-9)


def test_forward_difference_error_is_first_order_and_central_second_order():
    # f = exp at 0: forward error ~ h/2, central error ~ h^2/6 (Taylor series).
    for h in (1e-2, 1e-3):
        forward = numerical_derivative(math.exp, 0.0, h=h, method="forward") - 1.0
        central = numerical_derivative(math.exp, 0.0, h=h, method="central") - 1.0
        assert forward == pytest.approx(h / 2, rel=0.02)
        assert central == pytest.approx(h**2 / 6, rel=0.02)


def test_rounding_error_dominates_for_tiny_steps():
    good = abs(numerical_derivative(math.sin, 1.0, h=optimal_step("central")) - math.cos(1.0))
    tiny = abs(numerical_derivative(math.sin, 1.0, h=1e-13) - math.cos(1.0))
    assert good < 1e-10 < tiny


def test_optimal_steps_follow_machine_epsilon():
    eps = np.finfo(np.float64).eps
    assert optimal_step("forward") == pytest.approx(eps**0.5)
    assert optimal_step("central") == pytest.approx(eps ** (1 / 3))
    assert optimal_step("central", np.float32) == pytest.approx(np.finfo(np.float32).eps ** (1 / 3))


@pytest.mark.parametrize(
    ("f", "grad", "x"),
    [
        (lambda v: v[0] + v[1], lambda v: np.array([1.0, 1.0]), np.array([3.0, -2.0])),
        (lambda v: v[0] * v[1], lambda v: np.array([v[1], v[0]]), np.array([3.0, -2.0])),
        (lambda v: max(v[0], v[1]), lambda v: np.array([1.0, 0.0]), np.array([3.0, -2.0])),
        (lambda v: max(v[0], v[1]), lambda v: np.array([0.0, 1.0]), np.array([-1.0, 4.0])),
    ],
    ids=["sum", "product", "max-first", "max-second"],
)
def test_gradient_of_the_lecture_examples(f, grad, x):
    np.testing.assert_allclose(numerical_gradient(f, x), grad(x), atol=1e-9)


def test_gradient_of_any_shape_and_input_is_unchanged():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 4))
    before = x.copy()
    got = numerical_gradient(lambda a: float(np.sum(a**3) + np.sum(np.sin(a))), x)
    np.testing.assert_allclose(got, 3 * x**2 + np.cos(x), rtol=1e-7, atol=1e-8)
    np.testing.assert_array_equal(x, before)
    assert got.shape == x.shape


def test_gradient_accepts_lists_and_scalars():
    assert numerical_gradient(lambda a: float(a**2), 3.0).item() == pytest.approx(6.0)
    np.testing.assert_allclose(numerical_gradient(lambda a: float(a @ a), [1.0, 2.0]), [2.0, 4.0])


def test_gradient_check_relative_error():
    assert gradient_check([1.0, 2.0], [1.0, 2.0]) == 0.0
    # |a - n| = 0.1, |a| + |n| = 1 + 1.1 = 2.1
    assert gradient_check([1.0], [1.1]) == pytest.approx(0.1 / 2.1)
    assert gradient_check(np.zeros(3), np.zeros(3)) == 0.0


@pytest.mark.parametrize("h", [0.0, -1e-3, math.inf, math.nan])
def test_bad_step_is_refused(h):
    with pytest.raises(ValueError, match="h must be a finite number > 0"):
        numerical_derivative(math.sin, 0.0, h=h)
    with pytest.raises(ValueError, match="h must be a finite number > 0"):
        numerical_gradient(lambda v: float(v.sum()), np.ones(2), h=h)


def test_bad_inputs_are_refused_with_clear_errors():
    with pytest.raises(TypeError, match="f must be callable"):
        numerical_derivative(3.0, 0.0)
    with pytest.raises(TypeError, match="h must be a real number"):
        numerical_derivative(math.sin, 0.0, h="small")
    with pytest.raises(TypeError, match="x must be a real number"):
        numerical_derivative(math.sin, [0.0])
    with pytest.raises(ValueError, match="x must be a finite number"):
        numerical_derivative(math.sin, math.nan)
    with pytest.raises(ValueError, match=r"method must be one of \('forward', 'central'\)"):
        numerical_derivative(math.sin, 0.0, method="backward")
    with pytest.raises(ValueError, match="x must contain only finite values"):
        numerical_gradient(lambda v: float(v.sum()), np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match="empty"):
        numerical_gradient(lambda v: 0.0, np.array([]))
    with pytest.raises(ValueError, match="f must return a scalar"):
        numerical_gradient(lambda v: v, np.ones(2))
    with pytest.raises(ValueError, match="non-finite value"):
        numerical_derivative(lambda x: math.log(x) if x > 0 else math.nan, 0.0, h=0.1)
    with pytest.raises(ValueError, match="same shape"):
        gradient_check(np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match="only finite values"):
        gradient_check([np.nan], [1.0])
    with pytest.raises(ValueError, match="method must be"):
        optimal_step("sideways")


@pytest.mark.parametrize(
    ("x", "error", "match"),
    [
        ([1.0, [2.0, 3.0]], ValueError, r"x must be .*rectangular array.*ragged"),
        ([[1.0, 2.0], [3.0]], ValueError, r"x must be .*rectangular array.*ragged"),
        (None, TypeError, r"x must be a real number or a rectangular array.*got NoneType"),
        ("1.5", TypeError, r"x must be a real number or a rectangular array.*got str"),
        (b"1", TypeError, r"x must be .*got bytes"),
        ([1.0, None], TypeError, r"x must be .*dtype object"),
        ([True, False], TypeError, r"x must be .*dtype bool"),
        (np.array([1 + 2j]), TypeError, r"x must be .*dtype complex128"),
    ],
    ids=["ragged", "ragged-2d", "none", "str", "bytes", "none-inside", "bool", "complex"],
)
def test_numerical_gradient_refuses_bad_x(x, error, match):
    calls = []
    with pytest.raises(error, match=match):
        numerical_gradient(lambda v: calls.append(v) or 0.0, x)
    assert calls == []  # refused before f is ever called


@pytest.mark.parametrize(
    "x", [[1.0, [2.0, 3.0]], None, "1.5", [0.5], np.array([0.5]), True, 1 + 2j], ids=repr
)
def test_numerical_derivative_refuses_bad_x(x):
    with pytest.raises(TypeError, match=r"x must be a real number \(int or float; use numerical_gradient for arrays\)"):
        numerical_derivative(math.sin, x)


def test_numerical_derivative_accepts_numpy_scalars_and_zero_d_arrays():
    for x in (np.float32(0.5), np.int64(0), np.array(0.5)):
        assert numerical_derivative(math.sin, x) == pytest.approx(math.cos(float(x)), rel=1e-9)


def test_gradient_of_integer_input_is_float():
    # d/dv (v . v) = 2v; an int array must not truncate the perturbed points.
    got = numerical_gradient(lambda v: float(v @ v), np.array([1, 2], dtype=np.int64))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, [2.0, 4.0])


@pytest.mark.parametrize(
    ("analytic", "numeric", "error", "match"),
    [
        ([1.0, [2.0]], [1.0, 2.0], ValueError, r"analytic must be .*ragged"),
        ([1.0, 2.0], [[1.0], [2.0, 3.0]], ValueError, r"numeric must be .*ragged"),
        (None, [1.0], TypeError, r"analytic must be .*got NoneType"),
        ([1.0], "1.0", TypeError, r"numeric must be .*got str"),
    ],
)
def test_gradient_check_refuses_bad_arrays(analytic, numeric, error, match):
    with pytest.raises(error, match=match):
        gradient_check(analytic, numeric)


@pytest.mark.parametrize(
    ("eps", "error"),
    [(0, ValueError), (0.0, ValueError), (-1e-12, ValueError), (math.inf, ValueError), (math.nan, ValueError),
     ("tiny", TypeError), (None, TypeError), (True, TypeError)],
)
def test_gradient_check_refuses_bad_eps(eps, error):
    with pytest.raises(error, match="eps must be"):
        gradient_check([1.0], [1.0], eps=eps)


def test_gradient_check_eps_guards_only_the_all_zero_case():
    # Both zero: 0 / max(0, eps) = 0 for any eps > 0.
    assert gradient_check([0.0], [0.0], eps=1e-300) == 0.0
    # |a - n| = 1e-20, |a| + |n| = 1e-20: the ratio is 1 with a tiny eps, 1e-20 / 1e-10 with a large one.
    assert gradient_check([1e-20], [0.0], eps=1e-30) == pytest.approx(1.0)
    assert gradient_check([1e-20], [0.0], eps=1e-10) == pytest.approx(1e-10)


# ---------------------------------------------------------------- steps below the resolution of x


@pytest.mark.parametrize(("x", "h"), [(1.0, 1e-300), (1e12, 1e-5), (-3e9, 1e-7), (1.0, 1e-17)])
@pytest.mark.parametrize("method", ["forward", "central"])
def test_a_step_that_x_plus_h_cannot_represent_is_not_silent(x, h, method):
    # Independent witness of the failure mode: x + h rounds back to x, so the quotient is 0.
    assert x + h == x and x - h == x
    with pytest.warns(ResolutionWarning, match=re.escape(f"h = {h:g} is below the resolution of x = {x:g}:")):
        assert numerical_derivative(math.sin, x, h=h, method=method) == 0.0
    assert issubclass(ResolutionWarning, RuntimeWarning)


def test_numerical_gradient_names_the_entry_too_large_for_the_step():
    with pytest.warns(RuntimeWarning, match=r"below the resolution of x\[2\] = 1e\+12"):
        numerical_gradient(lambda v: float(np.sum(v**2)), np.array([0.5, 1.0, 1e12]), h=1e-5)


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_the_smallest_representable_steps_still_work():
    # A step of a few ulps is coarse but honest (not 0); at x = 0 tiny steps are representable.
    x = 1e12
    h = 8 * float(np.spacing(x))
    assert numerical_derivative(lambda t: 3.0 * t, x, h=h) == pytest.approx(3.0, rel=1e-3)
    assert numerical_derivative(lambda t: 3.0 * t, 0.0, h=1e-300) == pytest.approx(3.0)


@pytest.mark.parametrize("empty", [[], np.zeros((0, 3))])
def test_gradient_check_refuses_empty_arrays(empty):
    with pytest.raises(ValueError, match="analytic must have at least one entry"):
        gradient_check(empty, empty)


def test_gradient_check_does_not_overflow_for_huge_gradients():
    big = np.array([1e200, -1e200])
    assert gradient_check(big, big * (1 + 1e-9)) == pytest.approx(1e-9 / 2, rel=1e-6)
