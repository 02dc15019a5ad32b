"""Shared fixtures of nnc's test suite.

The NumPy reference network below (``ReferenceNet``) is written from the
equations of the tutorials, independently of the Cython engine, and is the
oracle that the gradient and training tests compare nnc against.
"""
import contextlib
import warnings

import numpy as np
import pytest

from nnc import activations as acts
from nnc import losses


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def mnist():
    """The bundled MNIST digits, loaded once per test session."""
    from nnc.datasets import load_mnist
    return load_mnist()


@contextlib.contextmanager
def _strict():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            yield


@pytest.fixture
def strict_fp():
    """A context manager turning every warning and floating-point error into an exception."""
    return _strict


def one_hot(labels, n):
    out = np.zeros((len(labels), n))
    out[np.arange(len(labels)), labels] = 1.0
    return out


def activation_jvp(name, z, a, delta):
    """delta (*) f'(z), or softmax's Jacobian-vector product, in NumPy."""
    if name == "softmax":
        return a * (delta - np.sum(delta * a, axis=-1, keepdims=True))
    with np.errstate(under="ignore"):
        return delta * acts.DERIVATIVES[name](z)


def loss_grad_a(loss, a, y):
    """dC_x/da for one sample's cost C_x (rows of a and y)."""
    if loss == "quadratic":
        return a - y
    if loss == "binary_crossentropy":
        return (a - y) / (a * (1 - a))
    if loss == "poisson":
        return 1 - y / a
    return -y / a  # categorical (sparse or not)


class ReferenceNet:
    """A plain NumPy network with the parameters of an nnc.Network (float64).

    It implements the forward pass, backpropagation (BP1-BP4) and the
    optimizers as the textbooks write them, one layer at a time.
    """

    def __init__(self, net):
        self.W = [np.array(w, dtype=np.float64) for w in net.weights]
        self.b = [np.array(b, dtype=np.float64) for b in net.biases]
        self.acts = list(net.activations)
        self.loss = net.loss

    def forward(self, X):
        a = np.asarray(X, dtype=np.float64)
        zs, As = [], [a]
        for W, b, f in zip(self.W, self.b, self.acts):
            z = a @ W.T + b
            with np.errstate(under="ignore", over="ignore"):
                a = acts.FUNCTIONS[f](z)
            zs.append(z)
            As.append(a)
        return zs, As

    def cost(self, X, Y, sample_weight=None):
        """Per-sample costs of X against targets Y."""
        a = self.forward(X)[1][-1]
        c = losses.FUNCTIONS[self.loss](a, Y)
        return c if sample_weight is None else c * sample_weight

    def gradients(self, X, Y, sample_weight=None):
        """Gradient of mean(w_i * C_i) over the rows of X (sum / number of rows)."""
        zs, As = self.forward(X)
        m = X.shape[0]
        delta = activation_jvp(self.acts[-1], zs[-1], As[-1], loss_grad_a(self.loss, As[-1], Y))
        w = np.ones(m) if sample_weight is None else np.asarray(sample_weight, float)
        delta = delta * (w / m)[:, None]
        gW, gb = [None] * len(self.W), [None] * len(self.W)
        for l in range(len(self.W) - 1, -1, -1):
            gW[l] = delta.T @ As[l]
            gb[l] = delta.sum(axis=0)
            if l > 0:
                delta = activation_jvp(self.acts[l - 1], zs[l - 1], As[l], delta @ self.W[l])
        return gW, gb


class ReferenceOptimizer:
    """The update rules of nnc/_kernels.pyx and nnc/_engine.pyx, in NumPy.

    l2 adds ``l2 * W`` to each weight gradient (never to the biases) before
    the rule is applied.
    """

    def __init__(self, name, lr, momentum=0.0, beta1=0.9, beta2=0.999, eps=1e-8, rho=0.9,
                 l2=0.0):
        self.name, self.lr, self.mu = name, lr, momentum
        self.beta1, self.beta2, self.eps, self.rho, self.l2 = beta1, beta2, eps, rho, l2
        self.t = 0
        self.state = {}

    def _slot(self, key, like):
        if key not in self.state:
            self.state[key] = np.zeros_like(like)
        return self.state[key]

    def step(self, params, grads, is_weight):
        """Update every array of ``params`` in place from ``grads``."""
        if self.name == "adam":
            self.t += 1
            lr_t = (self.lr * np.sqrt(1 - self.beta2 ** self.t)
                    / (1 - self.beta1 ** self.t))
        for i, (p, g, weight) in enumerate(zip(params, grads, is_weight)):
            if weight and self.l2 > 0:
                g = g + self.l2 * p
            if self.name == "sgd":
                p -= self.lr * g
            elif self.name in ("momentum", "nesterov"):
                v = self._slot(("v", i), p)
                v[...] = self.mu * v - self.lr * g
                if self.name == "nesterov":
                    p += self.mu * v - self.lr * g
                else:
                    p += v
            elif self.name == "adam":
                m = self._slot(("m", i), p)
                v = self._slot(("v", i), p)
                m[...] = self.beta1 * m + (1 - self.beta1) * g
                v[...] = self.beta2 * v + (1 - self.beta2) * g * g
                p -= lr_t * m / (np.sqrt(v) + self.eps)
            elif self.name == "rmsprop":
                s = self._slot(("s", i), p)
                s[...] = self.rho * s + (1 - self.rho) * g * g
                p -= self.lr * g / (np.sqrt(s) + self.eps)
            else:  # pragma: no cover - a typo in a test
                raise ValueError(self.name)


def reference_epoch(ref, opt, X, Y, batch_size, sample_weight=None):
    """One epoch of mini-batch training in order (no shuffling).

    Each step uses the mean gradient of its batch; the last batch may be
    smaller.  Returns (mean loss, accuracy) of the epoch, each sample scored
    by the parameters before its batch's step, as nnc reports them.  With
    sample weights the loss is sum(w * C) / n, the objective whose gradient
    each step follows.
    """
    n = X.shape[0]
    loss_sum = weight_sum = correct = 0.0
    for start in range(0, n, batch_size):
        xb, yb = X[start:start + batch_size], Y[start:start + batch_size]
        wb = None if sample_weight is None else sample_weight[start:start + batch_size]
        a = ref.forward(xb)[1][-1]
        c = losses.FUNCTIONS[ref.loss](a, yb)
        loss_sum += float(np.sum(c if wb is None else c * wb))
        weight_sum += len(xb)
        correct += float(np.sum(np.argmax(a, axis=1) == np.argmax(yb, axis=1)))
        gW, gb = ref.gradients(xb, yb, wb)
        params = ref.W + ref.b
        opt.step(params, gW + gb, [True] * len(ref.W) + [False] * len(ref.b))
    return loss_sum / weight_sum, correct / n


@pytest.fixture
def reference():
    """The NumPy oracle: ReferenceNet, ReferenceOptimizer, reference_epoch, helpers."""
    import types
    return types.SimpleNamespace(Net=ReferenceNet, Optimizer=ReferenceOptimizer,
                                 epoch=reference_epoch, one_hot=one_hot,
                                 jvp=activation_jvp, loss_grad_a=loss_grad_a)
