"""Callbacks: code that runs at the start and end of training and of each epoch.

::

    from nnc.callbacks import EarlyStopping, ModelCheckpoint
    net.fit(X, y, epochs=100, validation_data=(X_val, y_val),
            callbacks=[EarlyStopping(patience=5), ModelCheckpoint("best.npz")])

A callback's ``on_epoch_end`` stops training by returning a true value or by
setting ``self.network.stop_training = True``.  Plain functions
``f(network, epoch, history)`` are accepted too (returning True stops).
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nnc import _files
from nnc import _validation as V

if TYPE_CHECKING:
    from nnc._typing import FloatArray, HistoryDict, Logs

__all__ = ["Callback", "History", "ProgressBar", "EarlyStopping", "ModelCheckpoint",
           "LambdaCallback", "FunctionCallback", "as_callbacks"]


class Callback:
    """Base class: every hook does nothing.

    Subclass it and override the hooks you need.  ``fit`` calls them in this
    order::

        on_train_begin(logs)
        for each epoch:
            on_epoch_begin(epoch, logs)
            on_span_end(epoch, batches_done, n_batches)   # a few times per epoch
            on_epoch_end(epoch, logs)                      # true return: stop
        on_train_end(logs)

    ``logs`` at the end of an epoch holds its metrics: ``loss``,
    ``accuracy``, ``lr``, ``seconds`` and, with validation data,
    ``val_loss`` and ``val_accuracy``.

    Attributes
    ----------
    network : nnc.Network
        The network being trained (set by ``fit`` before ``on_train_begin``).
    root : bool
        False on the MPI ranks other than 0: callbacks that print or write
        files do so on rank 0 only.
    """

    network: Any = None
    root = True

    def bind(self, network: Any, root: bool = True) -> None:
        """Attach to the network that ``fit`` trains (``fit`` calls this).

        Parameters
        ----------
        network : nnc.Network
            The network being trained; the hooks find it in ``self.network``.
        root : bool, default True
            Whether this process prints and writes files (MPI rank 0).
        """
        self.network = network
        self.root = root

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Called once, before the first epoch.

        Parameters
        ----------
        logs : dict, optional
            Empty at this point.
        """

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Called at the start of each epoch.

        Parameters
        ----------
        epoch : int
            0-based, counted within this ``fit`` call.
        logs : dict, optional
            Empty at this point.
        """

    def on_span_end(self, epoch: int, batches_done: int, n_batches: int) -> None:
        """Called each time the engine returns between spans of batches.

        The engine trains whole spans of mini-batches without returning to
        Python (about a tenth of a second each), so this is where a progress
        bar moves.

        Parameters
        ----------
        epoch : int
            0-based, within this ``fit`` call.
        batches_done : int
            Mini-batches of this epoch trained so far.
        n_batches : int
            Mini-batches in the epoch.
        """

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> Any:
        """Called after each epoch with its metrics; a true return stops training.

        Parameters
        ----------
        epoch : int
            0-based, within this ``fit`` call.
        logs : dict, optional
            The epoch's metrics: ``loss``, ``accuracy``, ``lr``, ``seconds``
            and, with validation data, ``val_loss`` and ``val_accuracy``.

        Returns
        -------
        object
            Anything true stops training after this epoch.
        """

    def on_train_end(self, logs: dict | None = None) -> None:
        """Called once after the last epoch (also when a callback stopped training).

        Parameters
        ----------
        logs : dict, optional
            The last epoch's metrics (empty when no epoch ran).
        """


class History(Callback):
    """Records this ``fit``'s per-epoch metrics (``fit`` returns its ``history``).

    ``fit`` always adds one; there is no need to pass it.  The network's own
    ``history`` attribute keeps the metrics of every ``fit`` so far.

    Attributes
    ----------
    history : dict of lists
        ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``, ``lr``, ``seconds``.
    """

    KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")

    def __init__(self) -> None:
        self.history: HistoryDict = {key: [] for key in self.KEYS}

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


class ProgressBar(Callback):
    """A tqdm bar per epoch when tqdm is installed, and one line per epoch.

    ``fit(verbose=1)`` (the default) adds one; ``verbose=0`` trains
    silently.  Only MPI rank 0 prints.

    Parameters
    ----------
    epochs : int, optional
        Epochs of the ``fit`` (for the "Epoch 3/10" label; without it the
        label is "Epoch 3").
    """

    def __init__(self, epochs: int | None = None) -> None:
        self.epochs = epochs
        self.bar: Any = None
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
        self._tqdm = tqdm

    def _label(self, epoch):
        return f"Epoch {epoch + 1}" + (f"/{self.epochs}" if self.epochs else "")

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self.close()
        self._total = None
        self._epoch = epoch

    def on_span_end(self, epoch: int, batches_done: int, n_batches: int) -> None:
        if self._tqdm is None or not self.root:
            return
        if self.bar is None:
            self.bar = self._tqdm(total=n_batches, desc=self._label(epoch), unit="batch",
                                  leave=False, mininterval=0.2)
        self.bar.update(batches_done - self.bar.n)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self.close()
        if not self.root or not logs:
            return
        parts = [f"{key} {logs[key]:.4f}" for key in ("loss", "accuracy", "val_loss",
                                                       "val_accuracy") if key in logs]
        print(f"{self._label(epoch)}: " + ", ".join(parts)
              + f" ({logs.get('seconds', 0.0):.2f} s)", flush=True)

    def on_train_end(self, logs: Logs | None = None) -> None:
        self.close()

    def close(self) -> None:
        """Close the epoch's bar (also when training stopped with an error)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class EarlyStopping(Callback):
    """Stop when the monitored metric has stopped improving.

    Parameters
    ----------
    monitor : str, default "val_loss"
        A key of the epoch's metrics; falls back to ``"loss"`` when it is
        missing (no validation data).  Accuracies are maximised, anything
        else minimised.
    patience : int, default 5
        Epochs without an improvement of at least ``min_delta`` before stopping.
    min_delta : float >= 0, default 0.0
        The smallest change that counts as an improvement.
    restore_best_weights : bool, default True
        At the end of training, go back to the parameters of the best epoch.

    Attributes
    ----------
    best : float
        Best monitored value so far (negated for accuracies, so smaller is
        always better); ``best_epoch`` is its epoch.
    stopped_epoch : int or None
        The epoch after which training stopped; None when it ran all its
        epochs.

    Notes
    -----
    The validation set stands in for data the network has not seen: once
    its loss stops falling while the training loss still falls, the network
    is learning the training set's peculiarities (overfitting).

    Examples
    --------
    >>> import numpy as np
    >>> import nnc
    >>> from nnc.callbacks import EarlyStopping
    >>> from nnc.optimizers import SGD
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((300, 4))
    >>> y = (X[:, 0] + X[:, 1] > 1).astype(int)
    >>> X_train, y_train = X[:200], y[:200]
    >>> X_val, y_val = X[200:], y[200:]
    >>> net = nnc.Network([4, 16, 2], seed=0)
    >>> stop = EarlyStopping(patience=3)
    >>> history = net.fit(X_train, y_train, epochs=1000,
    ...                   batch_size=10, optimizer=SGD(lr=3.0),
    ...                   validation_data=(X_val, y_val),
    ...                   callbacks=[stop], verbose=0)
    >>> len(history["loss"]) < 1000
    True
    >>> stop.stopped_epoch - stop.best_epoch      # the patience
    3
    >>> best = min(history["val_loss"])
    >>> net.evaluate(X_val, y_val)["loss"] == best    # restored
    True
    """

    stopped_epoch: int | None
    _best_params: FloatArray | None

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 restore_best_weights: bool = True) -> None:
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a metric name, got {type(monitor).__name__}")
        self.monitor = monitor
        self.patience = V.check_int("patience", patience, 0)
        self.min_delta = V.check_float("min_delta", min_delta, 0.0)
        self.restore_best_weights = V.check_bool("restore_best_weights", restore_best_weights)
        self.on_train_begin()

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.best, self.best_epoch, self.stopped_epoch = math.inf, -1, None
        self.wait = 0
        self._best_params = None

    def _value(self, logs):
        key = self.monitor if self.monitor in logs else "loss"
        if key not in logs:
            raise ValueError(f"EarlyStopping: the epoch's metrics have no {self.monitor!r}; "
                             f"expected one of {sorted(logs)}")
        value = logs[key]
        return -value if "acc" in key else value

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> bool:
        value = self._value(logs or {})
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                if self._best_params is None:
                    self._best_params = np.empty_like(self.network.params)
                np.copyto(self._best_params, self.network.params)
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.restore_best_weights and self._best_params is not None:
            self.network.params[...] = self._best_params


