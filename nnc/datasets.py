"""Datasets: the IDX parser, the bundled MNIST digits, and one loader for
every dataset (:func:`load_dataset`: a name, an IDX directory or an ``.npz``).

MNIST (Yann LeCun, Corinna Cortes and Christopher J.C. Burges) is bundled in
``nnc/data/mnist`` as its four original IDX files (gzip-compressed), under
the Creative Commons Attribution-Share Alike 3.0 licence.
"""
from __future__ import annotations

import gzip
import math
import os
import stat
import zipfile
import zlib
from typing import TYPE_CHECKING

import numpy as np

from nnc import _files, downloads
from nnc import _validation as V
from nnc.downloads import ALIASES, NAMES, REGISTRY

if TYPE_CHECKING:
    from typing import Any

    from nnc._typing import Dataset, NDArray, PathLike

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
MNIST_DIR = os.path.join(DATA_DIR, "mnist")

# IDX type byte -> NumPy dtype (big-endian, as IDX stores it)
_IDX_TYPES: dict[int, np.dtype[Any]] = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
                                        0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
#: the largest IDX array (in bytes of data) load_idx reads; raise it for bigger sets
MAX_IDX_BYTES = 2**32


def _check_bytes(raw):
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise TypeError(f"raw must be bytes, bytearray or memoryview, got {type(raw).__name__}")
    return memoryview(raw).cast("B")


def _idx_header(read, name):
    """(dtype, shape, header length, data bytes) from an IDX header.

    ``read(n)`` returns up to ``n`` further bytes; at most 4 + 4 * 255 bytes
    are read, so an endless stream costs nothing here.
    """
    head = bytes(read(4))
    if len(head) < 4:
        raise ValueError(f"{name}: too short for an IDX header ({len(head)} bytes)")
    if head[0] != 0 or head[1] != 0:
        raise ValueError(f"{name}: bad IDX magic number {head.hex()} "
                         "(the first two bytes must be zero)")
    type_code, ndim = head[2], head[3]
    if type_code not in _IDX_TYPES:
        raise ValueError(f"{name}: unknown IDX data type 0x{type_code:02x}")
    if ndim < 1:
        raise ValueError(f"{name}: IDX file with zero dimensions")
    dims = bytes(read(4 * ndim))
    if len(dims) < 4 * ndim:
        raise ValueError(f"{name}: truncated IDX header")
    shape = tuple(int.from_bytes(dims[4 * i:4 * i + 4], "big") for i in range(ndim))
    dtype = _IDX_TYPES[type_code]
    return dtype, shape, 4 + 4 * ndim, math.prod(shape) * dtype.itemsize


def _native(arr, shape):
    """``arr`` reshaped, its big-endian values swapped to native order in place."""
    arr = arr.reshape(shape)
    if not arr.dtype.isnative:
        arr = arr.byteswap(inplace=True).view(arr.dtype.newbyteorder("="))
    return arr


def parse_idx(raw: bytes | bytearray | memoryview, name: str = "<bytes>") -> NDArray[Any]:
    """Parse the bytes of an IDX file into an array, validating the header.

    Parameters
    ----------
    raw : bytes, bytearray or memoryview
        The whole (uncompressed) file.
    name : str
        Shown in error messages.

    Returns
    -------
    ndarray
        The data in native byte order, of the header's shape and type.

    Raises
    ------
    TypeError
        ``raw`` is not bytes-like.
    ValueError
        When the magic number, data type, dimensions or size are wrong.
    """
    view = _check_bytes(raw)
    pos = [0]

    def read(n):
        chunk = view[pos[0]:pos[0] + n]
        pos[0] += len(chunk)
        return chunk

    dtype, shape, header, expected = _idx_header(read, name)
    if len(view) - header != expected:
        raise ValueError(f"{name}: IDX header says shape {shape} ({expected} bytes of data) "
                         f"but the file holds {len(view) - header}")
    data = np.frombuffer(view, dtype=dtype, offset=header).copy()
    return _native(data, shape)


