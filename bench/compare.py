"""Compare nnc's training and inference cost between two commits.

    python bench/compare.py BASE [HEAD] [--threshold 5]

Both revisions are exported into temporary directories (``git archive``; an
omitted HEAD means the working tree as it is, uncommitted changes included),
built there with ``setup.py build_ext --inplace`` (nothing is installed) and
run on the same small workloads:

* **instruction counts** under ``valgrind --tool=callgrind``, collected only
  inside the engine's ``Engine.train`` and ``Engine.forward`` (callgrind's
  ``--toggle-collect`` on the Cython wrappers of those methods): nnc's own
  step, BLAS calls made from it included, Python's set-up excluded.  The
  counts are deterministic, so a shared, noisy runner cannot blur them;
* **wall-clock ratios** HEAD/BASE from two native worker processes, one per
  build, taking turns (ABBA ...) on the same workloads in one run.

The result is a markdown table on stdout (and appended to
``$GITHUB_STEP_SUMMARY`` or ``--summary``).  The exit status is 1 when a
workload's instruction count grew by more than ``--threshold`` percent,
2 when a build or a measurement failed.  See bench/README.md.
"""
import argparse
import gzip
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# name: (sizes, hidden, output, loss, optimizer, lr, batch, init, batches per epoch, epochs)
# Every epoch has at most 8 batches: nnc's first span of an epoch is 8
# batches, so each epoch is exactly one Engine.train call whatever the
# machine's speed (later spans adapt to wall time and would make the count of
# calls, and their small fixed costs, vary).
TRAIN = {
    "tutorial": ((784, 30, 10), "sigmoid", "sigmoid", "quadratic", "sgd", 3.0, 10,
                 "gaussian", 8, 4),
    "wide": ((784, 256, 10), "relu", "softmax", "categorical_crossentropy", "sgd", 0.1, 128,
             "he", 2, 1),
    "deep": ((784, 512, 512, 10), "relu", "softmax", "categorical_crossentropy", "adam",
             1e-3, 256, "he", 1, 1),
}
PREDICT_ROWS = 128  # predict() of the deep network: one forward call
DTYPES = ("float32", "float64")
WORKLOADS = [f"{name} {dt}" for dt in DTYPES for name in (*TRAIN, "predict")]
N_SAMPLES = 1024
# The Cython wrappers of Engine.train and Engine.forward (everything they call
# is counted).  callgrind 3.19 keeps only the first of two --toggle-collect
# patterns that start with the same characters, hence the different heads.
DEFAULT_COLLECT = ("__pyx_pw_*Engine_*train", "*_pyx_pw_*Engine_*forward")
MARKER = "getpgid"  # the libc call (os.getpgid) that separates workloads in callgrind
ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
       "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}


# ---------------------------------------------------------------------------
# worker side: runs inside a built tree (imports only numpy and that nnc)
# ---------------------------------------------------------------------------
def _load_data(data_dir, dtype):
    import numpy as np
    X = np.load(os.path.join(data_dir, "X.npy")).astype(dtype)
    y = np.load(os.path.join(data_dir, "y.npy"))
    return X, y


def _network(nnc, name, dtype):
    sizes, hidden, output, loss, _, _, _, init, _, _ = TRAIN[name]
    return nnc.Network(list(sizes), activation=hidden, output_activation=output, loss=loss,
                       dtype=dtype, seed=0, init=init)


def make_workload(nnc, data, workload):
    """A zero-argument callable running one workload on a fresh network
    (built now, outside the measured region)."""
    name, dtype = workload.split()
    X, y = data[dtype]
    if name == "predict":
        net = _network(nnc, "deep", dtype)
        Xp = X[:PREDICT_ROWS]
        return lambda: net.predict(Xp, threads=1)
    _, _, _, _, opt, lr, batch, _, per_epoch, epochs = TRAIN[name]
    n = batch * per_epoch
    net = _network(nnc, name, dtype)
    start = net.params.copy()

    def run():
        net.params[...] = start  # every call does the same work
        net.fit(X[:n], y[:n], epochs=epochs, batch_size=batch, lr=lr, optimizer=opt,
                verbose=0, threads=1)
    return run


def _worker_setup(tree, data_dir):
    sys.path.insert(0, tree)
    import nnc
    if not os.path.abspath(nnc.__file__).startswith(os.path.abspath(tree)):
        raise RuntimeError(f"imported nnc from {nnc.__file__}, not from {tree}")
    return nnc, {dt: _load_data(data_dir, dt) for dt in DTYPES}


