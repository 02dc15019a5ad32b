"""
5. Gradient descent and mini-batches
====================================

Gradient descent moves every weight and bias a small step against the
gradient of the cost:

.. math::

    w \\to w' = w - \\eta \\frac{\\partial C}{\\partial w}, \\qquad
    b \\to b' = b - \\eta \\frac{\\partial C}{\\partial b},

with :math:`\\eta` the learning rate.  The cost is a mean over all
:math:`n` training samples, so its exact gradient costs a pass over the data
per step.  *Stochastic* gradient descent estimates it on a mini-batch of
:math:`m` random samples,

.. math::

    \\nabla C \\approx \\frac{1}{m} \\sum_{j=1}^{m} \\nabla C_{X_j},

and takes a step per mini-batch; an *epoch* is one pass through the
shuffled training set in mini-batches.  ``net.fit(X, y, epochs=...,
batch_size=..., lr=...)`` does exactly this (with the default optimizer,
plain SGD); ``lr`` is :math:`\\eta`.
"""
import numpy as np

import nnc
from nnc.optimizers import SGD, Schedule

(X, y), (X_test, y_test) = nnc.datasets.load_mnist()
X, y = X[:10000], y[:10000]

# %%
# One step by hand: the exact gradient of the mean cost over a batch is
# :meth:`nnc.Network.gradients`; subtracting :math:`\eta` times it is one SGD
# step.  ``fit`` on the same batch, unshuffled, takes the same step (in C).
net = nnc.Network([784, 30, 10], dtype="float64", seed=0)
twin = nnc.Network([784, 30, 10], dtype="float64", seed=0)
dW, db = net.gradients(X[:10], y[:10])
for W, b, gW, gb in zip(net.weights, net.biases, dW, db, strict=True):
    W -= 3.0 * gW
    b -= 3.0 * gb
twin.fit(X[:10], y[:10], epochs=1, batch_size=10, lr=3.0, shuffle=False, verbose=0)
print("largest difference between the two:", float(np.abs(net.params - twin.params).max()))

# %%
# The size of the mini-batch trades the noise of each step against the
# number of steps per epoch.  Two epochs on 10,000 images, with the learning
# rate kept at 3.0:
for batch_size in (1, 10, 100, 1000):
    net = nnc.Network([784, 30, 10], seed=0)
    net.fit(X, y, epochs=2, batch_size=batch_size, lr=3.0, verbose=0, threads=1)
    print(f"batch {batch_size:>4}: {len(X) // batch_size:>5} steps per epoch, test accuracy "
          f"{net.evaluate(X_test, y_test)['accuracy']:.2%}")

# %%
# And the learning rate: too small learns slowly, too large overshoots.
for lr in (0.1, 1.0, 3.0, 30.0):
    net = nnc.Network([784, 30, 10], seed=0)
    net.fit(X, y, epochs=2, batch_size=10, lr=lr, verbose=0, threads=1)
    print(f"eta = {lr:>5}: test accuracy {net.evaluate(X_test, y_test)['accuracy']:.2%}")

# %%
# ``lr=3.0`` is short for ``optimizer=SGD(lr=3.0)``: the optimizer is an
# object (:mod:`nnc.optimizers`) holding the learning rate and the rest of the
# update rule's settings, and the network keeps it as ``net.optimizer``, so a
# second ``fit`` continues with it.  Two of those settings: *momentum* keeps a
# fraction of the previous step in the next one, which smooths the noise of
# small batches (the effective step grows to :math:`\eta / (1 - \mu)`, so
# :math:`\eta` is lowered to match); a *schedule* lowers the rate as
# training goes on.
for label, optimizer in [
        ("plain SGD, eta 3.0", SGD(lr=3.0)),
        ("momentum 0.5, eta 1.5", SGD(lr=1.5, momentum=0.5)),
        ("eta 3.0 halved each epoch", SGD(lr=3.0, schedule=Schedule("step", gamma=0.5,
                                                                     step_size=1)))]:
    net = nnc.Network([784, 30, 10], seed=0)
    history = net.fit(X, y, epochs=2, batch_size=10, optimizer=optimizer, verbose=0, threads=1)
    print(f"{label:<26} rates {history['lr']}: test accuracy "
          f"{net.evaluate(X_test, y_test)['accuracy']:.2%}")
