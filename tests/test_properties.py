"""Property-based tests (hypothesis) over shapes, dtypes, layouts and values.

For every public entry point -- the Network constructor, fit, forward,
predict, evaluate, gradients, save/load and the nnc.kernels wrappers -- any
input either works, giving outputs of the right shape that are finite for
finite inputs, or raises one of the documented exceptions (ValueError,
TypeError, nnc.DivergenceError for fit, OSError for files).  Nothing crashes
the interpreter.  The numerics section checks that sigmoid, softplus, softmax
and the cross-entropies stay finite for extreme inputs in both dtypes, with
warnings and floating-point errors turned into exceptions.
"""
import io
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nnc
from nnc import activations as acts
from nnc import kernels as K
from nnc import losses

pytestmark = pytest.mark.filterwarnings("error")

# Modest budgets: the whole module runs in well under a minute on two cores.
FAST = settings(max_examples=30, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
SLOW = settings(FAST, max_examples=15)

DTYPES = ["float32", "float64"]
ACTIVATIONS = [a for a in acts.CODES if a != "step"]
LOSSES = list(losses.CODES)
INITS = ["gaussian", "scaled", "xavier", "glorot", "he"]
INPUT_DTYPES = ["float16", "float32", "float64", "int8", "int32", "int64", "uint8", "bool"]
LAYOUTS = ["C", "F", "strided", "reversed", "list"]


# ---------------------------------------------------------------------------
# strategies
# ---------------------------------------------------------------------------
@st.composite
def networks(draw, max_layers=3, max_width=6):
    sizes = draw(st.lists(st.integers(1, max_width), min_size=2, max_size=max_layers + 1))
    n_layers = len(sizes) - 1
    if draw(st.booleans()):
        activation = draw(st.sampled_from(ACTIVATIONS))
    else:
        activation = draw(st.lists(st.sampled_from(ACTIVATIONS), min_size=n_layers,
                                   max_size=n_layers))
    kw = dict(
        activation=activation,
        loss=draw(st.sampled_from(LOSSES)),
        dtype=draw(st.sampled_from(DTYPES)),
        seed=draw(st.integers(0, 2**32)),
        init=draw(st.sampled_from(INITS)),
        dropout=draw(st.floats(0.0, 0.8)) if n_layers > 1 else 0.0,
    )
    return nnc.Network(sizes, **kw), kw


def _layout(arr, layout):
    if layout == "F":
        return np.asfortranarray(arr)
    if layout == "strided":
        big = np.zeros((arr.shape[0] * 2,) + arr.shape[1:], dtype=arr.dtype)
        big[::2] = arr
        return big[::2]
    if layout == "reversed":
        return arr[::-1].copy()[::-1]
    if layout == "list":
        return arr.tolist()
    return arr


@st.composite
def inputs(draw, n_features, max_rows=9):
    """A finite X of any supported dtype and layout, and the same values as float64."""
    n = draw(st.integers(1, max_rows))
    dtype = np.dtype(draw(st.sampled_from(INPUT_DTYPES)))
    if dtype.kind == "f":
        elements = st.floats(-100, 100, width=dtype.itemsize * 8, allow_subnormal=False)
    elif dtype.kind == "b":
        elements = st.booleans()
    else:
        info = np.iinfo(dtype)
        elements = st.integers(max(info.min, -100), min(info.max, 100))
    arr = draw(hnp.arrays(dtype, (n, n_features), elements=elements))
    return _layout(arr, draw(st.sampled_from(LAYOUTS))), arr.astype(np.float64)


@st.composite
def targets_for(draw, net, n):
    n_out = net.sizes[-1]
    if n_out > 1 and draw(st.booleans()):
        return draw(hnp.arrays(np.int64, n, elements=st.integers(0, n_out - 1)))
    return draw(hnp.arrays(np.float64, (n, n_out), elements=st.floats(0, 1)))


def _expected_exception(exc):
    return isinstance(exc, (ValueError, TypeError))


# ---------------------------------------------------------------------------
# the constructor
# ---------------------------------------------------------------------------
@FAST
@given(networks(max_layers=4, max_width=9))
def test_constructor_builds_consistent_networks(made):
    net, kw = made
    assert net.params.dtype == np.dtype(kw["dtype"]) and np.isfinite(net.params).all()
    assert net.params.size == sum(a * b + b for a, b in zip(net.sizes[:-1], net.sizes[1:], strict=True))
    for l, (W, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        assert W.shape == (net.sizes[l + 1], net.sizes[l]) and b.shape == (net.sizes[l + 1],)
        assert np.shares_memory(W, net.params) and np.shares_memory(b, net.params)
    # the configuration rebuilds the same network
    cfg = net.get_config()
    twin = nnc.Network(cfg["sizes"], activation=cfg["activation"], loss=cfg["loss"],
                       dtype=cfg["dtype"], seed=cfg["seed"], init=cfg["init"],
                       dropout=cfg["dropout"][:-1])
    np.testing.assert_array_equal(twin.params, net.params)


ANYTHING = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                     st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5),
                     st.lists(st.integers(-3, 9), max_size=4), st.binary(max_size=3))


