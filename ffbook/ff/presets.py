"""Named training recipes, each documented with where it comes from."""

from __future__ import annotations

from .training import FFConfig

__all__ = ["PRESETS", "get_preset"]

PRESETS: dict[str, FFConfig] = {
    "keras-io": FFConfig(
        name="keras-io",
        dims=(784, 500, 500),
        threshold=1.5,
        goodness="mean",
        norm="l2",
        on_value="max",
        schedule="greedy",
        batch_size=None,
        epochs=250,
        steps_per_layer=50,
        lr=0.03,
        negatives="random",
        source=(
            "keras.io example 'Using the Forward-Forward Algorithm for Image Classification': 784-500-500, "
            "the 60,000 training images as one batch, threshold 1.5, mean-of-squares goodness, L2 input "
            "normalisation, Adam 0.03 per layer, 250 epochs x 50 steps per layer, greedy layer by layer; "
            "reported test accuracy 97.56% (2.44% error). One change: negatives always carry a wrong label."
        ),
    ),
    "hinton-2022": FFConfig(
        name="hinton-2022",
        dims=(784, 2000, 2000, 2000, 2000),
        threshold=2.0,
        goodness="mean",
        norm="rms",
        on_value="max",
        first_scored_layer=1,
        readout=True,
        schedule="simultaneous",
        epochs=60,
        batch_size=100,
        lr=1e-3,
        lr_schedule="half_linear",
        negatives="hard",
        source=(
            "Hinton (2022), 'The Forward-Forward Algorithm', section 3.3: four hidden layers of 2000 ReLUs, "
            "60 epochs, mini-batches, label in the first 10 pixels, prediction by the goodness of every label "
            "summed over all layers but the first; reported test error 1.36%. The paper does not give the "
            "optimiser settings; ours: Adam 1e-3 kept for 30 epochs then cooled linearly to 0 (as in loeweX's "
            "code), batch 100, RMS length normalisation, mean-of-squares goodness against threshold 2 (mean, "
            "not sum, so the recipe tuned at width 500 carries over to width 2000), hard negatives drawn from "
            "the net's own predictions each epoch (Hinton's Matlab code), and a linear read-out reported apart."
        ),
    ),
    "quick": FFConfig(
        name="quick",
        dims=(784, 500, 500),
        threshold=2.0,
        goodness="mean",
        norm="rms",
        on_value="max",
        first_scored_layer=0,
        schedule="simultaneous",
        epochs=4,
        batch_size=200,
        lr=1e-3,
        lr_schedule="constant",
        negatives="hard",
        source=(
            "ffbook's CPU recipe (2 cores, about 3 minutes): the keras.io architecture 784-500-500 trained "
            "the paper's way, all layers on every mini-batch, with hard negatives from the net's own "
            "predictions; chosen by short runs on MNIST subsets (see bench/RESULTS.md)."
        ),
    ),
}


def get_preset(name: str) -> FFConfig:
    """The preset called ``name`` (one of ``PRESETS``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]
