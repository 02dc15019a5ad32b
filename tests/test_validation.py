"""Bad input gets a ValueError/TypeError naming the argument; unusual but valid
layouts give exactly the results of clean input.

Every check runs with warnings turned into errors and NumPy's floating-point
errors raising, so a check that "works" only after an overflow warning fails.
Each rejected call must also leave the network untouched.
"""
import operator
import os
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import nnc
from nnc import _validation as V

pytestmark = pytest.mark.filterwarnings("error")

N_IN, N_HID, N_OUT, N = 4, 5, 3, 24


@pytest.fixture(autouse=True)
def _strict_numpy():
    with np.errstate(all="raise"):
        yield


def make_net(dtype="float32", **kw):
    kw.setdefault("seed", 3)
    return nnc.Network([N_IN, N_HID, N_OUT], dtype=dtype, **kw)


def make_data(dtype=np.float32):
    rng = np.random.default_rng(7)
    X = rng.random((N, N_IN)).astype(dtype)
    y = np.arange(N) % N_OUT
    return X, y


def unchanged(net, before):
    params, n_hist, opt, iterations = before
    return (np.array_equal(net.params, params) and len(net.history["loss"]) == n_hist
            and net.optimizer is opt
            and (opt is None or opt.iterations == iterations))


def snapshot(net):
    opt = net.optimizer
    return (net.params.copy(), len(net.history["loss"]), opt,
            None if opt is None else opt.iterations)


def call(net, method, X, y=None, **kw):
    if method in ("fit", "partial_fit"):
        kw.setdefault("verbose", 0)
        return getattr(net, method)(X, y, **kw)
    if method in ("evaluate", "gradients"):
        return getattr(net, method)(X, y, **kw)
    return getattr(net, method)(X, **kw)


METHODS = ["fit", "partial_fit", "forward", "predict", "evaluate", "gradients"]
Y_METHODS = ["fit", "partial_fit", "evaluate", "gradients"]


# ---------------------------------------------------------------------------
# X
# ---------------------------------------------------------------------------
def _csr_with_long_row():
    # A CSR matrix whose cached flags claim canonical form while a row holds
    # more entries than there are features: the engine would overrun its buffer.
    X = sp.csr_matrix(np.ones((N, N_IN), dtype=np.float32))
    bad = sp.csr_matrix((np.ones(N * N_IN + 2, np.float32),
                         np.r_[np.tile(np.arange(N_IN), N), 0, 1].astype(np.int32),
                         np.r_[0, np.arange(1, N + 1) * N_IN].astype(np.int32)),
                        shape=(N, N_IN))
    bad.indptr[-1] = N * N_IN + 2
    bad.indptr[1] = N_IN + 2
    bad.has_canonical_format = True
    bad.has_sorted_indices = True
    assert X.shape == bad.shape
    return bad


def _csr_bad_indptr():
    X = sp.csr_matrix(np.ones((N, N_IN), dtype=np.float32))
    X.indptr = X.indptr[:-1].copy()  # one row pointer short
    return X


