"""Activation functions: names, engine codes and NumPy reference versions.

The engine computes activations in C (``nnc/_kernels.pyx``); ``CODES`` maps
the names users pass to the codes the engine understands (read from the
engine's own enum), and this module keeps a plain
NumPy version of each function and its derivative, which the tests use as an
oracle and the plots draw.
"""
import numpy as np
from scipy.special import erf, expit

from nnc import _codes

#: name -> engine code, from the Activation enum of nnc/_kernels.pxd
CODES = dict(_codes.ACTIVATIONS)

#: aliases accepted for convenience (scikit-learn calls identity "linear"...)
ALIASES = {"linear": "identity", "logistic": "sigmoid", "silu": "swish"}


def canonical(name, argname="activation"):
    """Return the canonical activation name, or raise ValueError.

    Parameters
    ----------
    name : str
        A name of :data:`CODES` or an alias of :data:`ALIASES`, any case.
    argname : str, default "activation"
        The argument named in the error message.

    Returns
    -------
    str
        The key of :data:`CODES`.
    """
    if not isinstance(name, str):
        raise TypeError(f"{argname} must be a string, got {type(name).__name__}")
    key = ALIASES.get(name.lower(), name.lower())
    if key not in CODES:
        raise ValueError(
            f"unknown {argname} {name!r}; expected one of {sorted(CODES)}")
    return key


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


#: name -> f(z), in NumPy
FUNCTIONS = {
    "identity": lambda z: z,
    "sigmoid": expit,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
    "gelu": lambda z: 0.5 * z * (1 + erf(z / np.sqrt(2))),
    "softplus": lambda z: np.logaddexp(0, z),
    "swish": lambda z: z * expit(z),
    "softmax": _softmax,
    "step": lambda z: (z > 0).astype(z.dtype),
    "exp": np.exp,
}

#: name -> f'(z), elementwise, in NumPy (softmax's Jacobian is not diagonal)
DERIVATIVES = {
    "identity": lambda z: np.ones_like(z),
    "sigmoid": lambda z: expit(z) * (1 - expit(z)),
    "tanh": lambda z: 1 - np.tanh(z) ** 2,
    "relu": lambda z: (z > 0).astype(z.dtype),
    "leaky_relu": lambda z: np.where(z > 0, 1.0, 0.01).astype(z.dtype),
    "elu": lambda z: np.where(z > 0, 1.0, np.exp(np.minimum(z, 0))).astype(z.dtype),
    "gelu": lambda z: 0.5 * (1 + erf(z / np.sqrt(2))) + z * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi),
    "softplus": expit,
    "swish": lambda z: expit(z) * (1 + z * (1 - expit(z))),
    "exp": np.exp,
}
