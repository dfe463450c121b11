"""Plain NumPy metrics for classifiers (no framework, no plotting)."""

from __future__ import annotations

import numpy as np

from ffbook._validate import check_int

__all__ = ["confusion_matrix"]


def _as_labels(values, name: str, num_classes: int) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of integer labels, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must hold integer labels, got dtype {array.dtype}")
    if array.size and (array.min() < 0 or array.max() >= num_classes):
        raise ValueError(f"{name} must hold labels in [0, {num_classes}), got values in [{array.min()}, {array.max()}]")
    return array.astype(np.int64)


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Count how often each true class was predicted as each class.

    Entry $C_{jk}$ is the number of examples $i$ with $y_i = j$ and $\\hat y_i = k$, so the
    diagonal holds the correct predictions, row $j$ sums to the number of examples of class
    $j$, and the accuracy is $\\operatorname{tr}(C) / \\sum_{jk} C_{jk}$.

    Args:
        y_true: integer labels, shape (n,).
        y_pred: integer predictions, shape (n,).
        num_classes: the number of classes $K$; labels must lie in [0, K).

    Returns an int64 array of shape (K, K).
    """
    num_classes = check_int("num_classes", num_classes, min=1)
    true = _as_labels(y_true, "y_true", num_classes)
    pred = _as_labels(y_pred, "y_pred", num_classes)
    if true.shape != pred.shape:
        raise ValueError(f"y_true and y_pred must have the same length, got {true.shape[0]} and {pred.shape[0]}")
    counts = np.bincount(true * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)