@FAST
@given(sizes=ANYTHING, activation=ANYTHING, loss=ANYTHING, dtype=ANYTHING, seed=ANYTHING,
       init=ANYTHING, dropout=ANYTHING)
def test_constructor_never_crashes_on_arbitrary_arguments(sizes, activation, loss, dtype,
                                                          seed, init, dropout):
    try:
        net = nnc.Network(sizes, activation=activation, loss=loss, dtype=dtype, seed=seed,
                          init=init, dropout=dropout)
    except (ValueError, TypeError):
        return
    except MemoryError:  # a huge but valid layer size
        return
    assert np.isfinite(net.params).all()


# ---------------------------------------------------------------------------
# inference and gradients
# ---------------------------------------------------------------------------
@FAST
@given(st.data())
def test_forward_predict_evaluate_gradients(data):
    net, _ = data.draw(networks())
    X, X64 = data.draw(inputs(net.sizes[0]))
    n = X64.shape[0]
    with np.errstate(all="raise"):
        out = net.forward(X)
        assert out.shape == (n, net.sizes[-1]) and out.dtype == net.dtype
        assert np.isfinite(out).all()
        # any layout and dtype gives what the float64 values give
        np.testing.assert_array_equal(out, net.forward(X64))
        for layer in range(1, net.n_layers + 1):
            assert net.forward(X, layer=layer).shape == (n, net.sizes[layer])
        pred = net.predict(X)
        assert pred.shape == (n,) and pred.dtype == np.int64
        assert pred.min() >= 0 and pred.max() < max(net.sizes[-1], 2)
        y = data.draw(targets_for(net, n))
        scores = net.evaluate(X, y)
        assert np.isfinite(scores["loss"]) and 0 <= scores["accuracy"] <= 1
        if net.loss == "quadratic":
            assert scores["loss"] >= 0
        dW, db = net.gradients(X, y)
        for g, W in zip(dW, net.weights, strict=True):
            assert g.shape == W.shape and g.dtype == net.dtype and np.isfinite(g).all()
        for g, b in zip(db, net.biases, strict=True):
            assert g.shape == b.shape and np.isfinite(g).all()


@FAST
@given(st.data())
def test_non_finite_values_are_rejected_wherever_they_are(data):
    net, _ = data.draw(networks())
    _, X = data.draw(inputs(net.sizes[0]))
    i = data.draw(st.integers(0, X.shape[0] - 1))
    j = data.draw(st.integers(0, X.shape[1] - 1))
    X[i, j] = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    method = data.draw(st.sampled_from(["forward", "predict", "evaluate", "gradients", "fit"]))
    y = np.zeros((X.shape[0], net.sizes[-1]))
    with pytest.raises(ValueError, match=r"X contains NaN or inf"):
        if method in ("evaluate", "gradients"):
            getattr(net, method)(X, y)
        elif method == "fit":
            net.fit(X, y, verbose=0)
        else:
            getattr(net, method)(X)