class ModelCheckpoint(Callback):
    """Save the network (atomically) every ``every`` epochs.

    The path is checked when the callback is made and again when training
    starts: a missing folder fails before any training, not after.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file to write (see :meth:`nnc.Network.save`); each save
        replaces the previous one.  Its folder must exist.
    every : int, default 1
        Save after every ``every``-th epoch (epochs 1-based: ``every=5``
        saves after epochs 5, 10, ...).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import nnc
    >>> from nnc.callbacks import ModelCheckpoint
    >>> X, y = np.eye(4), np.arange(4)
    >>> net = nnc.Network([4, 4], seed=0)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "net.npz")
    ...     saver = ModelCheckpoint(path, every=2)
    ...     _ = net.fit(X, y, epochs=4, callbacks=[saver], verbose=0)
    ...     len(nnc.load(path).history["loss"])   # after epoch 4
    4
    """

    def __init__(self, path: str | os.PathLike, every: int = 1) -> None:
        self.path = V.check_path("checkpoint", path, parent_must_exist=True)
        _files.check_writable(self.path, "checkpoint")  # no device, FIFO or folder
        self.every = V.check_int("every", every, 1)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        # again before training: the folder may have gone since the callback was made
        _files.check_writable(self.path, "checkpoint")

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.root and (epoch + 1) % self.every == 0:
            self.network.save(self.path)


