"""scikit-learn estimators backed by :class:`nnc.Network`.

:class:`MLPClassifier` and :class:`MLPRegressor` take scikit-learn's
parameter names, defaults and stopping rule, so they drop into code written
for ``sklearn.neural_network``, ``Pipeline`` and ``GridSearchCV``; the
training itself runs in nnc's Cython engine.  They also give what
scikit-learn's MLP lacks:

- ``partial_fit`` and ``warm_start`` continue with the optimizer's state
  (Adam's moments, momentum) instead of resetting it;
- ``sample_weight`` in ``fit`` and ``class_weight`` (including
  ``"balanced"``) in the classifier;
- ``transform(X)``: the activations of the last hidden layer;
- ``dropout``, ``dtype`` (float32 training for float32 data or on request) and ``threads``.

scikit-learn is an optional dependency: ``pip install nnc[sklearn]``.

>>> from sklearn.datasets import load_digits
>>> from nnc.sklearn import MLPClassifier
>>> X, y = load_digits(return_X_y=True)
>>> clf = MLPClassifier(random_state=0).fit(X / 16, y)
"""
import numbers
import warnings

import numpy as np

try:
    from sklearn.base import (BaseEstimator, ClassifierMixin, RegressorMixin,
                              TransformerMixin)
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets, type_of_target
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("nnc.sklearn needs scikit-learn: pip install 'nnc[sklearn]'") from exc

try:
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - scikit-learn < 1.6
    def _validate_data(estimator, *args, **kwargs):
        return estimator._validate_data(*args, **kwargs)

try:
    from sklearn.base import ClassNamePrefixFeaturesOutMixin as _FeatureNamesMixin
except ImportError:  # pragma: no cover - scikit-learn < 1.2
    class _FeatureNamesMixin:
        pass

from scipy import sparse as _sp

from nnc import _validation as V
from nnc import activations as _acts
from nnc.network import DivergenceError, Network
from nnc.optimizers import SGD, Adam

__all__ = ["MLPClassifier", "MLPRegressor"]

_SOLVERS = ("sgd", "adam")
_LEARNING_RATES = ("constant", "invscaling", "adaptive")
#: activations that cannot be used in hidden layers
_NOT_HIDDEN = ("softmax", "step")
#: scikit-learn's names for nnc's activations (out_activation_)
_SK_NAMES = {"sigmoid": "logistic", "identity": "identity", "softmax": "softmax"}


# ---------------------------------------------------------------------------
# hyper-parameter checks: ValueError/TypeError naming the parameter
# ---------------------------------------------------------------------------
_real = V.check_float  # a finite real in a range, else an error naming the parameter


def _integer(name, value, low=None):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return value


def _choice(name, value, options):
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def _hidden_sizes(value):
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        value = [value]
    value = V.check_sequence("hidden_layer_sizes", value, "an int or a sequence of ints")
    sizes = [_integer("hidden_layer_sizes", v) for v in value]
    if any(s <= 0 for s in sizes):
        raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}")
    return sizes


def _check_dtype(value):
    """None (follow the data), "float32" or "float64"."""
    if value is None:
        return None
    try:
        dtype = np.dtype(value)
    except TypeError:
        raise TypeError(f"dtype must be None, 'float32' or 'float64', got {value!r}") from None
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be None, 'float32' or 'float64', got {value!r}")
    return dtype


def _hidden_activation(value):
    name = _acts.canonical(value, "activation")
    if name in _NOT_HIDDEN:
        raise ValueError(f"activation {value!r} cannot be used for hidden layers")
    return name


def _balanced(idx, weight, n_classes):
    """Per-sample factors n / (k * count(class)) with weighted counts.

    Counting sample weights (not rows) keeps integer weights equivalent to
    repeated samples; k is the number of classes that carry weight.
    """
    counts = np.bincount(idx, weights=weight, minlength=n_classes)
    present = counts > 0
    per_class = np.ones(n_classes)
    per_class[present] = weight.sum() / (present.sum() * counts[present])
    return per_class[idx]


