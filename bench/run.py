"""nnc's benchmark: one epoch of MNIST training, nnc against its peers.

Usage::

    python bench/run.py            # full run (about 7 minutes on an idle 2-core machine)
    python bench/run.py --quick    # under 3 minutes: fewer repeats, subsets for the slowest
    python bench/run.py --configs wide,deep --peers nnc,jax,torch --threads 1 --repeats 5

For every configuration and dtype, each implementation trains a freshly
initialised network for one epoch over MNIST's first 50,000 training images;
the implementations take turns (round-robin) within one process, so a noisy
neighbour slows all of them alike, and the median of the repeats is reported.
The test accuracy after the timed epoch is printed next to every time, so that
no one is timed doing the wrong thing.  Then: inference (predict on the 10,000
test images with nnc's trained weights in every framework), nnc's thread
scaling, and the peak memory of one nnc fit.  Results go to
``bench/results/latest.json`` and ``bench/results/latest.md``.

With ``--threads 1`` (the default) the process is pinned to one CPU: that is
the only setting that holds every library to one core (XLA ignores its
thread flags for part of its work).  ``--no-pin`` turns pinning off; the
``cpu/wall`` column then shows who used more than the cores they were given.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _cpu  # noqa: E402  (stdlib only: pinning must precede numpy's import)

#: samples the per-sample NumPy loop trains on per timed epoch (its time is
#: extrapolated to 50,000 samples and its row marked); None = all 50,000
#: --quick runs every peer in float32 but only these in float64
QUICK_FLOAT64_PEERS = ("nnc", "jax")
#: implementations left out of --quick unless named in --peers (diagnostics)
QUICK_SKIP = ("nnc-dense",)

LOOP_SAMPLES = {"full": {"tutorial": None, "wide": 10_000, "deep": 4_000},
                "quick": {"tutorial": 5_000, "wide": 2_000, "deep": 1_000}}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="finish in under 3 minutes: 1 repeat of peers, float64 only for "
                        "nnc and JAX, subsets for the per-sample loop, no nnc-dense, "
                        "inference in float32 only, scaling and memory in float32")
    p.add_argument("--threads", type=int, default=1,
                   help="threads for every implementation (default 1)")
    p.add_argument("--configs", default="tutorial,wide,deep",
                   help="comma-separated subset of tutorial,wide,deep")
    p.add_argument("--peers", default=None,
                   help="comma-separated implementations (default: all): "
                        "nnc,nnc-dense,jax,numpy-vec,sklearn,torch,numpy-loop")
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed epochs per implementation (default 5, --quick 1; nnc gets "
                        "at least 3, --quick 2)")
    p.add_argument("--sections", default="train,inference,scaling,memory,sparse",
                   help="comma-separated subset of train,inference,scaling,memory,sparse "
                        "(sparse: the bag-of-words workload of bench/sparse_text.py)")
    p.add_argument("--scaling-threads", default=None,
                   help="thread counts for the scaling section (default 1,2,4,... up to "
                        "the usable CPUs)")
    p.add_argument("--loop-samples", type=int, default=None,
                   help="samples per epoch for the per-sample NumPy loop (default: "
                        "by configuration, see LOOP_SAMPLES)")
    p.add_argument("--no-pin", action="store_true",
                   help="do not pin the process to --threads CPUs")
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                 "results"),
                   help="directory for latest.json and latest.md")
    p.add_argument("--strict", action="store_true",
                   help="exit with status 1 when an implementation fails its accuracy check")
    args = p.parse_args(argv)
    if args.threads < 1:
        p.error("--threads must be >= 1")
    if args.repeats is not None and args.repeats < 1:
        p.error("--repeats must be >= 1")
    args.configs = _split(args.configs)
    args.dtypes = _split(args.dtypes)
    args.sections = _split(args.sections)
    for what, values, allowed in (
            ("--configs", args.configs, ("tutorial", "wide", "deep")),
            ("--dtypes", args.dtypes, ("float32", "float64")),
            ("--sections", args.sections, ("train", "inference", "scaling", "memory",
                                           "sparse"))):
        bad = [v for v in values if v not in allowed]
        if bad or not values:
            p.error(f"{what}: unknown {bad or 'empty list'}; choose from {','.join(allowed)}")
    return args


def _split(text):
    return [part.strip() for part in text.split(",") if part.strip()]


# ---------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------
def time_training(cfg, dtype, runners, repeats, nnc_repeats, log, errors):
    """Round-robin timed epochs; returns {name: measurement dict}.

    An implementation that raises is dropped (the error is appended to
    ``errors``) so that one broken peer does not stop the benchmark.
    """
    import gc

    import numpy as np
    times = {name: [] for name in runners}
    cpu = {name: [] for name in runners}
    inner = {name: [] for name in runners}
    failed = set()
    rounds = max(repeats, nnc_repeats)
    names = list(runners)
    for r in range(rounds):
        # rotate the order so that no implementation always runs right after another
        for name in names[r % len(names):] + names[:r % len(names)]:
            if name in failed or len(times[name]) >= (nnc_repeats if name == "nnc" else repeats):
                continue
            runner = runners[name]
            try:
                runner.new()
                gc.collect()
                c0, t0 = time.process_time(), time.perf_counter()
                runner.epoch()
                wall = time.perf_counter() - t0
            except Exception as exc:  # noqa: BLE001 - report it and go on with the others
                failed.add(name)
                errors.append(f"{name} {cfg.name}/{dtype} failed: {type(exc).__name__}: {exc}")
                log(f"    {name:<11s} FAILED: {type(exc).__name__}: {exc}")
                continue
            times[name].append(wall)
            cpu[name].append(time.process_time() - c0)
            if runner.inner_seconds() is not None:
                inner[name].append(runner.inner_seconds())
    out = {}
    for name, runner in runners.items():
        if name in failed:
            continue
        acc = runner.accuracy()
        median = float(np.median(times[name]))
        out[name] = {"times": times[name], "median": median, "accuracy": acc,
                     "cpu_times": cpu[name], "cpu_median": float(np.median(cpu[name])),
                     "cpu_per_wall": float(np.median(np.array(cpu[name]) / np.array(times[name]))),
                     "inner_median": float(np.median(inner[name])) if inner[name] else None,
                     "n_samples": runner.n_samples, "note": runner.note,
                     "setup_seconds": runner.setup_seconds}
        sub = "" if runner.n_samples >= 50_000 else f" ({runner.n_samples} samples)"
        log(f"    {name:<11s} {median:8.3f} s{sub}  accuracy {acc:.4f}")
    return out


def paired_ratio(times, scale, nnc_times):
    """Median over the rounds of (this time * scale) / nnc's time in the same round."""
    import numpy as np
    k = min(len(times), len(nnc_times))
    return float(np.median([times[i] * scale / nnc_times[i] for i in range(k)]))


