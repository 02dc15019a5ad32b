"""One validation vocabulary across the public API (issue 11, section 4).

- NumPy scalars (np.int64, np.float32, np.bool_) are accepted wherever
  Python's int, float and bool are, with the same result.
- 0-d arrays are refused as scalars, with a TypeError naming the argument
  (never "iteration over a 0-d array" or "len() of unsized object").
- Flags are booleans: True/False, np.bool_, or the integers 0 and 1; strings
  ("no", "yes", "False", ""), None, 2, 1.0 and 0-d arrays are refused.
- A wrong type is a TypeError naming the argument, before any work (a str
  handed to a bytes parser, a sparse matrix of the wrong width, ...).
- A float32 network refuses hyper-parameters that round to 0 (or to 1 for
  decay rates) in float32, instead of producing a NaN loss.
"""
import re

import numpy as np
import pytest
import scipy.sparse as sp

import nnc
from nnc import _validation as V
from nnc import datasets, optimizers
from nnc import io as nio
from nnc import kernels as K

N_IN, N_OUT = 4, 3
BAD_MESSAGES = re.compile(r"iteration over a 0-d array|unsized object|has no attribute")


def _data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, N_IN)), np.arange(n) % N_OUT


def _net(**kw):
    kw.setdefault("seed", 0)
    return nnc.Network([N_IN, 5, N_OUT], **kw)


def _raises_naming(exc, name, call):
    """``call`` raises ``exc`` with a message that names ``name`` as a word."""
    with pytest.raises(exc) as info:
        call()
    message = str(info.value)
    assert re.search(rf"(^|[^\w]){re.escape(name)}([^\w]|$)", message), message
    assert not BAD_MESSAGES.search(message), message
    return message


