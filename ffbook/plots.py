"""Figures shared by several chapters (model code never imports this module)."""

from __future__ import annotations

from collections.abc import Callable

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np

from ffbook._validate import check_array, check_int, check_real

__all__ = [
    "plot_secant",
    "plot_training_curves",
    "plot_image_grid",
    "plot_ablation",
    "log_percent_axis",
    "plot_confusion_matrix",
    "plot_computational_graph",
    "plot_ff_layer_losses",
    "plot_ff_test_error",
    "plot_goodness_distributions",
    "plot_threshold_effect",
    "threshold_summary",
    "plot_train_test_curves",
    "top_activating",
    "plot_unit_preferences",
    "plot_bp_ff_schematic",
]


def plot_secant(f: Callable, df: Callable, x: float, h: float, ax=None, span: float = 2.0, label: str = "f"):
    """Draw f near x, the secant through (x, f(x)) and (x + h, f(x + h)), and the tangent at x.

    Returns the axes and the secant's slope, (f(x + h) - f(x)) / h.
    """
    if not (callable(f) and callable(df)):
        raise TypeError("f and df must be callable")
    x, h = check_real("x", x), check_real("h", h)
    if h == 0:
        raise ValueError(f"x must be finite and h finite and non-zero, got x={x}, h={h}")
    span = check_real("span", span, positive=True)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    grid = np.linspace(x - span, x + span, 400)
    slope = (f(x + h) - f(x)) / h
    ax.plot(grid, f(grid), color="black", label=label)
    ax.plot(grid, f(x) + df(x) * (grid - x), "--", color="tab:green", label=f"tangent, slope {df(x):.4f}")
    ax.plot(grid, f(x) + slope * (grid - x), color="tab:orange", label=f"secant, slope {slope:.4f}")
    ax.plot([x, x + h], [f(x), f(x + h)], "o", color="tab:orange")
    ax.set_xlabel("x")
    ax.set_ylabel(f"{label}(x)")
    ax.set_title(f"Secant with h = {h:g} against the tangent at x = {x:g}")
    ax.legend(loc="best")
    return ax, float(slope)


def plot_training_curves(histories, metric: str = "accuracy", ax=None, title: str | None = None):
    """Draw ``metric`` (solid) and ``val_<metric>`` (dashed) per epoch for several runs, one colour per run.

    The held-out series is labelled "validation"; ``plot_train_test_curves`` (which this calls)
    names it as the data really is.

    Args:
        histories: a mapping from a run's label to its history, i.e. ``keras.callbacks.History.history``
            or any mapping from metric names to per-epoch lists.
        metric: the key to draw, e.g. ``"accuracy"`` or ``"loss"``; ``val_<metric>`` is drawn when present.
        ax: the axes to draw on (a new figure when None).
        title: the axes title (a default names the metric).

    Returns the axes.
    """
    return plot_train_test_curves(histories, metric, ax=ax, title=title, held_out="validation")


def plot_image_grid(
    images,
    titles=None,
    ncols: int = 8,
    suptitle: str | None = None,
    cmap: str = "gray",
    vmin: float | None = None,
    vmax: float | None = None,
    size: float = 1.3,
    colorbar: str | None = None,
):
    """Show small images in a grid, each with an optional title (e.g. "pred 3 / true 5").

    Args:
        images: an array of shape (n, height, width).
        titles: n strings, or None.
        ncols: images per row.
        suptitle: the figure's title.
        cmap, vmin, vmax: passed to ``imshow`` (fix vmin/vmax to compare images on one scale).
        size: inches per image, across (its height follows the images' aspect).
        colorbar: a label for one colour bar shared by all images (give vmin/vmax so they share a scale).

    Returns the figure.
    """
    images = np.asarray(images)
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(f"images must have shape (n, height, width) with n >= 1, got {images.shape}")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles must hold one string per image: {len(titles)} titles for {len(images)} images")
    ncols = min(check_int("ncols", ncols, min=1), len(images))
    nrows = -(-len(images) // ncols)
    row_height = size * images.shape[1] / images.shape[2] + 0.3  # the images' own aspect, plus a title
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, row_height * nrows + 0.6), squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if index >= len(images):
            ax.axis("off")
            continue
        shown = ax.imshow(images[index], cmap=cmap, vmin=vmin, vmax=vmax)
        if titles is not None:
            ax.set_title(titles[index], fontsize="small")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    if colorbar is not None:
        if not isinstance(colorbar, str):
            raise TypeError(f"colorbar must be a label (str) or None, got {type(colorbar).__name__}")
        if vmin is None or vmax is None:
            raise ValueError("colorbar needs vmin and vmax, so that every image uses the scale it shows")
        fig.colorbar(shown, ax=axes.ravel().tolist(), label=colorbar, fraction=0.02, pad=0.01)
    return fig


