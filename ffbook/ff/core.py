"""The Forward-Forward building blocks: label overlay, negative labels, goodness, loss, normalisation.

Everything here works on batches (PyTorch tensors, first axis = samples) and on any device.
Notation: a layer maps its input $x$ to activities $h = \\mathrm{ReLU}(W \\hat x + b)$ where
$\\hat x$ is $x$ divided by its length; its *goodness* is $G = \\frac{1}{H}\\sum_j h_j^2$ (or the
plain sum); the layer wants $G > \\theta$ for positive (real image, true label) data and
$G < \\theta$ for negative (real image, wrong label) data.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ffbook._validate import check_int, check_real, native_array

__all__ = [
    "as_features",
    "as_labels",
    "overlay_labels",
    "random_wrong_labels",
    "hard_negative_labels",
    "goodness",
    "ff_loss",
    "normalize",
    "shift_images",
]

GOODNESS_KINDS = ("mean", "sum")
NORM_KINDS = ("l2", "rms")


def as_features(x, name: str = "x", num_features: int | None = None) -> torch.Tensor:
    """Check a batch of samples and return it as a float tensor of shape (N, D).

    Images of shape (N, H, W) are flattened. Integer data is refused (scale it yourself,
    e.g. ``x / 255``), and so are empty batches and NaN or infinite values. A NumPy array is
    shared, or copied when PyTorch cannot share it (a reversed view, a big-endian array).
    """
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(native_array(x))
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


def as_labels(labels, num_classes: int, num_samples: int | None = None, device=None) -> torch.Tensor:
    """Check integer class labels in ``[0, num_classes)`` and return them as an int64 tensor (N,)."""
    num_classes = check_int("num_classes", num_classes, min=2)  # a wrong label must exist
    if isinstance(labels, np.ndarray):
        labels = torch.from_numpy(native_array(labels))
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
    """The value written at the label's position: each sample's maximum, or a constant.

    Check-free for "max" (it runs inside training steps); ``check_on_value_input`` is the check.
    """
    if isinstance(on_value, str):
        if on_value != "max":
            raise ValueError(f"on_value must be 'max' or a positive number, got {on_value!r}")
        return x.amax(dim=1)
    on_value = check_real("on_value", on_value, positive=True, hint=" or 'max'")
    return torch.full((x.shape[0],), on_value, dtype=x.dtype, device=x.device)


def check_on_value_input(x: torch.Tensor, on_value, name: str = "x") -> None:
    """Refuse samples whose maximum is not positive when the label is written as each sample's maximum.

    A blank sample (all zeros) would carry the label as 0, the same input for every label, and a
    sample with only negative values (e.g. standardised pixels) would carry an inverted one-hot.
    """
    if isinstance(on_value, str) and on_value == "max":
        bad = x.amax(dim=1) <= 0
        if bool(bad.any()):
            first = int(bad.nonzero()[0, 0])
            raise ValueError(
                f"{name}: on_value='max' writes the label as each sample's largest value, but {int(bad.sum())} "
                f"sample(s) (the first is sample {first}) have no positive value, so their label would be "
                "lost or inverted; scale the data to [0, 1] or pass a positive constant on_value"
            )


def overlay_labels(x, labels, num_classes: int = 10, on_value: str | float = "max") -> torch.Tensor:
    """Write each sample's label, one-hot, into its first ``num_classes`` features.

    $$\\tilde x_{n,j} = \\begin{cases} v_n [\\,j = y_n\\,] & j < C \\\\ x_{n,j} & j \\ge C \\end{cases}$$

    with $v_n = \\max_j x_{n,j}$ (``on_value="max"``, the keras.io example) or a constant.
    On MNIST the first 10 pixels are part of the always-black top row, so no information is lost.
    """
    x = as_features(x)
    num_classes = check_int("num_classes", num_classes, min=2)  # a wrong label must exist
    if num_classes > x.shape[1]:
        raise ValueError(f"num_classes ({num_classes}) cannot exceed the number of features ({x.shape[1]})")
    labels = as_labels(labels, num_classes, num_samples=x.shape[0], device=x.device)
    on = _on_values(x, on_value)
    check_on_value_input(x, on_value)
    out = x.clone()
    out[:, :num_classes] = 0
    out[torch.arange(x.shape[0], device=x.device), labels] = on
    return out


def shift_images(images, offsets) -> torch.Tensor:
    """Move each square image by whole pixels, filling the uncovered border with zeros.

    ``images``: (N, S*S) or (N, S, S) floats; ``offsets``: (N, 2) integers, each image's
    (rows down, columns right), so $\\tilde x_{i,j} = x_{i - r,\\, j - c}$ (0 outside the image).
    Returns (N, S*S). One gather for the whole batch, so an epoch of shifted copies is cheap.
    """
    x = as_features(images, "images")
    side = round(x.shape[1] ** 0.5)
    if side * side != x.shape[1]:
        raise ValueError(f"images must be square: {x.shape[1]} features per image is not a square number")
    if not isinstance(offsets, torch.Tensor):
        raise TypeError(f"offsets must be a torch.Tensor of integers (N, 2), got {type(offsets).__name__}")
    if offsets.dtype.is_floating_point or offsets.dtype.is_complex or offsets.dtype == torch.bool:
        raise TypeError(f"offsets must be integers (whole pixels), got dtype {offsets.dtype}")
    if tuple(offsets.shape) != (x.shape[0], 2):
        raise ValueError(
            f"offsets must have shape ({x.shape[0]}, 2), one (rows, columns) per image, got {tuple(offsets.shape)}"
        )
    offsets = offsets.to(x.device).long()
    reach = int(offsets.abs().max()) if offsets.numel() else 0
    if reach >= side:
        raise ValueError(f"offsets must lie in (-{side}, {side}) for {side}x{side} images, got {reach}")
    return _shift_square(x.reshape(-1, side, side), offsets, reach).reshape(x.shape[0], -1)


def _shift_square(x: torch.Tensor, offsets: torch.Tensor, reach: int) -> torch.Tensor:
    """``shift_images`` for checked (N, S, S) images and offsets within ``reach`` pixels."""
    n, side = x.shape[0], x.shape[1]
    padded = F.pad(x, (reach, reach, reach, reach))
    steps = torch.arange(side, device=x.device) + reach
    rows = (steps[None, :] - offsets[:, :1])[:, :, None]  # (N, S, 1): source row of each output row
    cols = (steps[None, :] - offsets[:, 1:])[:, None, :]  # (N, 1, S)
    return padded[torch.arange(n, device=x.device)[:, None, None], rows, cols]


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

    ``scores`` is (N, C), e.g. the goodness of every label from ``FFNet.goodness_per_label``:
    a tensor or NumPy array of real numbers (integer scores are converted to float).
    The true label gets probability exactly 0, as in Hinton's Matlab code, which draws each
    negative label from the network's own predictions with the correct answer masked out.
    """
    if isinstance(scores, np.ndarray):
        scores = torch.from_numpy(native_array(scores))
    if not isinstance(scores, torch.Tensor):
        raise TypeError(f"scores must be a torch.Tensor or numpy array (N, num_classes), got {type(scores).__name__}")
    if scores.dtype == torch.bool or scores.dtype.is_complex:
        raise TypeError(f"scores must hold real numbers, got dtype {scores.dtype}")
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise ValueError(f"scores must have shape (N, num_classes) with num_classes >= 2, got {tuple(scores.shape)}")
    temperature = check_real("temperature", temperature, positive=True)
    if not bool(torch.isfinite(scores).all()):
        raise ValueError("scores contains NaN or infinite values")
    labels = as_labels(labels, scores.shape[1], num_samples=scores.shape[0], device=scores.device)
    logits = scores.float() / temperature
    logits = logits.masked_fill(F.one_hot(labels, scores.shape[1]).bool(), float("-inf"))
    probabilities = torch.softmax(logits, dim=1)
    if generator is not None and generator.device != probabilities.device:
        probabilities = probabilities.to(generator.device)
    return torch.multinomial(probabilities, 1, generator=generator).squeeze(1).to(scores.device)


