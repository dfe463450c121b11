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


@pytest.mark.parametrize(
    ("matrix", "error", "match"),
    [
        (np.zeros((0, 0), dtype=int), ValueError, r"matrix must have at least one entry, got .* shape \(0, 0\)"),
        (np.zeros(3, dtype=int), ValueError, "matrix must be 2-D"),
        (np.array([[1, -1], [0, 2]]), ValueError, "matrix must hold counts or rates >= 0"),
        (np.array([[1.0, np.nan], [0.0, 2.0]]), ValueError, "matrix must contain only finite values"),
        (np.array([["a", "b"], ["c", "d"]]), TypeError, "matrix must be"),
        (None, TypeError, "matrix must be"),
    ],
)
def test_confusion_matrix_refuses_what_is_not_a_table_of_counts(matrix, error, match):
    figures = plt.get_fignums()
    with pytest.raises(error, match=match):
        plot_confusion_matrix(matrix)
    assert plt.get_fignums() == figures  # refused before anything is drawn


def test_confusion_matrix_of_one_class_and_of_rates_is_drawn():
    ax = plot_confusion_matrix([[7]])
    assert [t.get_text() for t in ax.texts] == ["7"]
    plt.close(ax.figure)
    ax = plot_confusion_matrix(np.array([[0.75, 0.25], [0.0, 1.0]]))
    assert sorted(t.get_text() for t in ax.texts) == ["0.0", "0.25", "0.75", "1.0"]
    plt.close(ax.figure)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"threshold": -1.0}, ValueError, "threshold must be a finite number >= 0, got -1.0"),
        ({"threshold": float("inf")}, ValueError, "threshold must be a finite number"),
        ({"threshold": "1.5"}, TypeError, "threshold must be a real number"),
        ({"bins": 0}, ValueError, "bins must be >= 1, got 0"),
        ({"bins": -3}, ValueError, "bins must be >= 1"),
        ({"bins": 2.5}, TypeError, "bins must be an int"),
    ],
)
def test_threshold_effect_refuses_a_negative_threshold_and_no_bins(kwargs, error, match):
    from ffbook.plots import plot_threshold_effect

    arguments = {"g_pos": [3.0, 2.5], "g_neg": [0.5, 1.0], "threshold": 1.5, **kwargs}
    figures = plt.get_fignums()
    with pytest.raises(error, match=match):
        plot_threshold_effect(**arguments)
    assert plt.get_fignums() == figures


def test_threshold_effect_draws_the_edge_cases_it_accepts():
    from ffbook.plots import plot_threshold_effect

    fig = plot_threshold_effect([3.0, 2.5], [0.5, 1.0], threshold=0.0, bins=np.int64(1))  # theta = 0: all above
    assert len(fig.axes[0].patches) == 2  # one bin per kind of data
    plt.close(fig)


# --- Training vs test curves, and the inputs each unit prefers ----------------------------------------------------

from ffbook.plots import plot_train_test_curves, plot_unit_preferences, top_activating  # noqa: E402


def test_train_test_curves_name_the_held_out_data():
    histories = {
        "a": {"accuracy": [0.5, 0.7], "clean_accuracy": [0.55, 0.8], "val_accuracy": [0.4, 0.6]},
        "b": {"accuracy": [0.6, 0.9], "clean_accuracy": [0.65, 0.95]},
    }
    ax = plot_train_test_curves(histories, "accuracy", train_prefix="clean_")
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"a: training", "a: test", "b: training"}  # b has no held-out series
    np.testing.assert_array_equal(lines["a: training"].get_ydata(), [0.55, 0.8])  # the clean series, not Keras'
    np.testing.assert_array_equal(lines["a: test"].get_ydata(), [0.4, 0.6])
    np.testing.assert_array_equal(lines["a: test"].get_xdata(), [1, 2])
    assert lines["a: test"].get_linestyle() == "--" and lines["a: training"].get_linestyle() == "-"
    assert ax.get_title() == "Training and test accuracy per epoch"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a: training", "a: test", "b: training"]
    plt.close(ax.figure)
    ax = plot_train_test_curves({"a": {"loss": [1.0, 0.1], "val_loss": [1.2, 0.5]}}, "loss", held_out="validation",
                                logy=True)
    assert {line.get_label() for line in ax.get_lines()} == {"a: training", "a: validation"}
    assert ax.get_yscale() == "log"
    plt.close(ax.figure)


def test_train_test_curves_reject_bad_input():
    with pytest.raises(TypeError, match="non-empty mapping"):
        plot_train_test_curves({})
    with pytest.raises(ValueError, match="'clean_loss'"):
        plot_train_test_curves({"a": {"loss": [1.0]}}, "loss", train_prefix="clean_")
    with pytest.raises(TypeError, match="held_out"):
        plot_train_test_curves({"a": {"loss": [1.0]}}, "loss", held_out="")


