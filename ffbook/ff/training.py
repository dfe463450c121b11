"""Training a Forward-Forward net: the keras.io greedy recipe and the paper's mini-batch recipe.

Two schedules share one loss (``FFLayer.ff_terms``):

* ``"greedy"`` (keras.io): the whole training set is one batch; each epoch trains layer 1 for
  ``steps_per_layer`` Adam steps, then feeds its (fixed) outputs to layer 2, and so on.
* ``"simultaneous"`` (Hinton 2022, section 3.3): every mini-batch updates all layers at once with
  ``FFNet.training_loss``. Each layer's input is detached, so the sum of the layer losses has, for
  layer k's parameters, exactly the gradient of layer k's own loss; one Adam over all parameters
  is then the same as one Adam per layer (Adam's state is per parameter), but it costs a single
  backward pass and a single (fused) optimizer step.

How a simultaneous step runs (``FFConfig.step``): ``"eager"`` (plain PyTorch, the reference),
``"compile"`` (the loss and its backward through ``torch.compile``), ``"graph"`` (CUDA only: the
whole step, the batch gather, forward, backward and fused Adam, captured once as a CUDA graph
and replayed, so a step costs one launch instead of hundreds), or ``"auto"`` (graph on CUDA,
eager elsewhere). Random draws come from a seeded CPU generator (the same numbers on every
device), the data stay on the device, and the per-step statistics are summed on the device and
read back once per epoch: there is no host sync inside an epoch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch

from ffbook._validate import check_bool, check_int, check_real

from .core import (
    as_labels,
    check_seed,
    hard_negative_labels,
    overlay_labels,
    random_wrong_labels,
)
from .model import FFNet, FFNetSpec

__all__ = ["FFConfig", "History", "build_net", "fit", "evaluate", "mnist_tensors", "train"]

SCHEDULES = ("greedy", "simultaneous")
NEGATIVES = ("random", "hard", "hard_readout")
LR_SCHEDULES = ("constant", "half_linear")
STEPS = ("auto", "eager", "compile", "graph")


@dataclasses.dataclass(frozen=True)
class FFConfig:
    """What defines the training of an FF net (the net itself is an ``FFNetSpec``); every field is used.

    * ``schedule``: ``"simultaneous"`` (mini-batches of ``batch_size``, all layers per step) or
      ``"greedy"`` (full batch, ``steps_per_layer`` Adam steps per layer and epoch, no read-out).
    * ``lr`` and ``lr_schedule``: Adam's learning rate for the FF layers, constant or
      ``"half_linear"`` (constant for the first half of the epochs, then linearly down towards 0,
      loeweX's cool-down). ``readout_lr``: the read-out's (default: ``lr``); the read-out chases
      features that keep changing, and learns much faster with a larger rate (loeweX uses 10x).
      The cool-down scales both.
    * ``negatives``: the wrong label of each negative, redrawn every epoch: ``"random"`` (uniform
      over the wrong labels), ``"hard"`` (drawn from the softmax of every label's summed goodness,
      ten forward passes per image) or ``"hard_readout"`` (from the softmax of the read-out's
      logits on a neutral label, one forward pass per image, as in Hinton's Matlab code).
    * ``tf32``: let CUDA matrix products use TF32 (float32 accumulation); no effect on a CPU.
    * ``step``: how a simultaneous step runs (see the module's docstring).
    """

    schedule: str = "simultaneous"
    epochs: int = 10
    batch_size: int | None = 100
    steps_per_layer: int = 1
    lr: float = 1e-3
    readout_lr: float | None = None
    lr_schedule: str = "constant"
    negatives: str = "random"
    seed: int = 0
    tf32: bool = True
    step: str = "auto"

    def __post_init__(self) -> None:
        for name, value, choices in (
            ("schedule", self.schedule, SCHEDULES),
            ("negatives", self.negatives, NEGATIVES),
            ("lr_schedule", self.lr_schedule, LR_SCHEDULES),
            ("step", self.step, STEPS),
        ):
            if value not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {value!r}")
        check_int("epochs", self.epochs, min=1)
        check_int("steps_per_layer", self.steps_per_layer, min=1)
        check_seed(self.seed)
        check_real("lr", self.lr, positive=True)
        if self.readout_lr is not None:
            check_real("readout_lr", self.readout_lr, positive=True)
        check_bool("tf32", self.tf32)
        if self.schedule == "greedy":
            if self.batch_size is not None:
                raise ValueError("the greedy schedule trains on the full batch: set batch_size=None")
            if self.step not in ("auto", "eager"):
                raise ValueError(f"step={self.step!r} applies to the simultaneous schedule only; use step='auto'")
            if self.readout_lr is not None:
                raise ValueError("readout_lr: the greedy schedule trains no read-out; leave it at None")
        else:
            if self.batch_size is not None:
                check_int("batch_size", self.batch_size, min=1)
            if self.steps_per_layer != 1:
                raise ValueError("steps_per_layer applies to the greedy schedule only; leave it at 1")

    def replace(self, **changes) -> FFConfig:
        """A copy with some fields changed: ``config.replace(epochs=2)``."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class History:
    """Per-epoch records of a run; the one result type of ``fit``, ``train`` and the command line.

    ``layer_loss``, ``pos_goodness``, ``neg_goodness``: per epoch, one mean per layer.
    At every evaluated epoch (``test_epochs``): ``test_error`` (the net's goodness rule),
    ``layer_test_errors`` (each layer's goodness alone), ``all_layers_test_error`` and
    ``readout_test_error`` (when the net has a read-out). ``epoch_seconds``: training time of each
    epoch (negative sampling included, evaluation excluded).
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

    for name, size in (("train_size", train_size), ("test_size", test_size)):
        if size is not None:
            check_int(name, size, min=1)
    (x_train, y_train), (x_test, y_test) = load_mnist()

    def tensors(x, y, n):
        x, y = x[:n], y[:n]
        return torch.from_numpy(x.reshape(len(x), -1).astype(np.float32) / 255.0).to(device), torch.from_numpy(
            y.astype(np.int64)
        ).to(device)

    return tensors(x_train, y_train, train_size), tensors(x_test, y_test, test_size)


def _errors_from_scores(per_layer: torch.Tensor, y: torch.Tensor, first_scored_layer: int) -> dict:
    """Test errors of goodness prediction from per-layer scores (N, C, L)."""

    def error(scores):
        return float((scores.argmax(dim=1) != y).float().mean())

    return {
        "test_error": error(per_layer[:, :, first_scored_layer:].sum(dim=2)),
        "layer_test_errors": [error(per_layer[:, :, k]) for k in range(per_layer.shape[2])],
        "all_layers_test_error": error(per_layer.sum(dim=2)),
    }


@torch.no_grad()
def evaluate(net: FFNet, x, y, batch_size: int = 1024) -> dict:
    """Error rates (fractions in [0, 1]) of every way the net can predict, on ``x`` (usually the test set).

    ``test_error``: the net's rule (goodness summed from ``first_scored_layer`` on; the paper's rule
    for its presets); ``layer_test_errors``: each layer's goodness alone; ``all_layers_test_error``:
    every layer summed; ``readout_test_error``: the linear read-out on a neutral label (if any).
    """
    x = net.check_inputs(x)
    y = as_labels(y, net.num_classes, num_samples=x.shape[0], device=x.device)
    result = _errors_from_scores(net.goodness_per_layer_and_label(x, batch_size), y, net.first_scored_layer)
    if net.readout is not None:
        result["readout_test_error"] = float((net.predict_readout(x) != y).float().mean())
    return result


@contextlib.contextmanager
def _tf32(enabled: bool):
    """TF32 CUDA matmuls while training when asked; the global flags are restored afterwards."""
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def _negative_labels(net: FFNet, config: FFConfig, x, y, generator: torch.Generator) -> torch.Tensor:
    """This epoch's wrong labels, drawn on the CPU from ``generator`` (so every device agrees)."""
    if config.negatives == "hard":
        scores = net.goodness_per_label(x)
    elif config.negatives == "hard_readout":
        scores = net.readout_logits(x)
    else:
        return random_wrong_labels(y.cpu(), net.num_classes, generator).to(x.device)
    return hard_negative_labels(scores.cpu(), y.cpu(), 1.0, generator).to(x.device)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The CPU generator of one epoch's draws (negatives, then the order of the batches).

    Derived from ``(seed, epoch)`` alone, so a resumed run draws what an uninterrupted one would have.
    """
    entropy = np.random.SeedSequence([check_seed(seed), check_int("epoch", epoch, min=0)])
    return torch.Generator().manual_seed(int(entropy.generate_state(1, dtype=np.uint64)[0] >> 1))


def learning_rate(config: FFConfig, epoch: int, base: float | None = None) -> float:
    """``base`` (default ``config.lr``) in ``epoch``: constant, or constant for the first half of the
    epochs and then linearly down towards 0 (loeweX's cool-down)."""
    base = config.lr if base is None else base
    if config.lr_schedule == "constant" or epoch < config.epochs // 2:
        return base
    remaining = config.epochs - epoch
    return base * remaining / (config.epochs - config.epochs // 2)


def _adam(groups: list[dict], device: torch.device) -> torch.optim.Adam:
    """Adam over parameter groups that each carry a ``base_lr``; on CUDA fused and graph-capturable,
    with each learning rate in a device tensor (refilled every epoch)."""
    for group in groups:
        group["lr"] = group["base_lr"]
        if device.type == "cuda":
            group["lr"] = torch.tensor(group["base_lr"], dtype=torch.float32, device=device)
    if device.type == "cuda":
        return torch.optim.Adam(groups, fused=True, capturable=True)
    return torch.optim.Adam(groups)


def _set_lr(optimizer: torch.optim.Optimizer, config: FFConfig, epoch: int) -> None:
    for group in optimizer.param_groups:  # every group: the layers' and the read-out's
        lr = learning_rate(config, epoch, group["base_lr"])
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr


class _SimultaneousStep:
    """One mini-batch step of the simultaneous schedule: gather, ``training_loss``, backward, Adam.

    The batch is given as indices into the epoch's positive and negative inputs; the step's
    statistics (loss and mean goodness of every layer) are added to ``self.totals`` on the
    device. With ``mode="graph"`` the first ``WARMUP`` steps run eagerly on a side stream (they
    are real steps; they also create Adam's state), the next one is captured as a CUDA graph,
    and every later full-size step replays it. If the capture fails, the run says so once and
    continues eagerly.
    """

    WARMUP = 3

    def __init__(self, net: FFNet, optimizer, x_pos, x_neg, y, mode: str) -> None:
        self.net, self.optimizer, self.mode = net, optimizer, mode
        self.x_pos, self.x_neg, self.y = x_pos, x_neg, y
        self.totals = torch.zeros(3, len(net.layers), device=x_pos.device)
        self.loss_fn = torch.compile(net.training_loss) if mode == "compile" else net.training_loss
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_index: torch.Tensor | None = None
        self.eager_steps = 0

    def _body(self, index: torch.Tensor) -> None:
        total, stats = self.loss_fn(self.x_pos[index], self.x_neg[index], self.y[index])
        total.backward()
        self.optimizer.step()
        self.totals += stats

    def _eager(self, index: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self._body(index)

    def __call__(self, index: torch.Tensor) -> None:
        if self.mode != "graph":
            return self._eager(index)
        if self.graph is not None and index.shape == self.static_index.shape:
            self.static_index.copy_(index)
            self.graph.replay()
            return
        if self.graph is not None or self.eager_steps < self.WARMUP:
            self.eager_steps += 1
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                self._eager(index)
            torch.cuda.current_stream().wait_stream(side)
            return
        self._capture(index)

    def _capture(self, index: torch.Tensor) -> None:
        self.static_index = index.clone()
        self.optimizer.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                self._body(self.static_index)
        except Exception as error:  # capture is an optimisation: fall back to the reference path
            torch.cuda.synchronize()
            warnings.warn(f"CUDA graph capture failed ({error}); training continues eagerly", stacklevel=3)
            self.mode = "eager"
            return self._eager(index)
        self.graph = graph
        graph.replay()  # capturing records the step without running it


def _resolve_step(config: FFConfig, device: torch.device) -> str:
    if config.schedule == "greedy":
        return "eager"
    if config.step == "auto":
        return "graph" if device.type == "cuda" else "eager"
    if config.step == "graph" and device.type != "cuda":
        raise ValueError("step='graph' needs a CUDA device; use step='auto' (eager on a CPU) or 'compile'")
    return config.step


def _epoch_greedy(net, config, optimizers, x_pos, x_neg) -> torch.Tensor:
    stats = torch.zeros(3, len(net.layers), device=x_pos.device)
    n = x_pos.shape[0]
    h = torch.cat([x_pos, x_neg])
    for k, (layer, optimizer) in enumerate(zip(net.layers, optimizers, strict=True)):
        for _ in range(config.steps_per_layer):
            optimizer.zero_grad(set_to_none=True)
            terms = layer.ff_terms(h, n)[1]
            terms.loss.backward()
            optimizer.step()
            stats[:, k] += torch.stack([terms.loss.detach(), terms.pos_goodness, terms.neg_goodness])
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
    callback: Callable[[int, FFNet, History, list], None] | None = None,
    history: History | None = None,
    optimizer_state: list | None = None,
) -> History:
    """Train ``net`` in place with ``config``; return the per-epoch ``History``.

    The test errors (see ``evaluate``) are measured every ``eval_every`` epochs and after the
    last when test data is given. ``callback(epoch, net, history, optimizers)`` runs after each
    epoch (the command line uses it to save the record and checkpoints). To resume an interrupted run, pass
    the ``history`` so far and the ``optimizer_state`` saved with it (``fit_state``): training
    continues at epoch ``len(history.epoch_seconds)`` with the same random draws as an
    uninterrupted run.
    """
    from tqdm.auto import tqdm

    if not isinstance(net, FFNet):
        raise TypeError(f"net must be an FFNet (e.g. build_net(preset.net)), got {type(net).__name__}")
    if not isinstance(config, FFConfig):
        raise TypeError(f"config must be an FFConfig, got {type(config).__name__}")
    check_int("eval_every", eval_every, min=1)
    if config.schedule == "greedy" and net.readout is not None:
        raise ValueError("the greedy schedule does not train a read-out: build the net with readout=False")
    if config.negatives == "hard_readout" and net.readout is None:
        raise ValueError("negatives='hard_readout' draws from the read-out: build the net with readout=True")
    device = net.device
    x = net.check_inputs(x_train, "x_train")
    y = as_labels(y_train, net.num_classes, num_samples=x.shape[0], device=device)
    has_test = x_test is not None
    if has_test:
        x_test = net.check_inputs(x_test, "x_test")
        y_test = as_labels(y_test, net.num_classes, num_samples=x_test.shape[0], device=device)
    mode = _resolve_step(config, device)
    history = history if history is not None else History()
    history.step = mode
    first_epoch = len(history.epoch_seconds)
    if not first_epoch < config.epochs:
        raise ValueError(f"the history already holds {first_epoch} epochs of {config.epochs}: nothing to resume")

    if config.schedule == "greedy":
        optimizers = [_adam([{"params": layer.parameters(), "base_lr": config.lr}], device) for layer in net.layers]
    else:
        groups = [{"params": net.layers.parameters(), "base_lr": config.lr}]
        if net.readout is not None:
            groups.append({"params": net.readout.parameters(), "base_lr": config.readout_lr or config.lr})
        optimizers = [_adam(groups, device)]
    if optimizer_state is not None:
        for optimizer, state in zip(optimizers, optimizer_state, strict=True):
            optimizer.load_state_dict(state)
    x_pos = overlay_labels(x, y, net.num_classes, net.on_value)
    x_neg = torch.empty_like(x_pos)  # one buffer, refilled every epoch (a CUDA graph reads its address)
    if config.schedule == "simultaneous":
        step = _SimultaneousStep(net, optimizers[0], x_pos, x_neg, y, mode)
    net.train()
    bar = tqdm(range(first_epoch, config.epochs), desc="FF training", disable=not progress)
    with _tf32(config.tf32 and device.type == "cuda"):
        for epoch in bar:
            start = time.perf_counter()
            for optimizer in optimizers:
                _set_lr(optimizer, config, epoch)
            generator = epoch_generator(config.seed, epoch)
            wrong = _negative_labels(net, config, x, y, generator)
            permutation = torch.randperm(x.shape[0], generator=generator).to(device)
            x_neg.copy_(overlay_labels(x, wrong, net.num_classes, net.on_value))
            if config.schedule == "greedy":
                stats = _epoch_greedy(net, config, optimizers, x_pos, x_neg)
            else:
                step.totals.zero_()
                batches = permutation.split(config.batch_size or x.shape[0])
                for index in batches:
                    step(index)
                stats = step.totals / len(batches)
            stats = stats.cpu().tolist()  # the one device sync of the epoch
            history.epoch_seconds.append(time.perf_counter() - start)
            history.layer_loss.append(stats[0])
            history.pos_goodness.append(stats[1])
            history.neg_goodness.append(stats[2])
            postfix = {"loss": f"{sum(stats[0]):.3f}"}
            if has_test and ((epoch + 1) % eval_every == 0 or epoch + 1 == config.epochs):
                _record_test(history, epoch, evaluate(net, x_test, y_test))
                postfix["test_err"] = f"{100 * history.test_error[-1]:.2f}%"
            bar.set_postfix(postfix)
            if callback is not None:
                callback(epoch, net, history, optimizers)
    if config.schedule == "simultaneous":
        history.step = step.mode
    net.eval()
    return history


def _record_test(history: History, epoch: int, result: dict) -> None:
    history.test_epochs.append(epoch + 1)
    history.test_error.append(result["test_error"])
    history.layer_test_errors.append(result["layer_test_errors"])
    history.all_layers_test_error.append(result["all_layers_test_error"])
    if "readout_test_error" in result:
        history.readout_test_error.append(result["readout_test_error"])


def train(
    preset,
    *,
    config: FFConfig | None = None,
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
    resume a run together with ``fit``'s ``history`` and ``optimizer_state``.
    Returns ``(net, history, results)``; ``results`` holds the final errors
    (``evaluate``'s keys), ``train_seconds`` (the timed ``fit``, evaluation included) and
    ``epoch_seconds_total`` (training alone), with the sizes and the step that ran.
    """
    import ffbook

    from .presets import Preset, get_preset

    preset = get_preset(preset) if isinstance(preset, str) else preset
    if not isinstance(preset, Preset):
        raise TypeError(f"preset must be a Preset or a preset name, got {type(preset).__name__}")
    config = preset.train if config is None else config
    device = torch.device(device or ffbook.default_device())
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but PyTorch sees no CUDA device")
    if data is None:
        data = mnist_tensors(train_size, test_size, device)
    (x_train, y_train), (x_test, y_test) = data
    net = build_net(preset.net, config.seed, device)
    if initial_state is not None:
        net.load_state_dict(initial_state)
    _synchronize(device)
    start = time.perf_counter()
    history = fit(net, config, x_train, y_train, x_test, y_test, **fit_kwargs)
    _synchronize(device)
    seconds = time.perf_counter() - start
    results = {
        **evaluate(net, x_test, y_test),
        "train_seconds": seconds,
        "epoch_seconds_total": sum(history.epoch_seconds),
        "train_size": int(x_train.shape[0]),
        "test_size": int(x_test.shape[0]),
        "step": history.step,
    }
    return net, history, results


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
