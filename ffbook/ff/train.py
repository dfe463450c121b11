"""Training a Forward-Forward net: the step, the epoch loop, evaluation, and the one entry point.

``train_step`` is one mini-batch of the paper's recipe, written out: positives, the read-out on a
neutral label (which may choose the negatives), negatives, every layer's FF loss, one backward,
one optimizer step. ``fit`` runs it over the epochs; how it runs is ``fit``'s ``step`` argument:
``"eager"`` (plain PyTorch, the reference), ``"compile"`` (``torch.compile``), ``"graph"`` (CUDA:
the step captured once and replayed, see ``cuda_graph.py``) or ``"auto"`` (graph on CUDA, eager
elsewhere). Random draws come from seeded CPU generators (the same numbers on every device), one
set per epoch, so a step holds no generator and a resumed run draws what an uninterrupted one
would have. Statistics are summed on the device and read once per epoch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ffbook._validate import check_bool, check_choice, check_device, check_int, check_seed

from .config import FFConfig, GreedyConfig
from .core import (
    _shift_square,
    as_labels,
    choose_wrong_labels,
    hard_negative_labels,
    overlay_labels,
    overlay_one_hot,
    random_wrong_labels,
)
from .model import FFNet, FFNetSpec
from .presets import Preset, get_preset

__all__ = [
    "History",
    "SmoothedSGD",
    "build_net",
    "epoch_generator",
    "evaluate",
    "fit",
    "lr_factor",
    "mnist_tensors",
    "train",
    "train_step",
]

STEPS = ("auto", "eager", "compile", "graph")


@dataclasses.dataclass
class History:
    """Per-epoch records of a run; the one result type of ``fit``, ``train`` and the command line.

    ``layer_loss``, ``pos_goodness``, ``neg_goodness``: per epoch, one mean per layer. At every
    evaluated epoch (``test_epochs``), on ``eval_set`` (``"test"`` or ``"validation"``), error
    fractions in [0, 1]: ``test_error`` (the net's goodness rule), ``layer_test_errors`` (each
    layer alone), ``all_layers_test_error`` and ``readout_test_error`` (nets with a read-out).
    ``epoch_seconds``: training time of each epoch (evaluation excluded). ``step``: how the steps ran.
    """

    layer_loss: list = dataclasses.field(default_factory=list)
    pos_goodness: list = dataclasses.field(default_factory=list)
    neg_goodness: list = dataclasses.field(default_factory=list)
    test_epochs: list = dataclasses.field(default_factory=list)
    test_error: list = dataclasses.field(default_factory=list)
    layer_test_errors: list = dataclasses.field(default_factory=list)
    all_layers_test_error: list = dataclasses.field(default_factory=list)
    readout_test_error: list = dataclasses.field(default_factory=list)
    epoch_seconds: list = dataclasses.field(default_factory=list)
    step: str = "eager"
    eval_set: str = "test"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, record: dict) -> History:
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = set(record) - names
        if unknown:
            raise ValueError(f"not a History record: unknown keys {sorted(unknown)}")
        return cls(**record)


def build_net(spec: FFNetSpec, seed: int = 0, device: str | torch.device = "cpu") -> FFNet:
    """``spec``'s network initialised from ``seed`` on the CPU (so every device starts equal)."""
    if not isinstance(spec, FFNetSpec):
        raise TypeError(f"spec must be an FFNetSpec (e.g. get_preset(name).net), got {type(spec).__name__}")
    return spec.build(seed, device)


