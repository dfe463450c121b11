"""A NumPy multilayer network whose backward pass is the four equations BP1-BP4.

Row-vector notation, as in the lecture: a mini-batch is a matrix whose rows are examples,

    a(0) = x,    z(l) = a(l-1) Θ(l) + β(l),    a(l) = g(l)(z(l)),    l = 1..L,

with Θ(l) of shape dim(a(l-1)) x dim(a(l)) and β(l) of shape 1 x dim(a(l)).
δ(l) = ∂J/∂z(l) is the error of layer l; one row per example. The four equations:

    BP1  δ(L) = ∇_a J ⊙ g'(z(L))                (softmax + cross-entropy: δ(L) = a(L) - onehot(y))
    BP2  δ(l) = (δ(l+1) Θ(l+1)ᵀ) ⊙ g'(z(l))
    BP3  ∇_β(l) J = (1/m) Σ_i δ(l)_i            (mean of the rows)
    BP4  ∇_Θ(l) J = (1/m) a(l-1)ᵀ δ(l)           (mean of the per-example outer products)

Costs over a mini-batch of m examples:

    "mse":            J = 1/(2m) Σ_i ‖h(x_i) - y_i‖²            (regression, any output activation but softmax)
    "cross_entropy":  J = -(1/m) Σ_i log softmax(z(L)_i)[y_i]   (classification, softmax output, integer labels)

The code is deliberately plain: one function per idea, so a chapter can show each whole.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from ffbook._validate import check_array, check_choice, check_int, check_int_sequence, check_real, check_seed

__all__ = [
    "ACTIVATIONS",
    "COSTS",
    "activate",
    "activation_derivative",
    "Gradients",
    "Network",
    "History",
    "train_sgd",
]

ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu", "softmax")
COSTS = ("mse", "cross_entropy")


# ---------------------------------------------------------------------------
# Activations and their derivatives
# ---------------------------------------------------------------------------


def _check_activation_name(name, argument: str = "activation") -> str:
    return check_choice(argument, name, ACTIVATIONS)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # Two branches so that exp never overflows: for z < 0 use e^z / (1 + e^z).
    out = np.empty_like(z)
    positive = z >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-z[positive]))
    exp_z = np.exp(z[~positive])
    out[~positive] = exp_z / (1.0 + exp_z)
    return out


def _softmax(z: np.ndarray) -> np.ndarray:
    # Subtracting the row maximum changes nothing mathematically and avoids overflow.
    shifted = z - z.max(axis=-1, keepdims=True)
    exp_z = np.exp(shifted)
    return exp_z / exp_z.sum(axis=-1, keepdims=True)


def activate(name: str, z: np.ndarray) -> np.ndarray:
    """Apply the activation g to the pre-activations z (softmax acts on each row).

    ``z``: a real number or a real array; None, strings, complex values and NaN are refused.
    """
    _check_activation_name(name)
    z = check_array("z", z, nonempty=False, finite=False)
    if np.any(np.isnan(z)):
        raise ValueError("z must not contain NaN")
    if name == "identity":
        return z.copy()
    if name == "sigmoid":
        return _sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    return _softmax(z)


def activation_derivative(name: str, z: np.ndarray) -> np.ndarray:
    """g'(z) entry by entry: identity 1, sigmoid σ(1-σ), tanh 1-tanh², ReLU 1[z>0].

    Softmax has no entry-by-entry derivative (each output depends on every input),
    so it is refused here; the network pairs it with cross-entropy, whose BP1 needs none.
    """
    _check_activation_name(name)
    if name == "softmax":
        raise ValueError("activation 'softmax' has no element-wise derivative; pair it with cost='cross_entropy'")
    z = check_array("z", z, nonempty=False, finite=False)
    if np.any(np.isnan(z)):
        raise ValueError("z must not contain NaN")
    if name == "identity":
        return np.ones_like(z)
    if name == "sigmoid":
        s = _sigmoid(z)
        return s * (1.0 - s)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    # The derivative at exactly 0 is undefined; we take 0, as most libraries do.
    return (z > 0).astype(np.float64)


# ---------------------------------------------------------------------------
# Input validation (clear errors rather than silent guesses)
# ---------------------------------------------------------------------------


def _check_matrix(array, argument: str, columns: int) -> np.ndarray:
    if isinstance(array, (str, bytes)) or array is None:
        raise TypeError(f"{argument} must be a 2-D array of numbers, got {type(array).__name__}")
    matrix = np.asarray(array)
    if matrix.dtype == object or not (np.issubdtype(matrix.dtype, np.number) or matrix.dtype == bool):
        raise TypeError(f"{argument} must hold numbers, got dtype {matrix.dtype}")
    if np.iscomplexobj(matrix):
        raise TypeError(f"{argument} must hold real numbers, got dtype {matrix.dtype}")
    if matrix.ndim != 2:
        hint = " (one example? use x.reshape(1, -1))" if matrix.ndim == 1 else ""
        raise ValueError(f"{argument} must be 2-D (examples x {columns}), got shape {matrix.shape}{hint}")
    if matrix.shape[1] != columns:
        raise ValueError(f"{argument} must have {columns} columns, got shape {matrix.shape}")
    if matrix.shape[0] == 0:
        raise ValueError(f"{argument} must hold at least one example (row), got shape {matrix.shape}")
    matrix = matrix.astype(np.float64)
    if not np.all(np.isfinite(matrix)):
        raise ValueError(f"{argument} must contain only finite values (no NaN or inf)")
    return matrix


def _check_learning_rate(learning_rate) -> float:
    return check_real("learning_rate", learning_rate, positive=True)


# ---------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class Gradients:
    """∇_Θ(l) J and ∇_β(l) J for l = 1..L (index 0 is layer 1), and the errors δ(l) behind them."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    deltas: list[np.ndarray]

    def flat(self) -> np.ndarray:
        """All gradients as one vector, in the order Θ(1), β(1), Θ(2), β(2), ..."""
        return np.concatenate([g.ravel() for pair in zip(self.weights, self.biases, strict=True) for g in pair])