@FAST
@given(st.data())
def test_wrong_shapes_are_rejected(data):
    net, _ = data.draw(networks())
    shape = data.draw(st.lists(st.integers(0, 7), min_size=0, max_size=4).map(tuple))
    assume(not (len(shape) == 2 and shape[1] == net.sizes[0] and shape[0] > 0))
    X = np.ones(shape)
    with pytest.raises(ValueError, match=r"\bX\b"):
        net.forward(X)


@FAST
@given(st.data())
def test_labels_outside_the_outputs_are_rejected(data):
    net, _ = data.draw(networks())
    assume(net.sizes[-1] > 1)
    X = np.zeros((4, net.sizes[0]))
    bad = data.draw(st.one_of(st.integers(net.sizes[-1], 2**62), st.integers(-2**62, -1)))
    y = np.array([0, 0, bad, 0])
    with pytest.raises(ValueError, match=r"y labels must lie in"):
        net.evaluate(X, y)


# ---------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------
def _draw_optimizer(data):
    name = data.draw(st.sampled_from(["sgd", "adam", "rmsprop", "nesterov"]))
    hyper = dict(lr=data.draw(st.floats(0, 1)), l2=data.draw(st.floats(0, 0.1)))
    if name in ("sgd", "nesterov"):
        hyper["momentum"] = data.draw(st.floats(0, 0.95))
    return nnc.optimizers.get(name, **hyper)


@SLOW
@given(st.data())
def test_fit_returns_finite_history_or_reports_divergence(data):
    net, _ = data.draw(networks(max_width=5))
    X, _ = data.draw(inputs(net.sizes[0], max_rows=12))
    n = np.asarray(X).shape[0]
    y = data.draw(targets_for(net, n))
    epochs = data.draw(st.integers(0, 2))
    kw = dict(
        epochs=epochs,
        batch_size=data.draw(st.integers(1, n + 3)),
        optimizer=_draw_optimizer(data),
        shuffle=data.draw(st.booleans()),
        threads=data.draw(st.sampled_from([None, 1, 2])),
        sparse=data.draw(st.sampled_from(["auto", True, False])),
        verbose=0,
    )
    if data.draw(st.booleans()):
        kw["sample_weight"] = data.draw(hnp.arrays(np.float64, n, elements=st.floats(0, 3)))
    before = net.params.copy()
    try:
        hist = net.fit(X, y, **kw)
    except nnc.DivergenceError as exc:
        assert "epoch" in str(exc) and np.isfinite(net.params).all()
        return
    except ValueError as exc:
        # a learning rate that rounds to 0 in float32 is refused up front, changing nothing
        lr = kw["optimizer"].lr
        assert net.dtype == np.float32 and 0 < lr < np.finfo(np.float32).tiny, exc
        assert "too small for a float32 network" in str(exc)
        np.testing.assert_array_equal(net.params, before)
        return
    assert len(hist["loss"]) == epochs == len(hist["accuracy"])
    assert np.isfinite(hist["loss"]).all() and np.isfinite(net.params).all()
    if "exp" not in net.activations:
        # (exp overflows float32 beyond z = 88: the last step can take a finite
        # network there, so only the bounded-growth activations promise this)
        assert np.isfinite(net.forward(X)).all()


# ---------------------------------------------------------------------------
# save / load
# ---------------------------------------------------------------------------
@SLOW
@given(made=networks(max_layers=3, max_width=6), scale=st.sampled_from([1e-30, 1.0, 1e30]),
       metadata=st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5),
                                max_size=3))
def test_save_load_round_trip(tmp_path_factory, made, scale, metadata):
    net, _ = made
    net.params[...] *= scale
    path = tmp_path_factory.mktemp("rt") / "m.npz"
    net.save(path, metadata=metadata)
    back = nnc.load(path)
    assert type(back) is type(net) and back.get_config() == net.get_config()
    np.testing.assert_array_equal(back.params, net.params)
    assert back.params.dtype == net.dtype and back.metadata == metadata


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory):
    net = nnc.Network([4, 3, 2], seed=0, dropout=0.5)
    net.fit(np.eye(4), [0, 1, 0, 1], epochs=2, verbose=0)
    path = tmp_path_factory.mktemp("model") / "m.npz"
    net.save(path)
    return path.read_bytes()