# ---------------------------------------------------------------------------
# the shared estimator
# ---------------------------------------------------------------------------
class _BaseMLP(_FeatureNamesMixin, TransformerMixin, BaseEstimator):
    """What the classifier and the regressor share: validation, training, stopping."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
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
        self.dtype = dtype
        self.dropout = dropout
        self.threads = threads

    # -- subclass hooks ---------------------------------------------------
    def _encode_y(self, y, first, dtype, classes=None):  # pragma: no cover - abstract
        """Validate y; return (targets for nnc, y for scoring/splitting, n_outputs)."""
        raise NotImplementedError

    def _output(self):  # pragma: no cover - abstract
        """(output activation, loss) of the network."""
        raise NotImplementedError

    def _validation_score(self, X, y, sample_weight):  # pragma: no cover - abstract
        raise NotImplementedError

    def _loss_scale(self):
        return 1.0

    # -- checks ---------------------------------------------------------------
    def _check_params(self):
        p = {
            "hidden": _hidden_sizes(self.hidden_layer_sizes),
            "activation": _hidden_activation(self.activation),
            "solver": _choice("solver", self.solver, _SOLVERS),
            "alpha": _real("alpha", self.alpha, 0.0),
            "learning_rate": _choice("learning_rate", self.learning_rate, _LEARNING_RATES),
            "lr": _real("learning_rate_init", self.learning_rate_init, 0.0, low_open=True),
            "power_t": _real("power_t", self.power_t, 0.0),
            "max_iter": _integer("max_iter", self.max_iter, 1),
            "tol": _real("tol", self.tol, 0.0),
            "momentum": _real("momentum", self.momentum, 0.0, 1.0),
            "validation_fraction": _real("validation_fraction", self.validation_fraction,
                                         0.0, 1.0, low_open=True, high_open=True),
            "beta_1": _real("beta_1", self.beta_1, 0.0, 1.0, high_open=True),
            "beta_2": _real("beta_2", self.beta_2, 0.0, 1.0, high_open=True),
            "epsilon": _real("epsilon", self.epsilon, 0.0, low_open=True),
            "n_iter_no_change": _integer("n_iter_no_change", self.n_iter_no_change, 1),
        }
        if self.batch_size != "auto":
            p["batch_size"] = _integer("batch_size", self.batch_size, 1)
        else:
            p["batch_size"] = "auto"
        if p["momentum"] == 1.0:
            raise ValueError("momentum must be < 1, got 1.0")
        for name in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping"):
            V.check_bool(name, getattr(self, name))
        V.check_int("verbose", int(self.verbose) if isinstance(self.verbose, (bool, np.bool_))
                    else self.verbose, 0)
        p["dtype"] = _check_dtype(self.dtype)
        if self.threads is not None:
            p["threads"] = _integer("threads", self.threads, 1)
        else:
            p["threads"] = None
        if isinstance(self.dropout, numbers.Real):
            p["dropout"] = _real("dropout", self.dropout, 0.0, 1.0, high_open=True)
        else:
            p["dropout"] = [_real("dropout", r, 0.0, 1.0, high_open=True) for r in
                            V.check_sequence("dropout", self.dropout, "a rate or a list of rates")]
            if len(p["dropout"]) != len(p["hidden"]):
                raise ValueError(f"dropout needs one rate per hidden layer "
                                 f"({len(p['hidden'])}), got {len(p['dropout'])}")
        if not p["hidden"]:
            if p["dropout"] not in ([], 0.0):
                raise ValueError("dropout needs at least one hidden layer")
            p["dropout"] = []
        return p

    def _check_X(self, X, reset, dtype):
        X = _validate_data(self, X, accept_sparse=["csr", "csc", "coo"],
                           dtype=(np.float64, np.float32), reset=reset)
        if dtype is None:  # follow the data, as scikit-learn does
            dtype = X.dtype
        if _sp.issparse(X):
            return X.tocsr().astype(dtype, copy=False)
        return np.ascontiguousarray(X, dtype=dtype)

    # -- the network ----------------------------------------------------------
    def _build(self, p, n_features, n_outputs, rng, dtype):
        out_act, loss = self._output()
        sizes = [n_features] + p["hidden"] + [n_outputs]
        seed = int(rng.randint(np.iinfo(np.int32).max))
        net = Network(sizes, activation=p["activation"], output_activation=out_act,
                      loss=loss, dtype=dtype, seed=seed, init="xavier",
                      dropout=p["dropout"])
        # Glorot-uniform weights and biases, as scikit-learn initialises its MLP
        # (factor 2 instead of 6 for the logistic activation).
        factor = 2.0 if p["activation"] == "sigmoid" else 6.0
        for W, b in zip(net.weights, net.biases):
            n_out, n_in = W.shape
            bound = np.sqrt(factor / (n_in + n_out))
            W[...] = rng.uniform(-bound, bound, (n_in, n_out)).T
            b[...] = rng.uniform(-bound, bound, n_out)
        return net

    def _same_architecture(self, p, n_outputs):
        net = self.network_
        out_act, loss = self._output()
        return (list(net.sizes[1:-1]) == p["hidden"] and net.sizes[-1] == n_outputs
                and list(net.activations[:-1]) == [p["activation"]] * len(p["hidden"])
                and net.activations[-1] == out_act and net.loss == loss
                and (p["dtype"] is None or net.dtype == p["dtype"]))

    def _reset_state(self):
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_ = []
        self.best_loss_ = np.inf
        self._no_improvement_count = 0
        self._sgd_lr = float(self.learning_rate_init)
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            for name in ("validation_scores_", "best_validation_score_"):
                if hasattr(self, name):
                    delattr(self, name)

    # -- training -------------------------------------------------------------
    def _fit(self, X, y, sample_weight=None, incremental=False, classes=None):
        p = self._check_params()
        fitted = hasattr(self, "network_")
        first = not fitted or (not incremental and not self.warm_start)
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        X = self._check_X(X, reset=first, dtype=p["dtype"] if first else self.network_.dtype)
        n = X.shape[0]
        targets, y_plain, n_outputs = self._encode_y(y, first, X.dtype, classes)
        if targets.shape[0] != n:
            raise ValueError(f"y has {targets.shape[0]} samples but X has {n}")
        sw = self._sample_weight(sample_weight, X, y_plain)

        rng = check_random_state(self.random_state)
        if first:
            self.network_ = self._build(p, X.shape[1], n_outputs, rng, X.dtype)
            self._reset_state()
        elif not self._same_architecture(p, n_outputs):
            raise ValueError(
                "the network's architecture (hidden_layer_sizes, activation, dtype or "
                "outputs) differs from the fitted one; warm_start and partial_fit need the "
                "same architecture: fit with warm_start=False to start afresh")
        self.n_outputs_ = n_outputs
        self.n_layers_ = len(p["hidden"]) + 2
        self.out_activation_ = _SK_NAMES.get(self.network_.activations[-1],
                                             self.network_.activations[-1])

        early_stopping = self.early_stopping and not incremental
        X_val = y_val = sw_val = None
        if early_stopping:
            X, X_val, targets, y_val, sw, sw_val = self._split(
                X, targets, y_plain, sw, rng, p["validation_fraction"])
            n = X.shape[0]
            if not hasattr(self, "validation_scores_"):
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            self._best_params = None

        if p["batch_size"] == "auto":
            bs = min(200, n)
        else:
            if p["batch_size"] > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. "
                              "It is going to be clipped", UserWarning)
            bs = min(p["batch_size"], n)
        n_batches = -(-n // bs)

        # scikit-learn divides each batch's gradient (L2 penalty included) by the
        # batch's total sample weight; nnc divides by the number of rows.  Weights
        # rescaled to mean 1 with l2 = alpha / (rows * mean weight) give the same
        # step, so that integer weights act like repeated samples.
        mean_w = 1.0
        if sw is not None:
            mean_w = float(sw.mean())
            if mean_w <= 0:
                raise ValueError("every sample_weight of the training part (after the "
                                 "early-stopping split) is zero")
            sw = np.ascontiguousarray(sw / mean_w, dtype=X.dtype)
        l2 = p["alpha"] / (bs * mean_w)
        penalty_scale = 0.5 * p["alpha"] * n_batches / (n * mean_w)

        if not first and not incremental:
            self._no_improvement_count = 0
            self.n_iter_ = 0
        stopped = [False]
        epochs_run = [0]

        def on_epoch(net, epoch, history):
            epochs_run[0] += 1
            sq = sum(float(np.dot(W.ravel(order="K"), W.ravel(order="K")))
                     for W in net.weights)
            self.loss_ = history["loss"][-1] / self._loss_scale() + penalty_scale * sq
            self.loss_curve_.append(self.loss_)
            self.n_iter_ += 1
            self.t_ += n if sw is None else n * mean_w  # samples seen, by weight
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
            self._update_no_improvement(early_stopping, X_val, y_val, sw_val)
            if incremental:
                return False
            if self._no_improvement_count > p["n_iter_no_change"]:
                what = "Validation score" if early_stopping else "Training loss"
                msg = (f"{what} did not improve more than tol={p['tol']:f} for "
                       f"{p['n_iter_no_change']} consecutive epochs.")
                if (p["solver"] == "sgd" and p["learning_rate"] == "adaptive"
                        and self._sgd_lr > 1e-6):
                    self._sgd_lr /= 5.0
                    self._no_improvement_count = 0
                    if self.verbose:
                        print(msg + f" Setting learning rate to {self._sgd_lr:f}")
                    return False
                if self.verbose:
                    print(msg + " Stopping.")
                stopped[0] = True
                return True
            return False

        epochs = 1 if incremental else p["max_iter"]
        try:
            self.network_.fit(X, targets, epochs=epochs, batch_size=bs,
                              optimizer=self._optimizer(p, l2), shuffle=bool(self.shuffle),
                              verbose=0, sample_weight=sw, threads=p["threads"],
                              callbacks=[on_epoch])
        except DivergenceError as exc:
            raise ValueError("Solver produced non-finite parameter weights. The input data "
                             "may contain large values and need to be preprocessed; or "
                             f"lower learning_rate_init. ({exc})") from exc
        if early_stopping and self._best_params is not None:
            self.network_.params[...] = self._best_params
        self._best_params = None
        if not incremental and not stopped[0] and epochs_run[0] == p["max_iter"]:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({p['max_iter']}) "
                          "reached and the optimization hasn't converged yet.",
                          ConvergenceWarning)
        return self

    def _optimizer(self, p, l2):
        """This call's optimizer; it continues the network's state and step count
        when it runs the same rule (warm_start, partial_fit)."""
        if p["solver"] == "adam":
            opt = Adam(lr=p["lr"], beta1=p["beta_1"], beta2=p["beta_2"], epsilon=p["epsilon"],
                       l2=l2)
        else:
            opt = SGD(lr=p["lr"], momentum=p["momentum"], nesterov=bool(self.nesterovs_momentum),
                      l2=l2, schedule=self._sgd_schedule(p))
        opt.take_state(self.network_.optimizer)
        return opt

    def _sgd_schedule(self, p):
        """Per-epoch learning rate of plain SGD, as scikit-learn computes it (bound
        methods, so that the fitted estimator stays picklable)."""
        if p["learning_rate"] == "invscaling":
            return self._invscaling_lr
        if p["learning_rate"] == "adaptive":
            return self._adaptive_lr
        return None

    def _invscaling_lr(self, lr, epoch):
        # t_ counts the samples seen so far, over all fits (updated per epoch)
        return lr / (self.t_ + 1) ** float(self.power_t)

    def _adaptive_lr(self, lr, epoch):
        return self._sgd_lr

    def _update_no_improvement(self, early_stopping, X_val, y_val, sw_val):
        tol = float(self.tol)
        if early_stopping:
            score = self._validation_score(X_val, y_val, sw_val)
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            if score < self.best_validation_score_ + tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = self.network_.params.copy()
        else:
            if self.loss_curve_[-1] > self.best_loss_ - tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _split(self, X, targets, y_plain, sw, rng, fraction):
        idx = np.arange(X.shape[0])
        state = rng.randint(np.iinfo(np.int32).max)
        try:
            idx_train, idx_val = train_test_split(
                idx, random_state=state, test_size=fraction,
                stratify=y_plain if self._stratify() else None)
        except ValueError:
            # too few samples of some class to stratify: a plain random split
            idx_train, idx_val = train_test_split(idx, random_state=state,
                                                  test_size=fraction)
        if idx_val.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase "
                             "'validation_fraction' or the size of your dataset.")
        sw_train = sw[idx_train] if sw is not None else None
        sw_val = sw[idx_val] if sw is not None else None
        return (X[idx_train], X[idx_val], targets[idx_train], y_plain[idx_val],
                sw_train, sw_val)

    def _stratify(self):
        return False

    def _sample_weight(self, sample_weight, X, y_plain):
        if sample_weight is None:
            return None
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64)
        if (sw < 0).any():
            raise ValueError("sample_weight must be non-negative")
        if not (sw > 0).any():
            raise ValueError("Sample weights must contain at least one non-zero number "
                             "(sample_weight is all zero)")
        return sw

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

    # -- scikit-learn-shaped views of the parameters -----------------------------
    @property
    def coefs_(self):
        """Weight matrices, ``coefs_[i]`` of shape (n_in, n_out) (copies)."""
        if "network_" not in self.__dict__:
            raise AttributeError("coefs_ exists once the estimator is fitted")
        return [np.array(W.T) for W in self.network_.weights]

    @property
    def intercepts_(self):
        """Bias vectors, ``intercepts_[i]`` of shape (n_out,) (copies)."""
        if "network_" not in self.__dict__:
            raise AttributeError("intercepts_ exists once the estimator is fitted")
        return [np.array(b) for b in self.network_.biases]

    def _preserved_dtypes(self):
        try:
            dtype = _check_dtype(self.dtype)
        except (TypeError, ValueError):
            return []
        return ["float64", "float32"] if dtype is None else [dtype.name]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = self._preserved_dtypes()
        return tags

    def _more_tags(self):  # pragma: no cover - scikit-learn < 1.6
        return {"preserves_dtype": self._preserved_dtypes()}

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
class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier trained by nnc's engine.

    Multiclass targets get a softmax output layer and the categorical
    cross-entropy; binary targets one logistic output and the binary
    cross-entropy; multilabel targets (a 0/1 indicator matrix) one logistic
    output per label.  Class labels may be any sortable values, strings too.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default (100,)
        Neurons in each hidden layer.
    activation : str, default "relu"
        Hidden-layer activation: scikit-learn's ``"identity"``,
        ``"logistic"``, ``"tanh"``, ``"relu"``, or any of nnc's
        (``"leaky_relu"``, ``"elu"``, ``"gelu"``, ``"softplus"``, ``"swish"``...).
    solver : {"adam", "sgd"}, default "adam"
        ``"sgd"`` uses ``momentum`` (Nesterov's if ``nesterovs_momentum``).
    alpha : float, default 1e-4
        L2 penalty, scaled as scikit-learn does: ``alpha / batch_size``
        times the weights is added to each step's gradient.
    batch_size : int or "auto", default "auto"
        ``"auto"`` is ``min(200, n_samples)``.
    learning_rate : {"constant", "invscaling", "adaptive"}, default "constant"
        Schedule of ``solver="sgd"`` (as in scikit-learn; Adam ignores it).
    learning_rate_init : float, default 0.001
    power_t : float, default 0.5
        Exponent of ``"invscaling"``: ``lr / (t + 1) ** power_t`` with t the
        number of samples seen.
    max_iter : int, default 200
        Maximum number of epochs of one ``fit``.
    shuffle : bool, default True
    random_state : int, RandomState or None
        Initial weights, shuffling, dropout and the validation split.
    tol : float, default 1e-4
        Training stops when the loss (or the validation score with
        ``early_stopping``) has not improved by ``tol`` for more than
        ``n_iter_no_change`` consecutive epochs.
    verbose : bool, default False
        Print the loss of each epoch.
    warm_start : bool, default False
        ``fit`` continues from the fitted network, optimizer state included.
    momentum : float, default 0.9
    nesterovs_momentum : bool, default True
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the data (stratified), stop when
        its accuracy stops improving and keep the best weights.
    validation_fraction : float, default 0.1
    beta_1, beta_2, epsilon : float
        Adam's hyper-parameters.
    n_iter_no_change : int, default 10
    dtype : {None, "float32", "float64"}, default None
        Precision of the network and of its computations.  None follows the
        data, as scikit-learn does: float32 for float32 X (nnc's MNIST
        loader gives float32), float64 otherwise.
    dropout : float or sequence of float, default 0.0
        Inverted dropout of each hidden layer while training.
    threads : int, optional
        Threads for training and inference (default: all cores).
    class_weight : None, dict or "balanced", default None
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
        Copies of the weights in scikit-learn's orientation (n_in, n_out).
    loss_, best_loss_, loss_curve_, n_iter_, t_, validation_scores_,
    best_validation_score_, n_features_in_, feature_names_in_, n_outputs_,
    n_layers_, out_activation_
        As in scikit-learn's ``MLPClassifier``.
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 dtype=None, dropout=0.0, threads=None, class_weight=None):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, dtype=dtype,
            dropout=dropout, threads=threads)
        self.class_weight = class_weight

    def fit(self, X, y, sample_weight=None):
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

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over (X, y), continuing from the current state.

        The optimizer's state (Adam's moments, momentum) carries over from
        earlier calls and from ``fit``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
        classes : array-like, optional
            All the classes that will ever appear; required on the first call
            (not for multilabel targets).
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        if not hasattr(self, "network_") and classes is None and (
                np.ndim(y) != 2 or np.shape(y)[1] == 1):
            raise ValueError("classes must be passed on the first call to partial_fit")
        return self._fit(X, y, sample_weight=sample_weight, incremental=True,
                         classes=classes)

    # -- labels ----------------------------------------------------------------
    def _encode_y(self, y, first, dtype, classes=None):
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the "
                             "target y is None")
        y = np.asarray(y) if not hasattr(y, "shape") else y
        if _sp.issparse(y):
            y = y.toarray()
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        kind = type_of_target(y)
        multilabel = kind == "multilabel-indicator"
        if multilabel:
            if first:
                self.classes_ = np.arange(y.shape[1])
                self._multilabel = True
            elif not getattr(self, "_multilabel", False) or y.shape[1] != len(self.classes_):
                raise ValueError(f"y has {y.shape[1]} labels; the fitted classifier has "
                                 f"{len(self.classes_)} (or is not multilabel)")
            targets = np.ascontiguousarray(y, dtype=dtype)
            return targets, y, y.shape[1]
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D labels or a 2-D 0/1 indicator matrix, got {kind}")
        if first:
            if classes is not None:
                new = np.unique(np.asarray(classes))
                if not np.isin(np.unique(y), new).all():
                    raise ValueError(f"y contains labels not in classes {list(new)}")
            else:
                new = np.unique(y)
            if len(new) < 2:
                raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes "
                                 f"in y; got 1 class: {new[0]!r}")
            self.classes_ = new
            self._multilabel = False
        else:
            if getattr(self, "_multilabel", False):
                raise ValueError("the classifier was fitted on multilabel y; got 1-D labels")
            present = np.unique(y)
            if classes is not None and not np.array_equal(np.unique(np.asarray(classes)),
                                                          self.classes_):
                raise ValueError(f"classes={list(np.unique(classes))} differs from the "
                                 f"classes of the first call {list(self.classes_)}")
            if not np.isin(present, self.classes_).all():
                raise ValueError(
                    f"y has classes not seen before: {list(np.setdiff1d(present, self.classes_))};"
                    f" the classifier knows {list(self.classes_)}. For warm_start, y must "
                    "have the same classes as in the previous fit")
        idx = np.searchsorted(self.classes_, y)
        if len(self.classes_) == 2:
            targets = (idx == 1).astype(dtype).reshape(-1, 1)
            return targets, y, 1
        return idx.astype(np.int64), y, len(self.classes_)

    def _output(self):
        if getattr(self, "_multilabel", False) or len(self.classes_) == 2:
            return "sigmoid", "binary_crossentropy"
        return "softmax", "categorical_crossentropy"

    def _stratify(self):
        return not self._multilabel

    def _sample_weight(self, sample_weight, X, y_plain):
        sw = super()._sample_weight(sample_weight, X, y_plain)
        cw = self.class_weight
        if cw is None:
            return sw
        w = np.ones(X.shape[0]) if sw is None else sw
        if isinstance(cw, str) and cw != "balanced":
            raise ValueError(f"class_weight must be None, a dict or 'balanced', got {cw!r}")
        if self._multilabel:
            if cw != "balanced":
                raise ValueError("multilabel y supports class_weight=None or 'balanced' "
                                 f"only, got {cw!r}")
            # each label balanced on its own; a sample's factors multiply
            factor = np.ones(X.shape[0])
            for j in range(y_plain.shape[1]):
                factor *= _balanced(np.asarray(y_plain[:, j], dtype=np.int64), w, 2)
        elif isinstance(cw, str):
            factor = _balanced(np.searchsorted(self.classes_, y_plain), w, len(self.classes_))
        elif isinstance(cw, dict):
            known = set(self.classes_.tolist())
            unknown = [k for k in cw if k not in known]
            if unknown:
                raise ValueError(f"class_weight has labels not among the classes: {unknown}")
            per_class = np.array([_real(f"class_weight[{c!r}]", cw.get(c, 1.0), 0.0)
                                  for c in self.classes_.tolist()])
            factor = per_class[np.searchsorted(self.classes_, y_plain)]
        else:
            raise TypeError("class_weight must be None, a dict or 'balanced', got "
                            f"{type(cw).__name__}")
        sw = w * factor
        if not (sw > 0).any():
            raise ValueError("class_weight and sample_weight leave no sample with a non-zero "
                             "weight: every class has zero weight")
        return sw

    # -- prediction ----------------------------------------------------------
    def _proba(self, X):
        out = self._forward(X)
        if out.shape[1] == 1 and not self._multilabel:
            out = np.hstack([1 - out, out])
        return out

    def _labels_from_proba(self, proba):
        if self._multilabel:
            return (proba > 0.5).astype(np.int64)
        return self.classes_[np.argmax(proba, axis=1)]

    def predict(self, X):
        """Predicted class of each sample (a 0/1 matrix for multilabel targets).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_labels)
        """
        return self._labels_from_proba(self._proba(X))

    def predict_proba(self, X):
        """Probability of each class (of each label, for multilabel targets).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        return self._proba(X)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        with np.errstate(divide="ignore"):
            return np.log(self._proba(X))

    def _validation_score(self, X, y, sample_weight):
        pred = self._labels_from_proba(self._proba_net(X))
        return accuracy_score(y, pred, sample_weight=sample_weight)

    def _proba_net(self, X):
        """predict_proba on data already validated (the early-stopping split)."""
        out = self.network_.forward(X, threads=self.threads)
        if out.shape[1] == 1 and not self._multilabel:
            out = np.hstack([1 - out, out])
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


