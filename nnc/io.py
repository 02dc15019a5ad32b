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
import json
import math
import numbers
import os
import tempfile
import zipfile
import zlib

import numpy as np

from nnc import _validation as V

FORMAT = "nnc-model"
FORMAT_VERSION = 1
#: the largest ``config`` member read (the JSON holds the history, not weights)
MAX_CONFIG_BYTES = 64 * 2**20
_KINDS = ("network", "perceptron")
# Errors that a damaged archive can raise while its members are read.
_ARCHIVE_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError,
                   RuntimeError)


def _umask():
    """The process umask, read without changing it (Linux), else the usual 022."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def save(network, path, metadata=None):
    """Write ``network`` to ``path`` atomically (a temporary file, then a rename).

    An interrupted save never destroys a previous file at ``path``: the data
    goes to a temporary file in the same directory, is flushed to disk, and
    only then replaces ``path``.

    Parameters
    ----------
    network : nnc.Network
    path : str or os.PathLike
    metadata : dict, optional
        JSON-serialisable values stored with the model.
    """
    from nnc._version import __version__
    V.check_model("network", network)
    path = V.check_path("path", path)
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError("metadata must be a dict of JSON-serialisable values")
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "nnc_version": __version__,
        "network": network.get_config(),
        "n_params": int(network.params.size),
        "history": network.history,
        "metadata": metadata or {},
    }
    extra = getattr(network, "_save_extra", None)
    if extra is not None:
        config.update(extra())
    try:
        text = json.dumps(config, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"metadata must be JSON-serialisable: {exc}") from None
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(f"path {path!r} is a directory, not a file path")
    try:
        mode = os.stat(path).st_mode & 0o777
    except OSError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=".nnc-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, params=network.params, config=np.array(text))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)  # mkstemp makes 0600 files; keep the usual permissions
        os.replace(tmp, path)
    except BaseException:
        remove_quietly(tmp)
        raise
    _fsync_directory(directory)


def remove_quietly(path):
    """Delete the temporary file of a failed atomic write, if it is there."""
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_directory(directory):
    """Make the rename itself durable (best effort: not every system allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------
def _open_archive(path):
    path = V.check_path("path", path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model file at {path!r}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path!r} is a directory, not a model file")
    try:
        return path, zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{path!r} is not an nnc model file: not a readable .npz archive "
                         f"(truncated or corrupt?): {exc}") from None
    except (EOFError, ValueError, NotImplementedError) as exc:
        raise ValueError(f"{path!r} is a corrupt .npz archive: {exc}") from None
    except OSError as exc:
        raise OSError(f"cannot read model file {path!r}: {exc}") from None


def _read_array(zf, path, name, check_header):
    """Read member ``name`` of the archive after checking its header.

    ``check_header(shape, dtype)`` raises ValueError for an unexpected array;
    it runs before any data is read, so a header announcing a huge or object
    array costs nothing.
    """
    try:
        info = zf.getinfo(name + ".npy")
    except KeyError:
        raise ValueError(f"{path!r} is not an nnc model file: it has no {name!r} array") from None
    try:
        with zf.open(info) as fh:
            try:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
                else:
                    raise ValueError(f"unsupported .npy format version {version}")
            except Exception as exc:  # noqa: BLE001 - the header is untrusted text parsed by numpy
                if isinstance(exc, _ARCHIVE_ERRORS):
                    raise
                raise ValueError(f"{path!r}: the {name!r} array has a malformed header: "
                                 f"{exc}") from None
            if dtype.hasobject:
                raise ValueError(f"{path!r}: the {name!r} array holds Python objects; "
                                 "nnc never loads pickles")
            check_header(shape, dtype)
            count = math.prod(shape)
            nbytes = count * dtype.itemsize
            header_len = fh.tell()
            if header_len + nbytes != info.file_size:
                raise ValueError(f"{path!r}: the {name!r} array's header announces {nbytes} "
                                 f"bytes of data, but the archive holds "
                                 f"{info.file_size - header_len}")
            raw = fh.read(nbytes)
            if len(raw) != nbytes:
                raise ValueError(f"{path!r}: the {name!r} array is truncated")
    except _ARCHIVE_ERRORS as exc:
        raise ValueError(f"{path!r} is corrupt: cannot read the {name!r} array: {exc}") from None
    except OSError as exc:
        raise OSError(f"cannot read model file {path!r}: {exc}") from None
    arr = np.frombuffer(raw, dtype=dtype, count=count)
    arr = arr.reshape(shape, order="F" if fortran else "C")
    return arr.astype(dtype.newbyteorder("="), copy=True)


