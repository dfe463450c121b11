"""The Forward-Forward building blocks: label overlay, negative labels, goodness, loss, normalisation.

Everything here works on batches (PyTorch tensors, first axis = samples) and on any device.
Notation: a layer maps its input $x$ to activities $h = \\mathrm{ReLU}(W \\hat x + b)$ where
$\\hat x$ is $x$ divided by its length; its *goodness* is $G = \\frac{1}{H}\\sum_j h_j^2$ (or the
plain sum); the layer wants $G > \\theta$ for positive (real image, true label) data and
$G < \\theta$ for negative (real image, wrong label) data.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "as_features",
    "as_labels",
    "overlay_labels",
    "random_wrong_labels",
    "hard_negative_labels",
    "goodness",
    "ff_loss",
    "normalize",
]

GOODNESS_KINDS = ("mean", "sum")
NORM_KINDS = ("l2", "rms")


def as_features(x, name: str = "x", num_features: int | None = None) -> torch.Tensor:
    """Check a batch of samples and return it as a float tensor of shape (N, D).

    Images of shape (N, H, W) are flattened. Integer data is refused (scale it yourself,
    e.g. ``x / 255``), and so are empty batches and NaN or infinite values.
    """
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(x).__name__}")
    if x.ndim < 2:
        raise ValueError(f"{name} must have shape (N, D) or (N, H, W), got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (0 samples); at least one sample is needed")
    if not torch.is_floating_point(x):
        raise TypeError(f"{name} must hold floating-point values (e.g. pixels / 255), got dtype {x.dtype}")
    x = x.reshape(x.shape[0], -1)
    if num_features is not None and x.shape[1] != num_features:
        raise ValueError(f"{name} must have {num_features} features per sample, got {x.shape[1]}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _check_num_classes(num_classes: int) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral):
        raise TypeError(f"num_classes must be an int, got {type(num_classes).__name__}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2 (a wrong label must exist), got {num_classes}")
    return int(num_classes)


def as_labels(labels, num_classes: int, num_samples: int | None = None, device=None) -> torch.Tensor:
    """Check integer class labels in ``[0, num_classes)`` and return them as an int64 tensor (N,)."""
    num_classes = _check_num_classes(num_classes)
    if isinstance(labels, np.ndarray):
        labels = torch.from_numpy(labels)
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a torch.Tensor or numpy array, got {type(labels).__name__}")
    if labels.ndim != 1:
        raise ValueError(f"labels must have shape (N,), got shape {tuple(labels.shape)}")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.shape[0] == 0:
        raise ValueError("labels is empty (0 samples); at least one label is needed")
    if num_samples is not None and labels.shape[0] != num_samples:
        raise ValueError(f"labels must have one entry per sample ({num_samples}), got {labels.shape[0]}")
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes}), got values from {low} to {high}")
    labels = labels.long()
    return labels if device is None else labels.to(device)


def _on_values(x: torch.Tensor, on_value) -> torch.Tensor:
    """The value written at the label's position: each sample's maximum, or a constant."""
    if isinstance(on_value, str):
        if on_value != "max":
            raise ValueError(f"on_value must be 'max' or a positive number, got {on_value!r}")
        return x.amax(dim=1)
    if isinstance(on_value, bool) or not isinstance(on_value, numbers.Real):
        raise TypeError(f"on_value must be 'max' or a number, got {type(on_value).__name__}")
    if not (np.isfinite(on_value) and on_value > 0):
        raise ValueError(f"on_value must be a positive finite number, got {on_value}")
    return torch.full((x.shape[0],), float(on_value), dtype=x.dtype, device=x.device)


def overlay_labels(x, labels, num_classes: int = 10, on_value: str | float = "max") -> torch.Tensor:
    """Write each sample's label, one-hot, into its first ``num_classes`` features.

    $$\\tilde x_{n,j} = \\begin{cases} v_n [\\,j = y_n\\,] & j < C \\\\ x_{n,j} & j \\ge C \\end{cases}$$

    with $v_n = \\max_j x_{n,j}$ (``on_value="max"``, the keras.io example) or a constant.
    On MNIST the first 10 pixels are part of the always-black top row, so no information is lost.
    """
    x = as_features(x)
    num_classes = _check_num_classes(num_classes)
    if num_classes > x.shape[1]:
        raise ValueError(f"num_classes ({num_classes}) cannot exceed the number of features ({x.shape[1]})")
    labels = as_labels(labels, num_classes, num_samples=x.shape[0], device=x.device)
    out = x.clone()
    out[:, :num_classes] = 0
    out[torch.arange(x.shape[0], device=x.device), labels] = _on_values(x, on_value)
    return out


def random_wrong_labels(labels, num_classes: int = 10, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw, for every sample, a label uniformly among the ``num_classes - 1`` wrong ones.

    Adding an offset $k \\sim \\mathcal U\\{1, \\dots, C-1\\}$ modulo $C$ can never give back the true
    label, and every wrong label has probability $1/(C-1)$. (Shuffling the label vector, as the
    keras.io example does, hands about one negative in ten its true label.)
    """
    labels = as_labels(labels, num_classes)
    draw_device = generator.device if generator is not None else labels.device
    offsets = torch.randint(1, num_classes, labels.shape, generator=generator, device=draw_device)
    return (labels + offsets.to(labels.device)) % num_classes


