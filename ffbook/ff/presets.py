"""Named recipes: a network (``FFNetSpec``) and its training (``FFConfig``), each with its source."""

from __future__ import annotations

import dataclasses

from .model import FFNetSpec
from .training import FFConfig

__all__ = ["Preset", "PRESETS", "get_preset"]


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named recipe: what network to build, how to train it, and where the recipe comes from."""

    name: str
    net: FFNetSpec
    train: FFConfig
    source: str

    def to_dict(self) -> dict:
        return {"name": self.name, "net": self.net.to_dict(), "train": self.train.to_dict(), "source": self.source}


PRESETS: dict[str, Preset] = {
    "keras-io": Preset(
        name="keras-io",
        net=FFNetSpec(dims=(784, 500, 500), threshold=1.5, goodness="mean", norm="l2", on_value="max"),
        train=FFConfig(
            schedule="greedy", batch_size=None, epochs=250, steps_per_layer=50, lr=0.03, negatives="random"
        ),
        source=(
            "keras.io example 'Using the Forward-Forward Algorithm for Image Classification': 784-500-500, "
            "the 60,000 training images as one batch, threshold 1.5, mean-of-squares goodness, L2 input "
            "normalisation, Adam 0.03 per layer, 250 epochs x 50 steps per layer, greedy layer by layer; "
            "reported test accuracy 97.56% (2.44% error). One change: negatives always carry a wrong label."
        ),
    ),
    "hinton-2022": Preset(
        name="hinton-2022",
        net=FFNetSpec(
            dims=(784, 2000, 2000, 2000, 2000),
            threshold=2000.0,
            goodness="sum",
            norm="rms",
            on_value=4.0,
            first_scored_layer=1,
            readout=True,
        ),
        train=FFConfig(
            schedule="simultaneous",
            epochs=60,
            batch_size=100,
            lr=3e-3,
            lr_schedule="half_linear",
            negatives="hard_readout",
        ),
        source=(
            "Hinton (2022), 'The Forward-Forward Algorithm', section 3.3: four hidden layers of 2000 ReLUs, "
            "60 epochs, mini-batches, label one-hot in the first 10 pixels, prediction by the goodness of "
            "every label summed over all layers but the first; reported test error 1.36%. The paper leaves "
            "the optimiser open; ours, from short CPU runs at width 500 (4 epochs on 10,000 images): batch 100, "
            "Adam 3e-3 (better than 1e-3 there) for 30 epochs then cooled linearly to 0 (loeweX's schedule, "
            "applied to every parameter), RMS length normalisation, sum-of-squares goodness against a "
            "threshold equal to the width (loeweX's logits, sum minus width: with it the four layers alone "
            "erred 8/14/25/23% there, against 13/21/68/84% with a mean of squares against 2), label pixel "
            "at 4.0, hard negatives redrawn every epoch from the softmax of a linear read-out on a neutral "
            "label (one forward pass per image, as in Hinton's Matlab code), and that read-out's own "
            "predictions reported separately."
        ),
    ),
    "cpu-3x1000": Preset(
        name="cpu-3x1000",
        net=FFNetSpec(
            dims=(784, 1000, 1000, 1000),
            threshold=2.0,
            goodness="mean",
            norm="rms",
            on_value=4.0,
            first_scored_layer=1,
            readout=True,
            sharpness=10.0,
        ),
        train=FFConfig(
            schedule="simultaneous",
            epochs=30,
            batch_size=100,
            lr=1e-3,
            lr_schedule="half_linear",
            negatives="hard_readout",
        ),
        source=(
            "ffbook's multi-layer CPU recipe (2 cores, minutes rather than hours): the paper's experiment at "
            "half the width and with three hidden layers, predicted by the paper's rule (layers 2 and 3 "
            "summed). Its one departure from the paper's loss is the logistic's slope: p = sigmoid(10 (G - 2)), "
            "G the mean of squares. In our CPU runs at slope 1 the deeper layers barely learned (after 5 "
            "epochs with random negatives, layer 3 alone erred on 42% of the test digits, its loss near "
            "log 2); at slope 1000 (a sum of squares against the width, as in hinton-2022) every layer "
            "started slowly (24-35% each after 2 epochs at Adam 1e-3, worse at 5e-3); slope 10 trained all "
            "three (layer 3 at 9.6%, layers 2-3 at 4.9% after 5 epochs). Hard negatives from the linear "
            "read-out (one forward pass per image, not ten), whose own predictions are the fast one-pass "
            "rule the chapter reports. Adam 1e-3: at 5e-3 the first layer drove its loss to near zero before "
            "the layers above had learned, and layers 2-3 ended at 3.86% instead of 2.04% (seed 0). "
            "Mini-batches of 100, 30 epochs with a linear cool-down over the second half (bench/RESULTS.md)."
        ),
    ),
    "quick": Preset(
        name="quick",
        net=FFNetSpec(dims=(784, 1000), threshold=2.0, goodness="mean", norm="rms", on_value=4.0),
        train=FFConfig(
            schedule="simultaneous", epochs=6, batch_size=100, lr=5e-3, lr_schedule="half_linear", negatives="hard"
        ),
        source=(
            "ffbook's CPU recipe (2 cores, minutes): one hidden layer of 1000 ReLUs trained the paper's way "
            "on mini-batches of 100 with hard negatives; one layer because, for the same CPU time, it beat "
            "784-500-500 in our short runs on MNIST subsets, and its prediction costs one matrix product "
            "for all ten labels. Adam 5e-3 then a linear cool-down, label pixel 4.0, threshold 2 on the "
            "mean of squares (bench/RESULTS.md)."
        ),
    ),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name`` (one of ``PRESETS``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]
