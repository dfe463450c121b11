"""Explorers in ffbook.widgets: they build, react to their sliders, and read well on a static page."""

from __future__ import annotations

import math
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
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
    with pytest.raises(TypeError, match="x must be a real number"):
        derivative_explorer(np.sin, np.cos, x="1")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"x": 10.0}, r"x must be <= 3.0, got 10.0"),
        ({"x": -3.5}, r"x must be >= -3.0, got -3.5"),
        ({"h": 100.0}, r"h must be in \[0.001, 3.16\] \(the slider's range\), got 100.0"),
        ({"h": 1e-4}, r"h must be in \[0.001, 3.16\] \(the slider's range\), got 0.0001"),
    ],
)
def test_derivative_explorer_refuses_a_start_outside_its_sliders(kwargs, match):
    # A slider would silently move such a value to its nearest end (x = 10 would show x = 3).
    with pytest.raises(ValueError, match=match):
        derivative_explorer(np.sin, np.cos, **kwargs)


def test_derivative_explorer_starts_at_the_ends_of_its_sliders():
    for x, h in ((3.0, 1e-3), (-3.0, 10**0.5), (np.float32(0.5), np.int64(1))):
        explorer = derivative_explorer(np.sin, np.cos, x=x, h=h)
        sliders = {w.description: w for w in explorer.children if hasattr(w, "description") and w.description}
        assert sliders["x"].value == pytest.approx(float(x))
        assert sliders["log10 h"].value == pytest.approx(math.log10(h))
        plt.close("all")


# ---------------------------------------------------------------- the Forward-Forward threshold


def test_threshold_summary_matches_hand_computed_values():
    from ffbook.plots import threshold_summary

    # One positive at G = 3 and one negative at G = 0 against theta = 1.5: both cost softplus(-1.5).
    summary = threshold_summary([3.0], [0.0], 1.5)
    assert summary["loss"] == pytest.approx(math.log1p(math.exp(-1.5)))
    assert summary["p_pos_mean"] == pytest.approx(1 / (1 + math.exp(-1.5)))
    assert summary["p_neg_mean"] == pytest.approx(1 / (1 + math.exp(1.5)))
    assert summary["accuracy"] == 1.0
    # Move theta above the positive: it is now on the wrong side, half the samples are right.
    assert threshold_summary([3.0], [0.0], 4.0)["accuracy"] == 0.5


def test_threshold_summary_equals_the_ff_loss_of_ffbook_ff():
    torch = pytest.importorskip("torch")
    from ffbook.ff import ff_loss
    from ffbook.plots import threshold_summary

    rng = np.random.default_rng(0)
    g_pos, g_neg = rng.gamma(4.0, 0.6, 300), rng.gamma(2.0, 0.4, 200)
    expected = ff_loss(torch.from_numpy(g_pos), torch.from_numpy(g_neg), 1.7).item()
    assert threshold_summary(g_pos, g_neg, 1.7)["loss"] == pytest.approx(expected, rel=1e-9)


def test_threshold_figure_marks_theta_and_the_loss_minimum_lies_between_the_two_groups():
    from ffbook.plots import plot_threshold_effect, threshold_summary

    rng = np.random.default_rng(1)
    g_pos, g_neg = rng.normal(4.0, 0.5, 500).clip(0), rng.normal(1.0, 0.5, 500).clip(0)
    fig = plot_threshold_effect(g_pos, g_neg, 2.5)
    axes = fig.axes
    assert [ax.get_xlabel() for ax in axes] == ["goodness G", "goodness G", r"threshold $\theta$"]
    theta_lines = [line for line in axes[0].get_lines() if line.get_linestyle() == "--"]
    assert theta_lines and theta_lines[0].get_xdata()[0] == 2.5
    thetas, losses = axes[2].get_lines()[0].get_data()
    best = thetas[np.argmin(losses)]
    assert 1.0 < best < 4.0  # the loss prefers a threshold between the groups
    assert losses.min() == pytest.approx(min(threshold_summary(g_pos, g_neg, t)["loss"] for t in thetas))
    assert "2.5" in fig._suptitle.get_text()


