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


def check_int(name, value, low=None, high=None):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def check_float(name, value, low=None, high=None, low_open=False, high_open=False):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value}")
    return value


def check_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError:
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
    """np.asarray with a clear error for ragged or non-numeric input."""
    if isinstance(x, np.ndarray):
        return x
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} could not be converted to an array: {exc}") from None
    return arr


def check_X(X, n_features, dtype, name="X"):
    """Return ``("dense", array)`` or ``("csr", (data, indices, indptr, n_features))``.

    The dense array is C-contiguous with the network's dtype: the caller's
    array itself when it already is, otherwise one converted copy.
    """
    if is_sparse(X):
        X = X.tocsr() if X.format != "csr" else X
        if X.ndim != 2 or X.shape[1] != n_features:
            raise ValueError(f"{name} must have {n_features} features (columns), got shape {X.shape}")
        if X.shape[0] == 0:
            raise ValueError(f"{name} is empty: it needs at least one sample")
        _numeric_kind(X.data, name)
        if not X.has_sorted_indices or not X.has_canonical_format:
            X = X.copy()
            X.sum_duplicates()
            X.sort_indices()
        data = np.ascontiguousarray(X.data, dtype=dtype)
        if not np.isfinite(data).all():
            raise ValueError(f"{name} contains NaN or infinity")
        indices = np.ascontiguousarray(X.indices, dtype=np.int32)
        indptr = np.ascontiguousarray(X.indptr, dtype=np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= n_features):
            raise ValueError(f"{name} has column indices outside [0, {n_features})")
        return "csr", (data, indices, indptr, n_features)
    arr = as_array(X, name)
    _numeric_kind(arr, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D of shape (n_samples, {n_features}), "
                         f"got {arr.ndim}-D shape {arr.shape}")
    if arr.shape[1] != n_features:
        raise ValueError(f"{name} must have {n_features} features (columns), got {arr.shape[1]}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: it needs at least one sample")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return "dense", arr


def check_y(y, n_samples, n_out, dtype, name="y"):
    """Return ``(labels, targets)``: int64 labels of shape (n,), or targets (n, n_out).

    Integer-valued 1-D ``y`` is read as class labels in [0, n_out) when the
    network has more than one output; a 1-D ``y`` for a one-output network is
    a column of targets.
    """
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
        labels = np.ascontiguousarray(arr, dtype=np.int64)
        if labels.size and (labels.min() < 0 or labels.max() >= n_out):
            raise ValueError(f"{name} labels must lie in [0, {n_out}), "
                             f"got values in [{labels.min()}, {labels.max()}]")
        return labels, None
    if arr.ndim != 2 or arr.shape[1] != n_out:
        raise ValueError(f"{name} targets must have shape (n_samples, {n_out}), got {arr.shape}")
    targets = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(targets).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return None, targets


def check_sample_weight(sample_weight, n_samples, dtype, name="sample_weight"):
    if sample_weight is None:
        return None
    arr = as_array(sample_weight, name)
    _numeric_kind(arr, name)
    if arr.ndim != 1 or arr.shape[0] != n_samples:
        raise ValueError(f"{name} must have shape ({n_samples},), got {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise ValueError(f"{name} must be finite and non-negative")
    return arr