def describe_rows(cfg, dtype, measured, peak, shape_rate, n_train):
    """Derived columns: per-50k-epoch time, rates, fractions, ratios to nnc."""
    flops_epoch = cfg.flops_per_sample() * n_train
    floor = flops_epoch / (peak * 1e9)
    nnc_time = nnc_cpu = None
    rows = []
    for name, m in measured.items():
        epoch_s = m["median"] * n_train / m["n_samples"]
        cpu_s = m["cpu_median"] * n_train / m["n_samples"]
        gflops = flops_epoch / epoch_s / 1e9
        row = dict(m, impl=name, config=cfg.name, dtype=dtype, epoch_seconds=epoch_s,
                   epoch_cpu_seconds=cpu_s,
                   extrapolated=m["n_samples"] < n_train,
                   samples_per_s=n_train / epoch_s, gflops=gflops,
                   frac_gemm_peak=gflops / peak, frac_gemm_at_shapes=gflops / shape_rate,
                   x_floor=epoch_s / floor,
                   accuracy_ok=(m["accuracy"] >= cfg.min_accuracy
                                if m["n_samples"] >= n_train else None))
        if name == "nnc":
            nnc_time, nnc_cpu = epoch_s, cpu_s
        rows.append(row)
    nnc_times = measured["nnc"]["times"] if "nnc" in measured else None
    for row in rows:
        row["ratio_to_nnc"] = row["epoch_seconds"] / nnc_time if nnc_time else None
        row["cpu_ratio_to_nnc"] = row["epoch_cpu_seconds"] / nnc_cpu if nnc_cpu else None
        row["paired_ratio_to_nnc"] = (paired_ratio(row["times"], n_train / row["n_samples"],
                                                   nnc_times) if nnc_times else None)
    return rows, {"flops_per_epoch": flops_epoch, "floor_seconds": floor,
                  "gemm_peak_gflops": peak, "gemm_at_shapes_gflops": shape_rate}


