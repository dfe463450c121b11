"""The Forward-Forward network: layers that learn locally, and every rule that predicts with them.

``FFLayer`` is normalise -> linear -> ReLU. ``FFNet`` stacks them; every layer receives a
*detached* copy of the previous layer's output, so no gradient ever crosses a layer. The FF loss
of a batch is computed in one place, ``FFNet.ff_terms``; the prediction rules in one place,
``FFNet.scores``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ffbook._validate import check_choice, check_device, check_int, check_int_sequence, check_real, check_seed

from .core import (
    NORM_KINDS,
    _ff_loss_formula,
    _on_values,
    _RowLength,
    as_features,
    as_labels,
    check_on_value_input,
    goodness,
    normalize,
    overlay_labels,
)

__all__ = ["FFLayer", "FFNet", "FFNetSpec", "LayerTerms", "READOUTS", "INITS", "POSITIVE_ACTIVITY"]

READOUTS = (None, "zero", "torch")
POSITIVE_ACTIVITY = {"high": 1.0, "low": -1.0}  # the sign of goodness: +mean of squares, or its negative
READOUT_BATCH = 4096  # the read-out's rows per block (a fixed split: the same numbers whatever the caller's)
INITS = ("torch", "normal")


def _at_least_float32(t: torch.Tensor) -> torch.Tensor:
    """Goodness and losses are summed in float32 (or float64 when the net is float64)."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


class LayerTerms(NamedTuple):
    """A layer's FF loss and the mean goodness of its positive and negative samples (or a stack of them)."""

    loss: torch.Tensor
    pos_goodness: torch.Tensor
    neg_goodness: torch.Tensor


class _SharedImageLinear(torch.autograd.Function):
    """$z_k = s_k \\odot (W x + W_{lab}\\,l_k) + b$ for K labellings $l_k$ of the same images $x$ (label
    slots zero), with row scales $s_k$ (the normalisation): ``linear(normalize(.))`` of K overlays, with
    the images' product computed once. Backward: $\\partial W = (\\sum_k s_k \\odot \\delta_k)^\\top x$
    plus the label slots' part, one product of N rows instead of K N. The scales and inputs are data:
    no gradient flows to them.
    """

    @staticmethod
    def forward(ctx, images, heads, scale, weight, bias):
        shared = images @ weight.T  # (N, H), once for every labelling
        z = torch.addcmul(bias, shared + heads @ weight[:, : heads.shape[2]].T, scale)  # (K, N, H)
        ctx.save_for_backward(images, heads, scale)
        return z.reshape(-1, weight.shape[0])

    @staticmethod
    def backward(ctx, grad):
        images, heads, scale = ctx.saved_tensors
        groups, rows, slots = heads.shape
        scaled = grad.reshape(groups, rows, -1) * scale
        grad_weight = scaled.sum(dim=0).T @ images
        grad_weight[:, :slots] += scaled.reshape(groups * rows, -1).T @ heads.reshape(groups * rows, slots)
        return None, None, None, grad_weight, grad.sum(dim=0)