def test_top_activating_ranks_inputs_per_unit_with_stable_ties():
    activations = np.array([[0.1, 5.0], [0.9, -1.0], [0.5, 5.0], [0.9, 2.0]])
    # unit 1: 0.9 (inputs 1 and 3, tied: input order kept), then 0.5; unit 2: 5.0 (inputs 0 and 2), then 2.0
    np.testing.assert_array_equal(top_activating(activations, 3), [[1, 0], [3, 2], [2, 3]])
    np.testing.assert_array_equal(top_activating(activations, 1), [[1, 0]])


def test_top_activating_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        top_activating(np.zeros(3), 1)
    with pytest.raises(ValueError, match="top must be <= 2"):
        top_activating(np.zeros((2, 3)), 3)
    with pytest.raises(ValueError, match="top must be >= 1"):
        top_activating(np.zeros((2, 3)), 0)
    with pytest.raises(TypeError, match="top must be an int"):
        top_activating(np.zeros((2, 3)), 1.0)


def test_unit_preferences_show_each_units_best_inputs_with_their_activation():
    images = np.arange(4 * 2 * 2, dtype=float).reshape(4, 2, 2)
    activations = np.array([[0.1, 0.0], [0.9, 0.3], [0.5, 0.7], [0.2, 0.8]])
    fig = plot_unit_preferences(images, activations, top=2, unit_labels=["u1", "u2"],
                                image_names=["a", "b", "c", "d"], suptitle="prefs")
    axes = np.array(fig.axes).reshape(2, 2)  # rows: rank, columns: unit
    shown = [[ax.images[0].get_array() for ax in row] for row in axes]
    np.testing.assert_array_equal(shown[0][0], images[1])  # unit 1 likes b (0.9), then c (0.5)
    np.testing.assert_array_equal(shown[1][0], images[2])
    np.testing.assert_array_equal(shown[0][1], images[3])  # unit 2 likes d (0.8), then c (0.7)
    np.testing.assert_array_equal(shown[1][1], images[2])
    assert [[ax.get_title() for ax in row] for row in axes] == [["u1\nb: 0.90", "u2\nd: 0.80"], ["c: 0.50", "c: 0.70"]]
    assert fig._suptitle.get_text() == "prefs"
    plt.close(fig)


def test_unit_preferences_draw_into_a_subfigure():
    fig = plt.figure(layout="constrained")
    left, right = fig.subfigures(1, 2)
    plot_unit_preferences(np.zeros((3, 2, 2)), np.eye(3), top=1, fig=right)
    assert len(fig.axes) == 3 and not left.axes
    assert [ax.get_title() for ax in right.axes] == ["unit 1\n1.00", "unit 2\n1.00", "unit 3\n1.00"]
    plt.close(fig)