# ---------------------------------------------------------------------------
# regressor
# ---------------------------------------------------------------------------
class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor trained by nnc's engine.

    Identity outputs, one per target, and the squared error.  Parameters
    and attributes are those of :class:`MLPClassifier` without
    ``class_weight``; ``loss_`` is half the mean squared error over samples
    and outputs, as scikit-learn reports it, and ``early_stopping`` monitors
    the validation R^2.
    """

    def fit(self, X, y, sample_weight=None):
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

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing with the optimizer's state.

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

    def _encode_y(self, y, first, dtype, classes=None):
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the "
                             "target y is None")
        from sklearn.utils import check_array
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        if y.ndim not in (1, 2):
            raise ValueError(f"y must be 1-D or 2-D, got shape {y.shape}")
        targets = np.ascontiguousarray(y.reshape(y.shape[0], -1), dtype=dtype)
        if not first and targets.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {targets.shape[1]} outputs; the fitted regressor has "
                             f"{self.n_outputs_}")
        return targets, y, targets.shape[1]

    def _output(self):
        return "identity", "quadratic"

    def _loss_scale(self):
        # nnc's quadratic cost sums over outputs; scikit-learn averages over them
        return float(self.network_.sizes[-1])

    def predict(self, X):
        """Predicted targets.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        # float64 like every scikit-learn regressor, whatever the network's dtype
        out = self._forward(X).astype(np.float64)
        return out.ravel() if out.shape[1] == 1 else out

    def _validation_score(self, X, y, sample_weight):
        out = self.network_.forward(X, threads=self.threads)
        out = out.ravel() if out.shape[1] == 1 else out
        return r2_score(y, out, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
