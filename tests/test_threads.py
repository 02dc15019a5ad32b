"""Thread safety: inference from many threads at once on one network, training
of different networks side by side, and a clear error (never a race) when two
threads try to train the same network."""
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.sparse as sp

import nnc

N_THREADS = 8


@pytest.fixture(params=["float32", "float64"])
def net_and_data(request):
    rng = np.random.default_rng(0)
    net = nnc.Network([20, 32, 16, 5], activation=["relu", "tanh", "softmax"],
                      loss="categorical_crossentropy", dtype=request.param, seed=1)
    X = rng.standard_normal((600, 20)).astype(request.param)
    y = rng.integers(0, 5, 600)
    return net, X, y


def _run_concurrently(fn, jobs):
    """Run ``fn(job)`` for every job from N_THREADS threads that start together."""
    barrier = threading.Barrier(N_THREADS)

    def start(job):
        barrier.wait()
        return fn(job)

    with ThreadPoolExecutor(N_THREADS) as pool:
        return list(pool.map(start, jobs))


def _slices(n_jobs=N_THREADS * 3):
    # Different, overlapping chunks of rows, several per thread.
    return [(i * 37 % 400, i * 37 % 400 + 50 + 17 * (i % 5)) for i in range(n_jobs)]


def test_forward_and_predict_from_many_threads(net_and_data):
    net, X, y = net_and_data
    jobs = _slices()[:N_THREADS]
    expected = [(net.forward(X[a:b]), net.forward(X[a:b], layer=1), net.predict(X[a:b]))
                for a, b in jobs]
    for threads in (1, None):
        got = _run_concurrently(
            lambda ab, threads=threads: (net.forward(X[ab[0]:ab[1]], threads=threads),
                        net.forward(X[ab[0]:ab[1]], layer=1, threads=threads),
                        net.predict(X[ab[0]:ab[1]], threads=threads)), jobs)
        for (f, f1, p), (ef, ef1, ep) in zip(got, expected, strict=True):
            np.testing.assert_array_equal(f, ef)
            np.testing.assert_array_equal(f1, ef1)
            np.testing.assert_array_equal(p, ep)


def test_mixed_inference_calls_from_many_threads(net_and_data):
    net, X, y = net_and_data
    Xs = sp.csr_matrix(np.where(X > 0.5, X, 0))
    calls = [
        lambda: net.forward(X),
        lambda: net.predict(X[::2]),
        lambda: net.evaluate(X, y),
        lambda: net.gradients(X[:100], y[:100]),
        lambda: net.forward(Xs),
        lambda: net.forward(np.asfortranarray(X[:300]), layer=2),
        lambda: net.evaluate(X[:250], y[:250], sample_weight=np.linspace(0, 1, 250)),
        lambda: net.predict(X.tolist()[:64]),
    ]
    expected = [c() for c in calls]
    for _ in range(3):
        got = _run_concurrently(lambda c: c(), calls)
        for g, e in zip(got, expected, strict=True):
            if isinstance(e, dict):
                assert g == e
            elif isinstance(e, tuple):
                for a, b in zip(g[0] + g[1], e[0] + e[1], strict=True):
                    np.testing.assert_array_equal(a, b)
            else:
                np.testing.assert_array_equal(g, e)


def test_different_networks_train_side_by_side(net_and_data):
    _, X, y = net_and_data
    dtype = X.dtype

    def train(seed):
        net = nnc.Network([20, 16, 5], dtype=dtype, seed=seed)
        hist = net.fit(X, y, epochs=2, batch_size=16, lr=0.5, threads=1, verbose=0)
        return net.params.copy(), hist["loss"]

    seeds = list(range(N_THREADS))
    sequential = [train(s) for s in seeds]
    concurrent = _run_concurrently(train, seeds)
    for (p, l), (ep, el) in zip(concurrent, sequential, strict=True):
        np.testing.assert_array_equal(p, ep)
        assert l == el


def test_second_fit_on_the_same_network_raises(net_and_data):
    net, X, y = net_and_data
    inside, release = threading.Event(), threading.Event()
    errors = []

    def hold(network, epoch, history):
        inside.set()
        # keep the first fit busy until the main thread has tried its own
        if not release.wait(timeout=30):
            errors.append("never released")

    def first():
        try:
            net.fit(X, y, epochs=2, verbose=0, callbacks=[hold])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=first)
    t.start()
    try:
        assert inside.wait(timeout=30)
        before = net.params.copy()
        with pytest.raises(RuntimeError, match=r"already being trained"):
            net.fit(X, y, epochs=1, verbose=0)
        with pytest.raises(RuntimeError, match=r"already being trained"):
            net.partial_fit(X, y, verbose=0)
        # the refused calls changed nothing
        np.testing.assert_array_equal(net.params, before)
        # inference is still allowed while the first fit waits
        assert np.isfinite(net.forward(X)).all()
    finally:
        release.set()
        t.join(timeout=60)
    assert not t.is_alive() and errors == []
    assert len(net.history["loss"]) == 2
    # the lock is free again
    net.fit(X, y, epochs=1, verbose=0)
    assert len(net.history["loss"]) == 3


