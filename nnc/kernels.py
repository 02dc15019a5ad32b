"""nnc's compute kernels, callable from Python over NumPy arrays.

Each function takes float32 or float64 arrays (all of one dtype) and writes
its result in place into its output argument.  They are the same C cores the
training engine runs, which run without bounds checks; so every argument is
checked here first, and a bad one raises ``TypeError``/``ValueError`` naming
it:

- type (a NumPy array, not a masked array), dtype (float32/float64, native
  byte order, the same for all), number of dimensions and shape;
- layout: C-contiguous and aligned;
- the output: writeable, and not overlapping any input in memory.  An output
  that overlaps an input (the same array, or two views of one buffer that
  share any element) raises ``ValueError`` naming both, because the cores
  read the inputs while they write the output.  The one exception is
  :func:`activation`, an elementwise map, whose ``out`` may *be* ``z`` (the
  same memory, computed in place); a partial overlap is refused there too.
  Inputs may overlap one another freely: they are only read.

The kernels:

- :func:`matvec` -- ``out = W x + b`` for one sample
- :func:`batch_forward` -- ``out = X W^T + b`` for a mini-batch
- :func:`backprop_delta` -- ``out = delta W`` (W^T delta for each row)
- :func:`weight_gradient` -- ``out = delta^T A (+ beta out)``
- :func:`activation` / :func:`activation_derivative` -- f(z), and ``delta *= f'(z)``
- :func:`loss_and_delta` -- mean cost and output error of a batch
- :func:`sgd_step` -- ``param -= lr * grad``

and the switch :func:`set_flush_denormal` (subnormal floats flushed to zero
while the training engine runs; on by default).

Activation and loss codes are in ``nnc.activations.CODES`` and
``nnc.losses.CODES``; names are accepted too.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from nnc import _engine, _kernels
from nnc import _validation as V
from nnc import activations as _acts
from nnc import losses as _losses

if TYPE_CHECKING:
    from typing import Any

    from nnc._typing import FloatArray, NDArray

__all__ = ["activation", "activation_derivative", "backprop_delta", "batch_forward",
           "loss_and_delta", "matvec", "set_flush_denormal", "sgd_step", "weight_gradient"]


def set_flush_denormal(enabled: bool) -> bool:
    """Set whether the training engine flushes subnormal floats to zero.

    A float below the smallest normal one (about 1.2e-38 in float32,
    2.2e-308 in float64) is *subnormal*, and arithmetic that reads or writes
    one takes a slow path on most CPUs, up to a hundred times longer.  Such
    values turn up late in training (the derivative of a saturated sigmoid,
    the tiny probabilities of a softmax): without flushing, epochs 10 to 20
    of the tutorial network (784-30-10, float32) take up to twice as long
    as its first.  With flushing on (the default, as in XLA and TensorFlow),
    a result that would be subnormal is zero and a subnormal input reads as
    zero, so the answers differ from strict IEEE arithmetic only where a
    value is within 2**-126 (float32) or 2**-1022 (float64) of zero.

    The setting applies to every call into the engine made after it
    (:meth:`nnc.Network.fit`, ``evaluate``, ``predict``, ``forward``, the
    L-BFGS solver); the CPU's mode is set for the call's threads and put
    back when it returns, so NumPy and other code are not affected.  The
    kernels of :mod:`nnc.kernels` (``matvec``, ``batch_forward``, ...) keep
    strict IEEE arithmetic.

    Parameters
    ----------
    enabled : bool
        True to flush subnormals to zero, False for strict IEEE arithmetic.

    Returns
    -------
    bool
        The previous setting.

    Examples
    --------
    >>> import nnc
    >>> previous = nnc.set_flush_denormal(False)   # strict IEEE subnormals
    >>> nnc.set_flush_denormal(previous)
    False
    """
    if not isinstance(enabled, (bool, np.bool_)):
        raise TypeError(f"enabled must be True or False, got {V.describe(enabled)}")
    return _engine.set_flush_denormal(bool(enabled))


def _check_array(name, arr, dtype):
    """One argument's type, dtype and layout (not its shape)."""
    if not isinstance(arr, np.ndarray) or isinstance(arr, np.ma.MaskedArray):
        raise TypeError(f"{name} must be a NumPy array, got {V.describe(arr)}")
    if arr.dtype.char not in "fd" or not arr.dtype.isnative:
        raise TypeError(f"{name} must be float32 or float64 (native byte order), "
                        f"got {arr.dtype}")
    if dtype is not None and arr.dtype != dtype:
        raise TypeError(f"{name} has dtype {arr.dtype}, expected {dtype} like the first array")
    if not arr.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (use np.ascontiguousarray)")
    if not arr.flags.aligned:
        raise ValueError(f"{name} must be aligned to its item size (use np.require(..., "
                         "requirements='A'))")


