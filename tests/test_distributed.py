"""Data-parallel training over MPI (nnc.distributed, Network.fit(comm=...)).

The MPI cases run once per session under ``mpiexec -n 2`` (the mpich wheel
installs ``mpiexec`` next to the interpreter); they write what every rank saw,
and the tests here compare it with single-process references computed from
the same data: with ``shuffle=False``, training on 2 ranks must equal
single-process training whose k-th batch is the concatenation of the ranks'
k-th batches, to 1e-9 in float64.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnc
import nnc.distributed as D

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE / "mpi_scripts"
sys.path.insert(0, str(SCRIPTS))
import _cases as C  # noqa: E402

TOL = 1e-9


def find_mpiexec():
    """The mpiexec of the mpich wheel next to this interpreter, else on PATH."""
    local = Path(sys.executable).parent / "mpiexec"
    if local.exists():
        return str(local)
    return shutil.which("mpiexec")


def mpi_env():
    env = dict(os.environ)
    root = str(Path(nnc.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    # 2 ranks on a small machine: one BLAS thread each.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    return env


def run_mpi(n, args, timeout=180):
    """Run ``mpiexec -n n python -m mpi4py args...``; -m mpi4py aborts every rank
    when one raises, so a failure cannot hang the test past ``timeout``."""
    cmd = [MPIEXEC, "-n", str(n), sys.executable, "-m", "mpi4py", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=mpi_env())
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


try:
    import mpi4py  # noqa: F401
    MPI_MISSING = None
except ImportError:
    MPI_MISSING = "mpi4py is not installed (pip install 'nnc[mpi]' or mpi4py mpich)"
MPIEXEC = find_mpiexec()
if MPI_MISSING is None and MPIEXEC is None:
    MPI_MISSING = "no mpiexec next to the interpreter or on PATH (pip install mpich)"
needs_mpi = pytest.mark.skipif(MPI_MISSING is not None, reason=str(MPI_MISSING))


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """What each of the 2 ranks of tests/mpi_scripts/train_cases.py saw."""
    if MPI_MISSING:
        pytest.skip(MPI_MISSING)
    out = tmp_path_factory.mktemp("mpi")
    run_mpi(C.N_RANKS, [SCRIPTS / "train_cases.py", out])
    result = []
    for r in range(C.N_RANKS):
        with np.load(out / f"rank{r}.npz") as z:
            arrays = {k: z[k] for k in z.files}
        info = json.loads((out / f"rank{r}.json").read_text())
        result.append((arrays, info))
    return result


def no_errors(ranks, case):
    for r, (_, info) in enumerate(ranks):
        assert f"{case}_error" not in info, f"rank {r}: {info[f'{case}_error']}"


def same_on_ranks(ranks, key):
    """The array must be bitwise identical on every rank; return it."""
    first = ranks[0][0][key]
    for r, (arrays, _) in enumerate(ranks[1:], 1):
        np.testing.assert_array_equal(arrays[key], first, err_msg=f"{key}: rank {r} differs")
    return first


def net_with(params, **config):
    net = nnc.Network(**config)
    net.params[...] = params
    return net


# ---------------------------------------------------------------------------
# exact semantics: gradient averaging equals single-process training
# ---------------------------------------------------------------------------
@needs_mpi
def test_sgd_equals_single_process_on_concatenated_batches(ranks):
    no_errors(ranks, "sgd")
    cfg = C.SGD
    (X0, y0), (X1, y1) = C.shards(cfg["n"], cfg["seed"])
    bs = cfg["bs"]
    # Interleave the shards so that batch k (of 2*bs) is [rank 0's batch k, rank 1's].
    idx = [(r, s) for s in range(0, cfg["n"][0], bs) for r in (0, 1)]
    X = np.concatenate([(X0, X1)[r][s:s + bs] for r, s in idx])
    y = np.concatenate([(y0, y1)[r][s:s + bs] for r, s in idx])
    val = C.shards(C.SGD_VAL["n"], C.SGD_VAL["seed"])
    Xv = np.concatenate([v[0] for v in val])
    yv = np.concatenate([v[1] for v in val])
    # Rank 0's seed: its parameters were broadcast (rank 1 used another seed).
    ref = nnc.Network(**cfg["net"])
    h = ref.fit(X, y, epochs=cfg["epochs"], batch_size=2 * bs, shuffle=False,
                validation_data=(Xv, yv), verbose=0, threads=1, **cfg["fit"]())

    params = same_on_ranks(ranks, "sgd_params")
    assert np.max(np.abs(params - ref.params)) <= TOL
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        got = same_on_ranks(ranks, f"sgd_{key}")
        np.testing.assert_allclose(got, h[key], rtol=0, atol=TOL, err_msg=key)


@needs_mpi
def test_adam_unequal_shards_weighted_equals_single_process(ranks):
    """Unequal shards: the epoch has the shortest shard's number of batches;
    the last step mixes a partial batch (rank 0) with a full one (rank 1)."""
    no_errors(ranks, "adam")
    cfg = C.ADAM
    shards = C.shards(cfg["n"], cfg["seed"])
    weights = [C.adam_weights(n, r) for r, n in enumerate(cfg["n"])]
    bs = cfg["bs"]
    n_steps = min(-(-n // bs) for n in cfg["n"])
    assert n_steps == 6 and cfg["n"][0] % bs != 0  # the case exercises both rules

    ref = nnc.Network(**cfg["net"])
    fit_kw = cfg["fit"]()  # one optimizer object: its state carries over between calls
    losses, accs = [], []
    for _ in range(cfg["epochs"]):
        loss_sum = weight_sum = correct = seen = 0.0
        for k in range(n_steps):
            parts = [(X[k * bs:(k + 1) * bs], y[k * bs:(k + 1) * bs], w[k * bs:(k + 1) * bs])
                     for (X, y), w in zip(shards, weights, strict=True)]
            Xk, yk, wk = (np.concatenate(p) for p in zip(*parts, strict=True))
            # One step on the concatenated batch; the optimizer state (and
            # Adam's step count) carries over between fit calls.
            h = ref.fit(Xk, yk, epochs=1, batch_size=len(Xk), shuffle=False,
                        sample_weight=wk, verbose=0, threads=1, **fit_kw)
            # Weighted costs are averaged over samples (sum(w*C)/n), like the gradient.
            loss_sum += h["loss"][0] * len(Xk)
            weight_sum += len(Xk)
            correct += h["accuracy"][0] * len(Xk)
            seen += len(Xk)
        losses.append(loss_sum / weight_sum)
        accs.append(correct / seen)

    params = same_on_ranks(ranks, "adam_params")
    assert np.max(np.abs(params - ref.params)) <= TOL
    np.testing.assert_allclose(same_on_ranks(ranks, "adam_loss"), losses, rtol=0, atol=TOL)
    np.testing.assert_allclose(same_on_ranks(ranks, "adam_accuracy"), accs, rtol=0, atol=TOL)


@needs_mpi
def test_single_rank_communicator_repeats_plain_fit(ranks):
    for r, (_, info) in enumerate(ranks):
        assert "comm_self_error" not in info, info.get("comm_self_error")
        assert info["comm_self_max_diff"] <= 1e-12, f"rank {r}"


# ---------------------------------------------------------------------------
# local SGD
# ---------------------------------------------------------------------------
@needs_mpi
@pytest.mark.parametrize("k", C.LOCAL_K)
def test_local_sgd_averages_every_k_steps_and_at_epoch_end(ranks, k):
    no_errors(ranks, "local")
    cfg = C.LOCAL
    shards = C.shards(cfg["n"], cfg["seed"])
    bs = cfg["bs"]
    n_steps = cfg["n"][0] // bs
    # Sync points: every k steps and at the end of each epoch.
    segments = [(s, min(s + k, n_steps)) for s in range(0, n_steps, k)]
    current = nnc.Network(**cfg["net"]).params.copy()
    expected = []
    for _ in range(cfg["epochs"]):
        for s0, s1 in segments:
            local = []
            for X, y in shards:
                net = net_with(current, **cfg["net"])
                net.fit(X[s0 * bs:s1 * bs], y[s0 * bs:s1 * bs], epochs=1, batch_size=bs,
                        shuffle=False, verbose=0, threads=1, **cfg["fit"]())
                local.append(net.params.copy())
            current = np.mean(local, axis=0)
            expected.append(current)

    synced = same_on_ranks(ranks, f"local{k}_synced")  # identical after every sync
    assert synced.shape[0] == len(expected) == cfg["epochs"] * len(segments)
    assert np.max(np.abs(synced - np.array(expected))) <= TOL
    final = same_on_ranks(ranks, f"local{k}_params")
    np.testing.assert_array_equal(final, synced[-1])


@needs_mpi
def test_local_sgd_with_adam_keeps_ranks_identical(ranks):
    no_errors(ranks, "local")
    synced = same_on_ranks(ranks, "local_adam_synced")
    assert synced.shape[0] == 2 * 2  # 6 steps per epoch, k=4: after steps 4 and 6
    assert np.isfinite(synced).all()
    np.testing.assert_array_equal(same_on_ranks(ranks, "local_adam_params"), synced[-1])


# ---------------------------------------------------------------------------
# shuffling, helpers, errors
# ---------------------------------------------------------------------------
@needs_mpi
def test_each_rank_shuffles_its_own_reproducible_order(ranks):
    no_errors(ranks, "shuffle")
    # Same data on both ranks: different first gradients mean different orders.
    g0, g1 = (a["shuffle_grad_step0"] for a, _ in ranks)
    assert not np.array_equal(g0, g1)
    run1 = same_on_ranks(ranks, "shuffle_params_run1")
    run2 = same_on_ranks(ranks, "shuffle_params_run2")
    np.testing.assert_array_equal(run1, run2)  # reproducible from rank 0's seed


@needs_mpi
def test_evaluate_and_predict_reduce_over_ranks(ranks):
    no_errors(ranks, "sgd")
    val = C.shards(C.SGD_VAL["n"], C.SGD_VAL["seed"])
    Xv = np.concatenate([v[0] for v in val])
    yv = np.concatenate([v[1] for v in val])
    net = net_with(ranks[0][0]["sgd_params"], **C.SGD["net"])
    expected = net.evaluate(Xv, yv)
    for r, (arrays, info) in enumerate(ranks):
        got = info["sgd_evaluate"]
        assert got["n_samples"] == len(Xv)
        assert got["loss"] == pytest.approx(expected["loss"], rel=1e-12)
        assert got["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-12)
        np.testing.assert_array_equal(arrays["sgd_predict_all"], net.predict(Xv))
        # root=0 with an empty shard on rank 1: rank 0 gets rank 0's labels only.
        assert info["sgd_predict_root_is_none"] == (r != 0)
    np.testing.assert_array_equal(ranks[0][0]["sgd_predict_root"], net.predict(val[0][0]))


@needs_mpi
def test_disagreeing_ranks_raise_valueerror_everywhere(ranks):
    for r, (_, info) in enumerate(ranks):
        assert "disagree on sizes" in info["mismatch_sizes"], f"rank {r}"
        assert "disagree on lr" in info["mismatch_lr"], f"rank {r}"
        assert "disagree on epochs_trained" in info["mismatch_history"], f"rank {r}"


@needs_mpi
@pytest.mark.parametrize("k", [1, 3])
def test_divergence_on_one_rank_stops_every_rank(ranks, k):
    for r, (_, info) in enumerate(ranks):
        assert info[f"diverge{k}"].startswith("DivergenceError"), f"rank {r}: {info}"
        assert info[f"diverge{k}_restored"], f"rank {r}: parameters not restored"
        assert info["after_divergence_allreduce"] == C.N_RANKS


@needs_mpi
@pytest.mark.parametrize("k", [1, 3])
def test_parameter_overflow_at_one_ranks_span_end_stops_every_rank(ranks, k):
    """fit checks the parameters whenever a span returns, and the ranks' spans
    end at different steps: the rank that stops must not strand the others."""
    for r, (_, info) in enumerate(ranks):
        assert info[f"overflow{k}"].startswith("DivergenceError"), f"rank {r}: {info}"
        assert info[f"overflow{k}_restored"], f"rank {r}: parameters not restored"


@needs_mpi
def test_cli_train_distributed_trains_rank_blocks_and_rank0_saves(tmp_path):
    model, reference = tmp_path / "model.npz", tmp_path / "reference.npz"
    n, epochs, seed = 1000, 1, 0   # 1000 images: the same blocks for any split rule
    proc = run_mpi(C.N_RANKS, [SCRIPTS / "cli_reference.py", n, epochs, seed, model,
                               reference])
    assert proc.stdout.count("Test accuracy") == 1, proc.stdout  # rank 0 only
    net = nnc.load(model)
    with np.load(reference) as z:
        np.testing.assert_array_equal(net.params, z["params"])
    (_, _), (X_test, y_test) = nnc.datasets.load_mnist()
    untrained = nnc.Network([784, 30, 10], seed=seed)
    assert net.evaluate(X_test, y_test)["loss"] < untrained.evaluate(X_test, y_test)["loss"]


# ---------------------------------------------------------------------------
# no MPI needed
# ---------------------------------------------------------------------------
class FakeComm:
    """Just enough of a communicator for rank_rng and shard."""

    def __init__(self, rank, size, root_value=None):
        self.rank, self.size, self.root_value = rank, size, root_value

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return self.size

    def bcast(self, value, root=0):
        return value if self.root_value is None else self.root_value

    Allreduce = Bcast = allgather = None


@pytest.mark.parametrize("n,size", [(0, 3), (10, 3), (12, 4), (5, 8), (7, 1)])
def test_shard_bounds_cover_every_row_once(n, size):
    bounds = [D.shard_bounds(n, rank=r, size=size) for r in range(size)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
    lengths = [b - a for a, b in bounds]
    assert max(lengths) - min(lengths) <= 1


def test_shard_returns_views_of_the_rank_block():
    X, y = np.arange(20).reshape(10, 2), np.arange(10)
    Xs, ys = D.shard(X, y, comm=FakeComm(1, 3))
    np.testing.assert_array_equal(ys, [4, 5, 6])
    assert np.shares_memory(Xs, X)
    assert D.shard(y, rank=0, size=3).tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="arrays\\[1\\]"):
        D.shard(X, y[:5], rank=0, size=2)
    with pytest.raises(ValueError, match="rank"):
        D.shard_bounds(10, rank=3, size=3)
    with pytest.raises(ValueError, match="n_samples"):
        D.shard_bounds(-1, rank=0, size=1)


def test_rank_rng_gives_each_rank_its_own_stream_from_rank0():
    def stream(rank, seed):
        rng = np.random.default_rng(seed)
        base = int(np.random.default_rng(0).integers(0, 2**63))  # "rank 0's draw"
        return D.rank_rng(FakeComm(rank, 2, root_value=base), rng).random(4)

    # Depends on the rank and on rank 0's draw only, not on the local seed.
    np.testing.assert_array_equal(stream(1, 5), stream(1, 6))
    assert not np.array_equal(stream(0, 5), stream(1, 5))
    rng = np.random.default_rng(3)
    assert D.rank_rng(FakeComm(0, 1), rng) is rng


def test_fit_rejects_a_comm_that_is_not_a_communicator():
    net = nnc.Network([3, 2])
    X, y = np.zeros((4, 3)), np.zeros(4, dtype=int)
    with pytest.raises(TypeError, match="comm"):
        net.fit(X, y, comm="world", verbose=0)


def test_print0_prints_on_rank0_only(capsys):
    D.print0(FakeComm(1, 2), "hidden")
    D.print0(FakeComm(0, 2), "shown")
    D.print0(None, "single")
    assert capsys.readouterr().out == "shown\nsingle\n"
