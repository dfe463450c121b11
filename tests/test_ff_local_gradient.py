"""FF's local gradient by hand (BP1, BP3, BP4 with the layer's own loss; no BP2) against autograd,
and the memory kept for backward by ``ffbook.memory`` against what autograd must store."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ffbook.ff import FFLayer, FFNet
from ffbook.memory import METHODS, SavedTensorMeter, peak_saved_bytes


def hand_gradient(W, b, x_pos, x_neg, theta, eps=1e-4, k=1.0, norm="l2"):
    """dL/dW, dL/db of one FF layer (torch's (out, in) weight layout), written from the maths.

    x_hat = x / (|x| + eps) (``norm="l2"``) or x / (|x| / sqrt(D) + eps) (``"rms"``);
    z = x_hat W^T + b; h = relu(z); G = mean_j h_j^2;
    L = mean over all P + N rows of softplus(k (theta - G)) (positive) or softplus(k (G - theta))
    (negative), k the logistic's slope (``sharpness``).
    """
    x = np.concatenate([x_pos, x_neg])
    n_rows, num_pos = len(x), len(x_pos)
    length = np.linalg.norm(x, axis=1, keepdims=True)
    if norm == "rms":
        length = length / np.sqrt(x.shape[1])
    x_hat = x / (length + eps)
    z = x_hat @ W.T + b
    h = np.maximum(z, 0)
    G = (h**2).mean(axis=1)
    sign = np.where(np.arange(n_rows) < num_pos, -1.0, 1.0)  # d(softplus argument)/dG
    dL_dG = k * sign / (1 + np.exp(-k * sign * (G - theta))) / n_rows  # softplus' = sigmoid
    dL_dh = dL_dG[:, None] * 2 * h / h.shape[1]
    delta = dL_dh * (z > 0)  # BP1 with this layer's own loss
    return delta.T @ x_hat, delta.sum(axis=0)  # BP4 and BP3 (summed over rows: L already averages)


def _layer_and_data(seed=0, num_in=7, num_out=5, num_pos=4, num_neg=3, sharpness=1.0, norm="l2"):
    torch.manual_seed(seed)
    layer = FFLayer(num_in, num_out, threshold=0.2, sharpness=sharpness, norm=norm).double()
    rng = np.random.default_rng(seed)
    return layer, rng.normal(size=(num_pos, num_in)), rng.normal(size=(num_neg, num_in))


@pytest.mark.parametrize(
    "seed, sharpness, norm", [(0, 1.0, "l2"), (1, 1.0, "l2"), (2, 1.0, "l2"), (0, 10.0, "l2"), (0, 1.0, "rms")]
)
def test_hand_formula_equals_autograd_on_fflayer(seed, sharpness, norm):
    layer, x_pos, x_neg = _layer_and_data(seed, sharpness=sharpness, norm=norm)
    loss = layer.loss(torch.from_numpy(x_pos), torch.from_numpy(x_neg))
    loss.backward()
    W, b = layer.linear.weight.detach().numpy(), layer.linear.bias.detach().numpy()
    dW, db = hand_gradient(W, b, x_pos, x_neg, layer.threshold, k=sharpness, norm=norm)
    assert (dW != 0).any(), "a test where every unit is silent would prove nothing"
    np.testing.assert_allclose(dW, layer.linear.weight.grad.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(db, layer.linear.bias.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_hand_formula_is_the_gradient_training_gives_each_layer_of_a_net():
    """``FFNet.ff_terms`` (what the training step differentiates): layer k's gradient is the hand
    formula's on layer k's own input (the detached activities of layer k-1), for every layer."""
    torch.manual_seed(4)
    net = FFNet([7, 6, 5, 4], threshold=0.2, sharpness=3.0, norm="l2", num_classes=3).double()
    rng = np.random.default_rng(4)
    x_pos, x_neg = rng.normal(size=(4, 7)), rng.normal(size=(3, 7))
    total, _ = net.ff_terms(torch.from_numpy(x_pos), torch.from_numpy(x_neg))
    total.backward()
    inputs = [np.concatenate([x_pos, x_neg])]
    with torch.no_grad():
        for h in net(torch.from_numpy(inputs[0]))[:-1]:
            inputs.append(h.numpy())
    for layer, x in zip(net.layers, inputs, strict=True):
        W, b = layer.linear.weight.detach().numpy(), layer.linear.bias.detach().numpy()
        dW, db = hand_gradient(W, b, x[:4], x[4:], 0.2, k=3.0)
        assert (dW != 0).any()
        np.testing.assert_allclose(dW, layer.linear.weight.grad.numpy(), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(db, layer.linear.bias.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_hand_formula_equals_finite_differences():
    layer, x_pos, x_neg = _layer_and_data(3)
    W, b = layer.linear.weight.detach().numpy().copy(), layer.linear.bias.detach().numpy().copy()

    def loss_at(W_):
        with torch.no_grad():
            layer.linear.weight.copy_(torch.from_numpy(W_))
            return layer.loss(torch.from_numpy(x_pos), torch.from_numpy(x_neg)).item()

    step, numeric = 1e-6, np.zeros_like(W)
    for index in np.ndindex(W.shape):
        bump = np.zeros_like(W)
        bump[index] = step
        numeric[index] = (loss_at(W + bump) - loss_at(W - bump)) / (2 * step)
    dW, _ = hand_gradient(W, b, x_pos, x_neg, layer.threshold)
    np.testing.assert_allclose(dW, numeric, rtol=1e-6, atol=1e-9)


def test_nothing_is_sent_to_the_layer_below():
    """No BP2: the layer's loss has no derivative with respect to the (detached) output of the layer below."""
    below, layer = FFLayer(6, 4).double(), FFLayer(4, 3).double()
    x = torch.rand(8, 6, dtype=torch.float64)
    h_below = below(x).detach()
    grad = torch.autograd.grad(layer.loss(h_below[:4], h_below[4:]), below.linear.weight, allow_unused=True)[0]
    assert grad is None


def test_meter_counts_each_storage_once_and_releases_it():
    w = torch.rand(3, 3, requires_grad=True)
    with SavedTensorMeter(exclude=[w]) as meter:
        x = torch.rand(5, 3)
        y = (x @ w).relu()  # mm keeps x (60 B, w excluded); relu keeps y (60 B)
        z = y * y  # keeps y again: the same storage, not counted twice
        assert meter.current == 2 * 5 * 3 * 4
        z.sum().backward()
        assert meter.current == 0
    assert meter.peak == 120


@pytest.mark.parametrize("rows, width", [(4, 8), (10, 6)])
def test_backprop_grows_linearly_with_depth_and_layerwise_ff_stays_flat(rows, width):
    kwargs = dict(width=width, rows=rows, in_features=width)
    peaks = {m: [peak_saved_bytes(m, depth, **kwargs) for depth in range(1, 6)] for m in METHODS}
    per_layer = np.diff(peaks["backprop"])
    assert len(set(per_layer)) == 1, f"backprop: one constant cost per layer, got {per_layer}"
    floats = 4  # bytes per float32
    # Each layer must keep at least its normalised input and its ReLU output (rows x width each).
    assert 2 * rows * width * floats <= per_layer[0] <= 3 * rows * width * floats
    ff = peaks["ff_layerwise"]
    assert ff[1:] == [ff[1]] * 4, f"FF layer by layer: flat from the second layer on, got {ff}"
    assert 2 * rows * width * floats <= ff[1] <= per_layer[0]  # one layer's worth
    assert list(np.diff(peaks["ff_summed"])) == [np.diff(peaks["ff_summed"])[0]] * 4  # summed: grows too
    assert peaks["backprop"][-1] > 4 * ff[-1]


def test_peak_saved_bytes_refuses_bad_arguments():
    with pytest.raises(ValueError, match="method"):
        peak_saved_bytes("adam", 2)
    with pytest.raises(ValueError, match="rows"):
        peak_saved_bytes("backprop", 2, rows=5)
    with pytest.raises(ValueError, match="depth"):
        peak_saved_bytes("backprop", 0)
    with pytest.raises(ValueError, match=r"seed must be <= 9223372036854775807"):
        peak_saved_bytes("backprop", 1, width=2, rows=2, in_features=2, seed=2**63)
    with pytest.raises(TypeError, match="seed must be an int"):
        peak_saved_bytes("backprop", 1, width=2, rows=2, in_features=2, seed=1.0)
