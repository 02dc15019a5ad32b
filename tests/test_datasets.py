"""The IDX parser and the bundled MNIST files."""
import gzip
import hashlib
import os

import numpy as np
import pytest

from nnc import datasets

# Uncompressed sha256 of the canonical files (../shared/data/mnist/README.md).
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz":
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte.gz":
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte.gz":
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz":
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
MNIST_SHAPES = {
    "train-images-idx3-ubyte.gz": (60000, 28, 28),
    "train-labels-idx1-ubyte.gz": (60000,),
    "t10k-images-idx3-ubyte.gz": (10000, 28, 28),
    "t10k-labels-idx1-ubyte.gz": (10000,),
}
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def idx_bytes(arr, type_code):
    """Encode ``arr`` as IDX: magic, big-endian int32 dims, big-endian data."""
    be = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    arr = np.asarray(arr)
    head = bytes([0, 0, type_code, arr.ndim])
    head += b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return head + arr.astype(be[type_code]).tobytes()


# ---------------------------------------------------------------------------
# the bundled MNIST
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(MNIST_SHA256))
def test_bundled_files_are_the_canonical_ones(name):
    path = os.path.join(datasets.MNIST_DIR, name)
    with open(path, "rb") as fh:
        raw = gzip.decompress(fh.read())
    assert hashlib.sha256(raw).hexdigest() == MNIST_SHA256[name]
    arr = datasets.parse_idx(raw)
    assert arr.shape == MNIST_SHAPES[name] and arr.dtype == np.uint8
    np.testing.assert_array_equal(datasets.load_idx(path), arr)


def test_load_mnist(mnist):
    (X, y), (Xt, yt) = mnist
    assert X.shape == (60000, 784) and Xt.shape == (10000, 784)
    assert X.dtype == np.float32 and Xt.dtype == np.float32
    assert y.dtype == np.int64 and yt.dtype == np.int64
    assert y.shape == (60000,) and yt.shape == (10000,)
    assert X.min() == 0.0 and X.max() == 1.0 and Xt.min() == 0.0 and Xt.max() == 1.0
    assert np.bincount(y).tolist() == TRAIN_COUNTS
    assert np.bincount(yt).tolist() == TEST_COUNTS
    raw = datasets.load_idx(os.path.join(datasets.MNIST_DIR, "t10k-images-idx3-ubyte.gz"))
    np.testing.assert_array_equal(Xt, raw.reshape(10000, 784).astype(np.float32) / 255)
    # digits are mostly background: the sparse first layer's regime
    assert np.count_nonzero(X[:1000]) / X[:1000].size < 0.25


def test_data_dir_and_attribution():
    assert os.path.isdir(datasets.DATA_DIR)
    assert datasets.MNIST_DIR.startswith(datasets.DATA_DIR)
    assert sorted(os.listdir(datasets.MNIST_DIR)) >= sorted(MNIST_SHA256)


def test_load_mnist_from_a_directory(tmp_path, rng):
    imgs = rng.integers(0, 256, (5, 4, 3), dtype=np.uint8)
    labels = np.array([0, 9, 3, 3, 1], dtype=np.uint8)
    test_imgs, test_labels = imgs[:2], labels[:2]
    for name, arr in [("train-images-idx3-ubyte.gz", imgs), ("train-labels-idx1-ubyte.gz", labels),
                      ("t10k-images-idx3-ubyte.gz", test_imgs),
                      ("t10k-labels-idx1-ubyte.gz", test_labels)]:
        (tmp_path / name).write_bytes(gzip.compress(idx_bytes(arr, 0x08)))
    (X, y), (Xt, yt) = datasets.load_mnist(tmp_path)
    np.testing.assert_array_equal(X, imgs.reshape(5, 12).astype(np.float32) / 255)
    np.testing.assert_array_equal(y, labels)
    assert Xt.shape == (2, 12) and yt.tolist() == [0, 9]
    os.remove(tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(FileNotFoundError):
        datasets.load_mnist(tmp_path)


# ---------------------------------------------------------------------------
# valid IDX files of every type
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("type_code,dtype", [(0x08, np.uint8), (0x09, np.int8),
                                             (0x0B, np.int16), (0x0C, np.int32),
                                             (0x0D, np.float32), (0x0E, np.float64)])
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 2), (1, 1, 1, 5)])
def test_parse_every_type(type_code, dtype, shape, rng):
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    if info is not None:
        arr = rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)
    else:
        arr = (rng.standard_normal(shape) * 1e3).astype(dtype)
    out = datasets.parse_idx(idx_bytes(arr, type_code))
    assert out.shape == shape
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


@pytest.mark.parametrize("compress", [False, True])
def test_load_idx_plain_and_gzip(tmp_path, compress):
    arr = np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 7
    raw = idx_bytes(arr, 0x0C)
    path = tmp_path / "a.idx"
    path.write_bytes(gzip.compress(raw) if compress else raw)
    np.testing.assert_array_equal(datasets.load_idx(path), arr)
    np.testing.assert_array_equal(datasets.load_idx(str(path)), arr)


