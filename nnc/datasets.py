"""Datasets: the IDX parser and the bundled MNIST digits.

MNIST (Yann LeCun, Corinna Cortes and Christopher J.C. Burges) is bundled in
``nnc/data/mnist`` as its four original IDX files (gzip-compressed), under
the Creative Commons Attribution-Share Alike 3.0 licence.
"""
import gzip
import os
import zlib

import numpy as np

from nnc import _validation as V

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
MNIST_DIR = os.path.join(DATA_DIR, "mnist")

# IDX type byte -> NumPy dtype (big-endian, as IDX stores it)
_IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _read_bytes(path):
    with open(path, "rb") as fh:
        head = fh.read(2)
        fh.seek(0)
        if head == b"\x1f\x8b":
            try:
                return gzip.decompress(fh.read())
            except (OSError, EOFError, zlib.error) as exc:
                raise ValueError(f"{path}: corrupt gzip stream: {exc}") from None
        return fh.read()


def parse_idx(raw, name="<bytes>"):
    """Parse the bytes of an IDX file into an array, validating the header."""
    raw = V.check_bytes("raw", raw)
    if len(raw) < 4:
        raise ValueError(f"{name}: too short for an IDX header ({len(raw)} bytes)")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{name}: bad IDX magic number {raw[:4].hex()} "
                         "(the first two bytes must be zero)")
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_TYPES:
        raise ValueError(f"{name}: unknown IDX data type 0x{type_code:02x}")
    if ndim < 1:
        raise ValueError(f"{name}: IDX file with zero dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{name}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_TYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"{name}: IDX header says shape {shape} ({expected} bytes of data) "
                         f"but the file holds {len(raw) - header}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(
        dtype.newbyteorder("="))


def load_idx(path):
    """Read an IDX file (optionally gzip-compressed) into a NumPy array.

    Raises
    ------
    ValueError
        When the magic number, data type, dimensions or size are wrong.
    """
    path = V.check_path("path", path)
    return parse_idx(_read_bytes(path), name=path)


def load_images_labels(images_path, labels_path):
    """An IDX image file and its label file as (X float32 in [0, 1], y int64)."""
    images = load_idx(V.check_path("images_path", images_path))
    labels = load_idx(V.check_path("labels_path", labels_path))
    if images.ndim < 2 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"images {images.shape} and labels {labels.shape} do not match")
    X = images.reshape(images.shape[0], -1).astype(np.float32)
    if images.dtype == np.uint8:
        X /= 255.0
    return X, labels.astype(np.int64)


def load_mnist(directory=None):
    """The MNIST digits: ``((X_train, y_train), (X_test, y_test))``.

    X is float32 of shape (n, 784) with pixels scaled to [0, 1]; y is int64.
    The 60,000 training and 10,000 test images ship with nnc, so this works
    offline.  The tutorials split the training images into 50,000 for
    training and 10,000 for validation: ``X_train[:50000]``, ``X_train[50000:]``.
    """
    d = MNIST_DIR if directory is None else V.check_path("directory", directory)
    train = load_images_labels(os.path.join(d, "train-images-idx3-ubyte.gz"),
                               os.path.join(d, "train-labels-idx1-ubyte.gz"))
    test = load_images_labels(os.path.join(d, "t10k-images-idx3-ubyte.gz"),
                              os.path.join(d, "t10k-labels-idx1-ubyte.gz"))
    return train, test


def load_dataset(name_or_path, cache_dir=None, **kwargs):
    """A dataset by name or path: ``((X_train, y_train), (X_test, y_test))``.

    ``"mnist"`` (bundled), ``"fashion-mnist"`` and ``"kmnist"`` (downloaded
    once into a cache directory, verified by SHA-256), a directory of the four
    IDX files, or an ``.npz`` with X_train/y_train/X_test/y_test.  See
    :func:`nnc.downloads.load_dataset`.
    """
    from nnc.downloads import load_dataset as _load
    return _load(name_or_path, cache_dir, **kwargs)
