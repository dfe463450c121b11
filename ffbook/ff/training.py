"""Training a Forward-Forward net: the keras.io greedy recipe and the paper's mini-batch recipe.

Two schedules share one loss:

* ``"greedy"`` (keras.io): the whole training set is one batch; each epoch trains layer 1 for
  ``steps_per_layer`` Adam steps, then feeds its (fixed) outputs to layer 2, and so on.
* ``"simultaneous"`` (Hinton 2022, section 3.3): every mini-batch updates all layers at once.
  Each layer's input is detached, so the sum of the layer losses has, for layer k's
  parameters, exactly the gradient of layer k's own loss; one Adam over all parameters is
  then the same as one Adam per layer (Adam's state is per parameter), but it costs a single
  backward pass and a single (fused) optimizer step.

GPU-friendly: data lives on the device, positive inputs are overlaid once, random draws come
from a seeded CPU generator (the same numbers on CPU and GPU), and the per-step losses are
accumulated on the device and read back once per epoch (no ``.item()`` per step).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .core import as_labels, ff_loss, hard_negative_labels, overlay_labels, random_wrong_labels
from .model import FFNet

__all__ = ["FFConfig", "History", "build_net", "fit", "evaluate", "mnist_tensors", "train"]

SCHEDULES = ("greedy", "simultaneous")
NEGATIVES = ("random", "hard")
LR_SCHEDULES = ("constant", "half_linear")
AMP_MODES = ("none", "bf16")


@dataclasses.dataclass(frozen=True)
class FFConfig:
    """Everything that defines a run; presets are instances of it (see ``presets.py``).

    Speed options: ``tf32`` lets CUDA matmuls use TF32 (on by default; fp32 accumulation, about
    10 significant bits per input, which FF tolerates like backprop does); ``amp="bf16"`` runs
    the layers under bfloat16 autocast. bf16 is experimental: in our CPU check on a toy task it
    did not learn where float32 did, so no preset uses it. ``compile=True`` wraps the training
    step in ``torch.compile`` (not yet measured on a GPU; ``bench/ff_torch.py --compile`` does that).
    """

    name: str = "custom"
    dims: tuple[int, ...] = (784, 500, 500)
    threshold: float = 1.5
    goodness: str = "mean"
    norm: str = "l2"
    on_value: str | float = "max"
    first_scored_layer: int = 0
    readout: bool = False
    schedule: str = "simultaneous"
    epochs: int = 10
    batch_size: int | None = 100
    steps_per_layer: int = 1
    lr: float = 1e-3
    weight_decay: float = 0.0
    lr_schedule: str = "constant"
    negatives: str = "random"
    hard_temperature: float = 1.0
    readout_lr: float = 1e-3
    seed: int = 0
    amp: str = "none"
    tf32: bool = True
    compile: bool = False
    source: str = ""

    def __post_init__(self) -> None:
        for name, value, choices in (
            ("schedule", self.schedule, SCHEDULES),
            ("negatives", self.negatives, NEGATIVES),
            ("lr_schedule", self.lr_schedule, LR_SCHEDULES),
            ("amp", self.amp, AMP_MODES),
        ):
            if value not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {value!r}")
        for name in ("epochs", "steps_per_layer"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.batch_size is not None and (not isinstance(self.batch_size, int) or self.batch_size < 1):
            raise ValueError(f"batch_size must be a positive int or None (full batch), got {self.batch_size!r}")
        if self.schedule == "greedy" and self.batch_size is not None:
            raise ValueError("the greedy schedule trains on the full batch: set batch_size=None")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")

    def replace(self, **changes) -> FFConfig:
        """A copy with some fields changed: ``config.replace(epochs=2)``."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class History:
    """Per-epoch records: mean loss and goodness of every layer, test errors, wall-clock."""

    layer_loss: list = dataclasses.field(default_factory=list)
    pos_goodness: list = dataclasses.field(default_factory=list)
    neg_goodness: list = dataclasses.field(default_factory=list)
    test_epochs: list = dataclasses.field(default_factory=list)
    test_error: list = dataclasses.field(default_factory=list)
    readout_error: list = dataclasses.field(default_factory=list)
    epoch_seconds: list = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def build_net(config: FFConfig, device: str | torch.device = "cpu") -> FFNet:
    """The config's network, initialised from ``config.seed`` on the CPU (so every device starts equal)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        net = FFNet(
            config.dims,
            threshold=config.threshold,
            goodness=config.goodness,
            norm=config.norm,
            on_value=config.on_value,
            first_scored_layer=config.first_scored_layer,
            readout=config.readout,
        )
    return net.to(device)


def mnist_tensors(train_size: int | None = None, test_size: int | None = None, device="cpu"):
    """MNIST as float tensors in [0, 1] of shape (N, 784) on ``device``; the first samples when sized."""
    from ffbook.data import load_mnist

    (x_train, y_train), (x_test, y_test) = load_mnist()
    as_x = lambda x, n: torch.from_numpy(x[:n].reshape(len(x[:n]), -1).astype(np.float32) / 255.0).to(device)
    as_y = lambda y, n: torch.from_numpy(y[:n].astype(np.int64)).to(device)
    return (as_x(x_train, train_size), as_y(y_train, train_size)), (as_x(x_test, test_size), as_y(y_test, test_size))


@torch.no_grad()
def evaluate(net: FFNet, x, y, batch_size: int = 1024) -> dict:
    """Test error of goodness prediction (and of the read-out when the net has one), in [0, 1]."""
    x = net.check_inputs(x)
    y = as_labels(y, net.num_classes, num_samples=x.shape[0], device=x.device)
    result = {"error": float((net.predict(x, batch_size) != y).float().mean())}
    if net.readout is not None:
        result["readout_error"] = float((net.predict_readout(x) != y).float().mean())
    return result


@contextlib.contextmanager
def _precision(config: FFConfig, device: torch.device):
    """TF32 matmuls on CUDA when asked (restored afterwards) and optional bf16 autocast."""
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = bool(config.tf32)
    try:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.amp == "bf16"):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def _layer_terms(net: FFNet, x_pos: torch.Tensor, x_neg: torch.Tensor):
    """Per-layer losses and mean goodness for one batch; positives and negatives share each matmul."""
    n = x_pos.shape[0]
    h = torch.cat([x_pos, x_neg])
    losses, g_pos_means, g_neg_means = [], [], []
    for layer in net.layers:
        h = layer(h.detach())
        g = layer.goodness(h).float()
        losses.append(ff_loss(g[:n], g[n:], layer.threshold))
        g_pos_means.append(g[:n].detach().mean())
        g_neg_means.append(g[n:].detach().mean())
    return torch.stack(losses), torch.stack(g_pos_means), torch.stack(g_neg_means)


def _batch_loss(net: FFNet, x_pos: torch.Tensor, x_neg: torch.Tensor, y: torch.Tensor):
    losses, g_pos, g_neg = _layer_terms(net, x_pos, x_neg)
    total = losses.sum()
    if net.readout is not None:
        total = total + F.cross_entropy(net.readout(net.readout_features(x_pos)).float(), y)
    return total, torch.stack([losses.detach(), g_pos, g_neg])


def _negative_labels(net: FFNet, config: FFConfig, x, y, generator: torch.Generator) -> torch.Tensor:
    if config.negatives == "hard":
        with _precision(config, x.device):
            scores = net.goodness_per_label(x)
        return hard_negative_labels(scores.cpu(), y.cpu(), config.hard_temperature, generator).to(x.device)
    return random_wrong_labels(y.cpu(), net.num_classes, generator).to(x.device)


def _learning_rate(config: FFConfig, epoch: int) -> float:
    """Constant, or constant for the first half and then linearly down towards 0 (loeweX's cool-down)."""
    if config.lr_schedule == "constant" or epoch < config.epochs // 2:
        return config.lr
    remaining = config.epochs - epoch
    return config.lr * remaining / (config.epochs - config.epochs // 2)


def _make_optimizer(params, lr: float, weight_decay: float, device: torch.device) -> torch.optim.Adam:
    fused = device.type == "cuda"
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=fused)


def _epoch_simultaneous(net, config, optimizer, step_fn, x_pos_all, x_neg_all, y, generator) -> torch.Tensor:
    permutation = torch.randperm(x_pos_all.shape[0], generator=generator).to(x_pos_all.device)
    totals = torch.zeros(3, len(net.layers), device=x_pos_all.device)
    batches = permutation.split(config.batch_size or x_pos_all.shape[0])
    for index in batches:
        optimizer.zero_grad(set_to_none=True)
        total, stats = step_fn(net, x_pos_all[index], x_neg_all[index], y[index])
        total.backward()
        optimizer.step()
        totals += stats
    return totals / len(batches)


def _epoch_greedy(net, config, optimizers, x_pos, x_neg) -> torch.Tensor:
    stats = torch.zeros(3, len(net.layers), device=x_pos.device)
    n = x_pos.shape[0]
    h = torch.cat([x_pos, x_neg])
    for k, (layer, optimizer) in enumerate(zip(net.layers, optimizers, strict=True)):
        for _ in range(config.steps_per_layer):
            optimizer.zero_grad(set_to_none=True)
            g = layer.goodness(layer(h)).float()
            loss = ff_loss(g[:n], g[n:], layer.threshold)
            loss.backward()
            optimizer.step()
            stats[:, k] += torch.stack([loss.detach(), g[:n].detach().mean(), g[n:].detach().mean()])
        with torch.no_grad():
            h = layer(h)
    return stats / config.steps_per_layer


def fit(
    net: FFNet,
    config: FFConfig,
    x_train,
    y_train,
    x_test=None,
    y_test=None,
    *,
    eval_every: int = 1,
    progress: bool = True,
    callback: Callable[[int, FFNet, History], None] | None = None,
) -> History:
    """Train ``net`` in place with ``config``'s schedule; return the per-epoch ``History``.

    The test error is measured every ``eval_every`` epochs (and after the last) when test data
    is given. ``callback(epoch, net, history)`` runs after each epoch (e.g. to save snapshots).
    """
    from tqdm.auto import tqdm

    device = net.device
    x = net.check_inputs(x_train, "x_train")
    y = as_labels(y_train, net.num_classes, num_samples=x.shape[0], device=device)
    has_test = x_test is not None
    if has_test:
        x_test = net.check_inputs(x_test, "x_test")
        y_test = as_labels(y_test, net.num_classes, num_samples=x_test.shape[0], device=device)
    if config.readout and net.readout is None:
        raise ValueError("config.readout is True but the net has no read-out; build it with build_net(config)")
    generator = torch.Generator().manual_seed(config.seed)
    x_pos = overlay_labels(x, y, net.num_classes, net.on_value)
    history = History()
    if config.schedule == "greedy":
        optimizers = [
            _make_optimizer(layer.parameters(), config.lr, config.weight_decay, device) for layer in net.layers
        ]
    else:
        groups = [{"params": list(net.layers.parameters()), "lr": config.lr}]
        if net.readout is not None:
            groups.append({"params": list(net.readout.parameters()), "lr": config.readout_lr, "weight_decay": 0.0})
        optimizers = [_make_optimizer(groups, config.lr, config.weight_decay, device)]
        step_fn = torch.compile(_batch_loss) if config.compile else _batch_loss
    net.train()
    bar = tqdm(range(config.epochs), desc=f"FF {config.name}", disable=not progress)
    for epoch in bar:
        start = time.perf_counter()
        lr = _learning_rate(config, epoch)
        for optimizer in optimizers:
            optimizer.param_groups[0]["lr"] = lr
        with _precision(config, device):
            x_neg = overlay_labels(x, _negative_labels(net, config, x, y, generator), net.num_classes, net.on_value)
            if config.schedule == "greedy":
                stats = _epoch_greedy(net, config, optimizers, x_pos, x_neg)
            else:
                stats = _epoch_simultaneous(net, config, optimizers[0], step_fn, x_pos, x_neg, y, generator)
        stats = stats.cpu().tolist()  # the one device sync of the epoch
        history.epoch_seconds.append(time.perf_counter() - start)
        history.layer_loss.append(stats[0])
        history.pos_goodness.append(stats[1])
        history.neg_goodness.append(stats[2])
        postfix = {"loss": f"{sum(stats[0]):.3f}"}
        if has_test and ((epoch + 1) % eval_every == 0 or epoch + 1 == config.epochs):
            with _precision(config, device):
                result = evaluate(net, x_test, y_test)
            history.test_epochs.append(epoch + 1)
            history.test_error.append(result["error"])
            postfix["test_err"] = f"{100 * result['error']:.2f}%"
            if "readout_error" in result:
                history.readout_error.append(result["readout_error"])
        bar.set_postfix(postfix)
        if callback is not None:
            callback(epoch, net, history)
    net.eval()
    return history


def train(config: FFConfig, device: str | None = None, train_size=None, test_size=None, **fit_kwargs):
    """Load MNIST, build the config's net on ``device`` and fit it; return ``(net, history, results)``."""
    import ffbook

    device = torch.device(device or ffbook.default_device())
    (x_train, y_train), (x_test, y_test) = mnist_tensors(train_size, test_size, device)
    net = build_net(config, device)
    start = time.perf_counter()
    history = fit(net, config, x_train, y_train, x_test, y_test, **fit_kwargs)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    results = {"train_seconds": seconds, **evaluate(net, x_test, y_test)}
    results["test_error"] = results.pop("error")
    return net, history, results
