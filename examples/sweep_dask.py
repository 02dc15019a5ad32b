"""
A hyper-parameter sweep on Dask
===============================

A hyper-parameter sweep of nnc's MLPClassifier on MNIST, run three ways:
sequentially, on a Dask cluster (joblib's Dask backend) and on threads
(joblib's threading backend: nnc's engine releases the GIL).

The three searches use the same estimator and random_state, so they find the
same scores; the script prints the best configuration and each wall time.
The documentation build runs a 2 x 2 grid on 1,500 images on a two-worker
LocalCluster and the threads backend (``--quick --skip-sequential``).

.. code-block:: bash

    python examples/sweep_dask.py                       # a LocalCluster here
    python examples/sweep_dask.py --scheduler tcp://scheduler:8786
    python examples/sweep_dask.py --train-size 2000 --quick

A cluster elsewhere: start ``dask scheduler`` on one machine and ``dask worker
tcp://scheduler:8786 --nthreads 1`` on each of the others (nnc installed on
all), then pass ``--scheduler``.
"""
import argparse
import time
import warnings

import numpy as np


def _warm_up():
    import sklearn.model_selection  # noqa: F401

    import nnc.sklearn  # noqa: F401


def main(argv=None):
    p = argparse.ArgumentParser(
        description=next((line for line in (__doc__ or "").splitlines() if line.strip()), None))
    p.add_argument("--train-size", type=int, default=10000,
                   help="MNIST training images in the sweep (default 10000)")
    p.add_argument("--epochs", type=int, default=5, help="max_iter of each fit (default 5)")
    p.add_argument("--cv", type=int, default=3)
    p.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    p.add_argument("--scheduler", help="address of a running scheduler, e.g. "
                   "tcp://scheduler:8786 (default: start a LocalCluster)")
    p.add_argument("--skip-sequential", action="store_true")
    p.add_argument("--quick", action="store_true", help="a 2 x 2 grid")
    args = p.parse_args(argv)

    import joblib
    from dask.distributed import Client, LocalCluster
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV
    from threadpoolctl import threadpool_limits

    import nnc
    from nnc.sklearn import MLPClassifier

    warnings.simplefilter("ignore", ConvergenceWarning)
    (X, y), _ = nnc.datasets.load_mnist()
    X, y = X[:args.train_size], y[:args.train_size]
    grid = {"hidden_layer_sizes": [(32,), (64,), (128,)],
            "learning_rate_init": [1e-3, 3e-3, 1e-2]}
    if args.quick:
        grid = {"hidden_layer_sizes": [(16,), (32,)], "learning_rate_init": [1e-3, 1e-2]}
    # One thread per fit: the sweep's parallelism is across fits.
    est = MLPClassifier(max_iter=args.epochs, batch_size=64, random_state=0, threads=1)
    n_fits = args.cv * int(np.prod([len(v) for v in grid.values()]))
    print(f"{n_fits} fits ({args.cv}-fold CV over {grid}) on {len(X):,} MNIST images, "
          f"{args.epochs} epochs each", flush=True)

    def search(**kwargs):
        return GridSearchCV(est, grid, cv=args.cv, **kwargs)

    times, searches = {}, {}
    if not args.skip_sequential:
        t0 = time.perf_counter()
        searches["sequential"] = search().fit(X, y)
        times["sequential"] = time.perf_counter() - t0

    if args.scheduler:
        client = Client(args.scheduler)
        cluster = None
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1,
                               processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        n_workers = len(client.scheduler_info()["workers"])
        # Import nnc and scikit-learn on every worker before the clock starts.
        client.run(_warm_up)
        t0 = time.perf_counter()
        with joblib.parallel_backend("dask"):
            searches["dask"] = search(n_jobs=-1).fit(X, y)
        times["dask"] = time.perf_counter() - t0
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

    # Fits in threads share one BLAS: keep it at one thread for the whole
    # search.  (Each fit limits BLAS to its own ``threads`` and restores the
    # previous limit when it ends; a fit ending while another runs would
    # otherwise hand the other one a multi-threaded BLAS whose worker threads
    # then compete with the concurrent fit -- about 15x slower here.)
    t0 = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"), \
            joblib.parallel_backend("threading", n_jobs=args.workers):
        searches["threads"] = search(n_jobs=args.workers).fit(X, y)
    times["threads"] = time.perf_counter() - t0

    best = searches["dask"]
    print(f"best: {best.best_params_}  mean CV accuracy {best.best_score_:.4f}")
    scores = {k: s.cv_results_["mean_test_score"] for k, s in searches.items()}
    same = all(np.array_equal(v, scores["dask"]) for v in scores.values())
    print(f"same cv_results_ scores in every run: {same}")
    base = times.get("sequential")
    for name, seconds in times.items():
        extra = f" ({base / seconds:.2f}x vs sequential)" if base and name != "sequential" else ""
        where = f", {n_workers} Dask workers" if name == "dask" else (
            f", {args.workers} threads" if name == "threads" else "")
        print(f"{name}: {seconds:.2f} s{where}{extra}")
    if not same:
        raise SystemExit("the searches disagree")
    return times


if __name__ == "__main__":
    main()