def worker_callgrind(tree, data_dir, workloads):
    """Run each workload once, separated by the marker call at which
    callgrind dumps its counters (one dump per workload, in order)."""
    nnc, data = _worker_setup(tree, data_dir)
    runs = [make_workload(nnc, data, w) for w in workloads]
    for dtype in DTYPES:  # one-time costs (CPU dispatch, first calls) before the first dump
        X, y = data[dtype]
        net = _network(nnc, "tutorial", dtype)
        net.fit(X[:20], y[:20], epochs=1, batch_size=10, verbose=0, threads=1)
        net.predict(X[:2], threads=1)
    for run in runs:
        os.getpgid(0)  # dump: ends the previous region
        run()
    os.getpgid(0)


def worker_serve(tree, data_dir):
    """Time workloads on request: each stdin line ``workload|repeats`` gets
    one stdout line with the seconds taken (JSON)."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    sys.stdout = sys.stderr  # nothing else may write on the reply channel
    nnc, data = _worker_setup(tree, data_dir)
    cache = {}
    out.write(json.dumps({"ready": nnc.__file__}) + "\n")
    for line in sys.stdin:
        workload, repeats = line.strip().split("|")
        run = cache.get(workload) or cache.setdefault(workload, make_workload(nnc, data, workload))
        t0 = time.perf_counter()
        for _ in range(int(repeats)):
            run()
        out.write(json.dumps({"seconds": time.perf_counter() - t0}) + "\n")


# ---------------------------------------------------------------------------
# driver side
# ---------------------------------------------------------------------------
def _git(*args, cwd=ROOT):
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def export_tree(rev, dest):
    """Put revision ``rev`` (None: the working tree) into directory ``dest``;
    returns a label naming what was exported."""
    os.makedirs(dest)
    if rev is None:
        files = _git("ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
        for f in filter(None, files):
            src = os.path.join(ROOT, f)
            if os.path.isfile(src):  # deleted but still tracked: skip
                os.makedirs(os.path.join(dest, os.path.dirname(f)), exist_ok=True)
                shutil.copy2(src, os.path.join(dest, f))
        dirty = _git("status", "--porcelain", "--untracked-files=no")
        return f"working tree ({_git('rev-parse', '--short', 'HEAD')}{'+changes' if dirty else ''})"
    sha = _git("rev-parse", "--verify", f"{rev}^{{commit}}")
    proc = subprocess.Popen(["git", "archive", "--format=tar", sha], cwd=ROOT,
                            stdout=subprocess.PIPE)
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        tar.extractall(dest, filter="data") if hasattr(tarfile, "data_filter") \
            else tar.extractall(dest)
    if proc.wait() != 0:
        raise RuntimeError(f"git archive {sha} failed")
    return f"{rev} ({sha[:10]})"


def build_tree(tree, jobs):
    """``setup.py build_ext --inplace`` in ``tree``; raises with the log's
    tail if it fails."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace", "-j", str(jobs)],
                          cwd=tree, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"build in {tree} failed:\n{(proc.stdout + proc.stderr)[-4000:]}")
    return time.perf_counter() - t0


def _read_idx(path):
    import numpy as np
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def write_data(tree, data_dir):
    """The first N_SAMPLES MNIST training images (bundled with nnc) as .npy;
    synthetic MNIST-like data (81% zeros, seeded) if the tree has none."""
    import numpy as np
    os.makedirs(data_dir, exist_ok=True)
    mnist = os.path.join(tree, "nnc", "data", "mnist")
    try:
        X = _read_idx(os.path.join(mnist, "train-images-idx3-ubyte.gz"))[:N_SAMPLES]
        X = X.reshape(len(X), -1) / 255.0
        y = _read_idx(os.path.join(mnist, "train-labels-idx1-ubyte.gz"))[:N_SAMPLES]
        source = "MNIST (bundled)"
    except OSError:
        rng = np.random.default_rng(0)
        X = rng.random((N_SAMPLES, 784)) * (rng.random((N_SAMPLES, 784)) < 0.19)
        y = rng.integers(0, 10, N_SAMPLES)
        source = "synthetic (81% zeros)"
    np.save(os.path.join(data_dir, "X.npy"), np.ascontiguousarray(X, dtype=np.float64))
    np.save(os.path.join(data_dir, "y.npy"), y.astype(np.int64))
    return source


def _worker_env():
    env = dict(os.environ, **ENV)
    env.pop("PYTHONPATH", None)
    return env


def parse_callgrind_total(text):
    """Total of the first event (Ir) in a callgrind output file."""
    m = re.search(r"^(?:totals|summary):\s+(\d+)", text, re.M)
    if m is None:
        raise ValueError("no 'totals:' or 'summary:' line in callgrind output")
    return int(m.group(1))


