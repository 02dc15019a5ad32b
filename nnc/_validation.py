"""Checks at the Python boundary.

The engine runs with bounds checks off and without the GIL, so everything
it reads is validated here first: a wrong shape or value becomes a
``ValueError``/``TypeError`` naming the argument, never a crash.  Valid but
unusual layouts (lists, Fortran order, strided views, other dtypes) are
converted once, here, and never again per epoch.
"""
import math
import numbers

import numpy as np

try:
    import scipy.sparse as _sp
except ImportError:  # pragma: no cover - scipy is a dependency
    _sp = None


def is_sparse(x):
    return _sp is not None and _sp.issparse(x)


def describe(value):
    """A short description of a refused value, for error messages.

    A 0-d array is called out by name: it looks like a scalar but is not
    accepted as one (pass ``value.item()`` or a NumPy scalar instead).
    """
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return f"a 0-d array ({value.dtype}); pass a scalar such as value.item()"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def check_int(name, value, low=None, high=None):
    """An integer: Python's ``int`` or a NumPy integer scalar (not bool, not 0-d arrays)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {describe(value)}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def check_float(name, value, low=None, high=None, low_open=False, high_open=False):
    """A finite real: Python's ``int``/``float`` or a NumPy scalar (not bool, not 0-d arrays)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {describe(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value}")
    return value


def check_bool(name, value):
    """A flag: ``True``/``False``, NumPy's bools, or the integers 0 and 1.

    Anything else (a string such as ``"no"``, None, 2, a 0-d array) is
    refused rather than read by its truthiness.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {describe(value)}")


def check_bool_or_auto(name, value):
    """A flag that may also be the string ``"auto"`` (returned as is)."""
    if isinstance(value, str):
        if value == "auto":
            return value
        raise ValueError(f"{name} must be True, False or 'auto', got {value!r}")
    try:
        return check_bool(name, value)
    except TypeError:
        raise TypeError(f"{name} must be True, False or 'auto', got {describe(value)}") from None


def check_choice(name, value, choices):
    """One of the strings ``choices`` (exact match), else an error listing them."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {tuple(choices)}, got {describe(value)}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def check_sequence(name, value, what="a sequence"):
    """A list from an ordered sequence (list, tuple, 1-D array...).

    Strings, bytes, mappings, sets, 0-d arrays and non-iterables are refused
    with an error naming the argument (never "iteration over a 0-d array").
    """
    if isinstance(value, np.ndarray) and value.ndim != 1:
        raise TypeError(f"{name} must be {what}, got "
                        + (describe(value) if value.ndim == 0 else f"a {value.ndim}-D array"))
    if (isinstance(value, (str, bytes, bytearray, set, frozenset, dict))
            or not hasattr(value, "__len__") or not hasattr(value, "__iter__")):
        raise TypeError(f"{name} must be {what}, got {describe(value)}")
    return list(value)


def check_bytes(name, value):
    """Bytes-like input to a parser: ``bytes``, ``bytearray`` or a ``memoryview``."""
    if isinstance(value, (bytes, bytearray)):
        return value
    if isinstance(value, memoryview):
        return value.cast("B") if value.c_contiguous else value.tobytes()
    hint = " (open the file in binary mode, or pass a path to load_idx)" \
        if isinstance(value, str) else ""
    raise TypeError(f"{name} must be bytes, bytearray or memoryview, "
                    f"got {type(value).__name__}{hint}")


#: the hyper-parameters that must not round to 0 (or, for epsilon, below the
#: smallest normal number) in the network's dtype, and why
_ROUNDING = {
    "epsilon": "Adam/RMSprop would divide 0 by 0 and turn the loss into NaN",
    "lr": "training would not move the parameters",
}


def check_optimizer_dtype(dtype, **values):
    """Refuse hyper-parameters that the engine's ``dtype`` cannot represent.

    The update rules run in the network's dtype, so in float32 an
    ``epsilon`` below about 1.2e-38 rounds to 0 (Adam/RMSprop then divide
    0 by 0), a positive ``lr`` below it does nothing, and a decay rate such
    as ``beta2 = 1 - 1e-9`` rounds to exactly 1 (the moving averages never
    move).  Pass the already checked values by keyword; None is skipped.
    """
    dtype = np.dtype(dtype)
    tiny = np.finfo(dtype).tiny
    for name, value in values.items():
        if value is None:
            continue
        rounded = dtype.type(value)
        if name in _ROUNDING and value > 0 and rounded < (tiny if name == "epsilon" else
                                                          np.finfo(dtype).smallest_subnormal):
            raise ValueError(
                f"{name}={value!r} is too small for a {dtype.name} network: it rounds to "
                f"{float(rounded)!r}, and {_ROUNDING[name]}; use a value >= "
                f"{float(tiny):.3g} or dtype='float64'")
        if name not in _ROUNDING and value < 1 and rounded >= 1:
            raise ValueError(
                f"{name}={value!r} rounds to 1.0 in a {dtype.name} network, so its moving "
                f"average would never change; use a value <= "
                f"{float(np.nextafter(dtype.type(1), dtype.type(0))):.9g} or dtype='float64'")


