"""The Forward-Forward network: layers that learn locally, and prediction by goodness.

``FFLayer`` is normalise -> linear -> ReLU with its own loss. ``FFNet`` stacks them; every layer
receives a *detached* copy of the previous layer's output, so no gradient ever crosses a layer.
Prediction tries every label at once: the goodness of (image, label c) for all c in one batch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ffbook._validate import check_bool, check_int, check_real

from .core import (
    GOODNESS_KINDS,
    NORM_KINDS,
    _on_values,
    as_features,
    as_labels,
    check_on_value_input,
    check_seed,
    ff_loss,
    goodness,
    normalize,
    overlay_labels,
)

__all__ = ["FFLayer", "FFNet", "FFNetSpec", "LayerTerms"]


def _at_least_float32(t: torch.Tensor) -> torch.Tensor:
    """Goodness and losses are summed in float32 (or float64 when the net is float64)."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


class LayerTerms(NamedTuple):
    """A layer's FF loss and the mean goodness of its positive and negative samples (or a stack of them)."""

    loss: torch.Tensor
    pos_goodness: torch.Tensor
    neg_goodness: torch.Tensor


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")




class FFLayer(nn.Module):
    """One Forward-Forward layer: $h = \\mathrm{ReLU}(W\\,\\mathrm{norm}(x) + b)$ and its own loss.

    ``loss(x_pos, x_neg)`` is ``ff_loss`` of the goodness of positive and negative activities
    against ``threshold``, with the logistic's slope ``sharpness`` (1 in the paper). The trainer
    gives every layer its own optimizer state.
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
        sharpness: float = 1.0,
    ) -> None:
        super().__init__()
        in_features = check_int("in_features", in_features, min=1)
        out_features = check_int("out_features", out_features, min=1)
        check_bool("bias", bias)
        _check_choice("goodness", goodness, GOODNESS_KINDS)
        _check_choice("norm", norm, NORM_KINDS)
        self.linear = nn.Linear(int(in_features), int(out_features), bias=bias)
        self.threshold = check_real("threshold", threshold, positive=True)
        self.sharpness = check_real("sharpness", sharpness, positive=True)
        self.goodness_kind = goodness
        self.norm_kind = norm
        self.eps = check_real("eps", eps, positive=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.linear(normalize(x, self.norm_kind, self.eps)))

    def goodness(self, h: torch.Tensor) -> torch.Tensor:
        """Goodness of this layer's activities ``h`` (its own kind: mean or sum of squares)."""
        return goodness(h, self.goodness_kind)

    def ff_terms(self, x: torch.Tensor, num_positive: int) -> tuple[torch.Tensor, LayerTerms]:
        """Activities and FF loss for a batch whose first ``num_positive`` rows are positive data.

        The one place where a layer's loss is computed (``FFNet.ff_terms``, the greedy schedule
        and ``loss`` all call it). Positives and negatives share one matrix product. Goodness and
        loss are computed in float32 whatever the activities' dtype.
        """
        h = self(x)
        g = _at_least_float32(self.goodness(h))
        g_pos, g_neg = g[:num_positive], g[num_positive:]
        loss = ff_loss(g_pos, g_neg, self.threshold, self.sharpness)
        return h, LayerTerms(loss, g_pos.detach().mean(), g_neg.detach().mean())

    def loss(self, x_pos: torch.Tensor, x_neg: torch.Tensor) -> torch.Tensor:
        """$\\mathrm{softplus}$ loss pushing positive goodness above and negative below the threshold."""
        return self.ff_terms(torch.cat([x_pos, x_neg]), x_pos.shape[0])[1].loss

    def extra_repr(self) -> str:
        return (
            f"threshold={self.threshold}, sharpness={self.sharpness}, goodness={self.goodness_kind!r}, "
            f"norm={self.norm_kind!r}"
        )


