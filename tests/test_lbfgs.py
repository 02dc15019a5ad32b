"""Full-batch L-BFGS: the engine's loss_and_gradient and nnc.lbfgs.fit_lbfgs.

The gradient is checked against central finite differences of the engine's
own loss and against the NumPy reference network (tests/conftest.py) in
float64; the loss against evaluate(); the driver against scipy's L-BFGS-B
run on the NumPy reference objective.
"""
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import minimize

import nnc
from nnc import lbfgs
from nnc.lbfgs import LBFGSResult, fit_lbfgs

CASES = [  # (hidden activation, output activation, loss)
    ("tanh", "softmax", "sparse_categorical_crossentropy"),
    ("sigmoid", "sigmoid", "binary_crossentropy"),
    ("relu", "identity", "quadratic"),
    ("tanh", "exp", "poisson"),
]


def make_problem(case, n=40, seed=0):
    hidden, output, loss = case
    rng = np.random.default_rng(seed)
    net = nnc.Network([5, 6, 3], activation=hidden, output_activation=output, loss=loss,
                      dtype="float64", seed=seed, init="xavier")
    X = rng.standard_normal((n, 5))
    if loss == "sparse_categorical_crossentropy":
        y = rng.integers(0, 3, n)
        Y = np.eye(3)[y]
    elif loss == "binary_crossentropy":
        y = Y = (rng.random((n, 3)) > 0.5).astype(float)
    elif loss == "poisson":
        y = Y = rng.poisson(2.0, (n, 3)).astype(float)
    else:
        y = Y = rng.standard_normal((n, 3))
    return net, X, y, Y


def engine_for(net, X, y, sample_weight=None, batch=None):
    """The engine as fit_lbfgs sets it up, with a chosen batch size."""
    engine = lbfgs._prepare(net, X, y, sample_weight, threads=1)
    if batch is not None:
        n = X.shape[0]
        engine = net._engine(batch, 0 if not sp.issparse(X) else 2, 1)
        mode, data = net._prepare_X(X, sparse=False)
        labels, targets = net._prepare_y(y, n)
        sw = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        net._set_data(engine, mode, data, labels, targets, sw)
        engine.set_order(np.arange(n, dtype=np.int64), batch, direct=True)
    return engine


