"""scikit-learn estimators backed by :class:`nnc.Network`.

:class:`MLPClassifier` and :class:`MLPRegressor` take scikit-learn's
parameter names, defaults, solvers (``"adam"``, ``"sgd"``, ``"lbfgs"``) and
stopping rule, so code written for ``sklearn.neural_network`` runs on them
unchanged (scikit-learn's own ``test_mlp.py`` is run against them in nnc's
test suite); the training itself runs in nnc's Cython engine.  They also
give what scikit-learn's MLP lacks:

- ``partial_fit`` and ``warm_start`` continue with the optimizer's state
  (Adam's moments, momentum) instead of resetting it;
- ``class_weight`` (including ``"balanced"``) in the classifier;
- ``transform(X)``: the activations of the last hidden layer;
- ``dropout``, ``dtype`` (float32 training for float32 data or on request) and ``threads``.

scikit-learn is an optional dependency: ``pip install nnc[sklearn]``.

>>> from sklearn.datasets import load_digits
>>> from nnc.sklearn import MLPClassifier
>>> X, y = load_digits(return_X_y=True)
>>> clf = MLPClassifier(random_state=0).fit(X / 16, y)
"""
from __future__ import annotations

import warnings
from itertools import pairwise
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

import numpy as np

try:
    from sklearn.base import (
        BaseEstimator,
        ClassifierMixin,
        ClassNamePrefixFeaturesOutMixin,
        RegressorMixin,
        TransformerMixin,
    )
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state
    from sklearn.utils._param_validation import Interval, Options, StrOptions
    from sklearn.utils.class_weight import compute_class_weight
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import _check_partial_fit_first_call, unique_labels
    from sklearn.utils.validation import (
        _check_sample_weight,
        check_is_fitted,
        column_or_1d,
        validate_data,
    )
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("nnc.sklearn needs scikit-learn >= 1.7: pip install 'nnc[sklearn]'") \
        from exc

from scipy import sparse as _sp

from nnc import _validation as V
from nnc import activations as _acts
from nnc import callbacks as _callbacks
from nnc import optimizers as _optimizers
from nnc.network import DivergenceError, Network

if TYPE_CHECKING:
    from collections.abc import Sequence

    from typing_extensions import Self

    from nnc._typing import ArrayLike, DTypeLike, FloatArray, NDArray, XLike

__all__ = ["MLPClassifier", "MLPRegressor"]

#: hidden activations: scikit-learn's four names and nnc's own
_HIDDEN = sorted((set(_acts.CODES) | set(_acts.ALIASES)) - {"softmax", "step"})
#: scikit-learn's names for nnc's output activations (out_activation_)
_SK_NAMES = {"sigmoid": "logistic", "identity": "identity", "softmax": "softmax",
             "exp": "exp"}
_DIVERGED = ("Solver produced non-finite parameter weights. The input data may contain "
             "large values and need to be preprocessed.")


# ---------------------------------------------------------------------------
# the one door into the network: every training call of this module
# ---------------------------------------------------------------------------
def _train_epochs(net, X, y, *, solver, hyper, epochs, batch_size, shuffle, sample_weight,
                  threads, rule):
    """Train ``net`` for up to ``epochs`` epochs (L-BFGS: iterations).

    This is the only place where nnc.sklearn calls into the network's
    training API: ``hyper`` holds the optimizer's hyper-parameters, ``rule``
    is the stopping rule (a callback).  Returns the L-BFGS result, or None.
    """
    if solver == "lbfgs":
        optimizer = _optimizers.LBFGS(l2=hyper["l2"], max_fun=hyper["max_fun"], tol=hyper["tol"])
        net.fit(X, y, epochs=epochs, optimizer=optimizer, shuffle=False, verbose=0,
                sample_weight=sample_weight, threads=threads)
        return optimizer.result
    make = _optimizers.Adam if solver == "adam" else _optimizers.SGD
    optimizer = make(**hyper)
    # partial_fit and warm starts continue Adam's moments or the momentum
    optimizer.take_state(net.optimizer)
    net.fit(X, y, epochs=epochs, batch_size=batch_size, shuffle=shuffle, verbose=0,
            optimizer=optimizer, sample_weight=sample_weight, threads=threads,
            callbacks=[rule])
    return None


