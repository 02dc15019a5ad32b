"""net.gradients against central finite differences of the mean cost (float64).

The cost is computed in NumPy from nnc.activations.FUNCTIONS and
nnc.losses.FUNCTIONS, for all parameter perturbations at once (one batched
forward pass), so the whole file runs in a couple of seconds.
"""
import numpy as np
import pytest
import scipy.sparse as sp

import nnc
from nnc import activations as acts
from nnc import losses

# exp is an output activation (Poisson regression): exp of exp overflows here
HIDDEN = sorted(a for a in acts.CODES if a not in ("step", "exp"))
# (loss, output activation): every pairing whose cost is defined on the
# activation's range (cross-entropies need outputs in (0, 1) or > 0).
PAIRS = ([("quadratic", a) for a in HIDDEN]
         + [("binary_crossentropy", a) for a in ("sigmoid", "softmax")]
         + [("categorical_crossentropy", a) for a in ("softmax", "sigmoid", "softplus")]
         + [("sparse_categorical_crossentropy", a) for a in ("softmax", "sigmoid")]
         # Poisson: exp is scikit-learn's output for it (fused), others go the general way
         + [("poisson", a) for a in ("exp", "softplus", "sigmoid")]
         + [("quadratic", "exp")])
MAX_REL_ERR = 1e-6


def make_targets(rng, loss, n, n_out):
    """(y passed to nnc, the dense targets the cost is computed against)."""
    if loss == "binary_crossentropy":
        y = rng.random((n, n_out))
        return y, y
    if loss == "categorical_crossentropy":
        y = rng.dirichlet(np.ones(n_out), size=n)  # soft targets exercise the general form
        return y, y
    labels = rng.integers(0, n_out, size=n)
    if loss == "sparse_categorical_crossentropy":
        return labels, np.eye(n_out)[labels]
    if loss == "poisson":
        y = rng.poisson(1.5, (n, n_out)).astype(float)  # counts, zeros among them
        return y, y
    y = rng.standard_normal((n, n_out)) * 0.5  # quadratic: any real targets
    return y, y


def _log_a_and_1ma(name, z, a):
    """log(a) and log(1 - a), computed from z where a saturates.

    Written naively, log(1 - a) keeps only a few digits once a is within
    1e-7 of 1, and the finite differences would then measure rounding noise.
    """
    if name == "sigmoid":
        return -np.logaddexp(0, -z), -np.logaddexp(0, z)
    if name == "softmax":
        lse = np.logaddexp.reduce(z, axis=-1, keepdims=True)
        n = z.shape[-1]
        others = np.where(np.eye(n, dtype=bool), -np.inf, z[..., None, :])
        return z - lse, np.logaddexp.reduce(others, axis=-1) - lse
    # log(1 - a) is only used by binary cross-entropy, whose outputs lie in (0, 1)
    with np.errstate(invalid="ignore"):
        return np.log(a), np.log1p(-a)


def cost_rows(loss, out_act, z, a, Y):
    """Per-sample cost C_x, summed over the output units."""
    if loss == "quadratic":
        return losses.FUNCTIONS[loss](a, Y)
    if loss == "poisson":
        log_a = z if out_act == "exp" else np.log(a)
        with np.errstate(divide="ignore", invalid="ignore"):
            y_log_y = np.where(Y > 0, Y * np.log(Y), 0.0)
        return np.sum(a - Y + y_log_y - Y * log_a, axis=-1)
    log_a, log_1ma = _log_a_and_1ma(out_act, z, a)
    if loss == "binary_crossentropy":
        return -np.sum(Y * log_a + (1 - Y) * log_1ma, axis=-1)
    return -np.sum(Y * log_a, axis=-1)


