"""Saving and loading models: round trips, atomic saves, and damaged files."""
import json
import os

import numpy as np
import pytest

import nnc
from nnc import io as nio

LOAD_ERRORS = (OSError, ValueError)


def trained(dtype="float64", **kw):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 6)), rng.integers(0, 3, 30)
    net = nnc.Network([6, 5, 4, 3], dtype=dtype, seed=42, **kw)
    net.fit(X, y, epochs=2, batch_size=8, lr=0.3, verbose=0, validation_data=(X, y))
    return net, X


def saved_arrays(path):
    with np.load(path, allow_pickle=False) as z:
        return z["params"], json.loads(str(z["config"]))


def write_npz(path, params, config):
    with open(path, "wb") as fh:
        np.savez(fh, params=params, config=np.array(json.dumps(config)))


# ---------------------------------------------------------------------------
# round trip
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kw", [
    {},
    dict(activation=["tanh", "relu", "softmax"], loss="categorical_crossentropy", init="he"),
    dict(activation="gelu", output_activation="sigmoid", loss="binary_crossentropy",
         dropout=[0.2, 0.1], init="xavier"),
])
def test_round_trip(tmp_path, dtype, kw):
    net, X = trained(dtype, **kw)
    path = tmp_path / "model.npz"
    meta = {"note": "unit test", "n": 3, "nested": {"a": [1, 2.5, None]}}
    net.save(path, metadata=meta)
    back = nnc.load(path)
    assert type(back) is nnc.Network
    assert back.get_config() == net.get_config()
    assert back.sizes == net.sizes and back.activations == net.activations
    assert back.loss == net.loss and back.dtype == net.dtype
    assert back.params.dtype == net.params.dtype
    np.testing.assert_array_equal(back.params, net.params)
    for W, W2 in zip(net.weights, back.weights, strict=True):
        np.testing.assert_array_equal(W, W2)
    np.testing.assert_array_equal(back.forward(X), net.forward(X))
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    assert back.history == net.history and len(back.history["val_loss"]) == 2
    assert back.metadata == meta
    # the loaded network's views are live, like a new network's
    back.weights[0][...] = 0
    assert not np.array_equal(back.forward(X), net.forward(X))


def test_read_config_without_weights(tmp_path):
    net, _ = trained()
    path = tmp_path / "m.npz"
    net.save(str(path), metadata={"k": "v"})
    cfg = nio.read_config(path)
    assert cfg["format"] == nio.FORMAT and cfg["format_version"] == nio.FORMAT_VERSION
    assert cfg["network"] == net.get_config()
    assert cfg["metadata"] == {"k": "v"}
    assert cfg["history"] == net.history
    assert cfg["nnc_version"] == nnc.__version__
    assert cfg["n_params"] == net.params.size


def test_loaded_network_keeps_training(tmp_path):
    net, X = trained()
    y = np.arange(len(X)) % 3
    net.save(tmp_path / "m.npz")
    back = nnc.load(tmp_path / "m.npz")
    back.fit(X, y, epochs=1, lr=0.1, verbose=0)
    assert len(back.history["loss"]) == 3


def test_saved_file_is_plain_npz_without_pickle(tmp_path):
    net, _ = trained()
    path = tmp_path / "m.npz"
    net.save(path)
    params, config = saved_arrays(path)  # allow_pickle=False succeeds
    np.testing.assert_array_equal(params, net.params)
    assert config["network"]["sizes"] == [6, 5, 4, 3]


# ---------------------------------------------------------------------------
# atomic saves
# ---------------------------------------------------------------------------
def test_save_leaves_no_temporary_files(tmp_path):
    net, _ = trained()
    path = tmp_path / "m.npz"
    net.save(path)
    net.save(path)  # overwriting works too
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]


def test_failed_save_keeps_previous_file(tmp_path, monkeypatch):
    net, X = trained()
    path = tmp_path / "m.npz"
    net.save(path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(nio.np, "savez", boom)
    net.params[...] += 1.0
    with pytest.raises(OSError, match="simulated"):
        net.save(path)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]
    assert path.read_bytes() == before


def test_unserialisable_metadata(tmp_path):
    net, _ = trained()
    with pytest.raises(TypeError):
        net.save(tmp_path / "m.npz", metadata={"f": object()})
    with pytest.raises(TypeError):
        net.save(tmp_path / "m.npz", metadata=["not", "a", "dict"])
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------
# damaged and hostile files
# ---------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        nnc.load(tmp_path / "nope.npz")
    with pytest.raises(FileNotFoundError):
        nio.read_config(tmp_path / "nope.npz")


def test_directory(tmp_path):
    with pytest.raises(LOAD_ERRORS):
        nnc.load(tmp_path)


@pytest.mark.parametrize("keep", [0, 10, 100, 0.5, -30, -1])
def test_truncated_file(tmp_path, keep):
    net, _ = trained()
    path = tmp_path / "m.npz"
    net.save(path)
    raw = path.read_bytes()
    n = int(len(raw) * keep) if isinstance(keep, float) else keep
    path.write_bytes(raw[:n])
    with pytest.raises(LOAD_ERRORS):
        nnc.load(path)


@pytest.mark.parametrize("content", [b"", b"hello world\n", bytes(range(256)) * 20,
                                     b"PK\x03\x04" + b"\x00" * 200])
def test_garbage_file(tmp_path, content):
    path = tmp_path / "m.npz"
    path.write_bytes(content)
    with pytest.raises(LOAD_ERRORS):
        nnc.load(path)
    with pytest.raises(LOAD_ERRORS):
        nio.read_config(path)