def _check_shapes(spec):
    """Match every array's shape against symbolic dimensions.

    ``spec`` is a list of ``(name, array, dims)``, dims a tuple of symbols
    such as ``("m", "n_in")``; the first array that names a symbol fixes it.
    """
    sizes: dict[str, int] = {}
    origin: dict[str, str] = {}
    for name, arr, dims in spec:
        if arr.ndim != len(dims):
            raise ValueError(f"{name} must be {len(dims)}-D of shape ({', '.join(dims)}), "
                             f"got shape {arr.shape}")
        for dim, n in zip(dims, arr.shape, strict=True):
            if sizes.setdefault(dim, n) != n:
                expected = tuple(sizes.get(d, "?") for d in dims)
                raise ValueError(f"{name} must have shape ({', '.join(dims)}) = {expected} "
                                 f"to match {origin[dim]}, got {arr.shape}")
            origin.setdefault(dim, name)


def _start(arr):
    return arr.__array_interface__["data"][0]


def overlaps(a: NDArray[Any], b: NDArray[Any]) -> bool:
    """Whether two C-contiguous arrays share any byte of memory.

    The elements of a contiguous array fill one interval of memory, so two
    of them share memory if and only if their intervals intersect: NumPy's
    bounds test (``np.may_share_memory``) is exact here, and cheaper than
    ``np.shares_memory``'s general solver.
    """
    return a.nbytes > 0 and b.nbytes > 0 and bool(np.may_share_memory(a, b))


def _check_aliasing(spec, outputs, in_place=()):
    """Refuse an output that overlaps any other argument.

    ``in_place`` lists ``(output, input)`` pairs that may be the very same
    memory (same start, same shape): elementwise kernels compute those in
    place correctly.
    """
    arrays = {name: arr for name, arr, _ in spec}
    for out in outputs:
        for name, arr in arrays.items():
            if name == out or not overlaps(arrays[out], arr):
                continue
            same = _start(arrays[out]) == _start(arr) and arrays[out].shape == arr.shape
            if same and (out, name) in in_place:
                continue
            how = "is the same memory as" if same else "overlaps"
            raise ValueError(f"{out} {how} {name}: the output must not share memory with "
                             "an input (pass a separate output array)")


def _check(spec, outputs, in_place=()):
    """Types, layout, shapes, writeability and aliasing of a kernel's arrays."""
    dtype = None
    for name, arr, _ in spec:
        _check_array(name, arr, dtype)
        dtype = arr.dtype if dtype is None else dtype
    _check_shapes(spec)
    for name, arr, _ in spec:
        if name in outputs and not arr.flags.writeable:
            raise ValueError(f"{name} must be writeable (it receives the result)")
    _check_aliasing(spec, outputs, in_place)


def _code(table, value, argname):
    if isinstance(value, str):
        return table.CODES[table.canonical(value)] if table is _losses else \
            table.CODES[table.canonical(value, argname)]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{argname} must be a name or an integer code, got {V.describe(value)}")
    top = max(table.CODES.values())
    if not 0 <= value <= top:
        raise ValueError(f"{argname} must be a code in [0, {top}], got {value}")
    return int(value)


def matvec(w: FloatArray, x: FloatArray, b: FloatArray, out: FloatArray) -> None:
    """One sample's weighted input: ``out = w @ x + b`` (z = W a + b).

    Parameters
    ----------
    w : ndarray of shape (n_out, n_in)
    x : ndarray of shape (n_in,)
    b : ndarray of shape (n_out,)
    out : ndarray of shape (n_out,), written in place
        Must not overlap ``w``, ``x`` or ``b`` in memory (``ValueError``).
    """
    _check([("w", w, ("n_out", "n_in")), ("x", x, ("n_in",)), ("b", b, ("n_out",)),
            ("out", out, ("n_out",))], ("out",))
    _kernels.matvec(w, x, b, out)


def batch_forward(x: FloatArray, w: FloatArray, b: FloatArray, out: FloatArray) -> None:
    """A mini-batch's weighted inputs: ``out = x @ w.T + b``.

    Parameters
    ----------
    x : ndarray of shape (m, n_in)
    w : ndarray of shape (n_out, n_in)
    b : ndarray of shape (n_out,)
    out : ndarray of shape (m, n_out), written in place
        Must not overlap ``x``, ``w`` or ``b`` in memory (``ValueError``).
    """
    _check([("x", x, ("m", "n_in")), ("w", w, ("n_out", "n_in")), ("b", b, ("n_out",)),
            ("out", out, ("m", "n_out"))], ("out",))
    _kernels.batch_forward(x, w, b, out)