BAD_X = [
    ("1-D", lambda X: X[0], ValueError, r"X must be 2-D"),
    ("3-D", lambda X: X[None], ValueError, r"X must be 2-D"),
    ("scalar", lambda X: 1.5, ValueError, r"X must be 2-D"),
    ("too few features", lambda X: X[:, :-1], ValueError, r"X must have 4 features"),
    ("too many features", lambda X: np.hstack([X, X]), ValueError, r"X must have 4 features"),
    ("no samples", lambda X: X[:0], ValueError, r"X is empty"),
    ("no columns", lambda X: np.zeros((N, 0)), ValueError, r"X must have 4 features"),
    ("NaN", lambda X: np.where(np.arange(N)[:, None] == 3, np.nan, X), ValueError,
     r"X contains NaN"),
    ("+inf", lambda X: np.where(X > 0.9, np.inf, X), ValueError, r"X contains NaN or inf"),
    ("-inf", lambda X: np.where(X > 0.9, -np.inf, X), ValueError, r"X contains NaN or inf"),
    ("complex", lambda X: X.astype(np.complex128), TypeError, r"X must be real-valued"),
    ("object", lambda X: X.astype(object), TypeError, r"X must be numeric"),
    ("strings", lambda X: X.astype(str), TypeError, r"X must be numeric"),
    ("bytes", lambda X: X.astype("S8"), TypeError, r"X must be numeric"),
    ("datetime", lambda X: np.zeros(X.shape, "M8[s]"), TypeError, r"X must be numeric"),
    ("structured", lambda X: np.zeros(N, dtype=[("a", "f4")] * 1), TypeError,
     r"X must be numeric"),
    ("None", lambda X: None, TypeError, r"X must be numeric"),
    ("ragged list", lambda X: [[1.0, 2.0, 3.0, 4.0], [1.0, 2.0]], ValueError,
     r"X could not be converted"),
    ("sparse wrong features", lambda X: sp.csr_matrix(X[:, :-1]), ValueError,
     r"X must have 4 features"),
    ("sparse empty", lambda X: sp.csr_matrix((0, N_IN)), ValueError, r"X is empty"),
    ("sparse NaN", lambda X: sp.csr_matrix(np.where(X > 0.9, np.nan, X)), ValueError,
     r"X contains NaN"),
    ("sparse complex", lambda X: sp.csr_matrix(X.astype(np.complex64)), TypeError,
     r"X must be real-valued"),
    ("sparse overlong row", lambda X: _csr_with_long_row(), ValueError, r"X is a malformed"),
    ("sparse bad indptr", lambda X: _csr_bad_indptr(), ValueError, r"X is a malformed"),
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", BAD_X, ids=[c[0] for c in BAD_X])
def test_bad_X(method, case):
    _, make, exc, match = case
    net = make_net()
    X, y = make_data()
    before = snapshot(net)
    with pytest.raises(exc, match=match):
        call(net, method, make(X), y)
    assert unchanged(net, before)


def test_float64_too_large_for_float32_network():
    # Finite in float64 but not in float32: a clear error, no overflow warning.
    net = make_net("float32")
    X, y = make_data(np.float64)
    X[0, 0] = 1e300
    with pytest.raises(ValueError, match=r"X has values too large for float32"):
        net.predict(X)
    # the same values are fine in a float64 network
    assert np.isfinite(make_net("float64").forward(X)).all()


@pytest.mark.parametrize("which", ["X_val", "y_val"])
def test_bad_validation_data_names_the_argument(which):
    net = make_net()
    X, y = make_data()
    Xv, yv = X[:5], y[:5]
    if which == "X_val":
        Xv = np.full_like(Xv, np.nan)
        match = r"X_val contains NaN"
    else:
        yv = yv + N_OUT
        match = r"y_val labels must lie in \[0, 3\)"
    before = snapshot(net)
    with pytest.raises(ValueError, match=match):
        net.fit(X, y, validation_data=(Xv, yv), verbose=0)
    assert unchanged(net, before)


@pytest.mark.parametrize("bad", [lambda X, y: X, lambda X, y: (X,), lambda X, y: (X, y, y)],
                         ids=["array", "1-tuple", "3-tuple"])
def test_validation_data_must_be_a_pair(bad):
    net = make_net()
    X, y = make_data()
    with pytest.raises(ValueError, match=r"validation_data must be a tuple"):
        net.fit(X, y, validation_data=bad(X, y), verbose=0)


# ---------------------------------------------------------------------------
# y and sample_weight
# ---------------------------------------------------------------------------
BAD_Y = [
    ("too short", lambda y: y[:-1], ValueError, r"y has 23 samples but X has 24"),
    ("too long", lambda y: np.r_[y, y], ValueError, r"y has 48 samples but X has 24"),
    ("label = n_out", lambda y: np.where(y == 0, N_OUT, y), ValueError,
     r"y labels must lie in \[0, 3\)"),
    ("negative label", lambda y: y - 1, ValueError, r"y labels must lie in \[0, 3\)"),
    ("huge uint64", lambda y: np.full(N, 2**64 - 1, dtype=np.uint64), ValueError,
     r"y labels must lie in \[0, 3\)"),
    ("huge float", lambda y: np.full(N, 1e30), ValueError, r"y labels must lie in \[0, 3\)"),
    ("fractional", lambda y: y + 0.5, ValueError, r"y holds labels, which must be integers"),
    ("NaN labels", lambda y: np.where(y == 1, np.nan, y), ValueError, r"y contains NaN"),
    ("inf targets", lambda y: np.where(np.eye(N_OUT)[y] > 0, np.inf, 0.0), ValueError,
     r"y contains NaN or inf"),
    ("targets too narrow", lambda y: np.eye(N_OUT)[y][:, :2], ValueError,
     r"y targets must have shape \(n_samples, 3\)"),
    ("targets too wide", lambda y: np.eye(N_OUT + 1)[y], ValueError,
     r"y targets must have shape \(n_samples, 3\)"),
    ("3-D", lambda y: np.eye(N_OUT)[y][:, :, None], ValueError, r"y targets must have shape"),
    ("scalar", lambda y: 1, ValueError, r"y must be 1-D labels or 2-D targets"),
    ("complex", lambda y: y.astype(complex), TypeError, r"y must be real-valued"),
    ("strings", lambda y: y.astype(str), TypeError, r"y must be numeric"),
    ("object", lambda y: y.astype(object), TypeError, r"y must be numeric"),
    ("None", lambda y: None, TypeError, r"y must be numeric"),
    ("ragged", lambda y: [[0, 1, 0], [1]] + [[0, 0, 1]] * (N - 2), ValueError,
     r"y could not be converted"),
    ("sparse", lambda y: sp.csr_matrix(np.eye(N_OUT)[y]), TypeError, r"y must be a dense"),
]


@pytest.mark.parametrize("method", Y_METHODS)
@pytest.mark.parametrize("case", BAD_Y, ids=[c[0] for c in BAD_Y])
def test_bad_y(method, case):
    _, make, exc, match = case
    net = make_net()
    X, y = make_data()
    before = snapshot(net)
    with pytest.raises(exc, match=match):
        call(net, method, X, make(y))
    assert unchanged(net, before)


def test_one_output_network_rejects_targets_of_wrong_width():
    net = nnc.Network([N_IN, 1], seed=0)
    X, _ = make_data()
    with pytest.raises(ValueError, match=r"y targets must have shape \(n_samples, 1\)"):
        net.fit(X, np.zeros((N, 2)), verbose=0)


BAD_SW = [
    ("short", lambda: np.ones(N - 1), ValueError, r"sample_weight must have shape \(24,\)"),
    ("2-D", lambda: np.ones((N, 1)), ValueError, r"sample_weight must have shape \(24,\)"),
    ("scalar", lambda: 1.0, ValueError, r"sample_weight must have shape"),
    ("negative", lambda: -np.ones(N), ValueError, r"sample_weight must be non-negative"),
    ("NaN", lambda: np.full(N, np.nan), ValueError, r"sample_weight contains NaN"),
    ("inf", lambda: np.full(N, np.inf), ValueError, r"sample_weight contains NaN"),
    ("strings", lambda: np.array(["1"] * N), TypeError, r"sample_weight must be numeric"),
    ("complex", lambda: np.ones(N, complex), TypeError, r"sample_weight must be real"),
]


@pytest.mark.parametrize("method", ["fit", "evaluate", "gradients"])
@pytest.mark.parametrize("case", BAD_SW, ids=[c[0] for c in BAD_SW])
def test_bad_sample_weight(method, case):
    _, make, exc, match = case
    net = make_net()
    X, y = make_data()
    before = snapshot(net)
    with pytest.raises(exc, match=match):
        call(net, method, X, y, sample_weight=make())
    assert unchanged(net, before)


# ---------------------------------------------------------------------------
# hyper-parameters of fit, forward, evaluate
# ---------------------------------------------------------------------------
BAD_FIT_KW = [
    ("epochs", -1, ValueError), ("epochs", 1.5, TypeError), ("epochs", True, TypeError),
    ("epochs", "3", TypeError), ("epochs", None, TypeError),
    ("batch_size", 0, ValueError), ("batch_size", -4, ValueError),
    ("batch_size", 2.5, TypeError), ("batch_size", True, TypeError),
    ("batch_size", np.float64(8), TypeError),
    ("lr", -0.1, ValueError), ("lr", float("nan"), ValueError), ("lr", float("inf"), ValueError),
    ("lr", "0.1", TypeError), ("lr", True, TypeError), ("lr", 1j, TypeError),
    ("optimizer", "foo", ValueError), ("optimizer", 3, TypeError),
    ("optimizer", nnc.optimizers.SGD, TypeError),
    ("validation_split", 1.0, ValueError), ("validation_split", -0.1, ValueError),
    ("validation_split", 0.01, ValueError),  # rounds to no validation sample
    ("sync_every", 0, ValueError),
    ("verbose", -1, ValueError), ("verbose", "yes", TypeError),
    ("callbacks", print, TypeError), ("callbacks", [1], TypeError),
    ("threads", 0, ValueError), ("threads", -2, ValueError), ("threads", 2.0, TypeError),
    ("threads", 10**9, ValueError), ("threads", 2**40, ValueError),
    ("sparse", "x", ValueError),
    ("shuffle", "no", TypeError), ("shuffle", None, TypeError), ("shuffle", 2, TypeError),
]

#: (class, hyper-parameter, bad value, exception): refused when the object is
#: made, and when the attribute is set later, by the fit that would use it
BAD_HYPER = [
    ("SGD", "momentum", -0.5, ValueError), ("SGD", "momentum", 1.0, ValueError),
    ("SGD", "momentum", float("nan"), ValueError), ("SGD", "momentum", "0.9", TypeError),
    ("SGD", "nesterov", "yes", TypeError), ("SGD", "lr", -0.1, ValueError),
    ("SGD", "lr", "0.1", TypeError),
    ("Adam", "beta1", 1.0, ValueError), ("Adam", "beta1", -0.1, ValueError),
    ("Adam", "beta2", 1.5, ValueError),
    ("Adam", "epsilon", 0.0, ValueError), ("Adam", "epsilon", -1e-8, ValueError),
    ("RMSprop", "rho", 1.0, ValueError), ("RMSprop", "epsilon", 0.0, ValueError),
    ("SGD", "l2", -1e-3, ValueError), ("Adam", "l2", float("nan"), ValueError),
    ("SGD", "schedule", 3, TypeError),
]


@pytest.mark.parametrize("cls,name,value,exc", BAD_HYPER,
                         ids=[f"{c}.{n}={v!r}" for c, n, v, _ in BAD_HYPER])
def test_bad_optimizer_hyper_parameters(cls, name, value, exc):
    cls = getattr(nnc.optimizers, cls)
    with pytest.raises(exc, match=rf"\b{name}\b"):
        cls(**{name: value})
    net = make_net()
    X, y = make_data()
    net.fit(X, y, verbose=0, optimizer=cls())
    before = snapshot(net)
    setattr(net.optimizer, name, value)
    with pytest.raises(exc, match=rf"\b{name}\b"):
        net.partial_fit(X, y, verbose=0)
    assert unchanged(net, before)


@pytest.mark.parametrize("make,exc,match", [
    (lambda: nnc.optimizers.Schedule("foo"), ValueError, "kind"),
    (lambda: nnc.optimizers.SGD(schedule="foo"), ValueError, "schedule"),
    (lambda: nnc.callbacks.EarlyStopping(patience=-1), ValueError, "patience"),
    (lambda: nnc.callbacks.EarlyStopping(min_delta=-1.0), ValueError, "min_delta"),
    (lambda: nnc.callbacks.EarlyStopping(restore_best_weights=None), TypeError,
     "restore_best_weights"),
    (lambda: nnc.callbacks.EarlyStopping(monitor=3), TypeError, "monitor"),
    (lambda: nnc.callbacks.ModelCheckpoint("m.npz", every=0), ValueError, "every"),
    (lambda: nnc.callbacks.ModelCheckpoint(3.5), TypeError, "checkpoint"),
    (lambda: nnc.callbacks.ModelCheckpoint(""), ValueError, "checkpoint"),
    (lambda: nnc.callbacks.LambdaCallback(on_epoch_end=3), TypeError, "on_epoch_end"),
    (lambda: nnc.optimizers.get("adam", momentum=0.9), TypeError, "momentum"),
    (lambda: nnc.optimizers.get(nnc.optimizers.Adam(), lr=0.1), ValueError, "lr"),
])
def test_bad_schedule_and_callback_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_lr_with_an_optimizer_object_is_refused():
    net = make_net()
    X, y = make_data()
    before = snapshot(net)
    with pytest.raises(ValueError, match="lr"):
        net.fit(X, y, verbose=0, optimizer=nnc.optimizers.Adam(), lr=0.1)
    assert unchanged(net, before)


@pytest.mark.parametrize("name,value,exc", BAD_FIT_KW,
                         ids=[f"{n}={v!r}" for n, v, _ in BAD_FIT_KW])
def test_bad_fit_hyper_parameters(name, value, exc):
    net = make_net()
    X, y = make_data()
    before = snapshot(net)
    match = "validation_split" if name == "validation_split" else rf"\b{name}\b"
    kw = {"verbose": 0, name: value}
    with pytest.raises(exc, match=match):
        net.fit(X, y, **kw)
    assert unchanged(net, before)


def test_checkpoint_in_missing_directory_fails_before_training(tmp_path):
    net = make_net()
    X, y = make_data()
    before = snapshot(net)
    ModelCheckpoint = nnc.callbacks.ModelCheckpoint
    with pytest.raises(FileNotFoundError, match=r"checkpoint: .*the directory .* does not exist"):
        ModelCheckpoint(tmp_path / "missing" / "model.npz")
    with pytest.raises(IsADirectoryError, match=r"checkpoint"):
        ModelCheckpoint(tmp_path)
    # a folder removed after the callback was made: fit fails before training
    os.mkdir(tmp_path / "gone")
    ck = ModelCheckpoint(tmp_path / "gone" / "model.npz")
    os.rmdir(tmp_path / "gone")
    with pytest.raises(FileNotFoundError, match=r"checkpoint: .*the directory .* does not exist"):
        net.fit(X, y, verbose=0, callbacks=[ck])
    assert unchanged(net, before)


def test_unknown_keyword_is_a_type_error():
    net = make_net()
    X, y = make_data()
    with pytest.raises(TypeError, match=r"learning_rate"):
        net.fit(X, y, learning_rate=0.1)


@pytest.mark.parametrize("kw,exc,match", [
    ({"layer": 0}, ValueError, r"layer must be >= 1"),
    ({"layer": 3}, ValueError, r"layer must be <= 2"),
    ({"layer": 1.0}, TypeError, r"layer must be an integer"),
    ({"layer": True}, TypeError, r"layer must be an integer"),
    ({"batch_size": 0}, ValueError, r"batch_size must be >= 1"),
    ({"batch_size": "8"}, TypeError, r"batch_size"),
    ({"threads": 0}, ValueError, r"threads must be >= 1"),
])
def test_bad_forward_arguments(kw, exc, match):
    net = make_net()
    X, _ = make_data()
    with pytest.raises(exc, match=match):
        net.forward(X, **kw)


@pytest.mark.parametrize("kw,exc,match", [
    ({"batch_size": 0}, ValueError, r"batch_size must be >= 1"),
    ({"threads": -1}, ValueError, r"threads must be >= 1"),
])
def test_bad_evaluate_arguments(kw, exc, match):
    net = make_net()
    X, y = make_data()
    with pytest.raises(exc, match=match):
        net.evaluate(X, y, **kw)


@pytest.mark.parametrize("method", ["predict", "evaluate"])
def test_bad_threads_in_predict_and_evaluate(method):
    net = make_net()
    X, y = make_data()
    with pytest.raises(ValueError, match=r"threads must be >= 1"):
        call(net, method, X, y, threads=0)


# ---------------------------------------------------------------------------
# the constructor
# ---------------------------------------------------------------------------
BAD_CTOR = [
    ({"sizes": [4]}, ValueError, r"sizes needs at least"),
    ({"sizes": []}, ValueError, r"sizes needs at least"),
    ({"sizes": [4, 0, 2]}, ValueError, r"sizes\[1\] must be >= 1"),
    ({"sizes": [4, -3]}, ValueError, r"sizes\[1\] must be >= 1"),
    ({"sizes": [0, 3]}, ValueError, r"sizes\[0\] must be >= 1"),
    ({"sizes": [4, 2**31]}, ValueError, r"sizes\[1\] must be <="),
    ({"sizes": [4, 2.0]}, TypeError, r"sizes\[1\] must be an integer"),
    ({"sizes": [4, True]}, TypeError, r"sizes\[1\] must be an integer"),
    ({"sizes": [4, "2"]}, TypeError, r"sizes\[1\] must be an integer"),
    ({"sizes": [4, None]}, TypeError, r"sizes\[1\] must be an integer"),
    ({"sizes": "42"}, TypeError, r"sizes must be a sequence"),
    ({"sizes": 4}, TypeError, r"sizes must be a sequence"),
    ({"sizes": None}, TypeError, r"sizes must be a sequence"),
    ({"sizes": [2] * 66}, ValueError, r"sizes allows at most"),
    ({"activation": "foo"}, ValueError, r"unknown activation 'foo'"),
    ({"activation": 3}, TypeError, r"activation must be a name or a list"),
    ({"activation": None}, TypeError, r"activation must be a name or a list"),
    ({"activation": ["relu"]}, ValueError, r"activation must be a name or a list of 2"),
    ({"activation": ["relu", "foo"]}, ValueError, r"unknown activation\[1\] 'foo'"),
    ({"activation": "step"}, ValueError, r"step activation has no gradient"),
    ({"output_activation": "foo"}, ValueError, r"unknown output_activation 'foo'"),
    ({"output_activation": 1}, TypeError, r"output_activation must be a string"),
    ({"loss": "foo"}, ValueError, r"unknown loss 'foo'"),
    ({"loss": None}, TypeError, r"loss must be a string"),
    ({"dtype": "int32"}, ValueError, r"dtype must be 'float32' or 'float64'"),
    ({"dtype": "float16"}, ValueError, r"dtype must be 'float32' or 'float64'"),
    ({"dtype": np.longdouble}, ValueError, r"dtype must be 'float32' or 'float64'"),
    ({"dtype": "complex128"}, ValueError, r"dtype must be 'float32' or 'float64'"),
    ({"dtype": "foo"}, TypeError, r"dtype must be 'float32' or 'float64'"),
    ({"dtype": True}, TypeError, r"dtype must be 'float32' or 'float64'"),
    ({"seed": -1}, ValueError, r"seed must be >= 0"),
    ({"seed": 1.5}, TypeError, r"seed must be an integer"),
    ({"seed": "1"}, TypeError, r"seed must be an integer"),
    ({"init": "foo"}, ValueError, r"init must be one of"),
    ({"init": None}, TypeError, r"init must be one of"),
    ({"dropout": 1.0}, ValueError, r"dropout\[0\] must be < 1.0"),
    ({"dropout": -0.1}, ValueError, r"dropout\[0\] must be >= 0.0"),
    ({"dropout": float("nan")}, ValueError, r"dropout\[0\] must be finite"),
    ({"dropout": "a"}, TypeError, r"dropout must be a rate"),
    ({"dropout": None}, TypeError, r"dropout must be a rate"),
    ({"dropout": True}, TypeError, r"dropout must be a rate"),
    ({"dropout": [0.1, 0.2]}, ValueError, r"dropout needs one rate per hidden layer"),
    ({"dropout": ["x"]}, TypeError, r"dropout\[0\] must be a real number"),
]


@pytest.mark.parametrize("kw,exc,match", BAD_CTOR, ids=[repr(c[0])[:40] for c in BAD_CTOR])
def test_bad_constructor_arguments(kw, exc, match):
    kw = dict(kw)
    sizes = kw.pop("sizes", [N_IN, N_HID, N_OUT])
    with pytest.raises(exc, match=match):
        nnc.Network(sizes, **kw)


@pytest.mark.parametrize("sizes", [[np.int64(4), np.int32(3)], np.array([4, 3]), (4, 3)])
def test_numpy_and_tuple_sizes_are_accepted(sizes):
    net = nnc.Network(sizes, seed=0)
    assert net.sizes == (4, 3) and all(type(s) is int for s in net.sizes)


def test_numpy_scalars_are_accepted_as_hyper_parameters():
    X, y = make_data()
    a, b = make_net(dropout=np.float32(0.25)), make_net(dropout=0.25)
    kw = dict(epochs=2, verbose=0, threads=1)
    a.fit(X, y, batch_size=np.int64(8), shuffle=np.bool_(True), **kw,
          optimizer=nnc.optimizers.SGD(lr=np.float32(0.5), momentum=np.float32(0.5)))
    b.fit(X, y, batch_size=8, shuffle=True, **kw,
          optimizer=nnc.optimizers.SGD(lr=float(np.float32(0.5)), momentum=0.5))
    np.testing.assert_array_equal(a.params, b.params)


# ---------------------------------------------------------------------------
# public attributes replaced by something the engine cannot use
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("tamper,exc,match", [
    (lambda net: setattr(net, "params", np.zeros(3, net.dtype)), ValueError, r"params"),
    (lambda net: setattr(net, "params", list(net.params)[:-1]), ValueError, r"params"),
    (lambda net: setattr(net, "params", "abc"), TypeError, r"params"),
    (lambda net: net.sizes.append(7), AttributeError, r"append"),
    (lambda net: operator.setitem(net.sizes, 1, 50), TypeError, r"does not support item"),
    (lambda net: setattr(net, "sizes", [4, 50, 3]), AttributeError, r"sizes"),
    (lambda net: setattr(net, "activations", ["sigmoid"]), AttributeError, r"activations"),
    (lambda net: operator.setitem(net.activations, 0, "step"), TypeError,
     r"does not support item"),
    (lambda net: setattr(net, "dtype", np.float64), AttributeError, r"dtype"),
    (lambda net: setattr(net, "loss", "quadratic"), AttributeError, r"loss"),
])
def test_tampering_with_network_attributes_is_refused(tamper, exc, match):
    """The architecture is read-only and params is checked as it is assigned:
    the network is left as it was, and every method still works."""
    net = make_net()
    X, y = make_data()
    before = [call(net, method, X, y) for method in ("forward", "evaluate")]
    params = net.params.copy()
    with pytest.raises(exc, match=match):
        tamper(net)
    np.testing.assert_array_equal(net.params, params)
    np.testing.assert_array_equal(call(net, "forward", X, y), before[0])
    assert call(net, "evaluate", X, y) == before[1]
    for method in METHODS:
        call(net, method, X, y)


@pytest.mark.parametrize("value", [
    lambda net: net.params.astype(np.float64), lambda net: net.params[::-1],
    lambda net: list(net.params)])
def test_params_assignment_copies_any_equivalent_array(value):
    net, ref = make_net(), make_net()
    X, _ = make_data()
    new = value(net)
    expected = np.asarray(new, dtype=net.dtype).copy()
    buffer = net.params
    net.params = new
    assert net.params is buffer        # still the network's own buffer
    np.testing.assert_array_equal(net.params, expected)
    ref.params[...] = expected
    np.testing.assert_array_equal(net.forward(X), ref.forward(X))


def test_params_assigned_in_place_are_used():
    net = make_net()
    X, _ = make_data()
    net.params[...] = 0.0
    np.testing.assert_allclose(net.forward(X), 0.5)


# ---------------------------------------------------------------------------
# valid but unusual layouts give the clean results
# ---------------------------------------------------------------------------
def _unaligned(X):
    buf = np.zeros(X.nbytes + 1, dtype=np.uint8)
    out = buf[1:].view(X.dtype).reshape(X.shape)
    out[...] = X
    assert not out.flags.aligned
    return out


def _strided(X):
    if X.ndim == 1:
        big = np.zeros(3 * X.shape[0], dtype=X.dtype)
        big[::3] = X
        return big[::3]
    big = np.zeros((2 * X.shape[0], 3 * X.shape[1]), dtype=X.dtype)
    big[::2, ::3] = X
    view = big[::2, ::3]
    assert not view.flags.c_contiguous
    return view


def _readonly(X):
    X = X.copy()
    X.flags.writeable = False
    return X


def _quiet(f, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return f(*args)


def grads(net, X, y, **kw):
    dW, db = net.gradients(X, y, **kw)
    return dW + db


LAYOUTS = {
    "fortran": np.asfortranarray,
    "strided": _strided,
    "reversed rows": lambda X: X[::-1].copy()[::-1],
    "unaligned": _unaligned,
    "read-only": _readonly,
    "big-endian": lambda X: X.astype(X.dtype.newbyteorder(">")),
    "list": lambda X: X.tolist(),
    "matrix": lambda X: _quiet(np.asmatrix, X),
    "tuple of tuples": lambda X: tuple(tuple(r) for r in X.tolist()),
}


def _grid_data(dtype):
    # Values exactly representable in every input dtype used below (int, float16).
    rng = np.random.default_rng(1)
    return rng.integers(-4, 5, size=(N, N_IN)).astype(dtype) / 4


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_layouts_give_the_clean_results(dtype, layout):
    net = make_net(dtype)
    X = _grid_data(dtype)
    y = np.arange(N) % N_OUT
    odd = LAYOUTS[layout](X)
    np.testing.assert_array_equal(net.forward(odd), net.forward(X))
    np.testing.assert_array_equal(net.forward(odd, layer=1), net.forward(X, layer=1))
    np.testing.assert_array_equal(net.predict(odd), net.predict(X))
    assert net.evaluate(odd, y) == net.evaluate(X, y)
    for g_odd, g in zip(grads(net, odd, y), grads(net, X, y)):
        np.testing.assert_array_equal(g_odd, g)


@pytest.mark.parametrize("net_dtype", ["float32", "float64"])
@pytest.mark.parametrize("in_dtype", ["float16", "float32", "float64", "int8", "int64",
                                      "uint16", "longdouble"])
def test_input_dtypes_are_converted_exactly(net_dtype, in_dtype):
    net = make_net(net_dtype)
    clean = _grid_data(net_dtype)
    X = clean.astype(in_dtype) if "int" not in in_dtype else None
    if X is None:  # integers: scale the grid so the values are whole
        clean = np.round(clean * 4).astype(net_dtype)
        X = clean.astype(in_dtype) if in_dtype != "uint16" else None
        if X is None:
            clean = np.abs(clean)
            X = clean.astype(in_dtype)
    np.testing.assert_array_equal(net.forward(X), net.forward(clean))
    y = np.arange(N) % N_OUT
    assert net.evaluate(X, y) == net.evaluate(clean, y)


def test_bool_input_is_read_as_zero_and_one():
    net = make_net()
    X = make_data()[0] > 0.5
    np.testing.assert_array_equal(net.forward(X), net.forward(X.astype(np.float32)))


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "lil"])
def test_sparse_formats_match_dense(fmt):
    net = make_net("float64")
    X = _grid_data("float64")
    X[X < 0.3] = 0.0
    y = np.arange(N) % N_OUT
    Xs = sp.csr_matrix(X).asformat(fmt)
    np.testing.assert_allclose(net.forward(Xs), net.forward(X), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(net.evaluate(Xs, y)["loss"], net.evaluate(X, y)["loss"],
                               rtol=1e-6)
    for g_s, g in zip(grads(net, Xs, y), grads(net, X, y)):
        np.testing.assert_allclose(g_s, g, rtol=1e-6, atol=1e-12)


def test_unsorted_and_duplicate_csr_entries_are_summed():
    net = make_net("float64")
    X = _grid_data("float64")
    rows, cols = np.nonzero(X)
    order = np.random.default_rng(0).permutation(rows.size)
    # every entry split in two halves, listed in shuffled order
    data = np.r_[X[rows, cols] / 2, X[rows, cols] / 2][np.r_[order, order + rows.size]]
    r2 = np.r_[rows, rows][np.r_[order, order + rows.size]]
    c2 = np.r_[cols, cols][np.r_[order, order + rows.size]]
    Xs = sp.coo_matrix((data, (r2, c2)), shape=X.shape).tocsr()
    np.testing.assert_allclose(net.forward(Xs), net.forward(X), rtol=1e-6)


@pytest.mark.parametrize("y_form", ["list", "float labels", "uint8", "int32", "bool targets",
                                    "int one-hot", "float32 one-hot", "fortran one-hot"])
def test_label_and_target_forms_match(y_form):
    net = make_net("float64")
    X = _grid_data("float64")
    y = np.arange(N) % N_OUT
    Y = np.eye(N_OUT)[y]
    forms = {
        "list": (y.tolist(), y),
        "float labels": (y.astype(float), y),
        "uint8": (y.astype(np.uint8), y),
        "int32": (y.astype(np.int32), y),
        "bool targets": (Y.astype(bool), Y),
        "int one-hot": (Y.astype(int), Y),
        "float32 one-hot": (Y.astype(np.float32), Y),
        "fortran one-hot": (np.asfortranarray(Y), Y),
    }
    odd, clean = forms[y_form]
    assert net.evaluate(X, odd) == net.evaluate(X, clean)
    for g_odd, g in zip(grads(net, X, odd), grads(net, X, clean)):
        np.testing.assert_array_equal(g_odd, g)


def test_binary_labels_for_two_outputs_and_bool():
    net = nnc.Network([N_IN, 2], seed=0)
    X = _grid_data("float32")
    y = np.arange(N) % 2
    assert net.evaluate(X, y.astype(bool)) == net.evaluate(X, y)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layout", ["fortran", "strided", "list", "other float dtype"])
def test_training_on_unusual_layouts_is_identical(dtype, layout):
    X = _grid_data(dtype)
    y = np.arange(N) % N_OUT
    sw = (0.5 + (np.arange(N) % 4) / 4).astype(dtype)  # exact in both dtypes
    other = np.float64 if dtype == "float32" else np.float32
    make = {"fortran": np.asfortranarray, "strided": _strided, "list": lambda a: a.tolist(),
            "other float dtype": lambda a: a.astype(other)}[layout]
    kw = dict(epochs=3, batch_size=5, lr=0.5, verbose=0, threads=1)
    a, b = make_net(dtype), make_net(dtype)
    ha = a.fit(X, y, sample_weight=sw, validation_data=(X, y), **kw)
    hb = b.fit(make(X), make(y) if layout != "other float dtype" else y,
               sample_weight=make(sw), validation_data=(make(X), y), **kw)
    np.testing.assert_array_equal(a.params, b.params)
    assert ha["loss"] == hb["loss"] and ha["val_loss"] == hb["val_loss"]


def test_float32_into_float64_network_matches_converted_input():
    net = make_net("float64")
    X32 = make_data(np.float32)[0]
    np.testing.assert_array_equal(net.forward(X32), net.forward(X32.astype(np.float64)))


def test_float64_into_float32_network_matches_converted_input():
    net = make_net("float32")
    X64 = make_data(np.float64)[0]
    np.testing.assert_array_equal(net.forward(X64), net.forward(X64.astype(np.float32)))


def test_clean_input_is_not_copied():
    X = make_data(np.float32)[0]
    kind, out = V.check_X(X, N_IN, np.float32)
    assert kind == "dense" and out is X
    y = np.arange(N, dtype=np.int64) % N_OUT
    labels, targets = V.check_y(y, N, N_OUT, np.float32)
    assert labels is y and targets is None


def test_input_is_converted_once_per_fit_not_per_epoch(monkeypatch):
    calls = []
    real = V._convert

    def counting(arr, dtype, name, *args):
        calls.append(name)
        return real(arr, dtype, name, *args)

    monkeypatch.setattr(V, "_convert", counting)
    X = np.asfortranarray(_grid_data("float64"))
    Y = np.eye(N_OUT)[np.arange(N) % N_OUT]
    sw = np.ones(N, dtype=np.float64)
    counts = []
    for epochs in (1, 6):
        calls.clear()
        make_net("float32").fit(X, Y, epochs=epochs, sample_weight=sw, verbose=0,
                                validation_data=(X, Y))
        counts.append(sorted(calls))
    assert counts[0] == counts[1]
    assert counts[0].count("X") == 1 and counts[0].count("X_val") == 1


def test_inputs_are_never_modified():
    X = np.asfortranarray(_grid_data("float64"))
    y = np.arange(N) % N_OUT
    X0, y0 = X.copy(), y.copy()
    net = make_net("float32")
    net.fit(X, y, epochs=2, verbose=0)
    net.evaluate(X, y)
    net.gradients(X, y)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


def test_flags_accept_zero_and_one():
    X, y = make_data()
    a, b = make_net(), make_net()
    a.fit(X, y, shuffle=0, verbose=0, threads=1)
    b.fit(X, y, shuffle=False, verbose=0, threads=1)
    np.testing.assert_array_equal(a.params, b.params)


def test_path_like_checkpoint(tmp_path):
    X, y = make_data()
    net = make_net()
    net.fit(X, y, epochs=1, verbose=0,
            callbacks=[nnc.callbacks.ModelCheckpoint(tmp_path / "ck.npz")])
    assert os.path.exists(tmp_path / "ck.npz")
    np.testing.assert_array_equal(nnc.load(tmp_path / "ck.npz").params, net.params)


# ---------------------------------------------------------------------------
# scikit-learn estimators: validation flows through scikit-learn and nnc
# ---------------------------------------------------------------------------
def _estimators():
    # Only these tests need scikit-learn, an optional dependency.
    pytest.importorskip("sklearn", reason="scikit-learn is not installed")
    import nnc.sklearn as sk
    return [sk.MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0),
            sk.MLPRegressor(hidden_layer_sizes=(5,), max_iter=3, random_state=0)]


