"""nnc.sklearn: scikit-learn's own estimator checks, behaviour and accuracy."""
import pickle
import warnings

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

sklearn = pytest.importorskip("sklearn")

from sklearn import datasets  # noqa: E402
from sklearn.compose import TransformedTargetRegressor  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.metrics import recall_score  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkMLPClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkMLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import (  # noqa: E402
    check_sample_weight_equivalence_on_dense_data, parametrize_with_checks)

import nnc  # noqa: E402
from nnc.sklearn import MLPClassifier, MLPRegressor  # noqa: E402


@parametrize_with_checks([
    MLPClassifier(),
    MLPRegressor(),
    MLPClassifier(solver="sgd", hidden_layer_sizes=(20, 10), activation="tanh",
                  learning_rate_init=0.01, threads=1),
    MLPRegressor(solver="sgd", hidden_layer_sizes=(20, 10), activation="tanh",
                 learning_rate_init=0.01, momentum=0.5, nesterovs_momentum=False, threads=1),
    MLPClassifier(class_weight="balanced", activation="logistic", threads=1),
    # (regularised: with alpha=0.01 L-BFGS drives logistic outputs to exactly 1.0 on
    # the checks' unscaled multilabel data -- scikit-learn's own MLP too -- which
    # their probability check refuses)
    MLPClassifier(solver="lbfgs", hidden_layer_sizes=(20,), alpha=1.0, threads=1),
    MLPRegressor(solver="lbfgs", hidden_layer_sizes=(20,), activation="tanh", threads=1),
])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _quiet(fn, *args, **kwargs):
    # one BLAS thread: scikit-learn's reference fits crawl when two cores are shared
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*args, **kwargs)


@pytest.fixture(scope="module")
def digits():
    X, y = datasets.load_digits(return_X_y=True)
    return train_test_split(X, y, random_state=0)


# -- sample weights: float32 agrees with repetition to float32 precision -------
@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_float32_sample_weight_equivalence_to_float32_precision(cls):
    # scikit-learn's check compares to 1e-7, below float32's resolution; the
    # float64 default passes it exactly (above).  Same check at float32's scale:
    from numpy.testing import assert_allclose
    rng = np.random.RandomState(42)
    X = rng.rand(15, 30)
    y = rng.randint(0, 3, size=15)
    sw = rng.randint(0, 5, size=15)
    kw = dict(dtype="float32", random_state=0, threads=1)
    rep = _quiet(cls(**kw).fit, X.repeat(sw, axis=0), y.repeat(sw))
    wei = _quiet(cls(**kw).fit, X, y, sample_weight=sw)
    out = "predict_proba" if cls is MLPClassifier else "predict"
    assert_allclose(getattr(wei, out)(X), getattr(rep, out)(X), rtol=1e-4, atol=1e-5)
    # the float64 default passes scikit-learn's exact check
    check_sample_weight_equivalence_on_dense_data(cls.__name__, cls())


# -- accuracy next to scikit-learn's MLP -----------------------------------------
def test_digits_default_params_match_sklearn(digits):
    Xtr, Xte, ytr, yte = digits
    ours = _quiet(MLPClassifier(random_state=0, threads=1).fit, Xtr, ytr).score(Xte, yte)
    ref = _quiet(SkMLPClassifier(random_state=0, max_iter=200).fit, Xtr, ytr).score(Xte, yte)
    assert ours > 0.95
    assert ours >= ref - 0.02


@pytest.mark.parametrize("loader", [datasets.load_iris, datasets.load_breast_cancer])
def test_small_classification_sets_match_sklearn(loader):
    X, y = loader(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0, stratify=y)
    ours = make_pipeline(StandardScaler(), MLPClassifier(random_state=0, threads=1))
    ref = make_pipeline(StandardScaler(), SkMLPClassifier(random_state=0))
    ours_score = _quiet(ours.fit, Xtr, ytr).score(Xte, yte)
    ref_score = _quiet(ref.fit, Xtr, ytr).score(Xte, yte)
    assert ours_score >= ref_score - 0.03
    assert ours_score > 0.9


