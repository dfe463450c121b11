"""The Forward-Forward network: layers that learn locally, and prediction by goodness.

``FFLayer`` is normalise -> linear -> ReLU with its own loss. ``FFNet`` stacks them; every layer
receives a *detached* copy of the previous layer's output, so no gradient ever crosses a layer.
Prediction tries every label at once: the goodness of (image, label c) for all c in one batch.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .core import (
    GOODNESS_KINDS,
    NORM_KINDS,
    _on_values,
    as_features,
    as_labels,
    ff_loss,
    goodness,
    normalize,
    overlay_labels,
)

__all__ = ["FFLayer", "FFNet"]


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def _check_threshold(threshold) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not threshold > 0:
        raise ValueError(f"threshold must be a positive number, got {threshold!r}")
    return float(threshold)


class FFLayer(nn.Module):
    """One Forward-Forward layer: $h = \\mathrm{ReLU}(W\\,\\mathrm{norm}(x) + b)$ and its own loss.

    ``loss(x_pos, x_neg)`` is ``ff_loss`` of the goodness of positive and negative activities
    against ``threshold``. The trainer gives every layer its own optimizer state.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        threshold: float = 1.5,
        goodness: str = "mean",
        norm: str = "l2",
        bias: bool = True,
        eps: float = 1e-4,
    ) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        _check_choice("goodness", goodness, GOODNESS_KINDS)
        _check_choice("norm", norm, NORM_KINDS)
        self.linear = nn.Linear(int(in_features), int(out_features), bias=bias)
        self.threshold = _check_threshold(threshold)
        self.goodness_kind = goodness
        self.norm_kind = norm
        self.eps = float(eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.linear(normalize(x, self.norm_kind, self.eps)))

    def goodness(self, h: torch.Tensor) -> torch.Tensor:
        """Goodness of this layer's activities ``h`` (its own kind: mean or sum of squares)."""
        return goodness(h, self.goodness_kind)

    def loss(self, x_pos: torch.Tensor, x_neg: torch.Tensor) -> torch.Tensor:
        """$\\mathrm{softplus}$ loss pushing positive goodness above and negative below the threshold."""
        return ff_loss(self.goodness(self(x_pos)), self.goodness(self(x_neg)), self.threshold)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, goodness={self.goodness_kind!r}, norm={self.norm_kind!r}"


