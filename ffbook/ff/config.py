"""What defines the training of an FF net (the net itself is an ``FFNetSpec``): two recipes' configs.

``FFConfig``: mini-batches, every layer updated at every step (the paper's way, and Hinton's
code). ``GreedyConfig``: the keras.io example's way, the whole training set as one batch, one
layer after another. How a run *executes* (eager, compiled, CUDA graph; TF32) is not part of a
recipe: it is an argument of ``fit``.
"""

from __future__ import annotations

import dataclasses

from ffbook._validate import check_choice, check_int, check_real, check_seed

__all__ = ["FFConfig", "GreedyConfig", "NEGATIVES", "OPTIMIZERS", "LR_SCHEDULES", "BATCH_ORDERS", "REDRAW"]

NEGATIVES = ("random", "hard", "hard_readout")
REDRAW = ("epoch", "batch")
OPTIMIZERS = ("adam", "sgd")
LR_SCHEDULES = ("constant", "half_linear", "hinton")
BATCH_ORDERS = ("shuffled", "fixed")


class _Config:
    def replace(self, **changes):
        """A copy with some fields changed: ``config.replace(epochs=2)``."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return {"kind": type(self).__name__, **dataclasses.asdict(self)}

    @staticmethod
    def from_dict(record: dict):
        """The config a ``to_dict()`` record describes (refused if the record names unknown fields)."""
        record = dict(record)
        kind = {"FFConfig": FFConfig, "GreedyConfig": GreedyConfig}.get(record.pop("kind", None))
        if kind is None:
            raise ValueError("not a training config record: 'kind' must be 'FFConfig' or 'GreedyConfig'")
        names = {field.name for field in dataclasses.fields(kind)}
        unknown = set(record) - names
        if unknown:
            raise ValueError(f"this version of ffbook cannot read a {kind.__name__} with fields {sorted(unknown)}")
        return kind(**record)


@dataclasses.dataclass(frozen=True)
class FFConfig(_Config):
    """Mini-batch training of every layer at once; every field is used by ``fit``.

    * ``epochs``, ``batch_size``, ``seed`` (all of a run's random draws derive from it).
    * ``validation``: the last ``validation`` training images are held out and the per-epoch
      errors are measured on them (Hinton's code: 50,000 to train, 10,000 to validate); 0: the
      per-epoch errors are measured on the test set.
    * ``batch_order``: ``"shuffled"`` (a new order every epoch) or ``"fixed"`` (one order drawn
      once and kept, as Hinton's code does).
    * ``optimizer``: ``"adam"``, or ``"sgd"``: Hinton's smoothed gradients
      $v \\leftarrow \\mu v + (1-\\mu) g$, $w \\leftarrow w - \\eta (v + c\\,w)$ with ``momentum``
      $\\mu$ and ``weight_cost`` $c$ (none on biases; ``readout_weight_cost`` for the read-out).
    * ``lr`` for the layers, ``readout_lr`` for the read-out; ``lr_schedule``: ``"constant"``,
      ``"half_linear"`` (constant for the first half, then linearly towards 0: epoch e of E
      gets $(E - e)/(E - \\lfloor E/2 \\rfloor)$) or ``"hinton"`` (his ``epsgain``: 1 while the
      1-based epoch is at most E/2, then $(1 + 2(E - \\text{epoch}))/E$).
    * ``negatives``: how each negative's wrong label is drawn: ``"random"`` (uniform over the
      wrong labels), ``"hard"`` (from the softmax of every label's goodness, ten passes per image)
      or ``"hard_readout"`` (from the softmax of the read-out's logits on a neutral label);
      ``redraw``: once per ``"epoch"`` for the whole training set, or at every ``"batch"`` from the
      net as it is at that step (Hinton's code, with ``hard_readout``).
    * ``peer``: strength of peer normalisation (Hinton's ``lambdamean``; 0: off), see ``FFNet.ff_terms``.
    * Beyond Hinton's code (both 0: off, and the run is the same number for number):
      ``shift``: every epoch each training image is moved by up to ``shift`` pixels in each
      direction (drawn uniformly per image and axis; ``shift_images``), a new copy per epoch;
      ``dropout``: each layer passes its activities to the next with this fraction zeroed (and the
      rest scaled up) while training; a layer's own goodness, the read-out and prediction see them all.
    """

    epochs: int = 10
    batch_size: int = 100
    seed: int = 0
    validation: int = 0
    batch_order: str = "shuffled"
    optimizer: str = "adam"
    lr: float = 1e-3
    readout_lr: float = 1e-3
    momentum: float = 0.9
    weight_cost: float = 0.0
    readout_weight_cost: float = 0.0
    lr_schedule: str = "constant"
    negatives: str = "random"
    redraw: str = "epoch"
    peer: float = 0.0
    shift: int = 0
    dropout: float = 0.0

    def __post_init__(self) -> None:
        check_int("epochs", self.epochs, min=1)
        check_int("batch_size", self.batch_size, min=1)
        check_seed("seed", self.seed)
        check_int("validation", self.validation, min=0)
        check_choice("batch_order", self.batch_order, BATCH_ORDERS)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_real("lr", self.lr, positive=True)
        check_real("readout_lr", self.readout_lr, positive=True)
        check_real("momentum", self.momentum, min=0.0, max=0.999)
        check_real("weight_cost", self.weight_cost, nonnegative=True)
        check_real("readout_weight_cost", self.readout_weight_cost, nonnegative=True)
        check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        check_choice("negatives", self.negatives, NEGATIVES)
        check_choice("redraw", self.redraw, REDRAW)
        check_real("peer", self.peer, nonnegative=True)
        check_int("shift", self.shift, min=0)  # fit checks it against the images' size
        check_real("dropout", self.dropout, min=0.0, max=0.95)
        if self.optimizer == "adam" and (self.weight_cost or self.readout_weight_cost or self.momentum != 0.9):
            raise ValueError("momentum and the weight costs belong to optimizer='sgd'; Adam here has neither")
        if self.redraw == "batch" and self.negatives == "hard":
            raise ValueError(
                "redraw='batch' needs one forward pass per image: use negatives='hard_readout' or 'random'"
            )


@dataclasses.dataclass(frozen=True)
class GreedyConfig(_Config):
    """The keras.io example's recipe: the whole training set as one batch; each epoch trains layer 1
    for ``steps_per_layer`` Adam steps, then feeds its (fixed) outputs to layer 2, and so on.
    Negatives carry a wrong label drawn uniformly once per epoch."""

    epochs: int = 250
    steps_per_layer: int = 50
    lr: float = 0.03
    seed: int = 0

    def __post_init__(self) -> None:
        check_int("epochs", self.epochs, min=1)
        check_int("steps_per_layer", self.steps_per_layer, min=1)
        check_real("lr", self.lr, positive=True)
        check_seed("seed", self.seed)
