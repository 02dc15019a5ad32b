"""Saving and loading networks as ``.npz`` files, without pickle.

A model file holds two arrays: ``params``, the flat parameter buffer, and
``config``, a JSON document (as a 0-d unicode array) with everything needed
to rebuild the network plus metadata: nnc's version, the training history
and a user ``metadata`` dict.  ``nnc info`` reads ``config`` alone.
"""
import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT = "nnc-model"
FORMAT_VERSION = 1


def save(network, path, metadata=None):
    """Write ``network`` to ``path`` atomically (a temporary file, then a rename).

    An interrupted save never destroys a previous file at ``path``.
    """
    from nnc._version import __version__
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
    except TypeError as exc:
        raise TypeError(f"metadata must be JSON-serialisable: {exc}") from None
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".nnc-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, params=network.params, config=np.array(text))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_config(path):
    """The JSON configuration of a model file, without reading its weights."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model file at {path!r}")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "config" not in z.files:
                raise ValueError(f"{path!r} is not an nnc model file (no 'config')")
            raw = z["config"]
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise OSError(f"{path!r} is not a readable model file: {exc}") from None
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise ValueError(f"{path!r} holds object arrays; nnc never loads pickles") from None
        raise ValueError(f"{path!r} is not a valid model file: {exc}") from None
    if raw.dtype.kind != "U" or raw.shape != ():
        raise ValueError(f"{path!r}: 'config' must be a JSON string")
    try:
        config = json.loads(str(raw))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path!r}: 'config' is not valid JSON: {exc}") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"{path!r} is not an nnc model file")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(f"{path!r} has model format version {version!r}; this nnc reads "
                         f"version {FORMAT_VERSION}")
    return config


def load(path):
    """Rebuild a network saved by :meth:`Network.save`.

    Raises
    ------
    FileNotFoundError, OSError
        Missing, truncated or unreadable file.
    ValueError
        A file that is not an nnc model, or whose contents are inconsistent
        (shapes, dtypes, version); pickled objects are never loaded.
    """
    from nnc.network import Network
    config = read_config(path)
    net_cfg = config.get("network")
    if not isinstance(net_cfg, dict):
        raise ValueError(f"{path!r}: 'network' section missing")
    kind = config.get("kind", "network")
    try:
        with np.load(os.fspath(path), allow_pickle=False) as z:
            if "params" not in z.files:
                raise ValueError(f"{path!r} has no 'params' array")
            params = z["params"]
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise OSError(f"{path!r} is truncated or corrupt: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"{path!r}: bad 'params' array: {exc}") from None
    try:
        cls = Network
        if kind == "perceptron":
            from nnc.perceptron import Perceptron as cls
        kwargs = {k: net_cfg[k] for k in ("sizes", "activation", "loss", "dtype", "init",
                                          "dropout") if k in net_cfg}
        if kind == "perceptron":
            kwargs = {"n_inputs": net_cfg["sizes"][0], "n_outputs": net_cfg["sizes"][-1],
                      "dtype": net_cfg.get("dtype", "float64")}
        elif "dropout" in kwargs:
            kwargs["dropout"] = kwargs["dropout"][:-1]
        net = cls(**kwargs)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path!r}: invalid network configuration: {exc}") from None
    if params.dtype != net.params.dtype:
        raise ValueError(f"{path!r}: params have dtype {params.dtype}, the configuration "
                         f"says {net.params.dtype}")
    if params.shape != net.params.shape:
        raise ValueError(f"{path!r}: params have shape {params.shape}, the sizes "
                         f"{net.sizes} need ({net.params.size},)")
    if not np.isfinite(params).all():
        raise ValueError(f"{path!r}: params contain NaN or infinity")
    net.params[...] = params
    net.seed = net_cfg.get("seed")
    history = config.get("history")
    if isinstance(history, dict):
        for key in net.history:
            if isinstance(history.get(key), list):
                net.history[key] = list(history[key])
    net.metadata = config.get("metadata", {})
    return net
