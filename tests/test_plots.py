"""Tests for the training-curve, image-grid and confusion-matrix figures of ffbook.plots."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from ffbook.plots import plot_confusion_matrix, plot_image_grid, plot_training_curves

HISTORIES = {
    "a": {"accuracy": [0.5, 0.7, 0.8], "val_accuracy": [0.4, 0.6, 0.65], "loss": [1.0, 0.6, 0.4]},
    "b": {"accuracy": [0.6, 0.9, 0.95]},
}


def test_training_curves_draw_training_and_validation_lines():
    ax = plot_training_curves(HISTORIES, "accuracy")
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"a: training", "a: validation", "b: training"}  # b has no validation data
    np.testing.assert_array_equal(lines["a: validation"].get_ydata(), [0.4, 0.6, 0.65])
    np.testing.assert_array_equal(lines["b: training"].get_xdata(), [1, 2, 3])  # epochs count from 1
    assert lines["a: training"].get_color() == lines["a: validation"].get_color()
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "accuracy" and ax.get_title()
    plt.close(ax.figure)


def test_training_curves_reject_a_missing_metric_and_bad_histories():
    with pytest.raises(ValueError, match="'b' has no 'loss'"):
        plot_training_curves(HISTORIES, "loss")
    with pytest.raises(TypeError, match="non-empty mapping"):
        plot_training_curves({}, "loss")
    with pytest.raises(TypeError, match="non-empty mapping"):
        plot_training_curves([HISTORIES["a"]], "loss")


def test_image_grid_shows_each_image_with_its_title():
    images = np.arange(5 * 4 * 4, dtype=float).reshape(5, 4, 4)
    fig = plot_image_grid(images, [f"image {k}" for k in range(5)], ncols=3, suptitle="five")
    axes = fig.axes
    assert len(axes) == 6  # 2 rows x 3 columns, the last one blank
    shown = [ax for ax in axes if ax.images]
    assert len(shown) == 5
    np.testing.assert_array_equal(shown[2].images[0].get_array(), images[2])
    assert [ax.get_title() for ax in shown] == [f"image {k}" for k in range(5)]
    assert fig._suptitle.get_text() == "five"
    plt.close(fig)


def test_image_grid_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        plot_image_grid(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="one string per image"):
        plot_image_grid(np.zeros((2, 3, 3)), ["only one"])
    with pytest.raises(ValueError, match="ncols"):
        plot_image_grid(np.zeros((2, 3, 3)), ncols=0)


def test_confusion_matrix_writes_every_count_and_colours_only_errors():
    matrix = np.array([[50, 2, 0], [1, 40, 3], [0, 0, 45]])
    ax = plot_confusion_matrix(matrix, ["x", "y", "z"])
    texts = sorted(int(t.get_text()) for t in ax.texts)
    assert texts == sorted(matrix.ravel().tolist())
    colour_scale = ax.images[0].get_array()
    np.testing.assert_array_equal(np.diag(colour_scale), [0, 0, 0])
    assert colour_scale[1, 2] == 3
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y", "z"]
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    plt.close(ax.figure)


def test_confusion_matrix_rejects_bad_input():
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="3 names"):
        plot_confusion_matrix(np.zeros((3, 3), dtype=int), ["a", "b"])
