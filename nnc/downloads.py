"""Downloadable datasets in MNIST's IDX format, and one loader for every dataset.

MNIST ships with nnc.  Fashion-MNIST (Zalando Research, MIT licence) and
Kuzushiji-MNIST (ROIS-DS Center for Open Data in the Humanities, CC BY-SA 4.0)
have the same shape and file format; they are downloaded on first use into a
cache directory and verified against their published SHA-256 digests.

Cache directory: ``$NNC_DATA`` if set, else ``$XDG_CACHE_HOME/nnc``, else
``~/.cache/nnc``; each dataset gets its own sub-directory holding the four
original ``.gz`` files.  Offline users can put the files there by hand.

Mirrors: ``download(name, base_url=...)`` fetches ``base_url + file``;
the environment variable ``NNC_DATASET_MIRROR`` (a base URL) makes every
download fetch ``$NNC_DATASET_MIRROR/<dataset>/<file>`` instead of the
official hosts.

>>> from nnc.downloads import load_dataset
>>> (X, y), (X_test, y_test) = load_dataset("fashion-mnist")   # doctest: +SKIP
"""
import hashlib
import http.client
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import numpy as np

from nnc import _validation as V
from nnc.io import remove_quietly

#: the four IDX files of an MNIST-style dataset, in the order
#: train images, train labels, test images, test labels
FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

_CHUNK = 1 << 16


@dataclass(frozen=True)
class DatasetInfo:
    """Where a downloadable dataset lives and how to verify it.

    Attributes
    ----------
    name : str
        The name users pass (``"fashion-mnist"``).
    title : str
        Its full name, for messages.
    urls : tuple of str
        Base URLs tried in order; a file's URL is ``base + file name``.
    sha256 : dict
        File name -> SHA-256 hex digest of the ``.gz`` file as published.
    md5 : dict
        File name -> MD5 digest published by the authors (kept for reference;
        verification uses SHA-256).
    classes : tuple of str
        Class names, index = label.
    homepage, licence : str
    """

    name: str
    title: str
    urls: tuple
    sha256: dict
    md5: dict = field(default_factory=dict)
    classes: tuple = ()
    homepage: str = ""
    licence: str = ""


# Digests: the MD5s are those the datasets' authors publish (the Fashion-MNIST
# README; the KMNIST ones as torchvision verifies them); the SHA-256s of the
# same files are those torchvision's dataset registry checks.
REGISTRY = {
    "fashion-mnist": DatasetInfo(
        name="fashion-mnist",
        title="Fashion-MNIST",
        urls=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
              "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/"
              "data/fashion/"),
        sha256={
            "train-images-idx3-ubyte.gz":
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "train-labels-idx1-ubyte.gz":
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "t10k-images-idx3-ubyte.gz":
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "t10k-labels-idx1-ubyte.gz":
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        },
        md5={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot"),
        homepage="https://github.com/zalandoresearch/fashion-mnist",
        licence="MIT",
    ),
    "kmnist": DatasetInfo(
        name="kmnist",
        title="Kuzushiji-MNIST",
        urls=("https://codh.rois.ac.jp/kmnist/dataset/kmnist/",
              "http://codh.rois.ac.jp/kmnist/dataset/kmnist/"),
        sha256={
            "train-images-idx3-ubyte.gz":
                "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4",
            "train-labels-idx1-ubyte.gz":
                "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",
            "t10k-images-idx3-ubyte.gz":
                "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5",
            "t10k-labels-idx1-ubyte.gz":
                "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c",
        },
        md5={
            "train-images-idx3-ubyte.gz": "bdb82020997e1d708af4cf47b453dcf7",
            "train-labels-idx1-ubyte.gz": "e144d726b3acfaa3e44228e80efcd344",
            "t10k-images-idx3-ubyte.gz": "5c965bf0a639b31b8f53240b1b52f4d7",
            "t10k-labels-idx1-ubyte.gz": "7320c461ea6c1c855c0b718fb2a4b134",
        },
        classes=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        homepage="https://github.com/rois-codh/kmnist",
        licence="CC BY-SA 4.0",
    ),
}

#: other spellings accepted for the registry's names
ALIASES = {"fashion_mnist": "fashion-mnist", "fashion": "fashion-mnist",
           "fashionmnist": "fashion-mnist", "kuzushiji-mnist": "kmnist",
           "kuzushiji_mnist": "kmnist", "k-mnist": "kmnist"}

#: names load_dataset understands besides paths
NAMES = ("mnist",) + tuple(REGISTRY)


class ChecksumError(OSError):
    """A downloaded or cached file does not have the published SHA-256."""


class DownloadError(ConnectionError):
    """A dataset file could not be fetched from any of its URLs."""