def fd_gradients(net, X, Y, sample_weight=None, h=1e-6):
    """Central differences of mean_i(w_i C_i) with respect to every parameter."""
    X = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)
    base = []
    for W, b in zip(net.weights, net.biases):
        base += [np.array(W, dtype=np.float64), np.array(b, dtype=np.float64)]
    P = sum(a.size for a in base)
    # One row of perturbed parameters per (parameter, sign): shape (2P, ...)
    stacks = [np.repeat(a[None], 2 * P, axis=0) for a in base]
    k = 0
    for s, a in zip(stacks, base):
        flat = s.reshape(2 * P, -1)
        for j in range(a.size):
            flat[k, j] += h
            flat[P + k, j] -= h
            k += 1
    a = X
    for l, name in enumerate(net.activations):
        W, b = stacks[2 * l], stacks[2 * l + 1]
        z = a @ np.swapaxes(W, 1, 2) + b[:, None, :]
        with np.errstate(under="ignore", over="ignore"):
            a = acts.FUNCTIONS[name](z)
    costs = cost_rows(net.loss, net.activations[-1], z, a, Y)  # (2P, n)
    if sample_weight is not None:
        costs = costs * sample_weight
    mean = costs.mean(axis=1)
    flat_grad = (mean[:P] - mean[P:]) / (2 * h)
    out, k = [], 0
    for a0 in base:
        out.append(flat_grad[k:k + a0.size].reshape(a0.shape))
        k += a0.size
    return out[0::2], out[1::2]


def rel_error(dW, db, fW, fb):
    g = np.concatenate([x.ravel() for x in list(dW) + list(db)])
    f = np.concatenate([x.ravel() for x in list(fW) + list(fb)])
    scale = max(np.linalg.norm(g), np.linalg.norm(f))
    assert scale > 1e-6, "degenerate test: the gradient is zero"
    return np.linalg.norm(g - f) / scale


def check(net, X, y, Y, sample_weight=None):
    dW, db = net.gradients(X, y, sample_weight=sample_weight)
    assert [w.shape for w in dW] == [w.shape for w in net.weights]
    assert [b.shape for b in db] == [b.shape for b in net.biases]
    assert all(w.dtype == net.dtype for w in dW + db)
    fW, fb = fd_gradients(net, X, Y, sample_weight)
    err = rel_error(dW, db, fW, fb)
    assert err <= MAX_REL_ERR, f"relative error {err:.3g}"
    return dW, db


@pytest.mark.parametrize("loss,output", PAIRS)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_gradients_match_finite_differences(hidden, output, loss):
    seed = (HIDDEN.index(hidden) * 100 + PAIRS.index((loss, output)))
    rng = np.random.default_rng(seed)
    net = nnc.Network([5, 4, 3], activation=hidden, output_activation=output, loss=loss,
                      dtype="float64", seed=seed)
    X = rng.standard_normal((6, 5))
    y, Y = make_targets(rng, loss, 6, 3)
    check(net, X, y, Y)


def test_quadratic_with_integer_labels():
    # Labels are one-hot encoded by the engine for every loss.
    rng = np.random.default_rng(1)
    net = nnc.Network([5, 4, 3], dtype="float64", seed=1)
    X = rng.standard_normal((7, 5))
    labels = rng.integers(0, 3, 7)
    check(net, X, labels, np.eye(3)[labels])


@pytest.mark.parametrize("loss,output", [("quadratic", "sigmoid"),
                                         ("categorical_crossentropy", "softmax"),
                                         ("binary_crossentropy", "sigmoid"),
                                         ("sparse_categorical_crossentropy", "softmax"),
                                         ("quadratic", "tanh")])
def test_sample_weight(loss, output):
    rng = np.random.default_rng(7)
    net = nnc.Network([5, 4, 3], activation="tanh", output_activation=output, loss=loss,
                      dtype="float64", seed=3)
    X = rng.standard_normal((8, 5))
    y, Y = make_targets(rng, loss, 8, 3)
    w = rng.random(8) * 2
    w[2] = 0.0  # a zero weight removes the sample
    dW, db = check(net, X, y, Y, sample_weight=w)
    unweighted = net.gradients(X, y)
    assert not np.allclose(dW[0], unweighted[0][0])


