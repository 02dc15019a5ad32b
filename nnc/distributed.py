"""Data-parallel training, evaluation and prediction over MPI (mpi4py).

Launch one process per rank, each holding its own shard of the data::

    # train.py -- run with:  mpiexec -n 4 python -m mpi4py train.py
    from mpi4py import MPI
    import nnc
    from nnc.distributed import shard, print0

    comm = MPI.COMM_WORLD
    (X, y), (X_test, y_test) = nnc.datasets.load_mnist()
    X, y = shard(X, y, comm=comm)              # this rank's contiguous block
    net = nnc.Network([784, 128, 10], seed=0)  # rank 0's weights are broadcast
    net.fit(X, y, epochs=5, batch_size=64, comm=comm)   # 64 samples per rank per step
    print0(comm, nnc.distributed.evaluate(net, *shard(X_test, y_test, comm=comm), comm))

(``python -m mpi4py`` makes an uncaught exception on one rank abort the whole
job instead of leaving the other ranks waiting in a collective.)

Semantics of ``Network.fit(..., comm=comm)``
--------------------------------------------
* At the start of ``fit`` the parameters and the optimizer state of rank 0
  are broadcast to every rank (one ``Bcast`` per buffer), so all ranks start
  identical whatever their own seeds were.  The shuffling and dropout streams
  are derived from rank 0's generator and the rank number: every rank has its
  own order, and the whole run depends on rank 0's ``seed`` only.
* ``sync_every=1`` (the default) is exact synchronous data parallelism.  Each
  step, every rank takes the next ``batch_size`` samples of its shard and
  computes their mean gradient; the gradients are combined with ONE
  ``Allreduce`` over the flat gradient buffer, weighted by the ranks' batch
  sizes, so every rank holds the mean gradient over the union of the ranks'
  batches and applies the same update.  With ``shuffle=False`` this equals
  single-process training whose k-th mini-batch is the concatenation of the
  ranks' k-th mini-batches, in rank order (up to floating-point rounding);
  the global batch is the sum of the ranks' batch sizes.
* Shards of unequal length: an epoch has as many steps as the SHORTEST shard
  has batches (``ceil(n_r / batch_size)``, the minimum over ranks); the other
  ranks leave the rest of their shard unvisited in that epoch (with
  ``shuffle=True`` a different rest each epoch).  At the last step of an
  epoch a rank's batch may be partial; the weighting above stays exact.
* ``sync_every=k > 1`` is local SGD: each rank takes k ordinary steps on its
  own batches, then the parameters and the optimizer state are averaged over
  the ranks with one ``Allreduce`` (and once more at the end of every epoch,
  so the ranks are identical whenever ``fit`` reports, validates, saves or
  returns).  It communicates k times less often, but it is an approximation:
  it is not equal to any single-process run.
* Loss and accuracy of an epoch and the validation scores are summed over the
  ranks (each rank scores its own validation shard), so every rank sees the
  same history and takes the same early-stopping decision.  Only rank 0
  prints progress and writes checkpoints.
* Divergence (a non-finite loss or parameters on any rank) makes every rank
  raise :class:`nnc.DivergenceError` in the same epoch, so no rank is left
  waiting in a collective.

Everything a rank passes to ``fit`` must agree across ranks except the data:
architecture, dtype, optimizer, ``lr``, ``batch_size``, ``epochs``,
``sync_every``, ``shuffle``, callbacks' stop decisions.  The architecture,
dtype, optimizer, learning rate, ``sync_every``, the optimizer's step count and
the number of epochs in ``net.history`` (which learning-rate schedules count)
are checked (a ``ValueError`` on every rank); the rest is the caller's
contract.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from nnc._engine import Engine
    from nnc._typing import ArrayLike, Comm, FloatArray, NDArray, XLike
    from nnc.optimizers import Optimizer

__all__ = ["DataParallel", "evaluate", "predict", "shard", "shard_bounds", "print0",
           "is_root", "rank_rng"]


def _check_comm(comm, name="comm"):
    """Duck-type check for an mpi4py intra-communicator."""
    needed = ("Get_rank", "Get_size", "Allreduce", "Bcast", "allgather", "bcast")
    if comm is None or not all(hasattr(comm, attr) for attr in needed):
        raise TypeError(f"{name} must be an mpi4py communicator such as MPI.COMM_WORLD, "
                        f"got {type(comm).__name__}")
    return comm


def is_root(comm: Comm, root: int = 0) -> bool:
    """True on ``root`` (and when ``comm`` is None: a single process).

    Parameters
    ----------
    comm : mpi4py communicator or None
        None means a single process, which is always the root.
    root : int, default 0
        The rank asked about.

    Returns
    -------
    bool
    """
    return comm is None or _check_comm(comm).Get_rank() == root


def print0(comm: Comm, *args: Any, **kwargs: Any) -> None:
    """``print`` on rank 0 only (and always when ``comm`` is None).

    The rank-0 printing convention of :mod:`nnc.distributed`: ``fit`` already
    silences the progress of the other ranks; use this for your own output.

    Parameters
    ----------
    comm : mpi4py communicator or None
        None prints (a single process).
    *args
        What to print, as for :func:`print`.
    **kwargs
        Passed to :func:`print`; ``flush`` defaults to True.
    """
    if is_root(comm):
        kwargs.setdefault("flush", True)
        print(*args, **kwargs)


def shard_bounds(n_samples: int, comm: Comm = None, rank: int | None = None,
                 size: int | None = None) -> tuple[int, int]:
    """``(start, stop)`` of a rank's contiguous block of ``n_samples`` rows.

    The first ``n_samples % size`` ranks get one row more than the others, so
    the blocks differ in length by at most one and cover every row once.

    Parameters
    ----------
    n_samples : int
    comm : mpi4py communicator, optional
        Gives ``rank`` and ``size`` when they are not passed.
    rank, size : int, optional
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) \
            or n_samples < 0:
        raise ValueError(f"n_samples must be an integer >= 0, got {n_samples!r}")
    if rank is None or size is None:
        _check_comm(comm)
        rank = comm.Get_rank() if rank is None else rank
        size = comm.Get_size() if size is None else size
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be an integer >= 1, got {size!r}")
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) \
            or not 0 <= rank < size:
        raise ValueError(f"rank must be an integer in [0, {size}), got {rank!r}")
    base, extra = divmod(int(n_samples), int(size))
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def shard(*arrays: Any, comm: Comm = None, rank: int | None = None, size: int | None = None) -> Any:
    """This rank's contiguous block of each array (views, no copies).

    All arrays must have the same number of rows.  See :func:`shard_bounds`
    for the split.

    Parameters
    ----------
    *arrays : array-like with rows (NumPy arrays, scipy.sparse matrices...)
        The full data set, the same on every rank.
    comm : mpi4py communicator, optional
        Gives ``rank`` and ``size`` when they are not passed.
    rank, size : int, optional
        This rank and the number of ranks, overriding ``comm``'s.

    Returns
    -------
    array or tuple of arrays
        One block for one argument, else a tuple of blocks (in the same order).
    """
    if not arrays:
        raise ValueError("shard needs at least one array")
    n = _n_rows(arrays[0], "arrays[0]")
    for i, a in enumerate(arrays[1:], 1):
        if _n_rows(a, f"arrays[{i}]") != n:
            raise ValueError(f"arrays[{i}] has {_n_rows(a, '')} rows, arrays[0] has {n}")
    start, stop = shard_bounds(n, comm, rank, size)
    out = tuple(a[start:stop] for a in arrays)
    return out[0] if len(out) == 1 else out