@pytest.fixture
def fitted():
    X, y = make_data(np.float64)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning after 3 iterations
        for est in _estimators():
            out.append(est.fit(X, y))
    return out


EST_BAD_X = [
    ("NaN", lambda X: np.where(X > 0.9, np.nan, X), ValueError, r"NaN"),
    ("inf", lambda X: np.where(X > 0.9, np.inf, X), ValueError, r"infinity|inf"),
    ("complex", lambda X: X.astype(complex), (ValueError, TypeError), r"[Cc]omplex"),
    ("strings", lambda X: np.full(X.shape, "a"), (ValueError, TypeError), r"string|float|numeric"),
    ("1-D", lambda X: X[0], ValueError, r"2D array"),
    ("empty", lambda X: X[:0], ValueError, r"0 sample"),
]


@pytest.mark.parametrize("case", EST_BAD_X, ids=[c[0] for c in EST_BAD_X])
@pytest.mark.parametrize("which", [0, 1], ids=["classifier", "regressor"])
def test_estimator_fit_rejects_bad_X(which, case):
    _, make, exc, match = case
    X, y = make_data(np.float64)
    est = _estimators()[which]
    with pytest.raises(exc, match=match):
        est.fit(make(X), y)


@pytest.mark.parametrize("case", EST_BAD_X, ids=[c[0] for c in EST_BAD_X])
@pytest.mark.parametrize("which", [0, 1], ids=["classifier", "regressor"])
def test_estimator_predict_rejects_bad_X(fitted, which, case):
    _, make, exc, match = case
    X, _ = make_data(np.float64)
    with pytest.raises(exc, match=match):
        fitted[which].predict(make(X))