def test_many_threads_racing_to_fit_one_network(net_and_data):
    net, X, y = net_and_data
    Xs, ys = X[:64], y[:64]
    gate = threading.Event()

    def slow(network, epoch, history):
        gate.wait(timeout=30)

    def attempt(i):
        try:
            net.fit(Xs, ys, epochs=1, verbose=0, callbacks=[slow])
            return "trained"
        except RuntimeError as exc:
            assert "already being trained" in str(exc)
            return "refused"

    with ThreadPoolExecutor(N_THREADS) as pool:
        futures = [pool.submit(attempt, i) for i in range(N_THREADS)]
        # wait until every thread but the winner has been refused
        deadline = time.monotonic() + 60
        while sum(f.done() for f in futures) < N_THREADS - 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        gate.set()
        results = [f.result(timeout=60) for f in futures]
    assert results.count("trained") == 1 and results.count("refused") == N_THREADS - 1
    assert len(net.history["loss"]) == 1


def test_lock_is_released_after_a_failed_fit(net_and_data):
    net, X, y = net_and_data
    with pytest.raises(ValueError):
        net.fit(X, y + 10, verbose=0)

    def stop(network, epoch, history):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        net.fit(X, y, epochs=3, verbose=0, callbacks=[stop])
    net.fit(X, y, epochs=1, verbose=0)  # not refused


def test_predict_while_another_thread_trains(net_and_data):
    net, X, y = net_and_data
    done = threading.Event()
    outputs = []

    def infer():
        while not done.is_set():
            out = net.forward(X[:100])
            outputs.append(out.shape == (100, 5) and np.isfinite(out).all())

    t = threading.Thread(target=infer)
    t.start()
    try:
        net.fit(X, y, epochs=3, batch_size=8, lr=0.1, verbose=0)
    finally:
        done.set()
        t.join(timeout=60)
    assert outputs and all(outputs)


# ---------------------------------------------------------------------------
# OpenMP's spin-wait: short for nnc, without touching os.environ
# ---------------------------------------------------------------------------
_SHOW_SPIN = """
import ctypes, os, sys
import nnc
try:
    gomp = ctypes.CDLL("libgomp.so.1", mode=os.RTLD_NOLOAD)
    show = gomp.omp_display_env
except (OSError, AttributeError):
    print("no libgomp"); sys.exit(0)
sys.stdout.flush()
show(1)   # libgomp prints the settings it read when it was loaded, on stderr
print(os.environ.get("GOMP_SPINCOUNT"))
"""


@pytest.mark.parametrize("preset", [None, "123"])
def test_libgomp_gets_a_short_spin_and_the_environment_does_not(preset, tmp_path):
    """nnc/_native.py sets GOMP_SPINCOUNT only while its extensions load libgomp:
    libgomp keeps the short spin (threads=2 training on a busy machine was 3-8x
    slower with libgomp's default), a user's own value wins, and os.environ
    (so every child process) is left as it was."""
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT",
                                                             "OMP_WAIT_POLICY")}
    if preset:
        env["GOMP_SPINCOUNT"] = preset
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(nnc.__file__)) + os.pathsep + \
        env.get("PYTHONPATH", "")
    run = subprocess.run([sys.executable, "-c", _SHOW_SPIN], env=env, capture_output=True,
                         text=True, timeout=120, check=True, cwd=tmp_path)
    if run.stdout.startswith("no libgomp"):
        pytest.skip("nnc is not built with GNU OpenMP here")
    expected = preset or nnc._native.SPIN_COUNT
    assert f"GOMP_SPINCOUNT = '{expected}'" in run.stderr
    assert run.stdout.strip() == str(preset)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sizes,batch_size", [
    ([60, 256, 10], 128),   # products of 2e5-1e6 multiply-adds: halves at any thread count
    ([60, 300, 40], 100),   # halves, and a 300-unit layer (OpenBLAS's kernels differ by size)
    ([60, 512, 512, 10], 96),  # the 512 x 512 products: split by thread count
    ([60, 30, 10], 10),     # small products: never split
    ([20, 512, 10], 160),   # halves, and elementwise passes over 160 x 512 values split
])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_training_is_bit_identical_for_any_thread_count(dtype, sizes, batch_size, sparse,
                                                        activation):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((700, sizes[0])).astype(dtype)
    X[rng.random(X.shape) < 0.7] = 0
    y = rng.integers(0, sizes[-1], len(X))
    runs = []
    for threads in (1, 2, 3):
        net = nnc.Network(sizes, activation=activation, output_activation="softmax",
                          loss="categorical_crossentropy", dtype=dtype, seed=2, init="he")
        hist = net.fit(sp.csr_matrix(X) if sparse else X, y, epochs=2, batch_size=batch_size,
                       optimizer=nnc.optimizers.get("adam", lr=1e-3), verbose=0,
                       threads=threads)
        runs.append((net.params.copy(), hist["loss"]))
    for params, loss in runs[1:]:
        np.testing.assert_array_equal(params, runs[0][0])
        assert loss == runs[0][1]


def test_the_fork_join_probe_measures_and_checks_its_arguments():
    from nnc import _kernels
    for threads in (1, 2, 3):
        seconds = _kernels._fork_join_seconds(threads, 50)
        assert 0 < seconds < 0.1
    with pytest.raises(ValueError, match="threads"):
        _kernels._fork_join_seconds(0, 10)
    with pytest.raises(ValueError, match="threads"):
        _kernels._fork_join_seconds(257, 10)
    with pytest.raises(ValueError, match="repeats"):
        _kernels._fork_join_seconds(2, 0)
