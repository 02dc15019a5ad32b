"""
8. Improving it
===============

The tutorials then improve the network one idea at a time.  nnc has each of
them; the full-length results measured with nnc are in ``examples/RESULTS.md``:

=====================================================  ==================  ==========
network (30 epochs unless stated, seed 0)              nnc test accuracy   published
=====================================================  ==================  ==========
784-30-10, quadratic cost, :math:`\\eta` 3.0             94.95%              ~95%
784-100-10, the same otherwise                          96.37%              96.59%
784-100-10, cross-entropy, L2 :math:`\\lambda` = 5,      97.54%              ~98%
:math:`N(0, 1/n_{in})` init, :math:`\\eta` 0.5
784-512-512-10 ReLU, dropout 0.2, Adam, shifted         98.88%              --
images, 15 epochs on 60,000 (``best_mnist.py``)
=====================================================  ==================  ==========

The ideas:

- **Cross-entropy.**  With sigmoid outputs and the quadratic cost, BP1 has a
  factor :math:`\\sigma'(z^L)`, tiny when an output neuron is badly wrong and
  saturated, so it learns slowly.  The cross-entropy cancels it:
  :math:`\\delta^L = a^L - y`.  ``loss="binary_crossentropy"`` (sigmoid
  outputs) or ``"categorical_crossentropy"`` (softmax outputs).
- **L2 regularisation** adds :math:`\\frac{\\lambda}{2n} \\sum_w w^2` to the
  cost, so each step first shrinks the weights by :math:`1 - \\eta\\lambda/n`.
  The penalty is a setting of the optimizer, given as :math:`\\lambda / n`:
  ``fit(X, y, optimizer=SGD(lr=0.5, l2=5.0 / n))`` with
  ``from nnc.optimizers import SGD``.
- **Initialisation.**  Weights drawn from :math:`N(0, 1)` make :math:`z`
  large, so neurons start saturated; :math:`N(0, 1/n_{in})` (``init="scaled"``)
  keeps :math:`z` near 0.  ReLU networks use ``init="he"``.
- **Dropout** drops a random fraction of the hidden neurons at every step
  (``Network(..., dropout=0.2)``), so no neuron can rely on another.
- **Adam** adapts each parameter's step from running means of its gradient
  and squared gradient: ``optimizer=Adam(lr=1e-3)`` (or, with the defaults,
  ``optimizer="adam"``).

Below, each idea measured on a shorter run (the same data and seed for all).
"""
import os
import shutil
import tempfile

import nnc
from nnc.callbacks import EarlyStopping, ModelCheckpoint
from nnc.optimizers import SGD, Adam

QUICK = os.environ.get("NNC_DOCS_QUICK", "0") not in ("", "0")
epochs, n_train = (5, 20000) if QUICK else (30, 50000)
(X_all, y_all), (X_test, y_test) = nnc.datasets.load_mnist()
X, y = X_all[:n_train], y_all[:n_train]
X_val, y_val = X_all[50000:], y_all[50000:]     # the tutorials' validation images


def run(label, net, **fit):
    history = net.fit(X, y, epochs=epochs, verbose=0, threads=1,
                      validation_data=(X_test, y_test), **fit)
    print(f"{label:<58} test accuracy {history['val_accuracy'][-1]:.2%}")
    return history


print(f"{epochs} epochs on {n_train:,} images:")
base = run("784-100-10 quadratic, N(0,1) init, eta 3.0",
           nnc.Network([784, 100, 10], loss="quadratic", seed=0), batch_size=10, lr=3.0)
ce = run("+ cross-entropy (eta 0.5)",
         nnc.Network([784, 100, 10], loss="binary_crossentropy", seed=0), batch_size=10, lr=0.5)
init = run("+ N(0, 1/n_in) initialisation",
           nnc.Network([784, 100, 10], loss="binary_crossentropy", init="scaled", seed=0),
           batch_size=10, lr=0.5)
l2 = run("+ L2, lambda = 5 (l2 = lambda / n)",
         nnc.Network([784, 100, 10], loss="binary_crossentropy", init="scaled", seed=0),
         batch_size=10, optimizer=SGD(lr=0.5, l2=5.0 / n_train))
adam = run("784-100-10 ReLU/softmax, He init, Adam 1e-3, batch 32",
           nnc.Network([784, 100, 10], activation="relu", output_activation="softmax",
                       loss="categorical_crossentropy", init="he", seed=0),
           batch_size=32, optimizer=Adam(lr=1e-3))
dropout = run("  the same with dropout 0.2",
              nnc.Network([784, 100, 10], activation="relu", output_activation="softmax",
                          loss="categorical_crossentropy", init="he", dropout=0.2, seed=0),
              batch_size=32, optimizer=Adam(lr=1e-3))

# %%
# Dropout and L2 pay off over long runs, where an unregularised network starts
# to fit the training images' noise: compare the training and test accuracy.
for label, h in [("no regularisation", init), ("L2", l2), ("dropout", dropout)]:
    print(f"{label:<18} training {h['accuracy'][-1]:.2%}, test {h['val_accuracy'][-1]:.2%}")

# %%
# **Early stopping** is the other guard: hold out validation images (the
# tutorials keep the last 10,000 training images for this), and stop once
# their loss has not improved for a few epochs -- from then on the network is
# learning its training set rather than digits.  Callbacks are objects handed
# to ``fit``: :class:`~nnc.callbacks.EarlyStopping` stops and puts back the
# weights of the best epoch; :class:`~nnc.callbacks.ModelCheckpoint` saves the
# network after each epoch, so a killed run loses at most one epoch.
folder = tempfile.mkdtemp()
stop = EarlyStopping(monitor="val_loss", patience=3)
checkpoint = ModelCheckpoint(os.path.join(folder, "checkpoint.npz"))
net = nnc.Network([784, 100, 10], activation="relu", output_activation="softmax",
                  loss="categorical_crossentropy", init="he", seed=0)
history = net.fit(X, y, epochs=100, batch_size=32, optimizer=Adam(lr=1e-3), verbose=0,
                  threads=1, validation_data=(X_val, y_val), callbacks=[stop, checkpoint])
print("validation loss per epoch:", " ".join(f"{v:.3f}" for v in history["val_loss"]))
print(f"stopped after epoch {len(history['loss'])} of at most 100; the best was epoch "
      f"{stop.best_epoch + 1}, whose weights the network now has")
print(f"test accuracy: {net.evaluate(X_test, y_test)['accuracy']:.2%} (best epoch), "
      f"{nnc.load(checkpoint.path).evaluate(X_test, y_test)['accuracy']:.2%} "
      "(the checkpoint: the last epoch)")
shutil.rmtree(folder)

# %%
# The epoch is chosen by the validation loss, so on the test images the best
# epoch and the last one differ by a fraction of a percent either way; what
# early stopping saves is the 90 epochs that would not have helped.
