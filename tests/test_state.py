"""The network's state has one owner (issue 15).

Every public way of changing a model -- item and whole assignment of
``weights``/``biases``, assigning ``params``, writing into the views,
training, loading, pickling, copying -- leaves ``forward``, ``gradients``,
``save`` and the attributes describing the same network; every way of
breaking it (a wrong shape, NaN, a new architecture) raises and changes
nothing.  Both dtypes, Network and Perceptron.
"""
import copy
import operator
import pickle

import joblib
import numpy as np
import pytest

import nnc
from nnc import io as nio

SIZES = (5, 4, 3, 2)
DTYPES = ["float32", "float64"]


def make_net(dtype, seed=0):
    return nnc.Network(SIZES, activation=["tanh", "relu", "softmax"],
                       loss="categorical_crossentropy", dtype=dtype, seed=seed)


def make_data(n=12, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, SIZES[0])), rng.integers(0, SIZES[-1], n)


def flat_from_layers(net):
    """The flat buffer as the documented layout says it is: W^l^T, then b^l."""
    return np.concatenate([np.r_[np.asarray(W).T.ravel(), b]
                           for W, b in zip(net.weights, net.biases, strict=True)])


def assert_agree(net, reference, tmp_path, X, y):
    """forward, gradients, save/load, pickle and the attributes tell one story."""
    tol = dict(rtol=2e-4, atol=2e-5) if net.dtype == np.float32 else dict(rtol=1e-9,
                                                                          atol=1e-12)
    np.testing.assert_array_equal(flat_from_layers(net), net.params)
    ref = reference.Net(net)
    out = net.forward(X)
    np.testing.assert_allclose(out, ref.forward(X)[1][-1], **tol)
    dW, db = net.gradients(X, y)
    rW, rb = ref.gradients(X, reference.one_hot(y, SIZES[-1]))
    for got, want in zip(dW + db, rW + rb, strict=True):
        np.testing.assert_allclose(got, want, **tol)
    path = tmp_path / "m.npz"
    net.save(path)
    for back in (nnc.load(path), pickle.loads(pickle.dumps(net)), copy.deepcopy(net)):
        assert type(back) is type(net) and back.get_config() == net.get_config()
        np.testing.assert_array_equal(back.params, net.params)
        np.testing.assert_array_equal(back.forward(X), out)


# ---------------------------------------------------------------------------
# assignments that work
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_weight_item_assignment_is_the_networks_state(dtype, reference, tmp_path):
    """The tutorials' ``net.weights[0] = W`` reaches forward, gradients and save."""
    net, (X, y) = make_net(dtype), make_data()
    rng = np.random.default_rng(7)
    W = rng.standard_normal((4, 5))         # float64, also into a float32 network
    b = rng.standard_normal(3).tolist()     # a list works too
    net.weights[0] = W
    net.biases[1] = b
    np.testing.assert_array_equal(net.weights[0], W.astype(dtype))
    np.testing.assert_array_equal(net.biases[1], np.asarray(b, dtype))
    net.weights[-1] = np.ones((2, 3), dtype=np.int64)    # integers are cast
    np.testing.assert_array_equal(net.weights[2], 1)
    assert_agree(net, reference, tmp_path, X, y)


@pytest.mark.parametrize("dtype", DTYPES)
def test_whole_list_and_params_assignment(dtype, reference, tmp_path):
    net, other, (X, y) = make_net(dtype), make_net(dtype, seed=5), make_data()
    buffer = net.params
    net.weights = [np.asarray(W) * 2 for W in other.weights]
    net.biases = list(other.biases)
    np.testing.assert_array_equal(net.params, np.r_[
        flat_from_layers(other)] * np.where(_is_weight(net), 2, 1).astype(dtype))
    net.params = other.params
    assert net.params is buffer and not np.shares_memory(net.params, other.params)
    np.testing.assert_array_equal(net.params, other.params)
    np.testing.assert_array_equal(net.forward(X), other.forward(X))
    net.params = list(other.params * 0.5)
    assert_agree(net, reference, tmp_path, X, y)


def _is_weight(net):
    mask = np.zeros(net.params.size, bool)
    offset = 0
    for n_in, n_out in zip(net.sizes[:-1], net.sizes[1:], strict=True):
        mask[offset:offset + n_in * n_out] = True
        offset += n_in * n_out + n_out
    return mask