def _same(a, b):
    """Two results (arrays, dicts of lists, floats) are identical."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            if key != "seconds":
                _same(a[key], b[key])
    else:
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------
# NumPy scalars behave like Python's
# ---------------------------------------------------------------------------
def _network_runs(numpy):
    """The same work with Python scalars (numpy=False) or NumPy scalars."""
    i, f, b = (np.int64, np.float32, np.bool_) if numpy else (int, float, bool)
    X, y = _data()
    net = nnc.Network([i(N_IN), i(5), i(N_OUT)], seed=i(3), dropout=f(0.25))
    history = net.fit(X, y, epochs=i(2), batch_size=i(8), lr=f(0.5), shuffle=b(True),
                      verbose=i(0), threads=i(1), validation_split=f(0.25))
    return [history, net.params, net.forward(X, layer=i(1), batch_size=i(7), threads=i(1)),
            net.evaluate(X, y, batch_size=i(5)), net.predict(X, threads=i(1))]


def _perceptron_runs(numpy):
    i, f, b = (np.int64, np.float32, np.bool_) if numpy else (int, float, bool)
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    p = nnc.Perceptron(i(2), n_outputs=i(1), lr=f(0.5), seed=i(4))
    history = p.fit(X, [0, 1, 1, 1], epochs=i(6), shuffle=b(True), stop_when_converged=b(False))
    return [history, p.params, p.forward(X, layer=i(1))]


def _schedule_runs(numpy):
    i, f = (np.int64, np.float32) if numpy else (int, float)
    runs = []
    for kind in optimizers.Schedule.KINDS:
        s = optimizers.Schedule(kind, gamma=f(0.5), step_size=i(2), power_t=f(0.5))
        runs.append([s(0.1, epoch) for epoch in range(6)])
    return runs


def _kernel_runs(numpy):
    i, f = (np.int64, np.float64) if numpy else (int, float)
    rng = np.random.default_rng(1)
    z, d = rng.standard_normal((3, 4)), rng.standard_normal((3, 2))
    a, out, p = np.empty_like(z), np.ones((2, 4)), np.zeros(4)
    K.activation(i(2), z, a)
    K.weight_gradient(d, z, out, beta=f(0.5))
    K.sgd_step(p, z[0], f(0.25))
    return [a, out, p]


@pytest.mark.parametrize("runs", [_network_runs, _perceptron_runs, _schedule_runs, _kernel_runs])
def test_numpy_scalars_give_the_same_results(runs):
    for python, numpy in zip(runs(False), runs(True), strict=True):
        _same(python, numpy)


def test_numpy_dtype_objects_and_names_are_the_same_dtype():
    for dtype in ("float32", np.float32, np.dtype("float32")):
        assert _net(dtype=dtype).dtype == np.float32


def test_schedule_step_size_numpy_integer_is_accepted():
    # issue 11: "step_size must be an integer >= 1, got 2"
    assert optimizers.Schedule("step", step_size=np.int64(2)).step_size == 2
    assert type(optimizers.Schedule("step", step_size=np.int32(2)).step_size) is int


# ---------------------------------------------------------------------------
# 0-d arrays are refused by name
# ---------------------------------------------------------------------------
X0, Y0 = _data()
ZERO_D = {
    "Network sizes": ("sizes", lambda: nnc.Network(np.array(3))),
    "Network sizes[0]": ("sizes[0]", lambda: nnc.Network([np.array(4), 3])),
    "Network activation": ("activation", lambda: _net(activation=np.array("relu"))),
    "Network output_activation": ("output_activation",
                                  lambda: _net(output_activation=np.array("softmax"))),
    "Network loss": ("loss", lambda: _net(loss=np.array("quadratic"))),
    "Network dtype": ("dtype", lambda: _net(dtype=np.array("float64"))),
    "Network seed": ("seed", lambda: _net(seed=np.array(3))),
    "Network init": ("init", lambda: _net(init=np.array("he"))),
    "Network dropout": ("dropout", lambda: _net(dropout=np.array(0.1))),
    "forward layer": ("layer", lambda: _net().forward(X0, layer=np.array(1))),
    "forward batch_size": ("batch_size", lambda: _net().forward(X0, batch_size=np.array(4))),
    "forward threads": ("threads", lambda: _net().forward(X0, threads=np.array(1))),
    "evaluate batch_size": ("batch_size",
                            lambda: _net().evaluate(X0, Y0, batch_size=np.array(4))),
    "fit epochs": ("epochs", lambda: _net().fit(X0, Y0, epochs=np.array(1), verbose=0)),
    "fit batch_size": ("batch_size", lambda: _net().fit(X0, Y0, batch_size=np.array(4),
                                                        verbose=0)),
    "fit lr": ("lr", lambda: _net().fit(X0, Y0, lr=np.array(0.1), verbose=0)),
    "fit shuffle": ("shuffle", lambda: _net().fit(X0, Y0, shuffle=np.array(True), verbose=0)),
    "fit verbose": ("verbose", lambda: _net().fit(X0, Y0, verbose=np.array(0))),
    "fit sparse": ("sparse", lambda: _net().fit(X0, Y0, sparse=np.array(True), verbose=0)),
    "fit validation_split": ("validation_split", lambda: _net().fit(
        X0, Y0, validation_split=np.array(0.2), verbose=0)),
    "fit threads": ("threads", lambda: _net().fit(X0, Y0, threads=np.array(1), verbose=0)),
    "Schedule kind": ("kind", lambda: optimizers.Schedule(np.array("step"))),
    "Schedule gamma": ("gamma", lambda: optimizers.Schedule("step", gamma=np.array(0.5))),
    "Schedule step_size": ("step_size",
                           lambda: optimizers.Schedule("step", step_size=np.array(2))),
    "Schedule power_t": ("power_t",
                         lambda: optimizers.Schedule("invscaling", power_t=np.array(0.5))),
    "Perceptron n_inputs": ("n_inputs", lambda: nnc.Perceptron(np.array(2))),
    "Perceptron n_outputs": ("n_outputs", lambda: nnc.Perceptron(2, n_outputs=np.array(1))),
    "Perceptron lr": ("lr", lambda: nnc.Perceptron(2, lr=np.array(1.0))),
    "Perceptron seed": ("seed", lambda: nnc.Perceptron(2, seed=np.array(1))),
    "Perceptron epochs": ("epochs", lambda: nnc.Perceptron(N_IN).fit(X0, Y0 % 2,
                                                                     epochs=np.array(2))),
    "Perceptron shuffle": ("shuffle", lambda: nnc.Perceptron(N_IN).fit(
        X0, Y0 % 2, shuffle=np.array(True))),
    "Perceptron stop_when_converged": ("stop_when_converged", lambda: nnc.Perceptron(N_IN).fit(
        X0, Y0 % 2, stop_when_converged=np.array(False))),
    "Perceptron layer": ("layer", lambda: nnc.Perceptron(N_IN).forward(X0, layer=np.array(1))),
    "kernels lr": ("lr", lambda: K.sgd_step(np.zeros(3), np.ones(3), np.array(0.1))),
    "kernels beta": ("beta", lambda: K.weight_gradient(np.zeros((2, 3)), np.zeros((2, 3)),
                                                       np.zeros((3, 3)), np.array(1.0))),
    "kernels kind": ("kind", lambda: K.activation(np.array(1), np.zeros((2, 2)),
                                                  np.zeros((2, 2)))),
    "parse_idx raw": ("raw", lambda: datasets.parse_idx(np.array(1))),
    "load_idx path": ("path", lambda: datasets.load_idx(np.array("a.idx"))),
    "load_mnist directory": ("directory", lambda: datasets.load_mnist(np.array("d"))),
    "io.load path": ("path", lambda: nio.load(np.array("m.npz"))),
    "io.read_config path": ("path", lambda: nio.read_config(np.array("m.npz"))),
}


@pytest.mark.parametrize("case", sorted(ZERO_D))
def test_zero_d_arrays_are_refused_by_name(case):
    name, call = ZERO_D[case]
    _raises_naming(TypeError, name, call)


@pytest.mark.parametrize("what,call", [
    ("X", lambda: _net().forward(np.array(1.0))),
    ("y", lambda: _net().evaluate(X0, np.array(1))),
    ("sample_weight", lambda: _net().evaluate(X0, Y0, sample_weight=np.array(1.0))),
    ("y", lambda: nnc.Perceptron(N_IN).fit(X0, np.array(1))),
])
def test_zero_d_data_is_a_shape_error_naming_the_argument(what, call):
    _raises_naming(ValueError, what, call)


# ---------------------------------------------------------------------------
# flags are booleans
# ---------------------------------------------------------------------------
NOT_BOOLS = ["no", "yes", "False", "", None, 2, -1, 1.0, 0.5, np.array(True), [True]]
FLAGS = {
    "Network.fit shuffle": ("shuffle", lambda v: _net().fit(X0, Y0, shuffle=v, verbose=0)),
    "Perceptron.fit shuffle": ("shuffle", lambda v: nnc.Perceptron(N_IN, seed=0).fit(
        X0, Y0 % 2, epochs=3, shuffle=v)),
    "Perceptron.fit stop_when_converged": (
        "stop_when_converged",
        lambda v: nnc.Perceptron(N_IN).fit(X0, Y0 % 2, epochs=3, stop_when_converged=v)),
}


@pytest.mark.parametrize("value", NOT_BOOLS, ids=repr)
@pytest.mark.parametrize("flag", sorted(FLAGS))
def test_flags_refuse_what_is_not_a_boolean(flag, value):
    name, call = FLAGS[flag]
    _raises_naming(TypeError, name, lambda: call(value))


@pytest.mark.parametrize("flag", sorted(FLAGS))
def test_flags_accept_bools_numpy_bools_and_zero_one(flag):
    name, call = FLAGS[flag]
    for true, false in [(True, False), (np.bool_(True), np.bool_(False)), (1, 0),
                        (np.int64(1), np.int64(0))]:
        call(true)
        call(false)


def test_perceptron_flags_mean_what_they_say():
    # "no" used to be read as True (a non-empty string)
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    a, b = nnc.Perceptron(2, seed=0), nnc.Perceptron(2, seed=0)
    ha = a.fit(X, [0, 0, 0, 1], epochs=30, stop_when_converged=False)
    hb = b.fit(X, [0, 0, 0, 1], epochs=30, stop_when_converged=np.bool_(False))
    assert len(ha["errors"]) == len(hb["errors"]) == 30


@pytest.mark.parametrize("value", ["yes", "no", "on", None, 2, np.array(True)], ids=repr)
def test_sparse_is_a_flag_or_auto(value):
    _raises_naming((TypeError, ValueError), "sparse",
                   lambda: _net().fit(X0, Y0, sparse=value, verbose=0))


def test_sparse_accepts_numpy_bools():
    X, y = _data()
    X[:, :2] = 0  # half zeros: "auto" would pick either path by density
    kw = dict(epochs=2, verbose=0, threads=1)
    for flag in (True, False):
        a, b = _net(dtype="float64"), _net(dtype="float64")
        a.fit(X, y, sparse=np.bool_(flag), **kw)
        b.fit(X, y, sparse=flag, **kw)
        _same(a.params, b.params)


# ---------------------------------------------------------------------------
# wrong types: a TypeError naming the argument, before any work
# ---------------------------------------------------------------------------
WRONG_TYPES = {
    "parse_idx str": ("raw", lambda: datasets.parse_idx("\0\0\x08\x01\0\0\0\x01\x05")),
    "parse_idx None": ("raw", lambda: datasets.parse_idx(None)),
    "parse_idx list": ("raw", lambda: datasets.parse_idx([0, 0, 8, 1])),
    "load_idx int": ("path", lambda: datasets.load_idx(3)),
    "load_idx None": ("path", lambda: datasets.load_idx(None)),
    "load_images_labels images": ("images_path",
                                  lambda: datasets.load_images_labels(None, "l.idx")),
    "load_images_labels labels": ("labels_path", lambda: datasets.load_images_labels(
        datasets.os.path.join(datasets.MNIST_DIR, "t10k-images-idx3-ubyte.gz"), 7)),
    "load_mnist directory": ("directory", lambda: datasets.load_mnist(3)),
    "io.load": ("path", lambda: nio.load(3)),
    "io.read_config": ("path", lambda: nio.read_config(None)),
    "io.save network": ("network", lambda: nio.save("net", "unused.npz")),
    "io.save path": ("path", lambda: nio.save(_net(), 3)),
    "io.save metadata": ("metadata", lambda: nio.save(_net(), "unused.npz", metadata="x")),
    "Network sizes str": ("sizes", lambda: nnc.Network("784,30,10")),
    "Network sizes set": ("sizes", lambda: nnc.Network({4, 3})),
    "Network sizes float": ("sizes[1]", lambda: nnc.Network([4, 3.0])),
    "Network activation int": ("activation", lambda: _net(activation=3)),
    "Network init None": ("init", lambda: _net(init=None)),
    "Network dropout str": ("dropout", lambda: _net(dropout="0.1")),
    "forward layer str": ("layer", lambda: _net().forward(X0, layer="1")),
    "fit epochs float": ("epochs", lambda: _net().fit(X0, Y0, epochs=2.0, verbose=0)),
    "fit lr str": ("lr", lambda: _net().fit(X0, Y0, lr="0.1", verbose=0)),
    "Schedule kind int": ("kind", lambda: optimizers.Schedule(3)),
    "Schedule kind list": ("kind", lambda: optimizers.Schedule(["step"])),
    "Schedule step_size float": ("step_size", lambda: optimizers.Schedule("step",
                                                                          step_size=2.0)),
    "Schedule gamma str": ("gamma", lambda: optimizers.Schedule("step", gamma="0.5")),
    "Perceptron n_inputs float": ("n_inputs", lambda: nnc.Perceptron(2.0)),
    "Perceptron layer str": ("layer", lambda: nnc.Perceptron(N_IN).forward(X0, layer="1")),
    "kernels lr str": ("lr", lambda: K.sgd_step(np.zeros(3), np.ones(3), "0.1")),
    "kernels out list": ("out", lambda: K.matvec(np.zeros((2, 3)), np.zeros(3), np.zeros(2),
                                                 [0.0, 0.0])),
}


@pytest.mark.parametrize("case", sorted(WRONG_TYPES))
def test_wrong_types_are_type_errors_naming_the_argument(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written, but if it were: not in the repo
    name, call = WRONG_TYPES[case]
    _raises_naming(TypeError, name, call)
    assert not list(tmp_path.iterdir())


def test_parse_idx_accepts_bytes_bytearray_and_memoryview():
    raw = b"\0\0\x08\x01\0\0\0\x03\x05\x06\x07"
    for form in (raw, bytearray(raw), memoryview(raw)):
        np.testing.assert_array_equal(datasets.parse_idx(form), [5, 6, 7])


class _NoDensify(sp.csr_matrix):
    """A sparse matrix that fails the test if anything densifies it."""

    def toarray(self, *args, **kwargs):
        raise AssertionError("densified before its shape was checked")

    todense = toarray


@pytest.mark.parametrize("fmt", ["csr", "coo", "csc"])
@pytest.mark.parametrize("model", ["network", "perceptron"])
@pytest.mark.parametrize("method", ["forward", "predict"])
def test_sparse_width_is_checked_before_densifying(model, method, fmt):
    # one value in 2 x 10^12 (or 10^12 x 2): densified it would need 16 TB
    shape = (10**12, 2) if fmt == "csc" else (2, 10**12)
    big = sp.coo_matrix(([1.0], ([1], [1])), shape=shape).asformat(fmt)
    est = _net() if model == "network" else nnc.Perceptron(N_IN)
    with pytest.raises(ValueError, match=r"^X must have 4 features"):
        getattr(est, method)(big)
    wrong = _NoDensify(sp.random(5, N_IN + 1, density=0.5, format="csr", random_state=0))
    with pytest.raises(ValueError, match=r"^X must have 4 features"):
        getattr(est, method)(wrong)


def test_perceptron_still_reads_sparse_input():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    p = nnc.Perceptron(2)
    p.fit(X, [0, 0, 0, 1], epochs=20)
    np.testing.assert_array_equal(p.predict(sp.csr_matrix(X)), p.predict(X))


# ---------------------------------------------------------------------------
# float32: hyper-parameters that round away are refused up front
# ---------------------------------------------------------------------------
def _fit_with(net, X, y, optimizer, **hyper):
    """fit with an optimizer's hyper-parameters (the issue-15 classes when present)."""
    cls = getattr(optimizers, {"adam": "Adam", "rmsprop": "RMSprop", "sgd": "SGD"}[optimizer],
                  None)
    kw = dict(epochs=2, batch_size=8, verbose=0, threads=1)
    if isinstance(cls, type):
        return net.fit(X, y, optimizer=cls(**hyper), **kw)
    lr = hyper.pop("lr", None)
    return net.fit(X, y, optimizer=optimizer, lr=lr, **hyper, **kw)