@pytest.mark.parametrize("which", [0, 1], ids=["classifier", "regressor"])
def test_estimator_predict_rejects_wrong_feature_count(fitted, which):
    X, _ = make_data(np.float64)
    with pytest.raises(ValueError, match=r"features"):
        fitted[which].predict(X[:, :-1])


@pytest.mark.parametrize("which", [0, 1], ids=["classifier", "regressor"])
def test_estimator_rejects_mismatched_lengths(which):
    X, y = make_data(np.float64)
    with pytest.raises(ValueError, match=r"samples|length|inconsistent"):
        _estimators()[which].fit(X, y[:-2])


@pytest.mark.parametrize("param,value,exc", [
    ("hidden_layer_sizes", (0,), ValueError), ("hidden_layer_sizes", "5", TypeError),
    ("hidden_layer_sizes", (2.5,), TypeError),
    ("activation", "foo", ValueError), ("activation", "softmax", ValueError),
    ("solver", "newton", ValueError), ("alpha", -1.0, ValueError),
    ("learning_rate_init", -0.1, ValueError), ("learning_rate_init", float("nan"), ValueError),
    ("max_iter", 0, ValueError), ("max_iter", True, TypeError),
    ("batch_size", 0, ValueError), ("batch_size", 2.5, TypeError),
    ("momentum", 1.5, ValueError), ("beta_1", 1.0, ValueError),
    ("validation_fraction", 1.0, ValueError), ("epsilon", 0.0, ValueError),
    ("n_iter_no_change", 0, ValueError), ("dtype", "int32", ValueError),
    ("dropout", 1.0, ValueError), ("threads", 0, ValueError),
])
@pytest.mark.parametrize("which", [0, 1], ids=["classifier", "regressor"])
def test_estimator_rejects_bad_hyper_parameters(which, param, value, exc):
    X, y = make_data(np.float64)
    est = _estimators()[which].set_params(**{param: value})
    with pytest.raises(exc, match=param):
        est.fit(X, y)


