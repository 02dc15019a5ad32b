"""nnc.plot renders headlessly to PNG files with the right content."""
import struct
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import nnc  # noqa: E402
from nnc import plot  # noqa: E402
from nnc.perceptron import Perceptron  # noqa: E402


def png_size(path):
    """(width, height) from a PNG file's header; fails on anything else."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    assert data[12:16] == b"IHDR"
    assert data[-8:-4] == b"IEND", "truncated PNG"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(0)
    X = rng.random((200, 784), dtype=np.float32)
    y = rng.integers(0, 10, 200)
    net = nnc.Network([784, 12, 10], seed=0)
    history = net.fit(X[:150], y[:150], epochs=3, batch_size=10, lr=0.5, verbose=0,
                      validation_data=(X[150:], y[150:]))
    return net, history


def test_learning_curves_png(tmp_path, trained):
    net, history = trained
    path = tmp_path / "curves.png"
    fig = plot.learning_curves(history, path=path, title="tiny")
    w, h = png_size(path)
    assert (w, h) == (1000, 400) and path.stat().st_size > 10_000
    loss_ax, acc_ax = fig.axes
    labels = [line.get_label() for line in loss_ax.lines]
    assert labels == ["training", "validation"]
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), history["loss"])
    np.testing.assert_allclose(acc_ax.lines[1].get_ydata(), history["val_accuracy"])
    np.testing.assert_array_equal(loss_ax.lines[0].get_xdata(), [1, 2, 3])
    # a network (its whole history) works too, and without a path nothing is saved
    fig2 = plot.learning_curves(net)
    assert len(fig2.axes[0].lines) == 2


def test_learning_curves_of_estimator_and_perceptron(tmp_path):
    pytest.importorskip("sklearn")
    from nnc.sklearn import MLPClassifier
    X = np.random.default_rng(1).random((60, 4))
    y = (X[:, 0] > 0.5).astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, threads=1)
    with pytest.warns(Warning):
        clf.fit(X, y)
    fig = plot.learning_curves(clf, path=tmp_path / "est.png")
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), clf.loss_curve_)
    p = Perceptron(4)
    p.fit(X, y, epochs=5)
    fig = plot.learning_curves(p)
    assert fig.axes[0].get_ylabel() == "mistakes"
    with pytest.raises(ValueError, match="no epochs"):
        plot.learning_curves({"loss": [], "accuracy": []})
    with pytest.raises(TypeError, match="history"):
        plot.learning_curves(42)


def test_first_layer_weights_png(tmp_path, trained):
    net, _ = trained
    path = tmp_path / "weights.png"
    fig = plot.first_layer_weights(net, path=path)
    w, h = png_size(path)
    assert w > 300 and h > 300 and path.stat().st_size > 20_000
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 12
    W = net.weights[0]
    limit = np.abs(W).max()
    for i, im in enumerate(images):
        np.testing.assert_allclose(im.get_array(), W[i].reshape(28, 28), rtol=1e-6)
        assert im.get_clim() == pytest.approx((-limit, limit))   # symmetric, shared
        assert im.get_cmap().name == "RdBu_r"
    # estimator and bare-array forms; mismatched image shapes are refused
    assert len([a for a in plot.first_layer_weights(W[:3]).axes if a.images]) == 3
    with pytest.raises(ValueError, match="pixels"):
        plot.first_layer_weights(net, image_shape=(20, 20))
    with pytest.raises(ValueError, match="max_neurons"):
        plot.first_layer_weights(net, max_neurons=0)


def test_activation_functions_png(tmp_path):
    path = tmp_path / "acts.png"
    fig = plot.activation_functions(path=path)
    png_size(path)
    titles = [ax.get_title() for ax in fig.axes if ax.lines]
    assert "sigmoid" in titles and "relu" in titles and "step" in titles
    assert "softmax" not in titles
    fig = plot.activation_functions(["logistic", "tanh"])
    sig = fig.axes[0]
    z = sig.lines[2].get_xdata()     # after the two zero axes lines
    np.testing.assert_allclose(sig.lines[2].get_ydata(), 1 / (1 + np.exp(-z)), rtol=1e-12)
    np.testing.assert_allclose(sig.lines[3].get_ydata(),
                               np.exp(-z) / (1 + np.exp(-z)) ** 2, rtol=1e-9)
    with pytest.raises(ValueError, match="elementwise"):
        plot.activation_functions(["softmax"])
    with pytest.raises(ValueError, match="unknown"):
        plot.activation_functions(["nope"])


def test_confusion_matrix_png(tmp_path):
    y_true = ["cat", "cat", "dog", "dog", "dog", "eel"]
    y_pred = ["cat", "dog", "dog", "dog", "eel", "eel"]
    path = tmp_path / "cm.png"
    fig = plot.confusion_matrix(y_true, y_pred, path=path)
    png_size(path)
    np.testing.assert_array_equal(fig.nnc_matrix, [[1, 1, 0], [0, 2, 1], [0, 0, 1]])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "eel"]
    assert "66.67%" in ax.get_title()
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts.count("0") == 4 and "2" in texts
    fig = plot.confusion_matrix([0, 1, 1], [0, 1, 0], normalize=True, labels=[1, 0])
    np.testing.assert_array_equal(fig.nnc_matrix, [[1, 1], [0, 1]])
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), [[0.5, 0.5], [0, 1]])
    with pytest.raises(ValueError, match="y_pred"):
        plot.confusion_matrix([0, 1], [0])


def test_missing_matplotlib_names_the_extra(monkeypatch):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"nnc\[plot\]"):
        plot.confusion_matrix([0], [0])
