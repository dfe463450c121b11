"""``fit(..., layerwise=True)``: each layer's backward right after its forward, the same numbers, less memory."""

from __future__ import annotations

import dataclasses

import torch
from ff_toy import toy_data as _toy_data

from ffbook.ff import build_net, fit, get_preset, train_step
from ffbook.ff.train import _optimizer
from ffbook.memory import SavedTensorMeter

HINTON = get_preset("hinton-matlab")
SPEC = dataclasses.replace(HINTON.net, dims=(40, 32, 32, 32, 32), sharpness=32.0)
CONFIG = HINTON.train.replace(epochs=2, batch_size=25, validation=0)


def test_layerwise_steps_give_the_joint_steps_numbers():
    x, y = _toy_data()
    runs = []
    for layerwise in (False, True):
        net = build_net(SPEC, seed=3)
        history = fit(net, CONFIG, x, y, x, y, layerwise=layerwise, progress=False)
        runs.append((net, history))
    (joint, joint_history), (layerwise, layerwise_history) = runs
    for a, b in zip(joint.state_dict().values(), layerwise.state_dict().values(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-7)
    assert layerwise_history.layer_loss == joint_history.layer_loss
    assert not torch.equal(joint.layers[0].linear.weight, build_net(SPEC, seed=3).layers[0].linear.weight)


def _peak(layerwise: bool, depth: int) -> int:
    # No read-out here: its input (the scored layers side by side) grows with depth in both modes.
    spec = dataclasses.replace(SPEC, dims=(40,) + (32,) * depth, readout=None)
    config = CONFIG.replace(negatives="random")
    net = build_net(spec, seed=0)
    optimizer = _optimizer(net, config)
    x, y = _toy_data(n=50)
    meter = SavedTensorMeter(exclude=list(net.parameters()))
    with meter:
        train_step(net, optimizer, config, x, y, torch.rand(50, generator=torch.Generator().manual_seed(0)), layerwise)
    return meter.peak


def test_the_step_fit_runs_keeps_one_layer_for_backward_when_layerwise():
    """Joint: the saved activities grow with depth; layerwise: they stay at about one layer's worth."""
    joint = [_peak(False, depth) for depth in (2, 4, 8)]
    layerwise = [_peak(True, depth) for depth in (2, 4, 8)]
    assert joint[0] < joint[1] < joint[2]
    assert layerwise[2] == layerwise[1] == layerwise[0]
    assert joint[2] > 3 * layerwise[2]