def test_classifier_partial_fit_rejects_unknown_labels(fitted):
    X, y = make_data(np.float64)
    with pytest.raises(ValueError, match=r"classes|labels"):
        fitted[0].partial_fit(X, np.full(N, 7))


@pytest.mark.parametrize("which", [0, 1], ids=["classifier", "regressor"])
def test_estimator_unusual_layouts_match(fitted, which):
    X = _grid_data("float64")
    est = fitted[which]
    ref = est.predict(X)
    for odd in (np.asfortranarray(X), _strided(X), X.tolist(), X.astype(np.float32),
                sp.csr_matrix(X)):
        got = est.predict(odd)
        if which == 0:
            np.testing.assert_array_equal(got, ref)
        else:
            np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("value,exc,match", [
    (float("nan"), ValueError, r"must be finite"),
    (float("inf"), ValueError, r"must be finite"),
    (-0.1, ValueError, r"must be >= 0"),
    ("0.1", TypeError, r"must be a real number"),
    (None, TypeError, r"must be a real number"),
])
def test_schedule_returning_a_bad_learning_rate(value, exc, match):
    net = make_net()
    X, y = make_data()
    before = snapshot(net)
    schedule = lambda lr, epoch: value  # noqa: E731
    with pytest.raises(exc, match=r"learning rate that schedule returned for epoch 1 " + match):
        net.fit(X, y, epochs=2, verbose=0, optimizer=nnc.optimizers.SGD(schedule=schedule))
    assert unchanged(net, before)
