"""Named recipes, as data: a network (``FFNetSpec``), its training (a config) and a one-line source.

Measured results and the reasons behind each choice are in ``bench/RESULTS.md``.
"""

from __future__ import annotations

import dataclasses

from .config import FFConfig, GreedyConfig
from .model import FFNetSpec

__all__ = ["Preset", "PRESETS", "get_preset"]

# Hinton's ffnormrows divides by tiny + rms with tiny = exp(-100).
HINTON_TINY = 3.720075976020836e-44


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named recipe: what network to build, how to train it, and where the recipe comes from."""

    name: str
    net: FFNetSpec
    train: FFConfig | GreedyConfig
    source: str

    def with_train(self, **changes) -> Preset:
        """This preset with some training fields changed: ``preset.with_train(epochs=10)``."""
        return dataclasses.replace(self, train=self.train.replace(**changes))

    def to_dict(self) -> dict:
        return {"name": self.name, "net": self.net.to_dict(), "train": self.train.to_dict(), "source": self.source}


def _hinton(name: str, width: int, depth: int, epochs: int, source: str) -> Preset:
    """Hinton's released recipe (ffnew.m) at another size; every other setting as in his code."""
    return Preset(
        name=name,
        net=FFNetSpec(
            dims=(784,) + (width,) * depth,
            threshold=1.0,
            sharpness=float(width),  # sigmoid(sum of squares - width) = sigmoid(width * (mean - 1))
            norm="rms",
            eps=HINTON_TINY,
            on_value=1.0,
            first_scored_layer=1,
            readout="zero",
            init="normal",
        ),
        train=FFConfig(
            epochs=epochs,
            batch_size=100,
            validation=10_000,
            batch_order="fixed",
            optimizer="sgd",
            lr=0.01,
            readout_lr=0.1,
            momentum=0.9,
            weight_cost=0.001,
            readout_weight_cost=0.003,
            lr_schedule="hinton",
            negatives="hard_readout",
            redraw="batch",
            peer=0.03,
        ),
        source=source,
    )


PRESETS: dict[str, Preset] = {
    "hinton-matlab": _hinton(
        "hinton-matlab", 1000, 3, 100, "Hinton's released Matlab code (ffnew.m), ported line by line: 784-1000x3"
    ),
    "hinton-jitter": _hinton(
        "hinton-jitter", 1000, 3, 200, "hinton-matlab plus one-pixel random shifts and dropout 0.1, 200 epochs"
    ).with_train(shift=1, dropout=0.1),
    "hinton-2022": _hinton(
        "hinton-2022", 2000, 4, 60, "Hinton (2022), section 3.3: 4 x 2000, 60 epochs, with his released code's recipe"
    ),
    "cpu-3x1000": Preset(
        name="cpu-3x1000",
        net=FFNetSpec(
            dims=(784, 1000, 1000, 1000),
            threshold=2.0,
            sharpness=10.0,
            norm="rms",
            on_value=4.0,
            first_scored_layer=1,
            readout="torch",
        ),
        train=FFConfig(
            epochs=30, batch_size=100, lr=1e-3, readout_lr=1e-3, lr_schedule="half_linear", negatives="hard_readout"
        ),
        source="ffbook's earlier CPU recipe (Adam, label 4.0, slope 10, negatives per epoch): the measured baseline",
    ),
    "keras-io": Preset(
        name="keras-io",
        net=FFNetSpec(dims=(784, 500, 500), threshold=1.5, sharpness=1.0, norm="l2", on_value="max"),
        train=GreedyConfig(epochs=250, steps_per_layer=50, lr=0.03),
        source="keras.io example 'Using the Forward-Forward Algorithm for Image Classification' (wrong negatives)",
    ),
    "quick": Preset(
        name="quick",
        net=FFNetSpec(dims=(784, 1000), threshold=2.0, sharpness=1.0, norm="rms", on_value=4.0),
        train=FFConfig(epochs=6, batch_size=100, lr=5e-3, lr_schedule="half_linear", negatives="hard"),
        source="ffbook's one-layer CPU recipe: minutes on 2 cores (Adam, label 4.0, hard negatives by goodness)",
    ),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name`` (one of ``PRESETS``)."""
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]