def test_diabetes_regression_matches_sklearn():
    X, y = datasets.load_diabetes(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)

    def model(reg):
        return TransformedTargetRegressor(make_pipeline(StandardScaler(), reg),
                                          transformer=StandardScaler())
    ours = _quiet(model(MLPRegressor(random_state=0, threads=1)).fit, Xtr, ytr)
    ref = _quiet(model(SkMLPRegressor(random_state=0)).fit, Xtr, ytr)
    assert ours.score(Xte, yte) >= ref.score(Xte, yte) - 0.1
    assert ours.score(Xte, yte) > 0.1


# -- scikit-learn machinery ------------------------------------------------------
def test_pipeline_and_grid_search():
    X, y = datasets.load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=100, random_state=0,
                                                         learning_rate_init=0.01,
                                                         threads=1))
    grid = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(4,), (16,)],
                               "mlpclassifier__alpha": [1e-4, 1e-2]}, cv=3)
    _quiet(grid.fit, X, y)
    assert set(grid.best_params_) == {"mlpclassifier__hidden_layer_sizes",
                                      "mlpclassifier__alpha"}
    assert grid.best_score_ > 0.8
    assert grid.predict(X).shape == (150,)


def test_pickle_round_trip_keeps_predictions(digits):
    Xtr, Xte, ytr, _ = digits
    clf = _quiet(MLPClassifier(hidden_layer_sizes=(20,), max_iter=5, random_state=0,
                               threads=1).fit, Xtr, ytr)
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(Xte), clf.predict_proba(Xte))
    assert isinstance(back.network_, nnc.Network)
    # the unpickled copy keeps training on its own parameters
    _quiet(back.partial_fit, Xtr, ytr)
    assert not np.array_equal(back.predict_proba(Xte), clf.predict_proba(Xte))


# -- labels and outputs ------------------------------------------------------------
def test_string_labels_and_probabilities():
    X, y = datasets.load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = _quiet(MLPClassifier(max_iter=300, random_state=0, threads=1).fit,
                 StandardScaler().fit_transform(X), names)
    Xs = StandardScaler().fit_transform(X)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    pred = clf.predict(Xs)
    assert pred.dtype.kind == "U" and set(pred) <= set(names)
    assert (pred == names).mean() > 0.9
    proba = clf.predict_proba(Xs)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], pred)
    np.testing.assert_allclose(clf.predict_log_proba(Xs), np.log(proba), rtol=1e-6)


def test_binary_uses_one_logistic_output():
    X, y = datasets.load_breast_cancer(return_X_y=True)
    labels = np.where(y == 1, "benign", "malignant")
    X = StandardScaler().fit_transform(X)
    clf = _quiet(MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, learning_rate_init=0.01,
                               random_state=0, threads=1).fit, X, labels)
    assert clf.network_.sizes[-1] == 1 and clf.out_activation_ == "logistic"
    assert clf.network_.loss == "binary_crossentropy"
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba[:, 1], clf.network_.forward(X)[:, 0])
    assert clf.score(X, labels) > 0.95


def test_multilabel_indicator_targets():
    X, Y = datasets.make_multilabel_classification(n_samples=300, n_features=10,
                                                   n_classes=4, random_state=0)
    X = StandardScaler().fit_transform(X)
    Xtr, Xte, Ytr, Yte = train_test_split(X, Y, random_state=0)
    kw = dict(hidden_layer_sizes=(32,), max_iter=200, random_state=0)
    clf = _quiet(MLPClassifier(threads=1, **kw).fit, Xtr, Ytr)
    ref = _quiet(SkMLPClassifier(**kw).fit, Xtr, Ytr)
    assert clf.network_.activations[-1] == "sigmoid"
    assert clf.network_.loss == "binary_crossentropy"
    pred = clf.predict(Xte)
    assert pred.shape == Yte.shape and set(np.unique(pred)) <= {0, 1}
    assert (pred == Yte).mean() >= (ref.predict(Xte) == Yte).mean() - 0.03
    assert (pred == Yte).mean() > 0.75
    proba = clf.predict_proba(Xte)
    assert proba.shape == Yte.shape
    np.testing.assert_array_equal(pred, (proba > 0.5).astype(int))