def log_percent_axis(ax, ylabel: str):
    """Put error rates in % on a log y-axis whose ticks read as plain numbers (0.8, 1, 1.5, 2, 5)."""
    if not isinstance(ylabel, str):
        raise TypeError(f"ylabel must be a str, got {type(ylabel).__name__}")
    ax.set_yscale("log")
    # Errors often span less than a decade (1.3% to 6%, say): label 1.2 and 1.5 too, not only 2-9.
    ax.yaxis.set_minor_locator(matplotlib.ticker.LogLocator(subs=(1.2, 1.5, 2, 3, 4, 5, 6, 8)))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.set_ylabel(f"{ylabel} (%, log scale)")
    return ax


def plot_confusion_matrix(matrix, class_names=None, ax=None, title: str = "Confusion matrix"):
    """Draw a confusion matrix (rows: true class, columns: predicted class) with its counts written in.

    ``matrix`` is a non-empty square array of counts (or rates) >= 0, e.g. from
    ``ffbook.metrics.confusion_matrix``. The diagonal is left out of the colour scale so that the
    errors, much rarer, stay visible. Returns the axes.
    """
    matrix = check_array("matrix", matrix, ndim=2, dtype=None)
    if matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be square, got shape {matrix.shape}")
    if np.any(matrix < 0):
        raise ValueError("matrix must hold counts or rates >= 0, got a negative entry")
    size = matrix.shape[0]
    names = [str(k) for k in range(size)] if class_names is None else [str(n) for n in class_names]
    if len(names) != size:
        raise ValueError(f"class_names must hold {size} names, got {len(names)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(0.55 * size + 2, 0.55 * size + 1.5))
    off_diagonal = np.where(np.eye(size, dtype=bool), 0, matrix)
    image = ax.imshow(off_diagonal, cmap="Reds")
    for row in range(size):
        for col in range(size):
            color = "black" if row != col else "tab:blue"
            weight = "bold" if row == col else "normal"
            ax.text(col, row, str(matrix[row, col]), ha="center", va="center", fontsize=7, color=color, weight=weight)
    ax.set_xticks(range(size), names)
    ax.set_yticks(range(size), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="count (off-diagonal)")
    return ax


def plot_computational_graph(
    nodes,
    edges,
    ax=None,
    title: str = "Computational graph",
    number_format: str = "{:.4g}",
    label_position: float = 0.5,
):
    """Draw a computational graph with the forward value (green, above) and the gradient (red, below) on each edge.

    Args:
        nodes: a mapping from a node's name to ``(x, y)`` or ``(x, y, label)`` in data coordinates;
            nodes that receive no edge (the inputs) are drawn grey, operations light blue.
        edges: ``(source, target, value, gradient)`` tuples; ``value`` is what flows forward along the
            edge and ``gradient`` is ∂(output)/∂(that value); either may be None to leave it out.
        ax: the axes to draw on (a new figure when None).
        title: the axes title.
        number_format: how values and gradients are written.
        label_position: where along each edge its numbers go, from 0 (source) to 1 (target);
            move them towards the source when several edges converge on one node.

    Returns the axes.
    """
    if not hasattr(nodes, "items") or len(nodes) == 0:
        raise TypeError("nodes must be a non-empty mapping from names to (x, y) or (x, y, label)")
    positions, labels = {}, {}
    for name, spec in nodes.items():
        if not isinstance(spec, (tuple, list)) or len(spec) not in (2, 3):
            raise ValueError(f"node {name!r} must be (x, y) or (x, y, label), got {spec!r}")
        positions[name] = (float(spec[0]), float(spec[1]))
        labels[name] = str(spec[2]) if len(spec) == 3 else str(name)
    for edge in edges:
        if len(edge) != 4:
            raise ValueError(f"each edge must be (source, target, value, gradient), got {edge!r}")
        for end in edge[:2]:
            if end not in positions:
                raise ValueError(f"edge {edge[:2]!r} names an unknown node {end!r}")
    if not 0.0 <= label_position <= 1.0:
        raise ValueError(f"label_position must be in [0, 1], got {label_position}")
    if ax is None:
        xs = [p[0] for p in positions.values()]
        ys = [p[1] for p in positions.values()]
        width = max(xs) - min(xs) + 2
        height = max(ys) - min(ys) + 1.5
        _, ax = plt.subplots(figsize=(min(1.6 * width, 14), min(1.6 * height, 8)))
    targets = {edge[1] for edge in edges}
    for name, (x, y) in positions.items():
        face = "#dbe9f6" if name in targets else "#eeeeee"
        ax.add_patch(plt.Circle((x, y), 0.32, facecolor=face, edgecolor="black", zorder=2))
        ax.text(x, y, labels[name], ha="center", va="center", fontsize=10, zorder=3)
    for source, target, value, gradient in edges:
        (x0, y0), (x1, y1) = positions[source], positions[target]
        ax.annotate(
            "",
            xy=(x1, y1),
            xytext=(x0, y0),
            arrowprops={"arrowstyle": "-|>", "color": "dimgray", "shrinkA": 17, "shrinkB": 17},
            zorder=1,
        )
        mid_x, mid_y = x0 + label_position * (x1 - x0), y0 + label_position * (y1 - y0)
        if value is not None:
            ax.text(mid_x, mid_y + 0.1, number_format.format(value), color="tab:green", ha="center", va="bottom")
        if gradient is not None:
            ax.text(mid_x, mid_y - 0.1, number_format.format(gradient), color="tab:red", ha="center", va="top")
    xs = [p[0] for p in positions.values()]
    ys = [p[1] for p in positions.values()]
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.7, max(ys) + 0.9)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("green, above each edge: forward value; red, below: gradient of the output with respect to it")
    ax.set_title(title)
    return ax


