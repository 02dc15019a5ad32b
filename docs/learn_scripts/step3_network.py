"""
3. The network, its notation and the forward pass
=================================================

A network of ``sizes = [784, 30, 10]`` has 784 inputs, a hidden layer of 30
neurons and 10 outputs.  :math:`w^l_{jk}` is the weight from neuron
:math:`k` of layer :math:`l-1` to neuron :math:`j` of layer :math:`l`, so
the weights of layer :math:`l` form a matrix :math:`W^l` with one row per
neuron; :math:`b^l` holds the biases.  The forward pass is, for
:math:`l = 1, \\dots, L`,

.. math::

    z^l = W^l a^{l-1} + b^l, \\qquad a^l = \\sigma(z^l), \\qquad a^0 = x.

In nnc, ``net.weights[l - 1]`` is :math:`W^l` (shape ``(n_l, n_{l-1})``) and
``net.biases[l - 1]`` is :math:`b^l`.  They are live views into one flat
buffer, ``net.params``, which the engine trains in place.
"""
import numpy as np

import nnc

net = nnc.Network([784, 30, 10], activation="sigmoid", seed=0)
for l, (W, b) in enumerate(zip(net.weights, net.biases, strict=True), start=1):
    print(f"W^{l}: {W.shape}, b^{l}: {b.shape}")
print(f"all {net.params.size:,} parameters in one buffer of dtype {net.params.dtype}")

# %%
# The forward pass by hand, one image at a time as column vectors, gives the
# same numbers as :meth:`nnc.Network.forward` (which runs a whole batch in C;
# rows are samples there).
(X, y), _ = nnc.datasets.load_mnist()
x = X[0].astype(np.float64)
a = x
for W, b in zip(net.weights, net.biases, strict=True):
    z = W @ a + b
    a = 1 / (1 + np.exp(-z))
print("by hand:    ", np.round(a, 4).tolist())
print("net.forward:", np.round(net.forward(X[:1])[0].astype(np.float64), 4).tolist())

# %%
# ``forward(X, layer=k)`` stops after layer :math:`k`: the hidden
# representation :math:`a^1`.  The network's answer is the output neuron with
# the largest activation; untrained, it is a guess.
hidden = net.forward(X[:5], layer=1)
print("a^1 of 5 images:", hidden.shape)
print("predicted:", net.predict(X[:5]).tolist(), " true:", y[:5].tolist())
