"""Data-parallel training cases, run by tests/test_distributed.py under
``mpiexec -n 2 python -m mpi4py tests/mpi_scripts/train_cases.py OUT_DIR``.

Every rank writes what it saw to OUT_DIR/rank<r>.npz (arrays) and
OUT_DIR/rank<r>.json (errors and flags); the test process compares them with
single-process references built from the same data (see _cases.py).
"""
import json
import os
import sys

import numpy as np
from mpi4py import MPI

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _cases as C  # noqa: E402

import nnc  # noqa: E402
import nnc.distributed as D  # noqa: E402
import nnc.training  # noqa: E402

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
out_dir = sys.argv[1]
arrays, info = {}, {}


class Recording(D.DataParallel):
    """DataParallel that also records what each rank did, for the tests."""
    log = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        Recording.log = {"grad_step0": None, "synced": []}

    def _reduce_gradient(self, b):
        if Recording.log["grad_step0"] is None:
            Recording.log["grad_step0"] = self.grads.copy()
        return super()._reduce_gradient(b)

    def _average(self, poison=False):
        ok = super()._average(poison)
        Recording.log["synced"].append(self.net.params.copy())
        return ok


def recording():
    D.DataParallel = Recording
    Recording.log = None


def run(name, fn):
    """Run one case; an exception is recorded (not raised) so later cases run."""
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - reported to the test process
        info[f"{name}_error"] = f"{type(exc).__name__}: {exc}"
    finally:
        D.DataParallel = ORIGINAL


ORIGINAL = D.DataParallel


def case_sgd():
    cfg = C.SGD
    X, y = C.shards(cfg["n"], cfg["seed"])[rank]
    Xv, yv = C.shards(C.SGD_VAL["n"], C.SGD_VAL["seed"])[rank]
    # A different seed on rank 1: rank 0's parameters must win.
    net = nnc.Network(**{**cfg["net"], "seed": cfg["net"]["seed"] + rank})
    h = net.fit(X, y, epochs=cfg["epochs"], batch_size=cfg["bs"], shuffle=False,
                validation_data=(Xv, yv), verbose=0, threads=1, comm=comm, **cfg["fit"]())
    arrays["sgd_params"] = net.params.copy()
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        arrays[f"sgd_{key}"] = np.array(h[key])
    # The distributed helpers, on the trained network.
    info["sgd_evaluate"] = D.evaluate(net, Xv, yv, comm)
    Xp = Xv if rank == 0 else Xv[:0]   # an empty shard on rank 1
    p0 = D.predict(net, Xp, comm, root=0)
    p_all = D.predict(net, Xv, comm, root=None)
    arrays["sgd_predict_all"] = p_all
    if p0 is not None:
        arrays["sgd_predict_root"] = p0
    info["sgd_predict_root_is_none"] = p0 is None


def case_adam():
    cfg = C.ADAM
    X, y = C.shards(cfg["n"], cfg["seed"])[rank]
    sw = C.adam_weights(len(X), rank)
    net = nnc.Network(**cfg["net"])
    h = net.fit(X, y, epochs=cfg["epochs"], batch_size=cfg["bs"], shuffle=False,
                sample_weight=sw, verbose=0, threads=1, comm=comm, **cfg["fit"]())
    arrays["adam_params"] = net.params.copy()
    arrays["adam_loss"] = np.array(h["loss"])
    arrays["adam_accuracy"] = np.array(h["accuracy"])


def case_local():
    cfg = C.LOCAL
    X, y = C.shards(cfg["n"], cfg["seed"])[rank]
    for k in C.LOCAL_K:
        recording()
        net = nnc.Network(**cfg["net"])
        net.fit(X, y, epochs=cfg["epochs"], batch_size=cfg["bs"], shuffle=False, verbose=0,
                threads=1, comm=comm, sync_every=k, **cfg["fit"]())
        arrays[f"local{k}_params"] = net.params.copy()
        arrays[f"local{k}_synced"] = np.array(Recording.log["synced"])
    # Adam with local SGD: the optimizer state is averaged too, ranks stay equal.
    recording()
    net = nnc.Network(**cfg["net"])
    net.fit(X, y, epochs=2, batch_size=cfg["bs"], shuffle=True, verbose=0, threads=1,
            comm=comm, sync_every=4, optimizer="adam", lr=0.01)
    arrays["local_adam_params"] = net.params.copy()
    arrays["local_adam_synced"] = np.array(Recording.log["synced"])