def _history_series(history, key: str) -> np.ndarray:
    if not hasattr(history, "get") or key not in history:
        raise ValueError(f"history must be a mapping with a {key!r} entry (e.g. ffbook.ff.History.to_dict())")
    return np.asarray(history[key], dtype=float)


def plot_ff_layer_losses(history, ax=None, title: str = "Forward-Forward loss per layer"):
    """Draw each layer's mean FF loss per epoch from a Forward-Forward history mapping.

    ``history["layer_loss"]`` holds one list per epoch with one loss per layer. The dotted line
    is $\\log 2$: a layer that gives positive and negative data the same goodness $G$ has loss
    $\\tfrac12[\\operatorname{softplus}(\\theta - G) + \\operatorname{softplus}(G - \\theta)] \\ge \\log 2$
    (equality at $G = \\theta$), so a loss below the line means the layer tells them apart.
    Returns the axes.
    """
    losses = _history_series(history, "layer_loss")
    if losses.ndim != 2 or losses.size == 0:
        raise ValueError("history['layer_loss'] must be a non-empty (epochs, layers) table")
    if np.any(losses < 0):
        raise ValueError("history['layer_loss'] must hold losses >= 0 (FF's logistic loss), got a negative value")
    # A log scale: the first epoch's loss can be 100 times the last, which a linear axis flattens to 0. A loss
    # that underflowed to 0 in float32 has no place on it, so such a history keeps a linear axis.
    log_scale = bool(np.all(losses[np.isfinite(losses)] > 0))
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    epochs = np.arange(1, len(losses) + 1)
    for layer in range(losses.shape[1]):
        ax.plot(epochs, losses[:, layer], marker="o" if len(epochs) < 30 else None, label=f"layer {layer + 1}")
    ax.axhline(np.log(2.0), color="gray", linestyle=":", label="log 2 (best without telling pos. from neg.)")
    if log_scale:
        ax.set_yscale("log")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean FF loss (log scale)" if log_scale else "mean FF loss")
    ax.set_title(title)
    ax.legend(loc="best")
    return ax