class Network:
    """A fully connected network a(l) = g(l)(a(l-1) Θ(l) + β(l)) trained by backpropagation.

    ``layer_sizes`` = [n0, n1, ..., nL] (inputs first), ``activations`` one name per layer
    l = 1..L from ``ACTIVATIONS``. Softmax may only be the last activation, and it comes
    with ``cost="cross_entropy"`` (and cross-entropy only with softmax).

    Weights are drawn from N(0, s²) with s = sqrt(2 / n_{l-1}) before a ReLU and
    s = sqrt(1 / n_{l-1}) otherwise (He / LeCun scaling, so signals keep their size);
    biases start at 0. The same ``seed`` gives the same weights.
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activations: Sequence[str],
        cost: str = "mse",
        seed: int = 0,
    ) -> None:
        sizes, names, cost = _check_architecture(layer_sizes, activations, cost)
        rng = np.random.default_rng(check_seed("seed", seed))
        self.activations = names
        self.cost_name = cost
        self.weights = []
        self.biases = []
        for fan_in, fan_out, name in zip(sizes[:-1], sizes[1:], names, strict=True):
            scale = math.sqrt((2.0 if name == "relu" else 1.0) / fan_in)
            self.weights.append(rng.normal(0.0, scale, size=(fan_in, fan_out)))
            self.biases.append(np.zeros((1, fan_out)))

    @classmethod
    def from_parameters(
        cls,
        weights: Sequence[np.ndarray],
        biases: Sequence[np.ndarray],
        activations: Sequence[str],
        cost: str = "mse",
    ) -> Network:
        """Build a network from given Θ(l) (n_{l-1} x n_l) and β(l) (1 x n_l or n_l), copied as float64."""
        if not isinstance(weights, Sequence) or not isinstance(biases, Sequence):
            raise TypeError("weights and biases must be sequences (lists) of arrays, one per layer")
        if len(weights) == 0 or len(weights) != len(biases):
            raise ValueError(
                f"weights and biases must be non-empty and of equal length, got {len(weights)} and {len(biases)}"
            )
        thetas = [check_array(f"weights[{i}]", w) for i, w in enumerate(weights)]
        for index, theta in enumerate(thetas, start=1):
            if theta.ndim != 2:
                raise ValueError(f"weights[{index - 1}] (Θ({index})) must be 2-D, got shape {theta.shape}")
        sizes = [thetas[0].shape[0]] + [theta.shape[1] for theta in thetas]
        sizes, names, cost = _check_architecture(sizes, activations, cost)
        betas = []
        for index, (theta, beta) in enumerate(zip(thetas, biases, strict=True), start=1):
            if index > 1 and theta.shape[0] != thetas[index - 2].shape[1]:
                raise ValueError(
                    f"weights[{index - 1}] (Θ({index})) must have {thetas[index - 2].shape[1]} rows to follow "
                    f"Θ({index - 1}) of shape {thetas[index - 2].shape}, got shape {theta.shape}"
                )
            beta = check_array(f"biases[{index - 1}]", beta)
            if beta.shape not in ((theta.shape[1],), (1, theta.shape[1])):
                raise ValueError(
                    f"biases[{index - 1}] (β({index})) must have shape (1, {theta.shape[1]}), got {beta.shape}"
                )
            betas.append(beta.reshape(1, -1))
        for name, array in [("weights", t) for t in thetas] + [("biases", b) for b in betas]:
            if not np.all(np.isfinite(array)):
                raise ValueError(f"{name} must contain only finite values")
        network = cls.__new__(cls)
        network.activations = names
        network.cost_name = cost
        network.weights = thetas
        network.biases = betas
        return network

    # -- shapes ---------------------------------------------------------------

    @property
    def layer_sizes(self) -> list[int]:
        return [self.weights[0].shape[0]] + [theta.shape[1] for theta in self.weights]

    @property
    def num_parameters(self) -> int:
        return sum(theta.size + beta.size for theta, beta in zip(self.weights, self.biases, strict=True))

    def copy(self) -> Network:
        return Network.from_parameters(self.weights, self.biases, self.activations, self.cost_name)

    def __repr__(self) -> str:
        return f"Network(layer_sizes={self.layer_sizes}, activations={self.activations}, cost={self.cost_name!r})"

    # -- forward ----------------------------------------------------------------

    def forward(self, x) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Feedforward a mini-batch; return ([z(1)..z(L)], [a(0)..a(L)])."""
        a = _check_matrix(x, "x", self.layer_sizes[0])
        zs, activations = [], [a]
        for theta, beta, name in zip(self.weights, self.biases, self.activations, strict=True):
            z = a @ theta + beta
            a = activate(name, z)
            zs.append(z)
            activations.append(a)
        return zs, activations

    def predict(self, x) -> np.ndarray:
        """h(x) = a(L), one row per example."""
        return self.forward(x)[1][-1]

    # -- cost -------------------------------------------------------------------

    def _check_targets(self, y, m: int) -> np.ndarray:
        if self.cost_name == "mse":
            targets = _check_matrix(y, "y", self.layer_sizes[-1])
        else:
            targets = _check_labels(y, self.layer_sizes[-1])
        if targets.shape[0] != m:
            raise ValueError(f"x and y must hold the same number of examples, got {m} and {targets.shape[0]}")
        return targets

    def _cost_from_output(self, z_last: np.ndarray, a_last: np.ndarray, targets: np.ndarray) -> float:
        m = a_last.shape[0]
        if self.cost_name == "mse":
            return float(np.sum((a_last - targets) ** 2) / (2 * m))
        # log softmax via log-sum-exp, stable for large z.
        shifted = z_last - z_last.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return float(-log_probs[np.arange(m), targets].mean())

    def cost(self, x, y) -> float:
        """J on the mini-batch (x, y): mean squared error / 2, or mean cross-entropy."""
        zs, activations = self.forward(x)
        targets = self._check_targets(y, activations[0].shape[0])
        return self._cost_from_output(zs[-1], activations[-1], targets)

    # -- backward: BP1-BP4 -----------------------------------------------------------

    def output_error(self, z_last: np.ndarray, a_last: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """BP1, one row per example: δ(L) = ∂J_i/∂z(L) for the per-example cost J_i.

        MSE, J_i = ½‖a - y‖²: ∇_a J_i = a - y, so δ(L) = (a - y) ⊙ g'(z(L)).
        Softmax + cross-entropy, J_i = -log a[y]: δ(L) = a - onehot(y).
        """
        if self.cost_name == "mse":
            return (a_last - targets) * activation_derivative(self.activations[-1], z_last)
        delta = a_last.copy()
        delta[np.arange(a_last.shape[0]), targets] -= 1.0
        return delta

    def backward(self, x, y) -> Gradients:
        """Gradients of J over the mini-batch, all examples at once (matrix form of BP1-BP4)."""
        zs, activations = self.forward(x)
        m = activations[0].shape[0]
        targets = self._check_targets(y, m)
        num_layers = len(self.weights)
        deltas = [np.empty(0)] * num_layers
        deltas[-1] = self.output_error(zs[-1], activations[-1], targets)  # BP1
        for k in reversed(range(num_layers - 1)):  # list index k holds layer k + 1; go from L-1 down to 1
            error_from_above = deltas[k + 1] @ self.weights[k + 1].T
            deltas[k] = error_from_above * activation_derivative(self.activations[k], zs[k])  # BP2
        grad_biases = [delta.mean(axis=0, keepdims=True) for delta in deltas]  # BP3
        grad_weights = [activations[k].T @ deltas[k] / m for k in range(num_layers)]  # BP4
        return Gradients(weights=grad_weights, biases=grad_biases, deltas=deltas)

    def backward_example(self, x, y) -> Gradients:
        """BP1-BP4 for a single example (x, y), with vectors and outer products, as the lecture writes them.

        ``x`` is one example as a 1-D array of length n0; ``y`` a 1-D target of length nL (MSE)
        or an integer label (cross-entropy). Returns ∇J_i for the per-example cost J_i.
        """
        x_row = check_array("x", x)
        if x_row.ndim != 1:
            raise ValueError(f"x must be one example, a 1-D array of length {self.layer_sizes[0]}, got {x_row.shape}")
        if y is None or isinstance(y, (str, bytes)):
            raise TypeError(f"y must be a target array or an integer label, got {type(y).__name__}")
        y_row = np.asarray(y)
        if self.cost_name == "mse":
            if y_row.ndim != 1:
                raise ValueError(
                    f"y must be one target, a 1-D array of length {self.layer_sizes[-1]}, got {y_row.shape}"
                )
            target = self._check_targets(y_row.reshape(1, -1), 1)[0]
        else:
            if y_row.ndim != 0:
                raise ValueError(f"y must be one integer label, got an array of shape {y_row.shape}")
            target = self._check_targets(y_row.reshape(1), 1)[0]
        zs, activations = self.forward(x_row.reshape(1, -1))
        zs = [z[0] for z in zs]
        activations = [a[0] for a in activations]
        num_layers = len(self.weights)
        deltas = [np.empty(0)] * num_layers
        if self.cost_name == "mse":
            deltas[-1] = (activations[-1] - target) * activation_derivative(self.activations[-1], zs[-1])  # BP1
        else:
            deltas[-1] = activations[-1] - np.eye(self.layer_sizes[-1])[target]  # BP1, softmax + cross-entropy
        for k in reversed(range(num_layers - 1)):  # list index k holds layer k + 1; go from L-1 down to 1
            error_from_above = deltas[k + 1] @ self.weights[k + 1].T
            deltas[k] = error_from_above * activation_derivative(self.activations[k], zs[k])  # BP2
        grad_biases = [delta.reshape(1, -1) for delta in deltas]  # BP3
        grad_weights = [np.outer(activations[k], deltas[k]) for k in range(num_layers)]  # BP4
        return Gradients(weights=grad_weights, biases=grad_biases, deltas=[d.reshape(1, -1) for d in deltas])

    def backward_averaged(self, x, y) -> Gradients:
        """The lecture's mini-batch recipe: Δ := Δ + (1/m) ∇J_i, one example at a time."""
        inputs = _check_matrix(x, "x", self.layer_sizes[0])
        m = inputs.shape[0]
        targets = self._check_targets(y, m)
        grad_weights = [np.zeros_like(theta) for theta in self.weights]
        grad_biases = [np.zeros_like(beta) for beta in self.biases]
        deltas = [np.zeros((m, theta.shape[1])) for theta in self.weights]
        for i in range(m):
            example = self.backward_example(inputs[i], targets[i])
            for k in range(len(self.weights)):
                grad_weights[k] += example.weights[k] / m
                grad_biases[k] += example.biases[k] / m
                deltas[k][i] = example.deltas[k][0]
        return Gradients(weights=grad_weights, biases=grad_biases, deltas=deltas)

    # -- update -------------------------------------------------------------------

    def sgd_step(self, gradients: Gradients, learning_rate: float) -> None:
        """Θ := Θ - α ∇_Θ J and β := β - α ∇_β J, in place.

        Non-finite (NaN, inf) or non-real gradients are refused before any weight changes.
        """
        learning_rate = _check_learning_rate(learning_rate)
        if not isinstance(gradients, Gradients):
            raise TypeError(f"gradients must be a Gradients, got {type(gradients).__name__}")
        for k, (theta, beta) in enumerate(zip(self.weights, self.biases, strict=True)):
            if gradients.weights[k].shape != theta.shape or gradients.biases[k].shape != beta.shape:
                raise ValueError(f"gradients for layer {k + 1} do not match the network's shapes")
        for k in range(len(self.weights)):  # check every layer before changing any
            for part, values in (("weights", gradients.weights[k]), ("biases", gradients.biases[k])):
                check_array(f"gradients.{part}[{k}]", values)  # real and finite: NaN would spread silently
        for k, (theta, beta) in enumerate(zip(self.weights, self.biases, strict=True)):
            theta -= learning_rate * gradients.weights[k]
            beta -= learning_rate * gradients.biases[k]


def _check_architecture(layer_sizes, activations, cost) -> tuple[list[int], list[str], str]:
    sizes = list(check_int_sequence("layer_sizes", layer_sizes, min=1, nonempty=False))
    if len(sizes) < 2:
        raise ValueError(f"layer_sizes must list at least an input and an output size, got {sizes}")
    if isinstance(activations, (str, bytes)) or not isinstance(activations, Sequence):
        raise TypeError(f"activations must be a list of names (one per layer), got {type(activations).__name__}")
    if len(activations) != len(sizes) - 1:
        raise ValueError(
            f"activations must have one name per layer ({len(sizes) - 1} for layer_sizes {sizes}), "
            f"got {len(activations)}"
        )
    names = [_check_activation_name(name, f"activations[{i}]") for i, name in enumerate(activations)]
    if "softmax" in names[:-1]:
        raise ValueError("activation 'softmax' may only be used for the last layer")
    cost = check_choice("cost", cost, COSTS)
    if (cost == "cross_entropy") != (names[-1] == "softmax"):
        raise ValueError(
            "cost='cross_entropy' goes with a softmax last layer and a softmax last layer with cost='cross_entropy'; "
            f"got cost={cost!r} and last activation {names[-1]!r}"
        )
    if names[-1] == "softmax" and sizes[-1] < 2:
        raise ValueError(f"a softmax output needs at least 2 units (classes), got {sizes[-1]}")
    return sizes, names, cost


def _check_labels(y, num_classes: int) -> np.ndarray:
    labels = np.asarray(y)
    if labels.ndim != 1:
        hint = " (one-hot? use y.argmax(axis=1))" if labels.ndim == 2 else ""
        raise ValueError(f"y must be a 1-D array of integer class labels, got shape {labels.shape}{hint}")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"y must hold integer class labels, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"y must hold labels in 0..{num_classes - 1}, got values from {labels.min()} to {labels.max()}"
        )
    return labels.astype(np.int64)


