"""Full-batch training with L-BFGS (scipy's L-BFGS-B) on nnc's engine.

The objective is the mean cost over the whole training set plus an L2
penalty on the weights::

    J(theta) = sum_i w_i C_i / n + l2 / 2 * sum_l |W^l|^2,

and each of its evaluations is one pass of the engine over the data (forward
and backpropagation in batches, without the GIL) that leaves the gradient in
a buffer laid out like ``net.params``.  ``scipy.optimize.minimize`` with
``method="L-BFGS-B"`` chooses the points; nothing here copies the data.

>>> import numpy as np, nnc
>>> from nnc.lbfgs import fit_lbfgs
>>> X = np.random.default_rng(0).random((200, 4)); y = (X.sum(axis=1) > 2).astype(int)
>>> net = nnc.Network([4, 8, 2], activation="tanh", output_activation="softmax",
...                   loss="sparse_categorical_crossentropy", dtype="float64", seed=0)
>>> result = fit_lbfgs(net, X, y, max_iter=50)
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.optimize import minimize

from nnc import _validation as V
from nnc._threads import blas_threads as _blas_threads
from nnc._threads import choose_threads as _threads

if TYPE_CHECKING:
    from nnc._typing import ArrayLike, XLike

__all__ = ["LBFGSResult", "fit_lbfgs", "minimize_lbfgs"]

#: rows per engine batch: the workspace stays small, the products stay large
BATCH_ROWS = 512
#: multiply-adds up to which OpenBLAS (NumPy's and SciPy's) computes a product
#: without first packing its operands; for a small network, batches whose
#: products stay below it are faster (digits, 64-100-10: 0.8 ms per pass of
#: the data at 128-156 rows against 1.1 ms at 512)
SMALL_PRODUCT = 1_000_000


@dataclass
class LBFGSResult:
    """What :func:`fit_lbfgs` did.

    A dataclass: its fields are read as attributes (``result.converged``)
    and are also its constructor's parameters.

    Parameters
    ----------
    n_iter : int
        L-BFGS iterations taken.
    n_fun : int
        Evaluations of the objective (passes over the data).
    loss : float
        The objective at the returned parameters.
    loss_curve : list of float
        The objective after each iteration.
    converged : bool
        Whether L-BFGS-B met its tolerance (not a limit, nor a failed line search).
    message : str
        scipy's message.
    status : int
        scipy's status: 0 converged, 1 a limit (``max_iter``/``max_fun``)
        reached, 2 another stop (such as an abnormal line search), 99
        stopped by ``callback``.
    """

    n_iter: int
    n_fun: int
    loss: float
    loss_curve: list = field(default_factory=list)
    converged: bool = False
    message: str = ""
    status: int = 0


class _Objective:
    """J(theta) and its gradient through the engine, for scipy."""

    def __init__(self, network, engine, l2):
        self.network, self.engine, self.l2 = network, engine, l2
        self.grads = np.zeros_like(network.params)
        self.n_calls = 0

    def __call__(self, theta):
        # scipy works in float64; the engine in the network's dtype
        self.network.params[...] = theta
        self.n_calls += 1
        loss = self.engine.loss_and_gradient(self.grads, self.l2)
        return loss, self.grads.astype(np.float64)  # scipy keeps the array it is given


def _batch_rows(sizes):
    """Rows per engine batch for a network of these layer sizes."""
    widest = max(n_in * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True))
    small = SMALL_PRODUCT // widest
    return small if 64 <= small < BATCH_ROWS else BATCH_ROWS


def _prepare(network, X, y, sample_weight, threads):
    """An engine pointed at the validated data, rows in order."""
    mode, data = network._prepare_X(X, sparse="auto")
    n = network._n_rows(mode, data)
    labels, targets = network._prepare_y(y, n)
    sw = V.check_sample_weight(sample_weight, n, network.dtype)
    if any(network.dropout):
        raise ValueError("L-BFGS needs a deterministic objective: the network has dropout")
    bs = min(_batch_rows(network.sizes), n)
    engine = network._engine(bs, mode, _threads(threads, bs * network._layout_size))
    network._set_data(engine, mode, data, labels, targets, sw)
    engine.set_order(np.arange(n, dtype=np.int64), bs, direct=True)
    return engine


def fit_lbfgs(network: Any, X: XLike, y: ArrayLike, sample_weight: ArrayLike | None = None,
              l2: float = 0.0, max_iter: int = 200, max_fun: int = 15000, tol: float = 1e-4,
              callback: Callable[[int, float], object] | None = None,
              threads: int | None = None) -> LBFGSResult:
    """Train ``network`` by full-batch L-BFGS, in place.

    Parameters
    ----------
    network : nnc.Network
        Trained from its current parameters; it must have no dropout.
    X : array-like or scipy.sparse matrix of shape (n_samples, sizes[0])
    y : array-like
        Class labels of shape (n_samples,) or targets (n_samples, sizes[-1]).
    sample_weight : array-like of shape (n_samples,), optional
        Each sample's cost is multiplied by its weight (the sum is still
        divided by n_samples).
    l2 : float, default 0.0
        ``l2 / 2 * |W|^2`` is added to the objective (weights, not biases).
    max_iter : int, default 200
        Most L-BFGS iterations.
    max_fun : int, default 15000
        Most evaluations of the objective.
    tol : float, default 1e-4
        Stop when every component of the projected gradient is below ``tol``
        (scipy's ``gtol``).
    callback : callable ``f(iteration, loss) -> bool``, optional
        Called after each iteration; a true return stops training.
    threads : int, optional
        Threads for the engine (as in :meth:`nnc.Network.fit`).

    Returns
    -------
    LBFGSResult
    """
    l2 = V.check_float("l2", l2, 0.0)
    max_iter = V.check_int("max_iter", max_iter, 1)
    max_fun = V.check_int("max_fun", max_fun, 1)
    tol = V.check_float("tol", tol, 0.0)
    if callback is not None and not callable(callback):
        raise TypeError("callback must be callable f(iteration, loss) or None")
    if not network._fit_lock.acquire(blocking=False):
        raise RuntimeError("this network is already being trained by another thread; "
                           "fit calls on one network cannot overlap")
    try:
        return minimize_lbfgs(network, X, y, sample_weight, l2, max_iter, max_fun, tol,
                              callback, threads)
    finally:
        network._fit_lock.release()


def minimize_lbfgs(network: Any, X: XLike, y: ArrayLike, sample_weight: ArrayLike | None,
                   l2: float, max_iter: int, max_fun: int, tol: float,
                   callback: Callable[[int, float], object] | None,
                   threads: int | None) -> LBFGSResult:
    """:func:`fit_lbfgs` without its argument checks and lock (the caller holds it):
    the run itself, for :class:`nnc.optimizers.LBFGS`.

    Parameters
    ----------
    network, X, y, sample_weight, l2, max_iter, max_fun, tol, callback, threads
        As for :func:`fit_lbfgs`, already checked; all are required here.

    Returns
    -------
    LBFGSResult
    """
    objective = _Objective(network, _prepare(network, X, y, sample_weight, threads), l2)
    curve = []

    def on_iteration(intermediate_result):
        curve.append(float(intermediate_result.fun))
        if callback is not None and callback(len(curve), curve[-1]):
            raise StopIteration  # scipy ends the run (status 99)

    with _blas_threads():
        result = minimize(objective, network.params.astype(np.float64), jac=True,
                          method="L-BFGS-B", callback=on_iteration,
                          options={"maxiter": max_iter, "maxfun": max_fun, "gtol": tol})
    network.params[...] = result.x
    return LBFGSResult(n_iter=int(result.nit), n_fun=objective.n_calls,
                       loss=float(result.fun), loss_curve=curve,
                       converged=result.status == 0, message=str(result.message),
                       status=int(result.status))