def plot_ff_test_error(history, ax=None, title: str = "Test error per epoch", references: dict | None = None):
    """Draw the error (in %) on the history's evaluation set at the epochs it was measured.

    The line is the goodness rule the history records as ``test_error`` (the scored layers summed:
    the paper's rule); the softmax read-out's error is drawn too when the history has one.
    ``references`` maps a label to an error in % (e.g. ``{"paper": 1.36}``), drawn dashed. Returns the axes.
    """
    epochs = _history_series(history, "test_epochs")
    errors = 100 * _history_series(history, "test_error")
    if errors.size == 0 or errors.shape != epochs.shape:
        raise ValueError("history has no test errors (pass test data to fit)")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(epochs, errors, marker="o", label="FF, goodness of the scored layers summed")
    readout = 100 * np.asarray(history.get("readout_test_error") or [], dtype=float)
    if readout.size == errors.size:
        ax.plot(epochs, readout, marker="s", label="FF, softmax read-out")
    for index, (label, value) in enumerate((references or {}).items()):
        ax.axhline(value, linestyle="--", color=f"C{index + 2}", label=f"{label}: {value:.2f}%")
    log_percent_axis(ax, f"{history.get('eval_set', 'test')} error")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    return ax


def plot_goodness_distributions(pos, neg, threshold: float | None = None, title: str = "Goodness per layer", bins=50):
    """Histograms of the goodness of positive vs negative data, one panel per layer.

    ``pos`` and ``neg`` are arrays (samples, layers), e.g. ``FFNet.layer_goodness`` with the true
    labels and with wrong labels. The dashed line marks the threshold. Returns the figure.
    """
    pos = check_array("pos", pos, ndim=2, nonempty=True)
    neg = check_array("neg", neg, ndim=2, nonempty=True)
    if pos.shape[1] != neg.shape[1]:
        raise ValueError(f"pos and neg must have the same number of layers (columns), got {pos.shape} and {neg.shape}")
    if threshold is not None:
        threshold = check_real("threshold", threshold)
    bins = check_int("bins", bins, min=1)
    layers = pos.shape[1]
    fig, axes = plt.subplots(1, layers, figsize=(3.2 * layers, 2.8), squeeze=False)
    for layer, ax in enumerate(axes[0]):
        upper = np.percentile(np.concatenate([pos[:, layer], neg[:, layer]]), 99.5)
        edges = np.linspace(0, max(upper, 1e-6) * 1.05, bins + 1)
        ax.hist(np.clip(pos[:, layer], 0, edges[-1]), edges, alpha=0.6, color="tab:green", label="positive")
        ax.hist(np.clip(neg[:, layer], 0, edges[-1]), edges, alpha=0.6, color="tab:red", label="negative")
        if threshold is not None:
            ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:g}")
        ax.set_title(f"layer {layer + 1}")
        ax.set_xlabel("goodness")
        ax.set_ylabel("count" if layer == 0 else "")
    axes[0][0].legend(fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _check_goodness_samples(name: str, values) -> np.ndarray:
    values = check_array(name, values, nonempty=True).ravel()
    if np.any(values < 0):
        raise ValueError(f"{name} must be a non-empty array of finite goodness values >= 0")
    return values


def threshold_summary(g_pos, g_neg, threshold: float) -> dict:
    """How a threshold $\\theta$ fares on given goodness values.

    ``loss``: the Forward-Forward loss $\\operatorname{mean}(\\operatorname{softplus}(\\theta - G_{pos}),
    \\operatorname{softplus}(G_{neg} - \\theta))$ over both sets together; ``p_pos_mean`` and ``p_neg_mean``:
    the mean of $p(\\text{positive}) = \\sigma(G - \\theta)$ on each set; ``accuracy``: the fraction of
    samples on the right side of $\\theta$ ($G_{pos} > \\theta$, $G_{neg} < \\theta$).
    """
    g_pos, g_neg = _check_goodness_samples("g_pos", g_pos), _check_goodness_samples("g_neg", g_neg)
    threshold = check_real("threshold", threshold, nonnegative=True)  # goodness is never negative
    margins = np.concatenate([threshold - g_pos, g_neg - threshold])
    return {
        "loss": float(np.mean(np.logaddexp(0.0, margins))),
        "p_pos_mean": float(np.mean(1 / (1 + np.exp(threshold - g_pos)))),
        "p_neg_mean": float(np.mean(1 / (1 + np.exp(threshold - g_neg)))),
        "accuracy": float(np.mean(margins < 0)),
    }


def plot_threshold_effect(g_pos, g_neg, threshold: float, bins: int = 40, title: str | None = None):
    """Three panels for one threshold $\\theta$: the goodness of positive and negative data with
    $\\theta$ marked; $p(\\text{positive}) = \\sigma(G - \\theta)$ as a function of $G$; the mean loss as a
    function of $\\theta$ with the chosen $\\theta$ marked; ``bins`` histogram bins (an int >= 1).
    Returns the figure.
    """
    summary = threshold_summary(g_pos, g_neg, threshold)  # checks g_pos, g_neg and threshold >= 0
    bins = check_int("bins", bins, min=1)
    threshold = float(threshold)
    g_pos, g_neg = np.asarray(g_pos, dtype=float).ravel(), np.asarray(g_neg, dtype=float).ravel()
    upper = max(np.percentile(np.concatenate([g_pos, g_neg]), 99.5), threshold) * 1.15
    grid = np.linspace(0, upper, 200)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2), dpi=100)
    edges = np.linspace(0, upper, bins + 1)
    axes[0].hist(np.clip(g_pos, 0, upper), edges, alpha=0.6, color="tab:green", label="positive")
    axes[0].hist(np.clip(g_neg, 0, upper), edges, alpha=0.6, color="tab:red", label="negative")
    axes[0].set(xlabel="goodness G", ylabel="count", title="Goodness of the two kinds of data")
    axes[1].plot(grid, 1 / (1 + np.exp(threshold - grid)), color="tab:blue")
    axes[1].set(xlabel="goodness G", ylabel="p(positive)", title=r"$p(\mathrm{positive}) = \sigma(G - \theta)$")
    losses = [threshold_summary(g_pos, g_neg, theta)["loss"] for theta in grid]
    axes[2].plot(grid, losses, color="tab:purple")
    axes[2].plot([threshold], [summary["loss"]], "o", color="black")
    axes[2].set(xlabel=r"threshold $\theta$", ylabel="mean FF loss", title="Loss as a function of the threshold")
    for ax in axes[:2]:
        ax.axvline(threshold, color="black", linestyle="--", label=rf"$\theta$ = {threshold:g}")
    axes[0].legend(fontsize="small")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(
        title
        or f"θ = {threshold:g}: loss {summary['loss']:.3f}, {summary['accuracy']:.0%} of samples on the right side of θ"
    )
    fig.tight_layout()
    return fig


