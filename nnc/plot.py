"""Figures: learning curves, first-layer weights, activations, confusion matrix.

matplotlib is an optional dependency (``pip install 'nnc[plot]'``), imported
only when a function here is called.  The figures are built with
matplotlib's object-oriented API on the Agg canvas: nothing here touches
``pyplot``'s global state or needs a display, so the functions work the same
on a headless server, in a script and in a notebook (which displays the
returned :class:`~matplotlib.figure.Figure`).

Every function returns the Figure and, when ``path`` is given, also saves it
there (PNG unless the file name's extension names another format).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from nnc import _files
from nnc import _validation as V

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from matplotlib.figure import Figure

    from nnc._typing import ArrayLike, PathLike

__all__ = ["learning_curves", "first_layer_weights", "activation_functions",
           "confusion_matrix"]


def _figure(figsize):
    """A new Figure on an Agg canvas (no pyplot, no display needed)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("nnc.plot needs matplotlib: pip install 'nnc[plot]'") from exc
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _finish(fig, path, dpi=100):
    if path is not None:
        _files.check_writable(path)  # refuse devices, FIFOs and missing folders first
        fig.savefig(path, dpi=dpi)
    return fig


# ---------------------------------------------------------------------------
# learning curves
# ---------------------------------------------------------------------------
def _history_of(history):
    """A dict of per-epoch lists from a history dict, a Network or an estimator."""
    if isinstance(history, dict):
        return history
    if hasattr(history, "loss_curve_"):          # nnc.sklearn / scikit-learn MLP
        out = {"loss": list(history.loss_curve_)}
        if getattr(history, "validation_scores_", None):
            out["val_accuracy"] = list(history.validation_scores_)
        return out
    if isinstance(getattr(history, "history", None), dict):   # Network, Perceptron
        return history.history
    raise TypeError("history must be a dict of per-epoch lists (such as Network.fit's "
                    f"result), a Network or a fitted estimator, got {type(history).__name__}")