@settings(FAST, max_examples=60)
@given(data=st.data())
def test_damaged_files_never_crash_load(tmp_path_factory, model_bytes, data):
    raw = bytearray(model_bytes)
    how = data.draw(st.sampled_from(["flip", "truncate", "splice", "zero"]))
    if how == "flip":
        for pos in data.draw(st.lists(st.integers(0, len(raw) - 1), min_size=1, max_size=4)):
            raw[pos] ^= data.draw(st.integers(1, 255))
    elif how == "truncate":
        raw = raw[:data.draw(st.integers(0, len(raw) - 1))]
    elif how == "splice":
        pos = data.draw(st.integers(0, len(raw)))
        raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=64))
    else:
        start = data.draw(st.integers(0, len(raw) - 1))
        raw[start:start + data.draw(st.integers(1, 64))] = b"\0" * 64
    path = tmp_path_factory.mktemp("bad") / "m.npz"
    path.write_bytes(bytes(raw))
    try:
        net = nnc.load(path)
    except (OSError, ValueError):
        return
    # damage the checks cannot see (file comments, timestamps) leaves a valid model
    assert np.isfinite(net.params).all() and net.sizes == (4, 3, 2)


@SLOW
@given(values=st.lists(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                                 st.text(max_size=4)), min_size=1, max_size=6),
       field=st.sampled_from(["sizes", "activation", "loss", "dtype", "init", "dropout",
                              "seed"]))
def test_arbitrary_config_values_never_crash_load(tmp_path_factory, model_bytes, values,
                                                  field):
    import json
    with zipfile.ZipFile(io.BytesIO(model_bytes)) as zf:
        params = np.load(io.BytesIO(zf.read("params.npy")))
        config = json.loads(str(np.load(io.BytesIO(zf.read("config.npy")))))
    config["network"][field] = values if len(values) > 1 else values[0]
    buf = io.BytesIO()
    np.savez(buf, params=params, config=np.array(json.dumps(config)))
    path = tmp_path_factory.mktemp("cfg") / "m.npz"
    path.write_bytes(buf.getvalue())
    try:
        net = nnc.load(path)
    except ValueError:
        return
    assert np.isfinite(net.params).all()


# ---------------------------------------------------------------------------
# nnc.kernels
# ---------------------------------------------------------------------------
def _tol(dtype):
    return dict(rtol=2e-5, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-10)


def _arr(data, shape, dtype, lo=-3, hi=3):
    return data.draw(hnp.arrays(dtype, shape, elements=st.floats(
        lo, hi, width=np.dtype(dtype).itemsize * 8, allow_subnormal=False)))


@FAST
@given(st.data())
def test_kernels_match_numpy(data):
    dt = np.dtype(data.draw(st.sampled_from(DTYPES))).type
    m, n_in, n_out = (data.draw(st.integers(0, 5)), data.draw(st.integers(1, 5)),
                      data.draw(st.integers(1, 5)))
    x, w, b = _arr(data, (m, n_in), dt), _arr(data, (n_out, n_in), dt), _arr(data, n_out, dt)
    out = np.full((m, n_out), np.nan, dt)
    K.batch_forward(x, w, b, out)
    np.testing.assert_allclose(out, x @ w.T + b, **_tol(dt))

    v = _arr(data, n_in, dt)
    out1 = np.full(n_out, np.nan, dt)
    K.matvec(w, v, b, out1)
    np.testing.assert_allclose(out1, w @ v + b, **_tol(dt))

    delta = _arr(data, (m, n_out), dt)
    back = np.full((m, n_in), np.nan, dt)
    K.backprop_delta(delta, w, back)
    np.testing.assert_allclose(back, delta @ w, **_tol(dt))

    gw = _arr(data, (n_out, n_in), dt)
    beta = data.draw(st.sampled_from([0.0, 1.0, 0.5]))
    expected = delta.T @ x + beta * gw
    K.weight_gradient(delta, x, gw, beta)
    np.testing.assert_allclose(gw, expected, **_tol(dt))

    p, g = _arr(data, n_in, dt), _arr(data, n_in, dt)
    lr = data.draw(st.floats(0, 2))
    expected = p - dt(lr) * g
    K.sgd_step(p, g, lr)
    np.testing.assert_allclose(p, expected, **_tol(dt))


