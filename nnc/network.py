"""The fully connected feedforward network.

A network with ``sizes = [784, 30, 10]`` has two layers of weights: layer l
maps the activations a^{l-1} of the layer before it to

    z^l = W^l a^{l-1} + b^l,      a^l = f(z^l),

with W^l of shape (n_out, n_in) and b^l of shape (n_out,).  Training is
mini-batch gradient descent on the mean cost: each step takes a batch,
runs it forward, computes the output error, backpropagates it (the four
equations BP1-BP4, in ``nnc/_engine.pyx``) and updates the parameters.
The engine runs whole spans of steps in C without the GIL; the training loop
around it is :mod:`nnc.training`, the optimizers :mod:`nnc.optimizers`.
"""
from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING

import numpy as np

from nnc import _buffers, _codes
from nnc import _validation as V
from nnc import activations as _acts
from nnc import losses as _losses
from nnc import optimizers as _opts
from nnc._engine import Engine
from nnc._threads import AUTO_THREADS_WORK  # noqa: F401
from nnc._threads import blas_threads as _blas_threads
from nnc._threads import choose_threads as _threads
from nnc.model import Model, read_only
from nnc.training import DivergenceError, Trainer  # noqa: F401 (DivergenceError: public here too)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from nnc._typing import ArrayLike, Comm, DTypeLike, FloatArray, HistoryDict, NDArray, XLike
    from nnc.callbacks import CallbacksLike
    from nnc.optimizers import Optimizer

#: dense inputs with fewer non-zeros than this fraction use the sparse first layer
SPARSE_DENSITY = 0.5
# how the engine's first layer reads X (the InputMode enum of nnc/_engine.pyx)
_INPUT_DENSE, _INPUT_COMPACT, _INPUT_CSR = (_codes.INPUT_MODES[k] for k in ("dense", "compact",
                                                                           "csr"))
#: the weight initialisations (``init``)
INITS = ("gaussian", "scaled", "xavier", "glorot", "he")