class FFLayer(nn.Module):
    """One Forward-Forward layer: $h = \\mathrm{ReLU}(W\\,\\mathrm{norm}(x) + b)$.

    Its goodness is the mean of squares $G = \\frac1H \\sum_j h_j^2$ and its FF loss the logistic
    loss of $p(\\text{positive}) = \\sigma(k\\,(G - \\theta))$ (``ff_loss``), $\\theta$ = ``threshold``,
    $k$ = ``sharpness``. Hinton's $\\sigma(\\sum_j h_j^2 - H)$ is $\\theta = 1$, $k = H$.
    With ``positive_activity="low"`` goodness is the *negative* mean of squares (the paper's other
    choice): positive data must keep activity below $\theta$, negative data above it, and the
    label with the least activity wins. ``mean_activity`` is each unit's running mean activity on
    positive data (for peer normalisation; it starts at 0.5, as in Hinton's code, and only the
    trainer changes it).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        threshold: float = 1.5,
        sharpness: float = 1.0,
        norm: str = "l2",
        eps: float = 1e-4,
        positive_activity: str = "high",
    ) -> None:
        super().__init__()
        in_features = check_int("in_features", in_features, min=1)
        out_features = check_int("out_features", out_features, min=1)
        self.linear = nn.Linear(in_features, out_features)
        self.threshold = check_real("threshold", threshold, positive=True)
        self.sharpness = check_real("sharpness", sharpness, positive=True)
        self.norm_kind = check_choice("norm", norm, NORM_KINDS)
        self.eps = check_real("eps", eps, positive=True)
        self.positive_activity = check_choice("positive_activity", positive_activity, tuple(POSITIVE_ACTIVITY))
        self.sign = POSITIVE_ACTIVITY[positive_activity]
        self.register_buffer("mean_activity", torch.full((out_features,), 0.5))

    def preactivation(self, x: torch.Tensor, groups: int = 1, label_slots: int = 0) -> torch.Tensor:
        """$W\\,\\mathrm{norm}(x) + b$, before the ReLU.

        With ``groups`` > 1 the rows of ``x`` are that many blocks of the same images, which differ only
        in their first ``label_slots`` columns (positives and negatives in a training step): the product
        with the image columns is then computed once for all blocks (``_SharedImageLinear``).
        """
        if groups == 1 or not label_slots:
            return self.linear(normalize(x, self.norm_kind, self.eps))
        rows = x.shape[0] // groups
        return self.shared_preactivation(x[:rows], x[:, :label_slots].reshape(groups, rows, label_slots))

    def shared_preactivation(self, images: torch.Tensor, heads: torch.Tensor) -> torch.Tensor:
        """``preactivation`` of K labellings of the same images, shape (K N, H), row k N + n.

        ``images`` (N, D) are the images (their first S slots are ignored); ``heads`` (K, N, S) holds what
        labelling k writes in those slots. Every labelling keeps the image's part of the row length, so
        the image's product is computed once (``_SharedImageLinear``); no overflow either (``_RowLength``).
        """
        images = images.clone()
        images[:, : heads.shape[2]] = 0
        length = torch.hypot(_RowLength.apply(images), heads.norm(dim=2, keepdim=True))
        if self.norm_kind == "rms":
            length = length / images.shape[1] ** 0.5
        return _SharedImageLinear.apply(images, heads, 1 / (length + self.eps), self.linear.weight, self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.preactivation(x))

    def goodness(self, h: torch.Tensor) -> torch.Tensor:
        """Mean of squares of the activities ``h`` (negated when ``positive_activity="low"``), per sample,
        in at least float32 (``core.goodness``)."""
        g = goodness(h, "mean")
        return g if self.sign > 0 else -g

    def ff_terms(self, x: torch.Tensor, num_positive: int, peer: float = 0.0, label_slots: int = 0):
        """This layer's FF loss on a batch whose first ``num_positive`` rows are positive data.

        The one place where a layer's loss is computed (``FFNet.ff_terms``, the greedy recipe,
        ``loss`` and ``ffbook.memory`` call it). Returns ``(h, terms, objective)``: the activities,
        the ``LayerTerms`` (FF loss, mean positive and negative goodness, detached but the loss), and
        what training minimises: the FF loss, plus with ``peer > 0`` (peer normalisation, Hinton's
        ``lambdamean``) the term $-\\lambda \\operatorname{mean}_n \\sum_j (\\bar m - m_j)\\,z_{nj}$ over the
        positives' pre-activations $z$, after the running mean activity $m \\leftarrow 0.9m + 0.1\\bar h$
        is updated: its gradient pulls every unit's mean activity towards its layer's average, and it
        reaches units whose ReLU is off too. ``label_slots`` > 0 says that the negatives are the
        positives' images with other labels in that many first columns (``preactivation``).
        """
        z = self.preactivation(x, 2, label_slots) if label_slots else self.preactivation(x)
        h = F.relu(z)
        g = self.goodness(h)
        loss = _ff_loss_formula(g[:num_positive], g[num_positive:], self.sign * self.threshold, self.sharpness)
        terms = LayerTerms(loss, g[:num_positive].detach().mean(), g[num_positive:].detach().mean())
        objective = loss
        if peer:
            with torch.no_grad():
                self.mean_activity.mul_(0.9).add_(h[:num_positive].mean(dim=0), alpha=0.1)
                pull = self.mean_activity.mean() - self.mean_activity
            objective = objective - peer * (z[:num_positive] * pull).sum(dim=1).mean()
        return h, terms, objective

    def loss(self, x_pos: torch.Tensor, x_neg: torch.Tensor) -> torch.Tensor:
        """This layer's FF loss on a batch of positive and negative inputs."""
        return self.ff_terms(torch.cat([x_pos, x_neg]), x_pos.shape[0])[1].loss

    def extra_repr(self) -> str:
        return (
            f"threshold={self.threshold}, sharpness={self.sharpness}, norm={self.norm_kind!r}, eps={self.eps}, "
            f"positive_activity={self.positive_activity!r}"
        )