def _check_activities(h, name: str) -> None:
    """Shape and dtype checks only (no values read, so no device sync inside a training step)."""
    if not isinstance(h, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(h).__name__}")
    if h.ndim != 2 or h.shape[1] == 0:
        raise ValueError(f"{name} must be a 2-D tensor (N, D) with D >= 1, got shape {tuple(h.shape)}")
    if not h.dtype.is_floating_point:
        raise TypeError(f"{name} must be a real floating-point tensor, got dtype {h.dtype}")


def goodness(h: torch.Tensor, kind: str = "mean") -> torch.Tensor:
    """Goodness of each sample's activities.

    ``"mean"``: $G = \\frac1H \\sum_j h_j^2$; ``"sum"``: $G = \\sum_j h_j^2$.

    Computed in float32 at least (float64 for float64 activities): in float16 a square overflows
    to inf from $|h_j| \\approx 256$ on. The result has that dtype.
    """
    if kind not in GOODNESS_KINDS:
        raise ValueError(f"goodness kind must be one of {GOODNESS_KINDS}, got {kind!r}")
    _check_activities(h, "h")
    squares = h.to(torch.promote_types(h.dtype, torch.float32)).square()
    return squares.mean(dim=1) if kind == "mean" else squares.sum(dim=1)


def ff_loss(g_pos: torch.Tensor, g_neg: torch.Tensor, threshold: float, sharpness: float = 1.0) -> torch.Tensor:
    """The Forward-Forward loss of one layer, averaged over positive and negative samples:

    $$L = \\operatorname{mean}\\big(\\mathrm{softplus}(k\\,[\\theta - G_{pos};\\ G_{neg} - \\theta])\\big),
    \\qquad \\mathrm{softplus}(u) = \\log(1 + e^u).$$

    It is the logistic loss of $p(\\text{positive}) = \\sigma(k\\,(G - \\theta))$; the slope $k$
    (``sharpness``, 1 in the paper's formula) sets how far from $\\theta$ a sample must be before
    it stops counting. A sum of squares over $H$ units is the mean with $k = H$.

    NaN or infinite goodness is refused (it would make the loss NaN or inf). That check reads the
    values, a host sync on a GPU: a training step calls the unchecked formula instead. Inside a
    CUDA-graph capture or ``torch.compile`` tracing, where no value can be read, it is skipped.
    """
    if not isinstance(g_pos, torch.Tensor) or not isinstance(g_neg, torch.Tensor):
        raise TypeError("g_pos and g_neg must be torch tensors of per-sample goodness")
    if g_pos.ndim != 1 or g_neg.ndim != 1:
        raise ValueError("g_pos and g_neg must be 1-D tensors of per-sample goodness")
    threshold = check_real("threshold", threshold, positive=True)
    sharpness = check_real("sharpness", sharpness, positive=True)
    if g_pos.numel() == 0 or g_neg.numel() == 0:
        raise ValueError("g_pos and g_neg must not be empty")
    if not ((g_pos.is_cuda and torch.cuda.is_current_stream_capturing()) or torch.compiler.is_compiling()):
        finite = torch.stack([torch.isfinite(g_pos).all(), torch.isfinite(g_neg).all()]).tolist()  # one sync
        for name, ok in zip(("g_pos", "g_neg"), finite, strict=True):
            if not ok:
                raise ValueError(f"{name} contains NaN or infinite goodness values; the loss would be NaN or inf")
    return _ff_loss_formula(g_pos, g_neg, threshold, sharpness)