class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``.

    Parameters
    ----------
    on_train_begin : callable ``f(logs)``, optional
        Called once before the first epoch.
    on_epoch_begin : callable ``f(epoch, logs)``, optional
        Called at the start of each epoch.
    on_epoch_end : callable ``f(epoch, logs)``, optional
        Called after each epoch with its metrics; returning a true value
        stops training.
    on_train_end : callable ``f(logs)``, optional
        Called once after the last epoch.

    Examples
    --------
    >>> import numpy as np
    >>> import nnc
    >>> from nnc.callbacks import LambdaCallback
    >>> from nnc.optimizers import SGD, Schedule
    >>> rates = []
    >>> def remember(epoch, logs):
    ...     rates.append(logs["lr"])
    >>> record = LambdaCallback(on_epoch_end=remember)
    >>> halve = Schedule("step", gamma=0.5, step_size=2)
    >>> net = nnc.Network([4, 4], seed=0)
    >>> _ = net.fit(np.eye(4), np.arange(4), epochs=4, verbose=0,
    ...             optimizer=SGD(lr=0.8, schedule=halve),
    ...             callbacks=[record])
    >>> rates
    [0.8, 0.8, 0.4, 0.4]
    """

    def __init__(self, on_train_begin: Callable[[Logs | None], object] | None = None,
                 on_epoch_begin: Callable[[int, Logs | None], object] | None = None,
                 on_epoch_end: Callable[[int, Logs | None], object] | None = None,
                 on_train_end: Callable[[Logs | None], object] | None = None) -> None:
        hooks = {"on_train_begin": on_train_begin, "on_epoch_begin": on_epoch_begin,
                 "on_epoch_end": on_epoch_end, "on_train_end": on_train_end}
        for name, fn in hooks.items():
            if fn is not None:
                if not callable(fn):
                    raise TypeError(f"{name} must be callable, got {type(fn).__name__}")
                setattr(self, name, fn)


class FunctionCallback(Callback):
    """A plain function ``f(network, epoch, history)`` called after each epoch.

    ``fit`` wraps each plain function of its ``callbacks`` in one of these.

    Parameters
    ----------
    fn : callable ``f(network, epoch, history)``
        Called after each epoch with the network, the 0-based epoch and this
        ``fit``'s history so far (a dict of lists); returning True stops.
    history : History
        The ``fit``'s history callback, whose ``history`` dict is handed to
        ``fn``.
    """

    def __init__(self, fn: Callable[[Any, int, HistoryDict], object], history: History) -> None:
        self.fn, self.history = fn, history

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> Any:
        return self.fn(self.network, epoch, self.history.history)


CallbackLike = Callback | Callable[[Any, int, dict], Any]
#: what ``fit(callbacks=...)`` accepts
CallbacksLike = Callback | Sequence[CallbackLike] | None


def as_callbacks(callbacks: None | Callback | Sequence[CallbackLike],
                 history: History) -> list[Callback]:
    """Check ``fit``'s ``callbacks`` argument; wrap plain functions.

    Parameters
    ----------
    callbacks : None, Callback, or list/tuple of Callback or callables
        What ``fit`` was given; a plain function ``f(network, epoch, history)``
        is wrapped in a :class:`FunctionCallback`.
    history : History
        The fit's history, handed to plain functions.

    Returns
    -------
    list of Callback

    Raises
    ------
    TypeError
        Naming the first item that is neither a Callback nor callable.
    """
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        callbacks = [callbacks]
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError("callbacks must be a list of nnc.callbacks.Callback objects or "
                        "callables f(network, epoch, history)")
    out = []
    for i, cb in enumerate(callbacks):
        if isinstance(cb, Callback):
            out.append(cb)
        elif callable(cb):
            out.append(FunctionCallback(cb, history))
        else:
            raise TypeError(f"callbacks[{i}] must be a Callback or a callable "
                            f"f(network, epoch, history), got {type(cb).__name__}")
    return out
