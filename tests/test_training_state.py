"""State from elsewhere is checked where the engine takes it, and a refused
call changes nothing (issue 11, section 3).

- Every array the engine writes (parameters, gradients, optimizer state,
  outputs) is checked when it is handed over: a read-only, misaligned,
  non-contiguous, wrongly typed or wrongly sized array is a ValueError or
  TypeError naming it, never a crash.
- Unpickling gives a network that owns writeable arrays, optimizer state
  included, even from a read-only memory map (joblib.load(mmap_mode="r")).
- A fit/partial_fit that stops at a non-finite input row or diverges leaves
  the parameters, the optimizer's state and step count and the shuffling
  generator as they were: the next partial_fit equals one on a network that
  never saw the failed call.
"""
import pickle

import numpy as np
import pytest
import scipy.sparse as sp

import nnc
from nnc import optimizers as O
from nnc._engine import Engine

OPTIMIZERS = {
    "momentum": lambda: O.SGD(lr=0.05, momentum=0.9),
    "nesterov": lambda: O.SGD(lr=0.05, momentum=0.9, nesterov=True, l2=0.01),
    "adam": lambda: O.Adam(lr=0.01),
    "rmsprop": lambda: O.RMSprop(lr=0.01, l2=0.001),
}


def data(n=40, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * (rng.random((n, d)) < 0.6)  # some zeros: sparse paths
    return X, rng.integers(0, 3, n)


def make_net(dtype, seed=4, output="softmax"):
    loss = "categorical_crossentropy" if output == "softmax" else "quadratic"
    return nnc.Network([6, 5, 3], activation="relu", output_activation=output,
                       loss=loss, dtype=dtype, seed=seed, init="he")


def assert_same_state(a, b):
    np.testing.assert_array_equal(a.params, b.params)
    assert type(a.optimizer) is type(b.optimizer)
    assert a.optimizer.get_config() == b.optimizer.get_config()
    assert a.optimizer.iterations == b.optimizer.iterations
    for sa, sb in zip(a.optimizer.states, b.optimizer.states, strict=True):
        np.testing.assert_array_equal(sa, sb)
    assert a.history == b.history or [len(v) for v in a.history.values()] == \
        [len(v) for v in b.history.values()]


def _as_input(X, kind):
    return sp.csr_matrix(X) if kind == "csr" else X


# ---------------------------------------------------------------------------
# a refused call changes nothing
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
@pytest.mark.parametrize("kind", ["dense", "compact", "csr"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nan_found_mid_epoch_leaves_network_and_optimizer_untouched(dtype, kind, opt):
    X, y = data()
    bad = X.copy()
    bad[33, 2] = np.nan  # batch 17 of 20: the first spans have trained already
    kw = dict(batch_size=2, verbose=0, threads=1, sparse=kind != "dense")
    a, b = make_net(dtype), make_net(dtype)
    for net in (a, b):
        net.fit(_as_input(X, kind), y, epochs=1, optimizer=OPTIMIZERS[opt](), **kw)
    moved = [s.copy() for s in a.optimizer.states]
    with pytest.raises(ValueError, match="NaN or infinity"):
        a.partial_fit(_as_input(bad, kind), y, epochs=2, **kw)
    assert all(np.array_equal(s, m) for s, m in zip(a.optimizer.states, moved, strict=True))
    # the next call (shuffled: the generator was restored too) equals the clean one
    ha = a.partial_fit(_as_input(X, kind), y, epochs=2, **kw)
    hb = b.partial_fit(_as_input(X, kind), y, epochs=2, **kw)
    assert ha["loss"] == hb["loss"]
    assert_same_state(a, b)


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
@pytest.mark.parametrize("kind", ["dense", "csr"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_divergence_leaves_network_and_optimizer_untouched(dtype, kind, opt):
    X, y = data()
    # inputs so large that the first batch's (quadratic) cost overflows
    huge = X * (1e20 if dtype == "float32" else 1e200)
    kw = dict(batch_size=4, verbose=0, threads=1)
    a, b = make_net(dtype, output="identity"), make_net(dtype, output="identity")
    for net in (a, b):
        net.fit(_as_input(X, kind), y, epochs=1, optimizer=OPTIMIZERS[opt](), **kw)
    with pytest.raises(nnc.DivergenceError, match="epoch 1"):
        a.partial_fit(_as_input(huge, kind), y, **kw)
    ha = a.partial_fit(_as_input(X, kind), y, epochs=2, **kw)
    hb = b.partial_fit(_as_input(X, kind), y, epochs=2, **kw)
    assert ha["loss"] == hb["loss"]
    assert_same_state(a, b)


def test_a_failed_fit_with_a_new_optimizer_keeps_the_old_one():
    X, y = data()
    bad = X.copy()
    bad[-1, 0] = np.inf
    net = make_net("float64")
    net.fit(X, y, epochs=1, batch_size=4, optimizer="adam", verbose=0)
    adam, t = net.optimizer, net.optimizer.iterations
    with pytest.raises(ValueError, match="NaN or infinity"):
        net.fit(bad, y, batch_size=4, optimizer="rmsprop", verbose=0)
    assert net.optimizer is adam and adam.iterations == t
    with pytest.raises(ValueError, match="NaN or infinity"):
        net.partial_fit(bad, y, batch_size=4, lr=0.5, verbose=0)
    assert adam.lr == 0.001  # the new learning rate was not kept either


# ---------------------------------------------------------------------------
# arrays handed to the engine
# ---------------------------------------------------------------------------
def _engine(dtype=np.float64):
    net = make_net(np.dtype(dtype).name)
    return net, net._engine(4, 0, 1)


def _misaligned(n, dtype):
    raw = np.zeros(n * np.dtype(dtype).itemsize + 1, np.uint8)
    arr = raw[1:].view(dtype)
    assert not arr.flags.aligned
    return arr


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_engine_refuses_arrays_it_cannot_write(dtype):
    net, engine = _engine(dtype)
    n = net.params.size
    other = np.float64 if dtype == np.float32 else np.float32
    read_only = np.zeros(n, dtype)
    read_only.flags.writeable = False
    bad = [
        (read_only, ValueError, "read-only"),
        (np.zeros(n, other), ValueError, "dtype"),
        (np.zeros(n + 1, dtype), ValueError, f"{n} values"),
        (np.zeros(2 * n, dtype)[::2], ValueError, "C-contiguous"),
        (_misaligned(n, dtype), ValueError, "aligned"),
        ([0.0] * n, TypeError, "NumPy array"),
    ]
    for arr, exc, match in bad:
        with pytest.raises(exc, match="grads.*" + match):
            engine.set_optimizer(O.CODES["sgd"], arr, lr=0.1)
        with pytest.raises(exc, match="optimizer state 0.*" + match):
            engine.set_optimizer(O.CODES["rmsprop"], np.zeros(n, dtype), [arr], lr=0.1)
        with pytest.raises(exc, match="optimizer state 1.*" + match):
            engine.set_optimizer(O.CODES["adam"], np.zeros(n, dtype),
                                 [np.zeros(n, dtype), arr], lr=0.1)
    with pytest.raises(ValueError, match="needs 2 state buffers"):
        engine.set_optimizer(O.CODES["adam"], np.zeros(n, dtype), [np.zeros(n, dtype)], lr=0.1)
    with pytest.raises(ValueError, match="unknown optimizer code"):
        engine.set_optimizer(9, np.zeros(n, dtype), lr=0.1)


def test_engine_refuses_read_only_parameters_and_running_unprepared():
    net, engine = _engine()
    with pytest.raises(ValueError, match="set_data and set_order"):
        engine.train(0, 1, apply_update=True, fused=True)
    params = net.params.copy()
    params.flags.writeable = False
    ro = Engine(params, net.sizes, net._act_codes(), 0, net._w_off, net._b_off, 4)
    with pytest.raises(ValueError, match="params is read-only"):
        ro.set_optimizer(O.CODES["sgd"], None, lr=0.1)
    with pytest.raises(ValueError, match="smaller than the layout"):
        Engine(params[:-1], net.sizes, net._act_codes(), 0, net._w_off, net._b_off, 4)
    net.fit(*data(), verbose=0)  # and the engine that fit sets up runs
    X, y = data()
    engine.set_data(x=X, labels=y)
    engine.set_order(np.arange(len(X), dtype=np.int64), 4)
    with pytest.raises(ValueError, match="gradient buffer"):
        engine.train(0, 1, apply_update=False)
    with pytest.raises(ValueError, match="gradient and state buffers"):
        engine.apply()
    with pytest.raises(ValueError, match="out must"):
        engine.forward(np.zeros((len(X), 2)), net.n_layers)


def test_engine_refuses_a_bad_sample_order():
    net, engine = _engine()
    X, y = data()
    with pytest.raises(ValueError, match="set_data comes before set_order"):
        engine.set_order(np.arange(4, dtype=np.int64), 4)
    engine.set_data(x=X, labels=y)
    for order, match in [(np.array([0, 1, len(X)]), "outside"), (np.array([-1, 0]), "outside"),
                         (np.arange(4, dtype=np.int32), "int64"),
                         (np.arange(8, dtype=np.int64)[::2], "C-contiguous")]:
        with pytest.raises(ValueError, match=match):
            engine.set_order(order, 4)
    engine.set_order(np.arange(len(X), dtype=np.int64)[::-1].copy(), 4)  # any permutation


def test_tampered_optimizer_state_is_refused_not_written():
    X, y = data()
    net = make_net("float64")
    net.fit(X, y, batch_size=4, optimizer="adam", verbose=0)
    m = net.optimizer._states[0]
    m.flags.writeable = False
    before = net.params.copy()
    with pytest.raises(ValueError, match="optimizer state 0 is read-only"):
        net.partial_fit(X, y, batch_size=4, verbose=0)
    np.testing.assert_array_equal(net.params, before)


# ---------------------------------------------------------------------------
# unpickled networks own their arrays
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_network_loaded_from_a_read_only_memmap_trains(tmp_path, opt):
    joblib = pytest.importorskip("joblib")
    X, y = data()
    net = make_net("float64")
    net.fit(X, y, batch_size=4, optimizer=OPTIMIZERS[opt](), verbose=0)
    path = tmp_path / "net.joblib"
    joblib.dump(net, path)
    loaded = joblib.load(path, mmap_mode="r")
    for arr in [loaded.params] + loaded.optimizer.states:
        assert arr.flags.writeable and not isinstance(arr, np.memmap)
    h1 = loaded.partial_fit(X, y, batch_size=4, verbose=0)
    h2 = net.partial_fit(X, y, batch_size=4, verbose=0)
    assert h1["loss"] == h2["loss"]
    assert_same_state(loaded, net)


def test_pickle_round_trip_continues_training_exactly():
    X, y = data()
    net = make_net("float32")
    net.fit(X, y, batch_size=4, optimizer="adam", verbose=0)
    copy = pickle.loads(pickle.dumps(net))
    assert copy.optimizer is not net.optimizer
    assert not any(np.shares_memory(a, b) for a, b in
                   zip(copy.optimizer.states, net.optimizer.states, strict=True))
    copy.partial_fit(X, y, batch_size=4, verbose=0)
    net.partial_fit(X, y, batch_size=4, verbose=0)
    assert_same_state(copy, net)


def test_sklearn_estimator_from_a_read_only_memmap_partial_fits(tmp_path):
    joblib = pytest.importorskip("joblib")
    pytest.importorskip("sklearn")
    from nnc.sklearn import MLPClassifier
    X, y = data(n=60)
    clf = MLPClassifier(hidden_layer_sizes=(5,), random_state=0, threads=1)
    clf.partial_fit(X, y, classes=np.arange(3))
    joblib.dump(clf, tmp_path / "clf.joblib")
    loaded = joblib.load(tmp_path / "clf.joblib", mmap_mode="r")
    loaded.partial_fit(X, y)
    clf.partial_fit(X, y)
    np.testing.assert_array_equal(loaded.network_.params, clf.network_.params)
