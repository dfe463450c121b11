"""Tests for ffbook.plots.plot_bp_ff_schematic (chapter 7's figure of one backprop and one FF step)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from ffbook.plots import plot_bp_ff_schematic


def _count(ax, gid: str) -> int:
    return sum(patch.get_gid() == gid for patch in ax.patches)


@pytest.mark.parametrize("num_layers", [1, 3, 5])
def test_backprop_sends_derivatives_through_every_layer_and_ff_through_none(num_layers):
    fig = plot_bp_ff_schematic(num_layers)
    ax_bp, ax_ff = fig.axes[:2]
    assert "Backpropagation" in ax_bp.get_title() and "Forward-Forward" in ax_ff.get_title()
    assert fig._suptitle is not None and fig._suptitle.get_text()
    # Backprop: input, the layers, one loss; forward arrows into every box, backward arrows to every layer.
    assert _count(ax_bp, "layer") == num_layers and _count(ax_bp, "loss") == 1
    assert _count(ax_bp, "forward") == num_layers + 1
    assert _count(ax_bp, "backward") == num_layers
    # FF: one loss per layer, one short backward pass per layer, no backward arrow between layers.
    assert _count(ax_ff, "layer") == num_layers
    assert _count(ax_ff, "local_loss") == num_layers
    assert _count(ax_ff, "to_local_loss") == num_layers
    assert _count(ax_ff, "local_backward") == num_layers
    assert _count(ax_ff, "backward") == 0 and _count(ax_ff, "loss") == 0
    assert _count(ax_ff, "forward") == num_layers
    for ax in (ax_bp, ax_ff):
        assert ax.get_xlabel()
    labels = [text.get_text() for text in ax_ff.get_legend().get_texts()]
    assert any("forward" in label for label in labels) and any("backward" in label for label in labels)
    plt.close(fig)


def test_local_backward_arrows_stay_inside_their_layer():
    """Every FF backward arrow starts and ends at the same depth: nothing is sent to another layer."""
    fig = plot_bp_ff_schematic(4)
    ax_ff = fig.axes[1]
    for patch in ax_ff.patches:
        if patch.get_gid() == "local_backward":
            (x0, _), (x1, _) = patch._posA_posB
            assert x0 == pytest.approx(x1)
    plt.close(fig)


@pytest.mark.parametrize("bad", [0, 9, 2.5, "3"])
def test_refuses_bad_layer_counts(bad):
    with pytest.raises((TypeError, ValueError), match="num_layers"):
        plot_bp_ff_schematic(bad)