class _RowLength(torch.autograd.Function):
    """Each row's 2-norm without overflow: ``x.norm`` where that is finite (the same numbers, bit for
    bit), else $s \\lVert x / s \\rVert_2$ with $s = \\max_j |x_j|$ (rows with entries of about 1e19
    and up in float32).

    Its gradient is PyTorch's for the norm, $x\\,(g / \\lVert x \\rVert)$ (0 for an all-zero row);
    backward keeps only ``x`` and the lengths, as ``x.norm`` does. On a CPU the scaled norm is
    computed only when a row needs it; on a GPU always (no host sync), and chosen per row.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        length = x.norm(dim=1, keepdim=True)
        if x.device.type != "cpu" or not bool(torch.isfinite(length).all()):
            scale = x.abs().amax(dim=1, keepdim=True)
            scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero row has length 0
            length = torch.where(torch.isfinite(length), length, scale * (x / scale).norm(dim=1, keepdim=True))
        ctx.save_for_backward(x, length)
        return length

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        x, length = ctx.saved_tensors
        return x * (grad / length).masked_fill(length == 0, 0)  # as PyTorch's norm backward


def normalize(x: torch.Tensor, kind: str = "l2", eps: float = 1e-4) -> torch.Tensor:
    """Remove each row's length so the next layer sees only the direction of the activity vector.

    ``"l2"``: $x / (\\lVert x \\rVert_2 + \\epsilon)$ (the keras.io example);
    ``"rms"``: $x / (\\sqrt{\\tfrac1D \\sum_j x_j^2} + \\epsilon)$, the same direction scaled so that
    entries are of order 1 whatever the width (the paper's and loeweX's choice).

    Rows with large entries (about 1e19 and up in float32) do not overflow: see ``_RowLength``.
    """
    if kind not in NORM_KINDS:
        raise ValueError(f"norm kind must be one of {NORM_KINDS}, got {kind!r}")
    _check_activities(x, "x")
    check_real("eps", eps, positive=True)
    length = _RowLength.apply(x)
    if kind == "rms":
        length = length / x.shape[1] ** 0.5
    return x / (length + eps)


# ---------------------------------------------------------------- used inside training steps (no checks, no syncs)


def _ff_loss_formula(g_pos: torch.Tensor, g_neg: torch.Tensor, threshold: float, sharpness: float) -> torch.Tensor:
    """``ff_loss`` without its checks: the formula itself, for the training step (no host sync)."""
    return F.softplus(sharpness * torch.cat([threshold - g_pos, g_neg - threshold])).mean()


def choose_wrong_labels(logits: torch.Tensor, labels: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """Hinton's hard negatives: a wrong label per sample drawn from the softmax of ``logits`` with
    the true label masked out, by inverting the cumulative distribution at ``uniforms`` (one
    number in [0, 1) per sample, drawn beforehand so that the step holds no random generator).

    As in Hinton's ``choosefrom``, the label is the first whose running sum of probabilities
    exceeds the uniform number. When rounding leaves the total below the number (about one draw
    in ten million in float32), his code chooses no label at all; so does this function, which
    returns ``num_classes`` for such a sample (``overlay_one_hot`` then writes an empty label).
    """
    masked = logits.masked_fill(F.one_hot(labels, logits.shape[1]).bool(), float("-inf"))
    cumulative = torch.softmax(masked, dim=1).cumsum(dim=1)
    below = uniforms[:, None] >= cumulative  # True until the running sum exceeds the number
    return below.sum(dim=1)


def overlay_one_hot(x: torch.Tensor, labels: torch.Tensor, num_classes: int, on_value) -> torch.Tensor:
    """``overlay_labels`` without its checks, for the training step; a label ``num_classes`` writes none."""
    on = _on_values(x, on_value)
    one_hot = F.one_hot(labels, num_classes + 1)[:, :num_classes].to(x.dtype)
    return torch.cat([one_hot * on[:, None], x[:, num_classes:]], dim=1)
