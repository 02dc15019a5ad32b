"""Files: nothing destroyed, nothing lost, nothing read without bound.

Batteries: every writer against every kind of target (FIFOs, devices,
sockets, directories, symbolic links, missing folders, failing disks); every
reader against endless streams (with a timeout guard), zip bombs, gzip bombs
and truncated files.  Each error must carry a message naming the user's path.
"""
import errno
import gzip
import json
import os
import shutil
import socket
import stat
import struct
import tempfile
import threading
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest

import nnc
from nnc import _files, datasets
from nnc import io as nio

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_posix = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")


def _network(dtype="float64"):
    return nnc.Network([4, 3, 2], dtype=dtype, seed=1)


def _perceptron():
    return nnc.Perceptron(4, 2, dtype="float64")


# Every way to write a model file.
WRITERS = {
    "Network.save float64": lambda path: _network().save(path),
    "Network.save float32": lambda path: _network("float32").save(path),
    "Perceptron.save": lambda path: _perceptron().save(path),
    "io.save": lambda path: nio.save(_network(), path, metadata={"a": 1}),
}


def _within(seconds, fn, *args):
    """Call ``fn(*args)`` in a thread; fail when it runs longer than ``seconds``
    (a read without bound on an endless stream never returns)."""
    box = {}

    def run():
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{getattr(fn, '__name__', fn)} did not return within {seconds} s"
    return box


def _raises(seconds, exc_types, fn, *args):
    """``fn(*args)`` must raise one of ``exc_types`` with a message, in time."""
    box = _within(seconds, fn, *args)
    assert "error" in box, f"expected {exc_types}, got the result {box.get('value')!r}"
    exc = box["error"]
    assert isinstance(exc, exc_types), repr(exc)
    assert str(exc).strip(), f"{type(exc).__name__} without a message"
    return exc