def test_sample_weight_of_ones_is_unweighted():
    rng = np.random.default_rng(8)
    net = nnc.Network([5, 4, 3], dtype="float64", seed=4)
    X, y = rng.standard_normal((9, 5)), rng.integers(0, 3, 9)
    a, b = net.gradients(X, y), net.gradients(X, y, sample_weight=np.ones(9))
    for u, v in zip(a[0] + a[1], b[0] + b[1]):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("activation,loss", [
    (["tanh", "relu", "softmax"], "categorical_crossentropy"),
    (["sigmoid", "gelu", "sigmoid"], "quadratic"),
    (["elu", "swish", "sigmoid"], "binary_crossentropy"),
    (["softplus", "leaky_relu", "identity"], "quadratic"),
])
def test_three_layer_network(activation, loss):
    rng = np.random.default_rng(11)
    net = nnc.Network([4, 6, 5, 3], activation=activation, loss=loss, dtype="float64", seed=5)
    X = rng.standard_normal((7, 4))
    y, Y = make_targets(rng, loss, 7, 3)
    check(net, X, y, Y, sample_weight=rng.random(7) + 0.5)


def test_single_output_network_with_1d_targets():
    rng = np.random.default_rng(12)
    net = nnc.Network([5, 4, 1], activation="relu", output_activation="sigmoid",
                      loss="binary_crossentropy", dtype="float64", seed=6, init="he")
    X = rng.standard_normal((10, 5))
    y = (rng.random(10) > 0.5).astype(float)
    check(net, X, y, y[:, None])


def test_single_sample():
    rng = np.random.default_rng(13)
    net = nnc.Network([5, 4, 3], activation="swish", output_activation="softmax",
                      loss="categorical_crossentropy", dtype="float64", seed=7)
    X = rng.standard_normal((1, 5))
    check(net, X, np.array([2]), np.eye(3)[[2]])


# ---------------------------------------------------------------------------
# sparse inputs: a CSR matrix, and a dense array with many zeros (which
# sparse="auto" sends through the compacted sparse first layer)
# ---------------------------------------------------------------------------
def sparse_data(rng, n=12, d=9, density=0.25):
    X = rng.standard_normal((n, d)) * (rng.random((n, d)) < density)
    X[3] = 0.0  # an all-zero row
    X[5] = rng.standard_normal(d)  # a full row
    assert np.count_nonzero(X) / X.size < 0.5
    return X


@pytest.mark.parametrize("activation,output,loss", [
    ("sigmoid", "sigmoid", "quadratic"),
    ("relu", "softmax", "sparse_categorical_crossentropy"),
    ("tanh", "sigmoid", "binary_crossentropy"),
])
def test_sparse_inputs_give_the_same_gradients(activation, output, loss):
    rng = np.random.default_rng(21)
    X = sparse_data(rng)
    y, Y = make_targets(rng, loss, X.shape[0], 3)
    net = nnc.Network([9, 4, 3], activation=activation, output_activation=output, loss=loss,
                      dtype="float64", seed=9)
    w = rng.random(X.shape[0]) + 0.5
    dense_many_zeros = check(net, X, y, Y, sample_weight=w)
    csr = check(net, sp.csr_matrix(X), y, Y, sample_weight=w)
    # other sparse formats are converted to CSR
    coo = net.gradients(sp.coo_matrix(X), y, sample_weight=w)
    for u, v, c in zip(dense_many_zeros[0] + dense_many_zeros[1], csr[0] + csr[1],
                       coo[0] + coo[1]):
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(v, c)
    # and a dense input with few zeros (the dense GEMM path) agrees as well
    X_full = X + 0.0
    X_full[X_full == 0] = 1e-3
    check(net, X_full, y, Y, sample_weight=w)


def test_csr_with_unsorted_indices_and_duplicates():
    rng = np.random.default_rng(22)
    X = sparse_data(rng)
    csr = sp.csr_matrix(X)
    # reverse the column order inside each row and split one entry in two
    data, indices, indptr = [], [], [0]
    for i in range(X.shape[0]):
        cols = csr.indices[csr.indptr[i]:csr.indptr[i + 1]][::-1]
        vals = csr.data[csr.indptr[i]:csr.indptr[i + 1]][::-1]
        if i == 5:
            cols = np.append(cols, cols[0])
            vals = np.append(vals * 1.0, 0.0)
            vals[0], vals[-1] = vals[0] / 2, vals[0] / 2
        data.extend(vals), indices.extend(cols), indptr.append(len(data))
    messy = sp.csr_matrix((np.array(data), np.array(indices), np.array(indptr)),
                          shape=X.shape)
    labels = rng.integers(0, 3, X.shape[0])
    net = nnc.Network([9, 4, 3], dtype="float64", seed=10)
    check(net, messy, labels, np.eye(3)[labels])


