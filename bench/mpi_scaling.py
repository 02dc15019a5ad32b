"""Data-parallel training over MPI: overhead, scaling and local SGD.

Run from the repository root::

    python bench/mpi_scaling.py                 # everything, 1 and 2 ranks
    python bench/mpi_scaling.py --ranks 1 2 4 8 16 --repeats 3
    python bench/mpi_scaling.py --quick         # a smoke run (small subset)

The driver launches ``mpiexec -n R python -m mpi4py bench/mpi_scaling.py
--worker ...`` for each measurement, collects what rank 0 reports and writes
bench/results/distributed.json and bench/results/distributed.md.

Measurements
------------
* overhead: seconds per step of (a) the ordinary fused ``fit`` (no
  communicator), (b) the distributed step split into engine (forward +
  backprop), reduction (scale + one Allreduce) and update, on 1 and 2 ranks;
  and a bare Allreduce of the gradient buffer.
* scaling: 784-256-10 and 784-512-512-10 (ReLU, softmax, Adam) with a global
  batch of 256 (256/R per rank), MNIST's first 50,000 images split in
  contiguous blocks, one thread per rank: seconds per epoch, speedup,
  efficiency, and the test accuracy after a fixed number of epochs against
  single-process training.
* sync_every: the tutorial network (784-30-10, sigmoid, quadratic, SGD
  lr=3.0, 10 samples per rank per step) on 2 ranks with sync_every in
  1, 4, 16, 64: seconds per epoch and test accuracy.

Times are medians over ``--repeats`` runs; on a shared machine they are noisy.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)
# Run as a script, this file's directory comes first on sys.path, and its name
# would shadow the dask.distributed package: look for packages elsewhere.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != BENCH_DIR]
RESULTS = os.path.join(BENCH_DIR, "results")

SCALING = {
    "784-256-10": [784, 256, 10],
    "784-512-512-10": [784, 512, 512, 10],
}
GLOBAL_BATCH = 256
TUTORIAL = [784, 30, 10]
SYNC_EVERY = (1, 4, 16, 64)


# ---------------------------------------------------------------------------
# worker side (under mpiexec)
# ---------------------------------------------------------------------------
def _worker(args):
    import numpy as np
    from mpi4py import MPI

    import nnc
    import nnc.distributed as D

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    (X, y), (X_test, y_test) = nnc.datasets.load_mnist()
    n_train = args.n_train
    X, y = X[:n_train], y[:n_train]
    Xs, ys = D.shard(X, y, comm=comm)
    result = {"ranks": size}

    if args.worker == "scaling":
        sizes = SCALING[args.config]
        per_rank = GLOBAL_BATCH // size
        # 1 rank: the ordinary fit.  --independent: every rank trains alone on
        # its shard, no communication at all -- the machine's compute ceiling.
        use_comm = comm if size > 1 and not args.independent else None
        net = nnc.Network(sizes, activation="relu", output_activation="softmax",
                          loss="sparse_categorical_crossentropy", init="he", seed=args.seed)
        comm.Barrier()
        t0 = time.perf_counter()
        h = net.fit(Xs, ys, epochs=args.epochs, batch_size=per_rank, optimizer="adam",
                    lr=1e-3, threads=1, verbose=0, comm=use_comm)
        total = time.perf_counter() - t0
        acc = net.evaluate(X_test, y_test, threads=1)["accuracy"]
        # an epoch lasts as long as its slowest rank
        slowest = [comm.allreduce(t, op=MPI.MAX) for t in h["seconds"]]
        result.update(seconds_per_epoch=slowest, total_seconds=total, test_accuracy=acc,
                      train_loss=h["loss"], per_rank_batch=per_rank)

    elif args.worker == "sync":
        net = nnc.Network(TUTORIAL, seed=args.seed)
        comm.Barrier()
        h = net.fit(Xs, ys, epochs=args.epochs, batch_size=10, lr=3.0, threads=1, verbose=0,
                    comm=comm, sync_every=args.sync_every)
        acc = net.evaluate(X_test, y_test, threads=1)["accuracy"]
        result.update(seconds_per_epoch=h["seconds"], test_accuracy=acc)

    elif args.worker == "overhead":
        result.update(_overhead(args, comm, Xs, ys))

    elif args.worker == "allreduce":
        # A bare Allreduce of each configuration's gradient buffer (float32).
        result["allreduce"] = {}
        for name, sizes in [("784-30-10", TUTORIAL)] + list(SCALING.items()):
            n = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
            g = np.ones(n, np.float32)
            times = []
            for _ in range(5):
                comm.Barrier()
                t0 = time.perf_counter()
                for _ in range(100):
                    comm.Allreduce(MPI.IN_PLACE, g, op=MPI.SUM)
                times.append((time.perf_counter() - t0) / 100)
            result["allreduce"][name] = {"floats": n, "seconds": statistics.median(times),
                                         "best": min(times)}

    if rank == 0:
        with open(args.out, "w") as fh:
            json.dump(result, fh)


def _overhead(args, comm, Xs, ys):
    """Per-step costs of the distributed step, split by stage."""
    import numpy as np
    from mpi4py import MPI

    import nnc
    import nnc.distributed as D

    sizes = SCALING[args.config] if args.config in SCALING else TUTORIAL
    bs = args.batch
    steps = min(args.steps, len(Xs) // bs)
    Xs, ys = Xs[:steps * bs], ys[:steps * bs]
    kind = dict(activation="relu", output_activation="softmax",
                loss="sparse_categorical_crossentropy", init="he") \
        if args.config in SCALING else {}
    timers = {"engine": 0.0, "reduce": 0.0, "apply": 0.0, "steps": 0}

    class Timed(D.DataParallel):
        # The same step as DataParallel.train (sync_every=1), with clocks.
        def train(self, b0, b1):
            clock = time.perf_counter
            for b in range(b0, b1):
                t0 = clock()
                self.engine.train(b, b + 1, apply_update=False)
                t1 = clock()
                ok = self._reduce_gradient(b)
                t2 = clock()
                self.engine.apply()
                t3 = clock()
                timers["engine"] += t1 - t0
                timers["reduce"] += t2 - t1
                timers["apply"] += t3 - t2
                timers["steps"] += 1
                if not ok:
                    return

    out = {"config": "-".join(map(str, sizes)), "batch_per_rank": bs, "steps": steps}
    reps = []
    opt = dict(optimizer="sgd", lr=0.01)
    net = nnc.Network(sizes, seed=0, **kind)
    # warm-up: first-touch of the data, BLAS and MPI buffers
    net.fit(Xs, ys, epochs=1, batch_size=bs, threads=1, verbose=0, shuffle=False, **opt)
    net.fit(Xs, ys, epochs=1, batch_size=bs, threads=1, verbose=0, shuffle=False, comm=comm,
            **opt)
    for _ in range(args.repeats):
        net = nnc.Network(sizes, seed=0, **kind)
        # (a) the ordinary fused fit, no communicator (every rank alone); the
        # epoch's own clock, without fit's set-up
        h = net.fit(Xs, ys, epochs=1, batch_size=bs, threads=1, verbose=0, shuffle=False,
                    **opt)
        plain = h["seconds"][0] / steps
        # (b) the distributed step with timers
        for key in timers:
            timers[key] = 0
        original, D.DataParallel = D.DataParallel, Timed
        try:
            comm.Barrier()
            h = net.fit(Xs, ys, epochs=1, batch_size=bs, threads=1, verbose=0, shuffle=False,
                        comm=comm, **opt)
            dist = h["seconds"][0] / steps
        finally:
            D.DataParallel = original
        n = max(timers["steps"], 1)
        # (c) a bare Allreduce of a buffer the size of the gradient
        g = np.ones_like(net.params)
        comm.Barrier()
        t0 = time.perf_counter()
        for _ in range(steps):
            comm.Allreduce(MPI.IN_PLACE, g, op=MPI.SUM)
        bare = (time.perf_counter() - t0) / steps
        reps.append({"fit_fused": plain, "fit_distributed": dist,
                     "engine": timers["engine"] / n, "reduce": timers["reduce"] / n,
                     "apply": timers["apply"] / n, "bare_allreduce": bare})
    # Medians of the repeats, per quantity; the max over ranks would show
    # the waiting of a faster rank, rank 0's view is reported.
    out.update({k: statistics.median(r[k] for r in reps) for k in reps[0]})
    out["n_params"] = int(net.params.size)
    return out


# ---------------------------------------------------------------------------
# driver side
# ---------------------------------------------------------------------------
def _mpiexec():
    local = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return local if os.path.exists(local) else "mpiexec"


def launch(ranks, worker_args, timeout=1800):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO_DIR, env.get("PYTHONPATH")) if p)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        cmd = [_mpiexec(), "-n", str(ranks), sys.executable, "-m", "mpi4py",
               os.path.abspath(__file__), "--out", out, *map(str, worker_args)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
        with open(out) as fh:
            return json.load(fh)


def _load():
    try:
        return os.getloadavg()[0]
    except OSError:  # pragma: no cover
        return float("nan")


def run_all(args):
    results = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                           "python": sys.version.split()[0],
                           "load_average_at_start": _load()},
               "settings": {"n_train": args.n_train, "epochs": args.epochs,
                            "repeats": args.repeats, "ranks": args.ranks,
                            "global_batch": GLOBAL_BATCH},
               "overhead": [], "scaling": {}, "sync_every": []}
    say = print if not args.quiet else (lambda *a, **k: None)
    want = lambda section: args.only is None or section in args.only  # noqa: E731

    # -- overhead of the per-step reduction
    for config, batch in (("tutorial", 10), ("784-256-10", 128)):
        for r in sorted({1, 2} & set(args.ranks)) if want("overhead") else ():
            res = launch(r, ["--worker", "overhead", "--config", config, "--batch", batch,
                             "--steps", args.overhead_steps, "--repeats", args.repeats,
                             "--n-train", args.n_train])
            results["overhead"].append(res)
            say(f"overhead {res['config']} R={r} b={batch}: fused {res['fit_fused']*1e6:.0f} us"
                f"/step, distributed {res['fit_distributed']*1e6:.0f} us (engine "
                f"{res['engine']*1e6:.0f}, reduce {res['reduce']*1e6:.0f}, apply "
                f"{res['apply']*1e6:.0f}), bare allreduce {res['bare_allreduce']*1e6:.1f} us")

    if want("overhead") and max(args.ranks) >= 2:
        results["allreduce"] = launch(2, ["--worker", "allreduce",
                                          "--n-train", min(args.n_train, 1000)])["allreduce"]
        for name, row in results["allreduce"].items():
            say(f"allreduce {name} ({row['floats']:,} floats) on 2 ranks: "
                f"{row['seconds']*1e6:.0f} us (best {row['best']*1e6:.0f})")

    # -- scaling with a fixed global batch
    for config in SCALING if want("scaling") else ():
        rows = results["scaling"].setdefault(config, {})
        for r in args.ranks:
            runs = []
            for rep in range(args.repeats):
                runs.append(launch(r, ["--worker", "scaling", "--config", config,
                                       "--epochs", args.epochs, "--seed", rep,
                                       "--n-train", args.n_train]))
            # every epoch of every repeat is one sample of the epoch time
            epoch_times = [t for run in runs for t in run["seconds_per_epoch"]]
            rows[str(r)] = {"seconds_per_epoch": statistics.median(epoch_times),
                            "epoch_times": epoch_times,
                            "test_accuracy": statistics.median(x["test_accuracy"] for x in runs),
                            "test_accuracies": [x["test_accuracy"] for x in runs]}
            if r > 1:
                alone = [launch(r, ["--worker", "scaling", "--config", config, "--epochs",
                                    args.epochs, "--seed", rep, "--n-train", args.n_train,
                                    "--independent"]) for rep in range(args.repeats)]
                rows[str(r)]["independent_seconds_per_epoch"] = statistics.median(
                    t for run in alone for t in run["seconds_per_epoch"])
            say(f"scaling {config} R={r}: {rows[str(r)]['seconds_per_epoch']:.2f} s/epoch, "
                f"test accuracy {rows[str(r)]['test_accuracy']:.4f}"
                + (f"; ranks training alone: "
                   f"{rows[str(r)]['independent_seconds_per_epoch']:.2f} s/epoch"
                   if r > 1 else ""))
        base = rows[str(args.ranks[0])]["seconds_per_epoch"] * args.ranks[0]
        base_acc = rows[str(args.ranks[0])]["test_accuracy"]
        for r in args.ranks:
            row = rows[str(r)]
            row["speedup"] = base / row["seconds_per_epoch"]
            row["efficiency"] = row["speedup"] / r
            row["accuracy_delta_points"] = 100 * (row["test_accuracy"] - base_acc)
            if "independent_seconds_per_epoch" in row:
                row["ceiling_speedup"] = base / row["independent_seconds_per_epoch"]

    # -- local SGD trade-off on the tutorial network
    if 2 in args.ranks and want("sync"):
        for k in SYNC_EVERY:
            runs = [launch(2, ["--worker", "sync", "--sync-every", k, "--epochs", 1,
                               "--seed", rep, "--n-train", args.n_train])
                    for rep in range(args.repeats)]
            row = {"sync_every": k,
                   "seconds_per_epoch": statistics.median(
                       t for run in runs for t in run["seconds_per_epoch"]),
                   "test_accuracy": statistics.median(x["test_accuracy"] for x in runs),
                   "test_accuracies": [x["test_accuracy"] for x in runs]}
            results["sync_every"].append(row)
            say(f"sync_every={k}: {row['seconds_per_epoch']:.2f} s/epoch, "
                f"accuracy {row['test_accuracy']:.4f}")
        one = results["sync_every"][0]["seconds_per_epoch"]
        single = [launch(1, ["--worker", "sync", "--sync-every", 1, "--epochs", 1,
                             "--seed", rep, "--n-train", args.n_train])
                  for rep in range(args.repeats)]
        results["sync_single_process"] = {
            "seconds_per_epoch": statistics.median(
                t for run in single for t in run["seconds_per_epoch"]),
            "test_accuracy": statistics.median(x["test_accuracy"] for x in single)}
        for row in results["sync_every"]:
            row["speedup_vs_sync1"] = one / row["seconds_per_epoch"]
    # -- the Dask sweep example: sequential vs Dask LocalCluster vs threads
    if args.sweep and want("sweep"):
        results["sweep"] = sweep(args.repeats, args.sweep_train_size)
        say("sweep: " + ", ".join(f"{k} {v:.2f} s" for k, v in
                                  results["sweep"]["seconds"].items()))
    results["machine"]["load_average_at_end"] = _load()
    return results


def sweep(repeats, train_size):
    """Wall times of examples/sweep_dask.py (2 Dask worker processes, 2 threads)."""
    import contextlib
    import importlib.util
    import io
    path = os.path.join(REPO_DIR, "examples", "sweep_dask.py")
    spec = importlib.util.spec_from_file_location("sweep_dask", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    runs = []
    for _ in range(repeats):
        with contextlib.redirect_stdout(io.StringIO()):
            runs.append(module.main(["--train-size", str(train_size), "--workers", "2"]))
    return {"train_size": train_size, "fits": 27, "epochs": 5, "runs": runs,
            "seconds": {k: statistics.median(r[k] for r in runs) for k in runs[0]}}


def to_markdown(res):
    s = res["settings"]
    m = res["machine"]
    lines = ["# Data-parallel training over MPI", "",
             f"Machine: {m['platform']}, {m['cpus']} CPUs, Python {m['python']}; load average "
             f"{m['load_average_at_start']:.1f} at the start, {m['load_average_at_end']:.1f} "
             "at the end (the machine is shared: times are noisy; medians of "
             f"{s['repeats']} repeats).", "",
             ]
    if res["overhead"]:
        lines += ["## Per-step overhead of the reduction", "",
                  "Microseconds per step, one thread per rank, plain SGD.  *fused*: ordinary "
                  "`fit` without a communicator (gradient accumulated straight into the "
                  "parameters); *distributed*: `fit(comm=...)`, whose step is engine "
                  "(forward + backprop into the gradient buffer), reduce (scale by the batch "
                  "share + one Allreduce, including any wait for the other rank) and apply "
                  "(the optimizer pass).", "",
                  "| network | batch/rank | ranks | fused | distributed | engine | reduce | "
                  "apply | bare Allreduce | overhead |", "|---|---|---|---|---|---|---|---|---|---|"]
        for o in res["overhead"]:
            over = o["fit_distributed"] / o["fit_fused"] - 1
            lines.append(f"| {o['config']} | {o['batch_per_rank']} | {o['ranks']} | "
                         f"{o['fit_fused']*1e6:.0f} | {o['fit_distributed']*1e6:.0f} | "
                         f"{o['engine']*1e6:.0f} | {o['reduce']*1e6:.0f} | "
                         f"{o['apply']*1e6:.0f} | {o['bare_allreduce']*1e6:.1f} | "
                         f"{100*over:+.0f}% |")
        lines.append("")
    if res.get("allreduce"):
        lines += ["Bare Allreduce of a float32 gradient buffer on 2 ranks (median of 5 x 100 "
                  "calls; best in brackets):", "",
                  "| network | floats | µs |", "|---|---|---|"]
        for name, row in res["allreduce"].items():
            lines.append(f"| {name} | {row['floats']:,} | {row['seconds']*1e6:.0f} "
                         f"({row['best']*1e6:.0f}) |")
        lines.append("")
    if res["scaling"]:
        lines += [f"## Scaling: global batch {s['global_batch']}, Adam, MNIST "
                  f"{s['n_train']:,} images, {s['epochs']} epoch(s), 1 thread per rank", "",
                  "*ceiling*: the speedup when every rank trains alone on its shard "
                  "(same per-rank batch, no communication), i.e. what the machine's cores "
                  "allow at all.", "",
                  "| network | ranks | s/epoch | speedup | efficiency | ceiling | "
                  "test accuracy | vs 1 rank (points) |", "|---|---|---|---|---|---|---|---|"]
        for config, rows in res["scaling"].items():
            for r, row in rows.items():
                ceiling = f"{row['ceiling_speedup']:.2f}x" if "ceiling_speedup" in row else ""
                lines.append(f"| {config} | {r} | {row['seconds_per_epoch']:.2f} | "
                             f"{row['speedup']:.2f}x | {100*row['efficiency']:.0f}% | "
                             f"{ceiling} | {row['test_accuracy']:.4f} | "
                             f"{row['accuracy_delta_points']:+.2f} |")
        lines.append("")
    if res.get("sweep"):
        sw = res["sweep"]
        t = sw["seconds"]
        lines += ["## Dask sweep (examples/sweep_dask.py)", "",
                  f"GridSearchCV, {sw['fits']} fits (3 x 3 grid, 3-fold CV) of MLPClassifier "
                  f"(threads=1, {sw['epochs']} epochs) on {sw['train_size']:,} MNIST images; "
                  "median wall seconds of the search (workers started and warmed first).", "",
                  "| sequential | Dask LocalCluster, 2 worker processes | threads backend, "
                  "n_jobs=2 |", "|---|---|---|",
                  f"| {t['sequential']:.2f} s | {t['dask']:.2f} s "
                  f"({t['sequential'] / t['dask']:.2f}x) | {t['threads']:.2f} s "
                  f"({t['sequential'] / t['threads']:.2f}x) |", ""]
    if res["sync_every"]:
        single = res["sync_single_process"]
        lines += ["## Local SGD: sync_every on the tutorial network", "",
                  "784-30-10 sigmoid, quadratic cost, SGD lr=3.0, 10 samples per rank per "
                  f"step, 2 ranks, one epoch.  Single process (batch 10): "
                  f"{single['seconds_per_epoch']:.2f} s/epoch, test accuracy "
                  f"{single['test_accuracy']:.4f}.", "",
                  "| sync_every | s/epoch | speedup vs 1 | test accuracy |", "|---|---|---|---|"]
        for row in res["sync_every"]:
            lines.append(f"| {row['sync_every']} | {row['seconds_per_epoch']:.2f} | "
                         f"{row['speedup_vs_sync1']:.2f}x | {row['test_accuracy']:.4f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--worker", choices=["scaling", "sync", "overhead", "allreduce"])
    p.add_argument("--out")
    p.add_argument("--config", default="784-256-10")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sync-every", type=int, default=1)
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--n-train", type=int, default=50_000)
    p.add_argument("--independent", action="store_true",
                   help="worker: train each rank alone (no communicator)")
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--overhead-steps", type=int, default=2000)
    p.add_argument("--no-sweep", dest="sweep", action="store_false",
                   help="skip the Dask sweep example")
    p.add_argument("--sweep-train-size", type=int, default=10000)
    p.add_argument("--only", choices=["overhead", "scaling", "sync", "sweep"], nargs="+",
                   help="run only these sections (default: all)")
    p.add_argument("--quick", action="store_true", help="a smoke run on 5,000 images")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--results", default=RESULTS)
    args = p.parse_args(argv)
    if args.worker:
        return _worker(args)
    if args.quick:
        args.n_train, args.epochs, args.repeats, args.overhead_steps = 5000, 1, 1, 200
        args.sweep_train_size = 2000
    res = run_all(args)
    os.makedirs(args.results, exist_ok=True)
    with open(os.path.join(args.results, "distributed.json"), "w") as fh:
        json.dump(res, fh, indent=1)
    with open(os.path.join(args.results, "distributed.md"), "w") as fh:
        fh.write(to_markdown(res))
    print(to_markdown(res))


if __name__ == "__main__":
    main()