def test_regressor_multi_output():
    X, Y = datasets.make_regression(n_samples=200, n_features=5, n_targets=3, noise=0.1,
                                    random_state=0)
    Y = Y / Y.std(axis=0)
    reg = _quiet(MLPRegressor(hidden_layer_sizes=(32,), max_iter=300, learning_rate_init=0.01,
                              random_state=0, threads=1).fit, X, Y)
    assert reg.predict(X).shape == (200, 3) and reg.predict(X).dtype == np.float64
    assert reg.score(X, Y) > 0.9
    assert reg.network_.activations[-1] == "identity" and reg.network_.loss == "quadratic"
    # loss_ is half the MSE averaged over outputs, as scikit-learn reports it
    mse = np.mean((reg.predict(X) - Y) ** 2) / 2
    penalty = reg.loss_ - mse
    assert 0 <= penalty < 0.2 * reg.loss_ + 1e-3


# -- parameters and attributes ---------------------------------------------------------
def test_coefs_and_transform_follow_sklearn_orientation(digits):
    Xtr, _, ytr, _ = digits
    clf = _quiet(MLPClassifier(hidden_layer_sizes=(30, 20), max_iter=3, random_state=0,
                               threads=1).fit, Xtr, ytr)
    assert [c.shape for c in clf.coefs_] == [(64, 30), (30, 20), (20, 10)]
    assert [b.shape for b in clf.intercepts_] == [(30,), (20,), (10,)]
    np.testing.assert_array_equal(clf.coefs_[0], clf.network_.weights[0].T)
    h = np.maximum(Xtr @ clf.coefs_[0] + clf.intercepts_[0], 0)
    h = np.maximum(h @ clf.coefs_[1] + clf.intercepts_[1], 0)
    np.testing.assert_allclose(clf.transform(Xtr), h, rtol=1e-10, atol=1e-10)
    assert clf.get_feature_names_out().tolist()[:2] == ["mlpclassifier0", "mlpclassifier1"]
    # live views: writing into them, or assigning a layer or a list, changes the network
    clf.coefs_[0][0, :] = 0
    assert np.abs(clf.network_.weights[0][:, 0]).sum() == 0
    clf.intercepts_[1] = np.arange(20.0)
    np.testing.assert_array_equal(clf.network_.biases[1], np.arange(20.0))
    new = [np.full(c.shape, 0.5) for c in clf.coefs_]
    clf.coefs_ = new
    new[0][...] = 7  # assigning copies: the caller's arrays stay the caller's
    assert (clf.network_.weights[0] == 0.5).all() and (clf.coefs_[2] == 0.5).all()
    with pytest.raises(ValueError, match="shape"):
        clf.coefs_[0] = np.zeros((3, 3))
    assert clf.n_features_in_ == 64 and clf.n_layers_ == 4 and clf.n_outputs_ == 10


def test_dtype_follows_data_unless_given(digits):
    Xtr, _, ytr, _ = digits
    kw = dict(hidden_layer_sizes=(8,), max_iter=2, random_state=0, threads=1)
    assert _quiet(MLPClassifier(**kw).fit, Xtr, ytr).network_.dtype == np.float64
    assert _quiet(MLPClassifier(**kw).fit, Xtr.astype(np.float32), ytr).network_.dtype == \
        np.float32
    clf = _quiet(MLPClassifier(dtype="float32", **kw).fit, Xtr, ytr)
    assert clf.network_.dtype == np.float32 and clf.predict_proba(Xtr).dtype == np.float32


