"""
4. Cost functions
=================

Training needs a number that says how wrong the network is.  With
:math:`y(x)` the desired output for input :math:`x` (a one-hot vector for a
digit) and :math:`a^L(x)` the network's output, the quadratic cost is

.. math::

    C = \\frac{1}{n} \\sum_x \\tfrac12 \\lVert y(x) - a^L(x) \\rVert^2 ,

and the cross-entropy cost of sigmoid outputs is

.. math::

    C = -\\frac{1}{n} \\sum_x \\sum_j \\left[ y_j \\ln a^L_j
        + (1 - y_j) \\ln (1 - a^L_j) \\right].

nnc reports every loss as the mean over samples of a per-sample cost
:math:`C_x` (:mod:`nnc.losses` has the NumPy versions); the names are
``"quadratic"``, ``"binary_crossentropy"``, ``"categorical_crossentropy"``
(softmax outputs, one-hot targets) and ``"sparse_categorical_crossentropy"``
(integer labels).
"""
import numpy as np

import nnc

(X, y), _ = nnc.datasets.load_mnist()
X, y = X[:1000], y[:1000]
net = nnc.Network([784, 30, 10], activation="sigmoid", loss="quadratic", seed=0)

# The cost of the untrained network, by nnc and by hand from the same outputs.
a = net.forward(X).astype(np.float64)
onehot = np.eye(10)[y]
by_hand = np.mean(nnc.losses.FUNCTIONS["quadratic"](a, onehot))
print(f"quadratic cost: nnc {net.evaluate(X, y)['loss']:.5f}, by hand {by_hand:.5f}")

# %%
# The same outputs scored by the cross-entropy.  Only the cost changes, not
# the network: the cost decides how training will move the weights.
ce = nnc.Network([784, 30, 10], activation="sigmoid", loss="binary_crossentropy", seed=0)
print(f"cross-entropy:  nnc {ce.evaluate(X, y)['loss']:.5f}, by hand "
      f"{np.mean(nnc.losses.FUNCTIONS['binary_crossentropy'](a, onehot)):.5f}")

# %%
# Accuracy is what we care about, but it is a step function of the weights
# (an image is right or wrong), so it gives gradient descent nothing to
# follow.  The cost is smooth.
print(f"accuracy of the untrained network: {net.evaluate(X, y)['accuracy']:.1%}")
