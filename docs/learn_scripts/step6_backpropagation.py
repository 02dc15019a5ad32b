"""
6. Backpropagation's four equations
===================================

Backpropagation computes the whole gradient in one backward pass.  Define the
*error* of neuron :math:`j` in layer :math:`l` as
:math:`\\delta^l_j = \\partial C / \\partial z^l_j`.  Then

.. math::

    \\delta^L &= \\nabla_a C \\odot \\sigma'(z^L) &\\qquad \\text{(BP1)} \\\\
    \\delta^l &= \\left((W^{l+1})^T \\delta^{l+1}\\right) \\odot \\sigma'(z^l) &\\qquad \\text{(BP2)} \\\\
    \\frac{\\partial C}{\\partial b^l_j} &= \\delta^l_j &\\qquad \\text{(BP3)} \\\\
    \\frac{\\partial C}{\\partial w^l_{jk}} &= a^{l-1}_k \\delta^l_j &\\qquad \\text{(BP4)}

where :math:`\\odot` is the elementwise (Hadamard) product.  For a
mini-batch, each sample has its own :math:`\\delta`; the gradient of the
mean cost is the mean of the per-sample gradients.

Where nnc computes them
-----------------------

One training step in ``nnc/_engine.pyx`` is a chain of small C functions
(see :doc:`/engine`):

- ``forward`` -- :math:`z^l = W^l a^{l-1} + b^l`, :math:`a^l = \\sigma(z^l)`
  for the whole batch (one matrix product per layer);
- ``output_error`` -- **BP1**, through the kernel ``output_delta``
  (``nnc/_kernels.pyx``); with softmax + categorical cross-entropy or
  sigmoid + binary cross-entropy the product simplifies to
  :math:`\\delta^L = a^L - y`, which the kernel uses;
- ``backprop`` -- from the last layer down: **BP2** (a matrix product with
  the old :math:`W^{l+1}`, then ``hadamard_derivative``), **BP3**
  (``bias_grad``: the batch's :math:`\\delta` summed) and **BP4** (a matrix
  product :math:`\\delta^l (a^{l-1})^T`, or ``sparse_weight_grad`` over the
  input's non-zeros for the first layer);
- ``update`` -- the optimizer's step over the flat parameter buffer (with
  plain SGD, ``backprop`` adds :math:`-\\eta\\,\\partial C / \\partial W`
  straight into the weights instead).

:mod:`nnc.kernels` exposes the kernels on NumPy arrays.  Below, BP1-BP4
written in NumPy for one sample, next to :meth:`nnc.Network.gradients`,
which runs the engine's ``output_error`` and ``backprop``.
"""
import numpy as np

import nnc

net = nnc.Network([784, 30, 10], activation="sigmoid", loss="quadratic", dtype="float64",
                  seed=0)
(X, y), _ = nnc.datasets.load_mnist()
x, target = X[0].astype(np.float64), np.eye(10)[y[0]]


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


# forward, keeping every z^l and a^l
activations, zs = [x], []
for W, b in zip(net.weights, net.biases, strict=True):
    zs.append(W @ activations[-1] + b)
    activations.append(sigmoid(zs[-1]))

# BP1: the quadratic cost's gradient with respect to a^L is a^L - y
delta = (activations[-1] - target) * sigmoid(zs[-1]) * (1 - sigmoid(zs[-1]))
nabla_b, nabla_w = [None] * 2, [None] * 2
nabla_b[-1] = delta                                   # BP3
nabla_w[-1] = np.outer(delta, activations[-2])        # BP4
# BP2, then BP3 and BP4 for the hidden layer
delta = (net.weights[-1].T @ delta) * sigmoid(zs[-2]) * (1 - sigmoid(zs[-2]))
nabla_b[0] = delta
nabla_w[0] = np.outer(delta, activations[0])

dW, db = net.gradients(X[:1], y[:1])
for l in range(2):
    print(f"layer {l + 1}: max |dC/dW by hand - engine| = "
          f"{np.abs(nabla_w[l] - dW[l]).max():.1e}, dC/db: {np.abs(nabla_b[l] - db[l]).max():.1e}")

# %%
# A gradient is only right if it predicts how the cost changes.  Nudge one
# weight by :math:`\pm\epsilon` and compare the change of the cost with
# BP4's value (a central finite difference; the test suite does this for
# every activation and cost):
eps = 1e-6
j, k = 3, int(np.argmax(x))          # a hidden neuron and a lit pixel
W1 = net.weights[0]
saved = W1[j, k]
W1[j, k] = saved + eps
up = net.evaluate(X[:1], y[:1])["loss"]
W1[j, k] = saved - eps
down = net.evaluate(X[:1], y[:1])["loss"]
W1[j, k] = saved
print(f"dC/dw^1_{{{j},{k}}}: finite difference {(up - down) / (2 * eps):.8f}, "
      f"backpropagation {dW[0][j, k]:.8f}")
