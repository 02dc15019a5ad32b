"""
2. Sigmoid neurons and activation functions
===========================================

A sigmoid neuron computes :math:`\\sigma(w \\cdot x + b)` with

.. math::

    \\sigma(z) = \\frac{1}{1 + e^{-z}}.

It behaves like a perceptron for large :math:`|z|` but is smooth, so a small
change in a weight makes a small change in the output:

.. math::

    \\Delta \\text{output} \\approx \\sum_j
        \\frac{\\partial\\, \\text{output}}{\\partial w_j} \\Delta w_j
        + \\frac{\\partial\\, \\text{output}}{\\partial b} \\Delta b .

That is what lets gradient descent train a network.  nnc has the sigmoid
and the other usual choices; :func:`nnc.plot.activation_functions` draws each
one and its derivative from the NumPy versions in :mod:`nnc.activations`.
"""
import numpy as np

import nnc
import nnc.plot

fig = nnc.plot.activation_functions(["sigmoid", "tanh", "relu", "leaky_relu", "softplus",
                                     "step"])

# %%
# The derivative of the sigmoid is :math:`\sigma'(z) = \sigma(z)(1 - \sigma(z))`,
# at most 1/4 (at :math:`z = 0`).  nnc's C kernels compute the same numbers
# as the NumPy reference (:func:`nnc.kernels.activation` runs the engine's
# kernel on an array):
z = np.linspace(-6, 6, 7).reshape(1, -1)
a = np.empty_like(z)
nnc.kernels.activation("sigmoid", z, a)
print("z          ", z.ravel().tolist())
print("sigma(z)   ", np.round(a.ravel(), 4).tolist())
print("sigma'(z)  ", np.round(nnc.activations.DERIVATIVES["sigmoid"](z).ravel(), 4).tolist())
print("same as NumPy:", np.allclose(a, nnc.activations.FUNCTIONS["sigmoid"](z)))

# %%
# A network picks its activations by name, per layer if needed:
# ``Network([784, 100, 10], activation="relu", output_activation="softmax")``.
# Softmax turns the output layer into probabilities, :math:`a^L_j =
# e^{z^L_j} / \sum_k e^{z^L_k}`.
net = nnc.Network([4, 3, 2], activation="tanh", output_activation="softmax", seed=0)
print(net.activations, "->", np.round(net.forward(np.ones((1, 4))).astype(np.float64), 3).tolist())