def _read_idx(fh, name, st, compressed):
    """The array of the IDX stream ``fh``; every read is bounded by the
    header, the file's size and :data:`MAX_IDX_BYTES`, checked before the
    array is allocated."""
    dtype, shape, header, expected = _idx_header(fh.read, name)
    if expected > MAX_IDX_BYTES:
        raise ValueError(f"{name}: IDX header says shape {shape} ({expected} bytes of data), "
                         f"more than nnc.datasets.MAX_IDX_BYTES = {MAX_IDX_BYTES}")
    if stat.S_ISREG(st.st_mode):
        if compressed and expected > st.st_size * _files.MAX_DEFLATE_RATIO:
            raise ValueError(f"{name}: IDX header says shape {shape} ({expected} bytes of "
                             f"data), more than {st.st_size} compressed bytes can hold")
        if not compressed and st.st_size - header != expected:
            raise ValueError(f"{name}: IDX header says shape {shape} ({expected} bytes of "
                             f"data) but the file holds {st.st_size - header}")
    data = _files.read_into(fh, np.empty(math.prod(shape), dtype=dtype), f"{name}: IDX data")
    if fh.read(1):
        raise ValueError(f"{name}: the file holds more than the {expected} bytes of data "
                         f"its IDX header announces (shape {shape})")
    return _native(data, shape)


def load_idx(path: PathLike) -> NDArray[Any]:
    """Read an IDX file (optionally gzip-compressed) into a NumPy array.

    Reads are bounded: at most the header's declared size (never more than
    :data:`MAX_IDX_BYTES`, and for a regular file never more than its size,
    or 1032 times it for gzip, allows) plus one byte, so a gzip bomb or an
    endless stream (a character device or FIFO) ends in ValueError.

    Parameters
    ----------
    path : str or os.PathLike
        The IDX file; gzip compression is recognised from its first bytes.

    Returns
    -------
    ndarray
        Of the shape and type the header declares, in native byte order.

    Raises
    ------
    FileNotFoundError, IsADirectoryError, OSError
        A missing, unreadable or unsupported (directory, socket) path.
    ValueError
        When the magic number, data type, dimensions or size are wrong, or
        the gzip stream is corrupt.
    """
    path, st = _files.check_readable(V.check_path("path", path), what="IDX file", streams=True)
    try:
        with open(path, "rb") as raw:
            compressed = raw.peek(2)[:2] == b"\x1f\x8b"
            fh = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
            return _read_idx(fh, path, st, compressed)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: corrupt gzip stream: {exc or type(exc).__name__}") from None
    except OSError as exc:  # a failing disk or a vanished file: say which file
        raise _files.restate_error(exc, path, "read") from None


def load_images_labels(images_path: PathLike,
                       labels_path: PathLike) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """An IDX image file and its label file as (X float32 in [0, 1], y int64).

    Parameters
    ----------
    images_path : str or os.PathLike
        The images, an IDX file (gzip-compressed or not) of shape
        (n, rows, columns); each image becomes one row of X.
    labels_path : str or os.PathLike
        The labels, an IDX file of shape (n,).

    Returns
    -------
    X : ndarray of float32, shape (n, rows * columns)
        Pixels divided by 255 when the file holds bytes.
    y : ndarray of int64, shape (n,)

    Raises
    ------
    ValueError
        A bad file (see :func:`load_idx`), or images and labels that do not
        pair up.
    """
    images = load_idx(V.check_path("images_path", images_path))
    labels = load_idx(V.check_path("labels_path", labels_path))
    if images.ndim < 2 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"images {images.shape} and labels {labels.shape} do not match")
    X = images.reshape(images.shape[0], -1).astype(np.float32)
    if images.dtype == np.uint8:
        X /= 255.0
    return X, labels.astype(np.int64)


