"""The backprop baseline: the same layers as an FF net plus a softmax layer, trained end to end.

Used by the chapter to compare Forward-Forward with backpropagation on the same architecture,
the same data, the same number of epochs and mini-batch size, and to report both wall-clocks.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .core import as_labels

__all__ = ["backprop_mlp", "train_backprop"]


def backprop_mlp(dims: Sequence[int], num_classes: int = 10, seed: int = 0) -> nn.Sequential:
    """``dims[0]`` inputs, ReLU hidden layers ``dims[1:]``, then a linear layer to ``num_classes`` logits."""
    dims = list(dims)
    if len(dims) < 2 or any(not isinstance(d, int) or isinstance(d, bool) or d < 1 for d in dims):
        raise ValueError(f"dims must list at least two positive ints, got {dims!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        for d_in, d_out in zip(dims[:-1], dims[1:], strict=True):
            layers += [nn.Linear(d_in, d_out), nn.ReLU()]
        layers.append(nn.Linear(dims[-1], num_classes))
        return nn.Sequential(*layers)


def train_backprop(
    dims: Sequence[int],
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    epochs: int,
    batch_size: int = 100,
    lr: float = 1e-3,
    seed: int = 0,
) -> tuple[nn.Sequential, dict]:
    """Train ``backprop_mlp(dims)`` with Adam and cross-entropy; return the model and its history.

    The history holds the test error after every epoch and the training seconds (evaluation
    excluded), so it lines up with ``ffbook.ff.History``.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    device = x_train.device
    y_train = as_labels(y_train, 10, num_samples=x_train.shape[0], device=device)
    y_test = as_labels(y_test, 10, num_samples=x_test.shape[0], device=device)
    model = backprop_mlp(dims, seed=seed).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    history = {"test_epochs": [], "test_error": [], "epoch_seconds": []}
    for epoch in range(epochs):
        start = time.perf_counter()
        model.train()
        for index in torch.randperm(x_train.shape[0], generator=generator).to(device).split(batch_size):
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(x_train[index]), y_train[index]).backward()
            optimizer.step()
        history["epoch_seconds"].append(time.perf_counter() - start)
        model.eval()
        with torch.no_grad():
            error = (model(x_test).argmax(dim=1) != y_test).float().mean()
        history["test_epochs"].append(epoch + 1)
        history["test_error"].append(float(error))
    return model, history