def backprop_delta(delta: FloatArray, w: FloatArray, out: FloatArray) -> None:
    """Propagate errors one layer back: ``out = delta @ w`` (W^T delta per row).

    Parameters
    ----------
    delta : ndarray of shape (m, n_out)
    w : ndarray of shape (n_out, n_in)
    out : ndarray of shape (m, n_in), written in place
        Must not overlap ``delta`` or ``w`` in memory (``ValueError``).
    """
    _check([("delta", delta, ("m", "n_out")), ("w", w, ("n_out", "n_in")),
            ("out", out, ("m", "n_in"))], ("out",))
    _kernels.backprop_delta(delta, w, out)


def weight_gradient(delta: FloatArray, a_prev: FloatArray, out: FloatArray, beta: float = 0.0) -> None:
    """Weight gradient (BP4): ``out = delta.T @ a_prev + beta * out``.

    Parameters
    ----------
    delta : ndarray of shape (m, n_out)
    a_prev : ndarray of shape (m, n_in)
    out : ndarray of shape (n_out, n_in), written in place
        Must not overlap ``delta`` or ``a_prev`` in memory (``ValueError``).
    beta : float
        0 overwrites ``out``; 1 accumulates into it.
    """
    beta = V.check_float("beta", beta)
    _check([("delta", delta, ("m", "n_out")), ("a_prev", a_prev, ("m", "n_in")),
            ("out", out, ("n_out", "n_in"))], ("out",))
    _kernels.weight_gradient(delta, a_prev, out, beta)


def activation(kind: str | int, z: FloatArray, out: FloatArray) -> None:
    """``out = f(z)`` for the activation ``kind`` (a name or code).

    Parameters
    ----------
    kind : str or int
    z : ndarray of shape (m, n); softmax works row by row
    out : ndarray of shape (m, n), written in place
        May be ``z`` itself (the activation is computed in place); any other
        overlap with ``z`` raises ``ValueError``.
    """
    code = _code(_acts, kind, "kind")
    _check([("z", z, ("m", "n")), ("out", out, ("m", "n"))], ("out",),
           in_place=(("out", "z"),))
    _kernels.activation(code, z, out)


def activation_derivative(kind: str | int, z: FloatArray, a: FloatArray, delta: FloatArray) -> None:
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
        Multiplied by ``f'(z)`` in place; must not overlap ``z`` or ``a`` in
        memory (``ValueError``).
    """
    code = _code(_acts, kind, "kind")
    _check([("z", z, ("m", "n")), ("a", a, ("m", "n")), ("delta", delta, ("m", "n"))],
           ("delta",))
    _kernels.activation_derivative(code, z, a, delta)


def loss_and_delta(loss: str | int, kind: str | int, z: FloatArray, a: FloatArray, y: FloatArray,
                   delta: FloatArray) -> float:
    """Mean cost over the rows, and the output error ``delta = dC/dz`` (BP1).

    Parameters
    ----------
    loss : str or int
        The cost function (sparse categorical: pass one-hot ``y``).
    kind : str or int
        The output activation that produced ``a`` from ``z``.
    z, a, y : ndarray of shape (m, n_out)
    delta : ndarray of shape (m, n_out), written in place
        Receives the gradient of the *mean* cost.  Must not overlap ``z``,
        ``a`` or ``y`` in memory (``ValueError``).

    Returns
    -------
    float
    """
    loss_code = _code(_losses, loss, "loss")
    code = _code(_acts, kind, "kind")
    _check([("z", z, ("m", "n_out")), ("a", a, ("m", "n_out")), ("y", y, ("m", "n_out")),
            ("delta", delta, ("m", "n_out"))], ("delta",))
    return _kernels.loss_and_delta(loss_code, code, z, a, y, delta)


def sgd_step(param: FloatArray, grad: FloatArray, lr: float) -> None:
    """In-place gradient descent step ``param -= lr * grad``.

    Parameters
    ----------
    param : ndarray of shape (n,)
        Updated in place; must not overlap ``grad`` in memory (``ValueError``).
    grad : ndarray of shape (n,)
        Same dtype as ``param``.
    lr : float
        The learning rate.
    """
    lr = V.check_float("lr", lr)
    _check([("param", param, ("n",)), ("grad", grad, ("n",))], ("param",))
    _kernels.sgd_step(param, grad, lr)
