"""nnc's compute kernels, callable from Python over NumPy arrays.

Each function takes float32 or float64 C-contiguous arrays (all of one
dtype) and writes its result in place.  They are the same C cores the
training engine runs; here every argument is checked first (number of
dimensions, dtype, layout, shapes), because the cores run without bounds
checks.

- :func:`matvec` -- ``out = W x + b`` for one sample
- :func:`batch_forward` -- ``out = X W^T + b`` for a mini-batch
- :func:`backprop_delta` -- ``out = delta W`` (W^T delta for each row)
- :func:`weight_gradient` -- ``out = delta^T A (+ beta out)``
- :func:`activation` / :func:`activation_derivative` -- f(z), and ``delta *= f'(z)``
- :func:`loss_and_delta` -- mean cost and output error of a batch
- :func:`sgd_step` -- ``param -= lr * grad``

Activation and loss codes are in ``nnc.activations.CODES`` and
``nnc.losses.CODES``; names are accepted too.
"""
import numpy as np

from nnc import _kernels
from nnc import activations as _acts
from nnc import losses as _losses

__all__ = ["activation", "activation_derivative", "backprop_delta", "batch_forward",
           "loss_and_delta", "matvec", "sgd_step", "weight_gradient"]


def _arrays(names, arrays, ndims, writable=()):
    """Check that the arrays share one float dtype, their ndim, and C order."""
    dtype = None
    for name, arr, ndim in zip(names, arrays, ndims):
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"{name} must be a NumPy array, got {type(arr).__name__}")
        if arr.dtype not in (np.float32, np.float64):
            raise TypeError(f"{name} must be float32 or float64, got {arr.dtype}")
        if dtype is None:
            dtype = arr.dtype
        elif arr.dtype != dtype:
            raise TypeError(f"{name} has dtype {arr.dtype}, expected {dtype} like {names[0]}")
        if arr.ndim != ndim:
            raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
        if not arr.flags.c_contiguous:
            raise ValueError(f"{name} must be C-contiguous (use np.ascontiguousarray)")
        if name in writable and not arr.flags.writeable:
            raise ValueError(f"{name} must be writeable")


def _code(table, value, argname):
    if isinstance(value, str):
        return table.CODES[table.canonical(value)] if table is _losses else \
            table.CODES[table.canonical(value, argname)]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{argname} must be a name or an integer code")
    top = max(table.CODES.values())
    if not 0 <= value <= top:
        raise ValueError(f"{argname} must be a code in [0, {top}], got {value}")
    return int(value)


def matvec(w, x, b, out):
    """One sample's weighted input: ``out = w @ x + b`` (z = W a + b).

    Parameters
    ----------
    w : ndarray of shape (n_out, n_in)
    x : ndarray of shape (n_in,)
    b : ndarray of shape (n_out,)
    out : ndarray of shape (n_out,), written in place
    """
    _arrays(("w", "x", "b", "out"), (w, x, b, out), (2, 1, 1, 1), ("out",))
    _kernels.matvec(w, x, b, out)


def batch_forward(x, w, b, out):
    """A mini-batch's weighted inputs: ``out = x @ w.T + b``.

    Parameters
    ----------
    x : ndarray of shape (m, n_in)
    w : ndarray of shape (n_out, n_in)
    b : ndarray of shape (n_out,)
    out : ndarray of shape (m, n_out), written in place
    """
    _arrays(("x", "w", "b", "out"), (x, w, b, out), (2, 2, 1, 2), ("out",))
    _kernels.batch_forward(x, w, b, out)


def backprop_delta(delta, w, out):
    """Propagate errors one layer back: ``out = delta @ w`` (W^T delta per row).

    Parameters
    ----------
    delta : ndarray of shape (m, n_out)
    w : ndarray of shape (n_out, n_in)
    out : ndarray of shape (m, n_in), written in place
    """
    _arrays(("delta", "w", "out"), (delta, w, out), (2, 2, 2), ("out",))
    _kernels.backprop_delta(delta, w, out)


def weight_gradient(delta, a_prev, out, beta=0.0):
    """Weight gradient (BP4): ``out = delta.T @ a_prev + beta * out``.

    Parameters
    ----------
    delta : ndarray of shape (m, n_out)
    a_prev : ndarray of shape (m, n_in)
    out : ndarray of shape (n_out, n_in), written in place
    beta : float
        0 overwrites ``out``; 1 accumulates into it.
    """
    _arrays(("delta", "a_prev", "out"), (delta, a_prev, out), (2, 2, 2), ("out",))
    _kernels.weight_gradient(delta, a_prev, out, float(beta))


def activation(kind, z, out):
    """``out = f(z)`` for the activation ``kind`` (a name or code).

    Parameters
    ----------
    kind : str or int
    z, out : ndarray of shape (m, n); softmax works row by row
    """
    code = _code(_acts, kind, "kind")
    _arrays(("z", "out"), (z, out), (2, 2), ("out",))
    _kernels.activation(code, z, out)


def activation_derivative(kind, z, a, delta):
    """Hadamard product in place (BP2): ``delta *= f'(z)``, given ``a = f(z)``.

    For softmax, whose Jacobian is not diagonal, the Jacobian-vector product
    ``a * (delta - sum(delta * a))`` is taken row by row.

    Parameters
    ----------
    kind : str or int
        The activation (a name or code of :data:`nnc.activations.CODES`).
    z, a : ndarray of shape (m, n)
        The weighted inputs and ``f(z)``.
    delta : ndarray of shape (m, n)
        Multiplied by ``f'(z)`` in place.
    """
    code = _code(_acts, kind, "kind")
    _arrays(("z", "a", "delta"), (z, a, delta), (2, 2, 2), ("delta",))
    _kernels.activation_derivative(code, z, a, delta)


def loss_and_delta(loss, kind, z, a, y, delta):
    """Mean cost over the rows, and the output error ``delta = dC/dz`` (BP1).

    Parameters
    ----------
    loss : str or int
        The cost function (sparse categorical: pass one-hot ``y``).
    kind : str or int
        The output activation that produced ``a`` from ``z``.
    z, a, y, delta : ndarray of shape (m, n_out)
        ``delta`` receives the gradient of the *mean* cost.

    Returns
    -------
    float
    """
    loss_code = _code(_losses, loss, "loss")
    code = _code(_acts, kind, "kind")
    _arrays(("z", "a", "y", "delta"), (z, a, y, delta), (2, 2, 2, 2), ("delta",))
    return _kernels.loss_and_delta(loss_code, code, z, a, y, delta)


def sgd_step(param, grad, lr):
    """In-place gradient descent step ``param -= lr * grad`` (1-D arrays).

    Parameters
    ----------
    param : ndarray of shape (n,)
        Updated in place.
    grad : ndarray of shape (n,)
        Same dtype as ``param``.
    lr : float
        The learning rate.
    """
    _arrays(("param", "grad"), (param, grad), (1, 1), ("param",))
    _kernels.sgd_step(param, grad, float(lr))