@pytest.mark.parametrize("optimizer,name,value", [
    ("adam", "epsilon", 1e-50), ("adam", "epsilon", 1e-46), ("rmsprop", "epsilon", 1e-50),
    ("adam", "beta2", 1 - 1e-9), ("adam", "beta1", 1 - 1e-10), ("rmsprop", "rho", 1 - 1e-9),
    ("sgd", "lr", 1e-50),
])
def test_float32_refuses_values_that_round_away(optimizer, name, value):
    X, y = _data()
    net = _net(dtype="float32")
    before = net.params.copy()
    message = _raises_naming(ValueError, name, lambda: _fit_with(net, X, y, optimizer,
                                                                 **{name: value}))
    assert "float32" in message and "float64" in message  # the cause and the way out
    _same(net.params, before)
    # float64 represents the same value: training runs and stays finite
    wide = _net(dtype="float64")
    history = _fit_with(wide, X, y, optimizer, **{name: value})
    assert np.isfinite(history["loss"]).all() and np.isfinite(wide.params).all()


def test_float32_accepts_small_but_representable_epsilon():
    X, y = _data()
    history = _fit_with(_net(dtype="float32"), X, y, "adam", epsilon=1e-30)
    assert np.isfinite(history["loss"]).all()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_check_optimizer_dtype_limits(dtype):
    tiny = float(np.finfo(dtype).tiny)
    V.check_optimizer_dtype(dtype, epsilon=tiny, lr=0.0, beta2=0.999, momentum=0.0)
    with pytest.raises(ValueError, match=r"^epsilon="):
        V.check_optimizer_dtype(dtype, epsilon=tiny / 4)
    below_one = float(np.nextafter(np.dtype(dtype).type(1), np.dtype(dtype).type(0)))
    V.check_optimizer_dtype(dtype, beta2=below_one, rho=below_one)
    if dtype == "float32":  # (a Python float below 1 is below 1 in float64 too)
        with pytest.raises(ValueError, match=r"^beta2=.*rounds to 1\.0"):
            V.check_optimizer_dtype(dtype, beta2=1 - (1 - below_one) / 4)


