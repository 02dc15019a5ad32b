"""Safe file access: atomic writes that never replace a non-regular file, and
reads bounded by what a file's own headers declare.

Every public reader and writer in nnc goes through these helpers, so one set
of rules holds everywhere:

- A write goes to a temporary file beside the target (``.NAME.XXXXXXXX.tmp``),
  is flushed to disk, and then renamed over the target.  The target must be
  absent (in an existing directory) or a regular file; directories, devices,
  FIFOs and sockets are refused, never replaced.  A symbolic link is followed:
  the file it points to is replaced and the link is kept; a dangling link is
  refused.
- A read never trusts a size it has not checked: array data is read into a
  buffer allocated only after the declared size was compared with the file's
  size (and with the largest expansion deflate allows), and reading stops at
  the declared size.
- Every error names the user's path, never a temporary file.
"""
import contextlib
import math
import os
import stat
import tempfile
import zipfile
import zlib

import numpy as np

from nnc import _validation as V

#: deflate never expands data by more than this factor (1032:1 is its limit)
MAX_DEFLATE_RATIO = 1032
#: bytes read per call when streaming data into a buffer
CHUNK = 1 << 20
# Errors that a damaged zip archive can raise while a member is read.
ARCHIVE_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError)

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISSOCK, "a socket"))


def describe_mode(mode):
    """A file type in words (``"a FIFO (named pipe)"``) for error messages."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return "not a regular file"


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


def restate_error(exc, path, verb="write"):
    """``exc`` (an OSError) restated with the user's ``path`` instead of a
    temporary file's; the errno, and so the subclass, is kept."""
    if exc.errno is not None and exc.strerror:
        return OSError(exc.errno, f"cannot {verb} {path!r}: {exc.strerror}")
    try:
        return type(exc)(f"cannot {verb} {path!r}: {exc}")
    except Exception:  # noqa: BLE001 - a subclass with another signature
        return OSError(f"cannot {verb} {path!r}: {exc}")


def check_writable(path, name="path"):
    """Check that a file can be written to ``path`` without writing anything.

    Parameters
    ----------
    path : str or os.PathLike
    name : str
        The argument's name, for messages.

    Returns
    -------
    str
        The file that a write replaces: ``path`` itself, or the final target
        when ``path`` is a symbolic link.

    Raises
    ------
    FileNotFoundError
        The directory does not exist, or ``path`` is a dangling link.
    IsADirectoryError
        ``path`` is a directory.
    OSError
        ``path`` is a device, FIFO or socket (refused: it is never replaced),
        or its directory is not writable.
    """
    path = V.check_path(name, path)
    target = os.path.realpath(path) if os.path.islink(path) else path
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise restate_error(exc, path, "check") from None
    if mode is None and target != path:
        raise FileNotFoundError(f"{name}: {path!r} is a symbolic link to the missing "
                                f"{target!r}; nnc does not write through dangling links")
    if mode is not None and stat.S_ISDIR(mode):
        raise IsADirectoryError(f"{name}: {path!r} is a directory, not a file path")
    if mode is not None and not stat.S_ISREG(mode):
        raise OSError(f"{name}: {path!r} is {describe_mode(mode)}, not a regular file; "
                      "nnc writes only regular files and never replaces anything else")
    directory = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{name}: cannot write {path!r}: the directory "
                                f"{directory!r} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PermissionError(f"{name}: cannot write {path!r}: the directory {directory!r} "
                              "is not writable")
    return target


@contextlib.contextmanager
def atomic_write(path, name="path"):
    """Open a temporary file that replaces ``path`` when the block succeeds.

    The target is checked first (:func:`check_writable`); the data is
    flushed to disk before the rename, and the permissions of a file that
    is replaced are kept.  When the block raises, the temporary file is
    deleted and ``path`` is unchanged.

    Parameters
    ----------
    path : str or os.PathLike
    name : str
        The argument's name, for messages.

    Yields
    ------
    file
        A binary file object open for writing.
    """
    target = check_writable(path, name)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        mode = 0o666 & ~_umask()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp",
                                   dir=directory)
    except OSError as exc:
        raise restate_error(exc, path) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)  # mkstemp makes 0600 files; keep the usual permissions
        os.replace(tmp, target)
    except BaseException as exc:
        _remove_quietly(tmp)
        if isinstance(exc, OSError):
            raise restate_error(exc, path) from None
        raise
    _fsync_directory(directory)


def _remove_quietly(path):
    """Delete the temporary file of a failed write, if it is there."""
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_directory(directory):
    """Make a rename durable (best effort: not every system allows it)."""
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