class FFNet(nn.Module):
    """A stack of ``FFLayer`` s over inputs whose first ``num_classes`` features carry a label.

    ``dims = [784, 500, 500]`` gives two layers. The label is written one-hot with the value
    ``on_value`` (a number, or ``"max"``: each image's largest pixel). ``scores(x)`` gives every
    prediction rule's score of every label; ``first_scored_layer`` says where the net's own
    goodness rule starts (the paper skips the first layer). ``readout`` adds a linear softmax
    that reads the normalised activities of the scored layers for the image with a *neutral*
    label (every label slot at ``on_value / num_classes``): ``"zero"`` (zero weights, no bias:
    Hinton's code) or ``"torch"`` (PyTorch's default initialisation, with a bias); ``None``: none.
    ``positive_activity``: ``"high"`` (goodness is the mean of squares) or ``"low"`` (its negative;
    see ``FFLayer``).
    """

    def __init__(
        self,
        dims: Sequence[int],
        threshold: float = 1.5,
        sharpness: float = 1.0,
        norm: str = "l2",
        eps: float = 1e-4,
        num_classes: int = 10,
        on_value: str | float = "max",
        first_scored_layer: int = 0,
        readout: str | None = None,
        positive_activity: str = "high",
    ) -> None:
        super().__init__()
        self._arguments = {k: v for k, v in locals().items() if k not in ("self", "__class__")}  # for spec
        dims = check_int_sequence("dims", dims, min=1)
        if len(dims) < 2:
            raise ValueError(f"dims must list at least two positive ints (input, hidden...), got {list(dims)}")
        num_classes = check_int("num_classes", num_classes, min=2)
        if num_classes > dims[0]:
            raise ValueError(f"num_classes ({num_classes}) cannot exceed the number of input features ({dims[0]})")
        self.first_scored_layer = check_int("first_scored_layer", first_scored_layer, min=0, max=len(dims) - 2)
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        _on_values(torch.zeros(1, 1), on_value)  # validates on_value early
        self.dims, self.num_classes, self.on_value, self.readout_kind = list(dims), num_classes, on_value, readout
        self.init = "torch"  # FFNetSpec.build records "normal" when it redraws the weights
        self.layers = nn.ModuleList(
            FFLayer(d_in, d_out, threshold, sharpness, norm, eps, positive_activity)
            for d_in, d_out in zip(dims[:-1], dims[1:], strict=True)
        )
        self.readout = None
        if readout is not None:
            width = sum(dims[1 + self.first_scored_layer :])
            self.readout = nn.Linear(width, num_classes, bias=readout == "torch")
            if readout == "zero":
                nn.init.zeros_(self.readout.weight)

    @property
    def spec(self) -> FFNetSpec:
        """The description this net was built from (``FFNetSpec(...).build()`` gives a fresh one)."""
        return FFNetSpec(**self._arguments, init=self.init)

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
        """Activities of every layer for already-overlaid inputs (a tensor); each layer sees a detached input."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor of overlaid inputs (see overlay_labels), got {type(x).__name__}")
        activities = []
        for layer in self.layers:
            x = layer(x.detach())
            activities.append(x)
        return activities

    # ------------------------------------------------------------------ training
    def ff_terms(
        self,
        x_pos: torch.Tensor,
        x_neg: torch.Tensor,
        peer: float = 0.0,
        same_images: bool = False,
        layerwise: bool = False,
        dropout: float = 0.0,
    ) -> tuple[torch.Tensor, LayerTerms]:
        """Every layer's FF loss and mean goodness for one batch, each of shape (num_layers,), and the
        sum of the layers' objectives (``FFLayer.ff_terms``), which training minimises.

        Layer k sees a *detached* copy of layer k-1's output, so layer k's loss depends on layer k's
        parameters only: the sum of the losses has, for each layer, the gradient of its own loss.
        Positives and negatives share one matrix product per layer. ``same_images``: ``x_neg`` is
        ``x_pos`` with other labels (the first layer then multiplies the images once). ``layerwise``:
        each layer's backward pass runs right after its forward pass, so one layer's activities are
        kept at a time; the gradients are the same and the returned sum is detached. ``dropout``: the
        fraction of each layer's activities zeroed (the rest scaled by 1 / (1 - dropout)) in what it
        passes to the next layer; its own goodness sees them all.
        """
        dropout = check_real("dropout", dropout, min=0.0, max=0.95)
        num_positive = x_pos.shape[0]
        h = torch.cat([x_pos, x_neg])
        total, terms = 0.0, []
        for k, layer in enumerate(self.layers):
            slots = self.num_classes if same_images and k == 0 else 0
            h, layer_terms, objective = layer.ff_terms(h.detach(), num_positive, peer, slots)
            if layerwise:
                objective.backward()  # this layer's graph is freed before the next layer runs
                objective = objective.detach()
            terms.append(layer_terms)
            total = total + objective
            if dropout and k + 1 < len(self.layers):
                h = F.dropout(h.detach(), dropout)
        return total, LayerTerms(*(torch.stack(column) for column in zip(*terms, strict=True)))

    def layer_losses(self, x_pos: torch.Tensor, x_neg: torch.Tensor) -> torch.Tensor:
        """Each layer's own FF loss, shape (num_layers,)."""
        return self.ff_terms(x_pos, x_neg)[1].loss

    def neutral_overlay(self, x: torch.Tensor) -> torch.Tensor:
        """The image with every label slot at ``on / num_classes``: "no label" for the read-out."""
        on = _on_values(x, self.on_value)
        out = x.clone()
        out[:, : self.num_classes] = (on / self.num_classes)[:, None]
        return out

    def readout_features(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised activities of the scored layers for a neutral label, concatenated (no gradient)."""
        with torch.no_grad():
            activities = self(self.neutral_overlay(x))[self.first_scored_layer :]
            first = self.layers[0]
            return torch.cat([normalize(h, first.norm_kind, first.eps) for h in activities], dim=1)

    def readout_logits_of(self, x: torch.Tensor) -> torch.Tensor:
        """The read-out's logits for already-checked images (the gradient reaches the read-out only)."""
        if self.readout is None:
            raise ValueError("this FFNet has no read-out (readout=None)")
        return _at_least_float32(self.readout(self.readout_features(x)))

    # ------------------------------------------------------------------ prediction
    def _goodness_block(self, x: torch.Tensor) -> torch.Tensor:
        """Every layer's goodness (N, C, L) with every label overlaid; the first layer multiplies each image
        once for all C labels (``FFLayer.shared_preactivation``)."""
        n, num_classes = x.shape[0], self.num_classes
        one_hot = torch.eye(num_classes, dtype=x.dtype, device=x.device)[:, None, :]  # (C, 1, C)
        heads = _on_values(x, self.on_value)[None, :, None] * one_hot  # (C, N, C): label c on image n
        h = F.relu(self.layers[0].shared_preactivation(x, heads))  # row c N + n
        per_layer = []
        for index, layer in enumerate(self.layers):
            if index > 0:
                h = layer(h)
            per_layer.append(layer.goodness(h))
        return torch.stack(per_layer, dim=1).reshape(num_classes, n, -1).transpose(0, 1)

    @torch.no_grad()
    def scores(self, x, batch_size: int = 1024) -> dict[str, torch.Tensor]:
        """Every prediction rule's score of every label, each (N, num_classes) but ``"layers"``.

        * ``"layers"`` (N, C, L): each layer's goodness with label c overlaid;
        * ``"net"``: goodness summed from ``first_scored_layer`` on (the paper's rule for its presets);
        * ``"all_layers"``: goodness summed over every layer;
        * ``"readout"``: the read-out's logits on a neutral label (nets with a read-out).

        The predicted label of a rule is its argmax; ``evaluate`` only compares.
        """
        return self._scores(self.check_inputs(x), check_int("batch_size", batch_size, min=1))

    def _scores(self, x: torch.Tensor, batch_size: int) -> dict[str, torch.Tensor]:
        """``scores`` for checked inputs (the trainer's path: no check, no host sync)."""
        layers = torch.cat([self._goodness_block(block) for block in x.split(batch_size)])
        result = {
            "layers": layers,
            "net": layers[:, :, self.first_scored_layer :].sum(dim=2),
            "all_layers": layers.sum(dim=2),
        }
        if self.readout is not None:
            result["readout"] = torch.cat([self.readout_logits_of(block) for block in x.split(READOUT_BATCH)])
        return result

    @torch.no_grad()
    def goodness_per_label(self, x, batch_size: int = 1024) -> torch.Tensor:
        """Goodness (N, num_classes) of every image with every label, summed over the scored layers."""
        return self.scores(x, batch_size)["net"]

    @torch.no_grad()
    def predict(self, x, batch_size: int = 1024) -> torch.Tensor:
        """The label whose overlay gives the highest goodness (the net's rule), for every image (N,)."""
        return self.goodness_per_label(x, batch_size).argmax(dim=1)

    @torch.no_grad()
    def readout_logits(self, x, batch_size: int = 4096) -> torch.Tensor:
        """The read-out's logits (N, num_classes) for every image with a neutral label: one forward pass."""
        if self.readout is None:
            raise ValueError("this FFNet has no read-out (readout=None); there is nothing to predict with")
        x = self.check_inputs(x)
        batch_size = check_int("batch_size", batch_size, min=1)
        return torch.cat([self.readout_logits_of(block) for block in x.split(batch_size)])

    @torch.no_grad()
    def predict_readout(self, x, batch_size: int = 4096) -> torch.Tensor:
        """Labels from the linear softmax read-out (nets with a read-out)."""
        return self.readout_logits(x, batch_size).argmax(dim=1)

    @torch.no_grad()
    def layer_goodness(self, x, labels, batch_size: int = 4096) -> torch.Tensor:
        """Goodness of every layer (N, num_layers) for images with the given labels overlaid."""
        x = self.check_inputs(x)
        batch_size = check_int("batch_size", batch_size, min=1)
        labels = as_labels(labels, self.num_classes, num_samples=x.shape[0], device=x.device)
        blocks = []
        for xb, yb in zip(x.split(batch_size), labels.split(batch_size), strict=True):
            activities = self(overlay_labels(xb, yb, self.num_classes, self.on_value))
            goodness = [layer.goodness(h) for layer, h in zip(self.layers, activities, strict=True)]
            blocks.append(torch.stack(goodness, dim=1))
        return torch.cat(blocks)


@dataclasses.dataclass(frozen=True)
class FFNetSpec:
    """What defines a Forward-Forward network: the arguments of ``FFNet``, checked when created.

    A preset pairs one with a training config, so a recipe cannot contradict the network it
    trains. ``spec.build(seed)`` makes the network.
    """

    dims: tuple[int, ...] = (784, 500, 500)
    threshold: float = 1.5
    sharpness: float = 1.0
    norm: str = "l2"
    eps: float = 1e-4
    num_classes: int = 10
    on_value: str | float = "max"
    first_scored_layer: int = 0
    readout: str | None = None
    positive_activity: str = "high"
    init: str = "torch"

    def __post_init__(self) -> None:
        object.__setattr__(self, "dims", check_int_sequence("dims", self.dims, min=1))
        check_choice("init", self.init, INITS)
        with torch.device("meta"):  # checks every argument without allocating any weight
            FFNet(**self._net_arguments())

    def _net_arguments(self) -> dict:
        arguments = self.to_dict()
        del arguments["init"]
        return arguments

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def build(self, seed: int = 0, device: str | torch.device = "cpu") -> FFNet:
        """The network, initialised from ``seed`` on the CPU (so every device starts from the same weights).

        ``init="torch"``: the layers' weights as PyTorch's ``nn.Linear`` draws them (uniform);
        ``"normal"``: $\\mathcal N(0, 1/\\text{fan-in})$ with zero biases (Hinton's code).
        """
        device = check_device(device)
        seed = check_seed("seed", seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = FFNet(**self._net_arguments())
            if self.init == "normal":
                generator = torch.Generator().manual_seed(seed)
                for layer in net.layers:
                    fan_in = layer.linear.in_features
                    with torch.no_grad():
                        layer.linear.weight.copy_(torch.randn(layer.linear.weight.shape, generator=generator))
                        layer.linear.weight.mul_(fan_in**-0.5)
                        layer.linear.bias.zero_()
                net.init = "normal"
        return net.to(device)