# ---------------------------------------------------------------------------
# Mini-batch stochastic gradient descent
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class History:
    """Cost on the whole training set before training and after each epoch; ``diverged`` if it stopped on inf/NaN."""

    costs: list[float]
    diverged: bool = False


def train_sgd(
    network: Network,
    x,
    y,
    learning_rate: float,
    epochs: int,
    batch_size: int,
    seed: int = 0,
    method: str = "vectorised",
) -> History:
    """Mini-batch SGD: each epoch shuffles the examples (seeded) and, for each batch of ``batch_size``,
    steps Θ := Θ - α · (1/m) Σ_i ∇J_i. The last batch may be smaller.

    ``method="vectorised"`` computes the batch gradient with matrices (``Network.backward``);
    ``method="per_example"`` averages per-example gradients (``Network.backward_averaged``), as the
    lecture writes it. Both give the same numbers up to rounding.

    Training stops early, with ``History.diverged = True``, if the cost stops being finite.
    """
    if not isinstance(network, Network):
        raise TypeError(f"network must be a Network, got {type(network).__name__}")
    inputs = _check_matrix(x, "x", network.layer_sizes[0])
    targets = network._check_targets(y, inputs.shape[0])
    learning_rate = _check_learning_rate(learning_rate)
    epochs = check_int("epochs", epochs, min=1)
    batch_size = check_int("batch_size", batch_size, min=1)
    if batch_size > inputs.shape[0]:
        raise ValueError(f"batch_size must be at most the number of examples ({inputs.shape[0]}), got {batch_size}")
    method = check_choice("method", method, ("vectorised", "per_example"))
    backward = network.backward if method == "vectorised" else network.backward_averaged
    rng = np.random.default_rng(check_seed("seed", seed))
    history = History(costs=[network.cost(inputs, targets)])
    # Huge weights (a step size far too large) overflow; we report that as divergence, not as warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(epochs):
            order = rng.permutation(inputs.shape[0])
            for start in range(0, inputs.shape[0], batch_size):
                batch = order[start : start + batch_size]
                network.sgd_step(backward(inputs[batch], targets[batch]), learning_rate)
                if not all(np.all(np.isfinite(theta)) for theta in network.weights):
                    history.costs.append(math.inf)
                    history.diverged = True
                    return history
            cost = network.cost(inputs, targets)
            history.costs.append(cost)
            if not math.isfinite(cost):
                history.diverged = True
                break
    return history
