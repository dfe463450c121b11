"""ipywidgets explorers. Each one re-draws a figure that also appears statically in its chapter."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ipywidgets
    import numpy as np

__all__ = ["derivative_explorer", "shift_negative_goodness", "shifted_threshold_summary", "threshold_explorer"]

# The derivative explorer's sliders: x in [-3, 3] (the chapter's figure), h in [1e-3, 10**0.5].
X_RANGE = (-3.0, 3.0)
LOG10_H_RANGE = (-3.0, 0.5)

_STATIC_NOTE = "Interactive explorer: run this notebook (locally or in Colab) to move the sliders."


def _explorer(interactive, *extra):
    """Wrap an ``interactive`` so that its plain-text form (what a static page shows) reads well.

    ``extra`` widgets (a read-out, say) go between the controls and the figure.

    The explorer draws at once, before any slider moves, on ipywidgets 7 and 8 alike: 8.x calls
    the function when the ``interactive`` is built, but 7.x (Colab's version) only when the
    ``interactive`` itself is displayed, which never happens here since its children are
    re-wrapped; so on 7.x the first call is made here.
    """
    import ipywidgets as widgets

    if int(widgets.__version__.split(".")[0]) < 8:
        interactive.update()

    class Explorer(widgets.VBox):
        def __repr__(self) -> str:
            return _STATIC_NOTE

    *controls, output = interactive.children
    return Explorer(children=(*controls, *extra, output))


def derivative_explorer(f: Callable, df: Callable, x: float = 1.0, h: float = 1.0, label: str = "f"):
    """Sliders for x and h: watch the secant turn into the tangent as h shrinks.

    The sliders start at ``x`` and ``h`` and span x in [-3, 3] and h in [1e-3, 10**0.5] (about 3.16);
    a starting value outside them is refused, not moved to the nearest end.
    Returns a widget box (display it in a notebook); its text form says how to use it.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    from ffbook._validate import check_real
    from ffbook.plots import plot_secant

    if not (callable(f) and callable(df)):
        raise TypeError("f and df must be callable")
    x = check_real("x", x, min=X_RANGE[0], max=X_RANGE[1])
    h = check_real("h", h, positive=True)
    if not LOG10_H_RANGE[0] <= math.log10(h) <= LOG10_H_RANGE[1]:
        low, high = (10.0**end for end in LOG10_H_RANGE)
        raise ValueError(f"h must be in [{low:.3g}, {high:.3g}] (the slider's range), got {h}")

    def draw(x: float, log10_h: float) -> None:
        _, ax = plt.subplots(figsize=(6, 4))
        plot_secant(f, df, x, 10.0**log10_h, ax=ax, label=label)
        plt.show()

    x_slider = widgets.FloatSlider(value=x, min=X_RANGE[0], max=X_RANGE[1], step=0.05, description="x")
    h_slider = widgets.FloatSlider(
        value=math.log10(h), min=LOG10_H_RANGE[0], max=LOG10_H_RANGE[1], step=0.05, description="log10 h"
    )
    return _explorer(widgets.interactive(draw, x=x_slider, log10_h=h_slider))


def shift_negative_goodness(g_neg, shift: float) -> np.ndarray:
    """The negative goodness values moved by ``shift``: $\\max(G_{neg} + \\Delta, 0)$.

    Goodness is a sum (or mean) of squares and cannot go below 0, so values pushed below 0 stop
    there. Returns a float NumPy array.
    """
    import numpy as np

    from ffbook._validate import check_array, check_real

    shift = check_real("shift", shift)
    return np.maximum(check_array("g_neg", g_neg).ravel() + shift, 0.0)


def shifted_threshold_summary(g_pos, g_neg, threshold: float, shift: float = 0.0) -> dict:
    """``ffbook.plots.threshold_summary`` after moving the negatives by ``shift`` (see
    ``shift_negative_goodness``), plus ``loss_unshifted``, the loss at the same $\\theta$ without the
    shift, and ``text``, the one-line read-out the explorer shows.
    """
    from ffbook.plots import threshold_summary

    unshifted = threshold_summary(g_pos, g_neg, threshold)  # validates g_pos, g_neg and threshold
    summary = threshold_summary(g_pos, shift_negative_goodness(g_neg, shift), threshold)
    summary["loss_unshifted"] = unshifted["loss"]
    summary["text"] = (
        f"θ = {threshold:.3g}, negatives moved by {shift:+.3g}: loss {summary['loss']:.4f} "
        f"(unmoved: {unshifted['loss']:.4f}), {summary['accuracy']:.1%} of samples on the right side of θ"
    )
    return summary


def threshold_explorer(
    g_pos, g_neg, threshold: float = 1.5, max_threshold: float | None = None, max_shift: float | None = None
) -> ipywidgets.VBox:
    """Sliders for the Forward-Forward threshold $\\theta$ and for the position of the negative data.

    Re-draws ``ffbook.plots.plot_threshold_effect``: the goodness histograms with $\\theta$ marked,
    $p(\\text{positive}) = \\sigma(G - \\theta)$ and the loss as a function of $\\theta$. The second
    slider moves every negative goodness value by $\\Delta$ (clipped at 0, see
    ``shift_negative_goodness``): move them down and the two groups separate, up and they overlap.
    A line of text under the sliders gives the resulting loss (``shifted_threshold_summary``).
    ``max_threshold`` bounds the $\\theta$ slider and ``max_shift`` the $\\Delta$ slider (both default
    to the 99th percentile of all goodness values). Returns a widget box (display it in a
    notebook); its text form says how to use it.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    import numpy as np

    from ffbook._validate import check_real
    from ffbook.plots import plot_threshold_effect, threshold_summary

    threshold_summary(g_pos, g_neg, threshold)  # validates all three arguments
    spread = float(np.percentile(np.concatenate([np.ravel(g_pos), np.ravel(g_neg)]), 99))
    if max_threshold is None:
        max_threshold = spread
    max_threshold = check_real("max_threshold", max_threshold, positive=True)
    if max_shift is None:
        max_shift = spread if spread > 0 else 1.0
    max_shift = check_real("max_shift", max_shift, positive=True)
    max_threshold = max(max_threshold, threshold)
    readout = widgets.Label()

    def draw(threshold: float, shift: float) -> None:
        summary = shifted_threshold_summary(g_pos, g_neg, threshold, shift)
        readout.value = summary["text"]
        figure = plot_threshold_effect(
            g_pos, shift_negative_goodness(g_neg, shift), threshold, title=summary["text"].replace(" (", "\n(", 1)
        )
        plt.show()
        plt.close(figure)

    slider = widgets.FloatSlider(
        value=threshold, min=0.0, max=max_threshold, step=max_threshold / 200, description="θ", readout_format=".3g"
    )
    shift_slider = widgets.FloatSlider(
        value=0.0, min=-max_shift, max=max_shift, step=max_shift / 100, description="Δ negatives", readout_format="+.3g"
    )
    return _explorer(widgets.interactive(draw, threshold=slider, shift=shift_slider), readout)