def mnist_tensors(train_size: int | None = None, test_size: int | None = None, device="cpu"):
    """MNIST as float tensors in [0, 1] of shape (N, 784) on ``device``; the first samples when sized."""
    from ffbook.data import load_mnist

    device = check_device(device)
    sizes = {"train_size": (train_size, 60_000), "test_size": (test_size, 10_000)}
    for name, (size, available) in sizes.items():
        if size is not None:
            check_int(name, size, min=1, max=available)
    (x_train, y_train), (x_test, y_test) = load_mnist()

    def tensors(x, y, n):
        x, y = x[:n], y[:n]
        pixels = torch.from_numpy(x.reshape(len(x), -1).astype(np.float32) / 255.0)
        return pixels.to(device), torch.from_numpy(y.astype(np.int64)).to(device)

    return tensors(x_train, y_train, train_size), tensors(x_test, y_test, test_size)


# ---------------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate(net: FFNet, x, y, batch_size: int = 1024) -> dict:
    """Error rates (fractions in [0, 1]) of every rule in ``FFNet.scores`` on ``x``.

    ``test_error``: the net's rule; ``layer_test_errors``: each layer's goodness alone;
    ``all_layers_test_error``: every layer summed; ``readout_test_error``: the read-out (if any).
    """
    if not isinstance(net, FFNet):
        raise TypeError(f"net must be an FFNet, got {type(net).__name__}")
    x = net.check_inputs(x)
    y = as_labels(y, net.num_classes, num_samples=x.shape[0], device=net.device)
    return _errors(net, x, y, check_int("batch_size", batch_size, min=1))