def hard_negative_labels(
    scores: torch.Tensor, labels, temperature: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Sample wrong labels the network currently likes: $p(c) \\propto e^{s_c / T}$ over $c \\ne y$.

    ``scores`` is (N, C), e.g. the goodness of every label from ``FFNet.goodness_per_label``.
    The true label gets probability exactly 0, as in Hinton's Matlab code, which draws each
    negative label from the network's own predictions with the correct answer masked out.
    """
    if not isinstance(scores, torch.Tensor) or scores.ndim != 2:
        raise ValueError("scores must be a 2-D tensor (N, num_classes)")
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not temperature > 0:
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    labels = as_labels(labels, scores.shape[1], num_samples=scores.shape[0], device=scores.device)
    logits = scores.float() / temperature
    logits = logits.masked_fill(F.one_hot(labels, scores.shape[1]).bool(), float("-inf"))
    probabilities = torch.softmax(logits, dim=1)
    if generator is not None and generator.device != probabilities.device:
        probabilities = probabilities.to(generator.device)
    return torch.multinomial(probabilities, 1, generator=generator).squeeze(1).to(scores.device)


def goodness(h: torch.Tensor, kind: str = "mean") -> torch.Tensor:
    """Goodness of each sample's activities.

    ``"mean"``: $G = \\frac1H \\sum_j h_j^2$; ``"sum"``: $G = \\sum_j h_j^2$.
    """
    if kind not in GOODNESS_KINDS:
        raise ValueError(f"goodness kind must be one of {GOODNESS_KINDS}, got {kind!r}")
    if not isinstance(h, torch.Tensor) or h.ndim != 2:
        raise ValueError("h must be a 2-D tensor (N, H) of activities")
    squares = h.square()
    return squares.mean(dim=1) if kind == "mean" else squares.sum(dim=1)


def ff_loss(g_pos: torch.Tensor, g_neg: torch.Tensor, threshold: float) -> torch.Tensor:
    """The Forward-Forward loss of one layer, averaged over positive and negative samples:

    $$L = \\operatorname{mean}\\big(\\mathrm{softplus}([\\theta - G_{pos};\\ G_{neg} - \\theta])\\big),
    \\qquad \\mathrm{softplus}(u) = \\log(1 + e^u).$$

    It is the logistic loss of $p(\\text{positive}) = \\sigma(G - \\theta)$.
    """
    if g_pos.ndim != 1 or g_neg.ndim != 1:
        raise ValueError("g_pos and g_neg must be 1-D tensors of per-sample goodness")
    if g_pos.numel() == 0 or g_neg.numel() == 0:
        raise ValueError("g_pos and g_neg must not be empty")
    return F.softplus(torch.cat([threshold - g_pos, g_neg - threshold])).mean()


def normalize(x: torch.Tensor, kind: str = "l2", eps: float = 1e-4) -> torch.Tensor:
    """Remove each row's length so the next layer sees only the direction of the activity vector.

    ``"l2"``: $x / (\\lVert x \\rVert_2 + \\epsilon)$ (the keras.io example);
    ``"rms"``: $x / (\\sqrt{\\tfrac1D \\sum_j x_j^2} + \\epsilon)$, the same direction scaled so that
    entries are of order 1 whatever the width (the paper's and loeweX's choice).
    """
    if kind not in NORM_KINDS:
        raise ValueError(f"norm kind must be one of {NORM_KINDS}, got {kind!r}")
    length = x.norm(dim=1, keepdim=True)
    if kind == "rms":
        length = length / x.shape[1] ** 0.5
    return x / (length + eps)