def _dump_files(prefix):
    """Callgrind's numbered dumps ``prefix.1, prefix.2, ...`` in order."""
    d, base = os.path.split(prefix)
    found = []
    for f in os.listdir(d):
        m = re.fullmatch(re.escape(base) + r"\.(\d+)", f)
        if m:
            found.append((int(m.group(1)), os.path.join(d, f)))
    return [p for _, p in sorted(found)]


def callgrind_counts(tree, data_dir, workloads, out_prefix, collect=DEFAULT_COLLECT):
    """Start ``valgrind --tool=callgrind`` on the worker; returns a function
    that waits for it and gives {workload: Ir}."""
    cmd = ["valgrind", "--tool=callgrind", "--collect-atstart=no",
           *[f"--toggle-collect={p}" for p in collect],
           f"--dump-before={MARKER}", f"--callgrind-out-file={out_prefix}",
           sys.executable, os.path.abspath(__file__), "--worker-callgrind", tree, data_dir,
           "--workloads", ",".join(workloads)]
    log = open(out_prefix + ".log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=_worker_env())

    def result():
        rc = proc.wait()
        log.close()
        if rc != 0:
            with open(out_prefix + ".log") as f:
                raise RuntimeError(f"callgrind run in {tree} failed (exit {rc}):\n"
                                   f"{f.read()[-4000:]}")
        dumps = _dump_files(out_prefix)
        # dump 1 holds the warm-up, then one per workload; the last marker's
        # dump and the final one at exit hold nothing.
        if len(dumps) < len(workloads) + 1:
            raise RuntimeError(f"expected {len(workloads) + 1} callgrind dumps, found "
                               f"{len(dumps)} under {out_prefix}")
        counts = {}
        for w, path in zip(workloads, dumps[1:len(workloads) + 1], strict=True):
            with open(path) as f:
                counts[w] = parse_callgrind_total(f.read())
        zero = [w for w, c in counts.items() if c == 0]
        if zero:
            raise RuntimeError(f"nothing collected for {zero} in {tree}: do the "
                               f"--collect patterns {list(collect)} match its engine?")
        return counts
    return result


class Worker:
    """A native worker process serving timings for one built tree."""

    def __init__(self, tree, data_dir):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker-serve", tree, data_dir],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_worker_env())
        self._read()

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("benchmark worker exited early (see its stderr above)")
        return json.loads(line)

    def time(self, workload, repeats):
        self.proc.stdin.write(f"{workload}|{repeats}\n")
        self.proc.stdin.flush()
        return self._read()["seconds"]

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):  # died or hung: do not wait on it
            self.proc.kill()
            self.proc.wait()


def wall_ratios(trees, data_dir, workloads, rounds, min_time):
    """Median HEAD/BASE time per workload, the two builds taking turns
    (A B B A A B ...) so drifts in machine load hit both alike."""
    workers = [Worker(t, data_dir) for t in trees]
    ratios = {}
    try:
        for w in workloads:
            workers[0].time(w, 1)
            workers[1].time(w, 1)  # warm-up
            one = max(workers[0].time(w, 1), 1e-6)
            repeats = max(1, int(min_time / one))
            times = ([], [])
            for r in range(rounds):
                for i in ((0, 1) if r % 2 == 0 else (1, 0)):
                    times[i].append(workers[i].time(w, repeats))
            ratios[w] = statistics.median(times[1]) / statistics.median(times[0])
    finally:
        for wk in workers:
            wk.close()
    return ratios


def change_percent(base, head):
    return 100.0 * (head - base) / base


def regressions(base, head, threshold):
    """Workloads whose instruction count grew by more than threshold %."""
    return [w for w in base if change_percent(base[w], head[w]) > threshold]


