"""NumPy references for the Conditional Gradient tests, and checks of the references themselves.

tests/keras/test_optimizers.py compares ``ffbook.optimizers.ConditionalGradient`` (Keras, any
backend) with the functions below. They are written from the maths alone, with NumPy only,
and this file checks them against theory: the linear minimisation oracle really minimises,
and the constrained least-squares optimum from the closed form agrees with projected gradient.
"""

from __future__ import annotations

import numpy as np
import pytest


def reference_matrix(g: np.ndarray) -> np.ndarray:
    """Scalars and vectors as one-row matrices, higher ranks as (all leading axes, last axis)."""
    if g.ndim < 2:
        return g.reshape(1, -1)
    return g.reshape(-1, g.shape[-1])


def reference_direction(g: np.ndarray, ord: str, epsilon: float = 1e-7) -> np.ndarray:
    """s(g): g / (||g||_F + eps) for "fro"; u1 v1^T of the matrix view for "nuclear" (0 when g = 0)."""
    g = np.asarray(g, dtype=np.float64)
    if ord == "fro":
        return g / (np.sqrt(np.sum(g * g)) + epsilon)
    u, sigma, vt = np.linalg.svd(reference_matrix(g))
    if sigma[0] == 0:
        return np.zeros_like(g)
    return np.outer(u[:, 0], vt[0]).reshape(g.shape)


def reference_step(x: np.ndarray, g: np.ndarray, lr: float, lambda_: float, ord: str, epsilon: float = 1e-7):
    """One Conditional Gradient step, x <- lr x - (1 - lr) lambda s(g), in float64."""
    return lr * np.asarray(x, np.float64) - (1.0 - lr) * lambda_ * reference_direction(g, ord, epsilon)


def nuclear_norm(x: np.ndarray) -> float:
    return float(np.sum(np.linalg.svd(reference_matrix(np.asarray(x, np.float64)), compute_uv=False)))


def ball_constrained_least_squares(a: np.ndarray, b: np.ndarray, radius: float) -> np.ndarray:
    """argmin 1/2 ||A x - b||^2 subject to ||x|| <= radius, from the KKT conditions.

    Either the unconstrained solution is inside the ball, or x(mu) = (A^T A + mu I)^{-1} A^T b
    with the multiplier mu > 0 for which ||x(mu)|| = radius; ||x(mu)|| decreases in mu, so
    bisection finds it.
    """
    gram, rhs = a.T @ a, a.T @ b
    solve = lambda mu: np.linalg.solve(gram + mu * np.eye(len(rhs)), rhs)
    unconstrained = np.linalg.lstsq(a, b, rcond=None)[0]
    if np.linalg.norm(unconstrained) <= radius:
        return unconstrained
    low, high = 0.0, 1.0
    while np.linalg.norm(solve(high)) > radius:
        high *= 2.0
    for _ in range(200):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if np.linalg.norm(solve(middle)) > radius else (low, middle)
    return solve(high)


def projected_gradient_least_squares(a: np.ndarray, b: np.ndarray, radius: float, steps: int = 5000) -> np.ndarray:
    """The same problem by projected gradient descent with step 1/L (L = largest eigenvalue of A^T A)."""
    step = 1.0 / np.linalg.eigvalsh(a.T @ a)[-1]
    x = np.zeros(a.shape[1])
    for _ in range(steps):
        x = x - step * a.T @ (a @ x - b)
        norm = np.linalg.norm(x)
        if norm > radius:
            x *= radius / norm
    return x


