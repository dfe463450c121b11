"""ipywidgets explorers. Each one re-draws a figure that also appears statically in its chapter."""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["derivative_explorer", "threshold_explorer"]

_STATIC_NOTE = "Interactive explorer: run this notebook (locally or in Colab) to move the sliders."


def _explorer(interactive):
    """Wrap an ``interactive`` so that its plain-text form (what a static page shows) reads well."""
    import ipywidgets as widgets

    class Explorer(widgets.VBox):
        def __repr__(self) -> str:
            return _STATIC_NOTE

    return Explorer(children=interactive.children)


def derivative_explorer(f: Callable, df: Callable, x: float = 1.0, h: float = 1.0, label: str = "f"):
    """Sliders for x and h: watch the secant turn into the tangent as h shrinks.

    Returns a widget box (display it in a notebook); its text form says how to use it.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    from ffbook.plots import plot_secant

    if not (callable(f) and callable(df)):
        raise TypeError("f and df must be callable")
    if not (math.isfinite(h) and h > 0):
        raise ValueError(f"h must be a finite number > 0, got {h}")

    def draw(x: float, log10_h: float) -> None:
        _, ax = plt.subplots(figsize=(6, 4))
        plot_secant(f, df, x, 10.0**log10_h, ax=ax, label=label)
        plt.show()

    x_slider = widgets.FloatSlider(value=x, min=-3.0, max=3.0, step=0.05, description="x")
    h_slider = widgets.FloatSlider(value=math.log10(h), min=-3.0, max=0.5, step=0.05, description="log10 h")
    return _explorer(widgets.interactive(draw, x=x_slider, log10_h=h_slider))


def threshold_explorer(g_pos, g_neg, threshold: float = 1.5, max_threshold: float | None = None):
    """A slider for the Forward-Forward threshold $\\theta$ over given goodness values.

    Re-draws ``ffbook.plots.plot_threshold_effect``: the goodness histograms with $\\theta$ marked,
    $p(\\text{positive}) = \\sigma(G - \\theta)$ and the loss as a function of $\\theta$.
    ``max_threshold`` bounds the slider (default: the 99th percentile of all goodness values).
    Returns a widget box (display it in a notebook); its text form says how to use it.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    import numpy as np

    from ffbook.plots import plot_threshold_effect, threshold_summary

    threshold_summary(g_pos, g_neg, threshold)  # validates all three arguments
    if max_threshold is None:
        max_threshold = float(np.percentile(np.concatenate([np.ravel(g_pos), np.ravel(g_neg)]), 99))
    if not (np.isfinite(max_threshold) and max_threshold > 0):
        raise ValueError(f"max_threshold must be a finite number > 0, got {max_threshold}")
    max_threshold = max(max_threshold, threshold)

    def draw(threshold: float) -> None:
        plot_threshold_effect(g_pos, g_neg, threshold)
        plt.show()

    slider = widgets.FloatSlider(
        value=threshold, min=0.0, max=max_threshold, step=max_threshold / 200, description="θ", readout_format=".3g"
    )
    return _explorer(widgets.interactive(draw, threshold=slider))