@pytest.mark.parametrize("param, value, exc", [
    ("hidden_layer_sizes", (10, 0), ValueError),
    ("hidden_layer_sizes", "10", TypeError),
    ("activation", "softmax", ValueError),
    ("activation", "bogus", ValueError),
    ("solver", "newton", ValueError),
    ("max_fun", 0, ValueError),
    ("n_iter_no_change", 1.5, ValueError),
    ("alpha", -1.0, ValueError),
    ("batch_size", 0, ValueError),
    ("learning_rate", "optimal", ValueError),
    ("learning_rate_init", 0.0, ValueError),
    ("max_iter", 0, ValueError),
    ("momentum", 1.0, ValueError),
    ("validation_fraction", 1.0, ValueError),
    ("beta_2", 1.0, ValueError),
    ("epsilon", 0.0, ValueError),
    ("n_iter_no_change", 0, ValueError),
    ("dtype", "float16", ValueError),
    ("dropout", 1.0, ValueError),
    ("threads", 0, ValueError),
    ("class_weight", "unbalanced", ValueError),
    ("class_weight", {7: 2.0}, ValueError),
])
def test_bad_parameters_name_the_parameter(param, value, exc):
    X, y = datasets.load_iris(return_X_y=True)
    kwargs = {"max_iter": 1, param: value}
    with pytest.raises(exc, match=param.split("_")[0]):
        _quiet(MLPClassifier(**kwargs).fit, X, y)


def test_sklearn_activation_names_and_nnc_names():
    X, y = datasets.load_iris(return_X_y=True)
    for name, expected in [("identity", "identity"), ("logistic", "sigmoid"),
                           ("tanh", "tanh"), ("relu", "relu"), ("gelu", "gelu"),
                           ("leaky_relu", "leaky_relu")]:
        clf = _quiet(MLPClassifier(activation=name, hidden_layer_sizes=(5,), max_iter=2,
                                   threads=1).fit, X, y)
        assert clf.network_.activations == (expected, "softmax")


# -- training behaviour ----------------------------------------------------------------
def test_class_weight_balanced_raises_minority_recall():
    X, y = datasets.make_classification(n_samples=600, n_features=8, weights=[0.92, 0.08],
                                        class_sep=0.5, flip_y=0.02, random_state=3)
    kw = dict(hidden_layer_sizes=(16,), max_iter=100, random_state=0, threads=1)
    plain = _quiet(MLPClassifier(**kw).fit, X, y)
    balanced = _quiet(MLPClassifier(class_weight="balanced", **kw).fit, X, y)
    r_plain = recall_score(y, plain.predict(X))
    r_bal = recall_score(y, balanced.predict(X))
    assert r_bal > r_plain + 0.1
    # a dict favouring class 1 also shifts predictions towards it
    heavy = _quiet(MLPClassifier(class_weight={0: 1.0, 1: 10.0}, **kw).fit, X, y)
    assert (heavy.predict(X) == 1).sum() > (plain.predict(X) == 1).sum()


