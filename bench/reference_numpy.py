"""Two NumPy implementations of mini-batch gradient descent, the baselines nnc
must beat.

``PerSampleNetwork`` is the tutorials' algorithm as written in Nielsen's
``network.py``: column vectors, one backpropagation per sample, the
gradients summed over the mini-batch and the parameters updated with their
mean.  ``VectorizedNetwork`` is the same algorithm with each mini-batch
processed as one matrix (samples in rows), so every layer is one GEMM.

Both support sigmoid hidden/output units with the quadratic cost, ReLU hidden
units with a softmax output and categorical cross-entropy, SGD and Adam, in
float32 or float64 (the dtype of the parameters is kept throughout).
"""
import numpy as np


def _sigmoid(z):
    with np.errstate(over="ignore"):  # exp(-z) overflows to inf for z << 0: 1/inf = 0
        return 1.0 / (1.0 + np.exp(-z))


def _softmax_rows(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _softmax_column(z):
    e = np.exp(z - z.max())
    return e / e.sum()


class _Adam:
    """Adam (Kingma & Ba, Algorithm 1) over a list of arrays, updated in place."""

    def __init__(self, arrays, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.m = [np.zeros_like(a) for a in arrays]
        self.v = [np.zeros_like(a) for a in arrays]
        self.t = 0

    def step(self, arrays, grads):
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        # bias corrections folded into the step size
        lr_t = self.lr * np.sqrt(1.0 - b2 ** self.t) / (1.0 - b1 ** self.t)
        for p, g, m, v in zip(arrays, grads, self.m, self.v, strict=True):
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * (g * g)
            p -= lr_t * m / (np.sqrt(v) + self.eps)


class _Base:
    """Parameters, optimizer and prediction shared by both implementations."""

    def __init__(self, params, hidden="sigmoid", output="sigmoid", loss="quadratic",
                 optimizer="sgd", lr=3.0):
        if hidden not in ("sigmoid", "relu"):
            raise ValueError(f"hidden must be 'sigmoid' or 'relu', got {hidden!r}")
        if (output, loss) not in (("sigmoid", "quadratic"), ("softmax", "ce")):
            raise ValueError("output/loss must be sigmoid/quadratic or softmax/ce, "
                             f"got {output!r}/{loss!r}")
        if optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
        # W of shape (n_out, n_in) as in the tutorials; copies, so callers' arrays stay intact
        self.weights = [np.array(W) for W, _ in params]
        self.biases = [np.array(b) for _, b in params]
        self.dtype = self.weights[0].dtype
        self.hidden, self.output, self.loss = hidden, output, loss
        self.lr = lr
        self.adam = _Adam(self.weights + self.biases, lr) if optimizer == "adam" else None

    def _update(self, nabla_w, nabla_b, n):
        """Step with the mean gradient of a mini-batch of n samples."""
        if self.adam is None:
            scale = self.lr / n
            for W, nw in zip(self.weights, nabla_w, strict=True):
                W -= scale * nw
            for b, nb in zip(self.biases, nabla_b, strict=True):
                b -= scale * nb
        else:
            grads = [nw / n for nw in nabla_w] + [nb / n for nb in nabla_b]
            self.adam.step(self.weights + self.biases, grads)

    def forward(self, X):
        """Output activations for the rows of X (evaluation, batched)."""
        a = X.astype(self.dtype, copy=False)
        last = len(self.weights) - 1
        for l, (W, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            z = a @ W.T + b
            if l < last:
                a = _sigmoid(z) if self.hidden == "sigmoid" else np.maximum(z, 0)
            else:
                a = _sigmoid(z) if self.output == "sigmoid" else _softmax_rows(z)
        return a

    def accuracy(self, X, y, batch=2000):
        correct = 0
        for i in range(0, X.shape[0], batch):
            correct += int(np.count_nonzero(
                np.argmax(self.forward(X[i:i + batch]), axis=1) == y[i:i + batch]))
        return correct / X.shape[0]


class PerSampleNetwork(_Base):
    """Nielsen's ``network.py`` algorithm: backpropagation one sample at a time.

    Parameters
    ----------
    params : list of (W, b)
        Initial weights, W of shape (n_out, n_in), b of shape (n_out,).
    hidden, output, loss, optimizer, lr
        See the module docstring.
    """

    def train_epoch(self, X, Y, batch_size, rng):
        """One epoch of mini-batch SGD (or Adam) over the rows of X.

        X : (n, n_in) inputs; Y : (n, n_out) one-hot targets, both of the
        network's dtype.  The order is a fresh permutation from ``rng``.
        """
        order = rng.permutation(X.shape[0])
        for start in range(0, X.shape[0], batch_size):
            batch = order[start:start + batch_size]
            nabla_w = [np.zeros_like(W) for W in self.weights]
            nabla_b = [np.zeros((b.shape[0], 1), dtype=self.dtype) for b in self.biases]
            for i in batch:
                dw, db = self.backprop(X[i].reshape(-1, 1), Y[i].reshape(-1, 1))
                for nw, d in zip(nabla_w, dw, strict=True):
                    nw += d
                for nb, d in zip(nabla_b, db, strict=True):
                    nb += d
            self._update(nabla_w, [nb[:, 0] for nb in nabla_b], len(batch))

    def backprop(self, x, y):
        """Gradient of one sample's cost, as column vectors (BP1-BP4)."""
        last = len(self.weights) - 1
        activation = x
        activations, zs = [x], []
        for l, (W, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            z = W @ activation + b[:, None]
            zs.append(z)
            if l < last:
                activation = _sigmoid(z) if self.hidden == "sigmoid" else np.maximum(z, 0)
            else:
                activation = _sigmoid(z) if self.output == "sigmoid" else _softmax_column(z)
            activations.append(activation)
        # BP1: output error; softmax with cross-entropy simplifies to a - y
        delta = activations[-1] - y
        if self.loss == "quadratic":
            delta = delta * activation * (1 - activation)
        nabla_w = [None] * len(self.weights)
        nabla_b = [None] * len(self.weights)
        nabla_b[-1] = delta
        nabla_w[-1] = delta @ activations[-2].T
        for l in range(2, len(self.weights) + 1):
            # BP2: error of the layer below, through f'(z)
            a = activations[-l]
            if self.hidden == "sigmoid":
                fprime = a * (1 - a)
            else:
                fprime = (zs[-l] > 0).astype(self.dtype)
            delta = (self.weights[-l + 1].T @ delta) * fprime
            nabla_b[-l] = delta
            nabla_w[-l] = delta @ activations[-l - 1].T
        return nabla_w, nabla_b


class VectorizedNetwork(_Base):
    """The same algorithm with each mini-batch as one matrix: one GEMM per
    product, samples in rows."""

    def train_epoch(self, X, Y, batch_size, rng):
        """One epoch over the rows of X; see :meth:`PerSampleNetwork.train_epoch`."""
        order = rng.permutation(X.shape[0])
        for start in range(0, X.shape[0], batch_size):
            batch = order[start:start + batch_size]
            nabla_w, nabla_b = self.backprop(X[batch], Y[batch])
            self._update(nabla_w, nabla_b, len(batch))

    def backprop(self, Xb, Yb):
        """Summed gradients of a mini-batch (rows of Xb, Yb)."""
        last = len(self.weights) - 1
        activations, zs = [Xb], []
        a = Xb
        for l, (W, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            z = a @ W.T
            z += b
            zs.append(z)
            if l < last:
                a = _sigmoid(z) if self.hidden == "sigmoid" else np.maximum(z, 0)
            else:
                a = _sigmoid(z) if self.output == "sigmoid" else _softmax_rows(z)
            activations.append(a)
        delta = a - Yb
        if self.loss == "quadratic":
            delta *= a * (1 - a)
        nabla_w = [None] * len(self.weights)
        nabla_b = [None] * len(self.weights)
        for l in range(len(self.weights) - 1, -1, -1):
            nabla_w[l] = delta.T @ activations[l]
            nabla_b[l] = delta.sum(axis=0)
            if l > 0:
                below = activations[l]
                if self.hidden == "sigmoid":
                    fprime = below * (1 - below)
                else:
                    fprime = zs[l - 1] > 0
                delta = (delta @ self.weights[l]) * fprime
        return nabla_w, nabla_b