# ---------------------------------------------------------------------------
# cache
# ---------------------------------------------------------------------------
def cache_dir(path=None):
    """The directory downloaded datasets are kept in.

    Parameters
    ----------
    path : str or os.PathLike, optional
        An explicit directory; by default ``$NNC_DATA``, else
        ``$XDG_CACHE_HOME/nnc``, else ``~/.cache/nnc``.

    Returns
    -------
    str
        The directory (not created here).
    """
    if path is not None:
        return os.path.abspath(os.path.expanduser(os.fspath(path)))
    env = os.environ.get("NNC_DATA")
    if env:
        return os.path.abspath(os.path.expanduser(env))
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = xdg if xdg and os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "nnc")


def canonical_name(name):
    """The registry name for ``name`` (case-insensitive, aliases allowed).

    Raises
    ------
    ValueError
        When ``name`` is not a downloadable dataset.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; downloadable datasets are "
                         f"{', '.join(sorted(REGISTRY))}")
    return key


def file_sha256(path):
    """SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------
# download
# ---------------------------------------------------------------------------
def _base_urls(info, base_url):
    if base_url is not None:
        if not isinstance(base_url, str) or not base_url:
            raise TypeError("base_url must be a non-empty string")
        return [base_url if base_url.endswith("/") else base_url + "/"]
    mirror = os.environ.get("NNC_DATASET_MIRROR")
    if mirror:
        return [mirror.rstrip("/") + "/" + info.name + "/"]
    return list(info.urls)


def _fetch(url, dest, expected, timeout, progress):
    """Stream ``url`` into a temporary file beside ``dest``, check its digest,
    then rename it into place, so ``dest`` is never a partial file."""
    directory = os.path.dirname(dest)
    fd, tmp = tempfile.mkstemp(prefix=".nnc-download-", suffix=".part", dir=directory)
    digest = hashlib.sha256()
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "nnc"})
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as resp:
            total = resp.headers.get("Content-Length")
            bar = _progress_bar(progress, total, os.path.basename(dest))
            try:
                for chunk in iter(lambda: resp.read(_CHUNK), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()
        got = digest.hexdigest()
        if got != expected:
            raise ChecksumError(f"{url}: SHA-256 mismatch (expected {expected}, got {got}); "
                                "the corrupt download was deleted")
        os.replace(tmp, dest)
    except BaseException:
        remove_quietly(tmp)
        raise


def _progress_bar(progress, total, desc):
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=int(total) if total and total.isdigit() else None, unit="B",
                unit_scale=True, desc=desc, leave=False, file=sys.stderr)


def download(name, cache_dir=None, *, base_url=None, force=False, timeout=60.0,
             progress=False):
    """Download a dataset's four IDX files into the cache (if not there yet).

    Files already in the cache with the right SHA-256 are not downloaded
    again; a cached file with a wrong digest is replaced.

    Parameters
    ----------
    name : str
        ``"fashion-mnist"`` or ``"kmnist"`` (see :data:`REGISTRY`).
    cache_dir : str or os.PathLike, optional
        The cache root (see :func:`cache_dir`); files go to ``cache_dir/name``.
    base_url : str, optional
        Fetch ``base_url + file`` instead of the official URLs (a mirror).
    force : bool
        Download even when valid files are cached.
    timeout : float
        Seconds to wait for each connection.
    progress : bool
        Show a tqdm bar (when tqdm is installed) and a line per file on stderr.

    Returns
    -------
    str
        The directory holding the four verified files.

    Raises
    ------
    DownloadError (a ConnectionError)
        When a file cannot be fetched from any URL (offline, host down, 404);
        the message names the URLs and where to place the files by hand.
    ChecksumError (an OSError)
        When the downloaded bytes do not match the published SHA-256; the bad
        file is deleted.
    """
    info = REGISTRY[canonical_name(name)]
    timeout = V.check_float("timeout", timeout, 0.0, low_open=True)  # seconds
    force, progress = V.check_bool("force", force), V.check_bool("progress", progress)
    root = _resolve_cache(cache_dir)
    directory = os.path.join(root, info.name)
    os.makedirs(directory, exist_ok=True)
    bases = _base_urls(info, base_url)
    for fname in FILES:
        dest = os.path.join(directory, fname)
        expected = info.sha256[fname]
        if not force and os.path.isfile(dest):
            if file_sha256(dest) == expected:
                continue
            os.unlink(dest)  # corrupt or stale: fetch it again
        errors, mismatch = [], None
        for base in bases:
            url = base + fname
            if progress:
                print(f"Downloading {url}", file=sys.stderr, flush=True)
            try:
                _fetch(url, dest, expected, timeout, progress)
                break
            except ChecksumError as exc:
                mismatch = exc
                errors.append(str(exc))
            except (urllib.error.URLError, http.client.HTTPException, OSError,
                    ValueError) as exc:
                # URLError covers HTTP errors and refused connections; OSError
                # timeouts and resets; HTTPException truncated responses;
                # ValueError a malformed URL.
                reason = getattr(exc, "reason", None) or exc
                errors.append(f"{url}: {reason}")
        else:
            detail = "; ".join(errors)
            if mismatch is not None and len(errors) == 1:
                raise mismatch
            cls = ChecksumError if mismatch is not None else DownloadError
            raise cls(f"could not download {info.title} file {fname} ({detail}). If you are "
                      f"offline, download the four files {', '.join(FILES)} from "
                      f"{info.urls[0]} elsewhere and put them in {directory}")
    return directory


