"""ffbook.ff.model: locality of the FF gradients, batched prediction vs a slow reference loop, the
read-out, peer normalisation, and what a spec builds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ffbook.ff import FFLayer, FFNet, FFNetSpec, ff_loss, goodness, normalize, overlay_labels


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


@pytest.mark.parametrize("sharpness", [1.0, 5.0])
def test_layer_loss_equals_numpy(sharpness):
    """The logistic of slope k on the mean of squares; with k = H (the width) it is Hinton's
    sigma(sum of squares - H theta), so the NumPy reference is written with the sum."""
    torch.manual_seed(3)
    layer = FFLayer(12, 5, threshold=0.7, sharpness=sharpness, norm="rms").double()
    rng = np.random.default_rng(5)
    x_pos, x_neg = rng.normal(size=(4, 12)), rng.normal(size=(3, 12))
    w, b = layer.linear.weight.detach().numpy(), layer.linear.bias.detach().numpy()

    def np_sum_of_squares(x):
        x_hat = x / (np.sqrt(np.mean(x**2, axis=1, keepdims=True)) + 1e-4)
        return np.sum(np.maximum(x_hat @ w.T + b, 0) ** 2, axis=1)

    if sharpness == 5.0:  # k = H = 5: the logit is sum - 5 * theta
        u = np.concatenate([5 * 0.7 - np_sum_of_squares(x_pos), np_sum_of_squares(x_neg) - 5 * 0.7])
    else:  # k = 1: the logit is mean - theta
        u = np.concatenate([0.7 - np_sum_of_squares(x_pos) / 5, np_sum_of_squares(x_neg) / 5 - 0.7])
    expected = np.mean(np.log1p(np.exp(u)))
    assert layer.loss(torch.tensor(x_pos), torch.tensor(x_neg)).item() == pytest.approx(expected, rel=1e-12)


def test_low_positive_activity_negates_goodness_in_the_loss_and_predicts_the_quietest_label():
    """The paper's other goodness, minus the sum of squares: the loss pushes positives *below* the
    threshold (a NumPy reference on the mean of squares m: softplus(k (m_pos - theta)) and
    softplus(k (theta - m_neg))), and the predicted label is the one with the least activity."""
    torch.manual_seed(3)
    layer = FFLayer(12, 5, threshold=0.7, sharpness=3.0, norm="rms", positive_activity="low").double()
    rng = np.random.default_rng(5)
    x_pos, x_neg = rng.normal(size=(4, 12)), rng.normal(size=(3, 12))
    w, b = layer.linear.weight.detach().numpy(), layer.linear.bias.detach().numpy()

    def np_mean_of_squares(x):
        x_hat = x / (np.sqrt(np.mean(x**2, axis=1, keepdims=True)) + 1e-4)
        return np.mean(np.maximum(x_hat @ w.T + b, 0) ** 2, axis=1)

    u = 3.0 * np.concatenate([np_mean_of_squares(x_pos) - 0.7, 0.7 - np_mean_of_squares(x_neg)])
    expected = np.mean(np.log1p(np.exp(u)))
    assert layer.loss(torch.tensor(x_pos), torch.tensor(x_neg)).item() == pytest.approx(expected, rel=1e-12)

    net = _net(norm="rms", first_scored_layer=1, positive_activity="low").double()
    assert net.spec.positive_activity == "low" and net.spec.build(0).layers[2].positive_activity == "low"
    x, _ = _batch(n=6)
    x = x.double()
    activity = torch.zeros(6, 10, dtype=torch.float64)  # the scored layers' mean squares, label by label
    for c in range(10):
        activities = net(overlay_labels(x, torch.full((6,), c), 10, net.on_value))
        activity[:, c] = sum(h.square().mean(dim=1) for h in activities[1:])
    torch.testing.assert_close(net.goodness_per_label(x).double(), -activity, rtol=1e-9, atol=1e-12)
    assert torch.equal(net.predict(x), activity.argmin(dim=1))
    with pytest.raises(ValueError, match="positive_activity"):
        FFNetSpec(positive_activity="quiet")


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
        {"norm": "l2"},
        {"norm": "rms", "sharpness": 16.0, "first_scored_layer": 1},
        {"norm": "l2", "on_value": 1.0, "first_scored_layer": 2},
        {"norm": "rms", "on_value": 2.5},
        {"norm": "rms", "eps": 0.5},  # a large epsilon: the one-matmul trick must add it as the forward pass does
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
    net = _net(readout="torch", first_scored_layer=1, norm="l2")
    x, _ = _batch()
    neutral = x.clone()
    neutral[:, :10] = x.amax(dim=1, keepdim=True) / 10
    activities = net(neutral)
    expected = torch.cat([normalize(h, "l2") for h in activities[1:]], dim=1)
    torch.testing.assert_close(net.readout_features(x), expected)
    logits = net.readout(expected)
    torch.testing.assert_close(net.readout_logits(x, batch_size=3), logits)
    torch.testing.assert_close(net.readout_logits_of(x), logits)
    torch.testing.assert_close(net.scores(x)["readout"], logits)
    assert torch.equal(net.predict_readout(x), logits.argmax(dim=1))
    with pytest.raises(ValueError, match="readout=None"):
        _net().predict_readout(x)
    with pytest.raises(ValueError, match="readout=None"):
        _net().readout_logits_of(x)
    with pytest.raises(ValueError, match="30 features"):  # the checked entry point checks
        net.readout_logits(x[:, :29])


def test_the_two_readouts_hinton_zero_and_torch_default():
    """``"zero"``: zero weights and no bias (Hinton's code), so every label starts equally likely;
    ``"torch"``: nn.Linear's default, with a bias; the read-out reads the scored layers only."""
    zero, default = _net(readout="zero", first_scored_layer=1), _net(readout="torch", first_scored_layer=1)
    assert zero.readout.bias is None and not zero.readout.weight.any()
    assert default.readout.bias is not None and default.readout.weight.abs().sum() > 0
    assert zero.readout.in_features == default.readout.in_features == 12 + 8  # layers 1 and 2 of 30-16-12-8
    x, _ = _batch()
    torch.testing.assert_close(zero.readout_logits(x), torch.zeros(7, 10))
    assert "readout" not in _net().scores(x)


def test_scores_gives_every_rule_from_one_goodness_block():
    net = _net(first_scored_layer=1).double()
    x, y = _batch(n=5)
    x = x.double()
    scores = net.scores(x, batch_size=2)
    per_label = torch.stack([net.layer_goodness(x, torch.full_like(y, c)) for c in range(10)], dim=1)
    torch.testing.assert_close(scores["layers"], per_label, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(scores["net"], per_label[:, :, 1:].sum(dim=2), rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(scores["all_layers"], per_label.sum(dim=2), rtol=1e-9, atol=1e-12)
    assert set(scores) == {"layers", "net", "all_layers"}


def test_ff_loss_of_layer_matches_manual():
    net = _net(threshold=1.5)
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
        (lambda net: FFNet([784, 10], readout=True), ValueError, "readout"),
        (lambda net: FFNet([784, 10], readout="yes"), ValueError, "readout"),
        (lambda net: FFNetSpec(dims=(784, 10), init="xavier"), ValueError, "init"),
        (lambda net: FFLayer(10, 5, eps=-1.0), ValueError, "eps"),
        (lambda net: FFLayer(10, 5, sharpness=0.0), ValueError, "sharpness"),
        (lambda net: FFLayer(10, 5, norm="l1"), ValueError, "norm"),
    ],
)
def test_bad_input_is_refused(call, error, match):
    with pytest.raises(error, match=match):
        call(_net())


# ---------------------------------------------------------------- peer normalisation


def test_peer_normalisation_updates_the_running_mean_and_pulls_every_unit_towards_the_layer_average():
    """With ``peer`` = lambda > 0, ``ff_terms`` sets m <- 0.9 m + 0.1 mean(h over the positives) for each
    layer and adds -lambda mean_n sum_j (mean(m) - m_j) z_nj: its gradient on unit j's bias is
    -lambda (mean(m) - m_j), dead units included. With ``peer=0`` nothing of this happens."""
    net = _net(dims=[30, 16, 12]).double()
    x, y = _batch(n=6)
    x = x.double()
    x_pos, x_neg = overlay_labels(x, y), overlay_labels(x, (y + 4) % 10)
    assert all(torch.equal(layer.mean_activity, torch.full((layer.linear.out_features,), 0.5)) for layer in net.layers)
    assert {"layers.0.mean_activity", "layers.1.mean_activity"} <= set(net.state_dict())  # checkpoints carry it

    def bias_grads(peer):
        net.zero_grad(set_to_none=True)
        total, terms = net.ff_terms(x_pos, x_neg, peer)
        total.backward()
        return total, terms, [layer.linear.bias.grad.clone() for layer in net.layers]

    total, terms, plain = bias_grads(0.0)
    torch.testing.assert_close(total, terms.loss.sum())
    assert all(torch.equal(layer.mean_activity, torch.full_like(layer.mean_activity, 0.5)) for layer in net.layers)

    with torch.no_grad():
        positive_activities = net(x_pos)  # a row's activities do not depend on the other rows
    expected_means = [0.9 * 0.5 + 0.1 * h.mean(dim=0) for h in positive_activities]
    _, _, pulled = bias_grads(0.25)
    for layer, mean, got, base in zip(net.layers, expected_means, pulled, plain, strict=True):
        torch.testing.assert_close(layer.mean_activity, mean.to(layer.mean_activity.dtype))
        torch.testing.assert_close(got - base, -0.25 * (mean.mean() - mean), rtol=1e-9, atol=1e-12)
    assert (expected_means[0] != 0.5).any()


# ---------------------------------------------------------------- what a spec builds


def test_a_spec_builds_the_same_net_for_a_seed_and_leaves_the_global_generator_alone():
    spec = FFNetSpec(dims=(30, 16, 12), readout="torch", first_scored_layer=1)
    state = torch.random.get_rng_state()
    a, b, c = spec.build(seed=3), spec.build(seed=3), spec.build(seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert not torch.equal(a.layers[0].linear.weight, c.layers[0].linear.weight)
    assert a.spec == spec and FFNetSpec(**spec.to_dict()) == spec  # what a run record stores rebuilds it


def test_normal_init_draws_weights_of_variance_one_over_fan_in_and_zero_biases():
    spec = FFNetSpec(dims=(784, 400, 200), init="normal", readout="zero", first_scored_layer=1)
    net = spec.build(seed=1)
    for layer, fan_in in zip(net.layers, (784, 400), strict=True):
        weight = layer.linear.weight.detach().double()
        assert not layer.linear.bias.any()
        assert weight.mean().abs() < 0.02 * fan_in**-0.5
        assert weight.std().item() == pytest.approx(fan_in**-0.5, rel=0.02)
        # a normal, not PyTorch's uniform: some entries beyond 3 standard deviations
        assert (weight.abs() > 3 * fan_in**-0.5).any()
    assert net.spec == spec
    assert torch.equal(spec.build(seed=1).layers[1].linear.weight, net.layers[1].linear.weight)
    torch_init = FFNetSpec(dims=(784, 400)).build(seed=1).layers[0].linear
    assert torch_init.bias.any() and torch_init.weight.abs().max() <= 784**-0.5  # uniform(+-1/sqrt(fan_in))


@pytest.mark.parametrize(("norm", "on_value"), [("rms", 1.0), ("l2", 4.0), ("rms", "max")])
def test_the_first_layer_multiplies_shared_images_once_with_the_numbers_of_the_plain_pass(norm, on_value):
    """``ff_terms(..., same_images=True)`` (what the training step calls: negatives are the positives'
    images with other labels) computes the first layer from one product of the images; its loss, goodness,
    running means and every gradient are those of normalise -> linear on each overlay (float64: 1e-12)."""
    import copy

    x, y = _batch(n=9)
    x = x.double() * 3
    plain = _net(dims=[30, 16, 12], norm=norm, on_value=on_value).double()
    shared = copy.deepcopy(plain)
    x_pos, x_neg = overlay_labels(x, y, on_value=on_value), overlay_labels(x, (y + 3) % 10, on_value=on_value)
    results = []
    for net, same in ((plain, False), (shared, True)):
        total, terms = net.ff_terms(x_pos, x_neg, peer=0.1, same_images=same)
        results.append((total, terms, _grads(net, total), [layer.mean_activity.clone() for layer in net.layers]))
    (total_a, terms_a, grads_a, means_a), (total_b, terms_b, grads_b, means_b) = results
    torch.testing.assert_close(total_b, total_a, rtol=1e-12, atol=1e-12)
    for a, b in zip(terms_a, terms_b, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
    for a, b in zip(means_a + sum(grads_a, []), means_b + sum(grads_b, []), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)
    assert grads_a[0][0][:, :10].abs().sum() > 0  # the label slots' weights get their gradient too
