"""Benchmark sections that need a process of their own.

``python bench/isolated.py scaling '<json>'`` times nnc at several thread
counts on the CPUs named in the JSON (the parent process may be pinned to
fewer); ``python bench/isolated.py memory '<json>'`` measures the peak memory
one ``fit`` adds.  Each prints one JSON object on its last line of stdout.
Run by ``run.py``; not meant to be called by hand.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _cpu  # noqa: E402  (must run before numpy starts its thread pool)


def _new_net(nnc, cfg, dtype):
    loss = "quadratic" if cfg.loss == "quadratic" else "categorical_crossentropy"
    return nnc.Network(list(cfg.sizes), activation=cfg.hidden, output_activation=cfg.output,
                       loss=loss, dtype=dtype, seed=0, init=cfg.init)


def _fit(net, cfg, X, y, threads):
    # The first call makes the optimizer; later calls continue it, state included.
    first = net.optimizer is None
    net.fit(X, y, epochs=1, batch_size=cfg.batch, optimizer=cfg.optimizer if first else None,
            lr=cfg.lr if first else None, verbose=0, threads=threads)


def scaling(spec):
    """Seconds per epoch of nnc at each thread count, round-robin repeats,
    and whether repeats with the same thread count give identical weights.

    Before each fit the cost of an empty parallel region of the most
    threads is taken too: a shared host may keep the cores near each other
    or not, and what data the threads exchange costs several times more in
    the second case (the speedup with it).
    """
    import hashlib
    import time

    import numpy as np

    import nnc
    from nnc import _kernels

    from common import CONFIGS, load_data
    X32, y, _, _ = load_data()
    out = []
    for name in spec["configs"]:
        cfg = CONFIGS[name]
        n = spec.get("samples", {}).get(name) or X32.shape[0]
        for dtype in spec["dtypes"]:
            X = X32[:n].astype(dtype)
            times = {t: [] for t in spec["threads"]}
            fork_join = {t: [] for t in spec["threads"]}
            cpu = {t: [] for t in spec["threads"]}
            digests = {t: set() for t in spec["threads"]}
            final = {}
            for _ in range(spec["repeats"]):
                for t in spec["threads"]:
                    net = _new_net(nnc, cfg, dtype)
                    fork_join[t].append(_kernels._fork_join_seconds(max(spec["threads"]), 2000))
                    c0, t0 = time.process_time(), time.perf_counter()
                    _fit(net, cfg, X, y[:n], t)
                    times[t].append(time.perf_counter() - t0)
                    cpu[t].append((time.process_time() - c0) / times[t][-1])
                    digests[t].add(hashlib.sha256(net.params.tobytes()).hexdigest())
                    final[t] = net.params.copy()
            base = spec["threads"][0]
            rows = []
            for t in spec["threads"]:
                rows.append({
                    "threads": t, "times": times[t], "median": float(np.median(times[t])),
                    "best": float(np.min(times[t])),
                    "fork_join_us": float(np.median(fork_join[t])) * 1e6,
                    "cpu_per_wall": float(np.median(cpu[t])),
                    "identical_across_repeats": len(digests[t]) == 1 if spec["repeats"] > 1 else None,
                    "max_abs_diff_vs_first": float(np.max(np.abs(final[t].astype(np.float64)
                                                                 - final[base]))),
                })
            out.append({"config": name, "dtype": dtype, "rows": rows, "n_samples": n,
                        "load_average": os.getloadavg()})
            print(f"  scaling {name} {dtype}: " + ", ".join(
                f"{r['threads']} thr {r['median']:.3f} s" for r in rows), file=sys.stderr,
                flush=True)
    return out


def _status_kb(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_peak_rss():
    """Reset VmHWM to the current RSS (Linux >= 4.0); False if not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def memory(spec):
    """Peak memory one fit adds, beyond the data and the parameters.

    Two measures: the growth of the peak resident set (VmHWM, reset just
    before the fit) over the resident set just before it, and tracemalloc's
    peak (which sees NumPy's allocations, so every buffer nnc allocates).
    """
    import gc
    import threading
    import tracemalloc

    import nnc

    from common import CONFIGS, load_data
    X32, y, _, _ = load_data()
    out = []
    for name in spec["configs"]:
        cfg = CONFIGS[name]
        for dtype in spec["dtypes"]:
            X = X32.astype(dtype)
            # warm-up on a slice: lazy imports, OpenMP/BLAS thread start-up
            _fit(_new_net(nnc, cfg, dtype), cfg, X[:2000], y[:2000], spec["threads"])
            net = _new_net(nnc, cfg, dtype)
            gc.collect()
            rss_before = _status_kb("VmRSS")
            sampled = None
            if not _reset_peak_rss():
                # no clear_refs: sample the RSS from a thread instead
                sampled, stop = [rss_before], threading.Event()

                def sample(sampled=sampled, stop=stop):
                    while not stop.is_set():
                        sampled.append(_status_kb("VmRSS"))
                        stop.wait(0.002)
                sampler = threading.Thread(target=sample, daemon=True)
                sampler.start()
            tracemalloc.start()
            _fit(net, cfg, X, y, spec["threads"])
            _, traced_peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            if sampled is None:
                peak = _status_kb("VmHWM")
                method = "VmHWM after clear_refs"
            else:
                stop.set()
                sampler.join()
                peak = max(sampled)
                method = "RSS sampled every 2 ms"
            row = {"config": name, "dtype": dtype,
                   "rss_increase_mb": (peak - rss_before) / 1024.0,
                   "tracemalloc_peak_mb": traced_peak / 2**20,
                   "data_mb": X.nbytes / 2**20, "params_mb": net.params.nbytes / 2**20,
                   "rss_method": method}
            out.append(row)
            print(f"  memory {name} {dtype}: +{row['rss_increase_mb']:.1f} MB RSS, "
                  f"tracemalloc peak {row['tracemalloc_peak_mb']:.1f} MB", file=sys.stderr,
                  flush=True)
    return out


def main():
    task, spec = sys.argv[1], json.loads(sys.argv[2])
    _cpu.set_cpus(spec.get("cpus"))
    result = {"scaling": scaling, "memory": memory}[task](spec)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