def check_path(name, value, must_exist=False, parent_must_exist=False):
    """A filesystem path (str or os.PathLike), returned as a str."""
    import os
    if isinstance(value, bytes):
        value = os.fsdecode(value)
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {type(value).__name__}")
    value = os.fspath(value)
    if isinstance(value, bytes):
        value = os.fsdecode(value)
    if not value:
        raise ValueError(f"{name} must not be an empty path")
    if must_exist and not os.path.exists(value):
        raise FileNotFoundError(f"{name}: no such file {value!r}")
    if parent_must_exist:
        parent = os.path.dirname(os.path.abspath(value))
        if not os.path.isdir(parent):
            raise FileNotFoundError(f"{name}: the directory {parent!r} does not exist")
        if os.path.isdir(value):
            raise IsADirectoryError(f"{name}: {value!r} is a directory, not a file path")
    return value


def check_dtype(dtype):
    """The network dtype: float32 or float64 (anything else is refused)."""
    if isinstance(dtype, (bool, np.bool_, np.ndarray)):
        raise TypeError(f"dtype must be 'float32' or 'float64', got {describe(dtype)}")
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError):
        raise TypeError(f"dtype must be 'float32' or 'float64', got {dtype!r}") from None
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return dt


def _numeric_kind(arr, name):
    if arr.dtype.kind == "c":
        raise TypeError(f"{name} must be real-valued, got complex dtype {arr.dtype}")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")


def as_array(x, name):
    """np.asarray with a clear error for ragged or non-numeric input.

    Subclasses (np.matrix, masked arrays) become plain ndarrays.
    """
    if type(x) is np.ndarray:
        return x
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} could not be converted to an array: {exc}") from None
    return arr


def all_finite(a):
    """True when a float array holds no NaN or infinity.

    min and max propagate NaN and need no temporary array, unlike
    ``np.isfinite(a).all()``, which would allocate a boolean copy of the
    whole training set.
    """
    if a.size == 0:
        return True
    return math.isfinite(a.min()) and math.isfinite(a.max())


def _convert(arr, dtype, name, check_finite=True):
    """One C-contiguous, aligned, native-endian copy in ``dtype`` (or ``arr`` itself).

    Values too large for ``dtype`` become a ValueError, not an overflow warning;
    values too small for it round to zero (or subnormals) silently, whatever
    the caller's ``np.seterr`` says.
    """
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        out = np.require(arr, dtype=dtype, requirements=("C", "A"))
    if out is arr and not check_finite:
        return out  # the caller checks the values as it reads them (Network.fit)
    if out.dtype.kind == "f" and not all_finite(out):
        if arr.dtype.kind == "f" and all_finite(arr):
            raise ValueError(f"{name} has values too large for {np.dtype(dtype).name} "
                             f"(largest magnitude {np.abs(arr).max():.3g})")
        raise ValueError(f"{name} contains NaN or infinity")
    return out


def _check_csr_shape(X, n_features, name):
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D of shape (n_samples, {n_features}), "
                         f"got shape {X.shape}")
    if X.shape[1] != n_features:
        raise ValueError(f"{name} must have {n_features} features (columns), got {X.shape[1]}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: it needs at least one sample")


def _check_csr(X, n_features, dtype, name):
    _check_csr_shape(X, n_features, name)  # before tocsr(), which copies other formats
    X = X.tocsr() if X.format != "csr" else X
    _numeric_kind(X.data, name)
    if not X.has_sorted_indices or not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
        X.sort_indices()
    n_rows = X.shape[0]
    raw_indices, raw_indptr = np.asarray(X.indices), np.asarray(X.indptr)
    # The engine copies each row into a buffer of n_features slots, so the
    # structure is checked here even if scipy's cached flags say it is fine.
    if (raw_indptr.ndim != 1 or raw_indptr.shape[0] != n_rows + 1 or raw_indptr[0] != 0
            or raw_indptr[-1] != raw_indices.shape[0] or raw_indices.shape[0] != X.data.shape[0]):
        raise ValueError(f"{name} is a malformed CSR matrix (indptr, indices and data disagree)")
    counts = np.diff(raw_indptr)
    if counts.size and (counts.min() < 0 or counts.max() > n_features):
        raise ValueError(f"{name} is a malformed CSR matrix (a row has a negative count or "
                         f"more than {n_features} entries)")
    if raw_indices.size and (raw_indices.min() < 0 or raw_indices.max() >= n_features):
        raise ValueError(f"{name} has column indices outside [0, {n_features})")
    data = _convert(np.asarray(X.data), dtype, name)
    indices = np.require(raw_indices, dtype=np.int32, requirements=("C", "A"))
    indptr = np.require(raw_indptr, dtype=np.int64, requirements=("C", "A"))
    return "csr", (data, indices, indptr, n_features)


