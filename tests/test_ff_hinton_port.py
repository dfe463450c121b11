"""The ``hinton-matlab`` recipe is Hinton's ffnew.m: the port's real training step, from the state the
original started from, reproduces the state the original left after every batch (under Octave).

The fixture (``tests/data/hinton_matlab_fixture.npz``, written by ``python bench/hinton_octave.py
fixture``) holds the original's state after each of 4 batches of a 784-24-24-24 run with pre-drawn
numbers for its negative-label draw, the last batch at a gain of 0.25. Tolerances as in
``test_hinton_octave_fixture.py`` (float32 on both sides, different summation orders): states
elementwise within 1e-4 relative + 1e-5 of the array's largest entry; the update of every batch
within 1e-5 of the largest update + 8 float32 steps of the largest entry.
"""

from __future__ import annotations

import pathlib
import sys

import numpy as np
import pytest
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "bench"))

import hinton_octave as ho  # noqa: E402
import hinton_port  # noqa: E402

from ffbook.ff import FFConfig, SmoothedSGD, lr_factor  # noqa: E402
from ffbook.ff.core import choose_wrong_labels  # noqa: E402

EPS32 = float(np.finfo(np.float32).eps)


@pytest.fixture(scope="module")
def fx():
    return ho.load_fixture(ho.FIXTURE)


def _close(got: dict, want: dict, before: dict, where: str) -> None:
    for key in ho.STATE_KEYS:
        for i, (a, b, b0) in enumerate(zip(got[key], want[key], before[key], strict=True)):
            scale = float(np.max(np.abs(b)))
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * scale, err_msg=f"{where}: {key}[{i}]")
            d_got, d_want = a.astype(np.float64) - b0, b.astype(np.float64) - b0
            bound = 1e-5 * float(np.max(np.abs(d_want))) + 8 * EPS32 * scale
            assert float(np.max(np.abs(d_got - d_want))) <= bound, f"{where}: the update of {key}[{i}]"


def test_the_ports_training_step_leaves_the_originals_state_after_every_batch(fx):
    net, optimizer, config = hinton_port.port_from_state(fx["init"], fx["widths"])
    np.testing.assert_array_equal(fx["epsgain"], [1, 1, 1, 0.25])
    before = fx["init"]
    for b in range(len(fx["after"])):
        batch = (fx["x"][b], fx["labels"][b], fx["uniforms"][b], fx["epsgain"][b])
        hinton_port.port_step(net, optimizer, config, *batch)
        state = hinton_port.state_of(net, optimizer)
        _close(state, fx["after"][b], before, f"batch {b + 1}")
        before = fx["after"][b]


def test_the_ports_negative_labels_are_the_originals(fx):
    """From the original's state before each batch, the read-out's draw picks what choosefrom picked."""
    for b in range(len(fx["after"])):
        start = fx["init"] if b == 0 else fx["after"][b - 1]
        net, _, _ = hinton_port.port_from_state(start, fx["widths"])
        images = torch.from_numpy(fx["x"][b])
        labels = torch.from_numpy(fx["labels"][b])
        logits = net.readout_logits_of(images)
        uniforms = torch.from_numpy(fx["uniforms"][b].astype(np.float32))
        wrong = choose_wrong_labels(logits, labels, uniforms).numpy()
        want = fx["after"][b]["negative_labels"]
        np.testing.assert_array_equal(np.where(wrong == 10, -1, wrong), want)


def test_choose_wrong_labels_inverts_the_running_sum_and_may_pick_none():
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.5, 0.25, 0.25]]))
    labels = torch.tensor([0, 2])  # masked: [0, .5, .5] and [2/3, 1/3, 0]
    picks = [choose_wrong_labels(logits, labels, torch.tensor([u, u])).tolist() for u in (0.0, 0.49, 0.5, 0.7)]
    assert picks == [[1, 0], [1, 0], [2, 0], [2, 1]]
    # a number at or above the total (rounding can leave it just below 1) picks no label: num_classes
    assert choose_wrong_labels(logits, labels, torch.tensor([1.0, 1.0])).tolist() == [3, 3]


def test_smoothed_sgd_is_sgd_with_momentum_after_a_decoupled_weight_decay():
    """v <- mu v + (1-mu) g, w <- w - lr (v + c w)  ==  w <- (1 - lr c) w; SGD(lr (1-mu), momentum mu)."""
    generator = torch.Generator().manual_seed(0)
    w0 = torch.randn(5, 4, generator=generator)
    grads = [torch.randn(5, 4, generator=generator) for _ in range(6)]
    lr, mu, cost = 0.01, 0.9, 0.001
    a = w0.clone().requires_grad_()
    b = w0.clone().requires_grad_()
    smoothed = SmoothedSGD([a], lr=lr, momentum=mu, weight_cost=cost)
    sgd = torch.optim.SGD([b], lr=lr * (1 - mu), momentum=mu)
    v, w = np.zeros((5, 4)), w0.numpy().astype(np.float64)  # the original's equations, by hand
    for g in grads:
        a.grad, b.grad = g.clone(), g.clone()
        smoothed.step()
        with torch.no_grad():
            b.mul_(1 - lr * cost)
        sgd.step()
        v = mu * v + (1 - mu) * g.numpy()
        w = w - lr * (v + cost * w)
    np.testing.assert_allclose(a.detach().numpy(), w, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(b.detach().numpy(), w, rtol=1e-5, atol=1e-7)


def test_the_learning_rate_factors_of_each_schedule():
    """Hinton's epsgain, written out for 10 and 5 epochs; ffbook's half-linear cool-down."""
    hinton = [lr_factor(FFConfig(epochs=10, lr_schedule="hinton"), e) for e in range(10)]
    assert hinton == pytest.approx([1, 1, 1, 1, 1, 0.9, 0.7, 0.5, 0.3, 0.1])
    hinton = [lr_factor(FFConfig(epochs=5, lr_schedule="hinton"), e) for e in range(5)]
    assert hinton == pytest.approx([1, 1, 1, 0.6, 0.2])
    assert [lr_factor(FFConfig(epochs=100, lr_schedule="hinton"), e) for e in (49, 50, 99)] == pytest.approx(
        [1, 0.99, 0.01]
    )
    half = [lr_factor(FFConfig(epochs=6, lr_schedule="half_linear"), e) for e in range(6)]
    assert half == pytest.approx([1, 1, 1, 1, 2 / 3, 1 / 3])
    assert [lr_factor(FFConfig(epochs=4), e) for e in range(4)] == [1, 1, 1, 1]
    with pytest.raises(ValueError, match="epoch"):
        lr_factor(FFConfig(epochs=4), 4)