class FFNet(nn.Module):
    """A stack of ``FFLayer`` s over inputs whose first ``num_classes`` features carry a label.

    ``dims = [784, 500, 500]`` gives two layers. ``goodness_per_label(x)`` scores every label for
    every image: $S_{n,c} = \\sum_{l \\ge l_0} G_l(\\text{image}_n \\text{ with label } c)$, where
    $l_0$ = ``first_scored_layer`` (the paper skips the first layer of its 4-layer net).
    ``predict`` takes the argmax. With ``readout=True`` a linear softmax classifier reads the
    normalised activities of the scored layers for an image with a neutral label (every label
    slot at ``1/num_classes`` of the on value), as in loeweX's and Hinton's Matlab code; its
    predictions are reported separately by ``predict_readout``.
    """

    def __init__(
        self,
        dims: Sequence[int],
        threshold: float = 1.5,
        goodness: str = "mean",
        norm: str = "l2",
        num_classes: int = 10,
        on_value: str | float = "max",
        first_scored_layer: int = 0,
        readout: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        dims = list(dims)
        if len(dims) < 2 or any(isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1 for d in dims):
            raise ValueError(f"dims must list at least two positive ints (input, hidden...), got {dims!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
        if num_classes > dims[0]:
            raise ValueError(f"num_classes ({num_classes}) cannot exceed the number of input features ({dims[0]})")
        if not 0 <= first_scored_layer < len(dims) - 1:
            raise ValueError(f"first_scored_layer must be in [0, {len(dims) - 1}), got {first_scored_layer}")
        _on_values(torch.zeros(1, 1), on_value)  # validates on_value early
        self.dims = dims
        self.num_classes = int(num_classes)
        self.on_value = on_value
        self.first_scored_layer = int(first_scored_layer)
        self.layers = nn.ModuleList(
            FFLayer(d_in, d_out, threshold, goodness, norm, bias)
            for d_in, d_out in zip(dims[:-1], dims[1:], strict=True)
        )
        scored_width = sum(dims[1 + self.first_scored_layer :])
        self.readout = nn.Linear(scored_width, self.num_classes) if readout else None

    @property
    def device(self) -> torch.device:
        return self.layers[0].linear.weight.device

    def check_inputs(self, x, name: str = "x") -> torch.Tensor:
        """Validate a batch for this net and move it to the net's device and dtype, shape (N, D)."""
        weight = self.layers[0].linear.weight
        return as_features(x, name, num_features=self.dims[0]).to(weight.device, weight.dtype)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Activities of every layer for already-overlaid inputs; each layer sees a detached input."""
        activities = []
        for layer in self.layers:
            x = layer(x.detach())
            activities.append(x)
        return activities

    def layer_losses(self, x_pos: torch.Tensor, x_neg: torch.Tensor) -> list[torch.Tensor]:
        """Each layer's own FF loss; layer k's loss depends on layer k's parameters only."""
        losses = []
        for layer in self.layers:
            h_pos, h_neg = layer(x_pos.detach()), layer(x_neg.detach())
            losses.append(ff_loss(layer.goodness(h_pos), layer.goodness(h_neg), layer.threshold))
            x_pos, x_neg = h_pos, h_neg
        return losses

    def _first_layer_all_labels(self, x: torch.Tensor) -> torch.Tensor:
        """First-layer activities for every (image, label) pair, shape (N, C, H1), in one matmul.

        With label c overlaid, the input is $u + v\\,e_c$ where $u$ is the image with its label
        slots zeroed and $v$ the on value. Its length $\\sqrt{\\lVert u\\rVert^2 + v^2}$ does not
        depend on c, so $W\\hat x = (W u + v W_{:,c}) / \\text{length}$: one matmul for the image,
        and a column of W per label.
        """
        layer, num_classes = self.layers[0], self.num_classes
        on = _on_values(x, self.on_value)
        base = x.clone()
        base[:, :num_classes] = 0
        length = (base.square().sum(dim=1) + on.square()).sqrt()
        if layer.norm_kind == "rms":
            length = length / x.shape[1] ** 0.5
        scale = 1.0 / (length + layer.eps)
        weight = layer.linear.weight
        image_part = (base @ weight.T) * scale[:, None]
        label_part = (on * scale)[:, None, None] * weight[:, :num_classes].T[None]
        pre = image_part[:, None, :] + label_part
        if layer.linear.bias is not None:
            pre = pre + layer.linear.bias
        return F.relu(pre)

    @torch.no_grad()
    def goodness_per_label(self, x, batch_size: int = 1024) -> torch.Tensor:
        """Summed goodness (N, num_classes) of every image with every label; batched over labels."""
        x = self.check_inputs(x)
        return torch.cat([self._goodness_block(block) for block in x.split(batch_size)])

    def _goodness_block(self, x: torch.Tensor) -> torch.Tensor:
        n, num_classes = x.shape[0], self.num_classes
        h = self._first_layer_all_labels(x).reshape(n * num_classes, -1)
        total = torch.zeros(n * num_classes, device=x.device, dtype=torch.promote_types(x.dtype, torch.float32))
        for index, layer in enumerate(self.layers):
            if index > 0:
                h = layer(h)
            if index >= self.first_scored_layer:
                total += layer.goodness(h).to(total.dtype)
        return total.reshape(n, num_classes)

    @torch.no_grad()
    def predict(self, x, batch_size: int = 1024) -> torch.Tensor:
        """The label whose overlay gives the highest goodness, for every image (N,)."""
        return self.goodness_per_label(x, batch_size).argmax(dim=1)

    def neutral_overlay(self, x: torch.Tensor) -> torch.Tensor:
        """The image with every label slot at ``on / num_classes``: "no label" for the read-out."""
        on = _on_values(x, self.on_value)
        out = x.clone()
        out[:, : self.num_classes] = (on / self.num_classes)[:, None]
        return out

    def readout_features(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised activities of the scored layers for a neutral label, concatenated (detached)."""
        with torch.no_grad():
            activities = self(self.neutral_overlay(x))[self.first_scored_layer :]
            layer = self.layers[0]
            return torch.cat([normalize(h, layer.norm_kind, layer.eps) for h in activities], dim=1)

    @torch.no_grad()
    def predict_readout(self, x, batch_size: int = 4096) -> torch.Tensor:
        """Labels from the linear softmax read-out (needs ``readout=True``)."""
        if self.readout is None:
            raise ValueError("this FFNet was built with readout=False; there is no read-out to predict with")
        x = self.check_inputs(x)
        return torch.cat([self.readout(self.readout_features(b)).argmax(dim=1) for b in x.split(batch_size)])

    @torch.no_grad()
    def layer_goodness(self, x, labels, batch_size: int = 4096) -> torch.Tensor:
        """Goodness of every layer (N, num_layers) for images with the given labels overlaid."""
        x = self.check_inputs(x)
        labels = as_labels(labels, self.num_classes, num_samples=x.shape[0], device=x.device)
        blocks = []
        for xb, yb in zip(x.split(batch_size), labels.split(batch_size), strict=True):
            activities = self(overlay_labels(xb, yb, self.num_classes, self.on_value))
            blocks.append(
                torch.stack([layer.goodness(h) for layer, h in zip(self.layers, activities, strict=True)], dim=1)
            )
        return torch.cat(blocks)
