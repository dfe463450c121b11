"""Tests for ffbook.backprop: BP1-BP4 checked against finite differences, torch.autograd and hand values."""

from __future__ import annotations

import json
import math
import pathlib
import warnings

import numpy as np
import pytest

from ffbook.backprop import (
    ACTIVATIONS,
    Gradients,
    History,
    Network,
    activate,
    activation_derivative,
    train_sgd,
)
from ffbook.calculus import gradient_check, numerical_derivative, numerical_gradient

# Architectures that exercise every activation and both costs.
ARCHITECTURES = [
    ([3, 5, 4, 2], ["tanh", "tanh", "tanh"], "mse"),
    ([2, 6, 6, 6, 1], ["sigmoid", "relu", "tanh", "identity"], "mse"),
    ([4, 7, 3], ["relu", "sigmoid"], "mse"),
    ([5, 8, 8, 4], ["tanh", "relu", "softmax"], "cross_entropy"),
    ([3, 4], ["softmax"], "cross_entropy"),
    ([1, 1], ["identity"], "mse"),
]


def make_batch(network: Network, m: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(m, network.layer_sizes[0]))
    if network.cost_name == "mse":
        y = rng.uniform(-0.9, 0.9, size=(m, network.layer_sizes[-1]))
    else:
        y = rng.integers(0, network.layer_sizes[-1], size=m)
    return x, y


def with_random_biases(network: Network, seed: int) -> Network:
    """Non-zero biases so that their gradients are tested in a general position."""
    rng = np.random.default_rng(seed)
    for beta in network.biases:
        beta[...] = rng.normal(0.0, 0.3, size=beta.shape)
    return network


# ---------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------


def test_activations_match_their_formulas():
    z = np.array([[-3.0, -0.5, 0.0, 0.7, 4.0]])
    np.testing.assert_allclose(activate("identity", z), z)
    np.testing.assert_allclose(activate("sigmoid", z), 1 / (1 + np.exp(-z)), rtol=1e-15)
    np.testing.assert_allclose(activate("tanh", z), (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z)), rtol=1e-14)
    np.testing.assert_array_equal(activate("relu", z), [[0.0, 0.0, 0.0, 0.7, 4.0]])
    softmax = activate("softmax", z)
    np.testing.assert_allclose(softmax, np.exp(z) / np.exp(z).sum(), rtol=1e-14)


