"""Tests for ffbook.plots.plot_computational_graph (the chain-rule chapter's graph figures)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from ffbook.plots import plot_computational_graph

NODES = {"x": (0, 2), "y": (0, 1), "z": (0, 0), "add": (2, 1.5, "+"), "mul": (4, 0.75, "×"), "f": (6, 0.75)}
EDGES = [("x", "add", -2, -4), ("y", "add", 5, -4), ("add", "mul", 3, -4), ("z", "mul", -4, 3), ("mul", "f", -12, 1)]


def test_graph_shows_every_node_value_and_gradient():
    ax = plot_computational_graph(NODES, EDGES, title="(x + y) z")
    texts = [text.get_text() for text in ax.texts]
    assert len([patch for patch in ax.patches if isinstance(patch, plt.Circle)]) == len(NODES)
    for label in ["x", "y", "z", "+", "×", "f"]:
        assert label in texts
    green = sorted(t.get_text() for t in ax.texts if t.get_color() == "tab:green")
    red = sorted(t.get_text() for t in ax.texts if t.get_color() == "tab:red")
    assert green == sorted(["-2", "5", "3", "-4", "-12"])
    assert red == sorted(["-4", "-4", "-4", "3", "1"])
    assert ax.get_title() == "(x + y) z"
    assert ax.get_xlabel()
    plt.close(ax.figure)


def test_inputs_are_grey_and_operations_blue():
    ax = plot_computational_graph(NODES, EDGES)
    circles = [patch for patch in ax.patches if isinstance(patch, plt.Circle)]
    faces = {tuple(round(c, 3) for c in circle.get_facecolor()[:3]) for circle in circles}
    assert len(faces) == 2
    plt.close(ax.figure)


def test_missing_numbers_are_left_out():
    ax = plot_computational_graph({"a": (0, 0), "b": (1, 0)}, [("a", "b", None, 2.5)])
    assert [t.get_text() for t in ax.texts if t.get_color() == "tab:red"] == ["2.5"]
    assert not [t for t in ax.texts if t.get_color() == "tab:green"]
    plt.close(ax.figure)


def test_bad_graphs_are_rejected():
    with pytest.raises(ValueError, match="unknown node 'q'"):
        plot_computational_graph(NODES, [("x", "q", 1, 1)])
    with pytest.raises(ValueError, match=r"\(source, target, value, gradient\)"):
        plot_computational_graph(NODES, [("x", "add", 1)])
    with pytest.raises(ValueError, match="node 'x' must be"):
        plot_computational_graph({"x": (0,)}, [])
    with pytest.raises(TypeError, match="nodes must be a non-empty mapping"):
        plot_computational_graph({}, [])
    with pytest.raises(ValueError, match="label_position must be in"):
        plot_computational_graph(NODES, EDGES, label_position=1.5)
    plt.close("all")
