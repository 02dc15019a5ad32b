"""Training against a plain NumPy implementation, determinism, and the Network API."""
import numpy as np
import pytest
import scipy.sparse as sp

import nnc
from nnc import activations as acts
from nnc.callbacks import EarlyStopping
from nnc.optimizers import SGD, Adam, RMSprop, get


def data(n=23, d=6, k=3, seed=0, zeros=0.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if zeros:
        X *= rng.random((n, d)) >= zeros
    y = rng.integers(0, k, n)
    return X, y


def assert_same_params(net, ref, tol=1e-9):
    for W, Wr in zip(net.weights, ref.W, strict=True):
        np.testing.assert_allclose(W, Wr, rtol=tol, atol=tol)
    for b, br in zip(net.biases, ref.b, strict=True):
        np.testing.assert_allclose(b, br, rtol=tol, atol=tol)


# ---------------------------------------------------------------------------
# One epoch, no shuffling == the NumPy algorithm (float64, <= 1e-9)
# ---------------------------------------------------------------------------
# name: (network kwargs, fit kwargs (or a function making them: optimizers
# hold state, so every test needs a fresh one), reference optimizer kwargs)
CASES = {
    "tutorial sigmoid/quadratic sgd": (
        dict(sizes=[6, 5, 3]), dict(lr=3.0), dict(name="sgd", lr=3.0)),
    "relu/softmax/categorical CE sgd": (
        dict(sizes=[6, 5, 3], activation="relu", output_activation="softmax",
             loss="categorical_crossentropy", init="he"),
        dict(lr=0.5), dict(name="sgd", lr=0.5)),
    "sparse categorical CE, 3 layers": (
        dict(sizes=[6, 7, 5, 3], activation=["tanh", "gelu", "softmax"],
             loss="sparse_categorical_crossentropy", init="xavier"),
        dict(lr=0.3), dict(name="sgd", lr=0.3)),
    "binary CE sigmoid": (
        dict(sizes=[6, 5, 3], activation="elu", output_activation="sigmoid",
             loss="binary_crossentropy", init="scaled"),
        dict(lr=0.7), dict(name="sgd", lr=0.7)),
    "momentum": (
        dict(sizes=[6, 5, 3]), lambda: dict(optimizer=SGD(lr=0.5, momentum=0.9)),
        dict(name="momentum", lr=0.5, momentum=0.9)),
    "nesterov": (
        dict(sizes=[6, 5, 3], activation="tanh", output_activation="softmax",
             loss="categorical_crossentropy"),
        lambda: dict(optimizer=SGD(lr=0.1, momentum=0.8, nesterov=True)),
        dict(name="nesterov", lr=0.1, momentum=0.8)),
    "nesterov by name": (
        dict(sizes=[6, 5, 3]), lambda: dict(optimizer=get("nesterov", lr=0.2, momentum=0.5)),
        dict(name="nesterov", lr=0.2, momentum=0.5)),
    "adam": (
        dict(sizes=[6, 5, 3], activation="relu", output_activation="softmax",
             loss="categorical_crossentropy", init="he"),
        lambda: dict(optimizer=Adam(lr=0.01, beta1=0.8, beta2=0.99, epsilon=1e-7)),
        dict(name="adam", lr=0.01, beta1=0.8, beta2=0.99, eps=1e-7)),
    "rmsprop": (
        dict(sizes=[6, 5, 3], activation="swish"),
        lambda: dict(optimizer=RMSprop(lr=0.01, rho=0.8, epsilon=1e-6)),
        dict(name="rmsprop", lr=0.01, rho=0.8, eps=1e-6)),
    "l2 sgd": (
        dict(sizes=[6, 5, 3]), lambda: dict(optimizer=SGD(lr=1.0, l2=0.05)),
        dict(name="sgd", lr=1.0, l2=0.05)),
    "adam by name": (
        dict(sizes=[6, 5, 3], activation="tanh"), dict(optimizer="adam", lr=0.01),
        dict(name="adam", lr=0.01)),
    "rmsprop by name": (
        dict(sizes=[6, 5, 3]), dict(optimizer="rmsprop", lr=0.02),
        dict(name="rmsprop", lr=0.02)),
    "momentum by name": (
        dict(sizes=[6, 5, 3]), dict(optimizer="momentum", lr=0.3),
        dict(name="momentum", lr=0.3, momentum=0.9)),
    "l2 momentum": (
        dict(sizes=[6, 5, 3], activation="softplus"),
        lambda: dict(optimizer=SGD(lr=0.3, momentum=0.7, l2=0.01)),
        dict(name="momentum", lr=0.3, momentum=0.7, l2=0.01)),
    "l2 adam": (
        dict(sizes=[6, 5, 3]), lambda: dict(optimizer=Adam(lr=0.02, l2=0.1)),
        dict(name="adam", lr=0.02, l2=0.1)),
}


@pytest.mark.parametrize("epochs", [1, 2])
@pytest.mark.parametrize("case", sorted(CASES))
def test_epoch_equals_numpy_reference(case, epochs, reference):
    net_kw, fit_kw, opt_kw = CASES[case]
    fit_kw = fit_kw() if callable(fit_kw) else fit_kw
    X, y = data()
    net = nnc.Network(dtype="float64", seed=3, **net_kw)
    ref = reference.Net(net)
    opt = reference.Optimizer(**opt_kw)
    Y = reference.one_hot(y, net.sizes[-1])
    hist = net.fit(X, y, epochs=epochs, batch_size=5, shuffle=False, verbose=0, **fit_kw)
    for e in range(epochs):
        loss, acc = reference.epoch(ref, opt, X, Y, batch_size=5)  # 5+5+5+5+3
        assert hist["loss"][e] == pytest.approx(loss, rel=1e-9, abs=1e-12)
        assert hist["accuracy"][e] == pytest.approx(acc, abs=1e-12)
    assert_same_params(net, ref)
    # and the parameters did move: the comparison is not trivially true
    assert not np.allclose(net.weights[0], reference.Net(nnc.Network(
        dtype="float64", seed=3, **net_kw)).W[0])


@pytest.mark.parametrize("batch_size", [1, 4, 23, 100])
def test_batch_sizes(batch_size, reference):
    X, y = data()
    net = nnc.Network([6, 5, 3], dtype="float64", seed=4)
    ref, opt = reference.Net(net), reference.Optimizer("sgd", lr=2.0)
    net.fit(X, y, epochs=1, batch_size=batch_size, lr=2.0, shuffle=False, verbose=0)
    reference.epoch(ref, opt, X, reference.one_hot(y, 3), batch_size=batch_size)
    assert_same_params(net, ref)


def test_sample_weight_training(reference):
    X, y = data()
    w = np.random.default_rng(5).random(len(X)) * 2
    net = nnc.Network([6, 5, 3], activation="tanh", output_activation="softmax",
                      loss="categorical_crossentropy", dtype="float64", seed=6)
    ref, opt = reference.Net(net), reference.Optimizer("sgd", lr=0.5)
    hist = net.fit(X, y, batch_size=5, lr=0.5, shuffle=False, verbose=0, sample_weight=w)
    loss, _ = reference.epoch(ref, opt, X, reference.one_hot(y, 3), 5, sample_weight=w)
    assert_same_params(net, ref)
    assert hist["loss"][0] == pytest.approx(loss, rel=1e-9)


def test_targets_instead_of_labels(reference):
    X, _ = data()
    Y = np.random.default_rng(7).random((len(X), 3))
    net = nnc.Network([6, 5, 3], dtype="float64", seed=8)
    ref, opt = reference.Net(net), reference.Optimizer("sgd", lr=1.0)
    net.fit(X, Y, batch_size=4, lr=1.0, shuffle=False, verbose=0)
    reference.epoch(ref, opt, X, Y, 4)
    assert_same_params(net, ref)


def test_float32_training_tracks_float64():
    X, y = data()
    n64 = nnc.Network([6, 5, 3], dtype="float64", seed=9)
    n32 = nnc.Network([6, 5, 3], dtype="float32", seed=9)
    np.testing.assert_allclose(n32.params, n64.params, rtol=1e-6)
    for n in (n32, n64):
        n.fit(X, y, epochs=2, batch_size=5, lr=1.0, shuffle=False, verbose=0)
    assert n32.params.dtype == np.float32
    np.testing.assert_allclose(n32.params, n64.params, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------
# dense vs sparse inputs train the same network
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("make_opt", [lambda: SGD(lr=0.5), lambda: Adam(lr=0.01),
                                      lambda: SGD(lr=0.3, momentum=0.9, l2=0.01)])
def test_dense_and_sparse_training_agree(make_opt):
    X, y = data(n=60, d=12, zeros=0.7, seed=10)
    X[4] = 0.0
    results = {}
    for name, inp, sparse in [("dense", X, False), ("compact", X, True),
                              ("auto", X, "auto"), ("csr", sp.csr_matrix(X), "auto")]:
        net = nnc.Network([12, 8, 3], activation="relu", output_activation="softmax",
                          loss="categorical_crossentropy", dtype="float64", seed=11, init="he")
        net.fit(inp, y, epochs=3, batch_size=7, verbose=0, sparse=sparse, optimizer=make_opt())
        results[name] = net.params.copy()
    for name in ("compact", "auto", "csr"):
        np.testing.assert_allclose(results[name], results["dense"], rtol=1e-9, atol=1e-9)
    assert not np.allclose(results["dense"], nnc.Network(
        [12, 8, 3], dtype="float64", seed=11, init="he").params)


# ---------------------------------------------------------------------------
# determinism
# ---------------------------------------------------------------------------
def _train(seed, threads, sparse_input=False, **kw):
    X, y = data(n=300, d=40, k=10, seed=12, zeros=0.6 if sparse_input else 0.0)
    net = nnc.Network([40, 64, 10], activation="relu", output_activation="softmax",
                      loss="categorical_crossentropy", seed=seed, init="he", **kw)
    net.fit(X, y, epochs=2, batch_size=32, lr=0.05, verbose=0, threads=threads)
    return net.params.copy()


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("sparse_input", [False, True])
def test_same_seed_same_threads_bit_identical(threads, sparse_input):
    a = _train(123, threads, sparse_input)
    b = _train(123, threads, sparse_input)
    np.testing.assert_array_equal(a, b)
    c = _train(124, threads, sparse_input)
    assert not np.array_equal(a, c)


def test_dropout_training_is_reproducible():
    a = _train(5, 2, dropout=0.3)
    b = _train(5, 2, dropout=0.3)
    np.testing.assert_array_equal(a, b)


def test_same_seed_same_initialisation():
    for init in ("gaussian", "scaled", "xavier", "glorot", "he"):
        a = nnc.Network([7, 5, 2], seed=1, init=init)
        b = nnc.Network([7, 5, 2], seed=1, init=init)
        np.testing.assert_array_equal(a.params, b.params)
    assert not np.array_equal(nnc.Network([7, 5, 2], seed=1).params,
                              nnc.Network([7, 5, 2], seed=2).params)


# ---------------------------------------------------------------------------
# the API
# ---------------------------------------------------------------------------
def numpy_forward(net, X):
    a = np.asarray(X, dtype=np.float64)
    out = []
    for W, b, f in zip(net.weights, net.biases, net.activations, strict=True):
        with np.errstate(under="ignore", over="ignore"):
            a = acts.FUNCTIONS[f](a @ np.asarray(W, np.float64).T + b)
        out.append(a)
    return out


def test_weights_and_biases_are_live_views():
    net = nnc.Network([4, 3, 2], dtype="float64", seed=0)
    X = np.random.default_rng(0).standard_normal((5, 4))
    assert [w.shape for w in net.weights] == [(3, 4), (2, 3)]
    assert [b.shape for b in net.biases] == [(3,), (2,)]
    before = net.forward(X)
    net.weights[0][...] = 0.0
    net.biases[0][...] = 0.0
    after = net.forward(X)
    assert not np.allclose(before, after)
    # all hidden units now output sigmoid(0) = 0.5
    np.testing.assert_allclose(net.forward(X, layer=1), 0.5)
    net.weights[1][1, 2] = 7.0
    assert net.params[np.flatnonzero(net.params == 7.0)].size == 1
    np.testing.assert_allclose(net.forward(X), numpy_forward(net, X)[-1], rtol=1e-12)
    # writing into the flat buffer shows through the views too
    net.params[...] = 0.25
    assert (net.weights[1] == 0.25).all() and (net.biases[0] == 0.25).all()
    np.testing.assert_allclose(net.forward(X), numpy_forward(net, X)[-1], rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward_layers(dtype):
    net = nnc.Network([6, 5, 4, 3], activation=["tanh", "relu", "softmax"], dtype=dtype,
                      seed=1)
    X = np.random.default_rng(1).standard_normal((9, 6))
    expected = numpy_forward(net, X)
    for k in (1, 2, 3):
        out = net.forward(X, layer=k)
        assert out.shape == (9, net.sizes[k]) and out.dtype == np.dtype(dtype)
        np.testing.assert_allclose(out, expected[k - 1],
                                   rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-6)
    np.testing.assert_array_equal(net.forward(X), net.forward(X, layer=3))
    # batch_size only splits the work
    np.testing.assert_allclose(net.forward(X, batch_size=2), net.forward(X), rtol=1e-6)
    for bad in (0, 4, -1):
        with pytest.raises(ValueError):
            net.forward(X, layer=bad)
    with pytest.raises(ValueError):
        net.forward(X[:, :5])


def test_predict():
    net = nnc.Network([6, 5, 4], dtype="float64", seed=2)
    X = np.random.default_rng(2).standard_normal((11, 6))
    np.testing.assert_array_equal(net.predict(X), np.argmax(net.forward(X), axis=1))
    assert net.predict(X).dtype == np.int64
    one = nnc.Network([6, 3, 1], dtype="float64", seed=3)
    p = one.predict(X)
    np.testing.assert_array_equal(p, (one.forward(X)[:, 0] >= 0.5).astype(int))
    assert p.shape == (11,)


def test_evaluate():
    X, y = data(n=40, d=6, k=4, seed=3)
    net = nnc.Network([6, 5, 4], activation="tanh", output_activation="softmax",
                      loss="categorical_crossentropy", dtype="float64", seed=4)
    res = net.evaluate(X, y)
    assert set(res) == {"loss", "accuracy"}
    a = numpy_forward(net, X)[-1]
    assert res["loss"] == pytest.approx(-np.mean(np.log(a[np.arange(40), y])), rel=1e-10)
    assert res["accuracy"] == pytest.approx(np.mean(np.argmax(a, axis=1) == y))
    # the same result in small batches
    small = net.evaluate(X, y, batch_size=3)
    assert small["loss"] == pytest.approx(res["loss"], rel=1e-12)
    assert small["accuracy"] == res["accuracy"]


def test_history():
    X, y = data()
    net = nnc.Network([6, 5, 3], seed=5)
    keys = {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"}
    h1 = net.fit(X, y, epochs=3, batch_size=4, lr=0.5, verbose=0)
    assert set(h1) == keys and set(net.history) == keys
    for k in ("loss", "accuracy", "lr", "seconds"):
        assert len(h1[k]) == 3
    assert h1["val_loss"] == [] and h1["val_accuracy"] == []
    assert h1["lr"] == [0.5] * 3
    assert all(s >= 0 for s in h1["seconds"])
    h2 = net.fit(X, y, epochs=2, batch_size=4, lr=0.5, verbose=0, validation_data=(X, y))
    assert len(h2["loss"]) == 2 and len(h2["val_loss"]) == 2
    assert len(net.history["loss"]) == 5  # accumulated across fits
    assert net.history["loss"][3:] == h2["loss"]
    # validation scored after the epoch with the final parameters
    assert h2["val_loss"][-1] == pytest.approx(net.evaluate(X, y)["loss"], rel=1e-6)
    assert h2["val_accuracy"][-1] == pytest.approx(net.evaluate(X, y)["accuracy"])


def test_epoch_loss_is_mean_over_samples():
    # With lr=0 nothing moves: the epoch's loss is the network's loss.
    X, y = data()
    net = nnc.Network([6, 5, 3], dtype="float64", seed=6)
    h = net.fit(X, y, epochs=1, batch_size=5, lr=0.0, verbose=0)
    ev = net.evaluate(X, y)
    assert h["loss"][0] == pytest.approx(ev["loss"], rel=1e-12)
    assert h["accuracy"][0] == pytest.approx(ev["accuracy"])


def test_validation_split_equals_explicit_validation_data():
    X, y = data(n=50)
    a = nnc.Network([6, 5, 3], dtype="float64", seed=7)
    b = nnc.Network([6, 5, 3], dtype="float64", seed=7)
    ha = a.fit(X, y, epochs=3, batch_size=8, lr=1.0, verbose=0, validation_split=0.2)
    hb = b.fit(X[:40], y[:40], epochs=3, batch_size=8, lr=1.0, verbose=0,
               validation_data=(X[40:], y[40:]))
    assert len(ha["val_loss"]) == 3
    np.testing.assert_array_equal(a.params, b.params)
    assert ha["val_loss"] == hb["val_loss"] and ha["loss"] == hb["loss"]
    with pytest.raises(ValueError):
        a.fit(X, y, verbose=0, validation_split=0.2, validation_data=(X, y))
    with pytest.raises(ValueError):
        a.fit(X, y, verbose=0, validation_split=1.0)


def _diverging_validation():
    # Validation labels are the opposite of the training rule, so the
    # validation loss rises as the network learns.
    rng = np.random.default_rng(8)
    X = rng.standard_normal((80, 4))
    y = (X[:, 0] > 0).astype(int)
    return X, y, (X[:40], 1 - y[:40])


@pytest.mark.parametrize("restore", [True, False])
def test_early_stopping_restores_best_weights(restore):
    X, y, val = _diverging_validation()
    net = nnc.Network([4, 6, 2], activation="tanh", output_activation="softmax",
                      loss="categorical_crossentropy", dtype="float64", seed=9)
    snapshots = []
    h = net.fit(X, y, epochs=40, batch_size=8, lr=0.5, verbose=0, validation_data=val,
                callbacks=[EarlyStopping(patience=3, restore_best_weights=restore),
                           lambda n, e, hist: snapshots.append(n.params.copy())])
    n_epochs = len(h["val_loss"])
    assert n_epochs < 40, "early stopping never triggered"
    best = int(np.argmin(h["val_loss"]))
    assert n_epochs == best + 1 + 3  # patience epochs without improvement
    if restore:
        np.testing.assert_array_equal(net.params, snapshots[best])
        assert net.evaluate(*val)["loss"] == pytest.approx(h["val_loss"][best], rel=1e-9)
    else:
        np.testing.assert_array_equal(net.params, snapshots[-1])
    assert not np.array_equal(snapshots[best], snapshots[-1])


def test_early_stopping_monitors_training_loss_without_validation():
    X, y, _ = _diverging_validation()
    net = nnc.Network([4, 6, 2], dtype="float64", seed=10)
    # a huge min_delta: no epoch counts as an improvement after the first
    h = net.fit(X, y, epochs=20, batch_size=8, lr=0.5, verbose=0,
                callbacks=[EarlyStopping(patience=2, min_delta=1e9)])
    assert len(h["loss"]) == 3


def test_callbacks_can_stop_training():
    X, y = data()
    net = nnc.Network([6, 5, 3], seed=11)
    calls = []

    def cb(network, epoch, history):
        assert network is net
        calls.append((epoch, len(history["loss"])))
        return epoch == 2

    h = net.fit(X, y, epochs=10, batch_size=4, verbose=0, callbacks=[cb, lambda *a: None])
    assert len(h["loss"]) == 3
    assert calls == [(0, 1), (1, 2), (2, 3)]
    with pytest.raises(TypeError):
        net.fit(X, y, verbose=0, callbacks=[1])


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", "momentum"])
def test_partial_fit_keeps_optimizer_state(optimizer):
    X, y = data()
    kw = dict(batch_size=5, shuffle=False, verbose=0)
    whole = nnc.Network([6, 5, 3], dtype="float64", seed=12)
    whole.fit(X, y, epochs=2, optimizer=optimizer, lr=0.01, **kw)
    parts = nnc.Network([6, 5, 3], dtype="float64", seed=12)
    parts.fit(X, y, epochs=1, optimizer=optimizer, lr=0.01, **kw)
    parts.partial_fit(X, y, epochs=1, **kw)
    np.testing.assert_array_equal(parts.params, whole.params)
    assert parts.optimizer.iterations == whole.optimizer.iterations
    # fit(optimizer=None) continues as well; a named optimizer starts afresh, which differs
    again = nnc.Network([6, 5, 3], dtype="float64", seed=12)
    again.fit(X, y, epochs=1, optimizer=optimizer, lr=0.01, **kw)
    again.fit(X, y, epochs=1, **kw)
    np.testing.assert_array_equal(again.params, whole.params)
    reset = nnc.Network([6, 5, 3], dtype="float64", seed=12)
    reset.fit(X, y, epochs=1, optimizer=optimizer, lr=0.01, **kw)
    reset.fit(X, y, epochs=1, optimizer=optimizer, lr=0.01, **kw)
    assert not np.allclose(reset.params, whole.params, rtol=1e-12, atol=1e-12)
    with pytest.raises(TypeError, match="partial_fit"):
        parts.partial_fit(X, y, optimizer="adam", **kw)


def test_sample_weight_of_ones_equals_no_weights():
    X, y = data(n=40)
    a = nnc.Network([6, 5, 3], seed=13)
    b = nnc.Network([6, 5, 3], seed=13)
    ha = a.fit(X, y, epochs=2, batch_size=6, verbose=0)
    hb = b.fit(X, y, epochs=2, batch_size=6, verbose=0, sample_weight=np.ones(40))
    np.testing.assert_array_equal(a.params, b.params)
    assert ha["loss"] == hb["loss"]


def test_sample_weight_zero_ignores_samples(reference):
    # Weight 0 removes a sample's gradient (the batch mean still divides by
    # the batch size).
    X, y = data(n=20)
    w = np.ones(20)
    w[::3] = 0
    net = nnc.Network([6, 5, 3], dtype="float64", seed=14)
    ref = reference.Net(net)
    net.fit(X, y, batch_size=20, lr=1.0, shuffle=False, verbose=0, sample_weight=w)
    gW, gb = ref.gradients(X[w > 0], reference.one_hot(y[w > 0], 3))
    scale = (w > 0).sum() / 20
    for W, W0, g in zip(net.weights, ref.W, gW, strict=True):
        np.testing.assert_allclose(W, W0 - 1.0 * scale * g, rtol=1e-10, atol=1e-12)


def test_dropout_changes_training_not_inference():
    X, y = data(n=60)
    plain = nnc.Network([6, 16, 3], seed=15, dtype="float64")
    dropped = nnc.Network([6, 16, 3], seed=15, dtype="float64", dropout=0.5)
    np.testing.assert_array_equal(plain.params, dropped.params)
    # inference never drops units: same parameters, same outputs, every call
    np.testing.assert_array_equal(dropped.forward(X), plain.forward(X))
    np.testing.assert_array_equal(dropped.forward(X), dropped.forward(X))
    plain.fit(X, y, epochs=2, batch_size=8, lr=0.5, shuffle=False, verbose=0)
    dropped.fit(X, y, epochs=2, batch_size=8, lr=0.5, shuffle=False, verbose=0)
    assert not np.allclose(plain.params, dropped.params)
    out = dropped.forward(X)
    np.testing.assert_array_equal(out, dropped.forward(X))
    np.testing.assert_array_equal(dropped.predict(X), dropped.predict(X))
    assert dropped.evaluate(X, y) == dropped.evaluate(X, y)
    with pytest.raises(ValueError):
        nnc.Network([6, 16, 3], dropout=1.0)
    with pytest.raises(ValueError):
        nnc.Network([6, 16, 5, 3], dropout=[0.1])


def test_divergence_raises_and_restores():
    X, y = data()
    net = nnc.Network([6, 5, 3], activation="relu", output_activation="identity",
                      dtype="float64", seed=16)
    before = net.params.copy()
    with pytest.raises(nnc.DivergenceError):
        net.fit(X * 1e3, y, epochs=3, batch_size=5, lr=1e6, verbose=0)
    assert np.isfinite(net.params).all()
    np.testing.assert_array_equal(net.params, before)


def test_constructor_validation():
    with pytest.raises(ValueError):
        nnc.Network([5])
    with pytest.raises(ValueError):
        nnc.Network([5, 0, 2])
    with pytest.raises(TypeError):
        nnc.Network("784,30,10")
    with pytest.raises(ValueError):
        nnc.Network([5, 3], activation="nope")
    with pytest.raises(ValueError):
        nnc.Network([5, 3], loss="nope")
    with pytest.raises(ValueError):
        nnc.Network([5, 3], dtype="int32")
    with pytest.raises(ValueError):
        nnc.Network([5, 3], activation="step")
    with pytest.raises(ValueError):
        nnc.Network([5, 4, 3], activation=["tanh"])
    net = nnc.Network([5, 4, 3], activation=["tanh", "softmax"])
    assert net.activations == ("tanh", "softmax") and net.n_layers == 2
    assert nnc.Network([5, 4, 3], output_activation="softmax").activations == \
        ("sigmoid", "softmax")


def test_fit_validation():
    X, y = data()
    net = nnc.Network([6, 5, 3], seed=17)
    bad = [dict(X=X[:, :5]), dict(y=y[:-1]), dict(y=y + 3), dict(epochs=-1),
           dict(batch_size=0), dict(lr=-1.0), dict(optimizer="nope"),
           dict(sample_weight=np.ones(3)), dict(X=np.full_like(X, np.nan))]
    for kw in bad:
        args = dict(X=X, y=y)
        args.update(kw)
        with pytest.raises((ValueError, TypeError)):
            net.fit(args.pop("X"), args.pop("y"), verbose=0, **args)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sizes", [[3, 2], [784, 30, 10], [5, 7, 11, 2]])
def test_parameter_and_optimizer_buffers_start_on_a_cache_line(sizes, dtype):
    # the sparse kernels' 64-byte row accesses stay inside cache lines only then
    from nnc import _buffers
    for n in (0, 1, 7, 1000):
        buf = _buffers.zeros(n, dtype)
        assert buf.shape == (n,) and buf.dtype == dtype and not buf.any()
        assert n == 0 or buf.ctypes.data % 64 == 0
    net = nnc.Network(sizes, dtype=dtype, seed=0)
    assert net.params.ctypes.data % 64 == 0
    X = np.random.default_rng(0).random((20, sizes[0]))
    y = np.zeros(20, dtype=int)
    net.fit(X, y, epochs=1, batch_size=5, optimizer="adam", verbose=0)
    assert net.params.ctypes.data % 64 == 0
    assert len(net.optimizer.states) == 2
    for state in net.optimizer.states:
        assert state.ctypes.data % 64 == 0