def test_sklearn_float32_epsilon_is_refused_by_name():
    sk = pytest.importorskip("nnc.sklearn")
    X, y = _data()
    clf = sk.MLPClassifier(hidden_layer_sizes=(5,), max_iter=2, dtype="float32", epsilon=1e-50)
    _raises_naming(ValueError, "epsilon", lambda: clf.fit(X, y))


# ---------------------------------------------------------------------------
# scikit-learn estimators' parameters
# ---------------------------------------------------------------------------
SK_GOOD_NUMPY = dict(hidden_layer_sizes=(np.int64(5),), alpha=np.float32(1e-4),
                     batch_size=np.int64(8), learning_rate_init=np.float32(0.01),
                     max_iter=np.int64(3), shuffle=np.bool_(True), random_state=np.int64(0),
                     tol=np.float64(1e-4), momentum=np.float32(0.5), beta_1=np.float32(0.9),
                     beta_2=np.float64(0.999), epsilon=np.float64(1e-8),
                     n_iter_no_change=np.int64(5), threads=np.int64(1),
                     dropout=np.float32(0.0), warm_start=np.bool_(False), verbose=np.int64(0))
SK_BOOLS = ["shuffle", "warm_start", "nesterovs_momentum", "early_stopping"]
SK_ZERO_D = ["hidden_layer_sizes", "alpha", "max_iter", "momentum", "epsilon", "dropout",
             "n_iter_no_change", "threads", "shuffle", "early_stopping", "verbose"]