@pytest.fixture
def short_dir():
    """A directory with a short path (Unix socket paths are limited to ~100 bytes)."""
    d = tempfile.mkdtemp(prefix="nnc-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _snapshot(path):
    st = os.lstat(path)
    return (stat.S_IFMT(st.st_mode), st.st_ino, getattr(st, "st_rdev", 0))


# ---------------------------------------------------------------------------
# writers: non-regular targets are refused and left as they were
# ---------------------------------------------------------------------------
def _make_fifo(d):
    path = os.path.join(d, "fifo")
    os.mkfifo(path)
    return path, path


def _make_socket(d):
    path = os.path.join(d, "sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.close()
    return path, path


def _make_directory(d):
    path = os.path.join(d, "folder")
    os.mkdir(path)
    return path, path


def _make_device(d):
    """A character device node equal to /dev/null (mknod needs root)."""
    if not IS_ROOT:
        pytest.skip("creating a device node needs root")
    st = os.stat("/dev/null")
    path = os.path.join(d, "null")
    os.mknod(path, stat.S_IFCHR | 0o666, st.st_rdev)
    return path, path


def _link_to(make):
    def make_link(d):
        _, target = make(d)
        link = os.path.join(d, "link")
        os.symlink(target, link)
        return link, target
    return make_link


def _link_chain_to_fifo(d):
    fifo, _ = _make_fifo(d)
    os.symlink(fifo, os.path.join(d, "hop"))
    os.symlink(os.path.join(d, "hop"), os.path.join(d, "link"))
    return os.path.join(d, "link"), fifo


NON_REGULAR = {
    "fifo": _make_fifo,
    "unix socket": _make_socket,
    "directory": _make_directory,
    "character device (a /dev/null node)": _make_device,
    "symlink to fifo": _link_to(_make_fifo),
    "symlink to directory": _link_to(_make_directory),
    "symlink to device": _link_to(_make_device),
    "chain of symlinks to fifo": _link_chain_to_fifo,
}


@needs_posix
@pytest.mark.parametrize("writer", sorted(WRITERS))
@pytest.mark.parametrize("kind", sorted(NON_REGULAR))
def test_save_refuses_non_regular_targets(short_dir, writer, kind):
    dev_null = _snapshot("/dev/null")
    path, target = NON_REGULAR[kind](short_dir)
    before = _snapshot(target)
    exc = _raises(10, OSError, WRITERS[writer], path)
    assert repr(path) in str(exc) and ".tmp" not in str(exc)
    assert _snapshot(target) == before                # not replaced
    assert _snapshot("/dev/null") == dev_null         # and /dev/null untouched
    leftovers = [n for n in os.listdir(short_dir) if n.endswith(".tmp")]
    assert leftovers == []


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_save_into_missing_folder(tmp_path, writer):
    path = tmp_path / "missing_folder" / "m.npz"
    exc = _raises(10, FileNotFoundError, WRITERS[writer], path)
    assert repr(str(path)) in str(exc) and ".tmp" not in str(exc)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_save_follows_a_symlink_and_keeps_it(tmp_path, writer):
    real = tmp_path / "versions" / "model-3.npz"
    real.parent.mkdir()
    real.write_bytes(b"old contents")
    link = tmp_path / "model.npz"
    link.symlink_to(real)
    WRITERS[writer](link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_bytes()[:2] == b"PK"         # the target was replaced
    assert nnc.load(link).sizes[0] == 4
    assert sorted(os.listdir(real.parent)) == ["model-3.npz"]


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_save_refuses_a_dangling_symlink(tmp_path, writer):
    link = tmp_path / "model.npz"
    link.symlink_to(tmp_path / "elsewhere" / "nothing.npz")
    exc = _raises(10, FileNotFoundError, WRITERS[writer], link)
    assert repr(str(link)) in str(exc)
    assert link.is_symlink() and not (tmp_path / "elsewhere").exists()


def test_save_keeps_the_permissions_of_the_file_it_replaces(tmp_path):
    path = tmp_path / "m.npz"
    _network().save(path)
    os.chmod(path, 0o640)
    _network().save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EIO, None])
def test_failed_write_names_the_users_path_and_loses_nothing(tmp_path, monkeypatch, error):
    path = tmp_path / "m.npz"
    _network().save(path)
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError(error, os.strerror(error), "/x/.m.npz.abc.tmp") if error else OSError("x")

    monkeypatch.setattr(nio.np, "savez", fail)
    exc = _raises(10, OSError, _network().save, path)
    assert repr(str(path)) in str(exc) and ".tmp" not in str(exc)
    if error:
        assert exc.errno == error
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.npz"]


@pytest.mark.skipif(IS_ROOT, reason="root writes into read-only folders")
def test_save_into_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    os.chmod(folder, 0o555)
    try:
        exc = _raises(10, PermissionError, _network().save, folder / "m.npz")
        assert repr(str(folder / "m.npz")) in str(exc)
    finally:
        os.chmod(folder, 0o755)


def test_check_writable_returns_the_link_target(tmp_path):
    real = tmp_path / "a.npz"
    real.write_bytes(b"x")
    (tmp_path / "b.npz").symlink_to(real)
    assert _files.check_writable(tmp_path / "b.npz") == str(real)
    assert _files.check_writable(tmp_path / "new.npz") == str(tmp_path / "new.npz")


# ---------------------------------------------------------------------------
# readers: non-regular and endless inputs
# ---------------------------------------------------------------------------
MODEL_READERS = {"nnc.load": nnc.load, "io.read_config": nio.read_config,
                 "datasets.load_npz": datasets.load_npz}


@needs_posix
@pytest.mark.parametrize("reader", sorted(MODEL_READERS))
@pytest.mark.parametrize("source", ["/dev/zero", "/dev/urandom", "fifo", "directory",
                                    "unix socket", "symlink to /dev/zero"])
def test_archive_readers_refuse_streams_without_opening_them(short_dir, reader, source):
    if source.startswith("/dev/"):
        if not os.path.exists(source):
            pytest.skip(f"{source} does not exist here")
        path = source
    elif source == "symlink to /dev/zero":
        path = os.path.join(short_dir, "link")
        os.symlink("/dev/zero", path)
    else:
        path = {"fifo": _make_fifo, "directory": _make_directory,
                "unix socket": _make_socket}[source](short_dir)[0]
    # A FIFO without a writer would block open() forever: refused before opening.
    exc = _raises(10, OSError, MODEL_READERS[reader], path)
    assert repr(path) in str(exc)


def _endless_writer(path, head, body):
    """Write ``head`` then ``body`` forever into the FIFO ``path`` until the
    reader closes it."""
    def run():
        try:
            with open(path, "wb") as fh:
                fh.write(head)
                while True:
                    fh.write(body)
        except (BrokenPipeError, OSError):
            pass
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _idx_head(shape, type_code=0x08):
    return bytes([0, 0, type_code, len(shape)]) + b"".join(struct.pack(">I", d) for d in shape)


def _endless_gzip(head):
    """A gzip stream of ``head`` followed by zeros, as (first bytes, repeating block)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = comp.compress(head + bytes(1 << 16)) + comp.flush(zlib.Z_SYNC_FLUSH)
    block = comp.compress(bytes(1 << 16)) + comp.flush(zlib.Z_SYNC_FLUSH)
    return first, block


ENDLESS_IDX = {
    # a valid header for 10 bytes, then data that never ends
    "more data than declared": (_idx_head((10,)), bytes(4096)),
    "header declares too much": (_idx_head((2**31, 2**31)), bytes(4096)),
    "zeros (no IDX type)": (b"", bytes(4096)),
    "gzip, more data than declared": _endless_gzip(_idx_head((10,))),
    "gzip, header declares too much": _endless_gzip(_idx_head((65536, 65536, 16))),
}


@needs_posix
@pytest.mark.parametrize("case", sorted(ENDLESS_IDX))
def test_load_idx_bounds_endless_fifos(short_dir, case):
    path, _ = _make_fifo(short_dir)
    head, body = ENDLESS_IDX[case]
    writer = _endless_writer(path, head, body)
    tracemalloc.start()
    try:
        exc = _raises(20, ValueError, datasets.load_idx, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert path in str(exc)
    assert peak < 32 * 2**20, f"{peak} bytes allocated reading an endless stream"
    writer.join(10)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_load_idx_on_endless_devices(device, monkeypatch):
    if not os.path.exists(device):
        pytest.skip(f"{device} does not exist here")
    # random bytes may form a valid header: the configured limit bounds the read
    monkeypatch.setattr(datasets, "MAX_IDX_BYTES", 2**20)
    for _ in range(5):
        _raises(20, ValueError, datasets.load_idx, device)


# ---------------------------------------------------------------------------
# gzip bombs and size lies in IDX files
# ---------------------------------------------------------------------------
def _gzip_zeros(head, nbytes):
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [comp.compress(head)]
    block = bytes(1 << 20)
    for _ in range(nbytes >> 20):
        parts.append(comp.compress(block))
    parts.append(comp.flush())
    return b"".join(parts)


def _bounded_load_idx(path, limit_mb=32):
    tracemalloc.start()
    try:
        exc = _raises(30, ValueError, datasets.load_idx, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(path) in str(exc)
    assert peak < limit_mb * 2**20, f"{peak} bytes allocated before refusing"
    return exc


def test_gzip_bomb_with_small_header(tmp_path):
    """10 bytes declared, 64 MiB inflated: reading stops after 11."""
    path = tmp_path / "bomb.gz"
    path.write_bytes(_gzip_zeros(_idx_head((10,)), 64 << 20))
    assert path.stat().st_size < 200_000
    exc = _bounded_load_idx(path)
    assert "more than" in str(exc)


def test_gzip_bomb_header_beyond_what_deflate_can_hold(tmp_path):
    """3 GiB declared in a tiny file: refused before anything is allocated."""
    path = tmp_path / "bomb.gz"
    path.write_bytes(gzip.compress(_idx_head((3, 1024, 1024, 1024)) + bytes(1000)))
    exc = _bounded_load_idx(path, limit_mb=1)
    assert "compressed bytes" in str(exc)


def test_idx_beyond_the_configured_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "MAX_IDX_BYTES", 1 << 20)
    path = tmp_path / "big.gz"
    path.write_bytes(_gzip_zeros(_idx_head((2, 1 << 20)), 2 << 20))
    exc = _bounded_load_idx(path, limit_mb=1)
    assert "MAX_IDX_BYTES" in str(exc)
    monkeypatch.undo()
    assert datasets.load_idx(path).shape == (2, 1 << 20)


def test_plain_idx_size_is_checked_against_the_file(tmp_path):
    path = tmp_path / "lie.idx"
    path.write_bytes(_idx_head((1 << 30,)) + bytes(100))
    exc = _bounded_load_idx(path, limit_mb=1)
    assert "holds 100" in str(exc)


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_idx_at_every_length(tmp_path, compress):
    good = _idx_head((3, 5), 0x0D) + np.arange(15, dtype=">f4").tobytes()
    blob = gzip.compress(good) if compress else good
    path = tmp_path / "t.idx"
    for n in range(len(blob)):
        path.write_bytes(blob[:n])
        _raises(10, ValueError, datasets.load_idx, path)
    path.write_bytes(blob)
    np.testing.assert_array_equal(datasets.load_idx(path), np.arange(15).reshape(3, 5))


def test_parse_idx_wants_bytes():
    for raw in ("\x00\x00\x08\x01", [0, 0, 8, 1], None, 3):
        with pytest.raises(TypeError, match="raw must be bytes"):
            datasets.parse_idx(raw)
    assert datasets.parse_idx(bytearray(_idx_head((2,)) + b"\x01\x02")).tolist() == [1, 2]
    assert datasets.parse_idx(memoryview(_idx_head((1,)) + b"\x07")).tolist() == [7]


# ---------------------------------------------------------------------------
# zip bombs: archives whose directory declares terabytes
# ---------------------------------------------------------------------------
def _npy_header(dtype, shape):
    out = __import__("io").BytesIO()
    descr = dtype if isinstance(dtype, str) else np.lib.format.dtype_to_descr(np.dtype(dtype))
    np.lib.format.write_array_header_1_0(
        out, {"descr": descr, "fortran_order": False, "shape": shape})
    return out.getvalue()


def _zip(members):
    """A zip archive built by hand: ``members`` maps a name to (payload,
    method, declared uncompressed size, declared compressed size or None).
    Declared sizes may lie; zip64 fields are written when they are large."""
    local, central = b"", b""
    for name, (payload, method, usize, csize) in members.items():
        data = payload if method == zipfile.ZIP_STORED else _deflate(payload)
        csize = len(data) if csize is None else csize
        crc = zlib.crc32(payload)
        big = usize >= 0xFFFFFFFF or csize >= 0xFFFFFFFF
        extra = struct.pack("<HHQQ", 1, 16, usize, csize) if big else b""
        u32, c32 = (0xFFFFFFFF, 0xFFFFFFFF) if big else (usize, csize)
        offset = len(local)
        fname = name.encode()
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, method, 0, 0x21, crc, c32,
                             u32, len(fname), len(extra)) + fname + extra + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, method, 0, 0x21,
                               crc, c32, u32, len(fname), len(extra), 0, 0, 0, 0,
                               offset) + fname + extra
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members),
                      len(central), len(local), 0)
    return local + central + end


def _deflate(payload):
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    return comp.compress(payload) + comp.flush()


def _config(sizes):
    text = json.dumps({"format": "nnc-model", "format_version": 1, "nnc_version": "0",
                       "network": {"sizes": sizes, "dtype": "float64"}, "history": {},
                       "metadata": {}})
    arr = np.array(text)
    return _npy_header(arr.dtype, ()) + arr.tobytes()


HUGE_SIZES = [2**20, 2**19]                       # 2**39 + 2**19 float64 parameters: 4 TiB
HUGE_N = 2**20 * 2**19 + 2**19


def _bombs():
    config = _config(HUGE_SIZES)
    params_head = _npy_header("<f8", (HUGE_N,))
    declared = len(params_head) + 8 * HUGE_N
    small = params_head + bytes(1024)
    x_head = _npy_header("<f4", (2**30, 1024))
    y = _npy_header("<i8", (2,)) + bytes(16)
    return {
        "model, deflated params declaring 4 TiB": {
            "config.npy": (config, zipfile.ZIP_DEFLATED, len(config), None),
            "params.npy": (small, zipfile.ZIP_DEFLATED, declared, None)},
        "model, stored params declaring 4 TiB": {
            "config.npy": (config, zipfile.ZIP_STORED, len(config), None),
            "params.npy": (small, zipfile.ZIP_STORED, declared, declared)},
        "model, config declaring 80 MB (over MAX_CONFIG_BYTES)": {
            "config.npy": (_npy_header("<U20000000", ()) + bytes(64), zipfile.ZIP_DEFLATED,
                           80_000_128, None)},
        "dataset, X_train declaring 4 TiB": {
            "X_train.npy": (x_head + bytes(4096), zipfile.ZIP_DEFLATED,
                            len(x_head) + 4 * 2**40, None),
            "y_train.npy": (y, zipfile.ZIP_STORED, len(y), None),
            "X_test.npy": (y, zipfile.ZIP_STORED, len(y), None),
            "y_test.npy": (y, zipfile.ZIP_STORED, len(y), None)},
    }


@pytest.mark.parametrize("reader", sorted(MODEL_READERS))
@pytest.mark.parametrize("bomb", sorted(_bombs()))
def test_zip_bombs_are_refused_before_allocating(tmp_path, reader, bomb):
    path = tmp_path / "bomb.npz"
    path.write_bytes(_zip(_bombs()[bomb]))
    assert path.stat().st_size < 4096
    tracemalloc.start()
    try:
        if reader == "io.read_config" and "params" in bomb:
            # read_config never reads the weights: the bomb is never opened
            assert _within(20, nio.read_config, path)["value"]["network"]["sizes"] == HUGE_SIZES
        else:
            exc = _raises(20, ValueError, MODEL_READERS[reader], path)
            assert repr(str(path)) in str(exc)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, f"{peak} bytes allocated before refusing"


def test_hand_built_archives_are_readable_when_honest(tmp_path):
    """The zip builder above makes archives nnc reads: the bombs fail for
    their sizes, not for the builder's format."""
    net = _network()
    path = tmp_path / "ok.npz"
    net.save(path)
    with np.load(path) as z:
        config, params = z["config"], z["params"]
    members = {
        "config.npy": (_npy_header(config.dtype, ()) + config.tobytes(),
                       zipfile.ZIP_DEFLATED, None, None),
        "params.npy": (_npy_header("<f8", params.shape) + params.tobytes(),
                       zipfile.ZIP_STORED, None, None)}
    members = {k: (p, m, len(p), c) for k, (p, m, _, c) in members.items()}
    path.write_bytes(_zip(members))
    np.testing.assert_array_equal(nnc.load(path).params, net.params)


@pytest.mark.parametrize("reader", sorted(MODEL_READERS))
def test_truncated_archives_at_many_lengths(tmp_path, reader):
    path = tmp_path / "m.npz"
    if reader == "datasets.load_npz":
        rng = np.random.default_rng(0)
        np.savez_compressed(path, X_train=rng.random((5, 3)), y_train=np.arange(5),
                            X_test=rng.random((2, 3)), y_test=np.arange(2))
    else:
        _network().save(path)
    blob = path.read_bytes()
    for n in sorted(set(np.linspace(0, len(blob) - 1, 60).astype(int))):
        path.write_bytes(blob[:n])
        _raises(10, (OSError, ValueError), MODEL_READERS[reader], path)


def test_every_reader_names_a_missing_path(tmp_path):
    path = tmp_path / "nope"
    for fn in (nnc.load, nio.read_config, datasets.load_npz, datasets.load_idx):
        exc = _raises(10, FileNotFoundError, fn, path)
        assert str(path) in str(exc)


# ---------------------------------------------------------------------------
# the other writers: ONNX export and plots
# ---------------------------------------------------------------------------
def _to_onnx(path):
    pytest.importorskip("onnx")
    _network().to_onnx(path)


def _plot(path):
    pytest.importorskip("matplotlib")
    from nnc.plot import learning_curves
    learning_curves({"loss": [1.0, 0.5]}, path)


OTHER_WRITERS = {"Network.to_onnx": _to_onnx, "plot.learning_curves": _plot}


@needs_posix
@pytest.mark.parametrize("writer", sorted(OTHER_WRITERS))
@pytest.mark.parametrize("kind", ["fifo", "symlink to fifo", "directory",
                                  "character device (a /dev/null node)"])
def test_other_writers_refuse_non_regular_targets(short_dir, writer, kind):
    path, target = NON_REGULAR[kind](short_dir)
    before = _snapshot(target)
    exc = _raises(30, OSError, OTHER_WRITERS[writer], path)
    assert repr(path) in str(exc)
    assert _snapshot(target) == before


@pytest.mark.parametrize("writer", sorted(OTHER_WRITERS))
def test_other_writers_into_missing_folder(tmp_path, writer):
    path = tmp_path / "missing_folder" / "out.png"
    exc = _raises(30, FileNotFoundError, OTHER_WRITERS[writer], path)
    assert repr(str(path)) in str(exc)


def test_read_errors_name_the_file(tmp_path, monkeypatch):
    path = tmp_path / "a.idx"
    path.write_bytes(_idx_head((4,)) + bytes(4))

    def failing_disk(fh, array, what):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(_files, "read_into", failing_disk)
    exc = _raises(10, OSError, datasets.load_idx, path)
    assert exc.errno == errno.EIO and repr(str(path)) in str(exc)
    model = tmp_path / "m.npz"
    monkeypatch.undo()
    _network().save(model)
    monkeypatch.setattr(_files, "read_into", failing_disk)
    exc = _raises(10, OSError, nnc.load, model)
    assert repr(str(model)) in str(exc)


def test_model_checkpoint_refuses_non_regular_targets_before_training(tmp_path):
    """A checkpoint onto a FIFO or a folder is refused when made, and a folder
    that vanished is refused before the first epoch, not after it."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for target in (fifo, tmp_path):
        with pytest.raises(OSError, match=str(target)):
            nnc.callbacks.ModelCheckpoint(target)
    gone = tmp_path / "gone"
    gone.mkdir()
    ckpt = nnc.callbacks.ModelCheckpoint(gone / "m.npz")
    gone.rmdir()
    net = nnc.Network([4, 3, 2], seed=0)
    before = net.params.copy()
    with pytest.raises(OSError, match="gone"):
        net.fit(np.zeros((8, 4)), np.zeros(8, dtype=int), epochs=1, callbacks=[ckpt], verbose=0)
    np.testing.assert_array_equal(net.params, before)