def test_unit_preferences_reject_bad_input():
    with pytest.raises(ValueError, match="images must have shape"):
        plot_unit_preferences(np.zeros((3, 4)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"activations must have shape \(3, units\)"):
        plot_unit_preferences(np.zeros((3, 2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="unit_labels must hold 2 labels"):
        plot_unit_preferences(np.zeros((3, 2, 2)), np.zeros((3, 2)), top=1, unit_labels=["x"])
    with pytest.raises(ValueError, match="one name per image"):
        plot_unit_preferences(np.zeros((3, 2, 2)), np.zeros((3, 2)), top=1, image_names=["x"])


# ---------------------------------------------------------------- clear errors, not matplotlib's


@pytest.mark.parametrize(
    ("pos", "neg", "error", "match"),
    [
        (None, [[1.0]], TypeError, "pos must be a real number or a rectangular array"),
        ([["a"]], [[1.0]], TypeError, "pos must be .*dtype <U1"),
        ([[1.0, 2.0]], [[1.0]], ValueError, "same number of layers"),
        ([1.0, 2.0], [[1.0]], ValueError, r"pos must be 2-D, got shape \(2,\)"),
        ([[np.nan]], [[1.0]], ValueError, "pos must contain only finite values"),
        ([[1.0]], np.zeros((0, 1)), ValueError, "neg must have at least one entry"),
    ],
)
def test_goodness_histograms_refuse_bad_shapes_and_values(pos, neg, error, match):
    from ffbook.plots import plot_goodness_distributions

    with pytest.raises(error, match=match):
        plot_goodness_distributions(pos, neg)


@pytest.mark.parametrize(
    ("x", "error"), [("a", TypeError), (None, TypeError), (float("nan"), ValueError), (1j, TypeError)]
)
def test_secant_names_a_bad_x(x, error):
    from ffbook.plots import plot_secant

    with pytest.raises(error, match="x must be"):
        plot_secant(np.sin, np.cos, x, 0.1)


def test_image_grid_shares_one_labelled_colour_bar():
    images = np.linspace(-1, 1, 4 * 9).reshape(4, 3, 3)
    fig = plot_image_grid(images, ncols=2, cmap="RdBu_r", vmin=-1, vmax=1, colorbar="weight")
    bars = [ax for ax in fig.axes if ax.get_ylabel() == "weight"]
    assert len(fig.axes) == 5 and len(bars) == 1
    assert bars[0].get_ylim() == (-1.0, 1.0)
    with pytest.raises(ValueError, match="colorbar needs vmin and vmax"):
        plot_image_grid(images, colorbar="weight")
    plt.close("all")


def test_ablation_plot_marks_each_variant_and_puts_the_far_off_ones_at_the_edge():
    from ffbook.plots import plot_ablation

    rows = [
        {"variant": "recipe", "goodness": [2.0, 0.1], "softmax": [2.1, 0.2], "epochs": 10},
        {"variant": "adam", "goodness": [2.2, 0.1], "softmax": [1.9, 0.1], "epochs": 10},
        {"variant": "l2", "goodness": [90.0, 1.0], "softmax": [88.0, 1.0], "epochs": 10},
    ]
    ax = plot_ablation(rows)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["recipe", "adam", "l2"]
    assert sorted(t.get_text() for t in ax.texts) == ["88.0%", "90.0%"]  # off scale, with their values
    lo, hi = ax.get_xlim()
    assert lo < 1.9 and 2.2 < hi < 10
    with pytest.raises(ValueError, match="ablation rows"):
        plot_ablation([{"variant": "recipe"}])
    plt.close("all")


def test_image_grid_rows_follow_the_images_aspect():
    wide = plot_image_grid(np.zeros((8, 6, 16)), ncols=4, size=2.0)
    square = plot_image_grid(np.zeros((8, 16, 16)), ncols=4, size=2.0)
    # two rows: 2 x (2.0 * 6 / 16 + 0.3) + 0.6 inches against 2 x (2.0 + 0.3) + 0.6
    assert wide.get_size_inches()[1] == pytest.approx(2 * (2.0 * 6 / 16 + 0.3) + 0.6)
    assert square.get_size_inches()[1] == pytest.approx(2 * 2.3 + 0.6)
    plt.close("all")


def test_log_percent_axis_reads_plain_numbers():
    from ffbook.plots import log_percent_axis

    _, ax = plt.subplots()
    ax.plot([1, 2, 3], [0.8, 2.0, 5.0])
    log_percent_axis(ax, "validation error")
    assert ax.get_yscale() == "log"
    assert ax.get_ylabel() == "validation error (%, log scale)"
    assert ax.yaxis.get_major_formatter()(2.0, 0) == "2"
    with pytest.raises(TypeError, match="ylabel"):
        log_percent_axis(ax, 3)
    plt.close("all")


def test_log_percent_axis_labels_a_range_of_less_than_a_decade_below_2():
    from ffbook.plots import log_percent_axis

    _, ax = plt.subplots()
    ax.plot([1, 2, 3], [1.3, 2.5, 6.0])
    log_percent_axis(ax, "test error")
    low, high = ax.get_ylim()
    ticks = [t for t in ax.yaxis.get_minorticklocs() if low <= t <= high]
    labels = [ax.yaxis.get_minor_formatter()(t, 0) for t in ticks]
    # no power of ten lies in 1.3-6, so the minor ticks carry every label; 1.5 lets one read 1.3-2
    assert labels == ["1.5", "2", "3", "4", "5", "6"]
    plt.close("all")


def test_layer_loss_plot_draws_each_layer_on_a_log_axis_against_log_2():
    from ffbook.plots import plot_ff_layer_losses

    history = {"layer_loss": [[80.0, 50.0], [2.0, 1.0], [0.01, 0.004]]}
    ax = plot_ff_layer_losses(history)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines[:2]] == ["layer 1", "layer 2"]
    np.testing.assert_array_equal(lines[0].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(lines[1].get_ydata(), [50.0, 1.0, 0.004])
    assert lines[2].get_ydata()[0] == pytest.approx(np.log(2.0))
    assert ax.get_yscale() == "log"
    assert all(float(t).is_integer() for t in ax.get_xticks())
    # a loss that underflowed to 0 is drawn, on a linear axis, not dropped from a log one
    flat = plot_ff_layer_losses({"layer_loss": [[0.5, 0.2], [0.1, 0.0]]})
    assert flat.get_yscale() == "linear" and flat.get_ylabel() == "mean FF loss"
    assert flat.get_lines()[1].get_ydata()[1] == 0.0
    with pytest.raises(ValueError, match="layer_loss"):
        plot_ff_layer_losses({"layer_loss": [[0.5, -0.1]]})
    with pytest.raises(ValueError, match="layer_loss"):
        plot_ff_layer_losses({"loss": [[0.5]]})
    plt.close("all")


def test_ff_error_plot_draws_the_goodness_rule_and_the_readout_of_a_real_history():
    from ffbook.ff import History
    from ffbook.plots import plot_ff_test_error

    history = History(test_epochs=[1, 2], test_error=[0.05, 0.02], readout_test_error=[0.06, 0.03])
    history.eval_set = "validation"
    ax = plot_ff_test_error(history.to_dict(), references={"paper": 1.36})
    lines = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    np.testing.assert_allclose(lines["FF, goodness of the scored layers summed"], [5.0, 2.0])
    np.testing.assert_allclose(lines["FF, softmax read-out"], [6.0, 3.0])
    assert "paper: 1.36%" in lines and ax.get_ylabel() == "validation error (%, log scale)"
    without = History(test_epochs=[1], test_error=[0.1]).to_dict()
    assert len(plot_ff_test_error(without).get_lines()) == 1  # no read-out, no second line
    plt.close("all")