def markdown_table(base, head, wall, labels, threshold, notes=()):
    """The comparison as a markdown table (base/head: {workload: Ir};
    wall: {workload: HEAD/BASE time ratio}, may be empty)."""
    lines = [f"### nnc benchmark comparison: {labels[1]} against {labels[0]}", "",
             "| workload | base Ir | head Ir | change % | wall ratio (head/base) |",
             "|---|---:|---:|---:|---:|"]
    for w in base:
        ch = change_percent(base[w], head[w])
        flag = " **regression**" if ch > threshold else ""
        ratio = f"{wall[w]:.3f}" if w in wall else "–"
        lines.append(f"| {w} | {base[w]:,} | {head[w]:,} | {ch:+.2f}{flag} | {ratio} |")
    lines += ["", f"Ir: instructions executed inside nnc's engine (Engine.train/forward, "
              f"BLAS included) under callgrind; a growth above {threshold:g}% fails. "
              "Wall ratio: median of interleaved native runs, above 1 = head slower."]
    lines += [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def _parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("base", help="base revision (branch, tag or commit)")
    p.add_argument("head", nargs="?", default=None,
                   help="head revision (default: the working tree, uncommitted changes included)")
    p.add_argument("--threshold", type=float, default=5.0,
                   help="fail when a workload's instruction count grows by more than this "
                        "percentage (default 5)")
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help="comma-separated subset of: " + ", ".join(WORKLOADS))
    p.add_argument("--rounds", type=int, default=6, help="interleaved wall-clock rounds")
    p.add_argument("--min-time", type=float, default=0.2,
                   help="seconds each wall-clock sample lasts at least")
    p.add_argument("--no-wall", action="store_true", help="instruction counts only")
    p.add_argument("--jobs", type=int, default=2, help="parallel builds/callgrind runs")
    p.add_argument("--collect", action="append",
                   help="callgrind --toggle-collect pattern (repeatable; default: "
                        + ", ".join(DEFAULT_COLLECT) + ")")
    p.add_argument("--summary", help="also append the table to this file "
                                     "(default: $GITHUB_STEP_SUMMARY when set)")
    p.add_argument("--json", help="write the raw results to this file")
    p.add_argument("--keep", action="store_true", help="keep the temporary trees")
    args = p.parse_args(argv)
    args.workloads = [w.strip().replace("-", " ") for w in args.workloads.split(",")]
    unknown = [w for w in args.workloads if w not in WORKLOADS]
    if unknown:
        p.error(f"unknown workloads {unknown}; choose from {WORKLOADS}")
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker-callgrind"]:
        worker_callgrind(argv[1], argv[2], argv[4].split(","))
        return 0
    if argv[:1] == ["--worker-serve"]:
        worker_serve(argv[1], argv[2])
        return 0
    args = _parse_args(argv)
    if shutil.which("valgrind") is None:
        print("compare.py needs valgrind (apt-get install valgrind)", file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="nnc-compare-")
    try:
        return _compare(args, tmp)
    except RuntimeError as e:
        print(f"compare.py: {e}", file=sys.stderr)
        return 2
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _compare(args, tmp):
    t0 = time.perf_counter()
    trees = [os.path.join(tmp, "base"), os.path.join(tmp, "head")]
    labels = [export_tree(args.base, trees[0]), export_tree(args.head, trees[1])]
    print(f"building {labels[0]} and {labels[1]} in {tmp} ...", file=sys.stderr)
    if args.jobs > 1:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(2) as ex:
            build_s = list(ex.map(lambda t: build_tree(t, max(1, args.jobs // 2)), trees))
    else:
        build_s = [build_tree(t, 1) for t in trees]
    data_dir = os.path.join(tmp, "data")
    source = write_data(trees[1], data_dir)
    t1 = time.perf_counter()
    print("counting instructions under callgrind ...", file=sys.stderr)
    pending, counts = [], []
    for tree, name in zip(trees, ("base", "head"), strict=True):
        pending.append(callgrind_counts(tree, data_dir, args.workloads,
                                        os.path.join(tmp, f"callgrind.{name}"),
                                        tuple(args.collect or DEFAULT_COLLECT)))
        if args.jobs < 2:  # one at a time
            counts.append(pending.pop()())
    base, head = counts + [wait() for wait in pending]
    t2 = time.perf_counter()
    wall = {}
    if not args.no_wall:
        print("interleaved wall-clock runs ...", file=sys.stderr)
        wall = wall_ratios(trees, data_dir, args.workloads, args.rounds, args.min_time)
    t3 = time.perf_counter()
    notes = [f"data: {source}, {N_SAMPLES} samples; one thread; "
             f"valgrind {_valgrind_version()}; Python {sys.version.split()[0]}",
             f"time: builds {max(build_s):.0f} s, callgrind {t2 - t1:.0f} s, "
             f"wall clock {t3 - t2:.0f} s, total {t3 - t0:.0f} s"]
    table = markdown_table(base, head, wall, labels, args.threshold, notes)
    print(table)
    summary = args.summary or os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a") as f:
            f.write(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"labels": labels, "base": base, "head": head, "wall": wall,
                       "threshold": args.threshold}, f, indent=1)
    bad = regressions(base, head, args.threshold)
    if bad:
        print(f"regression above {args.threshold:g}% in: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


def _valgrind_version():
    return subprocess.run(["valgrind", "--version"], capture_output=True,
                          text=True).stdout.strip().removeprefix("valgrind-")


if __name__ == "__main__":
    sys.exit(main())
