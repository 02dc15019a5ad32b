# Type stubs of the compiled module nnc/_kernels.pyx (its Python-visible part).
# Array arguments are C-contiguous float32 or float64 arrays, all of one dtype.
import enum
from typing import Any

import numpy as np
from numpy.typing import NDArray

_F = NDArray[np.floating[Any]]

class Activation(enum.IntEnum):
    """Activation codes (``cpdef enum Activation`` in nnc/_kernels.pxd)."""

    ACT_IDENTITY = 0
    ACT_SIGMOID = 1
    ACT_TANH = 2
    ACT_RELU = 3
    ACT_LEAKY_RELU = 4
    ACT_ELU = 5
    ACT_GELU = 6
    ACT_SOFTPLUS = 7
    ACT_SWISH = 8
    ACT_SOFTMAX = 9
    ACT_STEP = 10
    ACT_EXP = 11

class Loss(enum.IntEnum):
    """Loss codes (``cpdef enum Loss`` in nnc/_kernels.pxd)."""

    LOSS_QUADRATIC = 0
    LOSS_BINARY_CROSSENTROPY = 1
    LOSS_CATEGORICAL_CROSSENTROPY = 2
    LOSS_POISSON = 3

def batch_forward(x: _F, w: _F, b: _F, out: _F) -> None: ...
def matvec(w: _F, x: _F, b: _F, out: _F) -> None: ...
def backprop_delta(delta: _F, w: _F, out: _F) -> None: ...
def weight_gradient(delta: _F, a_prev: _F, out: _F, beta: float = 0) -> None: ...
def activation(kind: int, z: _F, out: _F) -> None: ...
def activation_derivative(kind: int, z: _F, a: _F, delta: _F) -> None: ...
def loss_and_delta(loss: int, kind: int, z: _F, a: _F, y: _F, delta: _F) -> float: ...
def sgd_step(param: _F, grad: _F, lr: float) -> None: ...
def _exp_array(x: _F, out: _F) -> None: ...
def _active_columns(x: _F, act: np.ndarray) -> tuple[int, int] | None: ...
def _build_strips(x: _F, order: np.ndarray, block: int, count: np.ndarray, srows: np.ndarray,
                  svals: np.ndarray, threads: int) -> tuple[int, int] | None: ...
def _bias_activation(kind: int, b: _F, z: _F, out: _F) -> None: ...
def _softmax_xent(z: _F, a: _F, y: _F, delta: _F, scale: float) -> tuple[float, float]: ...
def _bias_gradient(delta: _F, alpha: float, gb: _F) -> None: ...
def _sum_squares(x: _F) -> float: ...