def test_sigmoid_and_softmax_are_stable_for_huge_inputs():
    z = np.array([[-1000.0, 1000.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sigmoid = activate("sigmoid", z)
        softmax = activate("softmax", z)
    np.testing.assert_allclose(sigmoid, [[0.0, 1.0, 0.5]], atol=1e-300)
    np.testing.assert_allclose(softmax, [[0.0, 1.0, 0.0]], atol=1e-300)


def test_softmax_rows_sum_to_one_and_ignore_a_shift():
    z = np.random.default_rng(0).normal(size=(6, 5))
    np.testing.assert_allclose(activate("softmax", z).sum(axis=1), np.ones(6))
    np.testing.assert_allclose(activate("softmax", z + 123.0), activate("softmax", z), rtol=1e-12)


@pytest.mark.parametrize("name", ["identity", "sigmoid", "tanh", "relu"])
def test_activation_derivatives_match_finite_differences(name):
    # Points away from ReLU's kink at 0, where the derivative is undefined.
    for value in [-2.3, -0.4, 0.3, 1.7]:
        numeric = numerical_derivative(lambda t: float(activate(name, np.array([t]))[0]), value)
        analytic = float(activation_derivative(name, np.array([value]))[0])
        assert analytic == pytest.approx(numeric, abs=1e-9)


def test_tanh_derivative_is_one_minus_tanh_squared():
    z = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(activation_derivative("tanh", z), 1 - np.tanh(z) ** 2)


def test_relu_derivative_at_zero_is_zero():
    np.testing.assert_array_equal(activation_derivative("relu", np.array([-1.0, 0.0, 2.0])), [0.0, 0.0, 1.0])


def test_softmax_derivative_is_refused():
    with pytest.raises(ValueError, match="softmax.*cross_entropy"):
        activation_derivative("softmax", np.zeros(3))


@pytest.mark.parametrize("bad", ["swish", "Tanh", ""])
def test_unknown_activation_name_is_rejected(bad):
    with pytest.raises(ValueError, match="activation must be one of"):
        activate(bad, np.zeros(2))
    with pytest.raises(ValueError, match="activation must be one of"):
        activation_derivative(bad, np.zeros(2))


def test_activation_name_must_be_a_string():
    with pytest.raises(TypeError, match="activation must be a string"):
        activate(None, np.zeros(2))


# ---------------------------------------------------------------------------
# Construction and initialisation
# ---------------------------------------------------------------------------


def test_shapes_follow_the_row_vector_convention():
    network = Network([3, 5, 2], ["tanh", "identity"])
    assert [theta.shape for theta in network.weights] == [(3, 5), (5, 2)]
    assert [beta.shape for beta in network.biases] == [(1, 5), (1, 2)]
    assert network.layer_sizes == [3, 5, 2]
    assert network.num_parameters == 3 * 5 + 5 + 5 * 2 + 2
    assert "layer_sizes=[3, 5, 2]" in repr(network)


def test_same_seed_same_weights_other_seed_other_weights():
    a = Network([4, 6, 3], ["relu", "softmax"], "cross_entropy", seed=7)
    b = Network([4, 6, 3], ["relu", "softmax"], "cross_entropy", seed=7)
    c = Network([4, 6, 3], ["relu", "softmax"], "cross_entropy", seed=8)
    for theta_a, theta_b, theta_c in zip(a.weights, b.weights, c.weights, strict=True):
        np.testing.assert_array_equal(theta_a, theta_b)
        assert not np.allclose(theta_a, theta_c)
    assert all(np.all(beta == 0) for beta in a.biases)


def test_initial_weight_scale_is_he_for_relu_and_lecun_otherwise():
    network = Network([400, 300, 300], ["relu", "tanh"], seed=0)
    assert network.weights[0].std() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    assert network.weights[1].std() == pytest.approx(math.sqrt(1 / 300), rel=0.02)
    assert abs(network.weights[0].mean()) < 0.002


def test_from_parameters_copies_and_accepts_flat_biases():
    theta = np.array([[1.0, 2.0]])
    network = Network.from_parameters([theta], [np.array([0.5, -0.5])], ["identity"])
    theta[0, 0] = 99.0
    assert network.weights[0][0, 0] == 1.0
    assert network.biases[0].shape == (1, 2)


def test_copy_is_independent():
    network = Network([2, 3, 1], ["tanh", "identity"], seed=1)
    clone = network.copy()
    clone.weights[0][0, 0] += 1.0
    assert network.weights[0][0, 0] != clone.weights[0][0, 0]


# ---------------------------------------------------------------------------
# Forward pass and cost against hand computations
# ---------------------------------------------------------------------------


def small_network() -> Network:
    weights = [np.array([[0.5, -1.0], [2.0, 0.25]]), np.array([[1.5], [-0.5]])]
    biases = [np.array([[0.1, -0.2]]), np.array([[0.3]])]
    return Network.from_parameters(weights, biases, ["tanh", "identity"])


def test_forward_matches_a_hand_computation():
    x = np.array([[1.0, -1.0], [0.5, 2.0]])
    a1 = np.tanh(x @ np.array([[0.5, -1.0], [2.0, 0.25]]) + np.array([0.1, -0.2]))
    expected = a1 @ np.array([[1.5], [-0.5]]) + 0.3
    # First row worked by hand: z1 = [0.5 - 2 + 0.1, -1 - 0.25 - 0.2] = [-1.4, -1.45].
    assert a1[0, 0] == pytest.approx(math.tanh(-1.4))
    assert a1[0, 1] == pytest.approx(math.tanh(-1.45))
    zs, activations = small_network().forward(x)
    np.testing.assert_allclose(activations[-1], expected, rtol=1e-15)
    np.testing.assert_allclose(zs[0], [[-1.4, -1.45], [4.35, -0.2]], rtol=1e-15)
    np.testing.assert_array_equal(activations[0], x)


def test_mse_cost_is_half_mean_squared_error():
    network = small_network()
    x = np.array([[1.0, -1.0], [0.5, 2.0], [0.0, 0.0]])
    y = np.array([[0.2], [-0.4], [1.0]])
    h = network.predict(x)
    assert network.cost(x, y) == pytest.approx(np.sum((h - y) ** 2) / (2 * 3), rel=1e-15)


def test_cross_entropy_is_mean_negative_log_probability():
    weights = [np.array([[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]])]
    network = Network.from_parameters(weights, [np.zeros(3)], ["softmax"], "cross_entropy")
    x = np.array([[1.0, 0.0], [0.0, 2.0]])
    labels = np.array([0, 2])
    # Row 1: z = [1, 0, -1]; row 2: z = [1, 1, 1] so p = 1/3 for every class.
    p0 = math.exp(1) / (math.exp(1) + 1 + math.exp(-1))
    expected = -(math.log(p0) + math.log(1 / 3)) / 2
    assert network.cost(x, labels) == pytest.approx(expected, rel=1e-14)


def test_cross_entropy_stays_finite_for_confident_wrong_answers():
    network = Network.from_parameters([np.array([[1000.0, -1000.0]])], [np.zeros(2)], ["softmax"], "cross_entropy")
    assert network.cost(np.array([[1.0]]), np.array([1])) == pytest.approx(2000.0)


# ---------------------------------------------------------------------------
# BP1-BP4: three independent checks
# ---------------------------------------------------------------------------


def parameter_cost(network: Network, arrays: list, index: int, x, y):
    """J as a function of one parameter array, for numerical_gradient."""

    def cost(values: np.ndarray) -> float:
        saved = arrays[index].copy()
        arrays[index][...] = values
        try:
            return network.cost(x, y)
        finally:
            arrays[index][...] = saved

    return cost


@pytest.mark.parametrize("sizes, activations, cost", ARCHITECTURES)
def test_backward_matches_finite_differences_for_every_parameter(sizes, activations, cost):
    network = with_random_biases(Network(sizes, activations, cost, seed=3), seed=4)
    x, y = make_batch(network, m=9, seed=5)
    gradients = network.backward(x, y)
    for index in range(len(network.weights)):
        for arrays, analytic in [(network.weights, gradients.weights), (network.biases, gradients.biases)]:
            numeric = numerical_gradient(parameter_cost(network, arrays, index, x, y), arrays[index].copy())
            assert gradient_check(analytic[index], numeric) < 1e-7


@pytest.mark.parametrize("sizes, activations, cost", ARCHITECTURES)
def test_backward_matches_torch_autograd(sizes, activations, cost):
    torch = pytest.importorskip("torch")
    network = with_random_biases(Network(sizes, activations, cost, seed=11), seed=12)
    x, y = make_batch(network, m=6, seed=13)
    thetas = [torch.tensor(theta, requires_grad=True) for theta in network.weights]
    betas = [torch.tensor(beta, requires_grad=True) for beta in network.biases]
    functions = {"identity": lambda t: t, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}
    a = torch.tensor(x)
    for theta, beta, name in zip(thetas, betas, activations, strict=True):
        z = a @ theta + beta
        a = z if name == "softmax" else functions[name](z)
    if cost == "mse":
        loss = ((a - torch.tensor(y)) ** 2).sum() / (2 * len(x))
    else:
        loss = torch.nn.functional.cross_entropy(a, torch.tensor(y))  # a holds the logits z(L) here
    loss.backward()
    assert loss.item() == pytest.approx(network.cost(x, y), rel=1e-12)
    gradients = network.backward(x, y)
    for ours, theirs in zip(gradients.weights + gradients.biases, thetas + betas, strict=True):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("sizes, activations, cost", ARCHITECTURES)
def test_per_example_average_equals_vectorised(sizes, activations, cost):
    network = with_random_biases(Network(sizes, activations, cost, seed=21), seed=22)
    x, y = make_batch(network, m=8, seed=23)
    vectorised = network.backward(x, y)
    averaged = network.backward_averaged(x, y)
    np.testing.assert_allclose(averaged.flat(), vectorised.flat(), rtol=1e-12, atol=1e-15)
    for ours, theirs in zip(averaged.deltas, vectorised.deltas, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)


def test_one_example_gradient_is_the_outer_product_of_bp4():
    network = with_random_biases(Network([3, 4, 2], ["tanh", "sigmoid"], seed=2), seed=3)
    x, y = make_batch(network, m=1, seed=4)
    one = network.backward_example(x[0], y[0])
    _, activations = network.forward(x)
    # BP4 by hand: ∂J/∂Θ(l)_ij = a(l-1)_i δ(l)_j.
    for k in range(2):
        for i in range(network.layer_sizes[k]):
            for j in range(network.layer_sizes[k + 1]):
                assert one.weights[k][i, j] == pytest.approx(activations[k][0, i] * one.deltas[k][0, j], rel=1e-14)
    np.testing.assert_allclose(one.flat(), network.backward(x, y).flat(), rtol=1e-14)


def test_cross_entropy_output_error_is_probabilities_minus_one_hot():
    network = Network([2, 3], ["softmax"], "cross_entropy", seed=0)
    x = np.array([[0.3, -0.7], [1.0, 2.0]])
    labels = np.array([2, 0])
    probabilities = network.predict(x)
    deltas = network.backward(x, labels).deltas
    np.testing.assert_allclose(deltas[-1], probabilities - np.eye(3)[labels], rtol=1e-15)


def test_lecture_sigmoid_neuron_gradient():
    # One sigmoid unit with w = [2, -3], bias -3, input x = [-1, -2], as in the lecture.
    # With J = ½(a - y)² and y = a - 1 we get ∂J/∂a = 1, so ∇J is the gradient of the unit itself.
    network = Network.from_parameters([np.array([[2.0], [-3.0]])], [np.array([[-3.0]])], ["sigmoid"])
    x = np.array([[-1.0, -2.0]])
    y = network.predict(x) - 1.0
    gradients = network.backward(x, y)
    dw = [*gradients.weights[0][:, 0], gradients.biases[0][0, 0]]
    np.testing.assert_allclose(dw, [-0.19661193324148185, -0.3932238664829637, 0.19661193324148185], rtol=1e-15)


def test_deep_sigmoid_deltas_shrink_towards_the_input_but_relu_deltas_do_not():
    sizes = [20] + [30] * 8 + [1]
    x = np.random.default_rng(0).normal(size=(64, 20))
    y = np.zeros((64, 1))
    sigmoid = Network(sizes, ["sigmoid"] * 8 + ["identity"], seed=0).backward(x, y)
    relu = Network(sizes, ["relu"] * 8 + ["identity"], seed=0).backward(x, y)
    sigmoid_sizes = [np.abs(delta).mean() for delta in sigmoid.deltas[:-1]]
    relu_sizes = [np.abs(delta).mean() for delta in relu.deltas[:-1]]
    assert sigmoid_sizes[0] < 1e-3 * sigmoid_sizes[-1]  # σ' <= 1/4 at every layer
    assert relu_sizes[0] > 0.1 * relu_sizes[-1]


# ---------------------------------------------------------------------------
# SGD
# ---------------------------------------------------------------------------


def regression_data(m: int = 60):
    x = np.linspace(-2, 2, m).reshape(-1, 1)
    return x, 0.8 * np.sin(1.5 * x)


def test_sgd_step_moves_against_the_gradient():
    network = small_network()
    before = [theta.copy() for theta in network.weights] + [beta.copy() for beta in network.biases]
    gradients = network.backward(*make_batch(network, m=4, seed=0))
    network.sgd_step(gradients, learning_rate=0.1)
    after = network.weights + network.biases
    for old, new, grad in zip(before, after, gradients.weights + gradients.biases, strict=True):
        np.testing.assert_allclose(new, old - 0.1 * grad, rtol=1e-15)


def test_training_the_lecture_tanh_network_lowers_the_cost():
    x, y = regression_data()
    network = Network([1, 8, 8, 1], ["tanh", "tanh", "tanh"], seed=0)
    history = train_sgd(network, x, y, learning_rate=0.3, epochs=150, batch_size=10, seed=0)
    assert isinstance(history, History)
    assert len(history.costs) == 151 and not history.diverged
    assert history.costs[-1] < 0.1 * history.costs[0]
    assert history.costs[-1] == pytest.approx(network.cost(x, y))


def test_per_example_and_vectorised_training_agree_and_are_seeded():
    x, y = regression_data(25)
    runs = []
    for method in ["vectorised", "per_example", "vectorised"]:
        network = Network([1, 5, 5, 1], ["tanh"] * 3, seed=1)
        # batch_size 7 leaves a last batch of 4: it must be averaged over 4, not 7.
        runs.append((train_sgd(network, x, y, 0.2, epochs=5, batch_size=7, seed=9, method=method), network))
    np.testing.assert_allclose(runs[0][0].costs, runs[1][0].costs, rtol=1e-12)
    np.testing.assert_allclose(runs[0][1].weights[0], runs[1][1].weights[0], rtol=1e-12)
    assert runs[0][0].costs == runs[2][0].costs  # same seeds, same numbers


def test_different_shuffle_seed_gives_a_different_run():
    x, y = regression_data(25)
    histories = [train_sgd(Network([1, 5, 1], ["tanh"] * 2, seed=1), x, y, 0.2, 3, 5, seed=s) for s in (0, 1)]
    assert histories[0].costs[0] == histories[1].costs[0]
    assert histories[0].costs[-1] != histories[1].costs[-1]


def test_full_batch_step_equals_one_gradient_step():
    x, y = regression_data(10)
    network = Network([1, 4, 1], ["tanh", "identity"], seed=2)
    expected = network.copy()
    expected.sgd_step(expected.backward(x, y), 0.05)
    train_sgd(network, x, y, 0.05, epochs=1, batch_size=10, seed=0)
    np.testing.assert_allclose(network.weights[0], expected.weights[0], rtol=1e-14)


def test_classification_training_reaches_high_accuracy():
    rng = np.random.default_rng(0)
    centres = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
    labels = rng.integers(0, 3, size=150)
    x = centres[labels] + rng.normal(0, 0.5, size=(150, 2))
    network = Network([2, 8, 3], ["relu", "softmax"], "cross_entropy", seed=0)
    history = train_sgd(network, x, labels, learning_rate=0.5, epochs=30, batch_size=16, seed=0)
    assert history.costs[-1] < 0.2
    assert (network.predict(x).argmax(axis=1) == labels).mean() > 0.95


def test_huge_step_size_diverges_and_is_reported():
    x, y = regression_data(20)
    network = Network([1, 8, 1], ["relu", "identity"], seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # divergence must be reported in the history, not by warnings
        history = train_sgd(network, x, y, learning_rate=1e6, epochs=50, batch_size=5, seed=0)
    assert history.diverged
    assert not math.isfinite(history.costs[-1])
    assert len(history.costs) < 51


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sizes, activations, cost, error, message",
    [
        ([3, 4], ["swish"], "mse", ValueError, r"activations\[0\] must be one of"),
        ([3, 4, 2], ["tanh"], "mse", ValueError, "one name per layer"),
        ([3], [], "mse", ValueError, "at least an input and an output"),
        ([3, 0, 2], ["tanh", "tanh"], "mse", ValueError, r"layer_sizes\[1\] must be >= 1"),
        ([3, 2.5, 2], ["tanh", "tanh"], "mse", TypeError, r"layer_sizes\[1\] must be an int"),
        ("34", ["tanh"], "mse", TypeError, "layer_sizes must be a list"),
        ([3, 4], "tanh", "mse", TypeError, "activations must be a list"),
        ([3, 4, 2], ["softmax", "softmax"], "cross_entropy", ValueError, "only be used for the last layer"),
        ([3, 4], ["tanh"], "hinge", ValueError, "cost must be one of"),
        ([3, 4], ["tanh"], "cross_entropy", ValueError, "cross_entropy.*softmax"),
        ([3, 4], ["softmax"], "mse", ValueError, "cross_entropy.*softmax"),
        ([3, 1], ["softmax"], "cross_entropy", ValueError, "at least 2 units"),
    ],
)
def test_bad_architectures_are_rejected(sizes, activations, cost, error, message):
    with pytest.raises(error, match=message):
        Network(sizes, activations, cost)


@pytest.mark.parametrize(
    "seed, error", [(-1, ValueError), (2**63, ValueError), (1.5, TypeError), (True, TypeError), ("0", TypeError)]
)
def test_bad_seed_is_rejected(seed, error):
    with pytest.raises(error, match="seed"):
        Network([2, 2], ["tanh"], seed=seed)
    x, y = np.zeros((2, 2)), np.array([0, 1])
    with pytest.raises(error, match="seed"):
        train_sgd(Network([2, 2], ["softmax"], "cross_entropy"), x, y, 0.1, epochs=1, batch_size=1, seed=seed)


@pytest.mark.parametrize("sizes", [np.array([3, 4, 2]), np.array([3, 4, 2], dtype=np.uint16), (3, 4, 2), range(3, 5)])
def test_layer_sizes_may_be_any_sequence_of_ints_or_a_numpy_array(sizes):
    network = Network(sizes, ["tanh"] * (len(sizes) - 1), seed=np.int64(4))
    reference = Network([int(s) for s in sizes], ["tanh"] * (len(sizes) - 1), seed=4)
    assert network.layer_sizes == reference.layer_sizes
    for mine, theirs in zip(network.weights, reference.weights, strict=True):
        np.testing.assert_array_equal(mine, theirs)


@pytest.mark.parametrize(
    "sizes, error, match",
    [
        (np.array([3.0, 4.0]), TypeError, r"layer_sizes\[0\] must be an int"),
        (np.array([[3, 4]]), TypeError, "layer_sizes must be a list"),
        (np.array([3, 0]), ValueError, r"layer_sizes\[1\] must be >= 1"),
        (np.array([3]), ValueError, "at least an input and an output"),
    ],
)
def test_layer_sizes_arrays_are_checked_like_lists(sizes, error, match):
    with pytest.raises(error, match=match):
        Network(sizes, ["tanh"])


def test_mismatched_shapes_are_rejected():
    network = Network([3, 4, 2], ["tanh", "identity"])
    x = np.zeros((5, 3))
    with pytest.raises(ValueError, match="x must have 3 columns"):
        network.forward(np.zeros((5, 4)))
    with pytest.raises(ValueError, match=r"x must be 2-D.*reshape\(1, -1\)"):
        network.forward(np.zeros(3))
    with pytest.raises(ValueError, match="at least one example"):
        network.forward(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="y must have 2 columns"):
        network.backward(x, np.zeros((5, 1)))
    with pytest.raises(ValueError, match="same number of examples, got 5 and 4"):
        network.backward(x, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="same number of examples"):
        train_sgd(network, x, np.zeros((6, 2)), 0.1, 1, 1)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs_and_targets_are_rejected(bad):
    network = Network([2, 1], ["identity"])
    x = np.array([[1.0, bad]])
    with pytest.raises(ValueError, match="x must contain only finite values"):
        network.predict(x)
    with pytest.raises(ValueError, match="y must contain only finite values"):
        network.cost(np.ones((1, 2)), np.array([[bad]]))


def test_non_numeric_inputs_are_rejected():
    network = Network([2, 1], ["identity"])
    with pytest.raises(TypeError, match="x must hold numbers"):
        network.predict(np.array([["a", "b"]]))
    with pytest.raises(TypeError, match="x must be a 2-D array"):
        network.predict(None)
    with pytest.raises(TypeError, match="real numbers"):
        network.predict(np.ones((1, 2), dtype=complex))


@pytest.mark.parametrize(
    "labels, error, message",
    [
        (np.array([0, 3]), ValueError, r"labels in 0\.\.2, got values from 0 to 3"),
        (np.array([-1, 0]), ValueError, r"labels in 0\.\.2"),
        (np.array([0.0, 1.0]), TypeError, "integer class labels"),
        (np.eye(3)[[0, 1]], ValueError, r"1-D array.*argmax"),
    ],
)
def test_bad_class_labels_are_rejected(labels, error, message):
    network = Network([2, 3], ["softmax"], "cross_entropy")
    with pytest.raises(error, match=message):
        network.backward(np.zeros((2, 2)), labels)


@pytest.mark.parametrize(
    "rate, error",
    [(0.0, ValueError), (-0.1, ValueError), (np.nan, ValueError), (np.inf, ValueError), ("0.1", TypeError)],
)
def test_bad_learning_rate_is_rejected(rate, error):
    x, y = regression_data(4)
    network = Network([1, 1], ["identity"])
    with pytest.raises(error, match="learning_rate"):
        train_sgd(network, x, y, rate, epochs=1, batch_size=2)
    with pytest.raises(error, match="learning_rate"):
        network.sgd_step(network.backward(x, y), rate)


def test_bool_learning_rate_is_rejected():
    with pytest.raises(TypeError, match="learning_rate"):
        Network([1, 1], ["identity"]).sgd_step(Gradients([np.zeros((1, 1))], [np.zeros((1, 1))], []), True)


def test_bad_training_settings_are_rejected():
    x, y = regression_data(4)
    network = Network([1, 1], ["identity"])
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        train_sgd(network, x, y, 0.1, epochs=0, batch_size=2)
    with pytest.raises(TypeError, match="batch_size must be an int"):
        train_sgd(network, x, y, 0.1, epochs=1, batch_size=2.0)
    with pytest.raises(ValueError, match="batch_size must be at most the number of examples"):
        train_sgd(network, x, y, 0.1, epochs=1, batch_size=5)
    with pytest.raises(ValueError, match="method must be"):
        train_sgd(network, x, y, 0.1, epochs=1, batch_size=2, method="fast")
    with pytest.raises(TypeError, match="network must be a Network"):
        train_sgd("net", x, y, 0.1, epochs=1, batch_size=2)


def test_bad_parameters_are_rejected():
    with pytest.raises(ValueError, match=r"Θ\(2\)\) must have 3 rows"):
        Network.from_parameters([np.zeros((2, 3)), np.zeros((4, 1))], [np.zeros(3), np.zeros(1)], ["tanh", "tanh"])
    with pytest.raises(ValueError, match=r"β\(1\)\) must have shape \(1, 3\)"):
        Network.from_parameters([np.zeros((2, 3))], [np.zeros(2)], ["tanh"])
    with pytest.raises(ValueError, match="equal length"):
        Network.from_parameters([np.zeros((2, 3))], [], ["tanh"])
    with pytest.raises(ValueError, match="must be 2-D"):
        Network.from_parameters([np.zeros(3)], [np.zeros(3)], ["tanh"])
    with pytest.raises(ValueError, match=r"weights\[0\] must contain only finite values"):
        Network.from_parameters([np.full((1, 1), np.nan)], [np.zeros(1)], ["tanh"])
    network = Network([2, 3], ["tanh"])
    with pytest.raises(ValueError, match="do not match"):
        network.sgd_step(Gradients([np.zeros((3, 2))], [np.zeros((1, 3))], []), 0.1)
    with pytest.raises(TypeError, match="gradients must be a Gradients"):
        network.sgd_step([np.zeros((2, 3))], 0.1)


def test_single_example_api_rejects_batches():
    network = Network([2, 3], ["softmax"], "cross_entropy")
    with pytest.raises(ValueError, match="x must be one example"):
        network.backward_example(np.zeros((1, 2)), 0)
    with pytest.raises(ValueError, match="one integer label"):
        network.backward_example(np.zeros(2), np.array([0]))
    with pytest.raises(ValueError, match=r"labels in 0\.\.2"):
        network.backward_example(np.zeros(2), 5)
    regression = Network([2, 1], ["identity"])
    with pytest.raises(ValueError, match="y must be one target"):
        regression.backward_example(np.zeros(2), 0.5)


def test_activation_names_in_the_public_tuple_all_work():
    for name in ACTIVATIONS:
        assert activate(name, np.zeros((1, 3))).shape == (1, 3)


# ---------------------------------------------------------------------------
# The chapters build backward passes by hand: they must agree with the package
# ---------------------------------------------------------------------------

BOOK = pathlib.Path(__file__).resolve().parents[1] / "book"


def chapter_cell(notebook: str, marker: str) -> str:
    """The source of the code cell of ``book/<notebook>`` whose first line is ``marker``."""
    cells = json.loads((BOOK / notebook).read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and source.startswith(marker):
            return source
    raise AssertionError(f"no code cell starting with {marker!r} in {notebook}")


@pytest.mark.parametrize(
    "sizes, activations",
    [([1, 8, 8, 1], ["tanh"] * 3), ([3, 5, 4, 2], ["sigmoid", "relu", "identity"]), ([2, 1], ["tanh"])],
)
def test_chapter_backprop_one_example_equals_the_package(sizes, activations):
    namespace = {"np": np, "activate": activate, "activation_derivative": activation_derivative}
    exec(chapter_cell("03_backprop_equations.ipynb", "# chapter: backprop-one-example"), namespace)
    network = with_random_biases(Network(sizes, activations, seed=5), seed=6)
    x, y = make_batch(network, m=1, seed=7)
    grad_theta, grad_beta = namespace["backprop_one_example"](network, x[0], y[0])
    package = network.backward(x, y)
    assert grad_theta[0] is None and len(grad_theta) == len(sizes)
    for layer in range(1, len(sizes)):
        np.testing.assert_allclose(grad_theta[layer], package.weights[layer - 1], rtol=1e-13, atol=1e-16)
        np.testing.assert_allclose(grad_beta[layer], package.biases[layer - 1][0], rtol=1e-13, atol=1e-16)


def test_chapter_sigmoid_neuron_by_hand_equals_the_lecture_and_the_package():
    namespace = {"math": math}
    exec(chapter_cell("02_chain_rule.ipynb", "# chapter: sigmoid-neuron-by-hand"), namespace)
    lecture_dx = [0.3932238664829637, -0.5898357997244456]
    lecture_dw = [-0.19661193324148185, -0.3932238664829637, 0.19661193324148185]
    np.testing.assert_allclose(namespace["dx"], lecture_dx, rtol=1e-15)
    np.testing.assert_allclose(namespace["dw"], lecture_dw, rtol=1e-15)
    # The package's view of the same neuron: ∂J/∂a = 1 (see test_lecture_sigmoid_neuron_gradient);
    # one more BP2 step, δ(1) Θ(1)ᵀ, gives the gradient with respect to the input x.
    network = Network.from_parameters([np.array([[2.0], [-3.0]])], [np.array([[-3.0]])], ["sigmoid"])
    x = np.array([[-1.0, -2.0]])
    gradients = network.backward(x, network.predict(x) - 1.0)
    package_dw = [*gradients.weights[0][:, 0], gradients.biases[0][0, 0]]
    package_dx = (gradients.deltas[0] @ network.weights[0].T)[0]
    np.testing.assert_allclose(namespace["dw"], package_dw, rtol=1e-15)
    np.testing.assert_allclose(namespace["dx"], package_dx, rtol=1e-15)
    assert namespace["f"] == pytest.approx(float(network.predict(x)[0, 0]), rel=1e-15)


# ---------------------------------------------------------------- no silent wrong answers


@pytest.mark.parametrize("function", [activate, activation_derivative])
@pytest.mark.parametrize(
    ("z", "error", "match"),
    [
        (None, TypeError, "z must be a real number or a rectangular array.*got NoneType"),
        ("1.0", TypeError, "z must be .*got str"),
        (np.array([1 + 2j]), TypeError, "z must be .*dtype complex128"),
        ([0.5, float("nan")], ValueError, "z must not contain NaN"),
    ],
    ids=["none", "str", "complex", "nan"],
)
def test_activations_refuse_what_is_not_a_real_array(function, z, error, match):
    with pytest.raises(error, match=match):
        function("sigmoid", z)


def test_activations_keep_infinities_meaningful():
    # inf is a legitimate limit for these functions (unlike NaN): sigmoid(+-inf) = 1, 0.
    np.testing.assert_array_equal(activate("sigmoid", [-np.inf, np.inf]), [0.0, 1.0])
    np.testing.assert_array_equal(activation_derivative("relu", [-np.inf, np.inf]), [0.0, 1.0])


def test_sgd_step_refuses_non_finite_gradients_and_changes_nothing():
    net = Network([2, 3, 1], ["tanh", "sigmoid"], seed=0)
    before = [w.copy() for w in net.weights]
    gradients = net.backward(np.ones((4, 2)), np.zeros((4, 1)))
    gradients.weights[1] = gradients.weights[1].copy()
    gradients.weights[1][0, 0] = np.nan
    with pytest.raises(ValueError, match=r"gradients.weights\[1\] must contain only finite values"):
        net.sgd_step(gradients, 0.1)
    for old, new in zip(before, net.weights, strict=True):
        np.testing.assert_array_equal(old, new)  # layer 1 untouched even though layer 2 was the bad one


@pytest.mark.parametrize(
    ("x", "error"),
    [(None, TypeError), ("ab", TypeError), (np.array([[1 + 1j, 0.0]]), TypeError), ([[np.nan, 0.0]], ValueError)],
    ids=["none", "str", "complex", "nan"],
)
@pytest.mark.parametrize("method", ["forward", "predict", "cost", "backward", "backward_averaged"])
def test_network_methods_refuse_bad_inputs(x, error, method):
    net = Network([2, 1], ["sigmoid"], seed=0)
    call = getattr(net, method)
    with pytest.raises(error, match="x must"):
        call(x) if method in ("forward", "predict") else call(x, np.zeros((1, 1)))


@pytest.mark.parametrize(
    ("x", "y", "error", "match"),
    [
        (None, [0.0], TypeError, "x must"),
        (np.array([1j, 0.0]), [0.0], TypeError, "x must"),
        ([np.nan, 0.0], [0.0], ValueError, "x must"),
        ([0.0, 0.0], None, TypeError, "y must"),
        ([0.0, 0.0], [np.nan], ValueError, "y must"),
        ([0.0, 0.0], "a", TypeError, "y must"),
    ],
)
def test_backward_example_refuses_bad_inputs(x, y, error, match):
    net = Network([2, 1], ["sigmoid"], seed=0)
    with pytest.raises(error, match=match):
        net.backward_example(x, y)


def test_learning_rate_refuses_complex_and_strings():
    net = Network([2, 1], ["sigmoid"], seed=0)
    gradients = net.backward(np.ones((1, 2)), np.zeros((1, 1)))
    for bad in (1j, "0.1", None):
        with pytest.raises(TypeError, match="learning_rate must be a real number"):
            net.sgd_step(gradients, bad)
