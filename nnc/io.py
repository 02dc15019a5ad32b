"""Saving and loading networks as ``.npz`` files, without pickle.

A model file holds two arrays: ``params``, the flat parameter buffer, and
``config``, a JSON document (as a 0-d unicode array) with everything needed
to rebuild the network plus metadata: nnc's version, the training history
and a user ``metadata`` dict.  ``nnc info`` reads ``config`` alone.

Loading never trusts the file: the archive and each array header are read
and checked (dtype, shape, size) before any data is, object arrays are
refused without being unpickled, and the configuration is validated field by
field, so a truncated, garbage or tampered file raises ``OSError`` or
``ValueError`` naming the problem.
"""
from __future__ import annotations

import json
import numbers
import zipfile
from typing import TYPE_CHECKING

import numpy as np

from nnc import _files
from nnc import _validation as V
from nnc._version import __version__

if TYPE_CHECKING:
    from typing import Any

    from nnc._typing import ModelLike, PathLike

FORMAT = "nnc-model"
FORMAT_VERSION = 1
#: the largest ``config`` member read (the JSON holds the history, not weights)
MAX_CONFIG_BYTES = 64 * 2**20
#: model kind -> class, filled by nnc.model.Model's subclasses as they are defined
_MODELS: dict[str, Any] = {}


def register(kind: str, cls: type) -> None:
    """Let :func:`load` rebuild files of model ``kind`` with ``cls``.

    Called by :class:`nnc.model.Model` for each subclass that names a kind;
    ``cls._from_file_config(section)`` must rebuild a model from the file's
    ``network`` section.

    Parameters
    ----------
    kind : str
        The ``kind`` field that files of this model carry (``"network"``,
        ``"perceptron"``).
    cls : type
        The :class:`nnc.model.Model` subclass that reads them.

    Raises
    ------
    TypeError
        If ``kind`` is not a non-empty string.
    """
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"kind must be a non-empty string, got {kind!r}")
    _MODELS[kind] = cls


