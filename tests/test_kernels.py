"""nnc.kernels (the C cores of the engine) against NumPy, in float32 and float64."""
import numpy as np
import pytest

from nnc import activations as acts
from nnc import kernels as K
from nnc import losses

DTYPES = [np.float32, np.float64]
ACTIVATIONS = sorted(acts.CODES)
DIFFERENTIABLE = [a for a in ACTIVATIONS if a != "step"]
# z values that break naive formulas: overflow of exp, log(0), 0/0.
EXTREME = np.array([-1000.0, -88.7, -40.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 40.0, 88.7, 1000.0])


def tol(dtype):
    return {"rtol": 2e-5, "atol": 2e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-13}


def rand(rng, shape, dtype, scale=1.0):
    return np.ascontiguousarray(rng.standard_normal(shape) * scale, dtype=dtype)


def reference_activation(name, z):
    with np.errstate(under="ignore", over="ignore"):
        return acts.FUNCTIONS[name](np.asarray(z, np.float64))


# ---------------------------------------------------------------------------
# products
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_out,n_in", [(1, 1), (3, 7), (30, 784), (17, 5)])
def test_matvec(rng, dtype, n_out, n_in):
    W, x, b = rand(rng, (n_out, n_in), dtype), rand(rng, n_in, dtype), rand(rng, n_out, dtype)
    out = np.full(n_out, np.nan, dtype=dtype)
    K.matvec(W, x, b, out)
    expected = W.astype(np.float64) @ x.astype(np.float64) + b
    np.testing.assert_allclose(out, expected, rtol=tol(dtype)["rtol"] * 10,
                               atol=tol(dtype)["atol"] * np.sqrt(n_in) * 10)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n_in,n_out", [(1, 4, 3), (10, 784, 30), (7, 5, 1), (33, 9, 12)])
def test_batch_forward(rng, dtype, m, n_in, n_out):
    X, W, b = rand(rng, (m, n_in), dtype), rand(rng, (n_out, n_in), dtype), rand(rng, n_out, dtype)
    out = np.full((m, n_out), np.nan, dtype=dtype)
    K.batch_forward(X, W, b, out)
    expected = X.astype(np.float64) @ W.astype(np.float64).T + b
    np.testing.assert_allclose(out, expected, rtol=tol(dtype)["rtol"] * 10,
                               atol=tol(dtype)["atol"] * np.sqrt(n_in) * 10)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n_in,n_out", [(1, 4, 3), (10, 30, 10), (6, 1, 8)])
def test_backprop_delta(rng, dtype, m, n_in, n_out):
    delta, W = rand(rng, (m, n_out), dtype), rand(rng, (n_out, n_in), dtype)
    out = np.full((m, n_in), np.nan, dtype=dtype)
    K.backprop_delta(delta, W, out)
    np.testing.assert_allclose(out, delta.astype(np.float64) @ W.astype(np.float64),
                               rtol=tol(dtype)["rtol"] * 10, atol=tol(dtype)["atol"] * 10)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("beta", [0.0, 1.0, 0.5])
def test_weight_gradient(rng, dtype, beta):
    m, n_in, n_out = 13, 9, 4
    delta, A = rand(rng, (m, n_out), dtype), rand(rng, (m, n_in), dtype)
    start = rand(rng, (n_out, n_in), dtype)
    out = start.copy()
    K.weight_gradient(delta, A, out, beta)
    expected = delta.astype(np.float64).T @ A.astype(np.float64) + beta * start
    np.testing.assert_allclose(out, expected, rtol=tol(dtype)["rtol"] * 10,
                               atol=tol(dtype)["atol"] * 10)


def test_weight_gradient_default_overwrites(rng):
    delta, A = rand(rng, (5, 3), np.float64), rand(rng, (5, 2), np.float64)
    out = np.full((3, 2), np.nan)  # beta=0 must ignore (not multiply) the old contents
    K.weight_gradient(delta, A, out)
    np.testing.assert_allclose(out, delta.T @ A, rtol=1e-13)