def load_mnist(directory: PathLike | None = None) -> Dataset:
    """The MNIST digits: ``((X_train, y_train), (X_test, y_test))``.

    X is float32 of shape (n, 784) with pixels scaled to [0, 1]; y is int64.
    The 60,000 training and 10,000 test images ship with nnc, so this works
    offline.  The tutorials split the training images into 50,000 for
    training and 10,000 for validation: ``X_train[:50000]``, ``X_train[50000:]``.

    Parameters
    ----------
    directory : str or os.PathLike, optional
        A folder holding MNIST's four ``*-ubyte.gz`` files; by default the
        copy inside nnc.

    Returns
    -------
    (X_train, y_train), (X_test, y_test) : tuples of ndarray

    Examples
    --------
    >>> from nnc.datasets import load_mnist
    >>> (X, y), (X_test, y_test) = load_mnist()
    >>> X.shape, X.dtype, y[:5].tolist(), X_test.shape
    ((60000, 784), dtype('float32'), [5, 0, 4, 1, 9], (10000, 784))
    """
    d = MNIST_DIR if directory is None else V.check_path("directory", directory)
    train = load_images_labels(os.path.join(d, "train-images-idx3-ubyte.gz"),
                               os.path.join(d, "train-labels-idx1-ubyte.gz"))
    test = load_images_labels(os.path.join(d, "t10k-images-idx3-ubyte.gz"),
                              os.path.join(d, "t10k-labels-idx1-ubyte.gz"))
    return train, test


# ---------------------------------------------------------------------------
# datasets by name or path
# ---------------------------------------------------------------------------
def _idx_file(directory, fname):
    """Find an IDX file under its usual spellings: ``.gz`` or not, and the
    ``train-images.idx3-ubyte`` form some unpackers produce."""
    stem = fname[:-3]
    dotted = stem.replace("-idx", ".idx")
    for candidate in (fname, stem, dotted, dotted + ".gz"):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"{directory!r} has no {stem} file (looked for {fname}, {stem} "
                            f"and {dotted}); an IDX dataset directory needs "
                            f"{', '.join(f[:-3] for f in downloads.FILES)} (optionally .gz)")


def load_idx_directory(directory: PathLike) -> Dataset:
    """Load a directory holding the four MNIST-style IDX files.

    Parameters
    ----------
    directory : str or os.PathLike
        Holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each
        optionally gzip-compressed (``.gz``).

    Returns
    -------
    ((X_train, y_train), (X_test, y_test))
        X float32 of shape (n, pixels) scaled to [0, 1] (for uint8 data), y int64.
    """
    directory = os.fspath(directory)
    paths = [_idx_file(directory, f) for f in downloads.FILES]
    train = load_images_labels(paths[0], paths[1])
    test = load_images_labels(paths[2], paths[3])
    if train[0].shape[1] != test[0].shape[1]:
        raise ValueError(f"{directory!r}: training images have {train[0].shape[1]} pixels, "
                         f"test images {test[0].shape[1]}")
    return train, test


_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _npz_arrays(path):
    """The four arrays of a dataset ``.npz``, each read with bounded,
    checked reads (no pickles, no zip bombs)."""
    path, st = _files.check_readable(path, what=".npz dataset")
    try:
        with zipfile.ZipFile(path) as zf:
            members = {name[:-4].lower(): name for name in zf.namelist()
                       if name.endswith(".npy")}
            missing = [key for key in _NPZ_KEYS if key not in members]
            if missing:
                found = sorted(name[:-4] for name in members.values())
                raise ValueError(f"{path!r} lacks the arrays {missing} (it has {found}); a "
                                 "dataset .npz needs X_train, y_train, X_test and y_test")
            return [_files.read_npy_member(zf, zf.getinfo(members[key]), st.st_size,
                                           f"{path!r}: {members[key][:-4]}")
                    for key in _NPZ_KEYS]
    except _files.ARCHIVE_ERRORS as exc:  # BadZipFile included
        raise ValueError(f"{path!r} is not a readable .npz file: "
                         f"{exc or type(exc).__name__}") from None
    except OSError as exc:
        raise OSError(f"{path!r} is not a readable .npz file: {exc}") from None


def load_npz(path: PathLike) -> Dataset:
    """Load a dataset from an ``.npz`` with arrays X_train, y_train, X_test, y_test.

    Keys are matched case-insensitively (Keras's ``mnist.npz`` has
    ``x_train``...).  Images of any shape (n, ...) are flattened to (n, features);
    uint8 images are scaled to [0, 1]; other X become float32.  y becomes
    int64 when it holds integer labels, else float32 targets.  Pickled
    objects are never loaded, and each array's declared size is checked
    against the archive before it is read.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    ((X_train, y_train), (X_test, y_test))
    """
    path = os.fspath(path)
    X_train, y_train, X_test, y_test = _npz_arrays(path)
    return _as_xy(X_train, y_train, path, "train"), _as_xy(X_test, y_test, path, "test")