def plot_train_test_curves(
    histories,
    metric: str = "accuracy",
    ax=None,
    title: str | None = None,
    train_prefix: str = "",
    held_out: str = "test",
    logy: bool = False,
):
    """Draw a training series (solid) and the held-out series ``val_<metric>`` (dashed) per epoch, one colour per run.

    Keras calls whatever is passed as ``validation_data`` "val_"; ``held_out`` names what it really
    is in the legend ("test" when the test set was passed, as in the lecture).

    Args:
        histories: a non-empty mapping from a run's label to its history (metric name -> per-epoch values).
        metric: the metric to draw, e.g. ``"accuracy"`` or ``"loss"``.
        ax: the axes to draw on (a new figure when None).
        title: the axes title (a default names the metric and the held-out data).
        train_prefix: the training series is ``train_prefix + metric``: ``""`` for Keras' running average
            over the epoch, ``"clean_"`` for the after-epoch values of ``ffbook.keras_models.CleanTrainingMetrics``.
        held_out: the legend's name for the ``val_`` series; a non-empty string.
        logy: a logarithmic y axis (useful for losses).

    Returns the axes.
    """
    if not hasattr(histories, "items") or len(histories) == 0:
        raise TypeError("histories must be a non-empty mapping from run labels to history dicts")
    if not isinstance(held_out, str) or not held_out:
        raise TypeError(f"held_out must be a non-empty string, got {held_out!r}")
    train_key = f"{train_prefix}{metric}"
    for label, history in histories.items():
        if not hasattr(history, "get") or train_key not in history:
            raise ValueError(f"history {label!r} has no {train_key!r} entry")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    for index, (label, history) in enumerate(histories.items()):
        color = f"C{index}"
        epochs = np.arange(1, len(history[train_key]) + 1)
        ax.plot(epochs, history[train_key], "-o", color=color, markersize=3, label=f"{label}: training")
        if f"val_{metric}" in history:
            held = history[f"val_{metric}"]
            ax.plot(np.arange(1, len(held) + 1), held, "--s", color=color, markersize=3, label=f"{label}: {held_out}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    if logy:
        ax.set_yscale("log")
    ax.set_title(title or f"Training and {held_out} {metric} per epoch")
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    return ax


def top_activating(activations, top: int) -> np.ndarray:
    """Indices of the ``top`` inputs with the largest activation, for every unit.

    Args:
        activations: shape (n inputs, units), e.g. one layer's outputs on a set of inputs.
        top: how many inputs to keep per unit, 1 <= top <= n.

    Returns an int array of shape (top, units): column j lists unit j's inputs from the most to the
    least activating; ties keep the inputs' order (a stable sort), so the result is reproducible.
    """
    activations = np.asarray(activations, dtype=float)
    if activations.ndim != 2 or activations.shape[0] == 0:
        raise ValueError(f"activations must have shape (n inputs, units) with n >= 1, got {activations.shape}")
    top = check_int("top", top, min=1, max=activations.shape[0])
    return np.argsort(-activations, axis=0, kind="stable")[:top]


def plot_unit_preferences(
    images,
    activations,
    top: int = 3,
    unit_labels=None,
    image_names=None,
    fig=None,
    suptitle: str | None = None,
    cmap: str = "gray",
    vmin: float | None = None,
    vmax: float | None = None,
    size: float = 1.1,
):
    """For each unit, the inputs that activate it most: one column per unit, best input on top.

    Each picture is titled with the input's name (when given) and the unit's activation on it.

    Args:
        images: the candidate inputs as pictures, shape (n, height, width).
        activations: the units' responses to them, shape (n, units).
        top: pictures per unit (see ``top_activating``).
        unit_labels: one column header per unit (default "unit 1", "unit 2", ...).
        image_names: one name per input, or None.
        fig: a Figure or SubFigure to draw into (a new constrained-layout figure when None).
        suptitle: the (sub)figure's title.
        cmap, vmin, vmax: passed to ``imshow``.
        size: inches per picture when a new figure is made.

    Returns the (sub)figure.
    """
    images = np.asarray(images)
    activations = np.asarray(activations, dtype=float)
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(f"images must have shape (n, height, width) with n >= 1, got {images.shape}")
    if activations.ndim != 2 or activations.shape[0] != len(images):
        raise ValueError(f"activations must have shape ({len(images)}, units), got {activations.shape}")
    order = top_activating(activations, top)
    units = activations.shape[1]
    labels = [f"unit {j + 1}" for j in range(units)] if unit_labels is None else [str(u) for u in unit_labels]
    if len(labels) != units:
        raise ValueError(f"unit_labels must hold {units} labels, got {len(labels)}")
    if image_names is not None and len(image_names) != len(images):
        raise ValueError(f"image_names must hold one name per image: {len(image_names)} for {len(images)} images")
    if fig is None:
        fig = plt.figure(figsize=(size * units + 0.4, (size + 0.45) * len(order) + 0.7), layout="constrained")
    axes = fig.subplots(len(order), units, squeeze=False)
    for rank, row in enumerate(axes):
        for unit, ax in enumerate(row):
            index = order[rank, unit]
            ax.imshow(images[index], cmap=cmap, vmin=vmin, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            caption = f"{activations[index, unit]:.2f}"
            if image_names is not None:
                caption = f"{image_names[index]}: {caption}"
            ax.set_title(f"{labels[unit]}\n{caption}" if rank == 0 else caption, fontsize="x-small")
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def _box(ax, x: float, y: float, text: str, color: str, gid: str, width: float = 1.3, height: float = 0.7):
    """A labelled rounded box centred at (x, y)."""
    from matplotlib.patches import FancyBboxPatch

    patch = FancyBboxPatch((x - width / 2, y - height / 2), width, height, boxstyle="round,pad=0.05",
                           facecolor=color, edgecolor="black", linewidth=1.0, gid=gid)
    ax.add_patch(patch)
    ax.text(x, y, text, ha="center", va="center", fontsize=9)


def _arrow(ax, start, end, gid: str, color: str = "black", style: str = "-", rad: float = 0.0):
    from matplotlib.patches import FancyArrowPatch

    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color=color,
                                 linestyle=style, linewidth=1.4, gid=gid,
                                 connectionstyle=f"arc3,rad={rad}", shrinkA=2, shrinkB=2))


