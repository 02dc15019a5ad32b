"""Subnormal floats flushed to zero while the engine runs (nnc.set_flush_denormal)."""
import numpy as np
import pytest

import nnc

TINY = {"float32": np.finfo(np.float32).tiny, "float64": np.finfo(np.float64).tiny}


@pytest.fixture
def strict():
    """Flushing off for the test, the setting put back after it."""
    previous = nnc.set_flush_denormal(False)
    yield
    nnc.set_flush_denormal(previous)


def _tiny_net(dtype, n_in):
    # z = x W^T with W = tiny / 4: every output is subnormal
    net = nnc.Network([n_in, 1], activation="identity", dtype=dtype, seed=0)
    net.weights[0] = np.full((1, n_in), TINY[dtype] / 4 / n_in, dtype=dtype)
    net.biases[0] = np.zeros(1, dtype=dtype)
    return net


def test_the_switch_returns_the_previous_setting_and_checks_its_argument():
    assert nnc.set_flush_denormal(True) is True          # on by default
    assert nnc.set_flush_denormal(False) is True
    assert nnc.set_flush_denormal(True) is False
    for bad in (1, "yes", None):
        with pytest.raises(TypeError, match="enabled must be True or False"):
            nnc.set_flush_denormal(bad)
    assert nnc.set_flush_denormal(True) is True


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_subnormal_results_are_zero_inside_the_engine_only(dtype, threads, strict):
    # 1200 rows x 1000 inputs: the product is split across threads when
    # there are two; each thread's mode is set and put back
    X = np.ones((1200, 1000), dtype=dtype)
    net = _tiny_net(dtype, 1000)
    exact = net.forward(X, threads=threads)
    assert np.all((exact > 0) & (exact < TINY[dtype]))          # strict IEEE: subnormal
    nnc.set_flush_denormal(True)
    assert np.all(net.forward(X, threads=threads) == 0)          # flushed, in every thread
    # NumPy in this thread still computes subnormals after the engine returned
    assert np.asarray(TINY[dtype], dtype=dtype) / 4 > 0
    nnc.set_flush_denormal(False)
    np.testing.assert_array_equal(net.forward(X, threads=threads), exact)  # and the pool's


def test_training_matches_strict_arithmetic_away_from_subnormals():
    # the tutorial's network for two epochs: flushing changes nothing there
    rng = np.random.default_rng(0)
    X = rng.random((300, 20)) * (rng.random((300, 20)) < 0.4)
    y = rng.integers(0, 3, 300)
    runs = []
    for flush in (True, False):
        previous = nnc.set_flush_denormal(flush)
        try:
            net = nnc.Network([20, 8, 3], dtype="float64", seed=1)
            net.fit(X, y, epochs=2, batch_size=10, lr=3.0, verbose=0)
        finally:
            nnc.set_flush_denormal(previous)
        runs.append(net.params.copy())
    np.testing.assert_array_equal(runs[0], runs[1])