@FAST
@given(st.data())
def test_activation_kernels_match_numpy(data):
    dt = np.dtype(data.draw(st.sampled_from(DTYPES))).type
    name = data.draw(st.sampled_from(list(acts.CODES)))
    shape = (data.draw(st.integers(0, 4)), data.draw(st.integers(1, 5)))
    z = _arr(data, shape, dt, -30, 30)
    out = np.full(shape, np.nan, dt)
    K.activation(acts.CODES[name], z, out)
    with np.errstate(all="ignore"):
        ref = acts.FUNCTIONS[name](z.astype(np.float64))
    np.testing.assert_allclose(out, ref, rtol=1e-5 if dt == np.float32 else 1e-10, atol=1e-6)
    if name in acts.DERIVATIVES:
        d0 = _arr(data, shape, dt)
        d = d0.copy()
        K.activation_derivative(acts.CODES[name], z, out, d)
        with np.errstate(all="ignore"):
            ref = d0 * acts.DERIVATIVES[name](z.astype(np.float64))
        np.testing.assert_allclose(d, ref, rtol=1e-4 if dt == np.float32 else 1e-9,
                                   atol=1e-5)


BAD_KERNEL_ARRAYS = ["float16", "int32", "int64", "complex", "non-contiguous", "wrong ndim",
                     "3-D", "other float", "read-only output", "list", "None", "matrix"]


def _spoil(arr, how):
    """A version of ``arr`` that the kernels must refuse."""
    if how in ("float16", "int32", "int64"):
        return arr.astype(how)
    if how == "complex":
        return arr.astype(np.complex128)
    if how == "non-contiguous":
        if arr.ndim == 2 and min(arr.shape) > 1 and arr.shape[0] != arr.shape[1]:
            return np.asfortranarray(arr)
        return np.repeat(arr, 2, axis=-1)[..., ::2]
    if how == "wrong ndim":
        return arr.ravel() if arr.ndim == 2 else arr[None]
    if how == "3-D":
        return arr[None] if arr.ndim == 2 else arr[None, None]
    if how == "other float":
        return arr.astype(np.float32 if arr.dtype == np.float64 else np.float64)
    if how == "read-only output":
        arr = arr.copy()
        arr.flags.writeable = False
        return arr
    if how == "list":
        return arr.tolist()
    if how == "matrix":
        return np.array(arr, dtype=object)
    return None


@FAST
@given(st.data())
def test_kernels_reject_bad_arrays_without_crashing(data):
    dt = np.dtype(data.draw(st.sampled_from(DTYPES))).type
    m, n_in, n_out = 3, 4, 2
    args = {
        "batch_forward": [np.ones((m, n_in), dt), np.ones((n_out, n_in), dt),
                          np.ones(n_out, dt), np.zeros((m, n_out), dt)],
        "matvec": [np.ones((n_out, n_in), dt), np.ones(n_in, dt), np.ones(n_out, dt),
                   np.zeros(n_out, dt)],
        "backprop_delta": [np.ones((m, n_out), dt), np.ones((n_out, n_in), dt),
                           np.zeros((m, n_in), dt)],
        "weight_gradient": [np.ones((m, n_out), dt), np.ones((m, n_in), dt),
                            np.zeros((n_out, n_in), dt)],
        "activation": [1, np.ones((m, n_out), dt), np.zeros((m, n_out), dt)],
        "activation_derivative": [1, np.ones((m, n_out), dt), np.ones((m, n_out), dt),
                                  np.ones((m, n_out), dt)],
        "loss_and_delta": [0, 1, np.ones((m, n_out), dt), np.ones((m, n_out), dt),
                           np.ones((m, n_out), dt), np.zeros((m, n_out), dt)],
        "sgd_step": [np.ones(n_in, dt), np.ones(n_in, dt), 0.1],
    }
    outputs = {"batch_forward": 3, "matvec": 3, "backprop_delta": 2, "weight_gradient": 2,
               "activation": 2, "activation_derivative": 3, "loss_and_delta": 5,
               "sgd_step": 0}
    name = data.draw(st.sampled_from(sorted(args)))
    call = list(args[name])
    how = data.draw(st.sampled_from(BAD_KERNEL_ARRAYS))
    if how == "read-only output":
        i = outputs[name]  # inputs may be read-only; outputs must be writeable
    else:
        i = data.draw(st.sampled_from([j for j, a in enumerate(call)
                                       if isinstance(a, np.ndarray)]))
    call[i] = _spoil(call[i], how)
    with pytest.raises((ValueError, TypeError)):
        getattr(K, name)(*call)