def test_threshold_explorer_slider_and_static_text():
    from ffbook.widgets import threshold_explorer

    rng = np.random.default_rng(2)
    explorer = threshold_explorer(rng.gamma(4.0, 0.6, 100), rng.gamma(2.0, 0.4, 100), threshold=1.5)
    sliders = {w.description: w for w in explorer.children if hasattr(w, "description") and w.description}
    assert sliders["θ"].value == 1.5 and sliders["θ"].min == 0.0
    sliders["θ"].value = 2.0  # redraws without error
    assert "run this notebook" in repr(explorer)


def _numpy_ff_loss(g_pos, g_neg, theta):
    """The FF loss written out: mean of log(1 + e^(theta - G_pos)) and log(1 + e^(G_neg - theta))."""
    z = np.concatenate([theta - np.asarray(g_pos, float), np.asarray(g_neg, float) - theta])
    return float(np.mean(np.log(1.0 + np.exp(z))))


def test_shift_negative_goodness_moves_and_clips_at_zero():
    from ffbook.widgets import shift_negative_goodness

    np.testing.assert_allclose(shift_negative_goodness([0.5, 2.0, 0.1], -0.3), [0.2, 1.7, 0.0])
    np.testing.assert_allclose(shift_negative_goodness(np.array([[1.0], [3.0]]), 0.25), [1.25, 3.25])
    with pytest.raises(TypeError, match="shift"):
        shift_negative_goodness([1.0], True)
    with pytest.raises(ValueError, match="shift"):
        shift_negative_goodness([1.0], float("inf"))


def test_shifted_threshold_summary_equals_a_numpy_computation():
    from ffbook.widgets import shifted_threshold_summary

    # By hand: G_pos = [3, 1], G_neg = [0.5, 2.5] moved by -1 -> [0, 1.5]; theta = 1.5.
    summary = shifted_threshold_summary([3.0, 1.0], [0.5, 2.5], 1.5, -1.0)
    by_hand = (math.log1p(math.exp(-1.5)) + math.log1p(math.exp(0.5)) + math.log1p(math.exp(-1.5)) + math.log(2)) / 4
    assert summary["loss"] == pytest.approx(by_hand, rel=1e-12)
    assert summary["loss_unshifted"] == pytest.approx(_numpy_ff_loss([3.0, 1.0], [0.5, 2.5], 1.5), rel=1e-12)
    assert summary["accuracy"] == pytest.approx(2 / 4)  # 3 > 1.5 and 0 < 1.5; 1 and 1.5 are on the wrong side
    assert summary["text"] == (
        f"θ = 1.5, negatives moved by -1: loss {by_hand:.4f} (unmoved: {summary['loss_unshifted']:.4f}), "
        "50.0% of samples on the right side of θ"
    )