def _n_rows(a, name):
    shape = getattr(a, "shape", None)
    if shape is None or len(shape) == 0:
        raise TypeError(f"{name} must be an array with rows, got {type(a).__name__}")
    return shape[0]


def rank_rng(comm: Comm, rng: np.random.Generator) -> np.random.Generator:
    """A generator for this rank, derived from rank 0's generator.

    Every rank draws once from its own ``rng`` (so all ranks' generators
    advance alike) and seeds a new generator with rank 0's draw and its rank
    number: the ranks get different, reproducible streams that depend only on
    rank 0's state.  One small ``bcast``.  On a single rank ``rng`` itself is
    returned, so ``fit(comm=MPI.COMM_SELF)`` repeats ``fit()`` exactly.

    Parameters
    ----------
    comm : mpi4py communicator
    rng : numpy.random.Generator
        This rank's generator (advanced by one draw).

    Returns
    -------
    numpy.random.Generator
    """
    _check_comm(comm)
    if comm.Get_size() == 1:
        return rng
    draw = int(rng.integers(0, 2**63))
    base = comm.bcast(draw, root=0)
    return np.random.default_rng([base, comm.Get_rank()])


def _finite(a):
    # min/max propagate NaN and allocate nothing: a cheap once-per-span check
    return math.isfinite(a.min()) and math.isfinite(a.max())