# ---------------------------------------------------------------------------
# inference
# ---------------------------------------------------------------------------
def time_inference(cfg, dtype, net, X_test, threads, peer_names, repeats):
    """nnc.predict against the peers' forward passes on the same weights."""
    import numpy as np

    from peers import make_predictors
    X = np.ascontiguousarray(X_test, dtype=dtype)
    predictors, skipped = make_predictors(cfg, dtype, net.weights, net.biases, threads,
                                          peer_names)
    fns = {"nnc": lambda X: net.predict(X, threads=threads)}
    fns.update(predictors)
    reference = fns["nnc"](X)
    labels = {name: fn(X) for name, fn in fns.items()}  # warm-up (and JAX's compile)
    times = {name: [] for name in fns}
    names = list(fns)
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            t0 = time.perf_counter()
            fns[name](X)
            times[name].append(time.perf_counter() - t0)
    flops = cfg.inference_flops_per_sample() * X.shape[0]
    rows = []
    nnc_median = float(np.median(times["nnc"]))
    for name in names:
        median = float(np.median(times[name]))
        rows.append({"impl": name, "config": cfg.name, "dtype": dtype, "times": times[name],
                     "median": median, "samples_per_s": X.shape[0] / median,
                     "gflops": flops / median / 1e9, "ratio_to_nnc": median / nnc_median,
                     "agreement_with_nnc": float(np.mean(labels[name] == reference))})
    return rows, skipped


# ---------------------------------------------------------------------------
# isolated sections
# ---------------------------------------------------------------------------
def run_isolated(task, spec, log):
    import json
    import subprocess
    here = os.path.dirname(os.path.abspath(__file__))
    proc = subprocess.run([sys.executable, os.path.join(here, "isolated.py"), task,
                           json.dumps(spec)], capture_output=True, text=True)
    for line in proc.stderr.splitlines():
        if line.startswith("  "):
            log("  " + line)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        return None, f"{task} section failed (exit {proc.returncode}): " + " | ".join(tail)
    return json.loads(proc.stdout.strip().splitlines()[-1]), None


