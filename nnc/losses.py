"""Cost functions: names, engine codes and NumPy reference versions.

Every loss is the *mean over samples* of a per-sample cost C_x; the engine
computes the per-sample costs and the output error delta^L in C.
"""
import numpy as np

from nnc import _codes

#: name -> engine code, from the Loss enum of nnc/_kernels.pxd.  Sparse
#: categorical cross-entropy is categorical cross-entropy on one-hot rows,
#: which the engine builds from integer labels as it gathers each batch.
CODES = dict(_codes.LOSSES,
             sparse_categorical_crossentropy=_codes.LOSSES["categorical_crossentropy"])

#: the learning rate the tutorials use for plain SGD with each cost: 3.0 with
#: the quadratic cost (chapter 1), 0.5 with a cross-entropy (chapter 3).
#: ``nnc train`` uses it when no --lr is given; ``Network.fit`` keeps the
#: optimizer's own default (see :mod:`nnc.optimizers`), which does not depend
#: on the cost.
TUTORIAL_LR = {name: 3.0 if name == "quadratic" else 0.5 for name in CODES}

ALIASES = {
    "mse": "quadratic",
    "squared_error": "quadratic",
    "binary_cross_entropy": "binary_crossentropy",
    "cross_entropy": "categorical_crossentropy",
    "categorical_cross_entropy": "categorical_crossentropy",
    "log_loss": "categorical_crossentropy",
}


def canonical(name):
    """Return the canonical loss name, or raise ValueError.

    Parameters
    ----------
    name : str
        A name of :data:`CODES` or an alias of :data:`ALIASES`, any case.

    Returns
    -------
    str
        The key of :data:`CODES`.
    """
    if not isinstance(name, str):
        raise TypeError(f"loss must be a string, got {type(name).__name__}")
    key = ALIASES.get(name.lower(), name.lower())
    if key not in CODES:
        raise ValueError(f"unknown loss {name!r}; expected one of {sorted(CODES)}")
    return key


def _xlogy(y, a):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y == 0, 0.0, y * np.log(a))


#: name -> per-sample cost C(a, y) in NumPy, summed over the output units
FUNCTIONS = {
    "quadratic": lambda a, y: 0.5 * np.sum((a - y) ** 2, axis=-1),
    "binary_crossentropy": lambda a, y: -np.sum(_xlogy(y, a) + _xlogy(1 - y, 1 - a), axis=-1),
    "categorical_crossentropy": lambda a, y: -np.sum(_xlogy(y, a), axis=-1),
    "sparse_categorical_crossentropy": lambda a, y: -np.sum(_xlogy(y, a), axis=-1),
    # half the Poisson deviance, scikit-learn's MLPRegressor(loss="poisson")
    "poisson": lambda a, y: np.sum(a - y + _xlogy(y, y) - _xlogy(y, a), axis=-1),
}
