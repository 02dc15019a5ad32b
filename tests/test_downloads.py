"""Downloads against a local HTTP server on 127.0.0.1, cache handling, and
load_dataset for names, IDX directories and .npz files."""
import ast
import dataclasses
import gzip
import hashlib
import http.server
import os
import socket
import struct
import sys
import threading

import numpy as np
import pytest

from nnc import datasets
from nnc import downloads as D


def _idx_bytes(array):
    """An IDX file (uint8) for ``array``, gzip-compressed."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", s) for s in array.shape)
    return gzip.compress(header + array.tobytes(), mtime=0)


@pytest.fixture(scope="module")
def fixture_files():
    """Tiny MNIST-style files: 12 training and 5 test images of 4x4 pixels."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (12, 4, 4)),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 3, 12),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (5, 4, 4)),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 3, 5),
    }
    return {name: _idx_bytes(a) for name, a in arrays.items()}, arrays


class _Handler(http.server.BaseHTTPRequestHandler):
    files = {}      # path -> bytes, set per server
    hits = None     # list of requested paths

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.hits.append(self.path)
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture
def server(fixture_files):
    """Serve the fixture files under /fashion-mnist/ on 127.0.0.1."""
    files, _ = fixture_files
    hits = []
    handler = type("Handler", (_Handler,), {
        "files": {f"/fashion-mnist/{k}": v for k, v in files.items()}, "hits": hits})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler, hits
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def registry(monkeypatch, fixture_files):
    """Point fashion-mnist's registry entry at the fixture files' digests."""
    pytest.importorskip("pooch")  # downloads need it; loading local files does not
    files, _ = fixture_files
    digests = {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}
    info = dataclasses.replace(D.REGISTRY["fashion-mnist"], sha256=digests,
                               urls=("http://127.0.0.1:9/unused/",))
    monkeypatch.setitem(D.REGISTRY, "fashion-mnist", info)
    monkeypatch.delenv("NNC_DATASET_MIRROR", raising=False)
    monkeypatch.delenv("NNC_DATA", raising=False)
    return info


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_registry_digests_are_well_formed():
    for info in D.REGISTRY.values():
        assert set(info.sha256) == set(D.FILES) == set(info.md5)
        assert all(len(h) == 64 and int(h, 16) >= 0 for h in info.sha256.values())
        assert all(len(h) == 32 for h in info.md5.values())
        assert len(info.classes) == 10 and info.urls


