"""Checks of the benchmark's own pieces: the NumPy references compute the
same gradients as each other and as nnc, and the FLOP count matches the issue.

Run with ``python -m pytest bench/test_bench.py -q`` (not part of tests/:
the harness is not the package).  No timing is asserted here.
"""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import CONFIGS, initial_params, one_hot  # noqa: E402
from reference_numpy import PerSampleNetwork, VectorizedNetwork  # noqa: E402


def _small(cfg):
    """The configuration's recipe on a small network (fast to check)."""
    sizes = (12, 7, 5, 4) if len(cfg.sizes) == 4 else (12, 7, 4)
    return type(cfg)(**dict(cfg.__dict__, sizes=sizes))


def _batch(n, n_in, n_out, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, n_in))
    X[X < 0.5] = 0.0  # zeros, like MNIST's background
    y = rng.integers(0, n_out, n)
    return X, y


@pytest.mark.parametrize("name", ["tutorial", "wide", "deep"])
def test_per_sample_and_vectorized_gradients_agree(name):
    cfg = _small(CONFIGS[name])
    params = initial_params(cfg, np.float64, seed=3)
    X, y = _batch(9, cfg.sizes[0], cfg.sizes[-1])
    Y = one_hot(y, cfg.sizes[-1], np.float64)
    kw = dict(hidden=cfg.hidden, output=cfg.output, loss=cfg.loss)
    loop, vec = PerSampleNetwork(params, **kw), VectorizedNetwork(params, **kw)
    vw, vb = vec.backprop(X, Y)
    lw = [np.zeros_like(W) for W, _ in params]
    lb = [np.zeros_like(b) for _, b in params]
    for i in range(X.shape[0]):
        dw, db = loop.backprop(X[i].reshape(-1, 1), Y[i].reshape(-1, 1))
        for acc, d in zip(lw, dw, strict=True):
            acc += d
        for acc, d in zip(lb, db, strict=True):
            acc += d[:, 0]
    for a, b in zip(vw + vb, lw + lb, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["tutorial", "wide", "deep"])
