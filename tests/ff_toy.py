"""A toy data set for the Forward-Forward tests: ten classes, each a fixed random pattern plus noise."""

from __future__ import annotations

import torch


def toy_data(n: int = 64, d: int = 40, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` samples of ``d`` features in [0, 1] with labels ``0, 1, ..., 9, 0, ...``; FF separates them quickly."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.rand(10, d, generator=generator)
    y = torch.arange(n) % 10
    x = (centres[y] + 0.1 * torch.rand(n, d, generator=generator)).clamp(0, 1)
    return x, y


def indexed_toy_data(n: int = 64, d: int = 40, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``toy_data`` whose last feature is ``(i + 1) / (n + 1)`` for sample i, so the samples a training
    step saw can be read back from its images with ``sample_indices``."""
    x, y = toy_data(n, d, seed)
    x = x.clone()
    x[:, -1] = (torch.arange(n, dtype=x.dtype) + 1) / (n + 1)
    return x, y


def sample_indices(images: torch.Tensor, n: int) -> torch.Tensor:
    """Which samples of ``indexed_toy_data(n)`` these (overlaid or not) images are."""
    return torch.round(images[:, -1].double() * (n + 1)).long() - 1
