"""Explorers in ffbook.widgets: they build, react to their sliders, and read well on a static page."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ffbook.plots import plot_secant  # noqa: E402
from ffbook.widgets import derivative_explorer  # noqa: E402


def test_secant_slope_is_the_forward_difference():
    ax, slope = plot_secant(np.sin, np.cos, x=1.0, h=0.5)
    assert slope == pytest.approx((math.sin(1.5) - math.sin(1.0)) / 0.5)
    assert "h = 0.5" in ax.get_title() and ax.get_xlabel() == "x"
    labels = [line.get_label() for line in ax.get_lines()]
    assert any(label.startswith("tangent, slope 0.5403") for label in labels)


def test_secant_rejects_bad_input():
    with pytest.raises(ValueError, match="h"):
        plot_secant(np.sin, np.cos, x=1.0, h=0.0)
    with pytest.raises(TypeError, match="callable"):
        plot_secant(np.sin, 3.0, x=1.0, h=0.1)


def test_derivative_explorer_sliders_and_static_text():
    explorer = derivative_explorer(np.sin, np.cos, x=0.5, h=0.1)
    sliders = {w.description: w for w in explorer.children if hasattr(w, "description") and w.description}
    assert sliders["x"].value == 0.5
    assert sliders["log10 h"].value == pytest.approx(-1.0)
    sliders["log10 h"].value = -2.0  # redraws without error
    assert "run this notebook" in repr(explorer)


def test_derivative_explorer_rejects_bad_input():
    with pytest.raises(ValueError, match="h must be a finite number > 0"):
        derivative_explorer(np.sin, np.cos, h=-1.0)
    with pytest.raises(TypeError, match="callable"):
        derivative_explorer("sin", np.cos)
