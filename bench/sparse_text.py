"""A sparse, high-dimensional workload: bag-of-words text classification.

Usage::

    python bench/sparse_text.py                  # every implementation, default size
    python bench/sparse_text.py --quick          # a quarter of the samples, fewer repeats
    python bench/sparse_text.py --impls nnc,sklearn --samples 20000 --density 0.002

The data are generated (seeded): documents of a Zipf-distributed vocabulary
of ``--features`` words, 30% of each document's words drawn from its
class's own 300 topic words, log(1 + count) weights with rows scaled to unit
length (as tf-idf pipelines produce), kept as a scipy CSR matrix of
``--density`` non-zeros.  One hidden layer (relu, ``--hidden`` units), softmax
output and cross-entropy, plain SGD (no momentum, no L2), one epoch, one
thread, float32.  Four implementations train the same network on the same
CSR rows and are scored on held-out rows:

- **nnc**: ``Network.fit`` on the CSR matrix (the sparse first layer).
- **sklearn**: ``MLPClassifier(solver="sgd", momentum=0, alpha=0, max_iter=1)``
  on the CSR matrix (its own Glorot initialisation).
- **torch**: each mini-batch a ``torch.sparse_csr_tensor`` times a dense
  W^1 (autograd gives a dense gradient of W^1), ``torch.optim.SGD``.
- **jax**: the epoch as one ``jax.jit`` of a ``lax.scan``; each batch a
  ``BCOO`` matrix (padded to the longest batch, so one compile serves all)
  times a dense W^1.  The padded batches are JAX's own copy of the data.

Each implementation runs in a process of its own, one after the other: its
peak memory (growth of the peak resident set during a timed epoch over the
resident set just before it: data and fresh parameters already there) is then
its own.  Each reports the median of its
timed epochs (``--repeats`` for nnc, ``--peer-repeats`` for the others; nnc and
JAX after one untimed warm-up epoch, which holds JAX's compile) and the test accuracy
after the last.  "Useful GFLOP/s" counts the work a sparse
implementation cannot avoid: 2 FLOP per non-zero and hidden unit for the
forward product and 2 for the weight gradient of the first layer, plus the
dense second layer.
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _cpu  # noqa: E402  (stdlib only: pinning must precede numpy's import)

IMPLS = ("nnc", "sklearn", "torch", "jax")
DEFAULTS = dict(samples=20_000, features=100_000, density=0.005, classes=20, hidden=128,
                batch=128, lr=0.5, seed=0, repeats=3, peer_repeats=1, test_fraction=0.2)
#: share of a document's words drawn from its class's topic words, and their number
TOPIC_SHARE, TOPIC_WORDS = 0.3, 300


def make_data(samples, features, density, classes, seed, dtype="float32"):
    """A seeded bag-of-words CSR matrix ``X`` (samples x features) and labels ``y``."""
    import numpy as np
    import scipy.sparse as sp
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, samples)
    # distinct words per document: Poisson around the target density
    # (a few draws repeat a word, so the realised density ends slightly lower)
    lengths = rng.poisson(density * features, samples).clip(1, features)
    rows = np.repeat(np.arange(samples), lengths)
    zipf = 1.0 / np.arange(1, features + 1) ** 1.1
    words = rng.permutation(features)[rng.choice(features, rows.size, p=zipf / zipf.sum())]
    topics = rng.integers(0, features, (classes, TOPIC_WORDS))
    topical = rng.random(rows.size) < TOPIC_SHARE
    words[topical] = topics[y[rows[topical]], rng.integers(0, TOPIC_WORDS, topical.sum())]
    X = sp.csr_matrix((np.ones(rows.size), (rows, words)), shape=(samples, features))
    X.sum_duplicates()
    X.data = np.log1p(X.data)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.csr_matrix(sp.diags(1.0 / norms) @ X, dtype=dtype)
    X.sort_indices()
    return X, y


def split(X, y, test_fraction):
    n_test = int(round(X.shape[0] * test_fraction))
    n = X.shape[0] - n_test
    return X[:n], y[:n], X[n:], y[n:]


def initial_params(spec, dtype):
    """He-initialised weights (as nnc's init="he"), shared by torch and JAX."""
    import numpy as np
    rng = np.random.default_rng(spec["seed"] + 1)
    sizes = [spec["features"], spec["hidden"], spec["classes"]]
    Ws = [(rng.standard_normal((a, b)) * np.sqrt(2.0 / a)).astype(dtype)
          for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    bs = [np.zeros(b, dtype) for b in sizes[1:]]
    return Ws, bs


# ---------------------------------------------------------------------------
# implementations: each returns (new(), epoch(), accuracy()) closures; new()
# makes fresh parameters and is not timed
# ---------------------------------------------------------------------------
def make_nnc(spec, Xtr, ytr, Xte, yte):
    import numpy as np

    import nnc
    state = {}

    def new():
        state["net"] = nnc.Network([spec["features"], spec["hidden"], spec["classes"]],
                                   activation="relu", output_activation="softmax",
                                   loss="categorical_crossentropy", dtype="float32", seed=0,
                                   init="he")

    def epoch():
        state["net"].fit(Xtr, ytr, epochs=1, batch_size=spec["batch"], lr=spec["lr"],
                         verbose=0, threads=1)

    return new, epoch, lambda: float(np.mean(state["net"].predict(Xte) == yte))


def make_sklearn(spec, Xtr, ytr, Xte, yte):
    import warnings

    import numpy as np
    from sklearn.neural_network import MLPClassifier
    state = {}

    def epoch():
        clf = MLPClassifier(hidden_layer_sizes=(spec["hidden"],), activation="relu",
                            solver="sgd", momentum=0.0, alpha=0.0, batch_size=spec["batch"],
                            learning_rate_init=spec["lr"], max_iter=1, shuffle=True,
                            random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning after max_iter=1
            clf.fit(Xtr, ytr)
        state["clf"] = clf

    return (lambda: None), epoch, lambda: float(np.mean(state["clf"].predict(Xte) == yte))


def make_torch(spec, Xtr, ytr, Xte, yte):
    import numpy as np
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(1)
    Ws, bs = initial_params(spec, np.float32)
    y_t = torch.from_numpy(ytr.astype(np.int64))
    state = {}

    def csr(X):
        return torch.sparse_csr_tensor(torch.from_numpy(X.indptr.astype(np.int64)),
                                       torch.from_numpy(X.indices.astype(np.int64)),
                                       torch.from_numpy(X.data), size=X.shape)

    def forward(params, xb):
        W1, b1, W2, b2 = params
        return F.relu(xb @ W1 + b1) @ W2 + b2

    def new():
        state["params"] = [torch.tensor(a, requires_grad=True)
                           for a in (Ws[0], bs[0], Ws[1], bs[1])]

    def epoch():
        params = state["params"]
        opt = torch.optim.SGD(params, lr=spec["lr"])
        order = torch.randperm(Xtr.shape[0]).numpy()
        for start in range(0, Xtr.shape[0], spec["batch"]):
            idx = order[start:start + spec["batch"]]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(forward(params, csr(Xtr[idx])), y_t[idx])
            loss.backward()
            opt.step()

    def accuracy():
        with torch.no_grad():
            pred = forward(state["params"], csr(Xte)).argmax(1).numpy()
        return float(np.mean(pred == yte))

    return new, epoch, accuracy


def make_jax(spec, Xtr, ytr, Xte, yte):
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.experimental import sparse as jsparse
    Ws, bs = initial_params(spec, np.float32)
    n, batch = Xtr.shape[0], spec["batch"]
    n_batches = (n + batch - 1) // batch
    order = np.random.default_rng(spec["seed"]).permutation(n)
    # every batch as BCOO arrays padded to the longest batch (one compiled step);
    # padding entries hold 0.0 at (0, 0) and so add nothing
    nse = max(int(Xtr[order[s:s + batch]].nnz) for s in range(0, n, batch))
    data = np.zeros((n_batches, nse), np.float32)
    indices = np.zeros((n_batches, nse, 2), np.int32)
    labels = np.zeros((n_batches, batch), np.int32)
    weight = np.zeros((n_batches, batch), np.float32)
    for b in range(n_batches):
        xb = Xtr[order[b * batch:(b + 1) * batch]].tocoo()
        data[b, :xb.nnz] = xb.data
        indices[b, :xb.nnz, 0], indices[b, :xb.nnz, 1] = xb.row, xb.col
        labels[b, :xb.shape[0]] = ytr[order[b * batch:(b + 1) * batch]]
        weight[b, :xb.shape[0]] = 1.0 / xb.shape[0]  # mean over the real rows only
    shape = (batch, spec["features"])

    def loss_fn(params, d, i, lab, w):
        W1, b1, W2, b2 = params
        xb = jsparse.BCOO((d, i), shape=shape)
        h = jax.nn.relu(xb @ W1 + b1)
        logp = jax.nn.log_softmax(h @ W2 + b2)
        return -jnp.sum(w * jnp.take_along_axis(logp, lab[:, None], axis=1)[:, 0])

    def step(params, batch_arrays):
        grads = jax.grad(loss_fn)(params, *batch_arrays)
        return [p - spec["lr"] * g for p, g in zip(params, grads, strict=True)], None

    @jax.jit
    def epoch_fn(params, d, i, lab, w):
        return jax.lax.scan(step, params, (d, i, lab, w))[0]

    arrays = [jnp.asarray(a) for a in (data, indices, labels, weight)]
    state = {}

    def new():
        state["params"] = jax.block_until_ready([jnp.asarray(a)
                                                 for a in (Ws[0], bs[0], Ws[1], bs[1])])

    def epoch():
        state["params"] = jax.block_until_ready(epoch_fn(state["params"], *arrays))

    def accuracy():
        W1, b1, W2, b2 = (np.asarray(p) for p in state["params"])
        h = np.maximum(Xte @ W1 + b1, 0)
        return float(np.mean(np.argmax(h @ W2 + b2, axis=1) == yte))

    return new, epoch, accuracy


FACTORIES = {"nnc": make_nnc, "sklearn": make_sklearn, "torch": make_torch, "jax": make_jax}


# ---------------------------------------------------------------------------
# one implementation, in this process
# ---------------------------------------------------------------------------
def _status_kb(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def _reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def run_one(impl, spec):
    """Time ``impl`` on the workload; returns a dict of measurements."""
    X, y = make_data(spec["samples"], spec["features"], spec["density"], spec["classes"],
                     spec["seed"])
    Xtr, ytr, Xte, yte = split(X, y, spec["test_fraction"])
    setup0 = time.perf_counter()
    new, epoch, accuracy = FACTORIES[impl](spec, Xtr, ytr, Xte, yte)
    if impl in ("nnc", "jax"):  # warm-up: JAX's compile (sklearn and torch need none)
        new()
        epoch()
    setup = time.perf_counter() - setup0
    times, peak_mb = [], None
    for _ in range(spec["repeats"] if impl == "nnc" else spec["peer_repeats"]):
        new()
        rss0 = _status_kb("VmRSS")
        peak_ok = _reset_peak()
        t0 = time.perf_counter()
        epoch()
        times.append(time.perf_counter() - t0)
        if peak_ok and rss0:
            peak_mb = max(peak_mb or 0.0, (_status_kb("VmHWM") - rss0) / 1024.0)
    times.sort()
    median = times[len(times) // 2]
    nnz = int(Xtr.nnz)
    useful = 4.0 * nnz * spec["hidden"] + 6.0 * Xtr.shape[0] * spec["hidden"] * spec["classes"]
    return {"impl": impl, "times": times, "median": median, "accuracy": accuracy(),
            "setup_seconds": setup, "useful_gflops": useful / median / 1e9,
            "peak_mb": peak_mb, "params_mb": 4.0 * (spec["features"] + spec["classes"] + 1)
            * spec["hidden"] / 2**20,
            "n_train": int(Xtr.shape[0]), "nnz": nnz,
            "density": nnz / (Xtr.shape[0] * spec["features"]),
            "data_mb": (Xtr.data.nbytes + Xtr.indices.nbytes + Xtr.indptr.nbytes) / 2**20}


def run_all(spec, impls, log=print):
    """Each implementation in a child process; returns rows (and errors)."""
    rows, errors = [], []
    for impl in impls:
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", impl,
                               "--spec", json.dumps(spec)], capture_output=True, text=True)
        if proc.returncode != 0:
            tail = " | ".join(proc.stderr.strip().splitlines()[-2:])
            errors.append(f"sparse_text {impl} failed (exit {proc.returncode}): {tail}")
            log(f"    {impl:<8s} FAILED: {tail}")
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(row)
        log(f"    {impl:<8s} {row['median']:8.3f} s  accuracy {row['accuracy']:.4f}  "
            f"peak +{row['peak_mb'] or float('nan'):.0f} MB  "
            f"{row['useful_gflops']:.1f} useful GFLOP/s")
    nnc_row = next((r for r in rows if r["impl"] == "nnc"), None)
    for r in rows:
        r["ratio_to_nnc"] = r["median"] / nnc_row["median"] if nnc_row else None
    return rows, errors


def table(rows, spec):
    """A markdown table of the rows."""
    if not rows:
        return "(no results)"
    r0 = rows[0]
    lines = [f"{r0['n_train']:,} x {spec['features']:,} CSR, density {r0['density']:.4f} "
             f"({r0['nnz'] / r0['n_train']:.0f} non-zeros a row, {r0['data_mb']:.0f} MB), "
             f"{spec['classes']} classes; {spec['features']}-{spec['hidden']}-{spec['classes']} "
             f"relu/softmax, SGD lr {spec['lr']:g}, batch {spec['batch']}, float32, one epoch, "
             "one thread", "",
             "| impl | s/epoch | useful GFLOP/s | peak memory added (MB) | test acc | time / nnc |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        peak = f"{r['peak_mb']:.0f}" if r["peak_mb"] is not None else "n/a"
        ratio = f"{r['ratio_to_nnc']:.2f}" if r["ratio_to_nnc"] else ""
        lines.append(f"| {r['impl']} | {r['median']:.3f} | {r['useful_gflops']:.1f} | {peak} | "
                     f"{r['accuracy']:.4f} | {ratio} |")
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--impls", default=",".join(IMPLS))
    p.add_argument("--quick", action="store_true",
                   help="a quarter of the samples, 2 timed epochs of nnc")
    for key in ("samples", "features", "classes", "hidden", "batch", "seed", "repeats",
                "peer_repeats"):
        p.add_argument(f"--{key}", type=int, default=None)
    for key in ("density", "lr"):
        p.add_argument(f"--{key}", type=float, default=None)
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)
    p.add_argument("--spec", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def spec_from_args(args):
    spec = dict(DEFAULTS)
    if args.quick:
        spec.update(samples=5_000, repeats=2)
    for key in DEFAULTS:
        value = getattr(args, key, None)
        if value is not None:
            spec[key] = value
    return spec


def main(argv=None):
    args = parse_args(argv)
    if args.one:
        _cpu.pin_cpus(1)
        _cpu.set_thread_env(1)
        print(json.dumps(run_one(args.one, json.loads(args.spec))))
        return 0
    spec = spec_from_args(args)
    impls = [s.strip() for s in args.impls.split(",") if s.strip()]
    bad = [i for i in impls if i not in IMPLS]
    if bad:
        print(f"unknown implementations {bad}; choose from {','.join(IMPLS)}")
        return 2
    rows, errors = run_all(spec, impls)
    print()
    print(table(rows, spec))
    for e in errors:
        print(e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