def test_sample_weight_zero_equals_dropping_samples():
    X, y = datasets.load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    sw = np.ones(150)
    sw[::3] = 0
    kw = dict(hidden_layer_sizes=(8,), max_iter=20, random_state=0, batch_size=150,
              threads=1)
    weighted = _quiet(MLPClassifier(**kw).fit, X, y, sample_weight=sw)
    kw["batch_size"] = 100
    dropped = _quiet(MLPClassifier(**kw).fit, X[sw > 0], y[sw > 0])
    np.testing.assert_allclose(weighted.predict_proba(X), dropped.predict_proba(X),
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("solver, kw", [
    ("adam", {}),
    ("sgd", {"learning_rate_init": 0.01}),
    ("sgd", {"learning_rate_init": 0.05, "learning_rate": "invscaling", "power_t": 0.25}),
])
def test_partial_fit_continues_optimizer_state(digits, solver, kw):
    Xtr, _, ytr, _ = digits
    params = dict(hidden_layer_sizes=(20,), solver=solver, shuffle=False, random_state=0,
                  tol=0.0, n_iter_no_change=1000, threads=1, **kw)
    steps = 4
    whole = _quiet(MLPClassifier(max_iter=steps, **params).fit, Xtr, ytr)
    parts = MLPClassifier(**params)
    for _ in range(steps):
        parts.partial_fit(Xtr, ytr, classes=np.arange(10))
    for a, b in zip(whole.coefs_ + whole.intercepts_, parts.coefs_ + parts.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert parts.n_iter_ == steps and len(parts.loss_curve_) == steps
    np.testing.assert_allclose(parts.loss_curve_, whole.loss_curve_, rtol=1e-12)

    # warm_start continues the same way: 2 epochs then 2 more == 4 in one go
    warm = _quiet(MLPClassifier(max_iter=2, warm_start=True, **params).fit, Xtr, ytr)
    _quiet(warm.fit, Xtr, ytr)
    for a, b in zip(whole.coefs_, warm.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_partial_fit_with_reset_state_would_differ(digits):
    # Guard against the test above passing trivially: restarting Adam from zero
    # moments (what scikit-learn's warm start does) gives other weights.
    Xtr, _, ytr, _ = digits
    params = dict(hidden_layer_sizes=(20,), shuffle=False, random_state=0, threads=1)
    a = MLPClassifier(**params)
    a.partial_fit(Xtr, ytr, classes=np.arange(10))
    b = pickle.loads(pickle.dumps(a))
    a.partial_fit(Xtr, ytr)
    b.network_.fit(Xtr, ytr, batch_size=200, optimizer=nnc.optimizers.Adam(lr=0.001,
                                                                          l2=1e-4 / 200),
                   shuffle=False, verbose=0, threads=1)
    assert not np.allclose(a.coefs_[0], b.coefs_[0], rtol=1e-6, atol=1e-8)


def test_partial_fit_needs_classes_and_known_labels(digits):
    Xtr, _, ytr, _ = digits
    clf = MLPClassifier(hidden_layer_sizes=(5,), threads=1)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(Xtr, ytr)
    clf.partial_fit(Xtr[ytr < 5], ytr[ytr < 5], classes=np.arange(10))
    assert clf.network_.sizes[-1] == 10
    clf.partial_fit(Xtr[ytr >= 5], ytr[ytr >= 5])
    with pytest.raises(ValueError, match="not seen"):
        clf.partial_fit(Xtr[:5], np.full(5, 11))
    with pytest.raises(ValueError, match="early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(Xtr, ytr, classes=np.arange(10))


def test_stops_like_sklearn_and_warns_at_max_iter(digits):
    Xtr, _, ytr, _ = digits
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(3\\)"):
        clf = MLPClassifier(hidden_layer_sizes=(10,), max_iter=3, threads=1).fit(Xtr, ytr)
    assert clf.n_iter_ == 3
    # a huge tol: only the first epoch counts as an improvement (on an infinite
    # best loss), so training stops after more than n_iter_no_change further
    # epochs, without a warning -- as scikit-learn counts them
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = MLPClassifier(hidden_layer_sizes=(10,), tol=1e6, n_iter_no_change=4,
                            threads=1).fit(Xtr, ytr)
        with threadpool_limits(1):
            ref = SkMLPClassifier(hidden_layer_sizes=(10,), tol=1e6,
                                  n_iter_no_change=4).fit(Xtr, ytr)
    assert clf.n_iter_ == ref.n_iter_ == 6
    assert clf.best_loss_ == min(clf.loss_curve_)
    loss = np.array(clf.loss_curve_)
    assert np.all(np.isfinite(loss)) and loss[-1] < loss[0]


def test_adaptive_learning_rate_divides_by_five(digits, capsys):
    Xtr, _, ytr, _ = digits
    clf = MLPClassifier(hidden_layer_sizes=(10,), solver="sgd", learning_rate="adaptive",
                        learning_rate_init=0.01, tol=1e6, n_iter_no_change=1, max_iter=6,
                        verbose=True, threads=1)
    _quiet(clf.fit, Xtr, ytr)
    lrs = clf.network_.history["lr"]
    # no improvement counted from epoch 2; more than one such epoch in a row
    # (epochs 2-3, then 4-5) divides the rate by 5, as in scikit-learn
    np.testing.assert_allclose(lrs, [0.01, 0.01, 0.01, 0.002, 0.002, 0.0004])
    out = capsys.readouterr().out
    assert "Iteration 1, loss = " in out and "Setting learning rate to 0.002" in out


def test_early_stopping_keeps_best_validation_weights(digits):
    Xtr, _, ytr, _ = digits
    clf = MLPClassifier(hidden_layer_sizes=(20,), early_stopping=True, n_iter_no_change=3,
                        random_state=0, max_iter=100, threads=1)
    _quiet(clf.fit, Xtr, ytr)
    assert len(clf.validation_scores_) == clf.n_iter_ < 100
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.best_loss_ is None
    # the restored weights are the best epoch's: rescoring the split reproduces it
    idx = np.arange(len(Xtr))
    rng = np.random.RandomState(0)
    for W in clf.network_.weights:        # the initial weights and biases
        rng.uniform(size=W.size)
        rng.uniform(size=W.shape[0])
    rng.randint(np.iinfo(np.int32).max)   # the network seed
    # scikit-learn stratifies binary targets only
    _, val = train_test_split(idx, random_state=rng, test_size=0.1)
    assert clf.score(Xtr[val], ytr[val]) == pytest.approx(clf.best_validation_score_)


def test_transform_in_pipeline_and_dropout_threads():
    X, y = datasets.load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = _quiet(MLPClassifier(hidden_layer_sizes=(12, 6), dropout=[0.2, 0.0], threads=2,
                               random_state=0, max_iter=50).fit, X, y)
    assert clf.network_.dropout[:2] == (0.2, 0.0)
    Z = clf.transform(X)
    assert Z.shape == (150, 6) and (Z >= 0).all()
    np.testing.assert_allclose(Z, clf.network_.forward(X, layer=2))
    np.testing.assert_allclose(clf.fit_transform(X, y).shape, (150, 6))


# -- lbfgs and poisson, next to scikit-learn's own -------------------------------------
def test_lbfgs_follows_sklearn_lbfgs_step_for_step():
    # the same start (scikit-learn's initialisation), the same objective and
    # gradient, the same scipy driver: the same iterates, to rounding
    X, y = datasets.load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    kw = dict(solver="lbfgs", hidden_layer_sizes=(10,), max_iter=15, random_state=0,
              activation="tanh", alpha=1e-3)
    ours = _quiet(MLPClassifier(threads=1, **kw).fit, X, y)
    ref = _quiet(SkMLPClassifier(**kw).fit, X, y)
    assert ours.n_iter_ == ref.n_iter_ == 15
    for a, b in zip(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)
    assert ours.loss_ == pytest.approx(ref.loss_, rel=1e-9)
    assert len(ours.loss_curve_) == 15 and ours.loss_curve_[-1] == pytest.approx(ours.loss_)
    assert ours.t_ == 0 and ours.validation_scores_ is None


def test_poisson_regression_follows_sklearn():
    rng = np.random.RandomState(0)
    X = rng.rand(300, 3)
    y = rng.poisson(np.exp(X @ np.array([1.0, -0.5, 0.3])))
    kw = dict(loss="poisson", solver="lbfgs", hidden_layer_sizes=(5,), max_iter=10,
              random_state=0)
    ours = _quiet(MLPRegressor(threads=1, **kw).fit, X, y)
    ref = _quiet(SkMLPRegressor(**kw).fit, X, y)
    assert ours.out_activation_ == ref.out_activation_ == "exp"
    assert ours.network_.loss == "poisson" and ours.network_.activations[-1] == "exp"
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-7)
    assert ours.loss_ == pytest.approx(ref.loss_, rel=1e-9)
    # the stochastic solvers train it too, and counts must not be negative
    adam = _quiet(MLPRegressor(loss="poisson", random_state=0, max_iter=50).fit, X, y)
    assert (adam.predict(X) > 0).all() and adam.score(X, y) > 0
    with pytest.raises(ValueError, match="negative"):
        MLPRegressor(loss="poisson").fit(X, y - 5.0)


def test_lbfgs_limits_warn_and_it_has_no_partial_fit():
    X, y = datasets.load_iris(return_X_y=True)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        clf = MLPClassifier(solver="lbfgs", max_fun=5, threads=1).fit(X, y)
    assert clf.n_iter_ <= 5
    assert not hasattr(clf, "partial_fit")
    with pytest.raises(AttributeError, match="partial_fit"):
        MLPRegressor(solver="lbfgs").partial_fit(X, y)


def test_coefs_assigned_before_fitting_are_the_start_of_partial_fit():
    # one plain SGD step on one batch, from weights the user set, against NumPy
    rng = np.random.RandomState(0)
    X, y = rng.rand(8, 3), rng.rand(8)
    W1, b1, W2, b2 = rng.randn(3, 4), rng.randn(4), rng.randn(4, 1), rng.randn(1)
    reg = MLPRegressor(hidden_layer_sizes=(4,), solver="sgd", momentum=0.0, alpha=0.0,
                       learning_rate_init=0.1, batch_size=8, threads=1)
    reg.coefs_ = [W1.copy(), np.zeros((4, 1))]
    reg.coefs_[1] = W2.copy()
    reg.intercepts_ = [b1.copy(), b2.copy()]
    reg.partial_fit(X, y)
    h = np.maximum(X @ W1 + b1, 0)
    delta = (h @ W2 + b2 - y[:, None]) / 8
    dh = (delta @ W2.T) * (h > 0)
    np.testing.assert_allclose(reg.coefs_[1], W2 - 0.1 * h.T @ delta, rtol=1e-12)
    np.testing.assert_allclose(reg.coefs_[0], W1 - 0.1 * X.T @ dh, rtol=1e-12)
    np.testing.assert_allclose(reg.intercepts_[0], b1 - 0.1 * dh.sum(axis=0), rtol=1e-12)


def test_sklearn_attributes_and_stopping_options():
    X, y = datasets.load_iris(return_X_y=True)
    clf = _quiet(MLPClassifier(hidden_layer_sizes=(5,), max_iter=30, tol=1e9,
                               n_iter_no_change=np.inf, threads=1).fit, X, y)
    assert clf.n_iter_ == 30  # the stopping rule is off
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    reg = _quiet(MLPRegressor(hidden_layer_sizes=(5,), max_iter=5, threads=1).fit,
                 X.astype(np.float32), y)
    assert reg.predict(X.astype(np.float32)).dtype == np.float32
    assert all(c.dtype == np.float32 for c in reg.coefs_ + reg.intercepts_)


def test_warm_start_with_other_classes_is_refused():
    X, y = datasets.load_iris(return_X_y=True)
    clf = _quiet(MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, warm_start=True,
                               threads=1).fit, X, y)
    with pytest.raises(ValueError, match="same classes"):
        clf.fit(X, np.where(y == 2, 5, y))
    with pytest.raises(ValueError, match="same classes"):
        clf.fit(X[y < 2], y[y < 2])


def test_diverging_run_with_early_stopping_keeps_the_best_weights():
    X, y = datasets.load_iris(return_X_y=True)
    reg = MLPRegressor(hidden_layer_sizes=(50,), activation="identity", solver="sgd",
                       learning_rate_init=1.0, max_iter=20, early_stopping=True,
                       random_state=0, threads=1)
    with pytest.warns(ConvergenceWarning, match="diverged"):
        reg.fit(X, y)
    assert np.isnan(reg.validation_scores_[-1]) and isinstance(reg.validation_scores_[-1],
                                                               float)
    assert np.isfinite(reg.network_.params).all() and np.isfinite(reg.predict(X)).all()
    # without early stopping, scikit-learn's error
    with pytest.raises(ValueError, match="non-finite parameter weights"):
        _quiet(reg.set_params(early_stopping=False).fit, X, y)