@FAST
@given(st.data())
def test_kernels_reject_mismatched_shapes(data):
    dt = np.float64
    dims = [data.draw(st.integers(1, 4)) for _ in range(3)]
    m, n_in, n_out = dims
    off = data.draw(st.integers(1, 3))
    name = data.draw(st.sampled_from(["batch_forward", "matvec", "backprop_delta",
                                      "weight_gradient", "activation", "loss_and_delta",
                                      "sgd_step"]))
    which = data.draw(st.integers(0, 3))
    bump = lambda shape, k: tuple(s + off if j == k % len(shape) else s  # noqa: E731
                                  for j, s in enumerate(shape))
    shapes = {
        "batch_forward": [(m, n_in), (n_out, n_in), (n_out,), (m, n_out)],
        "matvec": [(n_out, n_in), (n_in,), (n_out,), (n_out,)],
        "backprop_delta": [(m, n_out), (n_out, n_in), (m, n_in)],
        "weight_gradient": [(m, n_out), (m, n_in), (n_out, n_in)],
        "activation": [(m, n_out), (m, n_out)],
        "loss_and_delta": [(m, n_out)] * 4,
        "sgd_step": [(n_in,), (n_in,)],
    }[name]
    k = which % len(shapes)
    spoilt = [np.zeros(bump(s, which) if j == k else s, dt) for j, s in enumerate(shapes)]
    # a change that keeps the arrays consistent (e.g. every m changed) is not an error
    with pytest.raises(ValueError):
        if name == "activation":
            K.activation(1, *spoilt)
        elif name == "loss_and_delta":
            K.loss_and_delta(0, 1, *spoilt)
        elif name == "sgd_step":
            K.sgd_step(*spoilt, 0.1)
        else:
            getattr(K, name)(*spoilt)


@FAST
@given(kind=st.integers(-2**31, 2**31 - 1), loss=st.integers(-2**31, 2**31 - 1))
def test_kernel_codes_out_of_range_are_rejected(kind, loss):
    z = np.zeros((2, 3))
    if not 0 <= kind <= acts.CODES["step"]:
        with pytest.raises(ValueError):
            K.activation(kind, z, np.zeros_like(z))
    if not 0 <= kind < acts.CODES["step"]:
        with pytest.raises(ValueError):
            K.activation_derivative(kind, z, z, np.zeros_like(z))
    if not 0 <= loss <= max(losses.CODES.values()):
        with pytest.raises(ValueError):
            K.loss_and_delta(loss, 1, z, z, z, np.zeros_like(z))


# ---------------------------------------------------------------------------
# numerics: extreme inputs stay finite, in both dtypes
# ---------------------------------------------------------------------------
# The largest |z| drawn: beyond it even the exact losses overflow (a softmax
# cross-entropy of 2 * max, or a sum of rows each near the maximum).
ZMAX = {np.float32: float(np.finfo(np.float32).max) / 4, np.float64: 1e300}


def _extreme(data, dt, shape):
    big = ZMAX[dt]
    special = st.sampled_from([big, -big, 1e4, -1e4, 710.0, -710.0, 89.0, -89.0, 0.0,
                               float(np.finfo(dt).tiny), -float(np.finfo(dt).tiny)])
    elements = st.one_of(special, st.floats(-big, big, width=np.dtype(dt).itemsize * 8))
    return data.draw(hnp.arrays(dt, shape, elements=elements))