def test_reference_gradient_matches_nnc(name):
    nnc = pytest.importorskip("nnc")
    cfg = _small(CONFIGS[name])
    loss = "quadratic" if cfg.loss == "quadratic" else "categorical_crossentropy"
    net = nnc.Network(list(cfg.sizes), activation=cfg.hidden, output_activation=cfg.output,
                      loss=loss, dtype="float64", seed=0, init=cfg.init)
    params = [(W.copy(), b.copy()) for W, b in zip(net.weights, net.biases, strict=True)]
    X, y = _batch(11, cfg.sizes[0], cfg.sizes[-1], seed=1)
    dW, db = net.gradients(X, y)
    ref = VectorizedNetwork(params, hidden=cfg.hidden, output=cfg.output, loss=cfg.loss)
    rw, rb = ref.backprop(X, one_hot(y, cfg.sizes[-1], np.float64))
    for a, b in zip(dW + db, rw + rb, strict=True):
        np.testing.assert_allclose(a, b / X.shape[0], rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_one_epoch_of_both_references_is_the_same(optimizer):
    cfg = _small(CONFIGS["deep" if optimizer == "adam" else "tutorial"])
    params = initial_params(cfg, np.float64, seed=5)
    X, y = _batch(40, cfg.sizes[0], cfg.sizes[-1], seed=2)
    Y = one_hot(y, cfg.sizes[-1], np.float64)
    nets = []
    for cls in (PerSampleNetwork, VectorizedNetwork):
        net = cls(params, hidden=cfg.hidden, output=cfg.output, loss=cfg.loss,
                  optimizer=optimizer, lr=0.05)
        net.train_epoch(X, Y, 8, np.random.default_rng(0))
        nets.append(net)
    for a, b in zip(nets[0].weights + nets[0].biases, nets[1].weights + nets[1].biases, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert not np.allclose(nets[0].weights[0], params[0][0])  # it did train


def test_float32_stays_float32():
    cfg = _small(CONFIGS["wide"])
    params = initial_params(cfg, np.float32)
    X, y = _batch(16, cfg.sizes[0], cfg.sizes[-1])
    net = VectorizedNetwork(params, hidden=cfg.hidden, output=cfg.output, loss=cfg.loss,
                            optimizer="adam", lr=1e-3)
    net.train_epoch(X.astype(np.float32), one_hot(y, cfg.sizes[-1], np.float32), 4,
                    np.random.default_rng(0))
    assert all(W.dtype == np.float32 for W in net.weights + net.biases)


def test_flop_counts_match_the_issue():
    # the issue: tutorial ~4.8 GFLOP per epoch, 784-256-10 ~41 GFLOP
    assert CONFIGS["tutorial"].flops_per_sample() * 50_000 == pytest.approx(4.8e9, rel=0.01)
    assert CONFIGS["wide"].flops_per_sample() * 50_000 == pytest.approx(41e9, rel=0.01)
    assert CONFIGS["deep"].flops_per_sample() == 4 * 784 * 512 + 6 * 512 * 512 + 6 * 512 * 10


def test_invalid_reference_settings_raise():
    params = initial_params(_small(CONFIGS["tutorial"]), np.float64)
    with pytest.raises(ValueError, match="hidden"):
        VectorizedNetwork(params, hidden="tanh")
    with pytest.raises(ValueError, match="output/loss"):
        VectorizedNetwork(params, output="softmax", loss="quadratic")
    with pytest.raises(ValueError, match="optimizer"):
        VectorizedNetwork(params, optimizer="rmsprop")


# ---------------------------------------------------------------------------
# the sparse bag-of-words workload
# ---------------------------------------------------------------------------
def test_sparse_text_data_is_seeded_and_shaped():
    import sparse_text
    X, y = sparse_text.make_data(300, 5000, 0.01, 4, seed=1)
    X2, y2 = sparse_text.make_data(300, 5000, 0.01, 4, seed=1)
    assert X.shape == (300, 5000) and X.dtype == np.float32 and X.has_sorted_indices
    assert (X != X2).nnz == 0 and np.array_equal(y, y2)
    assert 0.005 < X.nnz / (300 * 5000) <= 0.01  # repeats of a word merge: a little below
    np.testing.assert_allclose(np.sqrt(X.multiply(X).sum(axis=1)).A1, 1.0, rtol=1e-5)
    assert set(np.unique(y)) == {0, 1, 2, 3}


@pytest.mark.parametrize("impl", ["nnc", "sklearn"])
def test_sparse_text_runs_one_implementation(impl):
    import sparse_text
    spec = dict(sparse_text.DEFAULTS, samples=2000, features=3000, density=0.02, classes=3,
                hidden=16, batch=16, repeats=1, peer_repeats=1)
    row = sparse_text.run_one(impl, spec)
    assert row["impl"] == impl and row["n_train"] == 1600 and len(row["times"]) == 1
    assert row["median"] > 0 and row["useful_gflops"] > 0
    assert row["accuracy"] > 0.6  # three classes, well separated by their topic words


def test_scaling_records_the_fork_join_cost_and_the_best_runs():
    pytest.importorskip("nnc")
    import isolated
    import report
    spec = {"configs": ["tutorial"], "dtypes": ["float32"], "threads": [1, 2], "repeats": 2,
            "samples": {"tutorial": 300}}
    block, = isolated.scaling(spec)
    for row in block["rows"]:
        assert len(row["times"]) == 2 and row["best"] == min(row["times"]) <= row["median"]
        assert 0 < row["fork_join_us"] < 1e5 and row["identical_across_repeats"]
    results = {"scaling": [block], "training": [], "inference": [], "skipped": {}, "errors": []}
    table = dict(report._sections(results, True))[
        "### Thread scaling (nnc)"]
    assert "best vs best" in table and "fork/join (us)" in table and "paired" in table
    one, two = (row["times"] for row in block["rows"])
    best = min(one) / min(two)
    paired = sorted(a / b for a, b in zip(one, two, strict=True))
    line = table.splitlines()[-1]  # the two-thread row
    assert f" {best:.2f} " in line and f" {(paired[0] + paired[1]) / 2:.2f} " in line
