"""Rosenblatt's perceptron: the step activation and the perceptron learning rule.

The tutorials start here, before sigmoid neurons: a perceptron outputs 1
when ``w . x + b > 0`` and 0 otherwise.  It learns one sample at a time:
when it gets a sample wrong it moves its weights towards (or away from) that
sample,

    w <- w + lr (y - y_hat) x,        b <- b + lr (y - y_hat),

and leaves them alone when it is right.  On linearly separable data this
stops after finitely many mistakes (the perceptron convergence theorem); on
data that no line separates, such as XOR, it never settles -- the reason
for hidden layers and smooth activations.

Each output unit is an independent perceptron reading the same inputs.  The
parameters live in one flat buffer laid out like :class:`nnc.Network`'s, so
:func:`nnc.load` and :func:`nnc.io.save` handle perceptrons too.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from nnc import _validation as V
from nnc.model import Model, read_only

if TYPE_CHECKING:
    from typing import Any

    from nnc._typing import ArrayLike, DTypeLike, FloatArray, HistoryDict, NDArray

__all__ = ["Perceptron"]


class Perceptron(Model, kind="perceptron"):
    """A single layer of threshold units trained by the perceptron rule.

    Parameters
    ----------
    n_inputs : int
        Number of inputs.
    n_outputs : int, default 1
        Number of independent threshold units.
    lr : float, default 1.0
        Learning rate of the update rule.  With the zero initial weights its
        value only scales w and b, never changes the predictions.
    dtype : {"float64", "float32"}, default "float64"
    seed : int, optional
        Seed of the sample order when ``fit(shuffle=True)``.

    Attributes
    ----------
    weights : sequence with one ndarray of shape (n_outputs, n_inputs)
        A live view of the parameters; ``weights[0] = W`` copies (checked),
        like :attr:`nnc.Network.weights`.
    biases : sequence with one ndarray of shape (n_outputs,)
    params : ndarray
        All parameters in one flat buffer (W stored transposed, then b);
        ``params = p`` copies (checked).
    n_inputs, n_outputs, sizes, activations, dtype, seed
        The architecture, read-only.
    history : dict of lists
        Per epoch: ``errors`` (updates made, i.e. misclassified samples) and
        ``accuracy`` (measured during the epoch, before each update).

    Examples
    --------
    >>> import numpy as np
    >>> from nnc import Perceptron
    >>> X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    >>> p = Perceptron(2)
    >>> _ = p.fit(X, [0, 0, 0, 1], epochs=20)     # AND
    >>> p.predict(X).tolist()
    [0, 0, 0, 1]
    """

    _PICKLED_AS_PUBLIC = Model._PICKLED_AS_PUBLIC + ("seed", "lr")

    def __init__(self, n_inputs: int, n_outputs: int = 1, lr: float = 1.0, dtype: DTypeLike = "float64",
                 seed: int | np.random.Generator | None = None) -> None:
        sizes = (V.check_int("n_inputs", n_inputs, 1), V.check_int("n_outputs", n_outputs, 1))
        self.lr = lr
        self._seed = None if seed is None else V.check_int("seed", seed, 0)
        # the same layout as Network: W^T row-major (n_in, n_out), then b
        self._build(sizes, ("step",), V.check_dtype(dtype))
        self._rng = np.random.default_rng(self._seed)
        self.history: HistoryDict = {"errors": [], "accuracy": []}

    # -- the architecture (read-only) and the learning rate ---------------------
    @property
    def n_inputs(self) -> int:
        """Number of inputs (``sizes[0]``)."""
        return self._sizes[0]

    @property
    def n_outputs(self) -> int:
        """Number of threshold units (``sizes[1]``)."""
        return self._sizes[1]

    seed = read_only("seed", "Seed of the sample order when ``fit(shuffle=True)`` (read-only).")

    @property
    def lr(self) -> float:
        """Learning rate of the update rule (> 0)."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = V.check_float("lr", value, 0.0, low_open=True)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild it."""
        return {"n_inputs": self.n_inputs, "n_outputs": self.n_outputs, "lr": self.lr,
                "dtype": self.dtype.name, "seed": self.seed}

    def _file_config(self):
        # Network-style fields, which model files and ``nnc info`` read
        return {"sizes": list(self.sizes), "activation": list(self.activations),
                "dtype": self.dtype.name, "seed": self.seed, "lr": self.lr}

    @classmethod
    def _from_file_config(cls, config):
        sizes = config["sizes"]
        if len(sizes) != 2:
            raise ValueError(f"a perceptron has one layer of weights, the sizes are {sizes}")
        return cls(sizes[0], sizes[1], lr=config.get("lr", 1.0),
                   dtype=config.get("dtype", "float64"), seed=config.get("seed"))

    # -- data ------------------------------------------------------------------
    def _check_X(self, X, name="X"):
        return V.check_dense_X(X, self.n_inputs, self.dtype, name)

    def _check_y(self, y, n):
        arr = V.as_array(y, "y")
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"y must hold 0/1 values, got dtype {arr.dtype}")
        if arr.ndim == 1 and self.n_outputs == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2 or arr.shape != (n, self.n_outputs):
            expected = f"({n},) or ({n}, 1)" if self.n_outputs == 1 else f"({n}, {self.n_outputs})"
            raise ValueError(f"y must have shape {expected}, got {np.shape(y)}")
        if not np.isin(arr, (0, 1)).all():
            raise ValueError("y must hold only 0 and 1 (the step activation's outputs)")
        return np.ascontiguousarray(arr, dtype=self.dtype)

    # -- learning ------------------------------------------------------------
    def fit(self, X: ArrayLike, y: ArrayLike, epochs: int = 100, shuffle: bool = False,
            stop_when_converged: bool = True) -> HistoryDict:
        """Apply the perceptron rule, one sample at a time, for up to ``epochs`` passes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_inputs)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets 0 or 1.
        epochs : int, default 100
        shuffle : bool, default False
            Visit the samples in a new random order each epoch (seeded by
            ``seed``); the classic algorithm cycles through them in order.
        stop_when_converged : bool, default True
            Stop after an epoch without a single mistake: nothing can change
            any more.

        Returns
        -------
        dict of lists
            This call's per-epoch ``errors`` and ``accuracy``.
        """
        epochs = V.check_int("epochs", epochs, 0)
        shuffle = V.check_bool("shuffle", shuffle)
        stop_when_converged = V.check_bool("stop_when_converged", stop_when_converged)
        X = self._check_X(X)
        n = X.shape[0]
        Y = self._check_y(y, n)
        W, b = self.weights[0], self.biases[0]
        lr = self.dtype.type(self.lr)
        history: HistoryDict = {"errors": [], "accuracy": []}
        order = np.arange(n)
        for _ in range(epochs):
            if shuffle:
                self._rng.shuffle(order)
            mistakes = 0
            for i in order:
                x = X[i]
                y_hat = (W @ x + b > 0).astype(self.dtype)
                err = Y[i] - y_hat
                if err.any():
                    mistakes += 1
                    W += lr * np.outer(err, x)
                    b += lr * err
            for key, value in (("errors", mistakes), ("accuracy", 1 - mistakes / n)):
                history[key].append(value)
                self.history[key].append(value)
            if stop_when_converged and mistakes == 0:
                break
        return history

    # -- inference -----------------------------------------------------------
    def forward(self, X: ArrayLike, layer: int | None = None) -> FloatArray:
        """Step outputs (0.0 or 1.0) of shape (n_samples, n_outputs).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_inputs)
            One input per row.
        layer : {None, 1}, optional
            Accepted for symmetry with :meth:`nnc.Network.forward`: a
            perceptron has one layer.

        Returns
        -------
        ndarray of shape (n_samples, n_outputs)
            1.0 where ``w . x + b > 0``, else 0.0, in the perceptron's dtype.
        """
        if layer is not None:  # a perceptron has one layer
            V.check_int("layer", layer, 1, 1)
        X = self._check_X(X)
        return (X @ self.weights[0].T + self.biases[0] > 0).astype(self.dtype)

    def predict(self, X: ArrayLike) -> NDArray[np.int64]:
        """Predicted 0/1 labels: shape (n_samples,) for one output, else
        (n_samples, n_outputs).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_inputs)
            One input per row.

        Returns
        -------
        ndarray of int64
        """
        out = self.forward(X).astype(np.int64)
        return out[:, 0] if self.n_outputs == 1 else out

    def score(self, X: ArrayLike, y: ArrayLike) -> float:
        """Fraction of samples whose every output is right.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_inputs)
            One input per row.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets 0 or 1.

        Returns
        -------
        float
            Between 0 and 1.
        """
        X = self._check_X(X)
        Y = self._check_y(y, X.shape[0])
        return float(np.mean(np.all(self.forward(X) == Y, axis=1)))

    def __repr__(self) -> str:
        return (f"Perceptron(n_inputs={self.n_inputs}, n_outputs={self.n_outputs}, "
                f"lr={self.lr}, dtype={self.dtype.name!r})")

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        if "sizes" not in state and "n_inputs" in state:   # a pickle of nnc <= 0.1
            state["sizes"] = (state.pop("n_inputs"), state.pop("n_outputs"))
        state.setdefault("activations", ("step",))
        super().__setstate__(state)