def test_corrupted_bytes_inside_archive(tmp_path):
    net, _ = trained()
    path = tmp_path / "m.npz"
    net.save(path)
    raw = bytearray(path.read_bytes())
    for i in range(200, len(raw) - 200, 37):  # flip bytes in the members' data
        raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(LOAD_ERRORS):
        nnc.load(path)


def test_wrong_params_shape(tmp_path):
    net, _ = trained()
    path = tmp_path / "m.npz"
    net.save(path)
    params, config = saved_arrays(path)
    for bad in (params[:-1], np.append(params, 0.0), params.reshape(1, -1), params[:1]):
        write_npz(path, bad, config)
        with pytest.raises(ValueError):
            nnc.load(path)


def test_wrong_sizes_in_config(tmp_path):
    net, _ = trained()
    path = tmp_path / "m.npz"
    net.save(path)
    params, config = saved_arrays(path)
    for sizes in ([6, 5, 4, 2], [6, 5, 4], [6], [6, -5, 3], "6,5,3", [6, 5.5, 4, 3]):
        cfg = json.loads(json.dumps(config))
        cfg["network"]["sizes"] = sizes
        write_npz(path, params, cfg)
        with pytest.raises(ValueError):
            nnc.load(path)


@pytest.mark.parametrize("bad_dtype", [np.float32, np.int64, np.complex128, np.bool_])
def test_wrong_params_dtype(tmp_path, bad_dtype):
    net, _ = trained("float64")
    path = tmp_path / "m.npz"
    net.save(path)
    params, config = saved_arrays(path)
    write_npz(path, params.astype(bad_dtype), config)
    with pytest.raises(ValueError):
        nnc.load(path)


def test_non_finite_params(tmp_path):
    net, _ = trained()
    path = tmp_path / "m.npz"
    net.save(path)
    params, config = saved_arrays(path)
    params = params.copy()
    params[3] = np.nan
    write_npz(path, params, config)
    with pytest.raises(ValueError):
        nnc.load(path)


@pytest.mark.parametrize("change", [
    {"format_version": 99}, {"format_version": "1"}, {"format_version": True},
    {"format_version": None}, {"format": "something-else"},
])
def test_unknown_format(tmp_path, change):
    net, _ = trained()
    path = tmp_path / "m.npz"
    net.save(path)
    params, config = saved_arrays(path)
    config.update(change)
    write_npz(path, params, config)
    with pytest.raises(ValueError):
        nnc.load(path)
    with pytest.raises(ValueError):
        nio.read_config(path)


@pytest.mark.parametrize("change", [
    {"network": [6, 5, 4, 3]}, {"network": "6-5-4-3"}, {"history": [1.0]},
    {"metadata": "none"}, {"kind": ["network"]}, {"n_params": "many"}, {"n_params": 1.5},
])
def test_sections_of_the_wrong_json_type(tmp_path, change):
    net, _ = trained()
    path = tmp_path / "m.npz"
    net.save(path)
    params, config = saved_arrays(path)
    config.update(change)
    write_npz(path, params, config)
    key = next(iter(change))
    for reader in (nnc.load, nio.read_config):
        with pytest.raises(ValueError, match=key):
            reader(path)


@pytest.mark.parametrize("field,value", [
    ("activation", "nope"), ("loss", "nope"), ("dtype", "int8"), ("loss", 3),
    ("dropout", [0.5]), ("seed", -1), ("init", "nope"),
])
def test_invalid_network_config(tmp_path, field, value):
    net, _ = trained()
    path = tmp_path / "m.npz"
    net.save(path)
    params, config = saved_arrays(path)
    config["network"][field] = value
    write_npz(path, params, config)
    with pytest.raises(ValueError):
        nnc.load(path)


def test_missing_members_and_bad_config(tmp_path):
    net, _ = trained()
    path = tmp_path / "m.npz"
    net.save(path)
    params, config = saved_arrays(path)
    with open(path, "wb") as fh:
        np.savez(fh, params=params)
    with pytest.raises(ValueError):
        nnc.load(path)
    with open(path, "wb") as fh:
        np.savez(fh, config=np.array(json.dumps(config)))
    with pytest.raises(ValueError):
        nnc.load(path)
    for cfg in (np.array("{not json"), np.array(json.dumps([1, 2])),
                np.array([json.dumps(config)]), np.frombuffer(b"abc", np.uint8)):
        with open(path, "wb") as fh:
            np.savez(fh, params=params, config=cfg)
        with pytest.raises(ValueError):
            nnc.load(path)


def _touch(path):  # what unpickling _Trap would run
    with open(path, "w") as fh:
        fh.write("unpickled!")
    return 0.0


class _Trap:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (_touch, (self.path,))


@pytest.mark.parametrize("member", ["params", "config"])
def test_object_arrays_are_never_unpickled(tmp_path, member):
    net, _ = trained()
    path = tmp_path / "m.npz"
    net.save(path)
    params, config = saved_arrays(path)
    marker = str(tmp_path / "pwned")
    arrays = {"params": params, "config": np.array(json.dumps(config))}
    arrays[member] = np.array([_Trap(marker)] * 3, dtype=object)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)  # pickles the object array
    with pytest.raises(ValueError):
        nnc.load(path)
    if member == "config":
        with pytest.raises(ValueError):
            nio.read_config(path)
    else:  # read_config never touches the weights
        assert nio.read_config(path)["network"] == config["network"]
    assert not os.path.exists(marker)
