"""The engine's codes, read from the compiled enums where they are declared.

``nnc/_kernels.pxd`` declares the activation and loss codes, and
``nnc/_engine.pyx`` the optimizer and input-mode codes, as ``cpdef enum``s;
Cython exposes each as a Python enum.  The name of a code is its constant's
name without the prefix, in lower case (``ACT_LEAKY_RELU`` -> ``"leaky_relu"``),
so adding a constant to an enum is all it takes to name it here.
"""
from nnc._native import engine as _engine
from nnc._native import kernels as _kernels

__all__ = ["ACTIVATIONS", "LOSSES", "OPTIMIZERS", "INPUT_MODES"]


def _table(enum, prefix):
    return {member.name[len(prefix):].lower(): int(member) for member in enum}


#: activation name -> engine code
ACTIVATIONS = _table(_kernels.Activation, "ACT_")
#: loss name -> engine code
LOSSES = _table(_kernels.Loss, "LOSS_")
#: optimizer name -> engine code
OPTIMIZERS = _table(_engine.Optimizer, "OPT_")
#: how the first layer reads its input ("dense", "compact", "csr") -> engine code
INPUT_MODES = _table(_engine.InputMode, "INPUT_")
