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

from ffbook._validate import check_int, check_int_sequence, check_real, check_seed, small_seed

from .core import as_features, as_labels
from .train import History

__all__ = ["backprop_mlp", "train_backprop"]


def backprop_mlp(dims: Sequence[int], num_classes: int = 10, seed: int = 0) -> nn.Sequential:
    """``dims[0]`` inputs, ReLU hidden layers ``dims[1:]``, then a linear layer to ``num_classes`` logits."""
    dims = check_int_sequence("dims", dims, min=1)  # a list, tuple or 1-D array
    if len(dims) < 2:
        raise ValueError(f"dims must list at least two positive ints, got {list(dims)}")
    num_classes = check_int("num_classes", num_classes, min=2)
    seed = check_seed("seed", seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(small_seed(seed, 32))  # the CPU generator keeps 32 bits of a seed
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
) -> tuple[nn.Sequential, History]:
    """Train ``backprop_mlp(dims)`` with Adam and cross-entropy; return the model and its ``History``.

    The history holds the test error after every epoch (``test_epochs``, ``test_error``) and the
    training seconds of each epoch (evaluation excluded), in the same type as FF's ``fit`` returns.
    """
    epochs = check_int("epochs", epochs, min=1)
    batch_size = check_int("batch_size", batch_size, min=1)
    lr = check_real("lr", lr, positive=True)
    seed = check_seed("seed", seed)
    model = backprop_mlp(dims, seed=seed)  # checks dims
    x_train = as_features(x_train, "x_train", num_features=model[0].in_features)
    x_test = as_features(x_test, "x_test", num_features=model[0].in_features)
    device = x_train.device
    y_train = as_labels(y_train, 10, num_samples=x_train.shape[0], device=device)
    y_test = as_labels(y_test, 10, num_samples=x_test.shape[0], device=device)
    model = model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(small_seed(seed, 32))
    history = History(step="eager")
    for epoch in range(epochs):
        start = time.perf_counter()
        model.train()
        for index in torch.randperm(x_train.shape[0], generator=generator).to(device).split(batch_size):
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(x_train[index]), y_train[index]).backward()
            optimizer.step()
        history.epoch_seconds.append(time.perf_counter() - start)
        model.eval()
        with torch.no_grad():
            error = (model(x_test).argmax(dim=1) != y_test).float().mean()
        history.test_epochs.append(epoch + 1)
        history.test_error.append(float(error))
    return model, history