class Network(Model, kind="network"):
    """A fully connected feedforward neural network.

    Parameters
    ----------
    sizes : sequence of int
        Number of neurons in each layer, input first: ``[784, 30, 10]``.
    activation : str or sequence of str, default "sigmoid"
        Activation of the hidden layers, or one name per layer of weights
        (``len(sizes) - 1`` names, the last one for the output layer).
    output_activation : str, optional
        Activation of the output layer; None means the same as ``activation``.
    loss : str, default "quadratic"
        ``"quadratic"``, ``"binary_crossentropy"``, ``"categorical_crossentropy"``
        or ``"sparse_categorical_crossentropy"``.
    dtype : {"float32", "float64"}, default "float32"
    seed : int, optional
        Seed of the initialisation, shuffling and dropout.
    init : {"gaussian", "scaled", "xavier", "he"}, default "gaussian"
        ``gaussian``: W, b ~ N(0, 1) as in the tutorials; ``scaled``: W ~ N(0,
        1/n_in), b ~ N(0, 1); ``xavier`` (or ``glorot``): uniform with variance
        2/(n_in+n_out), b = 0; ``he``: W ~ N(0, 2/n_in), b = 0.
    dropout : float or sequence of float, default 0.0
        Fraction of each hidden layer's units dropped while training (one
        rate per hidden layer; a rate for the output layer, if given, must
        be 0).

    Attributes
    ----------
    weights : sequence of ndarray
        W^l, shape (n_out, n_in): live views of ``params``.  ``weights[l] =
        W`` copies W in after checking its shape and values (see
        :class:`nnc.model.LayerParams`).
    biases : sequence of ndarray
        b^l, shape (n_out,), likewise.
    params : ndarray
        Every parameter in one flat buffer; ``params = p`` copies (checked).
    sizes, activations, loss, dtype, seed, init, dropout : tuples and values
        The architecture, read-only: build a new network to change it.
    history : dict of lists
        Per-epoch metrics of every ``fit`` so far.
    """

    _PICKLED_AS_PUBLIC = Model._PICKLED_AS_PUBLIC + ("loss", "seed", "init", "dropout")
    _TRANSIENT = ("_fit_lock",)
    #: the optimizer of the last fit (a class default for pickles of nnc 0.1)
    optimizer = None

    def __init__(self, sizes: Sequence[int], activation: str | Sequence[str] = "sigmoid",
                 output_activation: str | None = None, loss: str = "quadratic", dtype: DTypeLike = "float32",
                 seed: int | np.random.Generator | None = None, init: str = "gaussian",
                 dropout: float | Sequence[float] = 0.0) -> None:
        sizes = _check_sizes(sizes)
        n_layers = len(sizes) - 1
        activations = _check_activations(activation, output_activation, n_layers)
        self._loss = _losses.canonical(loss)
        if seed is not None:
            seed = V.check_int("seed", seed, 0)
        self._seed = seed
        self._init = V.check_choice("init", init.lower() if isinstance(init, str) else init,
                                    INITS)
        self._dropout = _check_dropout(dropout, n_layers)
        self._build(sizes, activations, V.check_dtype(dtype))
        self._rng = np.random.default_rng(seed)
        self._initialise()
        self.history = _new_history()
        self.optimizer = None     # the optimizer of the last fit: partial_fit continues it
        self._init_transient()

    def _init_transient(self):
        self._fit_lock = threading.Lock()

    # -- the rest of the architecture (sizes, activations, dtype: see Model) --
    loss = read_only("loss", "The cost function's canonical name (read-only).")
    seed = read_only("seed", "The seed of initialisation, shuffling and dropout (read-only).")
    init = read_only("init", "The weight initialisation (read-only).")
    dropout = read_only("dropout", "Dropout rate of each layer of weights, the output "
                                   "layer's 0 (a tuple: read-only).")

    # -- parameters ------------------------------------------------------
    def _initialise(self):
        rng = self._rng
        for W, b in zip(self.weights, self.biases, strict=True):
            n_out, n_in = W.shape
            if self._init == "gaussian":
                W[...] = rng.standard_normal((n_out, n_in))
                b[...] = rng.standard_normal(n_out)
            elif self._init == "scaled":
                W[...] = rng.standard_normal((n_out, n_in)) / math.sqrt(n_in)
                b[...] = rng.standard_normal(n_out)
            elif self._init in ("xavier", "glorot"):
                bound = math.sqrt(6.0 / (n_in + n_out))
                W[...] = rng.uniform(-bound, bound, (n_out, n_in))
                b[...] = 0
            else:  # he
                W[...] = rng.standard_normal((n_out, n_in)) * math.sqrt(2.0 / n_in)
                b[...] = 0

    def _act_codes(self):
        return [_acts.CODES[a] for a in self.activations]

    def _engine(self, cap, input_mode, threads, dropout=None):
        V.check_state(self)  # the engine trusts params/sizes: reassigned ones must still fit
        return Engine(self.params, self.sizes, self._act_codes(), _losses.CODES[self.loss],
                      self._w_off, self._b_off, cap, input_mode, dropout, threads)

    # -- data --------------------------------------------------------------
    def _prepare_X(self, X, sparse="auto", name="X", check_finite=True):
        sparse = V.check_bool_or_auto("sparse", sparse)
        kind, data = V.check_X(X, self.sizes[0], self.dtype, name, check_finite)
        if kind == "csr":
            return _INPUT_CSR, data
        if sparse is True or (sparse == "auto" and _density(data) < SPARSE_DENSITY):
            return _INPUT_COMPACT, data
        if sparse not in (True, False, "auto"):
            raise ValueError(f"sparse must be True, False or 'auto', got {sparse!r}")
        return _INPUT_DENSE, data

    def _prepare_y(self, y, n, name="y"):
        labels, targets = V.check_y(y, n, self.sizes[-1], self.dtype, name)
        if labels is not None and self.sizes[-1] == 1:
            raise ValueError(f"{name}: a one-output network needs targets, not labels")
        return labels, targets

    def _prepare_labelled(self, X, y, sample_weight, sparse):
        """X, y and sample weights checked together: (mode, data, n, labels, targets, sw)."""
        mode, data = self._prepare_X(X, sparse=sparse)
        n = self._n_rows(mode, data)
        labels, targets = self._prepare_y(y, n)
        return mode, data, n, labels, targets, V.check_sample_weight(sample_weight, n, self.dtype)

    @staticmethod
    def _set_data(engine, mode, data, labels=None, targets=None, sample_weight=None):
        if mode == _INPUT_CSR:
            engine.set_data(csr=data, labels=labels, targets=targets, sample_weight=sample_weight)
        else:
            engine.set_data(x=data, labels=labels, targets=targets, sample_weight=sample_weight)

    @staticmethod
    def _n_rows(mode, data):
        return data[2].shape[0] - 1 if mode == _INPUT_CSR else data.shape[0]

    # -- inference -----------------------------------------------------------
    def forward(self, X: XLike, layer: int | None = None, threads: int | None = None,
                batch_size: int = 1024) -> FloatArray:
        """Activations a^layer for every row of X (the output layer by default).

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, sizes[0])
            One input per row.
        layer : int, optional
            1 .. n_layers: which layer's activations to return.  Dropout is
            never applied here.
        threads : int, optional
            Threads of the engine; by default all cores, or one when the
            work is small.  The result does not depend on it.
        batch_size : int, default 1024
            Rows run through the network at a time: it bounds the memory of
            the intermediate activations, not the result.

        Returns
        -------
        ndarray of shape (n_samples, sizes[layer])
            In the network's dtype.
        """
        layer = self.n_layers if layer is None else V.check_int("layer", layer, 1, self.n_layers)
        batch_size = V.check_int("batch_size", batch_size, 1)
        mode, data = self._prepare_X(X, sparse=False)
        n = self._n_rows(mode, data)
        out = np.empty((n, self.sizes[layer]), dtype=self.dtype)
        threads = _threads(threads, min(batch_size, n) * self._layout_size)
        engine = self._engine(min(batch_size, n), mode, threads)
        self._set_data(engine, mode, data)
        engine.set_order(np.arange(n, dtype=np.int64), min(batch_size, n), direct=True)
        with _blas_threads():
            engine.forward(out, layer)
        return out

    def predict(self, X: XLike, threads: int | None = None) -> NDArray[np.int64]:
        """Predicted class labels: the index of the largest output (or a >= 0.5
        for a one-output network).

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, sizes[0])
            One input per row.
        threads : int, optional
            Threads of the engine (see :meth:`forward`).

        Returns
        -------
        ndarray of int64, shape (n_samples,)
        """
        a = self.forward(X, threads=threads)
        if a.shape[1] == 1:
            return (a[:, 0] >= 0.5).astype(np.int64)
        return np.argmax(a, axis=1)

    def evaluate(self, X: XLike, y: ArrayLike, sample_weight: ArrayLike | None = None,
                 threads: int | None = None, batch_size: int = 1024) -> dict[str, float]:
        """Mean loss and accuracy on (X, y).

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, sizes[0])
            One input per row.
        y : array-like
            Integer class labels of shape (n_samples,) or targets of shape
            (n_samples, sizes[-1]), as for :meth:`fit`.
        sample_weight : array-like of shape (n_samples,), optional
            Each sample's cost is multiplied by its weight.
        threads : int, optional
            Threads of the engine (see :meth:`forward`).
        batch_size : int, default 1024
            Rows scored at a time (memory only; the scores do not depend on it).

        Returns
        -------
        dict with ``"loss"`` (mean over samples of the cost) and
        ``"accuracy"`` (fraction whose largest output matches the target).
        """
        mode, data, n, labels, targets, sw = self._prepare_labelled(X, y, sample_weight,
                                                                    sparse=False)
        bs = min(V.check_int("batch_size", batch_size, 1), n)
        threads = _threads(threads, bs * self._layout_size)
        engine = self._engine(bs, mode, threads)
        self._set_data(engine, mode, data, labels, targets, sw)
        engine.set_order(np.arange(n, dtype=np.int64), bs, direct=True)
        with _blas_threads():
            engine.score()
        loss_sum, correct, seen = engine.stats()
        # Weighted costs are averaged over samples, as the gradient is.
        return {"loss": loss_sum / n, "accuracy": correct / seen}

    def gradients(self, X: XLike, y: ArrayLike,
                  sample_weight: ArrayLike | None = None) -> tuple[list[FloatArray], list[FloatArray]]:
        """Exact gradient of the mean cost over (X, y); nothing is updated.

        Backpropagation over all of (X, y) as one batch: what a training step
        on that batch would subtract (times the learning rate).  Handy for
        checking against finite differences.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, sizes[0])
            One input per row.
        y : array-like
            Integer class labels of shape (n_samples,) or targets of shape
            (n_samples, sizes[-1]).
        sample_weight : array-like of shape (n_samples,), optional
            Each sample's cost is multiplied by its weight.

        Returns
        -------
        dW : list of ndarray, shapes like ``weights``
        db : list of ndarray, shapes like ``biases``
        """
        mode, data, n, labels, targets, sw = self._prepare_labelled(X, y, sample_weight,
                                                                    sparse="auto")
        grads = _buffers.zeros_like(self.params)
        engine = self._engine(n, mode, 1)
        self._set_data(engine, mode, data, labels, targets, sw)
        engine.set_optimizer(_opts.CODES["sgd"], grads, lr=0.0)
        engine.set_order(np.arange(n, dtype=np.int64), n)
        engine.train(0, 1, apply_update=False)
        dW, db = self._views(grads)
        return [w.copy() for w in dW], [b.copy() for b in db]

    # -- training ------------------------------------------------------------
    def fit(self, X: XLike, y: ArrayLike, epochs: int = 1, batch_size: int = 32,
            optimizer: str | Optimizer | None = None, lr: float | None = None, shuffle: bool = True,
            validation_data: tuple[XLike, ArrayLike] | None = None, validation_split: float = 0.0,
            callbacks: CallbacksLike = None, sample_weight: ArrayLike | None = None, verbose: int = 1,
            threads: int | None = None, sparse: bool | str = "auto", comm: Comm = None,
            sync_every: int = 1) -> HistoryDict:
        """Train by mini-batch gradient descent.

        Each epoch shuffles the samples, splits them into mini-batches of
        ``batch_size`` (the last may be smaller) and takes one optimizer step
        per batch with its mean gradient (the loop: :class:`nnc.training.Trainer`).

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, sizes[0])
        y : array-like
            Integer class labels of shape (n_samples,) or targets of shape
            (n_samples, sizes[-1]).
        epochs, batch_size : int
        optimizer : None, str or nnc.optimizers.Optimizer
            None continues with ``self.optimizer`` (its state and step count
            included; a new ``SGD`` the first time).  A name (``"sgd"``,
            ``"momentum"``, ``"nesterov"``, ``"adam"``, ``"rmsprop"``) makes a
            new optimizer (``fit(optimizer="adam", lr=1e-3)`` is
            ``fit(optimizer=Adam(lr=1e-3))``); an object is used as it is and
            becomes ``self.optimizer``.  Momentum, L2 and schedules live on it.
        lr : float, optional
            Learning rate eta for a named optimizer (by default 0.1 for SGD,
            0.001 for Adam and RMSprop), or the new ``lr`` of
            ``self.optimizer`` when ``optimizer`` is None.
        shuffle : bool
        validation_data : tuple (X_val, y_val), optional
            Scored after each epoch (``val_loss``, ``val_accuracy``).
        validation_split : float
            Fraction of the samples, taken from the end of X before any
            shuffling (as Keras does), held out for validation.
        callbacks : list of nnc.callbacks.Callback or callables ``f(network, epoch, history)``
            See :mod:`nnc.callbacks` (``EarlyStopping``, ``ModelCheckpoint``, ...).  A plain
            function is called after each epoch with this call's history; returning True stops training.
        sample_weight : array-like of shape (n_samples,), optional
            Each sample's cost is multiplied by its weight.
        verbose : int
            0 silent, 1 a progress bar (with tqdm) and a line per epoch.
        threads : int, optional
            Threads of the engine; by default all cores, or one for small steps
            (see ``nnc._threads``).  Results are identical for a given count.
        sparse : {"auto", True, False}
            Whether the first layer skips zero inputs (``"auto"``: when fewer
            than half the inputs are non-zero, or X is sparse).
        comm : mpi4py communicator, optional
            Data-parallel training: see :mod:`nnc.distributed`.
        sync_every : int
            With ``comm``: average gradients every step (1), or parameters
            every ``sync_every`` steps (local SGD).

        Returns
        -------
        dict of lists
            This call's per-epoch ``loss``, ``accuracy``, ``val_loss``,
            ``val_accuracy``, ``lr`` and ``seconds``.

        Raises
        ------
        ValueError
            Bad arguments, or NaN/infinity in X: nothing is changed.
        DivergenceError
            A non-finite loss or parameters: the parameters and the
            optimizer's state go back to the start of the epoch.
        """
        if not self._fit_lock.acquire(blocking=False):
            raise RuntimeError("this network is already being trained by another thread; "
                               "fit calls on one network cannot overlap")
        try:
            trainer = Trainer(self, X, y, optimizer=optimizer, lr=lr, batch_size=batch_size,
                              shuffle=shuffle, validation_data=validation_data,
                              validation_split=validation_split, sample_weight=sample_weight,
                              threads=threads, sparse=sparse, comm=comm, sync_every=sync_every)
            return trainer.run(epochs, callbacks, verbose)
        finally:
            self._fit_lock.release()

    def partial_fit(self, X: XLike, y: ArrayLike, epochs: int = 1, **kwargs: Any) -> HistoryDict:
        """Continue training ``self.optimizer`` (state and step count) for ``epochs`` epochs.

        Parameters
        ----------
        X, y : array-like
            The training data, as for :meth:`fit`.
        epochs : int, default 1
            Epochs to train.
        **kwargs
            Any other argument of :meth:`fit` except ``optimizer``.

        Returns
        -------
        dict of lists
            This call's per-epoch metrics, as :meth:`fit` returns them.
        """
        if "optimizer" in kwargs:
            raise TypeError("partial_fit continues self.optimizer; use fit(optimizer=...) to "
                            "train with another one")
        return self.fit(X, y, epochs=epochs, **kwargs)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this architecture.

        ``Network.from_config(net.get_config())`` is a new network of the same
        architecture (freshly initialised from the same seed).
        """
        return {"sizes": list(self._sizes), "activation": list(self._activations),
                "loss": self._loss, "dtype": self._dtype.name, "seed": self._seed,
                "init": self._init, "dropout": list(self._dropout)}

    @classmethod
    def _from_file_config(cls, config):
        keys = ("sizes", "activation", "loss", "dtype", "seed", "init", "dropout")
        return cls(**{k: config[k] for k in keys if k in config})

    def __repr__(self) -> str:
        return (f"Network({list(self.sizes)}, activation={list(self.activations)}, "
                f"loss={self.loss!r}, dtype={self.dtype.name!r})")


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _new_history():
    return {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": [], "lr": [],
            "seconds": []}


def _density(x, max_rows=256):
    """Fraction of non-zero entries, estimated from evenly spaced rows.

    Only the choice of the first layer's kernel depends on it; 256 rows of
    MNIST (200,000 values, read from memory in about 0.25 ms, 1 ms for 1000
    rows: 2% of a tutorial epoch) estimate its 19% within 1%.  Floats are
    counted through an integer view of their bits (4x faster than NumPy's
    float count; -0.0 then counts as non-zero, which a density estimate can
    afford).
    """
    step = max(1, x.shape[0] // max_rows)
    sample = x[::step]
    if sample.dtype.kind == "f" and sample.dtype.itemsize in (4, 8):
        sample = sample.view(f"u{sample.dtype.itemsize}")
    return np.count_nonzero(sample) / max(sample.size, 1)


def _check_sizes(sizes):
    sizes = V.check_sequence("sizes", sizes, "a sequence of layer sizes such as [784, 30, 10]")
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least an input and an output layer, got {sizes}")
    if len(sizes) > 65:
        raise ValueError("sizes allows at most 64 layers of weights")
    # The engine and BLAS index layers with C ints.
    return [V.check_int(f"sizes[{i}]", s, 1, 2**31 - 1) for i, s in enumerate(sizes)]


def _check_activations(activation, output_activation, n_layers):
    if isinstance(activation, str):
        names = [_acts.canonical(activation)] * n_layers
    else:
        activation = V.check_sequence("activation", activation,
                                      f"a name or a list of {n_layers} names")
        if len(activation) != n_layers:
            raise ValueError(f"activation must be a name or a list of {n_layers} names "
                             "(one per layer of weights)")
        names = [_acts.canonical(a, f"activation[{i}]") for i, a in enumerate(activation)]
    if output_activation is not None:
        names[-1] = _acts.canonical(output_activation, "output_activation")
    for i, name in enumerate(names):
        if name == "step":
            raise ValueError("the step activation has no gradient: use nnc.Perceptron "
                             f"(activation[{i}] is 'step')")
    return names


def _check_dropout(dropout, n_layers):
    if isinstance(dropout, (int, float, np.integer, np.floating)) and not isinstance(dropout, bool):
        rates = [float(dropout)] * (n_layers - 1)
    else:
        dropout = V.check_sequence("dropout", dropout, "a rate in [0, 1) or a sequence of rates")
        rates = [V.check_float(f"dropout[{i}]", r) for i, r in enumerate(dropout)]
    if len(rates) == n_layers:   # get_config's form: the output layer's rate too
        if rates[-1] != 0:
            raise ValueError(f"dropout needs one rate per hidden layer ({n_layers - 1}); "
                             f"the output layer's, if given, must be 0, got {rates[-1]}")
        rates = rates[:-1]
    elif len(rates) != n_layers - 1:
        raise ValueError(f"dropout needs one rate per hidden layer ({n_layers - 1})")
    for i, r in enumerate(rates):
        V.check_float(f"dropout[{i}]", r, 0.0, 1.0, high_open=True)
    return tuple(rates) + (0.0,)  # never on the output layer
