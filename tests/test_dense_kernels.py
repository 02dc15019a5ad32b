"""The engine's vectorised dense-layer kernels (nnc/_dense.h) against NumPy.

They are reached through the checked entry points nnc._kernels._exp_array,
_bias_activation, _softmax_xent, _bias_gradient and _sum_squares; the engine
calls the same cores on its batches.
"""
import numpy as np
import pytest

from nnc import _kernels, losses
from nnc import activations as acts
from nnc import kernels as K

DTYPES = [np.float32, np.float64]


def ulp_error(got, x, dtype):
    """|got - exp(x)| in units of the last place of dtype, exp(x) in extended precision."""
    exact = np.exp(x.astype(np.longdouble))
    spacing = np.spacing(np.abs(exact.astype(dtype))).astype(np.longdouble)
    return np.abs(got.astype(np.longdouble) - exact) / spacing


@pytest.mark.parametrize("dtype", DTYPES)
def test_exp_is_within_two_ulp_over_the_whole_range(dtype):
    lo, hi = (-87.3, 88.7) if dtype == np.float32 else (-708.3, 709.7)
    x = np.linspace(lo, hi, 400_001).astype(dtype)
    x = np.concatenate([x, np.random.default_rng(0).uniform(-2, 2, 100_000).astype(dtype)])
    out = np.empty_like(x)
    _kernels._exp_array(x, out)
    assert ulp_error(out, x, dtype).max() <= 2


@pytest.mark.parametrize("dtype", DTYPES)
def test_exp_edges_underflow_overflow_and_nan(dtype):
    info = np.finfo(dtype)
    big = 89.0 if dtype == np.float32 else 710.0
    tiny = -104.0 if dtype == np.float32 else -746.0
    x = np.array([np.nan, -np.inf, np.inf, 0.0, -0.0, big, -big, tiny, 2 * tiny, 1e30, -1e30],
                 dtype=dtype)
    out = np.empty_like(x)
    _kernels._exp_array(x, out)
    assert np.isnan(out[0])
    np.testing.assert_array_equal(out[[1, 2, 3, 4, 5, 7, 8, 9, 10]],
                                  [0.0, np.inf, 1.0, 1.0, np.inf, 0.0, 0.0, np.inf, 0.0])
    assert out[6] == pytest.approx(np.exp(-big), rel=1e-4)  # a subnormal in float32
    # into the subnormals gradually, as libm does: within 2 ulp of the smallest subnormal
    sub = np.linspace(np.log(info.tiny) - 15, np.log(info.tiny), 1001).astype(dtype)
    got = np.empty_like(sub)
    _kernels._exp_array(sub, got)
    smallest = np.longdouble(info.smallest_subnormal)
    exact = np.exp(sub.astype(np.longdouble))
    assert (np.abs(got.astype(np.longdouble) - exact) <= 2 * smallest).all()
    assert (got > 0).any()


@pytest.mark.parametrize("dtype", DTYPES)
def test_exp_in_place_and_element_by_element_give_the_same_bits(dtype):
    # output_delta sums a row's exponentials itself: it must see the bits softmax sees
    x = np.random.default_rng(1).uniform(-50, 50, 1003).astype(dtype)
    whole = np.empty_like(x)
    _kernels._exp_array(x, whole)
    single = np.empty(1, dtype=dtype)
    for i in range(0, x.size, 37):
        _kernels._exp_array(x[i:i + 1], single)
        assert single[0] == whole[i]
    inplace = x.copy()
    _kernels._exp_array(inplace, inplace)
    np.testing.assert_array_equal(inplace, whole)


def reference_activation(name, z):
    with np.errstate(under="ignore", over="ignore"):
        return acts.FUNCTIONS[name](np.asarray(z, np.float64))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(acts.CODES))
@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("m,n", [(1, 1), (7, 10), (33, 100)])
def test_bias_activation(rng, dtype, name, in_place, m, n):
    z = np.ascontiguousarray(rng.standard_normal((m, n)) * 3, dtype=dtype)
    b = np.ascontiguousarray(rng.standard_normal(n), dtype=dtype)
    expected_z = z.astype(np.float64) + b.astype(np.float64)
    expected = reference_activation(name, (z + b).astype(np.float64))
    out = z if in_place else np.full_like(z, np.nan)
    _kernels._bias_activation(acts.CODES[name], b, z, out)
    t = 2e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(out, expected, rtol=t * 10, atol=t)
    if not in_place:  # z keeps the pre-activation, bias included
        np.testing.assert_allclose(z, expected_z, rtol=t, atol=t)


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_in_place_keeps_what_its_derivative_needs(rng, dtype):
    # relu computed into z itself: relu(z) > 0 exactly where z > 0 (NaN and -0 included)
    z = np.ascontiguousarray(np.r_[rng.standard_normal(40), np.nan, -0.0, 0.0, -np.inf],
                             dtype=dtype).reshape(4, 11)
    b = np.zeros(11, dtype=dtype)
    a = z.copy()
    _kernels._bias_activation(acts.CODES["relu"], b, a, a)
    delta = np.ascontiguousarray(rng.standard_normal(z.shape), dtype=dtype)
    from_z, from_a = delta.copy(), delta.copy()
    K.activation_derivative("relu", z, z.copy(), from_z)
    K.activation_derivative("relu", a, a.copy(), from_a)
    np.testing.assert_array_equal(from_a, from_z)
    np.testing.assert_array_equal(a, np.where(z > 0, z, 0))