def save(network: ModelLike, path: PathLike, metadata: dict[str, Any] | None = None) -> None:
    """Write ``network`` to ``path`` atomically (a temporary file, then a rename).

    An interrupted save never destroys a previous file at ``path``: the data
    goes to a temporary file in the same directory, is flushed to disk, and
    only then replaces ``path``.  ``path`` must be absent (in an existing
    directory) or a regular file; a directory, device, FIFO or socket is
    refused and left as it is.  A symbolic link is followed: the file it
    points to is replaced and the link kept; a dangling link is refused.

    Parameters
    ----------
    network : nnc.Network or nnc.Perceptron
        Any registered :class:`nnc.model.Model`.
    path : str or os.PathLike
        The file to write, under exactly this name (``.npz`` is customary).
    metadata : dict, optional
        JSON-serialisable values stored with the model.

    Raises
    ------
    FileNotFoundError, IsADirectoryError, PermissionError, OSError
        An unusable target (see :func:`nnc._files.check_writable`) or a
        failed write; every message names ``path``.
    TypeError
        Metadata that is not a dict of JSON-serialisable values.
    """
    if not isinstance(network, tuple(_MODELS.values())):
        raise TypeError(f"network must be an nnc model (one of {sorted(_MODELS)}), "
                        f"got {type(network).__name__}")
    path = V.check_path("path", path)
    _files.check_writable(path)  # before any work: refuse devices, FIFOs, missing folders
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError("metadata must be a dict of JSON-serialisable values")
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "nnc_version": __version__,
        "kind": network.kind,
        "network": network._file_config(),
        "n_params": int(network.params.size),
        "history": network.history,
        "metadata": metadata or {},
    }
    try:
        text = json.dumps(config, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"metadata must be JSON-serialisable: {exc}") from None
    with _files.atomic_write(path) as fh:
        np.savez(fh, params=network.params, config=np.array(text))


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------
def _open_archive(path):
    """(path, ZipFile, archive size) of a model file, refusing anything but a
    regular file before opening it (a FIFO would block, a device never ends)."""
    path, st = _files.check_readable(path, what="model file")
    try:
        return path, zipfile.ZipFile(path), st.st_size
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{path!r} is not an nnc model file: not a readable .npz archive "
                         f"(truncated or corrupt?): {exc}") from None
    except (EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
        raise ValueError(f"{path!r} is a corrupt .npz archive: {exc}") from None
    except OSError as exc:
        raise OSError(f"cannot read model file {path!r}: {exc}") from None


def _read_array(archive, name, check_header):
    """Read member ``name`` of the model archive after checking its header.

    ``archive`` is ``(path, zipfile, size)``.  ``check_header(shape, dtype)``
    raises ValueError for an unexpected array; it runs before any data is
    read, and the declared size is checked against the archive before the
    array is allocated, so a header announcing a huge array costs nothing.
    """
    path, zf, size = archive
    try:
        info = zf.getinfo(name + ".npy")
    except KeyError:
        raise ValueError(f"{path!r} is not an nnc model file: it has no {name!r} array") from None
    try:
        return _files.read_npy_member(zf, info, size, f"{path!r}: the {name!r} array",
                                      check_header)
    except _files.ARCHIVE_ERRORS as exc:
        raise ValueError(f"{path!r} is corrupt: cannot read the {name!r} array: "
                         f"{exc or type(exc).__name__}") from None
    except OSError as exc:
        raise OSError(f"cannot read model file {path!r}: {exc}") from None


def _read_config(archive):
    path = archive[0]

    def check(shape, dtype):
        if dtype.kind != "U" or shape != ():
            raise ValueError(f"{path!r}: 'config' must be a JSON string (a 0-d unicode "
                             f"array), got dtype {dtype} and shape {shape}")
        if dtype.itemsize > MAX_CONFIG_BYTES:
            raise ValueError(f"{path!r}: 'config' is implausibly large "
                             f"({dtype.itemsize} bytes)")

    raw = _read_array(archive, "config", check)
    try:
        config = json.loads(str(raw[()]))
    except ValueError as exc:  # JSONDecodeError, or an integer too long to convert
        raise ValueError(f"{path!r}: 'config' is not valid JSON: {exc}") from None
    except RecursionError:
        raise ValueError(f"{path!r}: 'config' is nested too deeply") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"{path!r} is not an nnc model file (its config has no "
                         f"format {FORMAT!r})")
    version = config.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise ValueError(f"{path!r} has model format version {version!r}; this nnc reads "
                         f"version {FORMAT_VERSION}")
    for key, kind in (("network", dict), ("history", (dict, type(None))),
                      ("metadata", dict), ("kind", str), ("n_params", int)):
        if key in config and not isinstance(config[key], kind):
            raise ValueError(f"{path!r}: the {key!r} section of the model's configuration "
                             f"has the wrong type ({type(config[key]).__name__})")
    return config


