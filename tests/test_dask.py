"""Hyper-parameter sweeps of nnc's scikit-learn estimators on Dask and threads.

The same GridSearchCV, with the same random_state, must give the same
cv_results_ sequentially, under joblib's threading backend (the engine
releases the GIL, so folds run in parallel) and under joblib's Dask backend
on a dask.distributed LocalCluster.
"""
import io
import pickle

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="scikit-learn is not installed (pip install 'nnc[sklearn]')")
joblib = pytest.importorskip("joblib", reason="joblib is not installed")
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV  # noqa: E402

from nnc.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)

GRID = {"hidden_layer_sizes": [(8,), (16,)], "learning_rate_init": [1e-3, 1e-2]}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:450] / 16.0, y[:450]


def estimator():
    # threads=1: an estimator's result depends on its thread count only.
    return MLPClassifier(max_iter=12, batch_size=32, random_state=0, threads=1)


@pytest.fixture(scope="module")
def sequential(digits):
    return GridSearchCV(estimator(), GRID, cv=3).fit(*digits)


def assert_same_search(a, b):
    for key in ("mean_test_score", "std_test_score", "rank_test_score"):
        np.testing.assert_array_equal(a.cv_results_[key], b.cv_results_[key], err_msg=key)
    assert a.best_params_ == b.best_params_
    np.testing.assert_array_equal(a.best_estimator_.network_.params,
                                  b.best_estimator_.network_.params)


@pytest.fixture(scope="module")
def dask_client():
    pytest.importorskip("dask", reason="dask is not installed (pip install 'nnc[dask]')")
    distributed = pytest.importorskip(
        "distributed", reason="dask.distributed is not installed (pip install 'nnc[dask]')")
    # Threads in this process: starting worker processes takes seconds
    # (examples/sweep_dask.py runs a process cluster).
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_grid_search_on_dask_equals_sequential(digits, sequential, dask_client):
    search = GridSearchCV(estimator(), GRID, cv=3, n_jobs=-1)
    with joblib.parallel_backend("dask"):
        search.fit(*digits)
    assert_same_search(search, sequential)
    assert len(dask_client.scheduler_info()["workers"]) == 1


def test_randomized_search_on_dask_equals_sequential(digits, dask_client):
    space = {"hidden_layer_sizes": [(4,), (8,), (12,)], "alpha": [1e-4, 1e-3, 1e-2],
             "learning_rate_init": [3e-3, 1e-2]}
    make = lambda **kw: RandomizedSearchCV(estimator(), space, n_iter=3, cv=2,  # noqa: E731
                                           random_state=1, **kw)
    seq = make().fit(*digits)
    with joblib.parallel_backend("dask"):
        par = make(n_jobs=-1).fit(*digits)
    assert_same_search(par, seq)


def test_grid_search_on_threads_equals_sequential(digits, sequential):
    search = GridSearchCV(estimator(), GRID, cv=3, n_jobs=2)
    with joblib.parallel_backend("threading", n_jobs=2):
        search.fit(*digits)
    assert_same_search(search, sequential)


@pytest.mark.parametrize("make", [estimator, lambda: MLPRegressor(
    hidden_layer_sizes=(5,), max_iter=5, random_state=0, threads=1)])
def test_estimators_pickle_cleanly(digits, make):
    X, y = digits
    target = y if isinstance(make(), MLPClassifier) else y / 9.0
    unfitted = make()
    assert pickle.loads(pickle.dumps(unfitted)).get_params() == unfitted.get_params()
    fitted = make().fit(X, target)
    blob = pickle.dumps(fitted)
    again = pickle.loads(blob)
    np.testing.assert_array_equal(again.predict(X), fitted.predict(X))
    # Nothing but plain data in the pickle: record every class it refers to.
    classes = set()

    class Recorder(pickle.Unpickler):
        def find_class(self, module, name):
            classes.add(f"{module}.{name}")
            return super().find_class(module, name)

    Recorder(io.BytesIO(blob)).load()
    nnc_classes = {c for c in classes if c.startswith("nnc.")}
    assert nnc_classes <= {"nnc.sklearn.MLPClassifier", "nnc.sklearn.MLPRegressor",
                           "nnc.network.Network", "nnc.optimizers.SGD", "nnc.optimizers.Adam",
                           "nnc.optimizers.Schedule"}, nnc_classes
    assert not {c for c in classes if c.split(".")[0] in ("_thread", "threading", "io",
                                                          "_io", "socket", "mmap")}, classes
    # A pickled fitted estimator keeps training where it stopped.
    again.partial_fit(X, target)
