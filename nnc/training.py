"""The training loop: mini-batch gradient descent, one epoch at a time.

``Network.fit`` builds a :class:`Trainer` and runs it.  The trainer checks
the data once, sets up the engine (its workspace allocated once per fit),
and then repeats, as the tutorials' ``SGD`` does::

    for epoch in range(epochs):
        begin_epoch      # learning rate, shuffle, the point a failure rolls back to
        train_epoch      # every mini-batch, in spans run by the engine without the GIL
        end_epoch        # loss and accuracy of the epoch, validation scores

calling the callbacks around each step.  The engine is driven through a
*stepper*: :class:`LocalStepper` in one process, or
:class:`nnc.distributed.DataParallel` over MPI; both have ``n_batches``,
``root``, ``train(b0, b1)``, ``sum_stats(*values)`` and ``finish_epoch()``.
"""
from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from nnc import _buffers
from nnc import _validation as V
from nnc import callbacks as _callbacks
from nnc import distributed as _distributed
from nnc import optimizers as _optimizers
from nnc._threads import blas_threads, choose_threads

if TYPE_CHECKING:
    from nnc._engine import Engine
    from nnc._typing import ArrayLike, Comm, Logs, XLike
    from nnc.optimizers import Optimizer

__all__ = ["DivergenceError", "Trainer", "Stepper", "LocalStepper", "resolve_optimizer"]

#: target wall time of one span of batches between two returns to Python
SPAN_SECONDS = 0.1


class DivergenceError(ArithmeticError):
    """Training produced a non-finite loss or non-finite parameters."""


def resolve_optimizer(network: Any, optimizer: None | str | _optimizers.Optimizer = None,
                      lr: float | None = None) -> tuple[_optimizers.Optimizer, float | None]:
    """The optimizer a ``fit`` call trains with, and its new learning rate.

    ``None`` continues ``network.optimizer`` (a new :class:`SGD` when there
    is none), whose learning rate becomes ``lr`` when one is given; a name
    makes a new optimizer ``optimizers.get(name, lr=lr)``; an
    :class:`~nnc.optimizers.Optimizer` is used as it is.  Nothing is changed
    here: the trainer sets the learning rate once every check has passed.

    Parameters
    ----------
    network : nnc.Network
        The network to train; its ``optimizer`` attribute is the one to
        continue.
    optimizer : None, str or Optimizer, optional
        ``fit``'s ``optimizer`` argument.
    lr : float, optional
        ``fit``'s ``lr`` argument.

    Returns
    -------
    (Optimizer, float or None)
        The optimizer, and the learning rate to give it before training
        (None: keep its own).

    Raises
    ------
    ValueError
        ``lr`` given together with an optimizer object, or a bad name or rate.
    """
    if optimizer is None:
        current = getattr(network, "optimizer", None)
        lr = None if lr is None else V.check_float("lr", lr, 0.0)
        if current is None:
            return (_optimizers.SGD() if lr is None else _optimizers.SGD(lr=lr)), None
        return current, lr
    if isinstance(optimizer, _optimizers.Optimizer) and lr is not None:
        raise ValueError("lr given with an optimizer object: pass Optimizer(lr=...) or "
                         "set its lr attribute instead")
    return _optimizers.get(optimizer, lr=lr), None


class Stepper(Protocol):
    """What the trainer asks of the engine's driver, in one process or over MPI.

    A protocol (a description for type checkers), not a class to build:
    :class:`LocalStepper` and :class:`nnc.distributed.DataParallel` have
    these attributes and methods without deriving from it.

    Parameters
    ----------
    *args, **kwargs
        Not used: a protocol is never instantiated.
    """

    #: mini-batch steps per epoch (over MPI: the shortest shard's)
    n_batches: int
    #: whether this process prints and writes files (rank 0)
    root: bool

    def train(self, b0: int, b1: int) -> None:
        """Train on this epoch's batches b0 .. b1-1.

        Parameters
        ----------
        b0, b1 : int
            The first batch, and one past the last, in this epoch's order.
        """

    def sum_stats(self, *values: float) -> tuple:
        """The epoch's statistics summed over the processes.

        Parameters
        ----------
        *values : float
            This process's sums (loss, correct predictions, samples seen).

        Returns
        -------
        tuple of float
            The same sums over every process.
        """

    def finish_epoch(self) -> None:
        """Synchronise at the end of an epoch."""


