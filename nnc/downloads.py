"""Downloadable datasets in MNIST's IDX format, fetched with pooch.

MNIST ships with nnc and needs nothing from here.  Fashion-MNIST (Zalando
Research, MIT licence) and Kuzushiji-MNIST (ROIS-DS Center for Open Data in
the Humanities, CC BY-SA 4.0) have the same shape and file format; they are
downloaded on first use into a cache directory by `pooch
<https://www.fatiando.org/pooch/>`_ (``pip install 'nnc[download]'``), which
streams each file to a temporary file, checks its published SHA-256 and only
then moves it into place.

Cache directory: ``$NNC_DATA`` if set, else the platform's user cache
(``pooch.os_cache("nnc")``: ``$XDG_CACHE_HOME/nnc`` or ``~/.cache/nnc`` on
Linux, ``~/Library/Caches/nnc`` on macOS, ``%LOCALAPPDATA%\\nnc\\nnc\\Cache``
on Windows); each dataset gets its own sub-directory holding the four
original ``.gz`` files.  Offline users can put the files there by hand
(reading them needs no pooch when ``$NNC_DATA`` or ``cache_dir`` is given).

Mirrors: ``download(name, base_url=...)`` fetches ``base_url + file``;
the environment variable ``NNC_DATASET_MIRROR`` (a base URL) makes every
download fetch ``$NNC_DATASET_MIRROR/<dataset>/<file>`` instead of the
official hosts, which are otherwise tried in turn.

Loading is :func:`nnc.datasets.load_dataset`:

>>> from nnc.datasets import load_dataset
>>> (X, y), (X_test, y_test) = load_dataset("fashion-mnist")   # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import shutil
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nnc import _validation as V

if TYPE_CHECKING:
    from nnc._typing import PathLike

#: the four IDX files of an MNIST-style dataset, in the order
#: train images, train labels, test images, test labels
FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@dataclass(frozen=True)
class DatasetInfo:
    """Where a downloadable dataset lives and how to verify it.

    The entries of :data:`REGISTRY`; its fields are also its constructor's
    parameters (a frozen dataclass).

    Parameters
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
    homepage : str
        The dataset's web page.
    licence : str
        The licence its files are published under.
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


def _pooch():
    """The pooch module, or ImportError saying how to install it."""
    try:
        import pooch
    except ImportError:
        raise ImportError("downloading datasets needs pooch: pip install 'nnc[download]' "
                          "(or pip install pooch)") from None
    return pooch


# ---------------------------------------------------------------------------
# cache
# ---------------------------------------------------------------------------
def cache_dir(path: PathLike | None = None) -> str:
    """The directory downloaded datasets are kept in.

    Parameters
    ----------
    path : str or os.PathLike, optional
        An explicit directory; by default ``$NNC_DATA``, else the platform's
        user cache directory for nnc (``pooch.os_cache("nnc")``).

    Returns
    -------
    str
        The directory (not created here).

    Raises
    ------
    ImportError
        Neither ``path`` nor ``$NNC_DATA`` is given and pooch is missing.
    """
    if path is not None:
        return os.path.abspath(os.path.expanduser(os.fspath(path)))
    env = os.environ.get("NNC_DATA")
    if env:
        return os.path.abspath(os.path.expanduser(env))
    return os.fspath(_pooch().os_cache("nnc"))


def canonical_name(name: str) -> str:
    """The registry name for ``name`` (case-insensitive, aliases allowed).

    Parameters
    ----------
    name : str
        A dataset's name as a user spells it: ``"Fashion-MNIST"``,
        ``"fashion_mnist"``, ``"kuzushiji-mnist"``, ...

    Returns
    -------
    str
        A key of :data:`REGISTRY`.

    Raises
    ------
    TypeError
        When ``name`` is not a string.
    ValueError
        When ``name`` is not a downloadable dataset.

    Examples
    --------
    >>> from nnc.downloads import canonical_name
    >>> canonical_name("Fashion_MNIST")
    'fashion-mnist'
    >>> canonical_name("kuzushiji-mnist")
    'kmnist'
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; downloadable datasets are "
                         f"{', '.join(sorted(REGISTRY))}")
    return key


def file_sha256(path: PathLike) -> str:
    """SHA-256 hex digest of a file (for files placed in the cache by hand;
    downloads are verified by pooch).

    Parameters
    ----------
    path : str or os.PathLike
        The file, read in chunks of 1 MiB.

    Returns
    -------
    str
        64 lowercase hexadecimal digits.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_cached(name: str, cache_dir: PathLike | None = None) -> bool:
    """True when all four files of ``name`` are in the cache with the right digests.

    Parameters
    ----------
    name : str
        A downloadable dataset (see :func:`canonical_name`).
    cache_dir : str or os.PathLike, optional
        The cache directory; by default :func:`cache_dir`'s.

    Returns
    -------
    bool
    """
    info = REGISTRY[canonical_name(name)]
    directory = os.path.join(_resolve_cache(cache_dir), info.name)
    for fname in FILES:
        path = os.path.join(directory, fname)
        if not os.path.isfile(path) or file_sha256(path) != info.sha256[fname]:
            return False
    return True