def _sk():
    pytest.importorskip("sklearn")
    import nnc.sklearn as sk
    return sk


@pytest.mark.parametrize("est", ["MLPClassifier", "MLPRegressor"])
def test_sklearn_numpy_scalars_match_python_scalars(est):
    sk = _sk()
    X, y = _data()
    python = {k: (tuple(int(h) for h in v) if k == "hidden_layer_sizes" else v.item())
              for k, v in SK_GOOD_NUMPY.items()}
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning after 3 iterations
        a = getattr(sk, est)(**SK_GOOD_NUMPY).fit(X, y)
        b = getattr(sk, est)(**python).fit(X, y)
    _same(a.predict(X), b.predict(X))
    _same(a.network_.params, b.network_.params)


@pytest.mark.parametrize("value", ["no", "yes", "", None, 2, 0.5, np.array(True)], ids=repr)
@pytest.mark.parametrize("name", SK_BOOLS)
def test_sklearn_flags_refuse_non_booleans(name, value):
    sk = _sk()
    clf = sk.MLPClassifier(hidden_layer_sizes=(5,), max_iter=2, **{name: value})
    _raises_naming((TypeError, ValueError), name, lambda: clf.fit(*_data()))


@pytest.mark.parametrize("name", SK_ZERO_D)
def test_sklearn_zero_d_arrays_are_refused_by_name(name):
    sk = _sk()
    value = {"hidden_layer_sizes": np.array(5), "max_iter": np.array(3),
             "n_iter_no_change": np.array(3), "threads": np.array(1), "verbose": np.array(0),
             "shuffle": np.array(True), "early_stopping": np.array(False)}.get(
        name, np.array(0.1))
    clf = sk.MLPClassifier(hidden_layer_sizes=(5,), max_iter=2)
    clf.set_params(**{name: value})
    _raises_naming((TypeError, ValueError), name, lambda: clf.fit(*_data()))