class LocalStepper:
    """Training in one process: the engine runs whole spans of batches.

    Parameters
    ----------
    engine : nnc._engine.Engine
        The engine of the fit, with its data and optimizer set.
    n_batches : int
        Mini-batches per epoch.
    """

    root = True

    def __init__(self, engine: Engine, n_batches: int) -> None:
        self.engine, self.n_batches = engine, n_batches

    def train(self, b0: int, b1: int) -> None:
        """Train on this epoch's batches b0 .. b1-1 (updates applied as they go).

        Parameters
        ----------
        b0, b1 : int
            The first batch, and one past the last, in this epoch's order.
        """
        self.engine.train(b0, b1, apply_update=True, fused=True)

    def sum_stats(self, *values: float) -> tuple[float, ...]:
        """Statistics summed over the processes: here, just one.

        Parameters
        ----------
        *values : float
            This process's sums.

        Returns
        -------
        tuple of float
            ``values`` unchanged.
        """
        return values

    def finish_epoch(self) -> None:
        """Nothing to synchronise at the end of an epoch."""


class _Data:
    """Training (and validation) data, checked and converted once."""

    def __init__(self, network, X, y, sample_weight, sparse, validation_data,
                 validation_split, check_finite):
        self.mode, self.x = network._prepare_X(X, sparse=sparse, check_finite=check_finite)
        self.csr = isinstance(self.x, tuple)
        self.n = network._n_rows(self.mode, self.x)
        self.labels, self.targets = network._prepare_y(y, self.n)
        self.sw = V.check_sample_weight(sample_weight, self.n, network.dtype)
        if validation_split > 0:
            validation_data = self._split(validation_split, validation_data)
        self.val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a tuple (X_val, y_val)")
            vmode, vx = network._prepare_X(validation_data[0], sparse=False, name="X_val")
            vn = network._n_rows(vmode, vx)
            vlabels, vtargets = network._prepare_y(validation_data[1], vn, name="y_val")
            self.val = (vmode, vx, vlabels, vtargets, vn)

    def _split(self, fraction, validation_data):
        """Hold out the last rows, before any shuffling (as Keras does)."""
        if self.csr or validation_data is not None:
            raise ValueError("validation_split needs dense X and no validation_data")
        n_val = int(math.floor(self.n * fraction))
        if n_val < 1 or n_val >= self.n:
            raise ValueError(f"validation_split={fraction} leaves no samples on one side")
        n = self.n = self.n - n_val
        y_val = self.labels[n:] if self.labels is not None else self.targets[n:]
        validation = (self.x[n:], y_val)
        self.x = self.x[:n]
        self.labels = self.labels[:n] if self.labels is not None else None
        self.targets = self.targets[:n] if self.targets is not None else None
        self.sw = self.sw[:n] if self.sw is not None else None
        return validation