# ---------------------------------------------------------------------------
# activations
# ---------------------------------------------------------------------------
def test_activation_codes_cover_every_function():
    assert set(acts.CODES) == set(acts.FUNCTIONS)
    assert sorted(acts.CODES.values()) == list(range(len(acts.CODES)))
    assert set(acts.DERIVATIVES) == set(DIFFERENTIABLE) - {"softmax"}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_values(rng, dtype, name):
    z = rand(rng, (6, 11), dtype, scale=4.0)
    out = np.full_like(z, np.nan)
    K.activation(acts.CODES[name], z, out)
    np.testing.assert_allclose(out, reference_activation(name, z), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", [a for a in ACTIVATIONS if a != "exp"])  # exp(1e4) is inf
def test_activation_extreme_values_without_warnings(dtype, name, strict_fp):
    z = np.ascontiguousarray(np.stack([EXTREME, -EXTREME]), dtype=dtype)
    out = np.full_like(z, np.nan)
    with strict_fp():
        K.activation(acts.CODES[name], z, out)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, reference_activation(name, z), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_saturates_exactly(dtype, strict_fp):
    z = np.array([[-1000.0, 1000.0, 0.0]], dtype=dtype)
    out = np.empty_like(z)
    with strict_fp():
        K.activation(acts.CODES["sigmoid"], z, out)
    assert out.tolist() == [[0.0, 1.0, 0.5]]


def test_sigmoid_float64_within_a_few_ulp_of_libm():
    # float64's sigmoid takes exp(-|z|) from the vectorised exp (2 ulp of
    # libm's); in place (out is z) it calls libm per value.  Both stay within
    # 4 ulp of the same formula on NumPy's exp, down into the subnormals (z
    # near -745), and exact at the signed zeros and infinities.
    z = np.concatenate([np.linspace(-746, 746, 200_001), [0.0, -0.0, np.inf, -np.inf, -1e300,
                                                          1e-300, -5e-324]])[None, :]
    with np.errstate(under="ignore"):
        e = np.exp(-np.abs(z))
        expected = np.where(z >= 0, 1 / (1 + e), e * (1 / (1 + e)))
    out = np.full_like(z, np.nan)
    K.activation(acts.CODES["sigmoid"], z, out)
    in_place = z.copy()
    K.activation(acts.CODES["sigmoid"], in_place, in_place)
    for got in (out, in_place):
        ulp = np.abs(got - expected) / np.spacing(np.abs(expected))
        assert ulp.max() <= 4, (ulp.max(), z[0, ulp.argmax()])
    assert out[0, -7:-3].tolist() == [0.5, 0.5, 1.0, 0.0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_rows_are_distributions(rng, dtype, strict_fp):
    z = rand(rng, (5, 7), dtype, scale=300.0)  # far beyond exp's range
    out = np.empty_like(z)
    with strict_fp():
        K.activation(acts.CODES["softmax"], z, out)
    assert np.isfinite(out).all() and (out >= 0).all()
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=10 * np.finfo(dtype).eps * 7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_in_place(rng, dtype):
    z = rand(rng, (4, 5), dtype)
    expected = reference_activation("tanh", z)
    K.activation(acts.CODES["tanh"], z, z)  # out may alias z
    np.testing.assert_allclose(z, expected, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", DIFFERENTIABLE)
@pytest.mark.parametrize("extreme", [False, True])
def test_activation_derivative(rng, dtype, name, extreme, strict_fp):
    if extreme:
        z = np.ascontiguousarray(np.stack([EXTREME, -EXTREME]), dtype=dtype)
        if name == "exp":  # exp is finite up to z = 88 in float32
            z = np.clip(z, -80, 80)
    else:
        z = rand(rng, (6, 11), dtype, scale=3.0)
    a = np.empty_like(z)
    K.activation(acts.CODES[name], z, a)
    delta = rand(rng, z.shape, dtype)
    expected_in = delta.astype(np.float64)
    a64, z64 = a.astype(np.float64), z.astype(np.float64)
    if name == "softmax":
        # The row-wise Jacobian J = diag(a) - a a^T is symmetric: delta J.
        expected = np.stack([(np.diag(ai) - np.outer(ai, ai)) @ di
                             for ai, di in zip(a64, expected_in, strict=True)])
    else:
        with np.errstate(under="ignore", over="ignore"):
            expected = expected_in * acts.DERIVATIVES[name](z64)
    with strict_fp():
        K.activation_derivative(acts.CODES[name], z, a, delta)
    assert np.isfinite(delta).all()
    np.testing.assert_allclose(delta, expected, **tol(dtype))


@pytest.mark.parametrize("name", sorted(acts.DERIVATIVES))
def test_reference_derivatives_match_finite_differences(name):
    # The oracle itself must be right: check DERIVATIVES against f.
    z = np.linspace(-6, 6, 97) + 0.013  # avoid the kinks at exactly 0
    h = 1e-6
    fd = (acts.FUNCTIONS[name](z + h) - acts.FUNCTIONS[name](z - h)) / (2 * h)
    np.testing.assert_allclose(acts.DERIVATIVES[name](z), fd, rtol=1e-6, atol=1e-8)


def test_step_has_no_derivative_and_unknown_codes_fail():
    z = np.zeros((2, 3))
    with pytest.raises(ValueError):
        K.activation_derivative(acts.CODES["step"], z, z.copy(), z.copy())
    with pytest.raises(ValueError):
        K.activation(max(acts.CODES.values()) + 1, z, z.copy())
    with pytest.raises(ValueError):
        K.activation(-1, z, z.copy())


# ---------------------------------------------------------------------------
# losses: the mean cost and the output error delta^L = dC/dz^L (BP1)
# ---------------------------------------------------------------------------
# (loss, output activation) pairs whose cost is defined for the activation's range
LOSS_PAIRS = ([("quadratic", a) for a in DIFFERENTIABLE]
              + [("binary_crossentropy", a) for a in ("sigmoid", "softmax")]
              + [("categorical_crossentropy", a) for a in ("softmax", "sigmoid", "softplus")])


def _targets(rng, loss, shape):
    if loss == "binary_crossentropy":
        return rng.random(shape)
    if loss == "categorical_crossentropy":
        return rng.dirichlet(np.ones(shape[1]), size=shape[0])
    return rng.standard_normal(shape)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss,name", LOSS_PAIRS)
def test_loss_and_delta(rng, dtype, loss, name, reference):
    m, n = 7, 4
    z = rand(rng, (m, n), dtype, scale=2.0)
    a = np.empty_like(z)
    K.activation(acts.CODES[name], z, a)
    y = np.ascontiguousarray(_targets(rng, loss, (m, n)), dtype=dtype)
    delta = np.full_like(z, np.nan)
    mean = K.loss_and_delta(losses.CODES[loss], acts.CODES[name], z, a, y, delta)

    z64, y64 = z.astype(np.float64), y.astype(np.float64)
    a64 = reference_activation(name, z64)
    expected_loss = losses.FUNCTIONS[loss](a64, y64).mean()
    expected_delta = reference.jvp(name, z64, a64, reference.loss_grad_a(loss, a64, y64)) / m
    t = tol(dtype)
    assert mean == pytest.approx(expected_loss, rel=t["rtol"] * 10, abs=t["atol"] * 10)
    np.testing.assert_allclose(delta, expected_delta, rtol=t["rtol"] * 50, atol=t["atol"] * 10)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_softmax_crossentropy_is_stable(dtype, strict_fp):
    # a = softmax(z) underflows to exactly 0 for the true class: the loss
    # must come from z (log-sum-exp), not from log(a).
    z = np.array([[1000.0, -1000.0, 0.0], [0.0, 0.0, 0.0]], dtype=dtype)
    a = np.empty_like(z)
    K.activation(acts.CODES["softmax"], z, a)
    y = np.array([[0, 1, 0], [0, 0, 1]], dtype=dtype)
    delta = np.empty_like(z)
    with strict_fp():
        mean = K.loss_and_delta(losses.CODES["categorical_crossentropy"],
                                acts.CODES["softmax"], z, a, y, delta)
    assert mean == pytest.approx((2000.0 + np.log(3)) / 2, rel=1e-6)
    np.testing.assert_allclose(delta, (a.astype(np.float64) - y) / 2, atol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_sigmoid_binary_crossentropy_is_stable(dtype, strict_fp):
    z = np.array([[1000.0, -1000.0, 0.0]], dtype=dtype)
    a = np.empty_like(z)
    K.activation(acts.CODES["sigmoid"], z, a)
    y = np.array([[0.0, 1.0, 1.0]], dtype=dtype)
    delta = np.empty_like(z)
    with strict_fp():
        mean = K.loss_and_delta(losses.CODES["binary_crossentropy"],
                                acts.CODES["sigmoid"], z, a, y, delta)
    assert mean == pytest.approx(2000.0 + np.log(2), rel=1e-6)
    np.testing.assert_allclose(delta, [[1.0, -1.0, -0.5]], atol=1e-7)


def test_loss_and_delta_rejects_bad_input():
    z = np.zeros((3, 2))
    with pytest.raises(ValueError):
        K.loss_and_delta(max(losses.CODES.values()) + 1, acts.CODES["sigmoid"], z, z, z,
                         z.copy())
    with pytest.raises(ValueError):
        K.loss_and_delta(0, acts.CODES["sigmoid"], z, z, np.zeros((3, 3)), z.copy())
    with pytest.raises(ValueError):
        K.loss_and_delta(0, acts.CODES["sigmoid"], z, z, z, np.zeros((2, 2)))
    empty = np.zeros((0, 2))
    with pytest.raises(ValueError):
        K.loss_and_delta(0, acts.CODES["sigmoid"], empty, empty, empty, empty.copy())


# ---------------------------------------------------------------------------
# parameter update
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_step(rng, dtype):
    p, g = rand(rng, 50, dtype), rand(rng, 50, dtype)
    expected = p.astype(np.float64) - 0.3 * g.astype(np.float64)
    K.sgd_step(p, g, 0.3)
    np.testing.assert_allclose(p, expected, **tol(dtype))


# ---------------------------------------------------------------------------
# shape and dtype errors: ValueError, never a crash
# ---------------------------------------------------------------------------
def _shape_error_calls(dtype):
    z = lambda *s: np.zeros(s, dtype=dtype)  # noqa: E731
    return {
        "matvec x": lambda: K.matvec(z(3, 4), z(5), z(3), z(3)),
        "matvec b": lambda: K.matvec(z(3, 4), z(4), z(2), z(3)),
        "matvec out": lambda: K.matvec(z(3, 4), z(4), z(3), z(4)),
        "batch_forward w": lambda: K.batch_forward(z(2, 4), z(3, 5), z(3), z(2, 3)),
        "batch_forward b": lambda: K.batch_forward(z(2, 4), z(3, 4), z(4), z(2, 3)),
        "batch_forward out": lambda: K.batch_forward(z(2, 4), z(3, 4), z(3), z(3, 3)),
        "backprop_delta w": lambda: K.backprop_delta(z(2, 3), z(4, 5), z(2, 5)),
        "backprop_delta out": lambda: K.backprop_delta(z(2, 3), z(3, 5), z(2, 4)),
        "weight_gradient rows": lambda: K.weight_gradient(z(2, 3), z(4, 5), z(3, 5)),
        "weight_gradient out": lambda: K.weight_gradient(z(2, 3), z(2, 5), z(5, 3)),
        "activation out": lambda: K.activation(1, z(2, 3), z(3, 2)),
        "activation_derivative": lambda: K.activation_derivative(1, z(2, 3), z(2, 3), z(2, 2)),
        "loss_and_delta": lambda: K.loss_and_delta(0, 1, z(2, 3), z(2, 3), z(1, 3), z(2, 3)),
        "sgd_step": lambda: K.sgd_step(z(4), z(5), 0.1),
        "not C-contiguous": lambda: K.batch_forward(np.asfortranarray(z(3, 4)), z(2, 4),
                                                    z(2), z(3, 2)),
    }


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", sorted(_shape_error_calls(np.float64)))
def test_shape_errors_raise_value_error(dtype, case):
    with pytest.raises(ValueError):
        _shape_error_calls(dtype)[case]()


@pytest.mark.parametrize("dtype", DTYPES)
def test_wrong_ndim_raises_value_error(dtype):
    # A 1-D array where a matrix is expected is a shape error like any other.
    z = lambda *s: np.zeros(s, dtype=dtype)  # noqa: E731
    with pytest.raises(ValueError):
        K.matvec(z(3), z(4), z(3), z(3))
    with pytest.raises(ValueError):
        K.batch_forward(z(2, 4, 1), z(3, 4), z(3), z(2, 3))
    with pytest.raises(ValueError):
        K.sgd_step(z(4, 1), z(4, 1), 0.1)


def test_mixed_dtypes_are_rejected():
    with pytest.raises((TypeError, ValueError)):
        K.matvec(np.zeros((3, 4), np.float32), np.zeros(4, np.float64),
                 np.zeros(3, np.float32), np.zeros(3, np.float32))
    with pytest.raises((TypeError, ValueError)):
        K.sgd_step(np.zeros(3, np.float64), np.zeros(3, np.float32), 0.1)


def test_names_are_accepted_for_codes(rng):
    z = rand(rng, (3, 4), np.float64)
    by_code, by_name = np.empty_like(z), np.empty_like(z)
    K.activation(acts.CODES["gelu"], z, by_code)
    K.activation("gelu", z, by_name)
    np.testing.assert_array_equal(by_code, by_name)
    a = np.empty_like(z)
    K.activation("softmax", z, a)
    y = np.eye(4)[[0, 3, 1]]
    d1, d2 = np.empty_like(z), np.empty_like(z)
    l1 = K.loss_and_delta(losses.CODES["categorical_crossentropy"], acts.CODES["softmax"],
                          z, a, y, d1)
    l2 = K.loss_and_delta("categorical_crossentropy", "softmax", z, a, y, d2)
    assert l1 == l2
    np.testing.assert_array_equal(d1, d2)
    with pytest.raises(ValueError):
        K.activation("nope", z, a)
    with pytest.raises(ValueError):
        K.loss_and_delta("nope", "softmax", z, a, y, d1)


def test_read_only_output_is_rejected(rng):
    z = rand(rng, (3, 4), np.float64)
    out = np.empty_like(z)
    out.flags.writeable = False
    with pytest.raises(ValueError):
        K.activation("tanh", z, out)
    p = np.zeros(3)
    p.flags.writeable = False
    with pytest.raises(ValueError):
        K.sgd_step(p, np.ones(3), 0.1)