def log_softmax(z):
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n", [(1, 2), (9, 10), (300, 3), (5, 130)])
def test_softmax_crossentropy_matches_numpy(rng, dtype, m, n):
    z = np.ascontiguousarray(rng.standard_normal((m, n)) * 4, dtype=dtype)
    labels = rng.integers(0, n, m)
    y = np.zeros((m, n), dtype=dtype)
    y[np.arange(m), labels] = 1
    y[0] *= 0.5  # a row whose targets do not sum to 1
    a, delta = np.full_like(z, np.nan), np.full_like(z, np.nan)
    scale = 1.0 / 977
    total, correct = _kernels._softmax_xent(z, a, y, delta, scale)

    z64, y64 = z.astype(np.float64), y.astype(np.float64)
    a64 = np.exp(log_softmax(z64))
    t = 2e-6 if dtype == np.float32 else 1e-13
    assert total == pytest.approx(-(y64 * log_softmax(z64)).sum(), rel=t * 10)
    np.testing.assert_allclose(a, a64, rtol=t * 10, atol=t)
    expected = (a64 * y64.sum(axis=1, keepdims=True) - y64) * scale
    np.testing.assert_allclose(delta, expected, rtol=t * 10, atol=t * scale)
    assert correct == (a.argmax(axis=1) == y.argmax(axis=1)).sum()
    # the same numbers as the separate kernels (activation, then loss_and_delta)
    a2, delta2 = np.empty_like(z), np.empty_like(z)
    K.activation("softmax", z, a2)
    mean = K.loss_and_delta(losses.CODES["categorical_crossentropy"], acts.CODES["softmax"],
                            z, a2, y, delta2)
    np.testing.assert_array_equal(a, a2)
    assert mean == pytest.approx(total / m, rel=1e-15 if dtype == np.float64 else 1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_crossentropy_is_stable(dtype, strict_fp):
    z = np.array([[1000.0, -1000.0, 0.0], [0.0, 0.0, 0.0]], dtype=dtype)
    y = np.array([[0, 1, 0], [0, 0, 1]], dtype=dtype)
    a, delta = np.empty_like(z), np.empty_like(z)
    with strict_fp():
        total, correct = _kernels._softmax_xent(z, a, y, delta, 0.5)
    assert total == pytest.approx(2000.0 + np.log(3), rel=1e-6)
    np.testing.assert_allclose(delta, (a.astype(np.float64) - y) / 2, atol=1e-7)
    assert correct == 0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n", [(1, 1), (7, 10), (300, 100), (13, 130)])
def test_bias_gradient_adds_the_rows_in_order(rng, dtype, m, n):
    delta = np.ascontiguousarray(rng.standard_normal((m, n)), dtype=dtype)
    gb = np.ascontiguousarray(rng.standard_normal(n), dtype=dtype)
    expected = gb.astype(np.float64) + 0.25 * delta.astype(np.float64).sum(axis=0)
    _kernels._bias_gradient(delta, 0.25, gb)
    t = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(gb, expected, rtol=t, atol=t * np.sqrt(m))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 7510])
def test_sum_squares(rng, dtype, n):
    x = np.ascontiguousarray(rng.standard_normal(n), dtype=dtype)
    assert _kernels._sum_squares(x) == pytest.approx(float((x.astype(np.float64) ** 2).sum()),
                                                     rel=1e-14, abs=0)


def test_entry_points_refuse_bad_shapes():
    z = np.zeros((3, 4))
    with pytest.raises(ValueError, match="b must have shape"):
        _kernels._bias_activation(acts.CODES["relu"], np.zeros(3), z, z)
    with pytest.raises(ValueError, match="out must have the shape"):
        _kernels._exp_array(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="same shape"):
        _kernels._softmax_xent(z, z.copy(), np.zeros((3, 3)), z.copy(), 1.0)
    with pytest.raises(ValueError, match="gb must have shape"):
        _kernels._bias_gradient(z, 1.0, np.zeros(3))