def _errors(net: FFNet, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> dict:
    """``evaluate`` for checked inputs: every rule's error, from ``FFNet.scores`` (one home of the rules)."""
    names = {"net": "test_error", "layers": "layer_test_errors", "all_layers": "all_layers_test_error",
             "readout": "readout_test_error"}  # fmt: skip
    result = {}
    for rule, scores in net._scores(x, batch_size).items():
        labels = y if scores.ndim == 2 else y[:, None]  # "layers" is (N, C, L): one error per layer
        result[names[rule]] = (scores.argmax(dim=1) != labels).float().mean(dim=0).tolist()
    return result


# ---------------------------------------------------------------------------------- optimisers


class SmoothedSGD(torch.optim.Optimizer):
    """Hinton's update: gradients smoothed over batches, then a step with a weight cost outside them.

    $$v \\leftarrow \\mu v + (1 - \\mu)\\,g, \\qquad w \\leftarrow w - \\eta\\,(v + c\\,w).$$

    This is SGD with (heavy-ball) momentum: with $u = v / (1 - \\mu)$ it reads
    $u \\leftarrow \\mu u + g$, $w \\leftarrow (1 - \\eta c)\\,w - \\eta (1 - \\mu)\\,u$, i.e.
    ``torch.optim.SGD(lr=eta * (1 - mu), momentum=mu)`` after a decoupled weight decay
    $w \\leftarrow (1 - \\eta c) w$ (tested). Groups carry ``lr`` (a float, or a device tensor so that
    a captured CUDA graph sees changes), ``momentum`` and ``weight_cost``.
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_cost: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_cost": weight_cost})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            lr, momentum, cost = group["lr"], group["momentum"], group["weight_cost"]
            for p in params:
                if "smoothed" not in self.state[p]:
                    self.state[p]["smoothed"] = torch.zeros_like(p)
            smoothed = [self.state[p]["smoothed"] for p in params]
            torch._foreach_mul_(smoothed, momentum)  # v <- mu v + (1 - mu) g
            torch._foreach_add_(smoothed, [p.grad for p in params], alpha=1 - momentum)
            if cost:
                torch._foreach_mul_(params, 1 - lr * cost)  # w <- (1 - lr c) w ...
            if isinstance(lr, torch.Tensor):  # ... - lr v (a device tensor: no host sync)
                torch._foreach_sub_(params, torch._foreach_mul(smoothed, lr))
            else:
                torch._foreach_add_(params, smoothed, alpha=-lr)


def _group(params: list, base_lr: float, weight_cost: float) -> dict:
    return {"params": params, "base_lr": base_lr, "weight_cost": weight_cost}


def _optimizer(net: FFNet, config: FFConfig) -> torch.optim.Optimizer:
    """The optimizer of ``config`` over the layers (and the read-out), each group with a ``base_lr``.

    On CUDA every learning rate lives in a device tensor, refilled every epoch, so that a captured
    step sees the schedule; Adam is then fused and capturable.
    """
    cuda = net.device.type == "cuda"
    layers = [p for layer in net.layers for p in (layer.linear.weight, layer.linear.bias)]
    if config.optimizer == "sgd":  # the weight cost applies to weights, not to biases
        groups = [
            _group([layer.linear.weight for layer in net.layers], config.lr, config.weight_cost),
            _group([layer.linear.bias for layer in net.layers], config.lr, 0.0),
        ]
        if net.readout is not None:
            groups.append(_group([net.readout.weight], config.readout_lr, config.readout_weight_cost))
            if net.readout.bias is not None:
                groups.append(_group([net.readout.bias], config.readout_lr, 0.0))
    else:
        groups = [{"params": layers, "base_lr": config.lr}]
        if net.readout is not None:
            groups.append({"params": list(net.readout.parameters()), "base_lr": config.readout_lr})
    for group in groups:
        group["lr"] = torch.tensor(group["base_lr"], device=net.device) if cuda else group["base_lr"]
    if config.optimizer == "sgd":
        return SmoothedSGD(groups, lr=config.lr, momentum=config.momentum)
    return torch.optim.Adam(groups, fused=True, capturable=True) if cuda else torch.optim.Adam(groups)


def lr_factor(config: FFConfig, epoch: int) -> float:
    """The factor on every base learning rate in epoch ``epoch`` (0-based) of ``config.lr_schedule``."""
    epoch, total = check_int("epoch", epoch, min=0, max=config.epochs - 1), config.epochs
    if config.lr_schedule == "hinton":
        return 1.0 if epoch + 1 <= total / 2 else (1 + 2 * (total - epoch - 1)) / total
    if config.lr_schedule == "half_linear" and epoch >= total // 2:
        return (total - epoch) / (total - total // 2)
    return 1.0


def _set_lr(optimizer: torch.optim.Optimizer, factor: float) -> None:
    for group in optimizer.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(group["base_lr"] * factor)
        else:
            group["lr"] = group["base_lr"] * factor


# ---------------------------------------------------------------------------------- the step


def train_step(
    net: FFNet, optimizer: torch.optim.Optimizer, config: FFConfig, images, labels, draws, layerwise: bool = False
) -> torch.Tensor:
    """One mini-batch of the simultaneous recipe; returns the layers' statistics (3, num_layers).

    ``draws`` holds, per image, its wrong label (drawn for the epoch: ``redraw="epoch"``) or a
    uniform number in [0, 1) from which this step draws it (``redraw="batch"``). With
    ``layerwise`` each layer's backward pass runs right after its own forward pass, so only one
    layer's activities are kept for backward at a time (FF's memory saving); the gradients, the
    update and so the numbers are those of the joint backward pass.
    """
    num_classes, on = net.num_classes, net.on_value
    x_pos = overlay_one_hot(images, labels, num_classes, on)
    readout_loss = logits = None
    if net.readout is not None:  # a linear softmax learns the label from a neutral-label pass
        logits = net.readout_logits_of(images)
        readout_loss = F.cross_entropy(logits, labels)
    if config.redraw == "epoch":
        wrong = draws
    elif config.negatives == "hard_readout":  # Hinton: from the read-out before its update, true label masked
        wrong = choose_wrong_labels(logits.detach(), labels, draws)
    else:  # uniform over the wrong labels
        wrong = (labels + 1 + (draws * (num_classes - 1)).long().clamp(max=num_classes - 2)) % num_classes
    x_neg = overlay_one_hot(images, wrong, num_classes, on)
    optimizer.zero_grad(set_to_none=not images.is_cuda)  # a captured CUDA graph needs the gradients kept in place
    objective, terms = net.ff_terms(
        x_pos, x_neg, config.peer, same_images=True, layerwise=layerwise, dropout=config.dropout
    )
    if layerwise:  # the layers' backward passes have run inside ff_terms
        objective = 0.0
    if readout_loss is not None:
        objective = objective + readout_loss
    if isinstance(objective, torch.Tensor):
        objective.backward()
    optimizer.step()
    return torch.stack([terms.loss.detach(), terms.pos_goodness, terms.neg_goodness])


def epoch_generator(seed: int, epoch: int | None) -> torch.Generator:
    """The CPU generator of one epoch's draws (negatives, then the order of the batches).

    Derived from ``(seed, epoch)`` alone, so a resumed run draws what an uninterrupted one would
    have. ``epoch=None`` gives the generator of the one batch order of ``batch_order="fixed"``.
    """
    seed = check_seed("seed", seed)
    key = [seed, 2**32] if epoch is None else [seed, check_int("epoch", epoch, min=0)]
    entropy = np.random.SeedSequence(key)
    return torch.Generator().manual_seed(int(entropy.generate_state(1, dtype=np.uint64)[0] >> 1))


def _draws(net: FFNet, config: FFConfig, epoch: int, x, y) -> tuple[torch.Tensor, torch.Generator]:
    generator = epoch_generator(config.seed, epoch)
    if config.redraw == "batch":
        draws = torch.rand(x.shape[0], generator=generator)
    elif config.negatives == "random":
        draws = random_wrong_labels(y.cpu(), net.num_classes, generator)
    else:
        with torch.no_grad():  # checked inputs: no check (and no host sync) inside the epoch
            if config.negatives == "hard":
                scores = net._scores(x, 1024)["net"]
            else:
                scores = torch.cat([net.readout_logits_of(block) for block in x.split(4096)])
        draws = hard_negative_labels(scores.cpu(), y.cpu(), 1.0, generator)
    return draws.to(x.device), generator


def resolve_step(config: FFConfig | GreedyConfig, step: str, device, has_readout: bool) -> str:
    """The step mode ``fit`` runs for ``step`` (``'eager'``, ``'compile'`` or ``'graph'``).

    A ``ValueError`` names what cannot run: a compiled or graphed greedy recipe, a CUDA graph off CUDA,
    negatives drawn from a read-out the net does not have. The command line asks before loading any data.
    """
    check_choice("step", step, STEPS)
    device = torch.device(device)
    if isinstance(config, GreedyConfig):
        if step not in ("auto", "eager"):
            raise ValueError(f"step={step!r}: the greedy recipe runs eagerly; use step='auto'")
        return "eager"
    if config.negatives == "hard_readout" and not has_readout:
        raise ValueError("negatives='hard_readout' draws from the read-out: build the net with a readout")
    if step == "auto":
        return "graph" if device.type == "cuda" else "eager"
    if step == "graph" and device.type != "cuda":
        raise ValueError("step='graph' needs a CUDA device; use step='auto' (eager on a CPU) or 'compile'")
    return step


@contextlib.contextmanager
def _tf32(enabled: bool):
    """TF32 CUDA matmuls while training when asked; the global flags are restored afterwards."""
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


# ---------------------------------------------------------------------------------- fit


def fit(
    net: FFNet,
    config: FFConfig | GreedyConfig,
    x_train,
    y_train,
    x_eval=None,
    y_eval=None,
    *,
    step: str = "auto",
    tf32: bool = True,
    layerwise: bool = False,
    eval_every: int = 1,
    progress: bool = True,
    callback: Callable[[int, FFNet, History, torch.optim.Optimizer], None] | None = None,
    history: History | None = None,
    optimizer_state: dict | None = None,
) -> History:
    """Train ``net`` in place; return the per-epoch ``History``.

    The errors of every rule (``evaluate``) are measured every ``eval_every`` epochs and after the
    last, on ``x_eval`` or, when ``config.validation`` is set, on the last ``validation`` images of
    ``x_train`` (which are then not trained on). ``step``, ``tf32`` and ``layerwise`` (see
    ``train_step``) say how the steps run; they do not change the recipe. ``callback(epoch, net, history,
    optimizer)`` runs after each epoch (the command line saves its record and checkpoints there).
    To resume, pass the ``history`` so far and the optimizer's saved ``optimizer_state``.
    """
    from tqdm.auto import tqdm

    if not isinstance(net, FFNet):
        raise TypeError(f"net must be an FFNet (e.g. build_net(preset.net)), got {type(net).__name__}")
    if not isinstance(config, (FFConfig, GreedyConfig)):
        raise TypeError(f"config must be an FFConfig or a GreedyConfig, got {type(config).__name__}")
    check_int("eval_every", eval_every, min=1)
    check_bool("tf32", tf32)
    check_bool("layerwise", layerwise)
    check_bool("progress", progress)
    x = net.check_inputs(x_train, "x_train")
    y = as_labels(y_train, net.num_classes, num_samples=x.shape[0], device=net.device)
    validation = getattr(config, "validation", 0)
    if validation:
        if x_eval is not None:
            raise ValueError("config.validation holds out part of x_train for evaluation: do not pass x_eval too")
        if validation >= x.shape[0]:
            raise ValueError(f"config.validation ({validation}) must be smaller than the training set ({x.shape[0]})")
        x, x_eval, y, y_eval = x[:-validation], x[-validation:], y[:-validation], y[-validation:]
    elif x_eval is not None:
        x_eval = net.check_inputs(x_eval, "x_eval")
        y_eval = as_labels(y_eval, net.num_classes, num_samples=x_eval.shape[0], device=net.device)
    history = history if history is not None else History()
    history.eval_set = "validation" if validation else "test"
    first_epoch = len(history.epoch_seconds)
    if not first_epoch < config.epochs:
        raise ValueError(f"the history already holds {first_epoch} epochs of {config.epochs}: nothing to resume")
    mode = resolve_step(config, step, net.device, net.readout is not None)
    if isinstance(config, GreedyConfig):
        run_epoch, optimizer = _greedy_epochs(net, config, x, y)
    else:
        run_epoch, optimizer = _minibatch_epochs(net, config, x, y, mode, layerwise)
    history.step = mode
    if optimizer_state is not None:
        try:
            optimizer.load_state_dict(optimizer_state)
        except (KeyError, ValueError) as error:
            raise ValueError(f"optimizer_state does not fit this recipe's optimizer ({error!r})") from None
        for group in optimizer.param_groups:  # the saved learning rates are refilled by the schedule
            if net.device.type == "cuda" and not isinstance(group["lr"], torch.Tensor):
                group["lr"] = torch.tensor(group["lr"], device=net.device)
    net.train()
    bar = tqdm(range(first_epoch, config.epochs), desc="FF training", disable=not progress)
    with _tf32(tf32 and net.device.type == "cuda"):
        for epoch in bar:
            start = time.perf_counter()
            stats = run_epoch(epoch).cpu().tolist()  # the one device sync of the epoch
            history.epoch_seconds.append(time.perf_counter() - start)
            history.layer_loss.append(stats[0])
            history.pos_goodness.append(stats[1])
            history.neg_goodness.append(stats[2])
            postfix = {"loss": f"{sum(stats[0]):.3f}"}
            if x_eval is not None and ((epoch + 1) % eval_every == 0 or epoch + 1 == config.epochs):
                with torch.no_grad():
                    _record_test(history, epoch, _errors(net, x_eval, y_eval))
                postfix["err"] = f"{100 * history.test_error[-1]:.2f}%"
            bar.set_postfix(postfix)
            if callback is not None:
                callback(epoch, net, history, optimizer)
    history.step = getattr(getattr(run_epoch, "runner", None), "mode", history.step)  # a failed capture runs eagerly
    net.eval()
    return history


def _minibatch_epochs(net: FFNet, config: FFConfig, x, y, mode: str, layerwise: bool):
    """The epoch function of the simultaneous recipe and its optimizer."""
    optimizer = _optimizer(net, config)
    draws = torch.empty(x.shape[0], device=x.device, dtype=torch.float32 if config.redraw == "batch" else torch.long)
    fixed_order = torch.randperm(x.shape[0], generator=epoch_generator(config.seed, None)).to(x.device)
    side = _shift_side(config.shift, x.shape[1])
    images = x.clone() if config.shift else x  # the epoch's shifted copies, refilled: one address for a CUDA graph

    def run(index: torch.Tensor) -> torch.Tensor:
        return train_step(net, optimizer, config, images[index], y[index], draws[index], layerwise)

    if mode == "graph":
        from .cuda_graph import GraphStep

        runner = GraphStep(run)
    else:
        runner = torch.compile(run) if mode == "compile" else run
    totals = torch.zeros(3, len(net.layers), device=x.device)

    def run_epoch(epoch: int) -> torch.Tensor:
        _set_lr(optimizer, lr_factor(config, epoch))
        epoch_draws, generator = _draws(net, config, epoch, x, y)
        draws.copy_(epoch_draws)  # one buffer, refilled: a CUDA graph reads its address
        order = fixed_order if config.batch_order == "fixed" else torch.randperm(x.shape[0], generator=generator)
        if config.shift:  # drawn after the rest, so shift=0 leaves every other draw as it was
            offsets = torch.randint(-config.shift, config.shift + 1, (x.shape[0], 2), generator=generator)
            for rows, moves in zip(torch.arange(x.shape[0]).split(8192), offsets.split(8192), strict=True):
                block = x[rows.to(x.device)].reshape(-1, side, side)
                images[rows.to(x.device)] = _shift_square(block, moves.to(x.device), config.shift).flatten(1)
        batches = order.to(x.device).split(config.batch_size)
        totals.zero_()
        with _dropout_seeded(config, epoch, x.device):
            for index in batches:
                totals.add_(runner(index))
        return totals / len(batches)

    run_epoch.runner = runner
    return run_epoch, optimizer


def _shift_side(shift: int, num_features: int) -> int:
    """The side of the square images that ``shift`` moves (0 when nothing moves); refuses what cannot move."""
    side = round(num_features**0.5)
    if shift and side * side != num_features:
        raise ValueError(f"config.shift moves square images, but {num_features} features is not a square number")
    if shift >= max(side, 1):
        raise ValueError(f"config.shift ({shift}) must be smaller than the images' side ({side} pixels)")
    return side


@contextlib.contextmanager
def _dropout_seeded(config: FFConfig, epoch: int, device: torch.device):
    """Dropout draws from torch's generator of ``device``: seeded from ``(seed, epoch)`` for the epoch, so
    a run is reproducible and a resumed one draws what an uninterrupted one would have. On a CPU the
    caller's generator state is restored afterwards; on CUDA the device's generator is left reseeded
    (a captured step keeps that generator: it is reseeded, never swapped)."""
    key = int(np.random.SeedSequence([config.seed, epoch, 1]).generate_state(1, dtype=np.uint64)[0] >> 1)
    with torch.random.fork_rng(devices=[], enabled=bool(config.dropout) and device.type == "cpu"):
        if config.dropout and device.type == "cuda":
            with torch.cuda.device(device):
                torch.cuda.manual_seed(key)
        elif config.dropout:
            torch.default_generator.manual_seed(key)
        yield


def _greedy_epochs(net: FFNet, config: GreedyConfig, x, y):
    """The keras.io recipe: each layer in turn trained by Adam on the whole set."""
    if net.readout is not None:
        raise ValueError("the greedy recipe trains no read-out: build the net with readout=None")
    # One Adam for all layers is one per layer: it steps only the parameters that have gradients.
    optimizer = torch.optim.Adam(net.layers.parameters(), lr=config.lr)
    x_pos = overlay_labels(x, y, net.num_classes, net.on_value)

    def run_epoch(epoch: int) -> torch.Tensor:
        wrong = random_wrong_labels(y.cpu(), net.num_classes, epoch_generator(config.seed, epoch)).to(x.device)
        h_pos, h_neg = x_pos, overlay_one_hot(x, wrong, net.num_classes, net.on_value)
        stats = torch.zeros(3, len(net.layers), device=x.device)
        for k, layer in enumerate(net.layers):
            h = torch.cat([h_pos, h_neg])
            for _ in range(config.steps_per_layer):
                _, terms, objective = layer.ff_terms(h, x.shape[0])
                optimizer.zero_grad(set_to_none=True)
                objective.backward()
                optimizer.step()
                stats[:, k] += torch.stack([terms.loss.detach(), terms.pos_goodness, terms.neg_goodness])
            with torch.no_grad():
                h_pos, h_neg = layer(h_pos), layer(h_neg)
        return stats / config.steps_per_layer

    return run_epoch, optimizer


def _record_test(history: History, epoch: int, result: dict) -> None:
    history.test_epochs.append(epoch + 1)
    for key, value in result.items():
        getattr(history, key).append(value)


# ---------------------------------------------------------------------------------- train


def train(
    preset,
    *,
    config: FFConfig | GreedyConfig | None = None,
    device: str | torch.device | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
    data=None,
    initial_state: dict | None = None,
    **fit_kwargs,
) -> tuple[FFNet, History, dict]:
    """The one training entry point (chapters, command line, benchmarks): data, net, fit, timing, test.

    ``preset`` is a ``Preset`` or its name; ``config`` replaces its training config (e.g.
    ``preset.train.replace(epochs=2)``). ``data`` may hold ``((x_train, y_train), (x_test, y_test))``
    already on the device; otherwise MNIST is loaded (its first ``train_size``/``test_size``
    images when given). ``initial_state`` (a saved ``state_dict``) replaces the fresh weights, to
    resume a run with ``fit``'s ``history`` and ``optimizer_state`` (in ``fit_kwargs``, with
    ``step``, ``tf32``, ``eval_every``, ``progress``, ``callback``). Returns ``(net, history,
    results)``: ``results`` holds the final errors on the test set (``evaluate``'s keys),
    ``train_seconds`` (the timed ``fit``, evaluation included) and ``epoch_seconds_total``
    (training alone), with the sizes and the step that ran.
    """
    import ffbook

    preset = get_preset(preset) if isinstance(preset, str) else preset
    if not isinstance(preset, Preset):
        raise TypeError(f"preset must be a Preset or a preset name, got {type(preset).__name__}")
    config = preset.train if config is None else config
    device = check_device(device or ffbook.default_device())
    if data is None:
        data = mnist_tensors(train_size, test_size, device)
    (x_train, y_train), (x_test, y_test) = data
    net = build_net(preset.net, config.seed, device)
    if initial_state is not None:
        net.load_state_dict(initial_state)
    eval_data = () if getattr(config, "validation", 0) else (x_test, y_test)
    _synchronize(device)
    start = time.perf_counter()
    history = fit(net, config, x_train, y_train, *eval_data, **fit_kwargs)
    _synchronize(device)
    seconds = time.perf_counter() - start
    results = {
        **evaluate(net, x_test, y_test),
        "train_seconds": seconds,
        "epoch_seconds_total": sum(history.epoch_seconds),
        "train_size": int(x_train.shape[0]) - getattr(config, "validation", 0),
        "test_size": int(x_test.shape[0]),
        "step": history.step,
    }
    return net, history, results


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