def remove(name: str, cache_dir: PathLike | None = None) -> bool:
    """Delete a downloaded dataset's directory from the cache; True if it existed.

    Parameters
    ----------
    name : str
        A downloadable dataset (see :func:`canonical_name`).
    cache_dir : str or os.PathLike, optional
        The cache directory; by default :func:`cache_dir`'s.

    Returns
    -------
    bool
        Whether there was a directory to delete.
    """
    info = REGISTRY[canonical_name(name)]
    directory = os.path.join(_resolve_cache(cache_dir), info.name)
    if os.path.isdir(directory):
        shutil.rmtree(directory)
        return True
    return False


_resolve_cache = cache_dir  # for functions whose parameter shadows the name


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


@contextlib.contextmanager
def _pooch_log(level):
    """Pooch's logger at ``level`` for the duration of one download."""
    logger = _pooch().get_logger()
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)


def _fetch(url, directory, fname, expected, timeout, progress):
    """Download ``url`` into ``directory/fname`` with pooch, which streams it
    to a temporary file, checks the SHA-256 and only then moves it there."""
    pooch = _pooch()
    bar = bool(progress) and importlib.util.find_spec("tqdm") is not None
    downloader = pooch.HTTPDownloader(progressbar=bar, timeout=timeout,
                                      headers={"User-Agent": "nnc"})
    with _pooch_log(logging.WARNING):  # nnc prints its own line per file
        try:
            pooch.retrieve(url, known_hash=f"sha256:{expected}", fname=fname,
                           path=directory, downloader=downloader)
        except ValueError as exc:
            if "hash" not in str(exc).lower():
                raise
            raise ChecksumError(f"{url}: SHA-256 mismatch ({exc}); the corrupt download "
                                "was deleted") from None


def _fetch_any(info, bases, directory, fname, timeout, progress, force):
    """Fetch ``fname`` from the first base URL that serves the right bytes.

    With ``force`` the file is fetched under a temporary name and only then
    replaces the cached copy, so a failed forced download loses nothing.
    """
    _pooch()  # first, so that a missing pooch says how to install it
    import requests  # pooch's own HTTP client, present wherever pooch is

    target = f".{fname}.force" if force else fname
    errors, mismatch = [], None
    for base in bases:
        url = base + fname
        if progress:
            print(f"Downloading {url}", file=sys.stderr, flush=True)
        try:
            _fetch(url, directory, target, info.sha256[fname], timeout, progress)
        except ChecksumError as exc:
            mismatch = exc
            errors.append(str(exc))
            continue
        except (requests.exceptions.RequestException, OSError) as exc:
            errors.append(f"{url}: {exc}")
            continue
        if force:
            os.replace(os.path.join(directory, target), os.path.join(directory, fname))
        return
    if mismatch is not None and len(errors) == 1:
        raise mismatch
    cls = ChecksumError if mismatch is not None else DownloadError
    raise cls(f"could not download {info.title} file {fname} ({'; '.join(errors)}). If you "
              f"are offline, download the four files {', '.join(FILES)} from "
              f"{info.urls[0]} elsewhere and put them in {directory}")


def download(name: str, cache_dir: PathLike | None = None, *, base_url: str | None = None,
             force: bool = False, timeout: float = 60.0, progress: bool = False) -> str:
    """Download a dataset's four IDX files into the cache (if not there yet).

    Files already in the cache with the right SHA-256 are not downloaded
    again; a cached file with a wrong digest is replaced.  Needs pooch
    (unless every file is cached already).

    Parameters
    ----------
    name : str
        ``"fashion-mnist"`` or ``"kmnist"`` (see :data:`REGISTRY`).
    cache_dir : str or os.PathLike, optional
        The cache root (see :func:`cache_dir`); files go to ``cache_dir/name``.
    base_url : str, optional
        Fetch ``base_url + file`` instead of the official URLs (a mirror).
    force : bool
        Download even when valid files are cached (the cached file is
        replaced only by a verified download).
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
    ImportError
        pooch is not installed.
    DownloadError (a ConnectionError)
        When a file cannot be fetched from any URL (offline, host down, 404);
        the message names the URLs, the files and the folder to put them in
        by hand.
    ChecksumError (an OSError)
        When the downloaded bytes do not match the published SHA-256; the bad
        file is deleted.
    """
    info = REGISTRY[canonical_name(name)]
    timeout = V.check_float("timeout", timeout, 0.0, low_open=True)  # seconds
    force, progress = V.check_bool("force", force), V.check_bool("progress", progress)
    bases = _base_urls(info, base_url)
    directory = os.path.join(_resolve_cache(cache_dir), info.name)
    os.makedirs(directory, exist_ok=True)
    for fname in FILES:
        dest = os.path.join(directory, fname)
        if not force and os.path.isfile(dest) and file_sha256(dest) == info.sha256[fname]:
            continue
        _fetch_any(info, bases, directory, fname, timeout, progress, force)
    return directory