def read_config(path: PathLike) -> dict[str, Any]:
    """The JSON configuration of a model file, without reading its weights.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    dict
        With ``format``, ``format_version``, ``nnc_version``, ``network``
        (the constructor arguments), ``history`` and ``metadata``.

    Raises
    ------
    FileNotFoundError, OSError
        Missing or unreadable file.
    ValueError
        Not an nnc model file, or a damaged one.
    """
    archive = _open_archive(path)
    with archive[1]:
        return _read_config(archive)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_network_config(net_cfg, path):
    """Types and ranges of the ``network`` section; returns the parameter count."""
    def bad(what):
        return ValueError(f"{path!r}: invalid network configuration: {what}")

    if not isinstance(net_cfg, dict):
        raise bad("the 'network' section is missing or not an object")
    sizes = net_cfg.get("sizes")
    if (not isinstance(sizes, list) or len(sizes) < 2
            or not all(_is_int(s) and 1 <= s < 2**31 for s in sizes)):
        raise bad(f"'sizes' must be a list of at least two integers >= 1, got {sizes!r}")
    for key in ("loss", "dtype", "init"):
        if key in net_cfg and not isinstance(net_cfg[key], str):
            raise bad(f"{key!r} must be a string, got {net_cfg[key]!r}")
    act = net_cfg.get("activation", "sigmoid")
    if not (isinstance(act, str) or (isinstance(act, list)
                                     and all(isinstance(a, str) for a in act))):
        raise bad(f"'activation' must be a name or a list of names, got {act!r}")
    dropout = net_cfg.get("dropout", [0.0] * (len(sizes) - 1))
    if (not isinstance(dropout, list) or len(dropout) != len(sizes) - 1
            or not all(isinstance(r, numbers.Real) and not isinstance(r, bool)
                       for r in dropout)):
        raise bad(f"'dropout' must be a list of {len(sizes) - 1} rates, got {dropout!r}")
    seed = net_cfg.get("seed")
    if seed is not None and not (_is_int(seed) and seed >= 0):
        raise bad(f"'seed' must be null or an integer >= 0, got {seed!r}")
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def _check_history(history, path):
    if history is None:
        return {}
    if not isinstance(history, dict):
        raise ValueError(f"{path!r}: 'history' must be an object of lists of numbers")
    for key, values in history.items():
        if not isinstance(values, list) or not all(
                isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
            raise ValueError(f"{path!r}: history[{key!r}] must be a list of numbers")
    return history


def load(path: PathLike) -> Any:
    """Rebuild a network saved by :meth:`Network.save`.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    nnc.Network
        (or the saved subclass, such as :class:`nnc.Perceptron`).

    Raises
    ------
    FileNotFoundError, OSError
        Missing or unreadable file.
    ValueError
        A file that is not an nnc model (truncated, garbage), or whose
        contents are inconsistent (shapes, dtypes, version, configuration);
        pickled objects are never loaded.
    """
    archive = _open_archive(path)
    path = archive[0]
    with archive[1]:
        config = _read_config(archive)
        net_cfg = config.get("network")
        n_params = _check_network_config(net_cfg, path)
        kind = config.get("kind", "network")
        if not isinstance(kind, str) or kind not in _MODELS:
            raise ValueError(f"{path!r}: unknown model kind {kind!r}; expected one of "
                             f"{sorted(_MODELS)}")
        history = _check_history(config.get("history"), path)
        metadata = config.get("metadata", {})
        if not isinstance(metadata, dict):
            raise ValueError(f"{path!r}: 'metadata' must be an object")
        dtype_name = net_cfg.get("dtype", "float32")
        if dtype_name not in ("float32", "float64"):
            raise ValueError(f"{path!r}: invalid network configuration: 'dtype' must be "
                             f"'float32' or 'float64', got {dtype_name!r}")
        params = _read_params(archive, dtype_name, n_params, net_cfg["sizes"])
    try:
        net = _MODELS[kind]._from_file_config(net_cfg)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path!r}: invalid network configuration: {exc}") from None
    if net.params.shape != params.shape:
        raise ValueError(f"{path!r}: 'params' have shape {params.shape}, the network "
                         f"needs {net.params.shape}")
    try:
        net.params = params
    except ValueError:
        raise ValueError(f"{path!r}: 'params' contain NaN or infinity") from None
    for key in net.history:
        if isinstance(history.get(key), list):
            net.history[key] = [float(v) for v in history[key]]
    net.metadata = metadata
    return net


def _read_params(archive, dtype_name, n_params, sizes):
    """The ``params`` array, its header checked against the configuration first."""
    path = archive[0]

    def check(shape, dtype):
        if dtype.kind != "f" or dtype.itemsize != np.dtype(dtype_name).itemsize:
            raise ValueError(f"{path!r}: 'params' have dtype {dtype}, the configuration "
                             f"says {dtype_name}")
        if shape != (n_params,):
            raise ValueError(f"{path!r}: 'params' have shape {shape}, the sizes "
                             f"{sizes} need ({n_params},)")

    return _read_array(archive, "params", check)
