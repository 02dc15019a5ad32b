"""Flat buffers the engine reads and writes, aligned to a cache line.

NumPy aligns large arrays to 16 bytes only.  The engine's sparse kernels
read and write whole rows of W^1, of its gradient, of its packed copy and of
delta's panels with 64-byte vector loads and stores; when a row's length is a
multiple of a cache line, a 64-byte aligned buffer keeps every such access
inside one line.  Used for the parameters, gradients and optimizer state and
for the engine's own workspace (measured: 784-64-10 float32 with batches of
10 15-20% faster, 784-32-10 9%; the wide 784-256-10 epoch 13% faster once
the packed copy of W^1 was aligned too).
"""
import numpy as np

#: bytes: one cache line, one AVX-512 vector
ALIGNMENT = 64


def zeros(n: int, dtype) -> np.ndarray:
    """A zeroed 1-D array of ``n`` items whose data starts on a cache line.

    Parameters
    ----------
    n : int
        Number of items.
    dtype : data-type
        Item type.

    Returns
    -------
    ndarray
        A view of a slightly larger zeroed array (its ``base``).
    """
    dtype = np.dtype(dtype)
    raw = np.zeros(n + ALIGNMENT // dtype.itemsize, dtype=dtype)
    skip = (-raw.ctypes.data % ALIGNMENT) // dtype.itemsize
    return raw[skip:skip + n]


def zeros_like(a: np.ndarray) -> np.ndarray:
    """:func:`zeros` with the size and dtype of the 1-D array ``a``."""
    return zeros(a.size, a.dtype)
