"""nnc.sklearn next to scikit-learn's MLP: L-BFGS and the Poisson loss.

Both estimators get the same data, hidden sizes, iteration limits and
random_state, on one thread (BLAS included); fits alternate between the two
so that the machine's load falls on both alike.  Reported: the best fit time
of ``--repeats``, the ratio, iterations, and the score on held-out data.

    python bench/sklearn_solvers.py [--repeats 3] [--out bench/results/sklearn_solvers.md]

1. digits (scikit-learn's 8x8 digits, standardized), MLPClassifier
   hidden (100,), solver="lbfgs", max_iter=200: test accuracy.
2. counts y ~ Poisson(exp(g(X))) with a non-linear g, MLPRegressor
   loss="poisson", hidden (32,), solvers lbfgs (max_iter=200) and adam
   (max_iter=200): mean Poisson deviance on held-out data.
"""
import argparse
import os
import platform
import sys
import time
import warnings

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported: one thread everywhere

import numpy as np  # noqa: E402
from sklearn import neural_network as sk  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.metrics import mean_poisson_deviance  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import nnc.sklearn as ours  # noqa: E402


def digits():
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0, stratify=y)
    scaler = StandardScaler().fit(Xtr)
    return scaler.transform(Xtr), scaler.transform(Xte), ytr, yte


def counts(n=6000, d=10, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-1, 1, (n, d))
    g = 0.8 * np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] * X[:, 2] - 0.4 * X[:, 3] ** 2 + 0.7
    y = rng.poisson(np.exp(g)).astype(float)
    return train_test_split(X, y, random_state=0)


def timed_fit(make, X, y):
    model = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X, y)
    return time.perf_counter() - start, model


def compare(name, make_sk, make_nnc, data, score, repeats):
    """Alternate the two fits ``repeats`` times; keep each one's best time."""
    Xtr, Xte, ytr, yte = data
    best = {"scikit-learn": (np.inf, None), "nnc": (np.inf, None)}
    for _ in range(repeats):
        for who, make in (("scikit-learn", make_sk), ("nnc", make_nnc)):
            seconds, model = timed_fit(make, Xtr, ytr)
            if seconds < best[who][0]:
                best[who] = (seconds, model)
    rows = []
    for who, (seconds, model) in best.items():
        rows.append({"case": name, "impl": who, "seconds": seconds, "n_iter": model.n_iter_,
                     "loss": float(model.loss_), "score": score(model, Xte, yte)})
    rows[1]["ratio"] = rows[1]["seconds"] / rows[0]["seconds"]
    return rows


def accuracy(model, X, y):
    return float(model.score(X, y))


def deviance(model, X, y):
    return float(mean_poisson_deviance(y, model.predict(X)))


def run(repeats):
    cases = []
    kw = dict(solver="lbfgs", hidden_layer_sizes=(100,), max_iter=200, random_state=0)
    cases += compare("digits, lbfgs, (100,), accuracy", lambda: sk.MLPClassifier(**kw),
                     lambda: ours.MLPClassifier(threads=1, **kw), digits(), accuracy, repeats)
    data = counts()
    for solver in ("lbfgs", "adam"):
        kw = dict(loss="poisson", solver=solver, hidden_layer_sizes=(32,), max_iter=200,
                  random_state=0)
        cases += compare(f"poisson counts, {solver}, (32,), deviance",
                         lambda kw=kw: sk.MLPRegressor(**kw),
                         lambda kw=kw: ours.MLPRegressor(threads=1, **kw), data, deviance,
                         repeats)
    return cases


def _cpu():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        return f"{names[0]} ({len(names)} logical CPUs)"
    except (OSError, IndexError):
        return platform.processor() or platform.machine()


def table(rows, repeats):
    import sklearn
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [f"CPU: {_cpu()}, one thread, load average {load:.1f}; scikit-learn "
             f"{sklearn.__version__}, numpy {np.__version__}; best of {repeats}",
             "", "| case | impl | fit (s) | nnc / sklearn time | iterations | loss_ | score |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if "ratio" in r else ""
        lines.append(f"| {r['case']} | {r['impl']} | {r['seconds']:.3f} | {ratio} | "
                     f"{r['n_iter']} | {r['loss']:.5f} | {r['score']:.4f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", help="also write the table to this Markdown file")
    args = parser.parse_args(argv)
    with threadpool_limits(1):
        text = table(run(args.repeats), args.repeats)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
