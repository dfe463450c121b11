"""Forward-Forward in PyTorch: label overlay, negative data, FF layers and nets, training, presets.

``ffbook.ff.keras`` holds the Keras 3 version of the same layer (it does not import torch).
"""

from .baseline import backprop_mlp, train_backprop
from .config import FFConfig, GreedyConfig
from .core import (
    as_features,
    as_labels,
    ff_loss,
    goodness,
    hard_negative_labels,
    normalize,
    overlay_labels,
    random_wrong_labels,
)
from .model import FFLayer, FFNet, FFNetSpec, LayerTerms
from .presets import PRESETS, Preset, get_preset
from .train import (
    History,
    SmoothedSGD,
    build_net,
    epoch_generator,
    evaluate,
    fit,
    lr_factor,
    mnist_tensors,
    train,
    train_step,
)

__all__ = [
    "as_features",
    "as_labels",
    "ff_loss",
    "goodness",
    "hard_negative_labels",
    "normalize",
    "overlay_labels",
    "random_wrong_labels",
    "FFLayer",
    "FFNet",
    "FFNetSpec",
    "LayerTerms",
    "Preset",
    "epoch_generator",
    "lr_factor",
    "GreedyConfig",
    "SmoothedSGD",
    "train_step",
    "PRESETS",
    "get_preset",
    "FFConfig",
    "History",
    "build_net",
    "evaluate",
    "fit",
    "mnist_tensors",
    "train",
    "backprop_mlp",
    "train_backprop",
]