def test_load_images_labels(tmp_path):
    imgs = np.arange(2 * 3 * 2, dtype=np.uint8).reshape(2, 3, 2) * 20
    (tmp_path / "i").write_bytes(idx_bytes(imgs, 0x08))
    (tmp_path / "l").write_bytes(idx_bytes(np.array([4, 2], np.uint8), 0x08))
    X, y = datasets.load_images_labels(tmp_path / "i", tmp_path / "l")
    assert X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(X, imgs.reshape(2, 6) / 255.0, rtol=1e-7)
    assert y.tolist() == [4, 2]
    # labels that do not match the images
    (tmp_path / "l3").write_bytes(idx_bytes(np.array([4, 2, 1], np.uint8), 0x08))
    with pytest.raises(ValueError):
        datasets.load_images_labels(tmp_path / "i", tmp_path / "l3")
    (tmp_path / "l2d").write_bytes(idx_bytes(np.zeros((2, 1), np.uint8), 0x08))
    with pytest.raises(ValueError):
        datasets.load_images_labels(tmp_path / "i", tmp_path / "l2d")
    with pytest.raises(ValueError):  # 1-D "images"
        datasets.load_images_labels(tmp_path / "l", tmp_path / "l")


# ---------------------------------------------------------------------------
# malformed IDX files
# ---------------------------------------------------------------------------
GOOD = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4), 0x08)

MALFORMED = {
    "empty": b"",
    "three bytes": b"\x00\x00\x08",
    "bad magic byte 0": b"\x01" + GOOD[1:],
    "bad magic byte 1": GOOD[:1] + b"\x08" + GOOD[2:],
    "little-endian magic": b"\x03\x08\x00\x00" + GOOD[4:],
    "unknown type 0x07": GOOD[:2] + b"\x07" + GOOD[3:],
    "unknown type 0x0a": GOOD[:2] + b"\x0a" + GOOD[3:],
    "unknown type 0xff": GOOD[:2] + b"\xff" + GOOD[3:],
    "zero dimensions": GOOD[:3] + b"\x00" + GOOD[4:],
    "one dimension too many": GOOD[:3] + b"\x03" + GOOD[4:],
    "one dimension too few": GOOD[:3] + b"\x01" + GOOD[4:],
    "truncated header": GOOD[:9],
    "truncated data": GOOD[:-1],
    "no data": GOOD[:12],
    "extra byte": GOOD + b"\x00",
    "extra kilobyte": GOOD + bytes(1024),
    "wrong dimension size": GOOD[:4] + (4).to_bytes(4, "big") + GOOD[8:],
    "int32 data of odd length": bytes([0, 0, 0x0C, 1]) + (3).to_bytes(4, "big") + bytes(11),
    "huge dimensions": bytes([0, 0, 0x08, 3]) + b"\xff\xff\xff\xff" * 3 + bytes(10),
    # 2**16 ** 4 == 2**64: a product computed in wrapping 64-bit ints would be 0
    "dimensions overflowing int64": bytes([0, 0, 0x08, 4]) + (2**16).to_bytes(4, "big") * 4,
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_parse_idx_rejects_malformed(case):
    with pytest.raises(ValueError):
        datasets.parse_idx(MALFORMED[case])


@pytest.mark.parametrize("case", sorted(MALFORMED))
@pytest.mark.parametrize("compress", [False, True])
def test_load_idx_rejects_malformed(tmp_path, case, compress):
    path = tmp_path / "bad.idx"
    raw = MALFORMED[case]
    path.write_bytes(gzip.compress(raw) if compress else raw)
    with pytest.raises(ValueError):
        datasets.load_idx(path)


def _corrupt_gzips():
    gz = gzip.compress(GOOD * 1 + bytes(range(256)) * 4)  # some data to deflate
    body = bytearray(gz)
    for i in range(12, len(body) - 8):
        body[i] ^= 0x5A  # garble the deflate stream, keep the gzip header
    crc = bytearray(gz)
    crc[-8] ^= 0xFF
    size = bytearray(gz)
    size[-1] ^= 0x01
    return {
        "garbled deflate stream": bytes(body),
        "truncated stream": gz[:-12],
        "header only": gz[:10],
        "bad crc": bytes(crc),
        "bad length": bytes(size),
        "gzip magic then garbage": b"\x1f\x8b" + bytes(range(200)),
    }


@pytest.mark.parametrize("case", sorted(_corrupt_gzips()))
def test_corrupt_gzip_raises_value_error(tmp_path, case):
    path = tmp_path / "bad.gz"
    path.write_bytes(_corrupt_gzips()[case])
    with pytest.raises(ValueError):
        datasets.load_idx(path)


def test_missing_idx_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        datasets.load_idx(tmp_path / "nope.idx")