# ---------------------------------------------------------------------------
# downloads and plots: flags and numbers in the same vocabulary
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["no", "False", None, 2, np.array(False)], ids=repr)
@pytest.mark.parametrize("name", ["download", "progress"])
def test_load_dataset_flags_are_booleans(name, value, tmp_path):
    from nnc import datasets
    # refused before the cache is looked at or anything is fetched ("no" was truthy)
    _raises_naming(TypeError, name, lambda: datasets.load_dataset(
        "fashion-mnist", cache_dir=tmp_path, **{name: value}))
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("kw,exc,name", [
    ({"force": "no"}, TypeError, "force"), ({"progress": "yes"}, TypeError, "progress"),
    ({"timeout": "5"}, TypeError, "timeout"), ({"timeout": np.array(5.0)}, TypeError, "timeout"),
    ({"timeout": np.float32(0.0)}, ValueError, "timeout"),  # a number: only its value is wrong
    ({"timeout": -1}, ValueError, "timeout"),
], ids=repr)
def test_download_arguments_are_checked_before_any_work(kw, exc, name, tmp_path):
    from nnc import downloads
    _raises_naming(exc, name, lambda: downloads.download("kmnist", tmp_path, **kw))
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("value", ["no", None, 2, np.array(True)], ids=repr)
def test_plot_normalize_is_a_boolean(value):
    pytest.importorskip("matplotlib")
    from nnc import plot
    _raises_naming(TypeError, "normalize",
                   lambda: plot.confusion_matrix([0, 1], [0, 1], normalize=value))
    fig = plot.confusion_matrix([0, 1, 1], [0, 1, 0], normalize=np.bool_(True))
    np.testing.assert_allclose(fig.nnc_matrix.sum(axis=1), [1, 2])