def plot_bp_ff_schematic(num_layers: int = 3, title: str = "What flows where in one training step"):
    """Two panels: one backpropagation step and one Forward-Forward step through ``num_layers`` layers.

    Backprop (top): forward arrows (black, ``gid="forward"``) from the input through every layer to
    one loss at the top, then the backward pass (red, dashed, ``gid="backward"``) from the loss down
    through every layer, so every layer's activities are kept until it arrives. FF (bottom): forward
    arrows carry each layer's detached activities to the next (``gid="forward"``); every layer has
    its own loss (``gid="local_loss"``), reached by an arrow up (``gid="to_local_loss"``) and
    answered by a short backward pass into that layer alone (``gid="local_backward"``); no arrow
    goes from a layer's loss to any other layer. Returns the figure.
    """
    num_layers = check_int("num_layers", num_layers, min=1, max=8)
    fig, (ax_bp, ax_ff) = plt.subplots(2, 1, figsize=(1.9 * (num_layers + 2) + 1, 5.4), dpi=100)
    xs = [1.9 * i for i in range(num_layers + 2)]
    layer_color, loss_color, red = "#dbe9f6", "#fde0c5", "tab:red"

    _box(ax_bp, xs[0], 0, "input $x$\n(image, label)", "white", "input")
    for i in range(1, num_layers + 1):
        _box(ax_bp, xs[i], 0, f"layer {i}\nkeeps $\\hat{{x}}$, $h$", layer_color, "layer")
    _box(ax_bp, xs[-1], 0, "softmax +\none loss $J$", loss_color, "loss")
    for i in range(num_layers + 1):
        _arrow(ax_bp, (xs[i] + 0.7, 0.12), (xs[i + 1] - 0.7, 0.12), "forward")
        _arrow(ax_bp, (xs[i + 1] - 0.7, -0.12), (xs[i] + 0.7, -0.12), "backward", red, "--") if i else None
    ax_bp.text(xs[-1] / 2, -0.75, "backward: $\\delta$ from $J$ down through every layer (BP1, then BP2 at each "
               "layer); all layers' $\\hat{x}$, $h$ stay in memory until it arrives", ha="center", fontsize=8.5,
               color=red)
    ax_bp.set_title("Backpropagation: one loss, one backward pass through all layers")

    _box(ax_ff, xs[0], 0, "input $x$\n(pos. and neg.)", "white", "input")
    for i in range(1, num_layers + 1):
        _box(ax_ff, xs[i], 0, f"layer {i}", layer_color, "layer")
        _box(ax_ff, xs[i], 1.25, f"loss {i}\n$G_{i}$ vs $\\theta$", loss_color, "local_loss", height=0.6)
        _arrow(ax_ff, (xs[i] - 0.2, 0.4), (xs[i] - 0.2, 0.9), "to_local_loss")
        _arrow(ax_ff, (xs[i] + 0.2, 0.9), (xs[i] + 0.2, 0.4), "local_backward", red, "--")
    for i in range(num_layers):
        _arrow(ax_ff, (xs[i] + 0.7, 0), (xs[i + 1] - 0.7, 0), "forward")
        if i:
            ax_ff.text((xs[i] + xs[i + 1]) / 2, -0.5, "detached $h$", ha="center", fontsize=8, color="tab:gray")
    ax_ff.text(xs[-1] / 2, -0.75, "each layer: BP1, BP3, BP4 with its own loss; no BP2, nothing sent to the "
               "layer below; only one layer's $\\hat{x}$, $h$ kept at a time", ha="center", fontsize=8.5, color=red)
    ax_ff.set_title("Forward-Forward: one loss per layer, a backward pass inside each layer only")

    for ax, top in [(ax_bp, 0.8), (ax_ff, 1.8)]:
        ax.set_xlim(-0.9, xs[-1] + 0.9)
        ax.set_ylim(-1.0, top)
        ax.set_xlabel("depth (input on the left)")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color="black", label="forward: activities"),
               Line2D([], [], color=red, linestyle="--", label="backward: derivatives")]
    ax_ff.legend(handles=handles, loc="upper right", fontsize=8, frameon=False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_ablation(rows: list[dict], ax=None, title: str = "Hinton's recipe with one thing changed"):
    """Each variant's test error (mean ± std over seeds) by the goodness rule and by the softmax.

    ``rows`` are ``ffbook.ff.records.load_ablation()``'s (errors in %, the unchanged recipe first).
    Variants over three times the recipe's error would squash the rest: they sit at the right
    edge as a ▶ with their value. A dotted line marks the recipe. Returns the axes.
    """
    if not rows or any(not {"variant", "goodness", "softmax", "epochs"} <= set(row) for row in rows):
        raise ValueError("rows must be ablation rows (variant, goodness, softmax, epochs), the recipe first")
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.2))
    positions = list(range(len(rows)))[::-1]
    cut = 3 * rows[0]["goodness"][0]
    learned = [r[key][0] for r in rows for key in ("goodness", "softmax") if r[key][0] < cut]
    edge = max(learned) + 0.6
    for key, offset, colour, label in (
        ("goodness", 0.15, "tab:blue", "goodness of layers 2-3"),
        ("softmax", -0.15, "tab:orange", "softmax on a neutral label"),
    ):
        inside = [(r, p) for r, p in zip(rows, positions, strict=True) if r[key][0] <= edge]
        ax.errorbar(
            [r[key][0] for r, _ in inside],
            [p + offset for _, p in inside],
            xerr=[r[key][1] for r, _ in inside],
            fmt="o",
            color=colour,
            capsize=3,
            label=label,
        )
        for r, p in zip(rows, positions, strict=True):
            if r[key][0] > edge:
                ax.plot([edge], [p + offset], marker=">", color=colour)
                ax.annotate(f"{r[key][0]:.1f}%", (edge, p + offset), xytext=(-8, 0), textcoords="offset points",
                            ha="right", va="center", fontsize=8, color=colour)  # fmt: skip
    ax.axvline(rows[0]["goodness"][0], color="tab:blue", linestyle=":", linewidth=1)
    ax.set_xlim(min(learned) - 0.4, edge + 0.1)
    ax.set_yticks(positions, [r["variant"] for r in rows])
    ax.set_xlabel(f"test error (%), mean ± std over seeds, {rows[0]['epochs']} epochs (off scale: ▶ and its value)")
    ax.set_title(title)
    ax.legend(loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return ax