@FAST
@given(st.data())
def test_activations_are_stable_for_extreme_inputs(data):
    dt = np.dtype(data.draw(st.sampled_from(DTYPES))).type
    z = _extreme(data, dt, (data.draw(st.integers(1, 4)), data.draw(st.integers(1, 5))))
    out = np.empty_like(z)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        K.activation(acts.CODES["sigmoid"], z, out)
        assert np.isfinite(out).all() and (out >= 0).all() and (out <= 1).all()
        K.activation(acts.CODES["softplus"], z, out)
        assert np.isfinite(out).all() and (out >= 0).all()
        assert (out >= z).all()  # softplus(z) >= max(z, 0)
        K.activation(acts.CODES["tanh"], z, out)
        assert np.isfinite(out).all() and (np.abs(out) <= 1).all()
        K.activation(acts.CODES["softmax"], z, out)
        assert np.isfinite(out).all() and (out >= 0).all()
        np.testing.assert_allclose(out.sum(axis=1), 1, rtol=1e-5)
        for name in ("sigmoid", "softplus", "tanh"):
            K.activation(acts.CODES[name], z, out)
            d = np.ones_like(z)
            K.activation_derivative(acts.CODES[name], z, out, d)
            assert np.isfinite(d).all()


@FAST
@given(st.data())
def test_cross_entropies_are_stable_for_extreme_inputs(data):
    dt = np.dtype(data.draw(st.sampled_from(DTYPES))).type
    m, n = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 5))
    z = _extreme(data, dt, (m, n))
    labels = data.draw(hnp.arrays(np.int64, m, elements=st.integers(0, n - 1)))
    y = np.eye(n, dtype=dt)[labels]
    pairs = [("sigmoid", "binary_crossentropy"), ("softmax", "categorical_crossentropy"),
             ("sigmoid", "categorical_crossentropy"), ("softmax", "binary_crossentropy"),
             ("sigmoid", "quadratic"), ("softmax", "quadratic"), ("tanh", "quadratic")]
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        for act, loss in pairs:
            a = np.empty_like(z)
            K.activation(acts.CODES[act], z, a)
            delta = np.empty_like(z)
            value = K.loss_and_delta(losses.CODES[loss], acts.CODES[act], z, a, y, delta)
            assert np.isfinite(value) and value >= 0, (act, loss, value)
            assert np.isfinite(delta).all(), (act, loss)


@FAST
@given(st.data())
def test_network_outputs_and_losses_are_stable_with_huge_weights(data):
    dtype = data.draw(st.sampled_from(DTYPES))
    out_act, loss = data.draw(st.sampled_from([
        ("sigmoid", "binary_crossentropy"), ("softmax", "categorical_crossentropy"),
        ("softmax", "sparse_categorical_crossentropy"), ("sigmoid", "quadratic"),
        ("softmax", "quadratic"), ("sigmoid", "categorical_crossentropy")]))
    hidden = data.draw(st.sampled_from(["sigmoid", "tanh", "softplus", "relu"]))
    net = nnc.Network([3, 4, 3], activation=hidden, output_activation=out_act, loss=loss,
                      dtype=dtype, seed=data.draw(st.integers(0, 1000)))
    scale = data.draw(st.sampled_from([1e10, 1e20, 1e30]))
    # softplus/relu hidden layers pass huge values on: keep their product finite
    if hidden in ("softplus", "relu") and dtype == "float32":
        scale = min(scale, 1e15)
    net.params[...] *= scale
    X = data.draw(hnp.arrays(np.float64, (5, 3), elements=st.floats(-1, 1)))
    y = data.draw(hnp.arrays(np.int64, 5, elements=st.integers(0, 2)))
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        out = net.forward(X)
        assert np.isfinite(out).all()
        scores = net.evaluate(X, y)
        assert np.isfinite(scores["loss"]) and scores["loss"] >= 0
        if hidden in ("sigmoid", "tanh"):
            for g in sum(net.gradients(X, y), []):
                assert np.isfinite(g).all()
