"""Type aliases of nnc's public signatures.

Imported by the other modules under ``typing.TYPE_CHECKING`` only (their
annotations are strings, ``from __future__ import annotations``), so nothing
here runs when nnc is imported.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

__all__ = ["ArrayLike", "DTypeLike", "NDArray", "PathLike", "XLike", "Logs", "HistoryDict",
           "Comm", "FloatArray", "Dataset", "ScheduleLike", "ModelLike"]

#: a file-system path as nnc accepts it
PathLike: TypeAlias = "str | os.PathLike[str]"
#: a network's input: array-like, or a scipy.sparse matrix/array (CSR is used as it is)
XLike: TypeAlias = Any
#: an epoch's metrics handed to callbacks (``loss``, ``accuracy``, ``val_loss``, ...)
Logs: TypeAlias = "dict[str, Any]"
#: a training history: per-epoch values under each metric's name
HistoryDict: TypeAlias = "dict[str, list[Any]]"
#: an mpi4py communicator (mpi4py is an optional dependency)
Comm: TypeAlias = Any
#: parameters and activations: float32 or float64
FloatArray: TypeAlias = "NDArray[np.floating[Any]]"
#: ``((X_train, y_train), (X_test, y_test))``
Dataset: TypeAlias = "tuple[tuple[NDArray[Any], NDArray[Any]], tuple[NDArray[Any], NDArray[Any]]]"
#: a learning-rate schedule: a name, an nnc.optimizers.Schedule or any ``f(lr, epoch) -> lr``
ScheduleLike: TypeAlias = "str | Callable[[float, int], float] | None"


class ModelLike(Protocol):
    """What :func:`nnc.io.save` reads of a model (an :class:`nnc.model.Model`;
    io.py cannot import that module, which imports io)."""

    kind: str | None
    params: FloatArray
    history: HistoryDict

    def _file_config(self) -> dict[str, Any]: ...