def least_squares_problem(seed: int = 0, rows: int = 30, cols: int = 6, scale: float = 10.0):
    """A random well-conditioned least-squares problem whose unconstrained optimum has norm ~ scale."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(rows, cols)) / np.sqrt(rows)
    x_true = rng.normal(size=cols)
    x_true *= scale / np.linalg.norm(x_true)
    b = a @ x_true + 0.01 * rng.normal(size=rows)
    return a, b


# ---------------------------------------------------------------- checks of the references


@pytest.mark.parametrize("shape", [(), (5,), (4, 3), (2, 3, 4), (2, 2, 3, 3)])
def test_fro_oracle_minimises_the_linear_term_over_the_frobenius_ball(shape):
    rng = np.random.default_rng(1)
    g = rng.normal(size=shape)
    radius = 2.5
    vertex = -radius * reference_direction(g, "fro", epsilon=0.0)
    best = np.sum(g * vertex)
    assert best == pytest.approx(-radius * np.linalg.norm(g), rel=1e-12)
    # Any other point of the ball does no better.
    for _ in range(200):
        z = rng.normal(size=shape)
        z *= radius * rng.uniform() ** 0.3 / np.linalg.norm(z)
        assert np.sum(g * z) >= best - 1e-12


@pytest.mark.parametrize("shape", [(), (5,), (4, 3), (2, 3, 4), (2, 2, 3, 3)])
def test_nuclear_oracle_minimises_the_linear_term_over_the_nuclear_ball(shape):
    rng = np.random.default_rng(2)
    g = rng.normal(size=shape)
    radius = 1.5
    matrix = reference_matrix(g)
    vertex = -radius * reference_direction(g, "nuclear")
    best = np.sum(g * vertex)
    sigma_1 = np.linalg.svd(matrix, compute_uv=False)[0]
    assert best == pytest.approx(-radius * sigma_1, rel=1e-10)
    assert nuclear_norm(vertex) == pytest.approx(radius, rel=1e-10)
    # The nuclear ball is the convex hull of radius * u v^T with unit u, v: none does better.
    for _ in range(200):
        u = rng.normal(size=matrix.shape[0])
        v = rng.normal(size=matrix.shape[1])
        candidate = radius * np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v))
        assert np.sum(matrix * candidate) >= best - 1e-10


def test_nuclear_direction_of_a_vector_is_its_normalised_gradient_and_of_a_scalar_its_sign():
    g = np.array([3.0, -4.0])
    np.testing.assert_allclose(reference_direction(g, "nuclear"), [0.6, -0.8], atol=1e-15)
    assert reference_direction(np.array(-2.5), "nuclear") == pytest.approx(-1.0)
    np.testing.assert_array_equal(reference_direction(np.zeros((2, 3)), "nuclear"), np.zeros((2, 3)))


def test_reference_step_by_hand():
    # x = (1, 2), g = (3, 4): ||g|| = 5, s = (0.6, 0.8); lr = 0.5, lambda = 2:
    # x' = 0.5 (1, 2) - 0.5 * 2 * (0.6, 0.8) = (-0.1, 0.2).
    np.testing.assert_allclose(
        reference_step(np.array([1.0, 2.0]), np.array([3.0, 4.0]), 0.5, 2.0, "fro", 0.0), [-0.1, 0.2], atol=1e-15
    )


def test_closed_form_constrained_least_squares_agrees_with_projected_gradient():
    a, b = least_squares_problem(seed=3)
    radius = 2.0
    closed = ball_constrained_least_squares(a, b, radius)
    assert np.linalg.norm(np.linalg.lstsq(a, b, rcond=None)[0]) > 3 * radius  # the optimum is outside
    assert np.linalg.norm(closed) == pytest.approx(radius, rel=1e-10)
    # KKT on the boundary: x* points against the gradient.
    gradient = a.T @ (a @ closed - b)
    np.testing.assert_allclose(closed, -radius * gradient / np.linalg.norm(gradient), atol=1e-8)
    np.testing.assert_allclose(projected_gradient_least_squares(a, b, radius), closed, atol=1e-6)


def test_closed_form_returns_the_unconstrained_optimum_when_it_is_inside():
    a, b = least_squares_problem(seed=4, scale=1.0)
    np.testing.assert_allclose(ball_constrained_least_squares(a, b, 5.0), np.linalg.lstsq(a, b, rcond=None)[0])
