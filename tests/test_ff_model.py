"""ffbook.ff.model: locality of the FF gradients, batched prediction vs a slow reference loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ffbook.ff import FFLayer, FFNet, ff_loss, goodness, normalize, overlay_labels


def _net(**kwargs) -> FFNet:
    torch.manual_seed(0)
    return FFNet(kwargs.pop("dims", [30, 16, 12, 8]), **kwargs)


def _batch(n=7, d=30, seed=1):
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, d, generator=generator)
    y = torch.randint(0, 10, (n,), generator=generator)
    return x, y


def _grads(net, total):
    net.zero_grad(set_to_none=True)
    total.backward()
    return [[p.grad.clone() for p in layer.parameters()] for layer in net.layers]


def test_a_layers_gradient_depends_only_on_its_own_loss():
    net = _net()
    x, y = _batch()
    x_pos, x_neg = overlay_labels(x, y), overlay_labels(x, (y + 3) % 10)
    reference = _grads(net, sum(net.layer_losses(x_pos, x_neg)))
    for k in range(len(net.layers)):
        # scale every *other* layer's loss: layer k's gradient must not move
        losses = net.layer_losses(x_pos, x_neg)
        perturbed = sum(loss * (1.0 if j == k else 7.0 + j) for j, loss in enumerate(losses))
        grads = _grads(net, perturbed)
        for got, want in zip(grads[k], reference[k], strict=True):
            torch.testing.assert_close(got, want, rtol=0, atol=0)
        # and layer k's loss alone gives exactly that gradient, and nothing to the other layers
        losses = net.layer_losses(x_pos, x_neg)
        for j, layer in enumerate(net.layers):
            g = torch.autograd.grad(losses[k], list(layer.parameters()), retain_graph=True, allow_unused=True)
            assert all(gi is None or not gi.any() for gi in g) == (j != k)


def _parameters_reached(tensor: torch.Tensor) -> set[int]:
    """ids of the leaf tensors the autograd graph of ``tensor`` reaches."""
    seen, stack, leaves = set(), [tensor.grad_fn], set()
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        if hasattr(fn, "variable"):
            leaves.add(id(fn.variable))
        stack.extend(next_fn for next_fn, _ in fn.next_functions)
    return leaves


def test_no_grad_fn_crosses_a_layer_boundary():
    net = _net()
    x, y = _batch()
    activities = net(overlay_labels(x, y))
    for k, h in enumerate(activities):
        own = {id(p) for p in net.layers[k].parameters()}
        assert _parameters_reached(h) == own


def test_layer_loss_equals_numpy():
    torch.manual_seed(3)
    layer = FFLayer(12, 5, threshold=0.7, goodness="sum", norm="rms").double()
    rng = np.random.default_rng(5)
    x_pos, x_neg = rng.normal(size=(4, 12)), rng.normal(size=(3, 12))
    w, b = layer.linear.weight.detach().numpy(), layer.linear.bias.detach().numpy()

    def np_goodness(x):
        x_hat = x / (np.sqrt(np.mean(x**2, axis=1, keepdims=True)) + 1e-4)
        return np.sum(np.maximum(x_hat @ w.T + b, 0) ** 2, axis=1)

    u = np.concatenate([0.7 - np_goodness(x_pos), np_goodness(x_neg) - 0.7])
    expected = np.mean(np.log1p(np.exp(u)))
    assert layer.loss(torch.tensor(x_pos), torch.tensor(x_neg)).item() == pytest.approx(expected, rel=1e-12)


def _slow_scores(net: FFNet, x: torch.Tensor) -> torch.Tensor:
    """Reference: one image, one label at a time, through the plain forward pass."""
    scores = torch.zeros(x.shape[0], net.num_classes, dtype=torch.float64)
    for n in range(x.shape[0]):
        for c in range(net.num_classes):
            overlaid = overlay_labels(x[n : n + 1], torch.tensor([c]), net.num_classes, net.on_value)
            activities = net(overlaid)
            scores[n, c] = sum(float(net.layers[k].goodness(activities[k])) for k in range(len(activities)))
            scores[n, c] -= sum(float(net.layers[k].goodness(activities[k])) for k in range(net.first_scored_layer))
    return scores


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"norm": "rms", "goodness": "sum", "first_scored_layer": 1},
        {"on_value": 1.0, "first_scored_layer": 2},
        {"norm": "rms", "on_value": 2.5},
    ],
)
def test_batched_prediction_equals_per_sample_per_label_loop(options):
    net = _net(**options).double()
    x, _ = _batch(n=9)
    x = x.double()
    x[4] *= 0.3  # a dimmer image: a different on value and input length
    fast = net.goodness_per_label(x, batch_size=4).double()
    torch.testing.assert_close(fast, _slow_scores(net, x), rtol=1e-9, atol=1e-9)
    assert torch.equal(net.predict(x, batch_size=4), _slow_scores(net, x).argmax(dim=1))


def test_layer_goodness_per_layer():
    net = _net()
    x, y = _batch()
    per_layer = net.layer_goodness(x, y)
    activities = net(overlay_labels(x, y))
    for k, h in enumerate(activities):
        torch.testing.assert_close(per_layer[:, k], goodness(h, "mean"))


def test_readout_features_and_prediction():
    net = _net(readout=True, first_scored_layer=1)
    x, _ = _batch()
    neutral = x.clone()
    neutral[:, :10] = x.amax(dim=1, keepdim=True) / 10
    activities = net(neutral)
    expected = torch.cat([normalize(h, "l2") for h in activities[1:]], dim=1)
    torch.testing.assert_close(net.readout_features(x), expected)
    assert torch.equal(net.predict_readout(x), net.readout(expected).argmax(dim=1))
    with pytest.raises(ValueError, match="readout=False"):
        _net().predict_readout(x)


def test_ff_loss_of_layer_matches_manual():
    net = _net()
    x, y = _batch()
    x_pos, x_neg = overlay_labels(x, y), overlay_labels(x, (y + 1) % 10)
    layer = net.layers[0]
    manual = ff_loss(goodness(layer(x_pos), "mean"), goodness(layer(x_neg), "mean"), 1.5)
    torch.testing.assert_close(net.layer_losses(x_pos, x_neg)[0], manual)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda net: net.predict(torch.rand(4, 29)), ValueError, "30 features"),
        (lambda net: net.predict(torch.rand(0, 30)), ValueError, "empty"),
        (lambda net: net.predict(torch.full((2, 30), float("nan"))), ValueError, "NaN"),
        (lambda net: net.predict(torch.zeros(2, 30, dtype=torch.int64)), TypeError, "floating"),
        (lambda net: net.layer_goodness(torch.rand(2, 30), torch.tensor([0, 10])), ValueError, "labels must lie"),
        (lambda net: FFNet([8, 4], num_classes=10), ValueError, "num_classes"),
        (lambda net: FFNet([784]), ValueError, "dims"),
        (lambda net: FFNet([784, 0]), ValueError, "dims"),
        (lambda net: FFNet([784, 10], first_scored_layer=1), ValueError, "first_scored_layer"),
        (lambda net: FFNet([784, 10], threshold=-1.0), ValueError, "threshold"),
        (lambda net: FFLayer(10, 5, goodness="max"), ValueError, "goodness"),
        (lambda net: FFLayer(10, 5, norm="l1"), ValueError, "norm"),
    ],
)
def test_bad_input_is_refused(call, error, match):
    with pytest.raises(error, match=match):
        call(_net())