class FFNet(nn.Module):
    """A stack of ``FFLayer`` s over inputs whose first ``num_classes`` features carry a label.

    ``dims = [784, 500, 500]`` gives two layers. ``goodness_per_label(x)`` scores every label for
    every image: $S_{n,c} = \\sum_{l \\ge l_0} G_l(\\text{image}_n \\text{ with label } c)$, where
    $l_0$ = ``first_scored_layer`` (the paper skips the first layer of its 4-layer net).
    ``predict`` takes the argmax. With ``readout=True`` a linear softmax classifier reads the
    normalised activities of the scored layers for an image with a neutral label (every label
    slot at ``1/num_classes`` of the on value), as in loeweX's and Hinton's Matlab code; its
    predictions are reported separately by ``predict_readout``. ``threshold``, ``goodness``,
    ``norm`` and ``sharpness`` are passed to every layer.
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
        sharpness: float = 1.0,
    ) -> None:
        super().__init__()
        if isinstance(dims, str) or not isinstance(dims, Sequence) or len(dims) < 2:
            raise ValueError(f"dims must list at least two positive ints (input, hidden...), got {dims!r}")
        dims = [check_int(f"dims[{i}]", d, min=1) for i, d in enumerate(dims)]
        num_classes = check_int("num_classes", num_classes, min=2)
        if num_classes > dims[0]:
            raise ValueError(f"num_classes ({num_classes}) cannot exceed the number of input features ({dims[0]})")
        first_scored_layer = check_int("first_scored_layer", first_scored_layer, min=0, max=len(dims) - 2)
        check_bool("readout", readout)
        _on_values(torch.zeros(1, 1), on_value)  # validates on_value early
        self.dims = dims
        self.num_classes = int(num_classes)
        self.on_value = on_value
        self.first_scored_layer = int(first_scored_layer)
        self.layers = nn.ModuleList(
            FFLayer(d_in, d_out, threshold, goodness, norm, bias, sharpness=sharpness)
            for d_in, d_out in zip(dims[:-1], dims[1:], strict=True)
        )
        scored_width = sum(dims[1 + self.first_scored_layer :])
        self.readout = nn.Linear(scored_width, self.num_classes) if readout else None
        self._bias = bool(bias)

    @property
    def spec(self) -> FFNetSpec:
        """The description this net was built from (``FFNetSpec(...).build()`` gives a fresh one)."""
        first = self.layers[0]
        return FFNetSpec(
            dims=tuple(self.dims),
            threshold=first.threshold,
            goodness=first.goodness_kind,
            norm=first.norm_kind,
            num_classes=self.num_classes,
            on_value=self.on_value,
            first_scored_layer=self.first_scored_layer,
            readout=self.readout is not None,
            bias=self._bias,
            sharpness=first.sharpness,
        )

    @property
    def device(self) -> torch.device:
        return self.layers[0].linear.weight.device

    def check_inputs(self, x, name: str = "x") -> torch.Tensor:
        """Validate a batch for this net and move it to the net's device and dtype, shape (N, D)."""
        weight = self.layers[0].linear.weight
        x = as_features(x, name, num_features=self.dims[0]).to(weight.device, weight.dtype)
        check_on_value_input(x, self.on_value, name)
        return x

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Activities of every layer for already-overlaid inputs; each layer sees a detached input."""
        activities = []
        for layer in self.layers:
            x = layer(x.detach())
            activities.append(x)
        return activities

    def ff_terms(self, x_pos: torch.Tensor, x_neg: torch.Tensor) -> LayerTerms:
        """Every layer's FF loss and mean goodness for one batch, each a tensor of shape (num_layers,).

        Layer k sees a *detached* copy of layer k-1's output, so layer k's loss depends on layer k's
        parameters only: the sum of the losses has, for each layer, the gradient of its own loss.
        This is what training minimises (``fit`` calls it through ``training_loss``).
        """
        num_positive = x_pos.shape[0]
        h = torch.cat([x_pos, x_neg])
        terms = []
        for layer in self.layers:
            h, layer_terms = layer.ff_terms(h.detach(), num_positive)
            terms.append(layer_terms)
        return LayerTerms(*(torch.stack(column) for column in zip(*terms, strict=True)))

    def layer_losses(self, x_pos: torch.Tensor, x_neg: torch.Tensor) -> torch.Tensor:
        """Each layer's own FF loss, shape (num_layers,)."""
        return self.ff_terms(x_pos, x_neg).loss

    def readout_loss(self, x_pos: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the linear read-out on the neutral-label features (which carry no gradient)."""
        return F.cross_entropy(_at_least_float32(self.readout(self.readout_features(x_pos))), labels)

    def training_loss(self, x_pos: torch.Tensor, x_neg: torch.Tensor, labels: torch.Tensor):
        """The loss one training step minimises, and its per-layer statistics (3, num_layers), detached.

        The sum of every layer's FF loss, plus the read-out's cross-entropy when the net has one.
        """
        terms = self.ff_terms(x_pos, x_neg)
        total = terms.loss.sum()
        if self.readout is not None:
            total = total + self.readout_loss(x_pos, labels)
        return total, torch.stack([terms.loss.detach(), terms.pos_goodness, terms.neg_goodness])

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
    def goodness_per_layer_and_label(self, x, batch_size: int = 1024) -> torch.Tensor:
        """Goodness (N, num_classes, num_layers) of every layer for every image with every label."""
        x = self.check_inputs(x)
        return torch.cat([self._goodness_block(block) for block in x.split(batch_size)])

    @torch.no_grad()
    def goodness_per_label(self, x, batch_size: int = 1024) -> torch.Tensor:
        """Goodness (N, num_classes) of every image with every label, summed over the scored layers."""
        return self.goodness_per_layer_and_label(x, batch_size)[:, :, self.first_scored_layer :].sum(dim=2)

    def _goodness_block(self, x: torch.Tensor) -> torch.Tensor:
        n, num_classes = x.shape[0], self.num_classes
        h = self._first_layer_all_labels(x).reshape(n * num_classes, -1)
        per_layer = []
        for index, layer in enumerate(self.layers):
            if index > 0:
                h = layer(h)
            per_layer.append(_at_least_float32(layer.goodness(h)))
        return torch.stack(per_layer, dim=1).reshape(n, num_classes, len(self.layers))

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
    def readout_logits(self, x, batch_size: int = 4096) -> torch.Tensor:
        """The read-out's logits (N, num_classes) for every image with a neutral label: one forward pass."""
        if self.readout is None:
            raise ValueError("this FFNet was built with readout=False; there is no read-out to predict with")
        x = self.check_inputs(x)
        return torch.cat([_at_least_float32(self.readout(self.readout_features(b))) for b in x.split(batch_size)])

    @torch.no_grad()
    def predict_readout(self, x, batch_size: int = 4096) -> torch.Tensor:
        """Labels from the linear softmax read-out (needs ``readout=True``)."""
        return self.readout_logits(x, batch_size).argmax(dim=1)

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


@dataclasses.dataclass(frozen=True)
class FFNetSpec:
    """What defines a Forward-Forward network: the arguments of ``FFNet``, checked when created.

    A preset pairs one with an ``FFConfig`` (what defines the training), so a training recipe
    cannot contradict the network it trains. ``spec.build(seed)`` makes the network.
    """

    dims: tuple[int, ...] = (784, 500, 500)
    threshold: float = 1.5
    goodness: str = "mean"
    norm: str = "l2"
    num_classes: int = 10
    on_value: str | float = "max"
    first_scored_layer: int = 0
    readout: bool = False
    bias: bool = True
    sharpness: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.dims, str) or not isinstance(self.dims, Sequence):
            raise TypeError(f"dims must be a sequence of ints, got {type(self.dims).__name__}")
        object.__setattr__(self, "dims", tuple(self.dims))
        with torch.device("meta"):  # checks every argument without allocating any weight
            FFNet(**self.to_dict())

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def build(self, seed: int = 0, device: str | torch.device = "cpu") -> FFNet:
        """The network, initialised from ``seed`` on the CPU (so every device starts from the same weights)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(check_seed(seed))
            net = FFNet(**self.to_dict())
        return net.to(device)