class _StoppingRule(_callbacks.Callback):
    """scikit-learn's stopping rule for the stochastic solvers, as a callback.

    After each epoch it records ``loss_`` (scikit-learn's scale: the mean
    loss plus the L2 penalty) in ``loss_curve_``, counts the epochs without
    an improvement of ``tol`` of the training loss (or, with early stopping,
    of the validation score) and stops after more than ``n_iter_no_change``
    of them -- or, with ``learning_rate="adaptive"``, divides the learning
    rate by 5 first.  With early stopping it keeps the best weights.
    """

    def __init__(self, estimator, *, incremental, validation, loss_scale, penalty_scale,
                 n_seen):
        self.estimator, self.incremental, self.validation = estimator, incremental, validation
        self.loss_scale, self.penalty_scale, self.n_seen = loss_scale, penalty_scale, n_seen
        self.stopped = False
        self.best_params = None

    def on_train_begin(self, logs=None):
        """Nothing stopped yet, no best weights."""
        self.stopped, self.best_params = False, None

    def on_epoch_end(self, epoch, logs=None):
        """Record the epoch; True stops training."""
        est = self.estimator
        sq = sum(float(np.dot(W.ravel(order="K"), W.ravel(order="K")))
                 for W in self.network.weights)
        est.loss_ = logs["loss"] / self.loss_scale + self.penalty_scale * sq
        est.loss_curve_.append(est.loss_)
        est.n_iter_ += 1
        est.t_ += self.n_seen
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")
        if self.validation is not None:
            self.record_score(est._validation_score(*self.validation))
        else:
            self._count(est.loss_curve_[-1] > est.best_loss_ - est.tol)
            est.best_loss_ = min(est.best_loss_, est.loss_curve_[-1])
        if self.incremental or est._no_improvement_count <= est.n_iter_no_change:
            return False
        return self._give_up()

    def record_score(self, score):
        """A validation score (NaN once training diverged); keep the best weights."""
        est = self.estimator
        est.validation_scores_.append(float(score))
        if est.verbose:
            print(f"Validation score: {score:f}")
        self._count(score < est.best_validation_score_ + est.tol)
        if score > est.best_validation_score_:
            est.best_validation_score_ = float(score)
            self.best_params = self.network.params.copy()

    def _count(self, no_improvement):
        est = self.estimator
        est._no_improvement_count = est._no_improvement_count + 1 if no_improvement else 0

    def _give_up(self):
        est = self.estimator
        what = "Validation score" if self.validation is not None else "Training loss"
        msg = (f"{what} did not improve more than tol={est.tol:f} for "
               f"{est.n_iter_no_change} consecutive epochs.")
        if est.solver == "sgd" and est.learning_rate == "adaptive" and est._sgd_lr > 1e-6:
            est._sgd_lr /= 5.0
            est._no_improvement_count = 0
            if est.verbose:
                print(msg + f" Setting learning rate to {est._sgd_lr:f}")
            return False
        if est.verbose:
            print(msg + " Stopping.")
        self.stopped = True
        return True


class _LayerList(list):
    """``coefs_`` or ``intercepts_``: a list of live views into the network.

    Item assignment copies into the network's parameters (shape checked);
    writing into an item writes into the network.
    """

    def __setitem__(self, index, value):
        if not isinstance(index, Integral):
            raise TypeError("assign whole layers: coefs_[i] = array")
        view = self[index]
        value = np.asarray(value)
        if value.shape != view.shape:
            raise ValueError(f"layer {index} has shape {view.shape}, got {value.shape}")
        view[...] = value