# Aliases for use inside functions whose parameters shadow these names.
_resolve_cache = cache_dir
_download = download


def is_cached(name, cache_dir=None):
    """True when all four files of ``name`` are in the cache with the right digests."""
    info = REGISTRY[canonical_name(name)]
    directory = os.path.join(_resolve_cache(cache_dir), info.name)
    for fname in FILES:
        path = os.path.join(directory, fname)
        if not os.path.isfile(path) or file_sha256(path) != info.sha256[fname]:
            return False
    return True


# ---------------------------------------------------------------------------
# loading
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
                            f"{', '.join(f[:-3] for f in FILES)} (optionally .gz)")


def load_idx_directory(directory):
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
    from nnc.datasets import load_images_labels
    directory = os.fspath(directory)
    paths = [_idx_file(directory, f) for f in FILES]
    train = load_images_labels(paths[0], paths[1])
    test = load_images_labels(paths[2], paths[3])
    if train[0].shape[1] != test[0].shape[1]:
        raise ValueError(f"{directory!r}: training images have {train[0].shape[1]} pixels, "
                         f"test images {test[0].shape[1]}")
    return train, test


_NPZ_KEYS = (("x_train", "X_train"), ("y_train",), ("x_test", "X_test"), ("y_test",))


def load_npz(path):
    """Load a dataset from an ``.npz`` with arrays X_train, y_train, X_test, y_test.

    Keys are matched case-insensitively (Keras's ``mnist.npz`` has
    ``x_train``...).  Images of any shape (n, ...) are flattened to (n, features);
    uint8 images are scaled to [0, 1]; other X become float32.  y becomes
    int64 when it holds integer labels, else float32 targets.  Pickled
    objects are never loaded.
    """
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            lower = {k.lower(): k for k in z.files}
            missing = [names[0] for names in _NPZ_KEYS if names[0] not in lower]
            if missing:
                raise ValueError(f"{path!r} lacks the arrays {missing} (it has {z.files}); a "
                                 "dataset .npz needs X_train, y_train, X_test and y_test")
            arrays = [z[lower[names[0]]] for names in _NPZ_KEYS]
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise ValueError(f"{path!r} holds object arrays; nnc never loads pickles") from None
        raise
    except (OSError, EOFError) as exc:
        raise OSError(f"{path!r} is not a readable .npz file: {exc}") from None
    X_train, y_train, X_test, y_test = arrays
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


def load_dataset(name_or_path, cache_dir=None, *, download=True, base_url=None,
                 progress=False):
    """Load a dataset by name or path: ``((X_train, y_train), (X_test, y_test))``.

    Parameters
    ----------
    name_or_path : str or os.PathLike
        ``"mnist"`` (bundled with nnc), ``"fashion-mnist"`` or ``"kmnist"``
        (downloaded into the cache on first use), a directory holding the four
        IDX files under their standard names, or an ``.npz`` file with
        ``X_train``, ``y_train``, ``X_test`` and ``y_test``.
    cache_dir : str or os.PathLike, optional
        Cache root for downloads (see :func:`cache_dir`).
    download : bool
        When False, a dataset missing from the cache raises FileNotFoundError
        instead of being downloaded.
    base_url : str, optional
        A mirror to download from (see :func:`download`).
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
        See :func:`download`.
    """
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError("dataset must be a name or a path, got "
                        f"{type(name_or_path).__name__}")
    download, progress = V.check_bool("download", download), V.check_bool("progress", progress)
    text = os.fspath(name_or_path)
    key = ALIASES.get(text.strip().lower(), text.strip().lower())
    if key == "mnist" and not os.path.exists(text):
        from nnc.datasets import load_mnist
        return load_mnist()
    if key in REGISTRY and not os.path.exists(text):
        if download:
            directory = _download(key, cache_dir, base_url=base_url, progress=progress)
        else:
            if not is_cached(key, cache_dir):
                raise FileNotFoundError(
                    f"{REGISTRY[key].title} is not in the cache "
                    f"{os.path.join(_resolve_cache(cache_dir), key)}; download it first")
            directory = os.path.join(_resolve_cache(cache_dir), key)
        return load_idx_directory(directory)
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


def remove(name, cache_dir=None):
    """Delete a downloaded dataset's directory from the cache; True if it existed."""
    info = REGISTRY[canonical_name(name)]
    directory = os.path.join(_resolve_cache(cache_dir), info.name)
    if os.path.isdir(directory):
        shutil.rmtree(directory)
        return True
    return False
