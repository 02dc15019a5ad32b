"""nnc: fully connected neural networks trained by a fused Cython engine.

>>> import nnc
>>> (X, y), (X_test, y_test) = nnc.datasets.load_mnist()
>>> net = nnc.Network([784, 30, 10], seed=0)
>>> history = net.fit(X[:10000], y[:10000], epochs=1, batch_size=10, lr=3.0, verbose=0)
>>> net.evaluate(X_test, y_test)["accuracy"] > 0.8   # 30 epochs on 50,000 images: about 0.95
True
"""
import os as _os

# OpenMP threads that finish a parallel region spin for a while before they
# sleep.  On a machine whose cores are busy with other programs, that spinning
# steals the time the other threads of the region need; a short spin keeps the
# wake-up fast on an idle machine without the collapse on a busy one.  Set
# before nnc's extensions load libgomp; a user's own setting wins.
if "OMP_WAIT_POLICY" not in _os.environ and "GOMP_SPINCOUNT" not in _os.environ:
    _os.environ["GOMP_SPINCOUNT"] = "10000"

from nnc._version import __version__
from nnc import activations, datasets, downloads, kernels, losses, optimizers
from nnc.io import load
from nnc.network import DivergenceError, Network
from nnc.perceptron import Perceptron

__all__ = ["Network", "Perceptron", "DivergenceError", "load", "datasets", "downloads", "kernels", "activations",
           "losses", "optimizers", "__version__"]