# ---------------------------------------------------------------------------
# side effects and float32
# ---------------------------------------------------------------------------
def test_gradients_update_nothing():
    rng = np.random.default_rng(31)
    net = nnc.Network([5, 4, 3], dtype="float64", seed=11)
    before = net.params.copy()
    X, y = rng.standard_normal((6, 5)), rng.integers(0, 3, 6)
    g1 = net.gradients(X, y)
    np.testing.assert_array_equal(net.params, before)
    assert all(len(v) == 0 for v in net.history.values())
    g1[0][0][...] = 0  # returned arrays are copies, not views of a shared buffer
    g2 = net.gradients(X, y)
    assert np.abs(g2[0][0]).sum() > 0


def test_float32_gradients_close_to_float64():
    rng = np.random.default_rng(32)
    net64 = nnc.Network([5, 4, 3], activation="tanh", output_activation="softmax",
                        loss="categorical_crossentropy", dtype="float64", seed=12)
    net32 = nnc.Network([5, 4, 3], activation="tanh", output_activation="softmax",
                        loss="categorical_crossentropy", dtype="float32", seed=12)
    net32.params[...] = net64.params
    X, y = rng.standard_normal((6, 5)), rng.integers(0, 3, 6)
    g64, g32 = net64.gradients(X, y), net32.gradients(X, y)
    for u, v in zip(g64[0] + g64[1], g32[0] + g32[1]):
        assert v.dtype == np.float32
        np.testing.assert_allclose(v, u, rtol=1e-4, atol=1e-6)


def test_gradients_validate_input():
    net = nnc.Network([5, 4, 3], dtype="float64", seed=13)
    X = np.zeros((4, 5))
    with pytest.raises(ValueError):
        net.gradients(np.zeros((4, 6)), np.zeros(4, int))
    with pytest.raises(ValueError):
        net.gradients(X, np.zeros(3, int))
    with pytest.raises(ValueError):
        net.gradients(X, np.array([0, 1, 2, 3]))  # label 3 of a 3-output network
    with pytest.raises(ValueError):
        net.gradients(X, np.zeros(4, int), sample_weight=-np.ones(4))


@pytest.mark.parametrize("output", ["exp", "softplus"])
def test_poisson_loss_matches_numpy_reference(output):
    # the engine's mean cost (evaluate) is the NumPy half Poisson deviance
    rng = np.random.default_rng(41)
    net = nnc.Network([5, 4, 2], activation="tanh", output_activation=output, loss="poisson",
                      dtype="float64", seed=14)
    X = rng.standard_normal((9, 5))
    y, Y = make_targets(rng, "poisson", 9, 2)
    a = net.forward(X)
    expected = losses.FUNCTIONS["poisson"](a, Y).mean()
    assert net.evaluate(X, y)["loss"] == pytest.approx(expected, rel=1e-12)
    # and a perfect prediction of positive counts costs nothing
    assert losses.FUNCTIONS["poisson"](Y + 1, Y + 1).max() == 0.0


def test_exp_activation_kernel_matches_numpy():
    from nnc import kernels
    z = np.linspace(-3, 3, 12).reshape(3, 4)
    out = np.empty_like(z)
    kernels.activation(acts.CODES["exp"], z, out)
    np.testing.assert_allclose(out, np.exp(z), rtol=1e-15)
    delta = np.ones_like(z)
    kernels.activation_derivative(acts.CODES["exp"], z, out, delta)
    np.testing.assert_allclose(delta, acts.DERIVATIVES["exp"](z), rtol=1e-15)