def test_threshold_explorer_shows_the_loss_for_both_sliders():
    from ffbook.widgets import threshold_explorer

    rng = np.random.default_rng(3)
    g_pos, g_neg = rng.gamma(4.0, 0.6, 400), rng.gamma(2.0, 0.4, 300)
    explorer = threshold_explorer(g_pos, g_neg, threshold=1.5)
    sliders = {w.description: w for w in explorer.children if hasattr(w, "description") and w.description}
    assert set(sliders) == {"θ", "Δ negatives"}
    assert sliders["Δ negatives"].value == 0.0 and sliders["Δ negatives"].min == -sliders["Δ negatives"].max
    readouts = [w for w in explorer.children if type(w).__name__ == "Label"]
    assert len(readouts) == 1
    pattern = re.compile(
        r"θ = (\S+), negatives moved by (\S+): loss (\S+) \(unmoved: (\S+)\), (\S+)% of samples on the right side of θ"
    )

    def displayed() -> tuple[float, ...]:
        match = pattern.fullmatch(readouts[0].value)
        assert match, readouts[0].value
        return tuple(float(group) for group in match.groups())

    matplotlib.pyplot.close("all")
    losses = {}
    for asked in [(1.5, 0.0), (1.5, -0.8), (2.2, 0.6), (0.9, -3.0)]:
        sliders["θ"].value, sliders["Δ negatives"].value = asked
        theta, shift = sliders["θ"].value, sliders["Δ negatives"].value  # the values the sliders hold
        moved = np.maximum(g_neg + shift, 0.0)
        shown_theta, shown_shift, loss, unmoved, right_side = displayed()
        assert shown_theta == pytest.approx(theta, rel=1e-2) and shown_shift == pytest.approx(shift, abs=1e-2)
        assert loss == pytest.approx(_numpy_ff_loss(g_pos, moved, theta), abs=5e-5)
        assert unmoved == pytest.approx(_numpy_ff_loss(g_pos, g_neg, theta), abs=5e-5)
        right = np.mean(np.concatenate([g_pos > theta, moved < theta]))
        assert right_side == pytest.approx(100 * right, abs=0.05)
        losses[asked] = loss
    # Moving the negatives down, away from the positives, lowers the loss at the same threshold.
    assert losses[(1.5, -0.8)] < losses[(1.5, 0.0)]
    assert matplotlib.pyplot.get_fignums() == []  # every redraw closes its figure
    assert "run this notebook" in repr(explorer)


def test_threshold_tools_reject_bad_input():
    from ffbook.plots import threshold_summary
    from ffbook.widgets import threshold_explorer

    with pytest.raises(ValueError, match="g_pos"):
        threshold_summary([], [1.0], 1.5)
    with pytest.raises(ValueError, match="g_neg"):
        threshold_summary([1.0], [-1.0], 1.5)
    with pytest.raises(ValueError, match="threshold"):
        threshold_summary([1.0], [1.0], float("nan"))
    with pytest.raises(ValueError, match="max_threshold"):
        threshold_explorer([1.0], [0.5], 1.5, max_threshold=-1.0)
    with pytest.raises(ValueError, match="max_shift"):
        threshold_explorer([1.0], [0.5], 1.5, max_shift=float("nan"))


# ---------------------------------------------------------------- drawn at once, on ipywidgets 7 and 8
# ipywidgets 8 calls an interactive's function when it is built, 7.x (Colab's) only when the
# interactive itself is displayed, which the explorers never do. tools/colab_ci.sh runs these
# tests on ipywidgets 7.7.1 as well.


def test_derivative_explorer_draws_before_any_slider_moves():
    import ipywidgets

    calls = []

    def f(x):
        calls.append(x)
        return np.sin(x)

    matplotlib.pyplot.close("all")
    derivative_explorer(f, np.cos, x=0.5, h=0.1)
    assert calls, f"nothing drawn on ipywidgets {ipywidgets.__version__} until a slider moves"
    assert 0.5 in calls  # drawn at the starting x
    assert len(matplotlib.pyplot.get_fignums()) == 1  # one figure, not two
    matplotlib.pyplot.close("all")


def test_threshold_explorer_readout_is_filled_before_any_slider_moves():
    import ipywidgets

    from ffbook.widgets import shifted_threshold_summary, threshold_explorer

    g_pos, g_neg = [3.0, 1.0, 2.0], [0.5, 2.5, 0.2]
    explorer = threshold_explorer(g_pos, g_neg, threshold=1.5)
    readout = next(w for w in explorer.children if type(w).__name__ == "Label")
    expected = shifted_threshold_summary(g_pos, g_neg, 1.5, 0.0)["text"]
    assert readout.value == expected, f"empty read-out on ipywidgets {ipywidgets.__version__}"