def case_shuffle():
    # The same data on every rank: only the per-rank orders can make the
    # ranks' first gradients differ.
    X, y = C.classification(40, 7)
    finals = []
    for _ in range(2):
        recording()
        net = nnc.Network([C.N_FEATURES, 6, 3], dtype="float64", seed=8)
        net.fit(X, y, epochs=2, batch_size=5, shuffle=True, verbose=0, threads=1,
                comm=comm, optimizer=nnc.optimizers.SGD(lr=0.1, momentum=0.9))
        finals.append(net.params.copy())
        arrays["shuffle_grad_step0"] = Recording.log["grad_step0"]
    arrays["shuffle_params_run1"], arrays["shuffle_params_run2"] = finals


def case_comm_self():
    X, y = C.shards(C.ADAM["n"], 9)[rank]
    worst = 0.0
    for opt, lr in (("sgd", 0.3), ("adam", 0.01), ("momentum", 0.1)):
        a = nnc.Network([C.N_FEATURES, 6, 3], dtype="float64", seed=10)
        b = nnc.Network([C.N_FEATURES, 6, 3], dtype="float64", seed=10)
        a.fit(X, y, epochs=2, batch_size=4, lr=lr, optimizer=opt, verbose=0, threads=1)
        b.fit(X, y, epochs=2, batch_size=4, lr=lr, optimizer=opt, verbose=0, threads=1,
              comm=MPI.COMM_SELF)
        worst = max(worst, float(np.max(np.abs(a.params - b.params))))
    info["comm_self_max_diff"] = worst


def case_mismatch():
    X, y = C.classification(12, 11)
    for what, net_kw, fit_kw in (
            ("sizes", {"sizes": [C.N_FEATURES, 4 + rank, 3]}, {}),
            ("lr", {"sizes": [C.N_FEATURES, 4, 3]}, {"lr": 0.1 * (1 + rank)}),
            ("history", {"sizes": [C.N_FEATURES, 4, 3]}, {})):
        net = nnc.Network(seed=0, **net_kw)
        if what == "history" and rank == 1:
            net.fit(X, y, epochs=1, batch_size=4, verbose=0, threads=1)  # rank 1 only
        try:
            net.fit(X, y, epochs=1, batch_size=4, verbose=0, threads=1, comm=comm, **fit_kw)
            info[f"mismatch_{what}"] = "no error"
        except ValueError as exc:
            info[f"mismatch_{what}"] = str(exc)


def case_divergence():
    # Rank 1's targets overflow the quadratic cost at the first step.
    X, _ = C.classification(16, 12)
    Y = np.full((16, 2), 1e300 if rank == 1 else 0.5)
    for k in (1, 3):
        net = nnc.Network([C.N_FEATURES, 4, 2], activation="identity", dtype="float64",
                          seed=13)
        start = comm.bcast(net.params.copy(), root=0)
        try:
            net.fit(X, Y, epochs=2, batch_size=4, lr=0.1, verbose=0, threads=1, comm=comm,
                    sync_every=k)
            info[f"diverge{k}"] = "no error"
        except nnc.DivergenceError as exc:
            info[f"diverge{k}"] = f"DivergenceError: {exc}"
        info[f"diverge{k}_restored"] = bool(np.array_equal(net.params, start))
    # Parameters that overflow with a finite loss, at the end of a span on
    # rank 0 only: rank 0 returns to fit after every step (tiny spans), rank 1
    # runs the whole epoch in one span.  Zero sample weights keep the first 8
    # steps (fit's first span) from moving anything; step 9's update overflows.
    saved = nnc.training.SPAN_SECONDS
    X, y = C.classification(64, 14)
    X *= 1000.0   # a linear network: weight gradients ~1e6, finite losses ~1e7
    sw = np.r_[np.zeros(32), np.ones(32)]
    try:
        nnc.training.SPAN_SECONDS = 1e-12 if rank == 0 else 1e12
        for k in (1, 3):
            net = nnc.Network([C.N_FEATURES, 4, 3], activation="identity", dtype="float64",
                              seed=15)
            start = comm.bcast(net.params.copy(), root=0)
            try:
                net.fit(X, y, epochs=1, batch_size=4, lr=1e308, sample_weight=sw, shuffle=False,
                        verbose=0, threads=1, comm=comm, sync_every=k)
                info[f"overflow{k}"] = "no error"
            except nnc.DivergenceError as exc:
                info[f"overflow{k}"] = f"DivergenceError: {exc}"
            info[f"overflow{k}_restored"] = bool(np.array_equal(net.params, start))
    finally:
        nnc.training.SPAN_SECONDS = saved
    # The communicator is still usable afterwards: nobody was left behind.
    info["after_divergence_allreduce"] = comm.allreduce(1)


run("sgd", case_sgd)
run("adam", case_adam)
run("local", case_local)
run("shuffle", case_shuffle)
run("comm_self", case_comm_self)
run("mismatch", case_mismatch)
run("divergence", case_divergence)

info["size"] = size
np.savez(os.path.join(out_dir, f"rank{rank}.npz"), **arrays)
with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as fh:
    json.dump(info, fh, indent=1)
