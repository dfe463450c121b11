"""Memory kept for the backward pass by one training step: backprop against Forward-Forward, as depth grows.

    python bench/ff_memory.py [--depths 2 4 6 8] [--width 1000] [--rows 1000]

Method (details in ``ffbook/memory.py``): every tensor autograd saves for a backward formula
passes through ``torch.autograd.graph.saved_tensors_hooks``; the hook counts each storage once,
leaves out the parameters, and notes when autograd releases it, so the script reports the
largest number of bytes *kept for backward* alive at any moment of one real training step
(losses, backward passes, SGD updates). This is the memory the two methods differ in; the
parameters, their gradients and the optimizer state are the same for both and are not counted,
nor are short-lived temporaries. The count is deterministic (no allocator, no timing), so one
run per setting is enough. CPU, float32, a batch of ``rows`` rows through every layer (FF: half
positive, half negative).

A second table measures the step ``fit`` itself runs (``ffbook.ff.train_step``) on the
``hinton-matlab`` recipe at the same widths and depths, with a batch of ``rows // 2`` images: its
joint backward pass (``fit``'s default) against ``fit(..., layerwise=True)``.

Methods: ``backprop`` (the layers + a linear softmax head, one backward pass through all),
``ff_layerwise`` (Forward-Forward, each layer's loss, backward pass and update before the next
layer runs, its detached output passed on), ``ff_summed`` (Forward-Forward with the layer losses
summed and one ``backward`` call: inputs detached, yet every layer's graph alive at once).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time

import torch

import ffbook
from ffbook.memory import METHODS, peak_saved_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", type=int, nargs="+", default=[2, 4, 6, 8])
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=1000)
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; CPU ({os.cpu_count()} cores, "
        f"{platform.machine()}), load average {load:.1f}; Python {platform.python_version()}, "
        f"PyTorch {torch.__version__}, ffbook {ffbook.__version__}"
    )
    print(f"layers of {args.width} units on 784 inputs, {args.rows} rows per layer, float32; MB = 10^6 bytes\n")
    print("| hidden layers | " + " | ".join(METHODS) + " | backprop / ff_layerwise |")
    print("|---|" + "---|" * (len(METHODS) + 1))
    start = time.perf_counter()
    for depth in args.depths:
        peaks = {m: peak_saved_bytes(m, depth, width=args.width, rows=args.rows) for m in METHODS}
        cells = " | ".join(f"{peaks[m] / 1e6:.2f} MB" for m in METHODS)
        print(f"| {depth} | {cells} | {peaks['backprop'] / peaks['ff_layerwise']:.1f}x |")
    print("\nThe step fit runs (train_step, hinton-matlab's recipe, read-out included), joint vs layerwise:\n")
    print("| hidden layers | joint | layerwise | joint / layerwise |")
    print("|---|---|---|---|")
    for depth in args.depths:
        joint, layerwise = (fit_step_peak(depth, args.width, args.rows // 2, mode) for mode in (False, True))
        print(f"| {depth} | {joint / 1e6:.2f} MB | {layerwise / 1e6:.2f} MB | {joint / layerwise:.1f}x |")
    print(f"\n{time.perf_counter() - start:.1f} s in all")


def fit_step_peak(depth: int, width: int, images: int, layerwise: bool) -> int:
    """Peak bytes saved for backward during one ``train_step`` of hinton-matlab's recipe at this size."""
    import dataclasses

    from ffbook.ff import get_preset, train_step
    from ffbook.ff.train import _optimizer
    from ffbook.memory import SavedTensorMeter

    preset = get_preset("hinton-matlab")
    spec = dataclasses.replace(preset.net, dims=(784,) + (width,) * depth, sharpness=float(width))
    net = spec.build(0)
    optimizer = _optimizer(net, preset.train)
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(images, 784, generator=generator)
    y = torch.randint(0, 10, (images,), generator=generator)
    meter = SavedTensorMeter(exclude=list(net.parameters()))
    with meter:
        train_step(net, optimizer, preset.train, x, y, torch.rand(images, generator=generator), layerwise)
    return meter.peak


if __name__ == "__main__":
    main()