def learning_curves(history: Any, path: PathLike | None = None, title: str | None = None) -> Figure:
    """Loss and accuracy per epoch, training and validation side by side.

    Parameters
    ----------
    history : dict, nnc.Network, nnc.Perceptron or fitted nnc.sklearn estimator
        Per-epoch lists: ``loss`` and ``accuracy``, with ``val_loss`` and
        ``val_accuracy`` when there was validation data (``Network.fit``'s
        result or ``net.history``); a perceptron's ``errors``.
    path : str or os.PathLike, optional
        Where to save the figure.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Two panels: the loss (or mistakes), and the accuracy.
    """
    hist = _history_of(history)
    first = "loss" if hist.get("loss") else "errors"
    series = [(first, "val_loss"), ("accuracy", "val_accuracy")]
    if not any(hist.get(k) for pair in series for k in pair):
        raise ValueError("history holds no epochs to plot (no 'loss', 'accuracy', "
                         "'val_loss' or 'val_accuracy' values)")
    fig = _figure((10, 4))
    axes = fig.subplots(1, 2)
    names = {"loss": "loss", "errors": "mistakes", "accuracy": "accuracy"}
    for ax, (train_key, val_key) in zip(axes, series, strict=True):
        for key, label, style in ((train_key, "training", "-"), (val_key, "validation", "--")):
            values = np.asarray(hist.get(key) or [], dtype=float)
            if values.size:
                epochs = np.arange(1, values.size + 1)
                ax.plot(epochs, values, style, marker="o" if values.size <= 30 else None,
                        markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(names[train_key])
        ax.set_title(names[train_key])
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend()
            ax.xaxis.get_major_locator().set_params(integer=True)
        else:
            ax.text(0.5, 0.5, "not recorded", ha="center", va="center",
                    transform=ax.transAxes, color="grey")
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


# ---------------------------------------------------------------------------
# first-layer weights
# ---------------------------------------------------------------------------
def _first_layer(net):
    """W^1 of shape (n_hidden, n_inputs) from a network, an estimator or an array."""
    if hasattr(net, "weights") and not isinstance(net, np.ndarray):
        return np.asarray(net.weights[0])
    if hasattr(net, "network_"):
        return np.asarray(net.network_.weights[0])
    if hasattr(net, "coefs_"):                      # scikit-learn: (n_in, n_out)
        return np.asarray(net.coefs_[0]).T
    arr = np.asarray(net)
    if arr.ndim != 2:
        raise TypeError("net must be a Network, a Perceptron, a fitted MLP estimator or "
                        "an array of shape (n_neurons, n_inputs)")
    return arr


def first_layer_weights(net: Any, path: PathLike | None = None, image_shape: tuple[int, int] = (28, 28),
                        max_neurons: int = 100, cmap: str = "RdBu_r") -> Figure:
    """Each first-layer neuron's incoming weights drawn as an image.

    Red is positive, blue negative, white zero, on one colour scale shared by
    all neurons and symmetric about zero, so that the images compare: a
    neuron responds to ink on its red pixels and is inhibited by ink on its
    blue ones.

    Parameters
    ----------
    net : nnc.Network, nnc.Perceptron, fitted MLP estimator or ndarray
        An array is read as (n_neurons, n_inputs).
    path : str or os.PathLike, optional
    image_shape : (int, int), default (28, 28)
        Height and width of an input image; their product must equal the
        number of inputs (784 for MNIST).
    max_neurons : int, default 100
        Draw at most this many neurons (the first ones).
    cmap : str, default "RdBu_r"
        A diverging colour map.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per neuron, in a near-square grid, and a colour bar.
    """
    W = _first_layer(net).astype(float)
    h, w = (int(v) for v in image_shape)
    if h * w != W.shape[1]:
        raise ValueError(f"image_shape {tuple(image_shape)} has {h * w} pixels but the "
                         f"first layer has {W.shape[1]} inputs")
    if isinstance(max_neurons, bool) or not isinstance(max_neurons, (int, np.integer)) \
            or max_neurons < 1:
        raise ValueError(f"max_neurons must be an integer >= 1, got {max_neurons!r}")
    W = W[:max_neurons]
    n = W.shape[0]
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    limit = float(np.abs(W).max()) or 1.0
    fig = _figure((1.2 * cols + 1.2, 1.2 * rows + 0.4))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    image = None
    for i, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.set_axis_off()
            continue
        image = ax.imshow(W[i].reshape(h, w), cmap=cmap, vmin=-limit, vmax=limit,
                          interpolation="nearest")
        ax.set_title(str(i), fontsize=7, pad=2)
    fig.colorbar(image, ax=axes.tolist(), shrink=0.8, label="weight")
    fig.suptitle(f"first-layer weights ({n} neurons)")
    return _finish(fig, path)


# ---------------------------------------------------------------------------
# activation functions
# ---------------------------------------------------------------------------
def activation_functions(names: Sequence[str] | None = None, path: PathLike | None = None,
                         z_range: tuple[float, float] = (-4.0, 4.0)) -> Figure:
    """Each activation function and its derivative.

    Parameters
    ----------
    names : sequence of str, optional
        Activations to draw (default: every elementwise one nnc has; softmax
        is not elementwise and is left out).
    path : str or os.PathLike, optional
    z_range : (float, float), default (-4, 4)

    Returns
    -------
    matplotlib.figure.Figure
        One panel per activation: f(z) solid, f'(z) dashed.
    """
    from nnc import activations as acts
    if names is None:
        names = [n for n in acts.FUNCTIONS if n != "softmax"]
    elif isinstance(names, str):
        names = [names]
    names = [acts.canonical(n, "names") for n in names]
    if not names:
        raise ValueError("names must name at least one activation")
    if "softmax" in names:
        raise ValueError("softmax is not an elementwise function of z; it cannot be "
                         "drawn as f(z)")
    lo, hi = (float(v) for v in z_range)
    if not lo < hi:
        raise ValueError(f"z_range must be (low, high) with low < high, got {z_range!r}")
    z = np.linspace(lo, hi, 801)
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig = _figure((3.6 * cols, 2.8 * rows))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, name in zip(axes, names, strict=False):
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(0, color="grey", lw=0.5)
        ax.plot(z, acts.FUNCTIONS[name](z), label="f(z)")
        if name in acts.DERIVATIVES:
            ax.plot(z, acts.DERIVATIVES[name](z), "--", label="f'(z)")
        else:   # the step: 0 everywhere but at 0, where it has no derivative
            ax.plot(z, np.zeros_like(z), "--", label="f'(z) (0 for z != 0)")
        ax.set_title(name)
        ax.set_xlabel("z")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes[len(names):]:
        ax.set_axis_off()
    return _finish(fig, path)


# ---------------------------------------------------------------------------
# confusion matrix
# ---------------------------------------------------------------------------
def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike, path: PathLike | None = None,
                     labels: Sequence[Any] | None = None, normalize: bool = False,
                     cmap: str = "Blues") -> Figure:
    """Counts of (true class, predicted class) pairs as an annotated grid.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        Class labels (numbers or strings).
    path : str or os.PathLike, optional
    labels : sequence, optional
        Classes and their order (default: the sorted union of both).
    normalize : bool, default False
        Show each row as fractions of that true class.
    cmap : str, default "Blues"

    Returns
    -------
    matplotlib.figure.Figure
        Rows are true classes, columns predicted ones; the matrix itself is
        attached as ``figure.nnc_matrix``.
    """
    normalize = V.check_bool("normalize", normalize)
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.ndim != 1 or y_pred.ndim != 1:
        raise ValueError("y_true and y_pred must be 1-D arrays of labels")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.shape[0]} labels but y_pred has "
                         f"{y_pred.shape[0]}")
    if y_true.size == 0:
        raise ValueError("y_true is empty")
    labels = np.union1d(y_true, y_pred) if labels is None else np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0 or len(np.unique(labels)) != labels.size:
        raise ValueError("labels must be a non-empty sequence of distinct classes")
    index = {label: i for i, label in enumerate(labels.tolist())}
    k = len(index)
    matrix = np.zeros((k, k), dtype=np.int64)
    for t, p in zip(y_true.tolist(), y_pred.tolist(), strict=True):
        if t in index and p in index:
            matrix[index[t], index[p]] += 1
    shown = matrix.astype(float)
    if normalize:
        totals = shown.sum(axis=1, keepdims=True)
        shown = np.divide(shown, totals, out=np.zeros_like(shown), where=totals > 0)
    size = max(4.0, 0.55 * k + 2)
    fig = _figure((size + 1, size))
    ax = fig.subplots()
    image = ax.imshow(shown, cmap=cmap, vmin=0)
    fig.colorbar(image, ax=ax, shrink=0.8, label="fraction" if normalize else "count")
    ax.set_xticks(range(k), [str(v) for v in labels.tolist()],
                  rotation=45 if k > 10 else 0)
    ax.set_yticks(range(k), [str(v) for v in labels.tolist()])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    ax.set_title(f"confusion matrix (accuracy {accuracy:.2%})")
    if k <= 30:
        threshold = shown.max() / 2 if shown.max() > 0 else 1
        for i in range(k):
            for j in range(k):
                text = f"{shown[i, j]:.2f}" if normalize else str(matrix[i, j])
                ax.text(j, i, text, ha="center", va="center", fontsize=8,
                        color="white" if shown[i, j] > threshold else "black")
    fig.nnc_matrix = matrix
    return _finish(fig, path)
