"""nnc: fully connected neural networks trained by a fused Cython engine.

>>> import nnc
>>> (X, y), (X_test, y_test) = nnc.datasets.load_mnist()
>>> net = nnc.Network([784, 30, 10], seed=0)
>>> history = net.fit(X[:10000], y[:10000], epochs=1, batch_size=10, lr=3.0, verbose=0)
>>> net.evaluate(X_test, y_test)["accuracy"] > 0.8   # 30 epochs on 50,000 images: about 0.95
True
"""
# First, so that nnc's extensions load libgomp with a short spin-wait (see
# nnc/_native.py); nothing is left in os.environ.
from nnc import _native  # noqa: F401

# isort: split
from nnc import activations, callbacks, datasets, downloads, kernels, losses, optimizers
from nnc._version import __version__
from nnc.io import load
from nnc.kernels import set_flush_denormal
from nnc.network import DivergenceError, Network
from nnc.perceptron import Perceptron

__all__ = ["Network", "Perceptron", "DivergenceError", "load", "set_flush_denormal", "datasets",
           "downloads", "kernels",
           "activations", "losses", "optimizers", "callbacks", "__version__"]