def reference_objective(reference, net, X, Y, sample_weight, l2):
    """J and its flat gradient, in NumPy, laid out like net.params."""
    ref = reference.Net(net)
    n = X.shape[0]
    costs = ref.cost(X, Y, sample_weight)
    gW, gb = ref.gradients(X, Y, sample_weight)
    loss = costs.sum() / n + 0.5 * l2 * sum(float(np.sum(W * W)) for W in ref.W)
    flat = np.zeros_like(net.params)
    dW, db = net._views(flat)
    for l in range(len(gW)):
        dW[l][...] = gW[l] + l2 * ref.W[l]
        db[l][...] = gb[l]
    return loss, flat


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("batch", [None, 7])  # one batch, and six summed batches
def test_gradient_matches_numpy_reference(reference, case, batch):
    net, X, y, Y = make_problem(case)
    w = np.random.default_rng(1).random(X.shape[0]) + 0.5
    engine = engine_for(net, X, y, w, batch)
    grads = np.zeros_like(net.params)
    loss = engine.loss_and_gradient(grads, 0.01)
    ref_loss, ref_grads = reference_objective(reference, net, X, Y, w, 0.01)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(grads, ref_grads, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_gradient_matches_finite_differences(case):
    net, X, y, _ = make_problem(case, n=12)
    engine = engine_for(net, X, y, batch=5)
    grads = np.zeros_like(net.params)
    engine.loss_and_gradient(grads, 0.1)
    theta, h = net.params.copy(), 1e-6
    numeric = np.empty_like(theta)
    scratch = np.zeros_like(theta)
    for i in range(theta.size):
        net.params[...] = theta
        net.params[i] += h
        up = engine.loss_and_gradient(scratch, 0.1)
        net.params[i] -= 2 * h
        numeric[i] = (up - engine.loss_and_gradient(scratch, 0.1)) / (2 * h)
    net.params[...] = theta
    err = np.linalg.norm(grads - numeric) / np.linalg.norm(grads)
    assert err < 1e-7


@pytest.mark.parametrize("case", CASES)
def test_loss_is_identical_to_evaluate(case):
    net, X, y, _ = make_problem(case, n=2500)  # several engine batches
    w = np.random.default_rng(2).random(X.shape[0])
    engine = engine_for(net, X, y, w)
    grads = np.zeros_like(net.params)
    before = net.params.copy()
    # the same batches, summed in the same order: the same bits
    expected = net.evaluate(X, y, sample_weight=w, batch_size=lbfgs.BATCH_ROWS)["loss"]
    assert engine.loss_and_gradient(grads, 0.0) == expected
    np.testing.assert_array_equal(net.params, before)  # nothing updated


def test_sparse_input_gives_the_same_gradient():
    net, X, y, _ = make_problem(CASES[0])
    X[X < 0.5] = 0.0
    g_dense, g_csr = np.zeros_like(net.params), np.zeros_like(net.params)
    l_dense = lbfgs._prepare(net, X, y, None, 1).loss_and_gradient(g_dense, 0.0)
    l_csr = lbfgs._prepare(net, sp.csr_matrix(X), y, None, 1).loss_and_gradient(g_csr, 0.0)
    assert l_csr == pytest.approx(l_dense, rel=1e-13)
    np.testing.assert_allclose(g_csr, g_dense, rtol=1e-11, atol=1e-14)


def test_float32_gradient_close_to_float64():
    net, X, y, _ = make_problem(CASES[0])
    net32 = nnc.Network(net.sizes, activation="tanh", output_activation="softmax",
                        loss=net.loss, dtype="float32")
    net32.params[...] = net.params
    g64, g32 = np.zeros_like(net.params), np.zeros_like(net32.params)
    l64 = lbfgs._prepare(net, X, y, None, 1).loss_and_gradient(g64, 0.01)
    l32 = lbfgs._prepare(net32, X, y, None, 1).loss_and_gradient(g32, 0.01)
    assert l32 == pytest.approx(l64, rel=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("case", CASES)
def test_trajectory_matches_scipy_on_the_numpy_reference(reference, case):
    net, X, y, Y = make_problem(case)
    start = net.params.copy()

    def fun(theta):
        net.params[...] = theta
        return reference_objective(reference, net, X, Y, None, 1e-3)

    expected = minimize(fun, start.copy(), jac=True, method="L-BFGS-B",
                        options={"maxiter": 8, "gtol": 0.0})
    net.params[...] = start
    result = fit_lbfgs(net, X, y, l2=1e-3, max_iter=8, tol=0.0, threads=1)
    assert result.n_iter == expected.nit == 8
    np.testing.assert_allclose(net.params, expected.x, rtol=1e-9, atol=1e-10)
    assert result.loss == pytest.approx(expected.fun, rel=1e-9)


def test_fit_lbfgs_converges_and_reports():
    net, X, y, _ = make_problem(CASES[0], n=60)
    before = net.evaluate(X, y)["loss"]
    result = fit_lbfgs(net, X, y, max_iter=500, tol=1e-5)
    assert isinstance(result, LBFGSResult)
    assert result.converged and result.status == 0
    assert len(result.loss_curve) == result.n_iter >= 1
    assert result.loss == pytest.approx(net.evaluate(X, y)["loss"], rel=1e-12)
    assert result.loss < 0.5 * before  # random labels: 6 hidden units fit part of them
    assert all(b <= a for a, b in zip(result.loss_curve, result.loss_curve[1:], strict=False))


def test_limits_and_callback_stop_early():
    net, X, y, _ = make_problem(CASES[2])
    start = net.params.copy()
    r = fit_lbfgs(net, X, y, max_iter=3, tol=0.0)
    assert (r.n_iter, r.converged, r.status) == (3, False, 1)
    net.params[...] = start
    r = fit_lbfgs(net, X, y, max_fun=4, tol=0.0)
    assert not r.converged and r.n_fun <= 5  # scipy may finish the line search's call
    net.params[...] = start
    r = fit_lbfgs(net, X, y, tol=0.0, callback=lambda it, loss: it >= 2)
    assert (r.n_iter, r.status, r.converged) == (2, 99, False)


def test_l2_shrinks_the_weights():
    net, X, y, _ = make_problem(CASES[0])
    start = net.params.copy()
    fit_lbfgs(net, X, y, l2=0.0, max_iter=100)
    free = sum(float(np.sum(W ** 2)) for W in net.weights)
    net.params[...] = start
    fit_lbfgs(net, X, y, l2=1.0, max_iter=100)
    assert sum(float(np.sum(W ** 2)) for W in net.weights) < 0.5 * free


def test_float32_network_trains():
    net, X, y, _ = make_problem(CASES[0])
    net32 = nnc.Network(net.sizes, activation="tanh", output_activation="softmax",
                        loss=net.loss, dtype="float32", seed=0)
    r = fit_lbfgs(net32, X, y, max_iter=100)
    assert net32.params.dtype == np.float32
    assert r.loss == pytest.approx(net32.evaluate(X, y)["loss"], rel=1e-5)
    assert net32.evaluate(X, y)["accuracy"] > 0.9


def test_bad_arguments_are_refused():
    net, X, y, _ = make_problem(CASES[0])
    with pytest.raises(ValueError, match="l2"):
        fit_lbfgs(net, X, y, l2=-1.0)
    with pytest.raises(ValueError, match="max_iter"):
        fit_lbfgs(net, X, y, max_iter=0)
    with pytest.raises(ValueError, match="max_fun"):
        fit_lbfgs(net, X, y, max_fun=0)
    with pytest.raises(TypeError, match="callback"):
        fit_lbfgs(net, X, y, callback=3)
    with pytest.raises(ValueError, match="NaN|nan|finite"):
        fit_lbfgs(net, np.full_like(X, np.nan), y)
    dropped = nnc.Network([5, 6, 3], dropout=0.5, loss="categorical_crossentropy",
                          output_activation="softmax", dtype="float64")
    with pytest.raises(ValueError, match="dropout"):
        fit_lbfgs(dropped, X, y)
    engine = lbfgs._prepare(net, X, y, None, 1)
    for bad in (np.zeros(3), np.zeros(net.params.size, np.float32),
                np.zeros(2 * net.params.size)[::2]):
        with pytest.raises(ValueError, match="grads"):
            engine.loss_and_gradient(bad)
    with pytest.raises(TypeError, match="grads"):
        engine.loss_and_gradient(list(net.params))
    readonly = np.zeros_like(net.params)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="grads"):
        engine.loss_and_gradient(readonly)
    with pytest.raises(ValueError, match="l2"):
        engine.loss_and_gradient(np.zeros_like(net.params), -1.0)


# ---------------------------------------------------------------------------
# LBFGS as an optimizer object of Network.fit
# ---------------------------------------------------------------------------
def _lbfgs_problem():
    X = np.random.default_rng(3).random((240, 5))
    y = (X.sum(axis=1) > 2.5).astype(int)
    return X, y


def _lbfgs_net():
    return nnc.Network([5, 8, 2], activation="tanh", output_activation="softmax",
                       loss="sparse_categorical_crossentropy", dtype="float64", seed=0)


def test_fit_with_lbfgs_equals_fit_lbfgs():
    from nnc.lbfgs import fit_lbfgs
    X, y = _lbfgs_problem()
    a, b = _lbfgs_net(), _lbfgs_net()
    history = a.fit(X, y, epochs=25, optimizer=nnc.optimizers.LBFGS(l2=1e-3), verbose=0)
    result = fit_lbfgs(b, X, y, l2=1e-3, max_iter=25)
    np.testing.assert_array_equal(a.params, b.params)
    assert history["loss"] == result.loss_curve
    assert a.optimizer.result.n_iter == result.n_iter == a.optimizer.iterations
    # the name is the same optimizer with its defaults
    c = _lbfgs_net()
    c.fit(X, y, epochs=5, optimizer="lbfgs", verbose=0)
    d = _lbfgs_net()
    d.fit(X, y, epochs=5, optimizer=nnc.optimizers.LBFGS(), verbose=0)
    np.testing.assert_array_equal(c.params, d.params)


def test_lbfgs_iterations_end_like_epochs():
    X, y = _lbfgs_problem()
    net = _lbfgs_net()
    seen = []
    history = net.fit(X, y, epochs=50, optimizer="lbfgs", verbose=0, validation_split=0.25,
                      callbacks=[lambda network, epoch, h: seen.append(epoch) or epoch == 3])
    assert seen == [0, 1, 2, 3] and len(history["loss"]) == 4
    assert len(history["val_accuracy"]) == 4 and net.history["loss"] == history["loss"]
    stopper = nnc.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    history = _lbfgs_net().fit(X, y, epochs=50, optimizer="lbfgs", verbose=0,
                               callbacks=[stopper])
    assert len(history["loss"]) == 2


def test_lbfgs_config_and_refusals():
    opt = nnc.optimizers.LBFGS(l2=0.5, max_fun=30, tol=1e-6)
    assert nnc.optimizers.LBFGS.from_config(opt.get_config()).get_config() == opt.get_config()
    X, y = _lbfgs_problem()
    with pytest.raises(TypeError, match="lr"):
        _lbfgs_net().fit(X, y, optimizer="lbfgs", lr=0.1, verbose=0)
    with pytest.raises(ValueError, match="max_fun"):
        nnc.optimizers.LBFGS(max_fun=0)
    net = nnc.Network([5, 8, 2], dropout=0.5, seed=0)
    before = net.params.copy()
    with pytest.raises(ValueError, match="dropout"):
        net.fit(X, y, epochs=3, optimizer="lbfgs", verbose=0)
    np.testing.assert_array_equal(net.params, before)
    assert net.optimizer is None


def test_lbfgs_refused_on_nan_input_changes_nothing():
    X, y = _lbfgs_problem()
    X = X.copy()
    X[7, 2] = np.nan
    net = _lbfgs_net()
    before = net.params.copy()
    with pytest.raises(ValueError, match="NaN"):
        net.fit(X, y, epochs=3, optimizer="lbfgs", verbose=0)
    np.testing.assert_array_equal(net.params, before)


@pytest.mark.parametrize("hidden", ["relu", "tanh"])
def test_deep_network_gradient_in_several_batches(reference, hidden):
    # three layers whose weights BP2 reads from the per-call copy as rows
    rng = np.random.default_rng(3)
    net = nnc.Network([5, 7, 6, 4, 3], activation=hidden, output_activation="softmax",
                      loss="sparse_categorical_crossentropy", dtype="float64", seed=3,
                      init="xavier")
    X = rng.standard_normal((40, 5))
    y = rng.integers(0, 3, 40)
    w = rng.random(40) + 0.5
    grads = np.zeros_like(net.params)
    engine = engine_for(net, X, y, w, batch=7)
    for _ in range(2):  # the copy is refreshed from the current weights on every call
        loss = engine.loss_and_gradient(grads, 0.01)
        ref_loss, ref_grads = reference_objective(reference, net, X, np.eye(3)[y], w, 0.01)
        assert loss == pytest.approx(ref_loss, rel=1e-12)
        np.testing.assert_allclose(grads, ref_grads, rtol=1e-9, atol=1e-12)
        net.params[...] += 0.01 * rng.standard_normal(net.params.shape)


@pytest.mark.parametrize("batch", [7, 20])  # sparse weight gradient by rows, by columns
@pytest.mark.parametrize("form", ["csr", "compact"])
def test_sparse_gradient_in_several_batches(reference, batch, form):
    # the first layer's sparse gradient accumulates over the batches like the products
    net, X, y, Y = make_problem(CASES[0], n=60)
    X[X < 0.5] = 0.0
    w = np.random.default_rng(4).random(X.shape[0]) + 0.5
    engine = net._engine(batch, 2 if form == "csr" else 1, 1)
    mode, data = net._prepare_X(sp.csr_matrix(X) if form == "csr" else X, sparse=True)
    labels, targets = net._prepare_y(y, X.shape[0])
    net._set_data(engine, mode, data, labels, targets, w)
    engine.set_order(np.arange(X.shape[0], dtype=np.int64), batch)
    grads = np.zeros_like(net.params)
    loss = engine.loss_and_gradient(grads, 0.01)
    ref_loss, ref_grads = reference_objective(reference, net, X, Y, w, 0.01)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(grads, ref_grads, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("form", ["dense", "csr", "compact"])
def test_softmax_regression_gradient(reference, form):
    # one layer of weights: the output layer reads the input itself, dense or sparse
    rng = np.random.default_rng(5)
    net = nnc.Network([6, 4], output_activation="softmax",
                      loss="sparse_categorical_crossentropy", dtype="float64", seed=5)
    X = rng.standard_normal((30, 6))
    X[X < 0.3] = 0.0
    y = rng.integers(0, 4, 30)
    engine = net._engine(8, {"dense": 0, "compact": 1, "csr": 2}[form], 1)
    mode, data = net._prepare_X(sp.csr_matrix(X) if form == "csr" else X,
                                sparse=form != "dense")
    labels, targets = net._prepare_y(y, 30)
    net._set_data(engine, mode, data, labels, targets)
    engine.set_order(np.arange(30, dtype=np.int64), 8, direct=form == "dense")
    grads = np.zeros_like(net.params)
    loss = engine.loss_and_gradient(grads, 0.01)
    ref_loss, ref_grads = reference_objective(reference, net, X, np.eye(4)[y], None, 0.01)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(grads, ref_grads, rtol=1e-9, atol=1e-12)
