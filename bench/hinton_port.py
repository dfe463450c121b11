"""Proof that ffbook's ``hinton-matlab`` recipe is Hinton's ffnew.m: same state in, same state out.

``port_from_state`` builds the port (``FFNet`` + its ``SmoothedSGD``) from a state in the layout of
``bench/hinton_octave.py`` (Matlab's: weights in x out, the softmax's two blocks, the smoothed
*ascent* gradients); ``state_of`` reads the port back in that layout; ``port_step`` runs one real
``ffbook.ff.train_step`` with the original's gain. ``tests/test_ff_hinton_port.py`` checks the port
against the fixture that the original made under Octave; ``python bench/hinton_port.py compare``
does it at full width (784-1000-1000-1000) against a fresh Octave run, batch by batch:

    python bench/hinton_port.py compare --batches 6      # needs GNU Octave and ../shared/ffcode
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import sys
import time

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import hinton_octave as ho  # noqa: E402

from ffbook.ff import get_preset, train_step  # noqa: E402
from ffbook.ff.train import _optimizer, _set_lr  # noqa: E402


def port_from_state(state: dict, widths=(1000, 1000, 1000)):
    """The port at ``widths``, its weights, running means, softmax and smoothed gradients set from ``state``."""
    preset = get_preset("hinton-matlab")
    spec = dataclasses.replace(preset.net, dims=(784, *widths), sharpness=float(widths[0]))
    if len(set(widths)) != 1:
        raise ValueError("Hinton's goodness logit subtracts each layer's width: give equal widths")
    net = spec.build(0)
    optimizer = _optimizer(net, preset.train)
    state = ho.normalize_state(state)
    with torch.no_grad():
        for i, layer in enumerate(net.layers):
            layer.linear.weight.copy_(torch.from_numpy(state["weights"][i].T.copy()))
            layer.linear.bias.copy_(torch.from_numpy(state["biases"][i]))
            layer.mean_activity.copy_(torch.from_numpy(state["meanstates"][i]))
        net.readout.weight.copy_(torch.from_numpy(np.concatenate(state["supweights"]).T.copy()))
    # The original smooths ascent gradients; SmoothedSGD smooths the loss's (descent) gradients.
    smoothed = {}
    for i, layer in enumerate(net.layers):
        smoothed[layer.linear.weight] = -state["weightsgrad"][i].T
        smoothed[layer.linear.bias] = -state["biasesgrad"][i]
    smoothed[net.readout.weight] = -np.concatenate(state["supweightsgrad"]).T
    for parameter, value in smoothed.items():
        optimizer.state[parameter]["smoothed"] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
    return net, optimizer, preset.train


def state_of(net, optimizer) -> dict:
    """The port's state in the original's layout (float32 NumPy)."""

    def array(t):
        return t.detach().cpu().numpy().astype(np.float32)

    def smoothed(p):
        return -array(optimizer.state[p]["smoothed"])

    width = net.layers[1].linear.in_features
    readout, readout_smoothed = array(net.readout.weight).T, smoothed(net.readout.weight).T
    return {
        "weights": [array(layer.linear.weight).T.copy() for layer in net.layers],
        "biases": [array(layer.linear.bias) for layer in net.layers],
        "meanstates": [array(layer.mean_activity) for layer in net.layers],
        "supweights": [readout[:width].copy(), readout[width:].copy()],
        "weightsgrad": [smoothed(layer.linear.weight).T.copy() for layer in net.layers],
        "biasesgrad": [smoothed(layer.linear.bias) for layer in net.layers],
        "supweightsgrad": [readout_smoothed[:width].copy(), readout_smoothed[width:].copy()],
    }


def port_step(net, optimizer, config, x, labels, uniforms, gain: float) -> None:
    """One batch through the training step ``fit`` runs, at the original's gain; the uniforms as float32
    (Octave compares them with a single-precision running sum)."""
    _set_lr(optimizer, gain)
    train_step(
        net,
        optimizer,
        config,
        torch.from_numpy(np.asarray(x, np.float32)),
        torch.from_numpy(np.asarray(labels, np.int64)),
        torch.from_numpy(np.asarray(uniforms).astype(np.float32)),
    )


def compare(batches: int, seed: int) -> None:
    """Port vs the original under Octave at full width, from one state, batch by batch."""
    rng = np.random.default_rng(seed)
    state = ho.initial_state((1000, 1000, 1000), rng)
    indices = rng.permutation(50_000)[: 100 * batches].reshape(batches, 100)
    x, labels = ho.mnist_batches(indices)
    uniforms = rng.random((batches, 100))
    gains = [1.0] * (batches - 1) + [0.5]
    start = time.perf_counter()
    original = ho.run_original(state, x, labels, uniforms, maxepoch=[int(1 / g) for g in gains])
    octave_seconds = time.perf_counter() - start
    net, optimizer, config = port_from_state(state)
    print(f"Octave {ho.octave_version()}: {batches} batches in {octave_seconds:.1f} s; torch {torch.__version__}")
    print("Each batch from the original's own state before it ('step'), and the port run on alone ('chain'):")
    print("batch | gain | step: worst array, max abs diff, relative | chain: worst array, max abs diff, relative")
    before = state
    for b in range(batches):
        args = (x[b], labels[b], uniforms[b], gains[b])
        port_step(net, optimizer, config, *args)
        chained = ho.compare_states(state_of(net, optimizer), original[b])
        one_net, one_optimizer, _ = port_from_state(before)
        port_step(one_net, one_optimizer, config, *args)
        stepped = ho.compare_states(state_of(one_net, one_optimizer), original[b])
        cells = []
        for diffs in (stepped, chained):
            worst = max(diffs, key=lambda key: diffs[key][1])
            cells.append(f"{worst}, {max(d for d, _ in diffs.values()):.1e}, {diffs[worst][1]:.1e}")
        print(f"{b + 1} | {gains[b]} | {cells[0]} | {cells[1]}")
        before = original[b]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["compare"])
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    compare(args.batches, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