def _read_config(zf, path):
    def check(shape, dtype):
        if dtype.kind != "U" or shape != ():
            raise ValueError(f"{path!r}: 'config' must be a JSON string (a 0-d unicode "
                             f"array), got dtype {dtype} and shape {shape}")
        if dtype.itemsize > MAX_CONFIG_BYTES:
            raise ValueError(f"{path!r}: 'config' is implausibly large "
                             f"({dtype.itemsize} bytes)")

    raw = _read_array(zf, path, "config", check)
    try:
        config = json.loads(str(raw[()]))
    except json.JSONDecodeError as exc:
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
    return config


def read_config(path):
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
    path, zf = _open_archive(path)
    with zf:
        return _read_config(zf, path)


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
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


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


def load(path):
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
    from nnc.network import Network
    path, zf = _open_archive(path)
    with zf:
        config = _read_config(zf, path)
        net_cfg = config.get("network")
        n_params = _check_network_config(net_cfg, path)
        kind = config.get("kind", "network")
        if kind not in _KINDS:
            raise ValueError(f"{path!r}: unknown model kind {kind!r}; expected one of {_KINDS}")
        history = _check_history(config.get("history"), path)
        metadata = config.get("metadata", {})
        if not isinstance(metadata, dict):
            raise ValueError(f"{path!r}: 'metadata' must be an object")
        dtype_name = net_cfg.get("dtype", "float32")
        if dtype_name not in ("float32", "float64"):
            raise ValueError(f"{path!r}: invalid network configuration: 'dtype' must be "
                             f"'float32' or 'float64', got {dtype_name!r}")

        def check(shape, dtype):
            if dtype.kind != "f" or dtype.itemsize != np.dtype(dtype_name).itemsize:
                raise ValueError(f"{path!r}: 'params' have dtype {dtype}, the configuration "
                                 f"says {dtype_name}")
            if shape != (n_params,):
                raise ValueError(f"{path!r}: 'params' have shape {shape}, the sizes "
                                 f"{net_cfg['sizes']} need ({n_params},)")

        params = _read_array(zf, path, "params", check)
    if not np.isfinite(params).all():
        raise ValueError(f"{path!r}: 'params' contain NaN or infinity")
    try:
        cls = Network
        if kind == "perceptron":
            from nnc.perceptron import Perceptron as cls
            kwargs = {"n_inputs": net_cfg["sizes"][0], "n_outputs": net_cfg["sizes"][-1],
                      "dtype": dtype_name, "lr": net_cfg.get("lr", 1.0)}
        else:
            kwargs = {k: net_cfg[k] for k in ("sizes", "activation", "loss", "dtype", "init",
                                              "dropout") if k in net_cfg}
            if "dropout" in kwargs:
                kwargs["dropout"] = kwargs["dropout"][:-1]
        net = cls(**kwargs)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path!r}: invalid network configuration: {exc}") from None
    if net.params.shape != params.shape:
        raise ValueError(f"{path!r}: 'params' have shape {params.shape}, the network "
                         f"needs {net.params.shape}")
    net.params[...] = params
    net.seed = net_cfg.get("seed")
    for key in net.history:
        if isinstance(history.get(key), list):
            net.history[key] = [float(v) for v in history[key]]
    net.metadata = metadata
    return net