# ---------------------------------------------------------------------------
# the shared helpers themselves
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["abc", b"ab", {1: 2}, {4, 3}, (x for x in [4, 3]), 5,
                                   None, np.array(3), np.zeros((2, 2))], ids=repr)
def test_check_sequence_refuses_what_is_not_an_ordered_sequence(value):
    _raises_naming(TypeError, "sizes", lambda: V.check_sequence("sizes", value))


@pytest.mark.parametrize("value", [[4, 3], (4, 3), np.array([4, 3]), range(4, 2, -1)])
def test_check_sequence_accepts_sequences(value):
    assert V.check_sequence("sizes", value) == [4, 3]


def test_check_bytes_reads_any_buffer_as_bytes():
    import array
    ints = array.array("i", [1, 2])
    assert bytes(V.check_bytes("raw", memoryview(ints))) == ints.tobytes()
    strided = memoryview(b"abcdef")[::2]
    assert bytes(V.check_bytes("raw", strided)) == b"ace"
    _raises_naming(TypeError, "raw", lambda: V.check_bytes("raw", "abc"))


def test_check_bool_or_auto():
    assert V.check_bool_or_auto("sparse", "auto") == "auto"
    assert V.check_bool_or_auto("sparse", np.bool_(True)) is True
    assert V.check_bool_or_auto("sparse", 0) is False
    _raises_naming(ValueError, "sparse", lambda: V.check_bool_or_auto("sparse", "Auto"))
    _raises_naming(TypeError, "sparse", lambda: V.check_bool_or_auto("sparse", 0.0))


def test_describe_names_zero_d_arrays_and_truncates():
    assert "0-d array" in V.describe(np.array(1.5))
    assert len(V.describe("x" * 500)) < 80