def check_X(X, n_features, dtype, name="X", check_finite=True):
    """Return ``("dense", array)`` or ``("csr", (data, indices, indptr, n_features))``.

    The dense array is C-contiguous with the network's dtype: the caller's
    array itself when it already is, otherwise one converted copy.  With
    ``check_finite=False`` an array used as it is is not scanned for NaN or
    infinity here: the caller must check the values as it reads them.
    """
    if is_sparse(X):
        return _check_csr(X, n_features, dtype, name)
    arr = as_array(X, name)
    _numeric_kind(arr, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D of shape (n_samples, {n_features}), "
                         f"got {arr.ndim}-D shape {arr.shape}")
    if arr.shape[1] != n_features:
        raise ValueError(f"{name} must have {n_features} features (columns), got {arr.shape[1]}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: it needs at least one sample")
    return "dense", _convert(arr, dtype, name, check_finite)


def check_dense_X(X, n_features, dtype, name="X"):
    """Like :func:`check_X`, but a sparse X becomes a dense array.

    Its shape is checked first, so that a matrix of the wrong width is
    refused before anything of its size is allocated.
    """
    if is_sparse(X):
        _check_csr_shape(X, n_features, name)
        X = X.toarray()
    return check_X(X, n_features, dtype, name)[1]


def check_model(name, value):
    """An nnc model (a Network or a Perceptron): anything with a config and params."""
    if not (callable(getattr(value, "get_config", None))
            and isinstance(getattr(value, "params", None), np.ndarray)):
        raise TypeError(f"{name} must be an nnc Network or Perceptron, got {describe(value)}")
    return value


def check_y(y, n_samples, n_out, dtype, name="y"):
    """Return ``(labels, targets)``: int64 labels of shape (n,), or targets (n, n_out).

    Integer-valued 1-D ``y`` is read as class labels in [0, n_out) when the
    network has more than one output; a 1-D ``y`` for a one-output network is
    a column of targets.
    """
    if is_sparse(y):
        raise TypeError(f"{name} must be a dense array of labels or targets, "
                        "not a sparse matrix")
    arr = as_array(y, name)
    _numeric_kind(arr, name)
    if arr.ndim == 0:
        raise ValueError(f"{name} must be 1-D labels or 2-D targets, got a scalar")
    if arr.shape[0] != n_samples:
        raise ValueError(f"{name} has {arr.shape[0]} samples but X has {n_samples}")
    if arr.ndim == 1 and n_out == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim == 1:
        if arr.dtype.kind == "f":
            if not np.isfinite(arr).all():
                raise ValueError(f"{name} contains NaN or infinity")
            if not np.all(arr == np.round(arr)):
                raise ValueError(f"{name} holds labels, which must be integers")
        # Range first, in y's own dtype, so nothing wraps or overflows in the cast.
        if arr.size and (arr.min() < 0 or arr.max() >= n_out):
            raise ValueError(f"{name} labels must lie in [0, {n_out}), "
                             f"got values in [{arr.min()}, {arr.max()}]")
        return np.require(arr, dtype=np.int64, requirements=("C", "A")), None
    if arr.ndim != 2 or arr.shape[1] != n_out:
        raise ValueError(f"{name} targets must have shape (n_samples, {n_out}), got {arr.shape}")
    return None, _convert(arr, dtype, name)


def check_sample_weight(sample_weight, n_samples, dtype, name="sample_weight"):
    """None, or a C-contiguous array of ``n_samples`` finite non-negative weights."""
    if sample_weight is None:
        return None
    if is_sparse(sample_weight):
        raise TypeError(f"{name} must be a dense 1-D array, not a sparse matrix")
    arr = as_array(sample_weight, name)
    _numeric_kind(arr, name)
    if arr.ndim != 1 or arr.shape[0] != n_samples:
        raise ValueError(f"{name} must have shape ({n_samples},), got {arr.shape}")
    arr = _convert(arr, dtype, name)
    if (arr < 0).any():
        raise ValueError(f"{name} must be non-negative, got a minimum of {arr.min()}")
    return arr


def check_state(net):
    """Refuse to run the engine on a network whose public attributes were replaced
    by ones that no longer match its parameter layout (the engine trusts them)."""
    sizes = net.sizes
    if not isinstance(sizes, (list, tuple)) or len(sizes) != len(net._w_off) + 1:
        raise ValueError("network.sizes no longer matches the parameter layout; "
                         "build a new Network instead of changing sizes")
    offset = 0
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        if (isinstance(n_in, (bool, np.bool_)) or not isinstance(n_in, numbers.Integral)
                or not isinstance(n_out, numbers.Integral) or n_in < 1 or n_out < 1
                or net._w_off[l] != offset or net._b_off[l] != offset + int(n_in) * int(n_out)):
            raise ValueError("network.sizes no longer matches the parameter layout; "
                             "build a new Network instead of changing sizes")
        offset += int(n_in) * int(n_out) + int(n_out)
    p = net.params
    if (type(p) is not np.ndarray or p.dtype != net.dtype or p.ndim != 1 or p.shape[0] != offset
            or not p.flags.c_contiguous or not p.flags.aligned or not p.flags.writeable):
        raise ValueError(f"network.params must be a writeable, C-contiguous 1-D {net.dtype} "
                         f"array of {offset} values (assign into it with params[...] = ...)")
    if not isinstance(net.activations, (list, tuple)) or len(net.activations) != len(sizes) - 1:
        raise ValueError("network.activations must hold one name per layer of weights")
