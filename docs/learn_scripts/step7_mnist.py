"""
7. MNIST end to end
===================

The tutorials' experiment: a 784-30-10 network of sigmoid neurons, the
quadratic cost, mini-batches of 10, :math:`\\eta = 3.0`, trained on the first
50,000 MNIST training images and scored on the 10,000 test images after
each epoch.  The 30-epoch run reaches **94.95%** with nnc (seed 0, best epoch
95.07%; published: about 95%) in about 3.5 s on one core
(``examples/RESULTS.md``).  This page runs a shorter version.

The MNIST files ship with nnc, so :func:`nnc.datasets.load_mnist` works
offline: ``X`` holds one image per row (784 floats in [0, 1]), ``y`` the
digits.
"""
import os

import numpy as np
from matplotlib.figure import Figure  # no pyplot needed, as in nnc.plot

import nnc
import nnc.plot

QUICK = os.environ.get("NNC_DOCS_QUICK", "0") not in ("", "0")
epochs, n_train = (8, 20000) if QUICK else (30, 50000)

(X, y), (X_test, y_test) = nnc.datasets.load_mnist()
X, y = X[:n_train], y[:n_train]
net = nnc.Network([784, 30, 10], activation="sigmoid", loss="quadratic", seed=0)
history = net.fit(X, y, epochs=epochs, batch_size=10, lr=3.0, threads=1, verbose=0,
                  validation_data=(X_test, y_test))
for epoch, acc in enumerate(history["val_accuracy"], start=1):
    print(f"Epoch {epoch}: {round(acc * len(y_test))} / {len(y_test)}")

# %%
# Learning curves
# ---------------
# The mean cost and the accuracy per epoch, on the training images (as seen
# during the epoch) and on the test images.
curves = nnc.plot.learning_curves(history)

# %%
# What the hidden neurons look for
# --------------------------------
# Each hidden neuron's 784 incoming weights :math:`w^1_{j\cdot}`, drawn as a
# 28 x 28 image: red pixels push the neuron's :math:`z^1_j` up when inked,
# blue ones down.
weights = nnc.plot.first_layer_weights(net)

# %%
# Which digits it confuses
# ------------------------
predicted = net.predict(X_test)
confusion = nnc.plot.confusion_matrix(y_test, predicted)
print(f"{int((predicted != y_test).sum())} test images misclassified")

# %%
# Misclassified digits
# --------------------
# The first 24 test images the network gets wrong, with its answer and the
# true digit.
wrong = np.flatnonzero(predicted != y_test)[:24]
mistakes = Figure(figsize=(9, 4.6), layout="constrained")
for ax, i in zip(mistakes.subplots(3, 8).ravel(), wrong, strict=False):  # may be < 24
    ax.imshow(X_test[i].reshape(28, 28), cmap="gray_r")
    ax.set_title(f"{predicted[i]} (true {y_test[i]})", fontsize=8)
    ax.set_axis_off()

# %%
# The command line does the same run: ``nnc train`` (30 epochs, saves
# ``model.npz``), then ``nnc evaluate model.npz``; see :doc:`/cli`.