class Trainer:
    """One ``fit`` call: checked data, the engine, the optimizer and the loop.

    Everything is checked in the constructor, before anything changes;
    :meth:`run` trains.  A run that stops on a non-finite input row or
    diverges puts the parameters, the optimizer's state and step count and
    the shuffling generator back where the failing epoch started (for the
    first epoch: where the call started, ``network.optimizer`` included).

    Parameters
    ----------
    network : nnc.Network
        The network to train.
    X, y, optimizer, lr, batch_size, shuffle, validation_data
        As for :meth:`nnc.Network.fit`.
    validation_split, sample_weight, threads, sparse, comm, sync_every
        As for :meth:`nnc.Network.fit`.

    Examples
    --------
    ``net.fit(X, y, epochs=3, optimizer="adam", verbose=0)`` is

    >>> import numpy as np
    >>> import nnc
    >>> from nnc.training import Trainer
    >>> X, y = np.eye(4), np.arange(4)
    >>> net = nnc.Network([4, 4], seed=0)
    >>> trainer = Trainer(net, X, y, optimizer="adam")
    >>> history = trainer.run(3, verbose=0)
    >>> len(history["loss"]), net.optimizer is trainer.optimizer
    (3, True)
    """

    def __init__(self, network: Any, X: XLike, y: ArrayLike, *, optimizer: str | Optimizer | None = None,
                 lr: float | None = None, batch_size: int = 32, shuffle: bool = True,
                 validation_data: tuple[XLike, ArrayLike] | None = None, validation_split: float = 0.0,
                 sample_weight: ArrayLike | None = None, threads: int | None = None,
                 sparse: bool | str = "auto", comm: Comm = None, sync_every: int = 1) -> None:
        self.network = network
        self.optimizer, self._new_lr = resolve_optimizer(network, optimizer, lr)
        self.optimizer.check()
        batch_size = V.check_int("batch_size", batch_size, 1)
        self.shuffle = V.check_bool("shuffle", shuffle)
        validation_split = V.check_float("validation_split", validation_split, 0.0, 1.0,
                                         high_open=True)
        self.sync_every = V.check_int("sync_every", sync_every, 1)
        choose_threads(threads)  # checked now; the count is chosen once the batch is known
        self.comm = comm
        # Dense X is checked for NaN/inf by the engine in the first epoch, as it
        # reads each row anyway: no extra pass here.  Sparse X is checked up
        # front, and with MPI all of X (every rank must fail before a collective).
        self.data = _Data(network, X, y, sample_weight, sparse, validation_data,
                          validation_split, check_finite=comm is not None)
        self.check_in_engine = comm is None and not self.data.csr
        self.batch_size = min(batch_size, self.data.n)
        self.threads = choose_threads(threads, self.batch_size * network._layout_size)

    # -- the loop ------------------------------------------------------------------
    def run(self, epochs: int, callbacks: Any = None, verbose: int = 1) -> dict[str, list]:
        """Train for ``epochs`` epochs; returns this run's history (dict of lists).

        Parameters
        ----------
        epochs : int
            Epochs to train (fewer when a callback stops training).
        callbacks : list of Callback or callables, optional
            As for :meth:`nnc.Network.fit`.
        verbose : int, default 1
            0 silent; 1 adds a :class:`~nnc.callbacks.ProgressBar` unless one
            is among the callbacks.

        Returns
        -------
        dict of lists
            This run's per-epoch metrics.
        """
        epochs = V.check_int("epochs", epochs, 0)
        verbose = V.check_int("verbose", int(verbose) if isinstance(verbose, bool) else verbose,
                              0)
        self.history = _callbacks.History()
        self.callbacks = [self.history] + _callbacks.as_callbacks(callbacks, self.history)
        if verbose >= 1 and not any(isinstance(cb, _callbacks.ProgressBar)
                                    for cb in self.callbacks):
            self.callbacks.append(_callbacks.ProgressBar(epochs))
        if getattr(self.optimizer, "full_batch", False):
            return self._run_full_batch(epochs)
        self._start()
        self._trained = False
        logs = {}
        try:
            with blas_threads():
                for epoch in range(epochs):
                    self._call("on_epoch_begin", epoch, {})
                    self.begin_epoch(epoch)
                    self.train_epoch(epoch)
                    logs = self.end_epoch(epoch)
                    if self._epoch_end(epoch, logs):
                        break
        except Exception:
            if not self._trained:  # refused before any step: as if never called
                self.engine.t = self.optimizer.iterations
                self._restore_before()
            raise
        finally:
            self.optimizer.iterations = self.engine.t
            self._close_progress()
        self._call("on_train_end", dict(logs))
        return self.history.history

    def _start(self):
        """Set up the engine, the optimizer's state and the stepper.

        The callbacks' ``on_train_begin`` runs first (a checkpoint's folder is
        checked there), so a refused start changes nothing.
        """
        net, opt = self.network, self.optimizer
        self._begin_callbacks()
        try:
            self._build(net, opt, self.data)
        except BaseException:
            self._restore_before()
            raise
        for cb in self.callbacks:
            cb.bind(net, root=self.stepper.root)

    def _build(self, net, opt, data):
        """The optimizer's state, the engines and the stepper: allocated once per fit."""
        states = opt.build(net.params)
        net.optimizer = opt
        if self._new_lr is not None:
            opt.lr = self._new_lr
        distributed = self.comm is not None
        fused = not distributed and not states and isinstance(opt, _optimizers.SGD)
        grads: Any = None if fused else _buffers.zeros_like(net.params)  # None: never with a communicator
        # With a communicator each rank shuffles and drops out with its own
        # stream, derived from rank 0's generator (see nnc.distributed.rank_rng).
        self.rng = _distributed.rank_rng(self.comm, net._rng) if distributed else net._rng
        dropout = net.dropout if any(net.dropout) else None
        self.engine = engine = net._engine(self.batch_size, data.mode, self.threads, dropout)
        net._set_data(engine, data.mode, data.x, data.labels, data.targets, data.sw)
        opt.configure(engine, grads)
        engine.dropout_seed = int(self.rng.integers(0, 2**63))
        if distributed:
            self.stepper: LocalStepper | _distributed.DataParallel = _distributed.DataParallel(
                self.comm, net, engine, grads, opt, self.sync_every, n_samples=data.n,
                batch_size=self.batch_size)
        else:
            self.stepper = LocalStepper(engine, -(-data.n // self.batch_size))
        self.val_engine = self._validation_engine()
        self.order = np.arange(data.n, dtype=np.int64)
        # The point a failed epoch rolls back to: buffers allocated once.
        self._saved = [np.empty_like(net.params)] + [np.empty_like(s) for s in states]

    def begin_epoch(self, epoch: int) -> None:
        """The epoch's learning rate and sample order; remember where it started.

        Parameters
        ----------
        epoch : int
            0-based, within this run.
        """
        net, engine = self.network, self.engine
        self.started = time.perf_counter()
        self.lr = self.optimizer.learning_rate(len(net.history["loss"]))
        self._save_point(epoch)
        engine.lr = self.lr
        if self.shuffle:
            self.rng.shuffle(self.order)
        engine.set_order(self.order, self.batch_size)
        engine.reset_stats()
        # The first epoch reads every row: it checks them for NaN/inf.
        engine.check_input = epoch == 0 and self.check_in_engine

    def train_epoch(self, epoch: int) -> None:
        """Every mini-batch of the epoch, in spans; back in Python only between spans.

        Parameters
        ----------
        epoch : int
            0-based, within this run.

        Raises
        ------
        ValueError
            NaN or infinity in a row of X (read in the first epoch).
        DivergenceError
            A non-finite loss or parameters.  In both cases the parameters
            and the optimizer's state are first rolled back to the start of
            the epoch.
        """
        done, span, n_batches = 0, 8, self.stepper.n_batches
        while done < n_batches:
            stop = min(n_batches, done + span)
            t0 = time.perf_counter()
            self._trained = True
            self.stepper.train(done, stop)
            elapsed = time.perf_counter() - t0
            self._check_span(epoch, done, stop)
            done = stop
            for cb in self.callbacks:
                cb.on_span_end(epoch, done, n_batches)
            # Aim for spans of about SPAN_SECONDS, so Ctrl-C and progress stay prompt.
            span = max(1, min(n_batches, int(span * SPAN_SECONDS / max(elapsed, 1e-6))))

    def end_epoch(self, epoch: int) -> Logs:
        """The epoch's metrics, summed over ranks; validation scores; the history.

        Parameters
        ----------
        epoch : int
            0-based, within this run.

        Returns
        -------
        dict
            ``loss``, ``accuracy``, ``lr``, ``seconds`` and, with validation
            data, ``val_loss`` and ``val_accuracy``; also appended to the
            network's ``history``.
        """
        self.optimizer.iterations = self.engine.t
        loss_sum, correct, seen = self.stepper.sum_stats(*self.engine.stats())
        self.stepper.finish_epoch()
        # weighted costs are averaged over samples, as the gradient is
        logs = {"loss": loss_sum / max(seen, 1), "accuracy": correct / max(seen, 1),
                "lr": self.lr}
        if self.val_engine is not None:
            logs.update(self._score())
        logs["seconds"] = time.perf_counter() - self.started
        self._record(logs)
        return logs

    # -- full batch (L-BFGS) ------------------------------------------------------
    def _run_full_batch(self, epochs):
        """L-BFGS: scipy drives the iterations over the whole training set (at
        most ``epochs``); each ends like an epoch: history, validation scores,
        callbacks, which may stop it.  A diverged run changes nothing."""
        if self.comm is not None:
            raise ValueError("L-BFGS trains in one process: fit(comm=...) needs a "
                             "mini-batch optimizer")
        net, opt, data = self.network, self.optimizer, self.data
        start = net.params.copy()
        self._begin_callbacks()
        # no engine: scipy drives the iterations, the stepper only says this is the root
        self.stepper, self.val_engine = LocalStepper(None, 0), self._validation_engine()  # type: ignore[arg-type]
        self.started, logs = time.perf_counter(), {}

        def end_iteration(iteration, loss):
            nonlocal logs
            logs = {"loss": loss, "lr": 0.0}
            if self.val_engine is not None:
                logs.update(self._score())
            logs["seconds"] = time.perf_counter() - self.started
            self.started = time.perf_counter()
            self._record(logs)
            return self._epoch_end(iteration - 1, logs)

        x = data.x if not data.csr else _csr(data.x, data.n)  # already converted: no copy
        y = data.labels if data.labels is not None else data.targets
        try:
            if epochs > 0:  # opt is an nnc.optimizers.LBFGS here: the one with minimize
                opt.minimize(net, x, y, epochs, data.sw, self.threads, end_iteration)  # type: ignore[attr-defined]
            if not np.isfinite(net.params).all():
                raise DivergenceError("L-BFGS diverged (non-finite parameters); the "
                                      "parameters were restored: scale the data or add l2")
        except BaseException:
            net.params[...] = start
            self._restore_before()
            raise
        finally:
            self._close_progress()
        net.optimizer = opt
        self._call("on_train_end", dict(logs))
        return self.history.history

    # -- helpers -------------------------------------------------------------------
    def _begin_callbacks(self):
        """Remember what a refused run must put back, then bind the callbacks and
        run their ``on_train_begin`` (a checkpoint's folder is checked there)."""
        net = self.network
        self._before = (getattr(net, "optimizer", None), net._rng.bit_generator.state,
                        self.optimizer.lr)
        net.stop_training = False
        for cb in self.callbacks:
            cb.bind(net)
        self._call("on_train_begin", {})

    def _record(self, logs):
        """Append an epoch's (or an L-BFGS iteration's) logs to the network's history."""
        for key, value in logs.items():
            self.network.history.setdefault(key, []).append(value)

    def _close_progress(self):
        for cb in self.callbacks:
            if isinstance(cb, _callbacks.ProgressBar):
                cb.close()

    def _call(self, hook, *args):
        for cb in self.callbacks:
            getattr(cb, hook)(*args)

    def _epoch_end(self, epoch, logs):
        """Every callback's ``on_epoch_end``; True when one of them stops training."""
        stop = False
        for cb in self.callbacks:
            stop = bool(cb.on_epoch_end(epoch, logs)) or stop
        return stop or bool(getattr(self.network, "stop_training", False))

    def _check_span(self, epoch, done, stop):
        """Raise (after rolling back) on a non-finite input row or divergence."""
        engine, params = self.engine, self.network.params
        if engine.bad_row >= 0:
            self._roll_back(epoch)
            raise ValueError(f"X contains NaN or infinity (in row {engine.bad_row}); "
                             "the network was left as it was before fit")
        loss_sum = engine.stats()[0]
        # min/max propagate NaN and need no temporary: cheap enough per span
        if math.isfinite(loss_sum) and math.isfinite(params.min()) \
                and math.isfinite(params.max()):
            return
        self._roll_back(epoch)
        what = f"loss is {loss_sum}" if not math.isfinite(loss_sum) else \
            "parameters became non-finite"
        raise DivergenceError(
            f"training diverged in epoch {epoch + 1}, within batches {done + 1}-{stop} "
            f"({what}); the parameters and the optimizer's state were restored to the "
            "start of the epoch: try a smaller learning rate")

    def _save_point(self, epoch):
        np.copyto(self._saved[0], self.network.params)
        for saved, state in zip(self._saved[1:], self.optimizer._states, strict=True):
            np.copyto(saved, state)
        self._saved_t = self.engine.t
        self._saved_rng = self.rng.bit_generator.state

    def _roll_back(self, epoch):
        """Back to the start of ``epoch`` (of the call, for the first epoch)."""
        net = self.network
        net.params[...] = self._saved[0]
        for saved, state in zip(self._saved[1:], self.optimizer._states, strict=True):
            state[...] = saved
        self.engine.t = self._saved_t
        self.rng.bit_generator.state = self._saved_rng
        if epoch == 0:
            self._restore_before()

    def _restore_before(self):
        """The network's optimizer (and its lr) and generator as before the call."""
        net = self.network
        net.optimizer, net._rng.bit_generator.state, self.optimizer.lr = self._before

    def _validation_engine(self):
        """An engine for the validation data, built once per fit."""
        if self.data.val is None:
            return None
        vmode, vx, vlabels, vtargets, vn = self.data.val
        bs = min(1024, vn)
        engine = self.network._engine(bs, vmode, self.threads)
        self.network._set_data(engine, vmode, vx, vlabels, vtargets)
        engine.set_order(np.arange(vn, dtype=np.int64), bs, direct=True)
        return engine

    def _score(self):
        engine = self.val_engine
        engine.reset_stats()
        engine.score()
        loss_sum, correct, seen = self.stepper.sum_stats(*engine.stats())
        return {"val_loss": loss_sum / seen, "val_accuracy": correct / seen}


def _csr(parts, n_rows):
    """A scipy CSR matrix over the arrays ``_Data`` checked (shares them)."""
    import scipy.sparse as sp
    data, indices, indptr, n_features = parts
    return sp.csr_matrix((data, indices, indptr), shape=(n_rows, n_features), copy=False)