class DataParallel:
    """Synchronises one rank's training inside ``Network.fit(comm=...)``.

    Created by ``fit`` after its engine; not usually used directly.  The
    constructor is collective: it checks that the ranks agree, computes the
    common number of steps and the batch weights from the ranks' shard sizes
    (one ``allgather``), and broadcasts rank 0's parameters and optimizer
    state.

    Parameters
    ----------
    comm : mpi4py communicator
    net : nnc.Network
    engine : nnc._engine.Engine
        The fit's engine, with its data, order and optimizer set.
    grads : ndarray
        The engine's gradient buffer (layout of ``net.params``).
    optimizer : nnc.optimizers.Optimizer
        The fit's optimizer; its state buffers (layout of ``net.params``)
        are broadcast and, with local SGD, averaged.
    sync_every : int
        1: average gradients every step (exact); k > 1: local SGD, average
        parameters and optimizer state every k steps.
    n_samples : int
        Rows of this rank's shard.
    batch_size : int
        This rank's batch size (``min(batch_size, n_samples)``).
    """

    @property
    def root(self) -> bool:
        """Whether this process prints progress and writes checkpoints (rank 0 only)."""
        return self.rank == 0

    def __init__(self, comm: Comm, net: Any, engine: Engine, grads: FloatArray, optimizer: Optimizer,
                 sync_every: int = 1, n_samples: int | None = None, batch_size: int | None = None) -> None:
        _check_comm(comm)
        from mpi4py import MPI
        self._MPI = MPI
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.net, self.engine, self.grads = net, engine, grads
        self.states = optimizer.states
        if isinstance(sync_every, bool) or not isinstance(sync_every, (int, np.integer)) \
                or sync_every < 1:
            raise ValueError(f"sync_every must be an integer >= 1, got {sync_every!r}")
        self.sync_every = int(sync_every)
        if n_samples is None or batch_size is None:
            raise TypeError("DataParallel needs n_samples and batch_size (this rank's "
                            "shard length and batch size)")
        if self.sync_every == 1 and (grads is None or grads.shape != net.params.shape):
            raise ValueError("gradient averaging needs a gradient buffer shaped like the "
                             "parameters")
        opt = {"class": type(optimizer).__name__,
               **{k: v for k, v in optimizer.get_config().items()
                  if k not in ("schedule", "lr")}}
        mine = {"sizes": list(net.sizes), "activations": list(net.activations),
                "loss": net.loss, "dtype": net.dtype.str, "optimizer": opt,
                "n_states": len(self.states), "lr": float(engine.lr), "t": int(engine.t),
                "epochs_trained": len(net.history.get("loss", ())),
                "sync_every": self.sync_every, "n": int(n_samples), "bs": int(batch_size)}
        everyone = comm.allgather(mine)  # the one start-up exchange
        # Every rank sees the same list, so every rank raises the same error.
        hints = {"t": " (give every rank a fresh optimizer, or train every rank the same "
                      "way before)",
                 "epochs_trained": " (learning-rate schedules count the epochs in "
                                   "net.history: train every rank the same way before)"}
        for key in ("sizes", "activations", "loss", "dtype", "optimizer", "n_states", "lr",
                    "epochs_trained", "t", "sync_every"):
            values = [info[key] for info in everyone]
            if any(v != values[0] for v in values):
                hint = hints.get(key, "")
                raise ValueError(f"the ranks disagree on {key}: {values}{hint}")
        self.shard_sizes = np.array([info["n"] for info in everyone], dtype=np.int64)
        self.batch_sizes = np.array([info["bs"] for info in everyone], dtype=np.int64)
        if (self.shard_sizes < 1).any() or (self.batch_sizes < 1).any():
            raise ValueError(f"every rank needs at least one sample; shard sizes: "
                             f"{self.shard_sizes.tolist()}")
        per_rank = -(-self.shard_sizes // self.batch_sizes)
        #: steps per epoch: the shortest shard's number of batches
        self.n_batches = int(per_rank.min())
        # This rank's share of the global batch: m_r / M.  Only the last common
        # step can have partial batches (a rank's partial batch is its last one).
        last = self.n_batches - 1
        m_last = np.minimum(self.batch_sizes, self.shard_sizes - last * self.batch_sizes)
        self._share = float(self.batch_sizes[self.rank] / self.batch_sizes.sum())
        self._share_last = float(m_last[self.rank] / m_last.sum())

        comm.Bcast(net.params, root=0)
        for s in self.states:
            comm.Bcast(s, root=0)

        if self.sync_every > 1:
            # Parameters and optimizer state packed for one Allreduce per sync.
            self._pack = np.empty(net.params.size * (1 + len(self.states)), net.dtype)
        self._diverged = False
        self._since_sync = 0

    # -- the stepper protocol (see nnc.training.LocalStepper) ------------------
    def train(self, b0: int, b1: int) -> None:
        """Train on this epoch's batches b0 .. b1-1, synchronised with the other ranks.

        Parameters
        ----------
        b0, b1 : int
            First batch and one past the last batch of the span.
        """
        if self._diverged:
            return  # see _mark_diverged: every rank stops issuing collectives
        b1 = min(b1, self.n_batches)
        if self.sync_every == 1:
            for b in range(b0, b1):
                self.engine.train(b, b + 1, apply_update=False)
                if not self._reduce_gradient(b):
                    return
                self.engine.apply()
            if b1 < self.n_batches and not _finite(self.net.params):
                # The last update of this span made the (identical) parameters
                # non-finite with a finite loss.  fit is about to raise here,
                # while ranks whose span goes on are entering step b1's
                # Allreduce: meet them there with a poisoned gradient.
                self.grads[0] = np.nan
                self.comm.Allreduce(self._MPI.IN_PLACE, self.grads, op=self._MPI.SUM)
                self._mark_diverged()
        else:
            self._train_local(b0, b1)

    def _reduce_gradient(self, b):
        """Replace this rank's mean batch gradient by the global one.

        Scaling by m_r / M before the sum gives the mean over all M samples of
        the step in a single Allreduce.  A rank whose loss became non-finite
        poisons the sum, so every rank learns it at the same step.  Returns
        False when training diverged.
        """
        g = self.grads
        share = self._share_last if b == self.n_batches - 1 else self._share
        if math.isfinite(self.engine.stats()[0]):
            g *= g.dtype.type(share)
        else:
            g[0] = np.nan
        self.comm.Allreduce(self._MPI.IN_PLACE, g, op=self._MPI.SUM)
        if not math.isfinite(g[0]):
            self._mark_diverged()
            return False
        return True

    def _train_local(self, b0, b1):
        """Local SGD: fused steps, averaging at every k-th step and at the epoch end."""
        k, last = self.sync_every, self.n_batches
        b = b0
        while b < b1:
            # The step count after which the next average is due.
            due = min(last, b - self._since_sync + k)
            stop = min(b1, due)
            self.engine.train(b, stop, apply_update=True, fused=True)
            self._since_sync += stop - b
            b = stop
            bad = not (math.isfinite(self.engine.stats()[0]) and _finite(self.net.params))
            if b == due or bad:
                # A diverged rank goes straight to the next scheduled average,
                # skipping its remaining local steps, so the collectives match.
                if not self._average(poison=bad):
                    return

    def _average(self, poison=False):
        """Average parameters and optimizer state over the ranks (one Allreduce)."""
        p, n = self.net.params, self.net.params.size
        pack = self._pack
        pack[:n] = p
        for i, s in enumerate(self.states, 1):
            pack[i * n:(i + 1) * n] = s
        if poison:
            pack[0] = np.nan
        self.comm.Allreduce(self._MPI.IN_PLACE, pack, op=self._MPI.SUM)
        pack *= pack.dtype.type(1.0 / self.size)
        p[...] = pack[:n]
        for i, s in enumerate(self.states, 1):
            s[...] = pack[i * n:(i + 1) * n]
        self._since_sync = 0
        if not math.isfinite(pack[0]):
            self._mark_diverged()
            return False
        return True

    def _mark_diverged(self):
        # Every rank gets here at the same step.  Non-finite parameters make
        # the trainer's per-span check raise DivergenceError (and restore the
        # epoch's starting point) on ranks whose own loss is still finite;
        # until then train() issues no more collectives.
        self._diverged = True
        self.net.params[0] = np.nan

    def sum_stats(self, *values: float) -> tuple[float, ...]:
        """Sum scalars (loss sum, correct, seen, ...) over the ranks: one Allreduce.

        Parameters
        ----------
        *values : int or float
            This rank's values; integers come back as integers.

        Returns
        -------
        tuple
            The sums over all ranks, in the order given.
        """
        buf = np.array(values, dtype=np.float64)
        self.comm.Allreduce(self._MPI.IN_PLACE, buf, op=self._MPI.SUM)
        return tuple(int(round(v)) if isinstance(x, (int, np.integer)) else float(v)
                     for x, v in zip(values, buf, strict=True))

    def finish_epoch(self) -> None:
        """End of an epoch: the next epoch's local-SGD schedule starts afresh."""
        # _train_local has already averaged at the epoch's last step.
        self._since_sync = 0


# ---------------------------------------------------------------------------
# Evaluation and prediction with a communicator
# ---------------------------------------------------------------------------
def evaluate(net: Any, X: XLike, y: ArrayLike, comm: Comm, sample_weight: ArrayLike | None = None,
             threads: int | None = None) -> dict[str, float]:
    """Mean loss and accuracy over the union of the ranks' shards.

    Collective: every rank passes its own shard (possibly empty) and gets the
    same result, the one ``net.evaluate`` would give on the concatenated data.

    Parameters
    ----------
    net : nnc.Network
        The same parameters on every rank (as after ``fit(comm=...)``).
    X, y : this rank's samples and labels/targets
    comm : mpi4py communicator
    sample_weight : array-like, optional
    threads : int, optional
        Threads of this rank's :meth:`nnc.Network.evaluate` (default: all cores).

    Returns
    -------
    dict with ``"loss"``, ``"accuracy"`` and ``"n_samples"`` (global count).
    """
    _check_comm(comm)
    from mpi4py import MPI
    n = _n_rows(X, "X")
    if n > 0:
        scores = net.evaluate(X, y, sample_weight=sample_weight, threads=threads)
        weight = float(n if sample_weight is None else np.sum(sample_weight))
        # evaluate returns means: turn them back into sums for the reduction.
        sums = [scores["loss"] * weight, round(scores["accuracy"] * n), n, weight]
    else:
        sums = [0.0, 0, 0, 0.0]
    buf = np.array(sums, dtype=np.float64)
    comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
    loss_sum, correct, total, weight = buf
    if total == 0:
        raise ValueError("X is empty on every rank")
    return {"loss": float(loss_sum / max(weight, 1e-300)), "accuracy": float(correct / total),
            "n_samples": int(total)}


def predict(net: Any, X: XLike, comm: Comm, root: int | None = 0,
            threads: int | None = None) -> NDArray[np.int64] | None:
    """Predicted labels of the union of the ranks' shards, in rank order.

    Collective: each rank predicts its own shard (possibly empty); the labels
    are gathered with one ``Gatherv`` (``root=None``: ``Allgatherv``, every rank
    gets them).

    Parameters
    ----------
    net : nnc.Network
        The same parameters on every rank.
    X : array-like or scipy.sparse matrix
        This rank's samples (may have no rows).
    comm : mpi4py communicator
    root : int or None, default 0
        The rank that receives the labels; None: every rank.
    threads : int, optional
        Threads of this rank's :meth:`nnc.Network.predict` (default: all cores).

    Returns
    -------
    ndarray of int64 on ``root`` (every rank when ``root`` is None), None on
    the other ranks.
    """
    _check_comm(comm)
    from mpi4py import MPI
    n = _n_rows(X, "X")
    local = net.predict(X, threads=threads) if n > 0 else np.empty(0, np.int64)
    local = np.ascontiguousarray(local, dtype=np.int64)
    counts = np.array(comm.allgather(int(n)), dtype=np.int64)
    size = comm.Get_size()
    if root is not None and (isinstance(root, bool) or not isinstance(root, (int, np.integer))
                             or not 0 <= root < size):
        raise ValueError(f"root must be a rank in [0, {size}) or None, got {root!r}")
    displs = np.concatenate([[0], np.cumsum(counts)[:-1]])
    if root is None:
        out = np.empty(int(counts.sum()), np.int64)
        comm.Allgatherv(local, [out, counts, displs, MPI.INT64_T])
        return out
    out = np.empty(int(counts.sum()), np.int64) if comm.Get_rank() == root else None
    comm.Gatherv(local, [out, counts, displs, MPI.INT64_T] if out is not None else None,
                 root=root)
    return out