# ---------------------------------------------------------------------------
# the shared estimator
# ---------------------------------------------------------------------------
class _BaseMLP(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """What the classifier and the regressor share: validation, training, stopping."""

    validation_scores_: list[float] | None

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(_HIDDEN))],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"),
                             Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "dtype": [None, StrOptions({"float32", "float64"}), type, np.dtype],
        "dropout": [Interval(Real, 0, 1, closed="left"), "array-like"],
        "threads": [None, Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dtype=None, dropout=0.0, threads=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype
        self.dropout = dropout
        self.threads = threads

    # -- subclass hooks ---------------------------------------------------
    def _targets(self, y, incremental, first, dtype):  # pragma: no cover - abstract
        """Validated y -> (targets for nnc, y for scoring, stratify, n_outputs)."""
        raise NotImplementedError

    def _output(self):  # pragma: no cover - abstract
        """(output activation, loss) of the network."""
        raise NotImplementedError

    def _validation_score(self, X, y, sample_weight):  # pragma: no cover - abstract
        raise NotImplementedError

    def _loss_scale(self):
        return 1.0

    def _class_weight(self, y, sample_weight):
        return sample_weight

    # -- the parameters, as scikit-learn shows them ---------------------------
    def _layers(self, kind):
        pending = self.__dict__.get(f"_pending_{kind}")
        if pending is not None:
            return pending
        net = self.__dict__.get("network_")
        if net is None:
            raise AttributeError(f"{kind}_ exists once the estimator is fitted")
        if kind == "coefs":  # W^l is stored as a row-major (n_in, n_out) block: scikit's layout
            return _LayerList(W.T for W in net.weights)
        return _LayerList(net.biases)

    def _set_layers(self, kind, value):
        value = list(value)
        net = self.__dict__.get("network_")
        current = None if net is None else self._layers_of(net, kind)
        if current is not None and [np.shape(v) for v in value] == [c.shape for c in current]:
            for view, v in zip(current, value, strict=True):
                view[...] = v
            self.__dict__.pop(f"_pending_{kind}", None)
        else:  # no network (yet) of this shape: the next fit builds one from them
            self.__dict__[f"_pending_{kind}"] = value

    @staticmethod
    def _layers_of(net, kind):
        return [W.T for W in net.weights] if kind == "coefs" else list(net.biases)

    coefs_ = property(lambda self: self._layers("coefs"),
                      lambda self, value: self._set_layers("coefs", value),
                      doc="Weight matrices, ``coefs_[i]`` of shape (n_in, n_out): live views "
                          "into the network; assigning copies into it.")
    intercepts_ = property(lambda self: self._layers("intercepts"),
                           lambda self, value: self._set_layers("intercepts", value),
                           doc="Bias vectors, ``intercepts_[i]`` of shape (n_out,): live views "
                               "into the network; assigning copies into it.")

    # -- checks ---------------------------------------------------------------
    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = ([sizes] if isinstance(sizes, Integral)
                 else V.check_sequence("hidden_layer_sizes", sizes, "an int or a sequence of ints"))
        if any(not isinstance(s, Integral) or isinstance(s, bool) for s in sizes):
            raise TypeError(f"hidden_layer_sizes must hold integers, got {sizes}")
        if any(s <= 0 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        return [int(s) for s in sizes]

    def _dtype(self):
        if self.dtype is None:
            return None
        dtype = np.dtype(self.dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be None, 'float32' or 'float64', got {self.dtype!r}")
        return dtype

    def _dropout(self, n_hidden):
        rates = self.dropout
        if isinstance(rates, Real):
            return [] if n_hidden == 0 and rates == 0 else [float(rates)] * n_hidden
        rates = [float(r) for r in V.check_sequence("dropout", rates, "a rate or a sequence of rates")]
        if len(rates) != n_hidden or any(not 0 <= r < 1 for r in rates):
            raise ValueError(f"dropout needs one rate in [0, 1) per hidden layer "
                             f"({n_hidden}), got {self.dropout!r}")
        return rates

    def _check_X(self, X, reset, dtype, *y):
        """validate_data, then X in the network's layout: CSR or C-contiguous, of
        ``dtype`` (None: the data's float dtype, as scikit-learn does)."""
        out = validate_data(self, X, *y, accept_sparse=["csr", "csc", "coo"],
                            dtype=(np.float64, np.float32), reset=reset,
                            **({"multi_output": True,
                                "y_numeric": not isinstance(self, ClassifierMixin)}
                               if y else {}))
        X = out[0] if y else out
        dtype = X.dtype if dtype is None else dtype
        X = X.tocsr().astype(dtype, copy=False) if _sp.issparse(X) else \
            np.ascontiguousarray(X, dtype=dtype)
        return (X, out[1]) if y else X

    # -- the network ----------------------------------------------------------
    def _build(self, sizes, rng, dtype):
        out_act, loss = self._output()
        hidden = _acts.canonical(self.activation)
        # Glorot-uniform weights and biases drawn as scikit-learn draws them (factor
        # 2 instead of 6 for the logistic activation): the same start for the same
        # random_state.  Then the seed of the network's shuffling and dropout.
        factor = 2.0 if hidden == "sigmoid" else 6.0
        layers = []
        for n_in, n_out in pairwise(sizes):
            bound = np.sqrt(factor / (n_in + n_out))
            layers.append((rng.uniform(-bound, bound, (n_in, n_out)),
                           rng.uniform(-bound, bound, n_out)))
        net = Network(sizes, activation=hidden, output_activation=out_act, loss=loss,
                      dtype=dtype, seed=int(rng.randint(np.iinfo(np.int32).max)),
                      init="xavier", dropout=self._dropout(len(sizes) - 2))
        for (coef, intercept), W, b in zip(layers, net.weights, net.biases, strict=True):
            W[...] = coef.T
            b[...] = intercept
        return net

    def _adopt_pending(self, n_features, n_outputs, dtype, rng):
        """Build the network from coefs_/intercepts_ a user assigned before fitting."""
        coefs = [np.asarray(c) for c in self.__dict__.pop("_pending_coefs")]
        intercepts = [np.asarray(b) for b in self.__dict__.pop("_pending_intercepts", [])]
        sizes = [n_features] + [c.shape[1] for c in coefs]
        if ([c.shape for c in coefs] != list(pairwise(sizes))
                or [b.shape for b in intercepts] != [(s,) for s in sizes[1:]]
                or sizes[-1] != n_outputs):
            raise ValueError(f"coefs_ and intercepts_ do not make a network from "
                             f"{n_features} features to {n_outputs} outputs")
        self.network_ = self._build(sizes, rng, dtype)
        self.coefs_, self.intercepts_ = coefs, intercepts

    def _same_architecture(self, hidden, n_outputs):
        net = self.network_
        out_act, loss = self._output()
        dtype = self._dtype()
        return (list(net.sizes[1:-1]) == list(hidden) and net.sizes[-1] == n_outputs
                and list(net.activations[:-1]) == [_acts.canonical(self.activation)] * len(hidden)
                and net.activations[-1] == out_act and net.loss == loss
                and (dtype is None or net.dtype == dtype))

    def _reset_state(self, only_missing=False):
        """The training record of a fresh fit (or the parts that are missing)."""
        state = {"n_iter_": 0, "t_": 0, "loss_curve_": [], "_no_improvement_count": 0,
                 "_sgd_lr": float(self.learning_rate_init),
                 "best_loss_": None if self.early_stopping else np.inf,
                 "validation_scores_": [] if self.early_stopping else None,
                 "best_validation_score_": -np.inf if self.early_stopping else None}
        for name, value in state.items():
            if not (only_missing and hasattr(self, name)):
                setattr(self, name, value)

    # -- training -------------------------------------------------------------
    def _fit(self, X, y, sample_weight=None, incremental=False):
        self._validate_params()
        for name in ("max_iter", "batch_size", "max_fun", "n_iter_no_change", "threads"):
            if isinstance(getattr(self, name), (bool, np.bool_)):  # Integral to the constraints
                raise TypeError(f"{name} must be an integer, got {getattr(self, name)!r}")
        hidden = self._hidden_sizes()
        first = not hasattr(self, "coefs_") or (not incremental and not self.warm_start)
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        net = None if first else self.__dict__.get("network_")
        X, y = self._check_X(X, first, self._dtype() if net is None else net.dtype, y)
        targets, y_plain, stratify, n_outputs = self._targets(y, incremental, first, X.dtype)
        sw = self._class_weight(y_plain, None if sample_weight is None else
                                _check_sample_weight(sample_weight, X, dtype=np.float64))
        rng = check_random_state(self.random_state)
        if first:
            self.__dict__.pop("_pending_coefs", None)
            self.__dict__.pop("_pending_intercepts", None)
            self.network_ = self._build([X.shape[1]] + hidden + [n_outputs], rng, X.dtype)
            self._reset_state()
        elif "_pending_coefs" in self.__dict__:
            self._adopt_pending(X.shape[1], n_outputs, X.dtype, rng)
            self._reset_state(only_missing=True)
        elif not self._same_architecture(hidden, n_outputs):
            raise ValueError(
                "the network's architecture (hidden_layer_sizes, activation, dtype or "
                "outputs) differs from the fitted one; warm_start and partial_fit need the "
                "same architecture: fit with warm_start=False to start afresh")
        self.n_outputs_ = n_outputs
        self.n_layers_ = len(hidden) + 2
        self.out_activation_ = _SK_NAMES[self.network_.activations[-1]]
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, targets, sw)
        else:
            self._fit_stochastic(X, targets, y_plain, stratify, sw, rng, incremental)
        if not np.isfinite(self.network_.params).all():
            raise ValueError(_DIVERGED)
        return self

    def _normalised_weight(self, sw, n, dtype):
        """Weights rescaled to mean 1 (and their mean): nnc divides the weighted
        cost by the number of rows, scikit-learn by the sum of the weights."""
        if sw is None:
            return None, 1.0
        mean_w = float(np.mean(sw))
        if not mean_w > 0:
            raise ValueError("Sample weights must contain at least one non-zero number "
                             "(every sample_weight of the training part is zero)")
        return np.ascontiguousarray(sw / mean_w, dtype=dtype), mean_w

    def _fit_lbfgs(self, X, targets, sw):
        n = X.shape[0]
        sw, mean_w = self._normalised_weight(sw, n, X.dtype)
        if self._loss_scale() != 1:  # the objective on scikit-learn's scale is loss_
            sw = (np.ones(n, X.dtype) if sw is None else sw) / X.dtype.type(self._loss_scale())
        hyper = {"l2": self.alpha / (n * mean_w), "max_fun": self.max_fun, "tol": self.tol}
        result = _train_epochs(self.network_, X, targets, solver="lbfgs", hyper=hyper,
                               epochs=self.max_iter, batch_size=None, shuffle=False,
                               sample_weight=sw, threads=self.threads, rule=None)
        self.n_iter_ = min(result.n_iter, self.max_iter)
        self.loss_ = result.loss
        self.loss_curve_ = list(result.loss_curve)
        for name in ("validation_scores_", "best_validation_score_"):
            setattr(self, name, None)
        if result.status != 0:
            warnings.warn(f"lbfgs failed to converge after {self.n_iter_} iteration(s) "
                          f"(status={result.status}): {result.message}. Increase max_iter "
                          f"({self.max_iter}) or max_fun ({self.max_fun}), or scale the "
                          "data.", ConvergenceWarning, stacklevel=4)

    def _batch_size(self, n):
        if self.batch_size == "auto":
            return min(200, n)
        if self.batch_size > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. "
                          "It is going to be clipped", UserWarning, stacklevel=5)
        return min(self.batch_size, n)

    def _fit_stochastic(self, X, targets, y_plain, stratify, sw, rng, incremental):
        early_stopping = self.early_stopping and not incremental
        validation = None
        if early_stopping:
            X, targets, sw, validation = self._split(X, targets, y_plain, stratify, sw, rng)
            if self.validation_scores_ is None:  # warm start after a fit without it
                self.validation_scores_, self.best_validation_score_ = [], -np.inf
        n = X.shape[0]
        bs = self._batch_size(n)
        sw, mean_w = self._normalised_weight(sw, n, X.dtype)
        # scikit-learn divides each batch's gradient (L2 penalty included) by the
        # batch's total weight; nnc by its rows: l2 = alpha / (rows * mean weight)
        # gives the same step, so integer weights act like repeated samples.
        rule = _StoppingRule(self, incremental=incremental, validation=validation,
                             loss_scale=self._loss_scale(),
                             penalty_scale=0.5 * self.alpha * -(-n // bs) / (n * mean_w),
                             n_seen=n * mean_w)
        if not incremental:
            self.n_iter_ = 0
        try:
            _train_epochs(self.network_, X, targets, solver=self.solver,
                          hyper=self._solver_hyper(bs * mean_w), epochs=1 if incremental
                          else self.max_iter, batch_size=bs, shuffle=bool(self.shuffle),
                          sample_weight=sw, threads=self.threads, rule=rule)
        except DivergenceError:
            if not early_stopping:
                raise ValueError(_DIVERGED) from None
            self._diverged(rule)
        if rule.best_params is not None:
            self.network_.params[...] = rule.best_params
        if not incremental and not rule.stopped and self.n_iter_ >= self.max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                          "reached and the optimization hasn't converged yet.",
                          ConvergenceWarning, stacklevel=4)

    def _diverged(self, rule):
        """Early stopping through a diverging run: as scikit-learn, a NaN score
        and the best weights so far (scikit-learn issue #29504)."""
        self.n_iter_ += 1
        self.loss_ = np.nan
        self.loss_curve_.append(np.nan)
        rule.record_score(np.nan)
        warnings.warn(f"training diverged in epoch {self.n_iter_}; the weights of the best "
                      "validation score are kept: lower learning_rate_init or scale the data",
                      ConvergenceWarning, stacklevel=5)

    def _solver_hyper(self, l2_rows):
        """The optimizer's hyper-parameters for the network's fit."""
        hyper = {"lr": float(self.learning_rate_init), "l2": self.alpha / l2_rows}
        if self.solver == "adam":
            hyper.update(beta1=self.beta_1, beta2=self.beta_2, epsilon=self.epsilon)
        else:
            hyper.update(momentum=self.momentum, nesterov=bool(self.nesterovs_momentum),
                         schedule=self._sgd_schedule())
        return hyper

    def _sgd_schedule(self):
        """Per-epoch learning rate of plain SGD, as scikit-learn computes it."""
        # bound methods, not closures: the network keeps its optimizer, and a
        # fitted estimator must stay picklable
        if self.learning_rate == "invscaling":
            return self._invscaling_lr
        if self.learning_rate == "adaptive":
            return self._adaptive_lr
        return None

    def _invscaling_lr(self, lr, epoch):
        """``lr / (t_ + 1) ** power_t``: t_ counts the samples seen over all fits."""
        return lr / (self.t_ + 1) ** self.power_t

    def _adaptive_lr(self, lr, epoch):
        """The current rate of ``learning_rate="adaptive"`` (divided by 5 on plateaus)."""
        return self._sgd_lr

    def _split(self, X, targets, y_plain, stratify, sw, rng):
        """scikit-learn's early-stopping split: (X, targets, sw) to train on and
        (X, y, sw) to score."""
        arrays = [X, targets, y_plain] + ([] if sw is None else [sw])
        parts = train_test_split(*arrays, random_state=rng,
                                 test_size=self.validation_fraction, stratify=stratify)
        train, val = parts[0::2], parts[1::2]
        if val[0].shape[0] < 2:
            raise ValueError("The validation set is too small. Increase "
                             "'validation_fraction' or the size of your dataset.")
        sw_train, sw_val = (train[3], val[3]) if sw is not None else (None, None)
        return train[0], train[1], sw_train, (val[0], val[2], sw_val)

    # -- inference ------------------------------------------------------------
    def _forward(self, X, layer=None):
        check_is_fitted(self, "network_")
        X = self._check_X(X, reset=False, dtype=self.network_.dtype)
        return self.network_.forward(X, layer=layer, threads=self.threads)

    def transform(self, X):
        """Activations of the last hidden layer for each sample.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, hidden_layer_sizes[-1])
            The learned representation the output layer reads (``X`` itself
            for a network without hidden layers).
        """
        check_is_fitted(self, "network_")
        if self.network_.n_layers == 1:
            X = self._check_X(X, reset=False, dtype=self.network_.dtype)
            return X.toarray() if _sp.issparse(X) else X
        return self._forward(X, layer=self.network_.n_layers - 1)

    @property
    def _n_features_out(self):
        return self.network_.sizes[-2]

    def _check_solver(self):
        if self.solver not in ("sgd", "adam"):
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        try:
            dtype = self._dtype()
        except (TypeError, ValueError):
            dtype = None
        tags.transformer_tags.preserves_dtype = \
            ["float64", "float32"] if dtype is None else [dtype.name]
        return tags

    def __setstate__(self, state):
        super().__setstate__(state)
        # joblib may hand back the parameters as a read-only memmap; the engine
        # writes into them, so give the network a private writeable copy.
        net = self.__dict__.get("network_")
        if net is not None and (type(net.params) is not np.ndarray
                                or not net.params.flags.writeable):
            net_state = net.__getstate__()
            net_state["params"] = np.array(net.params, dtype=net.dtype)
            net.__setstate__(net_state)


# ---------------------------------------------------------------------------
# classifier
# ---------------------------------------------------------------------------
# The parameters both estimators take, documented once (numpydoc reads __doc__).
_COMMON_PARAMETERS = """\
    hidden_layer_sizes : int or sequence of int, default (100,)
        Neurons in each hidden layer.
    activation : str, default "relu"
        Hidden-layer activation: scikit-learn's ``"identity"``,
        ``"logistic"``, ``"tanh"``, ``"relu"``, or any of nnc's
        (``"leaky_relu"``, ``"elu"``, ``"gelu"``, ``"softplus"``, ``"swish"``...).
    solver : {"adam", "sgd", "lbfgs"}, default "adam"
        ``"sgd"`` uses ``momentum`` (Nesterov's if ``nesterovs_momentum``);
        ``"lbfgs"`` is full-batch L-BFGS (scipy's L-BFGS-B over nnc's engine),
        often the best choice for small data sets.
    alpha : float, default 1e-4
        L2 penalty, scaled as scikit-learn does: ``alpha / batch_size``
        times the weights is added to each step's gradient.
    batch_size : int or "auto", default "auto"
        ``"auto"`` is ``min(200, n_samples)``; not used by lbfgs.
    learning_rate : {"constant", "invscaling", "adaptive"}, default "constant"
        Schedule of ``solver="sgd"`` (as in scikit-learn; Adam ignores it).
    learning_rate_init : float, default 0.001
    power_t : float, default 0.5
        Exponent of ``"invscaling"``: ``lr / (t + 1) ** power_t`` with t the
        number of samples seen.
    max_iter : int, default 200
        Maximum number of epochs of one ``fit`` (lbfgs: iterations).
    shuffle : bool, default True
    random_state : int, RandomState or None
        Initial weights, shuffling, dropout and the validation split.
    tol : float, default 1e-4
        Training stops when the loss (or the validation score with
        ``early_stopping``) has not improved by ``tol`` for more than
        ``n_iter_no_change`` consecutive epochs; lbfgs stops when the
        largest component of the projected gradient is below ``tol``.
    verbose : bool, default False
        Print the loss of each epoch.
    warm_start : bool, default False
        ``fit`` continues from the fitted network (and from ``coefs_`` and
        ``intercepts_`` assigned before), optimizer state included.
    momentum : float, default 0.9
    nesterovs_momentum : bool, default True
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the data (stratified for binary
        targets), stop when its accuracy stops improving and keep the best
        weights.  A run that diverges stops with a NaN score and those weights.
    validation_fraction : float, default 0.1
    beta_1, beta_2, epsilon : float
        Adam's hyper-parameters.
    n_iter_no_change : int or np.inf, default 10
        ``np.inf`` turns the stopping rule off.
    max_fun : int, default 15000
        lbfgs only: most evaluations of the loss (passes over the data).
    dtype : {None, "float32", "float64"}, default None
        Precision of the network and of its computations.  None follows the
        data, as scikit-learn does: float32 for float32 X (nnc's MNIST
        loader gives float32), float64 otherwise.
    dropout : float or sequence of float, default 0.0
        Inverted dropout of each hidden layer while training (not with lbfgs).
    threads : int, optional
        Threads for training and inference (default: all cores).
"""


class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = f"""Multi-layer perceptron classifier trained by nnc's engine.

    Multiclass targets get a softmax output layer and the categorical
    cross-entropy; binary targets one logistic output and the binary
    cross-entropy; multilabel targets (a 0/1 indicator matrix) one logistic
    output per label.  Class labels may be any sortable values, strings too.

    Parameters
    ----------
{_COMMON_PARAMETERS}    class_weight : None, dict or "balanced", default None
        Multiplies each sample's cost by the weight of its class;
        ``"balanced"`` uses ``n_samples / (n_classes * bincount(y))``, with
        the counts weighted by ``sample_weight`` (computed per batch by
        ``partial_fit``; per label, multiplied, for multilabel targets).

    Attributes
    ----------
    classes_ : ndarray
        Class labels (for multilabel targets: ``arange(n_labels)``).
    network_ : nnc.Network
        The trained network.
    coefs_, intercepts_ : list of ndarray
        The weights in scikit-learn's orientation (n_in, n_out): live views
        of the network's parameters; assigning a list copies into them.
    loss_, best_loss_, loss_curve_, n_iter_, t_, validation_scores_,
    best_validation_score_, n_features_in_, feature_names_in_, n_outputs_,
    n_layers_, out_activation_
        As in scikit-learn's ``MLPClassifier``.
    """

    _parameter_constraints: dict = {
        **_BaseMLP._parameter_constraints,
        "class_weight": [None, dict, StrOptions({"balanced"})],
    }

    def __init__(self, hidden_layer_sizes: int | Sequence[int] = (100,), activation: str = "relu", *,
                 solver: str = "adam", alpha: float = 0.0001, batch_size: int | str = "auto",
                 learning_rate: str = "constant", learning_rate_init: float = 0.001, power_t: float = 0.5,
                 max_iter: int = 200, shuffle: bool = True,
                 random_state: int | np.random.RandomState | None = None, tol: float = 1e-4,
                 verbose: bool | int = False, warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False,
                 validation_fraction: float = 0.1, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, n_iter_no_change: int | float = 10, max_fun: int = 15000,
                 dtype: DTypeLike | None = None, dropout: float | Sequence[float] = 0.0,
                 threads: int | None = None, class_weight: dict[Any, float] | str | None = None) -> None:
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun, dtype=dtype,
            dropout=dropout, threads=threads)
        self.class_weight = class_weight

    def fit(self, X: XLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> Self:
        """Fit the network to data X and labels y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a 0/1 indicator matrix for multilabel targets.
        sample_weight : array-like of shape (n_samples,), optional
            Each sample's cost is multiplied by its weight (and by its class's
            weight under ``class_weight``).

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X: XLike, y: ArrayLike, sample_weight: ArrayLike | None = None,
                    classes: ArrayLike | None = None) -> Self:
        """One epoch over (X, y), continuing from the current state.

        The optimizer's state (Adam's moments, momentum) carries over from
        earlier calls and from ``fit``.  Not available with ``solver="lbfgs"``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
        sample_weight : array-like of shape (n_samples,), optional
        classes : array-like, optional
            All the classes that will ever appear; required on the first call.

        Returns
        -------
        self
        """
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            multilabel = np.ndim(y) == 2 and np.shape(y)[1] > 1
            self._label_binarizer.fit(y if multilabel else self.classes_)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    # -- labels ----------------------------------------------------------------
    def _targets(self, y, incremental, first, dtype):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not incremental and (not hasattr(self, "classes_") or not self.warm_start):
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            self._check_known_classes(unique_labels(y))
        if self._label_binarizer.y_type_ == "multiclass":
            # class indices: the engine builds the one-hot rows batch by batch
            return np.searchsorted(self.classes_, y), y, None, len(self.classes_)
        Y = self._label_binarizer.transform(y)
        stratify = Y.astype(bool) if Y.shape[1] == 1 else None  # binary only, as scikit-learn
        return np.ascontiguousarray(Y, dtype=dtype), y, stratify, Y.shape[1]

    def _check_known_classes(self, present):
        if self.warm_start and set(present) != set(self.classes_):
            raise ValueError("warm_start can only be used where `y` has the same "
                             "classes as in the previous call to fit. Previously got "
                             f"{self.classes_}, `y` has {present}")
        unseen = np.setdiff1d(present, self.classes_)
        if len(unseen):
            raise ValueError(f"y has classes not seen before: {list(unseen)}; the "
                             f"classifier knows {list(self.classes_)}")

    def _output(self):
        if self._label_binarizer.y_type_ == "multiclass":
            return "softmax", "categorical_crossentropy"
        return "sigmoid", "binary_crossentropy"

    def _class_weight(self, y, sample_weight):
        """``sample_weight`` times the class weights (per label, multiplied)."""
        if self.class_weight is None:
            return sample_weight
        sw = np.ones(y.shape[0]) if sample_weight is None else sample_weight
        mask = sw > 0   # classes present with a positive weight
        factor = np.ones(y.shape[0])
        for col in (y.T if y.ndim == 2 else [y]):
            if self.class_weight == "balanced":
                classes, idx = np.unique(col[mask], return_inverse=True)
                weights = compute_class_weight("balanced", classes=classes, y=col[mask],
                                               sample_weight=sw[mask])
                factor[mask] *= weights[idx]
            else:
                classes = self.classes_ if y.ndim == 1 else np.array([0, 1])
                weights = compute_class_weight(self.class_weight, classes=classes, y=col)
                factor *= weights[np.searchsorted(classes, col)]
        return sw * factor

    # -- prediction ----------------------------------------------------------
    def _proba_of(self, out):
        if out.shape[1] == 1 and self._label_binarizer.y_type_ != "multilabel-indicator":
            out = np.hstack([1 - out, out])
        return out

    def _labels(self, out):
        """Labels from the network's outputs (thresholds at 0.5, or the largest)."""
        return self._label_binarizer.inverse_transform(out)

    def predict(self, X: XLike) -> NDArray[Any]:
        """Predicted class of each sample (a 0/1 matrix for multilabel targets).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_labels)
        """
        return self._labels(self._forward(X))

    def predict_proba(self, X: XLike) -> FloatArray:
        """Probability of each class (of each label, for multilabel targets).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        return self._proba_of(self._forward(X))

    def predict_log_proba(self, X: XLike) -> FloatArray:
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def _validation_score(self, X, y, sample_weight):
        out = self.network_.forward(X, threads=self.threads)
        if not np.isfinite(out).all():
            return np.nan
        return accuracy_score(y, self._labels(out), sample_weight=sample_weight)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


# ---------------------------------------------------------------------------
# regressor
# ---------------------------------------------------------------------------
class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = f"""Multi-layer perceptron regressor trained by nnc's engine.

    One output per target: identity outputs and the squared error, or with
    ``loss="poisson"`` exponential outputs and half the Poisson deviance (for
    counts and other non-negative targets, as scikit-learn's).  ``loss_`` is
    half the mean squared error over samples and outputs, as scikit-learn
    reports it, and ``early_stopping`` monitors the validation R^2.
    Predictions have the network's dtype (float32 for float32 data), as
    scikit-learn's.

    Parameters
    ----------
    loss : {{"squared_error", "poisson"}}, default "squared_error"
        The cost: half the squared error with identity outputs, or half the
        Poisson deviance with exponential outputs (non-negative targets).
{_COMMON_PARAMETERS}
    Attributes
    ----------
    network_ : nnc.Network
        The trained network.
    coefs_, intercepts_ : list of ndarray
        The weights in scikit-learn's orientation (n_in, n_out): live views
        of the network's parameters; assigning a list copies into them.
    loss_, best_loss_, loss_curve_, n_iter_, t_, validation_scores_,
    best_validation_score_, n_features_in_, feature_names_in_, n_outputs_,
    n_layers_, out_activation_
        As in scikit-learn's ``MLPRegressor``.
    """

    _parameter_constraints: dict = {
        **_BaseMLP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

    def __init__(self, loss: str = "squared_error", hidden_layer_sizes: int | Sequence[int] = (100,),
                 activation: str = "relu", *, solver: str = "adam", alpha: float = 0.0001,
                 batch_size: int | str = "auto", learning_rate: str = "constant",
                 learning_rate_init: float = 0.001, power_t: float = 0.5, max_iter: int = 200,
                 shuffle: bool = True, random_state: int | np.random.RandomState | None = None,
                 tol: float = 1e-4, verbose: bool | int = False, warm_start: bool = False,
                 momentum: float = 0.9, nesterovs_momentum: bool = True, early_stopping: bool = False,
                 validation_fraction: float = 0.1, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, n_iter_no_change: int | float = 10, max_fun: int = 15000,
                 dtype: DTypeLike | None = None, dropout: float | Sequence[float] = 0.0,
                 threads: int | None = None) -> None:
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun, dtype=dtype,
            dropout=dropout, threads=threads)
        self.loss = loss

    def fit(self, X: XLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> Self:
        """Fit the network to data X and targets y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X: XLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> Self:
        """One epoch over (X, y), continuing with the optimizer's state.

        Not available with ``solver="lbfgs"``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _targets(self, y, incremental, first, dtype):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("Some value(s) of y are negative which is not allowed for "
                             "Poisson regression (loss='poisson').")
        targets = np.ascontiguousarray(y.reshape(y.shape[0], -1), dtype=dtype)
        if not first and hasattr(self, "n_outputs_") and targets.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {targets.shape[1]} outputs; the fitted regressor has "
                             f"{self.n_outputs_}")
        return targets, y, None, targets.shape[1]

    def _output(self):
        return ("exp", "poisson") if self.loss == "poisson" else ("identity", "quadratic")

    def _loss_scale(self):
        # nnc's quadratic cost sums over outputs; scikit-learn averages over them
        return float(self.network_.sizes[-1]) if self.loss == "squared_error" else 1.0

    def predict(self, X: XLike) -> FloatArray:
        """Predicted targets, in the network's dtype.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        out = self._forward(X)
        return out.ravel() if out.shape[1] == 1 else out

    def _validation_score(self, X, y, sample_weight):
        out = self.network_.forward(X, threads=self.threads)
        if not np.isfinite(out).all():
            return np.nan
        return r2_score(y, out.ravel() if out.shape[1] == 1 else out,
                        sample_weight=sample_weight)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