def check_readable(path, name="path", what="file", streams=False):
    """Check ``path`` before opening it: it exists and is a regular file.

    Parameters
    ----------
    path : str or os.PathLike
    name : str
        The argument's name, for messages.
    what : str
        What the file should be (``"model file"``), for messages.
    streams : bool
        Also accept character devices and FIFOs (read as streams, with
        every read bounded by the caller).

    Returns
    -------
    (str, os.stat_result)

    Raises
    ------
    FileNotFoundError, IsADirectoryError, OSError
    """
    path = V.check_path(name, path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"no {what} at {path!r}") from None
    except OSError as exc:
        raise restate_error(exc, path, "read") from None
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(f"{path!r} is a directory, not a {what}")
    stream = stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)
    if not stat.S_ISREG(st.st_mode) and not (streams and stream):
        raise OSError(f"{path!r} is {describe_mode(st.st_mode)}, not a {what} "
                      "(nnc reads only regular files here)")
    return path, st


def read_into(fh, array, what):
    """Fill ``array`` (C-contiguous) from the binary stream ``fh``.

    Reads at most ``array.nbytes`` bytes, in chunks; raises ValueError
    naming ``what`` when the stream ends first.
    """
    if array.nbytes == 0:
        return array
    view = memoryview(array.reshape(-1).view(np.uint8))
    done = 0
    while done < len(view):
        got = fh.readinto(view[done:done + CHUNK])
        if not got:
            raise ValueError(f"{what} is truncated: {done} of {len(view)} bytes")
        done += got
    return array


def read_exact(fh, nbytes, what):
    """Exactly ``nbytes`` bytes from ``fh`` (ValueError naming ``what`` if fewer)."""
    return read_into(fh, np.empty(nbytes, dtype=np.uint8), what).tobytes()


def check_member_size(info, archive_size, nbytes, what):
    """Refuse a zip member whose declared sizes cannot hold ``nbytes`` of data.

    Runs before anything is allocated: the member's stored size must fit in
    the archive, and its uncompressed size cannot exceed what its compressed
    bytes can expand to.
    """
    if info.header_offset + info.compress_size > archive_size:
        raise ValueError(f"{what}: the archive declares {info.compress_size} stored bytes "
                         f"but the file has only {archive_size}")
    if info.compress_type == zipfile.ZIP_STORED:
        limit = info.compress_size
    else:
        limit = info.compress_size * MAX_DEFLATE_RATIO + 1024
    if info.file_size > limit or nbytes > limit:
        raise ValueError(f"{what}: the archive declares {max(info.file_size, nbytes)} bytes "
                         f"of data, more than its {info.compress_size} stored bytes can hold "
                         "(a zip bomb or a damaged file)")


def read_npy_header(fh, what):
    """(shape, fortran_order, dtype) of the ``.npy`` stream ``fh``; ValueError
    for a malformed header or object dtype (nothing is unpickled)."""
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except Exception as exc:  # noqa: BLE001 - the header is untrusted text parsed by numpy
        if isinstance(exc, ARCHIVE_ERRORS):
            raise
        raise ValueError(f"{what} has a malformed header: {exc or type(exc).__name__}") from None
    if dtype.hasobject:
        raise ValueError(f"{what} holds Python objects; nnc never loads pickles")
    return shape, fortran, dtype


def read_npy_member(zf, info, archive_size, what, check_header=None):
    """Read the ``.npy`` member ``info`` of the zip ``zf`` as a native-order array.

    The header is read and checked (``check_header(shape, dtype)`` may raise
    ValueError) and the declared size compared with the archive before the
    array is allocated; at most that many bytes are read.

    Raises
    ------
    ValueError
        A malformed header, an object array, sizes that disagree, a zip
        bomb, truncated or corrupt data.
    """
    with zf.open(info) as fh:
        shape, fortran, dtype = read_npy_header(fh, what)
        if check_header is not None:
            check_header(shape, dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        header_len = fh.tell()
        if header_len + nbytes != info.file_size:
            raise ValueError(f"{what}: the header announces {nbytes} bytes of data, but "
                             f"the archive holds {info.file_size - header_len}")
        check_member_size(info, archive_size, info.file_size, what)
        arr = read_into(fh, np.empty(math.prod(shape), dtype=dtype), what)
        if fh.read(1):
            raise ValueError(f"{what} holds more data than its header announces")
    arr = arr.reshape(shape, order="F" if fortran else "C")
    if not dtype.isnative:
        arr = arr.byteswap().view(dtype.newbyteorder("="))
    return arr
