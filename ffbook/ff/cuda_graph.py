"""Opt-in speed on CUDA: a training step captured once as a CUDA graph and replayed.

A mini-batch step of a small network launches hundreds of small kernels; on a fast GPU the
launches, not the arithmetic, set the pace. ``GraphStep`` wraps a step function ``run(index)``
(``train.py`` builds it around ``train_step``: gather the batch, forward, backward, optimizer
step) whose tensors all live on the device and whose learning rates are device tensors. The
first ``WARMUP`` calls run eagerly on a side stream (real steps; they also create the
optimizer's state), the next is captured and every later call with a batch of the same size
replays it: one launch per step. A shorter last batch runs eagerly. If the capture fails the run
says so once and continues eagerly. ``tests/test_ff_gpu.py`` checks replay against eager steps.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

__all__ = ["GraphStep"]


class GraphStep:
    """``run(index) -> statistics`` captured as a CUDA graph after ``WARMUP`` eager calls."""

    WARMUP = 3

    def __init__(self, run: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.run = run
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_index: torch.Tensor | None = None
        self.static_output: torch.Tensor | None = None
        self.eager_calls = 0
        self.mode = "graph"

    def _eager_on_side_stream(self, index: torch.Tensor) -> torch.Tensor:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            output = self.run(index)
        torch.cuda.current_stream().wait_stream(side)
        return output

    def __call__(self, index: torch.Tensor) -> torch.Tensor:
        if self.mode == "eager":
            return self.run(index)
        if self.graph is not None and index.shape == self.static_index.shape:
            self.static_index.copy_(index)
            self.graph.replay()
            return self.static_output
        if self.graph is not None or self.eager_calls < self.WARMUP:
            self.eager_calls += 1
            return self._eager_on_side_stream(index)
        return self._capture(index)

    def _capture(self, index: torch.Tensor) -> torch.Tensor:
        self.static_index = index.clone()
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                self.static_output = self.run(self.static_index)
        except Exception as error:  # capture is an optimisation: fall back to the reference path
            torch.cuda.synchronize()
            warnings.warn(f"CUDA graph capture failed ({error}); training continues eagerly", stacklevel=3)
            self.mode = "eager"
            return self.run(index)
        self.graph = graph
        graph.replay()  # capturing records the step without running it
        return self.static_output
