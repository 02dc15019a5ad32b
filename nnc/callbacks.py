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
        """Attach to the network that ``fit`` trains."""
        self.network = network
        self.root = root

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Called once, before the first epoch."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Called at the start of each epoch (0-based within this ``fit``)."""

    def on_span_end(self, epoch: int, batches_done: int, n_batches: int) -> None:
        """Called each time the engine returns between spans of batches."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> Any:
        """Called after each epoch with its metrics; a true return stops training."""

    def on_train_end(self, logs: dict | None = None) -> None:
        """Called once after the last epoch (also when a callback stopped training)."""


class History(Callback):
    """Records this ``fit``'s per-epoch metrics (``fit`` returns its ``history``).

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

    Parameters
    ----------
    epochs : int
        Epochs of the ``fit`` (for the "Epoch 3/10" label).
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
    min_delta : float, default 0.0
    restore_best_weights : bool, default True
        At the end of training, go back to the parameters of the best epoch.

    Attributes
    ----------
    best : float
        Best monitored value so far; ``best_epoch`` is its epoch.
    stopped_epoch : int or None
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
        The ``.npz`` file to write (see :meth:`nnc.Network.save`).
    every : int, default 1
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
    on_train_begin, on_train_end : callable ``f(logs)``, optional
    on_epoch_begin, on_epoch_end : callable ``f(epoch, logs)``, optional
        ``on_epoch_end`` returning a true value stops training.
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

    ``history`` is this ``fit``'s history so far; returning True stops.
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
    callbacks : None or list/tuple of Callback or callables ``f(network, epoch, history)``
    history : History
        The fit's history, handed to plain functions.

    Returns
    -------
    list of Callback
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