def test_cache_dir_precedence(monkeypatch, tmp_path):
    pytest.importorskip("pooch")  # the default comes from pooch.os_cache
    monkeypatch.setenv("NNC_DATA", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert D.cache_dir() == str(tmp_path / "a")
    assert D.cache_dir(tmp_path / "b") == str(tmp_path / "b")
    monkeypatch.delenv("NNC_DATA")
    assert D.cache_dir() == str(tmp_path / "x" / "nnc")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert D.cache_dir() == str(tmp_path / "home" / ".cache" / "nnc")


def test_download_success_then_cache_reuse(server, registry, tmp_path, fixture_files):
    url, _, hits = server
    directory = D.download("fashion-mnist", tmp_path, base_url=url + "/fashion-mnist/")
    assert directory == str(tmp_path / "fashion-mnist")
    assert sorted(os.listdir(directory)) == sorted(D.FILES)  # no temporary files left
    assert len(hits) == 4
    # Cached and valid: no second download, through load_dataset too.
    (X, y), (Xt, yt) = datasets.load_dataset("Fashion-MNIST", tmp_path,
                                      base_url=url + "/fashion-mnist/")
    assert len(hits) == 4
    _, arrays = fixture_files
    np.testing.assert_allclose(X, arrays["train-images-idx3-ubyte.gz"].reshape(12, 16) / 255.0,
                               rtol=1e-6)
    assert X.dtype == np.float32 and X.shape == (12, 16) and Xt.shape == (5, 16)
    np.testing.assert_array_equal(y, arrays["train-labels-idx1-ubyte.gz"])
    np.testing.assert_array_equal(yt, arrays["t10k-labels-idx1-ubyte.gz"])
    assert y.dtype == np.int64
    assert D.is_cached("fashion-mnist", tmp_path)


def test_mirror_environment_variable(server, registry, tmp_path, monkeypatch):
    url, _, hits = server
    monkeypatch.setenv("NNC_DATASET_MIRROR", url + "/")
    monkeypatch.setenv("NNC_DATA", str(tmp_path))
    D.download("fashion_mnist")
    assert sorted(hits) == sorted(f"/fashion-mnist/{f}" for f in D.FILES)
    assert D.is_cached("fashion-mnist")


def test_checksum_mismatch_deletes_file(server, registry, tmp_path, monkeypatch):
    url, handler, _ = server
    monkeypatch.setitem(handler.files, "/fashion-mnist/t10k-images-idx3-ubyte.gz",
                        b"not the published bytes")
    with pytest.raises(D.ChecksumError, match="SHA-256 mismatch"):
        D.download("fashion-mnist", tmp_path, base_url=url + "/fashion-mnist/")
    directory = tmp_path / "fashion-mnist"
    left = sorted(os.listdir(directory))
    assert "t10k-images-idx3-ubyte.gz" not in left
    assert not any(name.endswith(".part") for name in left)
    assert not D.is_cached("fashion-mnist", tmp_path)


def test_corrupt_cached_file_is_replaced(server, registry, tmp_path):
    url, _, hits = server
    D.download("fashion-mnist", tmp_path, base_url=url + "/fashion-mnist/")
    victim = tmp_path / "fashion-mnist" / "train-labels-idx1-ubyte.gz"
    victim.write_bytes(b"corrupted on disk")
    D.download("fashion-mnist", tmp_path, base_url=url + "/fashion-mnist/")
    assert len(hits) == 5 and hits[-1].endswith("train-labels-idx1-ubyte.gz")
    assert D.is_cached("fashion-mnist", tmp_path)


def test_server_down_gives_clear_offline_error(registry, tmp_path):
    base = f"http://127.0.0.1:{_free_port()}/fashion-mnist/"
    with pytest.raises(ConnectionError) as info:
        D.download("fashion-mnist", tmp_path, base_url=base, timeout=5)
    message = str(info.value)
    assert isinstance(info.value, D.DownloadError) and isinstance(info.value, OSError)
    assert base + "train-images-idx3-ubyte.gz" in message       # the URL tried
    assert str(tmp_path / "fashion-mnist") in message           # where to put files by hand
    assert os.listdir(tmp_path / "fashion-mnist") == []


def test_http_404_is_a_download_error(server, registry, tmp_path):
    url, _, _ = server
    with pytest.raises(D.DownloadError, match="404"):
        D.download("fashion-mnist", tmp_path, base_url=url + "/nowhere/")


def test_falls_back_to_the_next_url(server, registry, tmp_path, monkeypatch):
    url, _, hits = server
    dead = f"http://127.0.0.1:{_free_port()}/"
    info = dataclasses.replace(registry, urls=(dead, url + "/fashion-mnist/"))
    monkeypatch.setitem(D.REGISTRY, "fashion-mnist", info)
    D.download("fashion-mnist", tmp_path, timeout=5)
    assert len(hits) == 4 and D.is_cached("fashion-mnist", tmp_path)


def test_load_dataset_without_download_when_missing(registry, tmp_path):
    with pytest.raises(FileNotFoundError, match="not in the cache"):
        datasets.load_dataset("fashion-mnist", tmp_path, download=False)


def test_unknown_names_and_paths():
    with pytest.raises(ValueError, match="unknown dataset"):
        datasets.load_dataset("cifar10")
    with pytest.raises(ValueError, match="downloadable"):
        D.download("cifar10")
    with pytest.raises(FileNotFoundError):
        datasets.load_dataset("/no/such/dir/data.npz")
    with pytest.raises(TypeError):
        datasets.load_dataset(3)
    with pytest.raises(ValueError, match="timeout"):
        D.download("kmnist", timeout=0)


def test_load_dataset_mnist_is_bundled():
    (X, y), (Xt, yt) = datasets.load_dataset("mnist")
    assert X.shape == (60000, 784) and Xt.shape == (10000, 784)


def test_idx_directory_with_uncompressed_and_dotted_names(tmp_path, fixture_files):
    files, arrays = fixture_files
    for name, blob in files.items():
        stem = name[:-3]
        target = stem.replace("-idx", ".idx") if "t10k" in name else stem
        (tmp_path / target).write_bytes(gzip.decompress(blob))
    (X, y), (Xt, yt) = datasets.load_dataset(tmp_path)
    assert X.shape == (12, 16) and Xt.shape == (5, 16)
    np.testing.assert_array_equal(yt, arrays["t10k-labels-idx1-ubyte.gz"])


def test_idx_directory_missing_file(tmp_path, fixture_files):
    files, _ = fixture_files
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(files["train-images-idx3-ubyte.gz"])
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte"):
        datasets.load_dataset(str(tmp_path))


def test_npz_dataset(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "data.npz"
    np.savez(path, x_train=rng.integers(0, 256, (6, 3, 3), dtype=np.uint8),
             y_train=np.arange(6) % 2, X_test=rng.random((4, 9)), y_test=np.array([0, 1, 1, 0.0]))
    (X, y), (Xt, yt) = datasets.load_dataset(path)
    assert X.shape == (6, 9) and X.dtype == np.float32 and X.max() <= 1.0
    assert Xt.shape == (4, 9) and yt.dtype == np.int64
    np.savez(tmp_path / "bad.npz", X_train=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="y_train"):
        datasets.load_dataset(tmp_path / "bad.npz")
    np.savez(tmp_path / "frac.npz", X_train=np.zeros((2, 3)), y_train=[0.5, 1],
             X_test=np.zeros((1, 3)), y_test=[0])
    with pytest.raises(ValueError, match="fractional"):
        datasets.load_dataset(tmp_path / "frac.npz")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="not an .npz"):
        datasets.load_dataset(tmp_path / "notes.txt")


def test_remove(server, registry, tmp_path):
    url, _, _ = server
    D.download("fashion-mnist", tmp_path, base_url=url + "/fashion-mnist/")
    assert D.remove("fashion-mnist", tmp_path)
    assert not D.remove("fashion-mnist", tmp_path)


# ---------------------------------------------------------------------------
# pooch: the platform cache, forced downloads, progress; no import cycle
# ---------------------------------------------------------------------------
def test_default_cache_is_poochs_platform_cache(monkeypatch):
    pooch = pytest.importorskip("pooch")
    monkeypatch.delenv("NNC_DATA", raising=False)
    assert D.cache_dir() == str(pooch.os_cache("nnc"))


def test_forced_download_that_fails_keeps_the_cached_file(server, registry, tmp_path):
    url, _, hits = server
    D.download("fashion-mnist", tmp_path, base_url=url + "/fashion-mnist/")
    dead = f"http://127.0.0.1:{_free_port()}/fashion-mnist/"
    with pytest.raises(D.DownloadError):
        D.download("fashion-mnist", tmp_path, base_url=dead, force=True, timeout=5)
    assert D.is_cached("fashion-mnist", tmp_path)            # nothing lost
    assert sorted(os.listdir(tmp_path / "fashion-mnist")) == sorted(D.FILES)


def test_forced_download_fetches_again(server, registry, tmp_path):
    url, _, hits = server
    D.download("fashion-mnist", tmp_path, base_url=url + "/fashion-mnist/")
    D.download("fashion-mnist", tmp_path, base_url=url + "/fashion-mnist/", force=True)
    assert len(hits) == 8 and D.is_cached("fashion-mnist", tmp_path)
    assert sorted(os.listdir(tmp_path / "fashion-mnist")) == sorted(D.FILES)


def test_progress_reports_each_file(server, registry, tmp_path, capsys):
    url, _, _ = server
    D.download("fashion-mnist", tmp_path, base_url=url + "/fashion-mnist/", progress=True)
    err = capsys.readouterr().err
    for fname in D.FILES:
        assert f"Downloading {url}/fashion-mnist/{fname}" in err


def test_offline_error_names_every_file_and_the_folder(registry, tmp_path):
    base = f"http://127.0.0.1:{_free_port()}/"
    with pytest.raises(D.DownloadError) as info:
        D.download("fashion-mnist", tmp_path, base_url=base, timeout=5)
    for fname in D.FILES:
        assert fname in str(info.value)
    assert str(tmp_path / "fashion-mnist") in str(info.value)


def test_without_pooch_downloads_say_how_to_install(monkeypatch, tmp_path, registry):
    monkeypatch.setitem(sys.modules, "pooch", None)
    with pytest.raises(ImportError, match=r"nnc\[download\]"):
        D.download("fashion-mnist", tmp_path)
    monkeypatch.delenv("NNC_DATA", raising=False)
    with pytest.raises(ImportError, match="NNC_DATA|pooch"):
        D.cache_dir()


def test_cached_files_load_without_pooch(server, registry, tmp_path, monkeypatch):
    url, _, _ = server
    D.download("fashion-mnist", tmp_path, base_url=url + "/fashion-mnist/")
    monkeypatch.setitem(sys.modules, "pooch", None)
    (X, _), _ = datasets.load_dataset("fashion-mnist", tmp_path)
    assert X.shape == (12, 16)


def _imports(module):
    """Every nnc module ``module`` imports, at top level or inside functions."""
    tree = ast.parse(open(module.__file__).read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nnc"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("nnc"))
    return found


def test_no_import_cycle_between_datasets_and_downloads():
    from nnc import _files
    assert not {"nnc.datasets", "nnc.io", "nnc.network"} & _imports(D)
    assert not {"nnc.datasets", "nnc.downloads", "nnc.io"} & _imports(_files)
    assert "nnc.downloads" in _imports(datasets)
