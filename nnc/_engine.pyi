# Type stubs of the compiled module nnc/_engine.pyx (its Python-visible part).
import enum
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

_F = NDArray[np.floating[Any]]

class Optimizer(enum.IntEnum):
    """Update-rule codes (``cpdef enum Optimizer`` in nnc/_engine.pyx)."""

    OPT_SGD = 0
    OPT_MOMENTUM = 1
    OPT_NESTEROV = 2
    OPT_ADAM = 3
    OPT_RMSPROP = 4

class InputMode(enum.IntEnum):
    """How the first layer reads its input (``cpdef enum InputMode`` in nnc/_engine.pyx)."""

    INPUT_DENSE = 0
    INPUT_COMPACT = 1
    INPUT_CSR = 2

def set_flush_denormal(enabled: bool) -> bool: ...
def _set_strips(mode: int) -> int: ...

class Engine:
    """Workspace and state of one training run (or one evaluation)."""

    dtype: np.dtype[Any]
    dropout_seed: int
    lr: float
    t: int
    check_input: bool
    @property
    def bad_row(self) -> int: ...
    @property
    def strips(self) -> int: ...
    @property
    def tile_rows(self) -> int: ...
    def __init__(self, params: _F, sizes: Sequence[int], activations: Sequence[int], loss: int,
                 w_off: Sequence[int], b_off: Sequence[int], cap: int, input_mode: int = ...,
                 dropout: Sequence[float] | None = None, threads: int = 1) -> None: ...
    def set_data(self, x: NDArray[Any] | None = None,
                 csr: tuple[_F, NDArray[np.int32], NDArray[np.int64], int] | None = None,
                 labels: NDArray[np.int64] | None = None, targets: _F | None = None,
                 sample_weight: _F | None = None) -> None: ...
    def set_optimizer(self, code: int, grads: _F | None, states: Sequence[_F] = (), *, lr: float,
                      l2: float = 0.0, momentum: float = 0.0, beta1: float = 0.9, beta2: float = 0.999,
                      epsilon: float = 1e-8, rho: float = 0.9, t: int = 0) -> None: ...
    def set_order(self, order: NDArray[np.int64], batch_size: int, direct: bool = False) -> None: ...
    def reset_stats(self) -> None: ...
    def stats(self) -> tuple[float, float, int]: ...
    def train(self, b0: int, b1: int, apply_update: bool = True, fused: bool = False) -> None: ...
    def apply(self) -> None: ...
    def score(self) -> None: ...
    def loss_and_gradient(self, grads: _F, l2: float = 0.0) -> float: ...
    def forward(self, out: _F, n_layers: int) -> None: ...