def _as_xy(X, y, path, split):
    if X.ndim < 2 or y.ndim not in (1, 2) or X.shape[0] != y.shape[0]:
        raise ValueError(f"{path!r}: X_{split} {X.shape} and y_{split} {y.shape} do not match")
    if X.dtype.kind not in "uif" or y.dtype.kind not in "uifb":
        raise ValueError(f"{path!r}: X_{split} and y_{split} must be numeric")
    scale = X.dtype == np.uint8
    X = X.reshape(X.shape[0], -1).astype(np.float32)
    if scale:
        X /= 255.0
    if y.ndim == 1:
        if y.dtype.kind == "f" and not np.all(y == np.round(y)):
            raise ValueError(f"{path!r}: y_{split} has fractional values; class labels "
                             "must be integers")
        y = y.astype(np.int64)
    else:
        y = y.astype(np.float32)
    return X, y


def _load_registered(key, cache_dir, download, base_url, progress):
    """A downloadable dataset from the cache, downloading it first if allowed."""
    if download:
        directory = downloads.download(key, cache_dir, base_url=base_url, progress=progress)
    else:
        directory = os.path.join(downloads.cache_dir(cache_dir), key)
        if not downloads.is_cached(key, cache_dir):
            raise FileNotFoundError(f"{REGISTRY[key].title} is not in the cache "
                                    f"{directory}; download it first")
    return load_idx_directory(directory)


def load_dataset(name_or_path: PathLike, cache_dir: PathLike | None = None, *, download: bool = True,
                 base_url: str | None = None, progress: bool = False) -> Dataset:
    """Load a dataset by name or path: ``((X_train, y_train), (X_test, y_test))``.

    Parameters
    ----------
    name_or_path : str or os.PathLike
        ``"mnist"`` (bundled with nnc), ``"fashion-mnist"`` or ``"kmnist"``
        (downloaded into the cache on first use, see :mod:`nnc.downloads`),
        a directory holding the four IDX files under their standard names,
        or an ``.npz`` file with ``X_train``, ``y_train``, ``X_test`` and
        ``y_test``.
    cache_dir : str or os.PathLike, optional
        Cache root for downloads (see :func:`nnc.downloads.cache_dir`).
    download : bool
        When False, a dataset missing from the cache raises FileNotFoundError
        instead of being downloaded.
    base_url : str, optional
        A mirror to download from (see :func:`nnc.downloads.download`).
    progress : bool
        Report downloads on stderr.

    Returns
    -------
    ((X_train, y_train), (X_test, y_test))
        X float32 of shape (n, features), pixels in [0, 1]; y int64 labels
        (or float32 targets from an ``.npz``).

    Raises
    ------
    ValueError
        An unknown name or a malformed file.
    FileNotFoundError
        A path that does not exist.
    DownloadError, ChecksumError
        See :func:`nnc.downloads.download`.
    """
    download, progress = V.check_bool("download", download), V.check_bool("progress", progress)
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError("dataset must be a name or a path, got "
                        f"{type(name_or_path).__name__}")
    text = os.fspath(name_or_path)
    key = ALIASES.get(text.strip().lower(), text.strip().lower())
    if key == "mnist" and not os.path.exists(text):
        return load_mnist()
    if key in REGISTRY and not os.path.exists(text):
        return _load_registered(key, cache_dir, download, base_url, progress)
    path = os.path.expanduser(text)
    if os.path.isdir(path):
        return load_idx_directory(path)
    if os.path.isfile(path):
        if path.lower().endswith(".npz"):
            return load_npz(path)
        raise ValueError(f"dataset {text!r} is a file but not an .npz; pass an .npz with "
                         "X_train/y_train/X_test/y_test or a directory of IDX files")
    if os.sep in text or "." in os.path.basename(text) or (os.altsep and os.altsep in text):
        raise FileNotFoundError(f"dataset path {text!r} does not exist")
    raise ValueError(f"unknown dataset {text!r}; expected one of {', '.join(NAMES)}, a "
                     "directory of IDX files or an .npz file")