@pytest.mark.parametrize("dtype", DTYPES)
def test_views_are_live_and_writable(dtype, reference, tmp_path):
    net, (X, y) = make_net(dtype), make_data()
    W = net.weights[1]
    W *= 0.5                                  # in place, as the perceptron rule does
    net.biases[0][...] = 0.25
    net.params[-2:] = [0.1, -0.1]
    assert np.shares_memory(net.weights[1], net.params)
    np.testing.assert_array_equal(net.biases[0], 0.25)
    np.testing.assert_array_equal(net.biases[-1], np.array([0.1, -0.1], dtype))
    assert net.weights[0].shape == (4, 5) and net.biases[2].shape == (2,)
    assert len(net.weights) == len(net.biases) == 3
    assert [w.shape for w in net.weights[1:]] == [(3, 4), (2, 3)]
    assert_agree(net, reference, tmp_path, X, y)


# ---------------------------------------------------------------------------
# assignments that are refused, changing nothing
# ---------------------------------------------------------------------------
def _set(seq_name, index, value):
    return lambda net: operator.setitem(getattr(net, seq_name), index, value)


REFUSED = [
    (_set("weights", 0, np.ones((5, 4))), ValueError, r"weights\[0\] must have shape \(4, 5\)"),
    (_set("weights", 1, np.ones(12)), ValueError, r"weights\[1\] must have shape"),
    (_set("biases", 2, np.ones(3)), ValueError, r"biases\[2\] must have shape \(2,\)"),
    (_set("weights", 0, np.full((4, 5), np.nan)), ValueError, r"weights\[0\] contains NaN"),
    (_set("biases", 0, [1, np.inf, 0, 0]), ValueError, r"biases\[0\] contains NaN or inf"),
    (_set("weights", 0, np.full((4, 5), 1e300)), None, None),  # inf only in float32
    (_set("weights", 0, np.full((4, 5), "a")), TypeError, r"weights\[0\] must hold real"),
    (_set("weights", 0, np.ones((4, 5), complex)), TypeError, r"real numbers"),
    (_set("weights", 0, [[1, 2], [3]]), TypeError, r"weights\[0\]"),
    (_set("weights", 3, np.ones((2, 3))), IndexError, r"weights\[3\] is out of range"),
    (_set("weights", "0", np.ones((4, 5))), TypeError, r"indices must be integers"),
    (_set("weights", slice(0, 1), [np.ones((4, 5))]), TypeError, r"one layer at a time"),
    (lambda net: net.weights.append(np.ones((2, 2))), AttributeError, r"append"),
    (lambda net: operator.delitem(net.biases, 0), (AttributeError, TypeError), r"delitem"),
    (lambda net: setattr(net, "weights", [np.ones((4, 5))]), ValueError, r"needs 3 arrays"),
    (lambda net: setattr(net, "biases", [np.ones(4), np.ones(3), [np.nan, 0]]), ValueError,
     r"biases\[2\] contains NaN"),
    (lambda net: setattr(net, "weights", "abc"), TypeError, r"sequence of 3 arrays"),
    (lambda net: setattr(net, "params", np.ones(5)), ValueError, r"params must have shape"),
    (lambda net: setattr(net, "params", np.full(net.params.size, np.nan)), ValueError,
     r"params contains NaN"),
    (lambda net: setattr(net, "params", None), TypeError, r"params must hold real numbers"),
    (lambda net: setattr(net, "sizes", (5, 8, 3, 2)), AttributeError, r"sizes"),
    (lambda net: operator.setitem(net.sizes, 1, 8), TypeError, r"item assignment"),
    (lambda net: setattr(net, "activations", ("step",) * 3), AttributeError, r"activations"),
    (lambda net: operator.setitem(net.activations, 0, "step"), TypeError, r"item assignment"),
    (lambda net: setattr(net, "loss", "quadratic"), AttributeError, r"loss"),
    (lambda net: setattr(net, "dtype", np.float16), AttributeError, r"dtype"),
    (lambda net: setattr(net, "dropout", (0.5, 0.5, 0.0)), AttributeError, r"dropout"),
    (lambda net: setattr(net, "init", "he"), AttributeError, r"init"),
    (lambda net: setattr(net, "seed", 3), AttributeError, r"seed"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tamper,exc,match", REFUSED, ids=range(len(REFUSED)))
def test_refused_changes_leave_the_network_as_it_was(dtype, tamper, exc, match, reference,
                                                     tmp_path):
    net, (X, y) = make_net(dtype), make_data()
    before = (net.params.copy(), net.sizes, net.activations, net.get_config())
    if exc is None:   # 1e300: fine in float64, refused as infinity in float32
        exc, match = (ValueError, r"too large for float32") if dtype == "float32" else \
            (None, None)
    if exc is None:
        tamper(net)
        before = (net.params.copy(),) + before[1:]
    else:
        with pytest.raises(exc, match=match):
            tamper(net)
    np.testing.assert_array_equal(net.params, before[0])
    assert (net.sizes, net.activations, net.get_config()) == before[1:]
    assert_agree(net, reference, tmp_path, X, y)


# ---------------------------------------------------------------------------
# every operation in turn, at random
# ---------------------------------------------------------------------------
def _operations(X, y, tmp_path):
    def assign_item(net, rng):
        l = int(rng.integers(net.n_layers))
        if rng.random() < 0.5:
            net.weights[l] = rng.standard_normal(net.weights[l].shape)
        else:
            net.biases[l] = rng.standard_normal(net.biases[l].shape)

    def assign_wrong(net, rng):
        l = int(rng.integers(net.n_layers))
        with pytest.raises(ValueError):
            net.weights[l] = rng.standard_normal(net.weights[l].shape[::-1] + (1,))

    def assign_params(net, rng):
        net.params = rng.standard_normal(net.params.size) * 0.5

    def write_view(net, rng):
        net.weights[int(rng.integers(net.n_layers))][...] *= 0.9

    def train(net, rng):
        net.fit(X, y, epochs=1, batch_size=4, lr=0.05, verbose=0, threads=1)

    def reload(net, rng):
        path = tmp_path / "r.npz"
        net.save(path)
        net.params = nnc.load(path).params

    def unpickle(net, rng):
        net.params = pickle.loads(pickle.dumps(net)).params

    return [assign_item, assign_wrong, assign_params, write_view, train, reload, unpickle]


@pytest.mark.parametrize("dtype", DTYPES)
def test_random_sequences_of_operations_keep_one_state(dtype, reference, tmp_path):
    X, y = make_data()
    ops = _operations(X, y, tmp_path)
    rng = np.random.default_rng(42)
    for trial in range(3):
        net = make_net(dtype, seed=trial)
        for _ in range(12):
            ops[int(rng.integers(len(ops)))](net, rng)
            assert_agree(net, reference, tmp_path, X, y)


# ---------------------------------------------------------------------------
# pickles and copies own their arrays
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_copies_never_share_the_buffer(dtype):
    net = make_net(dtype)
    for other in (copy.copy(net), copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        assert not np.shares_memory(other.params, net.params)
        other.weights[0] = np.zeros((4, 5))
        assert np.any(net.weights[0] != 0)
        assert np.shares_memory(other.weights[0], other.params)


@pytest.mark.parametrize("dtype", DTYPES)
def test_read_only_memmap_pickle_gives_owned_writable_state(dtype, tmp_path):
    """joblib memory-maps large arrays read-only; the engine writes into the
    parameters and the optimizer's state, so unpickling must copy them."""
    X, y = make_data(200)
    net = make_net(dtype)
    net.fit(X, y, epochs=1, optimizer="adam", verbose=0, threads=1)
    twin = copy.deepcopy(net)
    joblib.dump(net, tmp_path / "net.joblib")
    back = joblib.load(tmp_path / "net.joblib", mmap_mode="r")
    arrays = [back.params, *back.optimizer.states]
    assert all(type(a) is np.ndarray and a.flags.writeable and a.flags.owndata
               and a.flags.c_contiguous for a in arrays)
    back.partial_fit(X, y, verbose=0, threads=1)
    twin.partial_fit(X, y, verbose=0, threads=1)
    np.testing.assert_array_equal(back.params, twin.params)


def test_pickles_of_the_previous_layout_still_load():
    """nnc 0.1 pickled the architecture as public attributes and the views too."""
    net = make_net("float64")
    old = {"sizes": list(SIZES), "activations": list(net.activations), "loss": net.loss,
           "dtype": net.dtype, "seed": 0, "init": "gaussian", "dropout": [0.0] * 3,
           "_rng": np.random.default_rng(0), "params": net.params.copy(),
           "weights": None, "biases": None, "history": net.history, "_opt": None,
           "_w_off": [0], "_b_off": [0]}
    back = nnc.Network.__new__(nnc.Network)
    back.__setstate__(old)
    assert back.sizes == SIZES and back.get_config() == net.get_config()
    np.testing.assert_array_equal(back.forward(np.ones((2, 5))), net.forward(np.ones((2, 5))))
    p = nnc.Perceptron(3, 2)
    old_p = {"n_inputs": 3, "n_outputs": 2, "lr": 1.0, "dtype": p.dtype, "seed": None,
             "_rng": np.random.default_rng(), "params": np.arange(8.0),
             "history": p.history}
    q = nnc.Perceptron.__new__(nnc.Perceptron)
    q.__setstate__(old_p)
    assert q.sizes == (3, 2) and q.activations == ("step",) and q.lr == 1.0
    np.testing.assert_array_equal(q.biases[0], [6.0, 7.0])


def test_pickled_params_of_the_wrong_size_are_refused():
    state = make_net("float64").__getstate__()
    state["params"] = state["params"][:-1]
    with pytest.raises(ValueError, match="unpickled params"):
        nnc.Network.__new__(nnc.Network).__setstate__(state)


# ---------------------------------------------------------------------------
# configuration and model files
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_config_round_trips(dtype):
    net = nnc.Network([6, 5, 4, 2], activation="relu", output_activation="sigmoid",
                      loss="binary_crossentropy", dtype=dtype, seed=3, init="he",
                      dropout=[0.25, 0.5])
    config = net.get_config()
    assert config["dropout"] == [0.25, 0.5, 0.0]
    again = nnc.Network.from_config(config)
    assert again.get_config() == config
    np.testing.assert_array_equal(again.params, net.params)   # same seed, same weights
    assert nnc.Network(**config).get_config() == config
    with pytest.raises(ValueError, match="output layer's, if given, must be 0"):
        nnc.Network([6, 5, 4, 2], dropout=[0.25, 0.5, 0.5])
    with pytest.raises(TypeError, match="config must be a dict"):
        nnc.Network.from_config([("sizes", [2, 1])])


def _write_old_file(path, params, network_section, kind=None):
    """A model file as nnc 0.1 wrote it (no ``kind`` for networks)."""
    config = {"format": nio.FORMAT, "format_version": 1, "nnc_version": "0.1.0",
              "network": network_section, "n_params": int(params.size),
              "history": {"loss": [0.5]}, "metadata": {}}
    if kind is not None:
        config["kind"] = kind
    import json
    np.savez(path, params=params, config=np.array(json.dumps(config)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_model_files_of_the_previous_version_load(dtype, tmp_path):
    net = make_net(dtype)
    old = {"sizes": list(SIZES), "activation": list(net.activations), "loss": net.loss,
           "dtype": dtype, "seed": None, "init": "gaussian", "dropout": [0.0, 0.0, 0.0]}
    _write_old_file(tmp_path / "n.npz", net.params, old)
    back = nnc.load(tmp_path / "n.npz")
    assert type(back) is nnc.Network and back.sizes == SIZES
    np.testing.assert_array_equal(back.params, net.params)
    assert back.history["loss"] == [0.5]
    p = nnc.Perceptron(3, 2, lr=0.5, dtype=dtype)
    p.weights[0] = np.arange(6).reshape(2, 3)
    _write_old_file(tmp_path / "p.npz", p.params,
                    {"sizes": [3, 2], "activation": ["step"], "dtype": dtype, "seed": None,
                     "lr": 0.5}, kind="perceptron")
    q = nnc.load(tmp_path / "p.npz")
    assert type(q) is nnc.Perceptron and q.get_config() == p.get_config()
    np.testing.assert_array_equal(q.weights[0], p.weights[0])


def test_save_refuses_what_is_not_a_model(tmp_path):
    class Fake:
        kind = "network"
        params = np.zeros(3)

    with pytest.raises(TypeError, match="must be an nnc model"):
        nio.save(Fake(), tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()


# ---------------------------------------------------------------------------
# the perceptron gets the same treatment
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_perceptron_state(dtype, tmp_path):
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    p = nnc.Perceptron(2, 2, dtype=dtype)
    p.weights[0] = [[1, 1], [-1, -1]]
    p.biases[0] = [-1.5, 0.5]
    np.testing.assert_array_equal(p.predict(X), [[0, 1], [0, 0], [0, 0], [1, 0]])
    np.testing.assert_array_equal(flat_from_layers(p), p.params)
    with pytest.raises(ValueError, match=r"weights\[0\] must have shape \(2, 2\)"):
        p.weights[0] = np.ones((2, 3))
    with pytest.raises(ValueError, match=r"biases\[0\] contains NaN"):
        p.biases[0] = [np.nan, 0]
    for name in ("n_inputs", "n_outputs", "sizes", "activations", "dtype", "seed"):
        with pytest.raises(AttributeError):
            setattr(p, name, getattr(p, name))
    with pytest.raises(ValueError, match="lr"):
        p.lr = -1.0
    p.lr = 0.5
    path = tmp_path / "p.npz"
    p.save(path)
    for q in (nnc.load(path), pickle.loads(pickle.dumps(p)), copy.deepcopy(p)):
        assert type(q) is nnc.Perceptron and q.get_config() == p.get_config()
        np.testing.assert_array_equal(q.predict(X), p.predict(X))
        assert not np.shares_memory(q.params, p.params)
    p.fit(X, [[0, 1], [0, 1], [0, 1], [1, 0]], epochs=50)   # the rule writes the views
    np.testing.assert_array_equal(p.predict(X), [[0, 1], [0, 1], [0, 1], [1, 0]])
    np.testing.assert_array_equal(flat_from_layers(p), p.params)