def default_scaling_threads(cpus):
    counts, t = [], 1
    while t < cpus:
        counts.append(t)
        t *= 2
    return counts + [cpus]


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------
def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()
    usable = _cpu.usable_cpus()
    pinned = None
    if not args.no_pin:
        pinned = _cpu.pin_cpus(args.threads)
    _cpu.set_thread_env(args.threads)

    def log(msg=""):
        print(msg, flush=True)

    import common
    import peers
    import report

    mode = "quick" if args.quick else "full"
    repeats = args.repeats or (1 if args.quick else 5)
    nnc_repeats = max(repeats, 2 if args.quick else 3)
    peer_names = args.peers and _split(args.peers) or [
        p for p in peers.REGISTRY if not (args.quick and p in QUICK_SKIP)]
    unknown = [n for n in peer_names if n not in peers.REGISTRY]
    if unknown:
        log(f"unknown peers {unknown}; choose from {','.join(peers.REGISTRY)}")
        return 2
    loop_samples = dict(LOOP_SAMPLES[mode])
    if args.loop_samples:
        loop_samples = {k: args.loop_samples for k in loop_samples}

    try:
        data_arrays = common.load_data()
    except Exception as exc:  # noqa: BLE001 - nnc itself is the subject: report and stop
        log(f"cannot load MNIST through nnc.datasets: {type(exc).__name__}: {exc}")
        return 2
    data = peers.Data(*data_arrays)
    n_train = data.X.shape[0]
    machine = common.machine_info(usable, pinned)
    log(f"nnc benchmark ({mode}): {machine['cpu_model']}, {len(usable or [])} usable CPUs, "
        f"threads={args.threads}" + (f", pinned to CPU {pinned}" if pinned else ""))
    log("  BLAS: " + "; ".join(f"{b['prefix']} {b['version']} ({b['architecture']})"
                               for b in machine["blas"]))
    log(f"  env: {machine['env']}")

    # ---- the machine's GEMM rate, 1024^3 and at every configuration's shapes
    log("GEMM calibration (best of repeated products):")
    peak = {}
    for dtype in args.dtypes:
        peak[dtype] = common.gemm_peak(dtype, args.threads)
        log(f"  {dtype} 1024^3: numpy {peak[dtype]['numpy']:.1f} GFLOP/s, scipy (nnc's BLAS) "
            f"{peak[dtype].get('scipy', float('nan')):.1f} GFLOP/s")
    other_rates = {}
    for dtype in args.dtypes:
        other_rates[dtype] = peers.peer_gemm_rates(dtype, args.threads,
                                                   [p for p in ("torch", "jax") if p in peer_names])
        if other_rates[dtype]:
            log(f"  {dtype} 1024^3 in the peers' own libraries (context only): " + ", ".join(
                f"{k} {v:.1f}" for k, v in other_rates[dtype].items()) + " GFLOP/s")
    shape_rates = {}
    for name in args.configs:
        cfg = common.CONFIGS[name]
        for dtype in args.dtypes:
            shape_rates[(name, dtype)] = common.gemm_at_shapes(cfg, dtype, args.threads)
        log(f"  {name} shapes (batch {cfg.batch}): " + ", ".join(
            f"{d} {shape_rates[(name, d)]:.1f}" for d in args.dtypes) + " GFLOP/s")

    results = {"mode": mode, "threads": args.threads, "repeats": repeats,
               "nnc_repeats": nnc_repeats, "machine": machine,
               "gemm": {"peak": peak, "peers_own": other_rates, "at_shapes": {f"{k[0]}/{k[1]}": v
                                                    for k, v in shape_rates.items()}},
               "configs": {n: dict(common.CONFIGS[n].__dict__, sizes=list(common.CONFIGS[n].sizes),
                                   flops_per_sample=common.CONFIGS[n].flops_per_sample())
                           for n in args.configs},
               "training": [], "training_summary": {}, "inference": [], "skipped": {},
               "scaling": None, "memory": None, "sparse": None, "errors": []}

    # ---- training and inference, one configuration and dtype at a time
    for name in args.configs:
        cfg = common.CONFIGS[name]
        for dtype in args.dtypes:
            if "train" not in args.sections and "inference" not in args.sections:
                break
            log(f"\n[{cfg.label()}] {dtype}")
            runners = {}
            train_names = peer_names if "train" in args.sections else ["nnc"]
            if args.quick and dtype == "float64" and not args.peers:
                train_names = [p for p in train_names if p in QUICK_FLOAT64_PEERS]
            for peer in train_names:
                factory = peers.REGISTRY[peer][0]
                n_sub = loop_samples[name] if peer == "numpy-loop" else None
                try:
                    runners[peer] = factory(cfg, dtype, data, args.threads, n_sub)
                except peers.Unavailable as exc:
                    results["skipped"][peer] = str(exc)
                    log(f"    {peer:<11s} skipped: {exc}")
                except Exception as exc:  # noqa: BLE001 - e.g. a JAX compile error
                    results["errors"].append(f"{peer} {name}/{dtype} setup failed: "
                                             f"{type(exc).__name__}: {exc}")
                    log(f"    {peer:<11s} setup FAILED: {type(exc).__name__}: {exc}")
            if not runners:
                continue
            measured = time_training(cfg, dtype, runners, repeats, nnc_repeats, log,
                                     results["errors"])
            if not measured:
                continue
            rows, summary = describe_rows(cfg, dtype, measured, peak[dtype]["peak"],
                                          shape_rates[(name, dtype)], n_train)
            if "train" in args.sections:
                results["training"].extend(rows)
                results["training_summary"][f"{name}/{dtype}"] = summary
            if ("inference" in args.sections and "nnc" in measured
                    and not (args.quick and dtype == "float64")):
                inf_peers = [p for p in ("torch", "jax", "numpy-vec") if p in peer_names
                             and not (args.quick and p == "numpy-vec")]
                inf_rows, skipped = time_inference(cfg, dtype, runners["nnc"].net,
                                                   data.X_test, args.threads, inf_peers,
                                                   3 if args.quick else max(5, repeats))
                results["inference"].extend(inf_rows)
                results["skipped"].update({f"{k} (inference)": v for k, v in skipped.items()})
                log("    inference: " + ", ".join(
                    f"{r['impl']} {r['median'] * 1e3:.1f} ms" for r in inf_rows))

    # ---- nnc's thread scaling, in a process that may use every usable CPU
    if "scaling" in args.sections:
        counts = ([int(t) for t in _split(args.scaling_threads)] if args.scaling_threads
                  else default_scaling_threads(len(usable or [1])))
        cfgs = [c for c in ("wide", "deep") if c in args.configs] or ["wide"]
        spec = {"cpus": usable, "configs": cfgs, "threads": counts,
                # --quick: deep on a fifth of the data (the ratio is what matters)
                "samples": {"deep": 10_000} if args.quick else {},
                "dtypes": ["float32"] if args.quick else args.dtypes,
                "repeats": 2 if args.quick else 3}
        log(f"\nthread scaling (nnc, threads {counts}):")
        results["scaling"], err = run_isolated("scaling", spec, log)
        if err:
            results["errors"].append(err)
            log("  " + err)

    # ---- peak memory of one fit
    if "memory" in args.sections:
        cfgs = ["wide"] if args.quick else args.configs
        spec = {"cpus": pinned or usable, "configs": [c for c in cfgs if c in common.CONFIGS],
                "dtypes": ["float32"] if args.quick else args.dtypes, "threads": args.threads}
        log("\nmemory (one nnc fit, X already in the network's dtype):")
        results["memory"], err = run_isolated("memory", spec, log)
        if err:
            results["errors"].append(err)
            log("  " + err)

    # ---- a sparse, high-dimensional workload (bag of words), one process per peer
    if "sparse" in args.sections:
        import sparse_text
        spec = dict(sparse_text.DEFAULTS)
        if args.quick:
            spec.update(samples=5_000, repeats=2)
        impls = [i for i in sparse_text.IMPLS if args.peers is None or i in peer_names]
        log(f"\nsparse bag-of-words workload ({spec['samples']:,} x {spec['features']:,}, "
            f"density {spec['density']:g}): {', '.join(impls)}")
        rows, errs = sparse_text.run_all(spec, impls, log=lambda m: log("  " + m))
        results["sparse"] = {"spec": spec, "rows": rows}
        results["errors"].extend(errs)

    try:
        machine["load_average_end"] = os.getloadavg()
    except OSError:
        pass
    results["versions"] = {mod: getattr(sys.modules[mod], "__version__", "?")
                           for mod in ("sklearn", "torch", "jax", "jaxlib", "threadpoolctl")
                           if mod in sys.modules}
    results["total_seconds"] = time.perf_counter() - started
    text = report.console(results)
    log("\n" + text)
    os.makedirs(args.out, exist_ok=True)
    report.write(results, args.out)
    log(f"\nwrote {os.path.join(args.out, 'latest.json')} and latest.md "
        f"({results['total_seconds']:.0f} s in all)")
    failed = [r for r in results["training"] if r["accuracy_ok"] is False]
    if failed:
        log("ACCURACY CHECK FAILED: " + ", ".join(
            f"{r['impl']} {r['config']}/{r['dtype']} ({r['accuracy']:.3f})" for r in failed))
    return 1 if (failed and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
