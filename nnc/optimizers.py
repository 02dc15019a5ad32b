"""Optimizers and learning-rate schedules.

An optimizer is an object that owns its hyper-parameters, its state (the
momentum or moment buffers, laid out like ``Network.params``) and its step
count ``iterations``::

    net.fit(X, y, optimizer=nnc.optimizers.Adam(lr=1e-3))
    net.fit(X, y, optimizer="adam", lr=1e-3)          # the same thing

The update rules themselves run inside the engine (``nnc/_kernels.pyx``);
an optimizer hands the engine its rule's code, its hyper-parameters and its
state buffers (:meth:`Optimizer.configure`), and computes the learning rate
of each epoch from its schedule.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

import numpy as np

from nnc import _buffers
from nnc import lbfgs as _lbfgs
from nnc._codes import OPTIMIZERS as CODES  # rule name -> engine code (the enum in _engine.pyx)
from nnc._validation import check_bool, check_choice, check_float, check_int, check_optimizer_dtype

#: what ``schedule=`` accepts
ScheduleLike = Union[None, str, "Schedule", Callable[[float, int], float]]

__all__ = ["Optimizer", "SGD", "Adam", "RMSprop", "LBFGS", "Schedule", "as_schedule", "get"]


class Schedule:
    """Learning rate as a function of the epoch (0-based).

    A schedule is called as ``schedule(lr, epoch)`` with the optimizer's base
    rate and returns the rate of that epoch.  Large steps help early, when the
    weights are far from a minimum; smaller ones later let training settle
    instead of bouncing around it.

    Parameters
    ----------
    kind : {"constant", "step", "exponential", "invscaling"}, default "constant"
        ``constant``: ``lr`` every epoch;
        ``step``: ``lr * gamma ** (epoch // step_size)``;
        ``exponential``: ``lr * gamma ** epoch``;
        ``invscaling``: ``lr / (epoch + 1) ** power_t`` (scikit-learn's name).
    gamma : float > 0, default 0.1
        Factor of ``step`` and ``exponential``.
    step_size : int >= 1, default 10
        Epochs between two steps of ``step``.
    power_t : float >= 0, default 0.5
        Exponent of ``invscaling``.

    Examples
    --------
    >>> from nnc.optimizers import Schedule
    >>> halve = Schedule("step", gamma=0.5, step_size=10)
    >>> [halve(0.4, epoch) for epoch in (0, 9, 10, 25)]
    [0.4, 0.4, 0.2, 0.1]
    """

    KINDS = ("constant", "step", "exponential", "invscaling")

    def __init__(self, kind: str = "constant", gamma: float = 0.1, step_size: int = 10,
                 power_t: float = 0.5) -> None:
        self.kind = check_choice("kind", kind, self.KINDS)
        self.gamma = check_float("gamma", gamma, 0.0, low_open=True)
        self.step_size = check_int("step_size", step_size, 1)
        self.power_t = check_float("power_t", power_t, 0.0)

    def __call__(self, lr: float, epoch: int) -> float:
        if self.kind == "step":
            return lr * self.gamma ** (epoch // self.step_size)
        if self.kind == "exponential":
            return lr * self.gamma ** epoch
        if self.kind == "invscaling":
            return lr / (epoch + 1) ** self.power_t
        return lr

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments of this schedule."""
        return {"kind": self.kind, "gamma": self.gamma, "step_size": self.step_size,
                "power_t": self.power_t}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schedule) and self.get_config() == other.get_config()

    def __repr__(self) -> str:
        return (f"Schedule({self.kind!r}, gamma={self.gamma}, step_size={self.step_size}, "
                f"power_t={self.power_t})")


def as_schedule(schedule: ScheduleLike) -> Callable[[float, int], float]:
    """The schedule that ``schedule=`` describes, as a callable.

    Parameters
    ----------
    schedule : None, str, Schedule or callable
        None (a constant rate), one of :attr:`Schedule.KINDS` (that kind with
        its default settings), a :class:`Schedule`, or any callable
        ``f(lr, epoch) -> lr``, which is returned as it is.

    Returns
    -------
    callable
        ``f(lr, epoch) -> lr``.

    Raises
    ------
    TypeError
        If ``schedule`` is none of these.
    ValueError
        If ``schedule`` is an unknown name.
    """
    if schedule is None:
        return Schedule("constant")
    if isinstance(schedule, str):
        return Schedule(check_choice("schedule", schedule, Schedule.KINDS))
    if callable(schedule):
        return schedule
    raise TypeError("schedule must be None, a name, a Schedule or a callable f(lr, epoch)")


class Optimizer:
    """Base class: the hyper-parameters, state and step count of one rule.

    Subclasses set ``n_states`` (how many buffers shaped like the parameters
    the rule keeps), list their hyper-parameters in ``_HYPER`` and implement
    :meth:`_engine_rule`.  One optimizer serves one network: its state is
    allocated for that network's parameters on first use (and again, zeroed,
    if it is handed a network of another size or dtype).

    Parameters
    ----------
    lr : float >= 0
        Base learning rate (the tutorials' eta).
    l2 : float >= 0, default 0.0
        L2 penalty (weight decay) on the weights.
    schedule : None, str, Schedule or callable ``f(lr, epoch)``, default None
        How the rate changes from epoch to epoch (see :func:`as_schedule`);
        None keeps it constant.

    Attributes
    ----------
    lr : float
        Base learning rate; the schedule maps it to each epoch's rate.
    l2 : float
        L2 penalty: ``l2 * W`` is added to each step's weight gradient (the
        tutorials' lambda/n); biases are not penalised.
    schedule : callable ``f(lr, epoch) -> lr``
    iterations : int
        Optimizer steps taken so far (Adam's bias correction counts them).
    """

    _HYPER: tuple[str, ...] = ()
    n_states = 0

    def __init__(self, lr: float, l2: float = 0.0, schedule: ScheduleLike = None) -> None:
        self.lr = lr
        self.l2 = l2
        self.schedule = as_schedule(schedule)
        self.iterations = 0
        self._states: list[np.ndarray] = []
        self.check()

    # -- hyper-parameters --------------------------------------------------------
    def check(self) -> None:
        """Validate the hyper-parameters (again: they are plain attributes).

        Raises
        ------
        TypeError, ValueError
            Naming the hyper-parameter.
        """
        self.lr = check_float("lr", self.lr, 0.0)
        self.l2 = check_float("l2", self.l2, 0.0)
        if not callable(self.schedule):
            raise TypeError("schedule must be a Schedule or a callable f(lr, epoch)")

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this optimizer (no state).

        A :class:`Schedule` is given as its own config; any other callable
        schedule as itself.
        """
        config = {name: getattr(self, name) for name in ("lr",) + self._HYPER + ("l2",)}
        schedule = self.schedule
        config["schedule"] = ({"class": "Schedule", **schedule.get_config()}
                              if isinstance(schedule, Schedule) else schedule)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Optimizer:
        """An optimizer built from :meth:`get_config`'s dict (fresh state).

        Parameters
        ----------
        config : dict
            Constructor arguments, as :meth:`get_config` returns them; a
            schedule given as a dict is rebuilt as a :class:`Schedule`.

        Returns
        -------
        Optimizer
            A new optimizer of this class, with no state and ``iterations``
            0.
        """
        config = dict(config)
        schedule = config.get("schedule")
        if isinstance(schedule, dict):
            schedule = dict(schedule)
            schedule.pop("class", None)
            config["schedule"] = Schedule(**schedule)
        return cls(**config)

    def learning_rate(self, epoch: int) -> float:
        """The learning rate of ``epoch``: the schedule applied to ``lr``.

        Parameters
        ----------
        epoch : int
            0-based, counted over every fit of the network (a second ``fit``
            continues the schedule where the first stopped).

        Returns
        -------
        float

        Raises
        ------
        ValueError
            If the schedule returns a negative, infinite or NaN rate.
        """
        return check_float(f"the learning rate that schedule returned for epoch {epoch + 1}",
                           self.schedule(self.lr, epoch), 0.0)

    def _engine_rule(self):
        """(rule name, dict of the engine's hyper-parameters besides lr and l2)."""
        raise NotImplementedError

    # -- state ---------------------------------------------------------------------
    @property
    def states(self) -> list[np.ndarray]:
        """The state buffers (a list of arrays laid out like the parameters)."""
        return list(self._states)

    def build(self, params: np.ndarray) -> list[np.ndarray]:
        """Allocate (zeroed) state for ``params`` unless it already fits them.

        Parameters
        ----------
        params : ndarray
            The network's flat parameter buffer: each state buffer gets its
            shape and dtype.  When the current state does not fit, it is
            replaced by zeros and ``iterations`` restarts at 0.

        Returns
        -------
        list of ndarray
            The state buffers.
        """
        n_states = self._n_states()
        fits = len(self._states) == n_states and all(
            s.shape == params.shape and s.dtype == params.dtype for s in self._states)
        if not fits:
            self._states = [_buffers.zeros_like(params) for _ in range(n_states)]
            self.iterations = 0
        return self.states

    def _n_states(self):
        return self.n_states

    def take_state(self, other: Optimizer | None) -> bool:
        """Continue from ``other``'s state and step count if it runs the same rule.

        Parameters
        ----------
        other : Optimizer or None
            The optimizer the network trained with before (None: there was
            none).

        Returns
        -------
        bool
            Whether the state was taken (same class and update rule).
        """
        if type(other) is not type(self) or other._engine_rule()[0] != self._engine_rule()[0]:
            return False
        self._states, self.iterations = other._states, other.iterations
        return True

    def reset(self) -> None:
        """Forget the state and the step count."""
        self._states = []
        self.iterations = 0

    def configure(self, engine: Any, grads: np.ndarray | None) -> None:
        """Hand the engine this optimizer's rule, hyper-parameters and state.

        Parameters
        ----------
        engine : nnc._engine.Engine
            The engine of the current fit.
        grads : ndarray or None
            Gradient buffer laid out like the parameters (None: plain SGD,
            which adds each step straight into the parameters).
        """
        self.check()
        rule, hyper = self._engine_rule()
        # refuse, before any step, what rounds to 0 (or to 1) in the network's dtype
        check_optimizer_dtype(engine.dtype, lr=self.lr, **hyper)
        engine.set_optimizer(CODES[rule], grads, self._states, lr=self.lr, l2=self.l2,
                             t=self.iterations, **hyper)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        # Own writeable buffers, even when unpickled from a read-only memmap
        # (joblib.load(mmap_mode="r")): the engine writes into them.
        self._states = [np.array(s, copy=True, order="C") for s in self._states]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items()
                         if k != "schedule")
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    Each step moves the parameters against the mini-batch's gradient g:
    ``W <- W - lr * g``, the tutorials' update rule.  With momentum the step
    is a velocity that remembers earlier gradients:
    ``v <- momentum * v - lr * g;  W <- W + v`` (Nesterov:
    ``W <- W + momentum * v - lr * g``).  Plain SGD (``momentum=0``) keeps no
    state and adds each step straight into the parameters.

    Parameters
    ----------
    lr : float >= 0, default 0.1
        Learning rate (eta): the size of each step.
    momentum : float in [0, 1), default 0.0
        Fraction of the previous step kept in the next; 0.9 is usual.
    nesterov : bool, default False
        Look ahead: take the gradient's step from where the momentum is
        about to carry the parameters.
    l2 : float >= 0, default 0.0
        L2 penalty: ``l2 * W`` is added to each weight gradient.  The
        tutorials' regularised cost with lambda over n training images is
        ``l2=lmbda / n``.
    schedule : None, str, Schedule or callable ``f(lr, epoch)``, default None
        How the learning rate changes with the epoch (None: constant).

    Examples
    --------
    >>> import numpy as np
    >>> import nnc
    >>> from nnc.optimizers import SGD
    >>> X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    >>> y = np.array([0, 1, 1, 0])
    >>> net = nnc.Network([2, 4, 2], seed=1)
    >>> history = net.fit(X, y, epochs=2000, batch_size=4, verbose=0,
    ...                   optimizer=SGD(lr=2.0, momentum=0.9))
    >>> net.predict(X).tolist()
    [0, 1, 1, 0]
    """

    _HYPER = ("momentum", "nesterov")
    name = "sgd"

    def __init__(self, lr: float = 0.1, momentum: float = 0.0, nesterov: bool = False,
                 l2: float = 0.0, schedule: ScheduleLike = None) -> None:
        self.momentum = momentum
        self.nesterov = nesterov
        super().__init__(lr, l2, schedule)

    def check(self) -> None:
        super().check()
        self.momentum = check_float("momentum", self.momentum, 0.0, 1.0, high_open=True)
        self.nesterov = check_bool("nesterov", self.nesterov)

    def _n_states(self):
        return 1 if self.momentum > 0 else 0

    def _engine_rule(self):
        if self.momentum == 0:
            return "sgd", {}
        return ("nesterov" if self.nesterov else "momentum"), {"momentum": self.momentum}


class Adam(Optimizer):
    """Adam (Kingma & Ba), bias corrections folded into the step size.

    Adam keeps two running averages per parameter: m, of the gradient, and
    v, of its square.  Each step is ``lr * m / (sqrt(v) + epsilon)`` (with
    both averages corrected for starting at zero), so every weight gets a
    step size scaled to its own gradients.  It needs far smaller learning
    rates than plain SGD: 0.001 is the usual start.

    Parameters
    ----------
    lr : float >= 0, default 0.001
        Learning rate.
    beta1 : float in [0, 1), default 0.9
        Decay of the first moment (the gradient's running average).
    beta2 : float in [0, 1), default 0.999
        Decay of the second moment (the squared gradient's running average).
    epsilon : float > 0, default 1e-8
        Added to ``sqrt(v)`` so the step stays finite where v is 0.
    l2 : float >= 0, default 0.0
        L2 penalty: ``l2 * W`` is added to each weight gradient.
    schedule : None, str, Schedule or callable ``f(lr, epoch)``, default None
        How the learning rate changes with the epoch (None: constant).
    """

    _HYPER = ("beta1", "beta2", "epsilon")
    n_states = 2
    name = "adam"

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 epsilon: float = 1e-8, l2: float = 0.0, schedule: ScheduleLike = None) -> None:
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        super().__init__(lr, l2, schedule)

    def check(self) -> None:
        super().check()
        self.beta1 = check_float("beta1", self.beta1, 0.0, 1.0, high_open=True)
        self.beta2 = check_float("beta2", self.beta2, 0.0, 1.0, high_open=True)
        self.epsilon = check_float("epsilon", self.epsilon, 0.0, low_open=True)

    def _engine_rule(self):
        return "adam", {"beta1": self.beta1, "beta2": self.beta2, "epsilon": self.epsilon}


class RMSprop(Optimizer):
    """RMSprop: ``s <- rho * s + (1 - rho) * g^2;  W <- W - lr * g / (sqrt(s) + epsilon)``.

    Each parameter's step is divided by a running root mean square of its
    own gradients, so weights with large gradients take smaller steps.

    Parameters
    ----------
    lr : float >= 0, default 0.001
        Learning rate.
    rho : float in [0, 1), default 0.9
        Decay of the squared gradient's running average s.
    epsilon : float > 0, default 1e-8
        Added to ``sqrt(s)`` so the step stays finite where s is 0.
    l2 : float >= 0, default 0.0
        L2 penalty: ``l2 * W`` is added to each weight gradient.
    schedule : None, str, Schedule or callable ``f(lr, epoch)``, default None
        How the learning rate changes with the epoch (None: constant).
    """

    _HYPER = ("rho", "epsilon")
    n_states = 1
    name = "rmsprop"

    def __init__(self, lr: float = 0.001, rho: float = 0.9, epsilon: float = 1e-8,
                 l2: float = 0.0, schedule: ScheduleLike = None) -> None:
        self.rho, self.epsilon = rho, epsilon
        super().__init__(lr, l2, schedule)

    def check(self) -> None:
        super().check()
        self.rho = check_float("rho", self.rho, 0.0, 1.0, high_open=True)
        self.epsilon = check_float("epsilon", self.epsilon, 0.0, low_open=True)

    def _engine_rule(self):
        return "rmsprop", {"rho": self.rho, "epsilon": self.epsilon}


class LBFGS(Optimizer):
    """Full-batch L-BFGS: scipy's L-BFGS-B on the engine's exact loss and gradient.

    Each evaluation is one pass of the engine over the whole training set
    (forward and backpropagation in batches, without the GIL) that leaves
    the mean cost and its gradient in a buffer laid out like the
    parameters; L-BFGS-B picks the points, so there is no learning rate.
    With ``Network.fit(optimizer=LBFGS())``, ``epochs`` is the most
    iterations, and ``batch_size``, ``shuffle`` and ``lr`` do not apply.
    Suits small data sets, where scikit-learn recommends it too.

    Parameters
    ----------
    l2 : float, default 0.0
        ``l2 / 2 * |W|^2`` is added to the objective (weights, not biases).
    max_fun : int, default 15000
        Most evaluations of the objective (passes over the data) per fit.
    tol : float, default 1e-4
        Stop when every component of the projected gradient is below it.

    Attributes
    ----------
    result : nnc.lbfgs.LBFGSResult or None
        What the last fit did (iterations, evaluations, loss curve, scipy's
        status and message).
    """

    _HYPER = ("max_fun", "tol")
    name = "lbfgs"
    #: trained by :meth:`minimize` over the whole set, not by the stepping engine
    full_batch = True

    def __init__(self, l2: float = 0.0, max_fun: int = 15000, tol: float = 1e-4) -> None:
        self.max_fun, self.tol = max_fun, tol
        self.result: Any = None
        super().__init__(0.0, l2)  # no learning rate: the line search sizes each step

    def check(self) -> None:
        super().check()
        self.max_fun = check_int("max_fun", self.max_fun, 1)
        self.tol = check_float("tol", self.tol, 0.0)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this optimizer."""
        return {"l2": self.l2, "max_fun": self.max_fun, "tol": self.tol}

    def _engine_rule(self) -> tuple[str, dict]:
        raise TypeError("LBFGS is full batch: it trains through minimize(), not the "
                        "engine's mini-batch steps")

    def minimize(self, network: Any, X: Any, y: Any, max_iter: int, sample_weight: Any = None,
                 threads: int | None = None, callback: Any = None) -> Any:
        """Run L-BFGS-B on ``network`` from its current parameters, in place.

        Parameters
        ----------
        network : nnc.Network
            Without dropout (the objective must be deterministic); its fit
            lock must be held by the caller (``Network.fit`` does).
        X, y, sample_weight
            Checked training data, as ``Network.fit`` prepares it.
        max_iter : int
            Most iterations.
        threads : int, optional
            Threads of the engine.
        callback : callable ``f(iteration, loss) -> bool``, optional
            Called after each iteration; a true return stops.

        Returns
        -------
        nnc.lbfgs.LBFGSResult
        """
        self.check()
        self.result = _lbfgs.minimize_lbfgs(network, X, y, sample_weight, self.l2, max_iter,
                                            self.max_fun, self.tol, callback, threads)
        self.iterations += self.result.n_iter
        return self.result


#: the names ``get`` accepts, with the defaults each name implies
_NAMES = {"sgd": (SGD, {}), "momentum": (SGD, {"momentum": 0.9}),
          "nesterov": (SGD, {"momentum": 0.9, "nesterov": True}),
          "adam": (Adam, {}), "rmsprop": (RMSprop, {}), "lbfgs": (LBFGS, {})}


def get(optimizer: str | Optimizer, **overrides: Any) -> Optimizer:
    """An optimizer from a name or an optimizer object.

    Parameters
    ----------
    optimizer : str or Optimizer
        ``"sgd"``, ``"momentum"`` (SGD with momentum 0.9), ``"nesterov"``
        (SGD with Nesterov momentum 0.9), ``"adam"``, ``"rmsprop"`` or
        ``"lbfgs"`` (full batch); an
        :class:`Optimizer` is returned as it is.
    **overrides
        Constructor arguments for a name (``lr=None`` means the default).

    Returns
    -------
    Optimizer
        A new optimizer for a name; ``optimizer`` itself for an object.

    Raises
    ------
    ValueError
        For an unknown name, or overrides given with an object.
    TypeError
        If ``optimizer`` is neither a string nor an Optimizer.

    Examples
    --------
    >>> from nnc import optimizers
    >>> optimizers.get("nesterov", lr=0.05)
    SGD(lr=0.05, momentum=0.9, nesterov=True, l2=0.0)
    """
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if isinstance(optimizer, Optimizer):
        if overrides:
            raise ValueError(f"{sorted(overrides)} given with an optimizer object: set them "
                             "on the object instead")
        return optimizer
    if not isinstance(optimizer, str):
        raise TypeError("optimizer must be a name or an nnc.optimizers.Optimizer, got "
                        f"{type(optimizer).__name__}")
    name = optimizer.lower()
    if name not in _NAMES:
        raise ValueError(f"unknown optimizer {optimizer!r}; expected one of {sorted(_NAMES)}")
    cls, defaults = _NAMES[name]
    return cls(**{**defaults, **overrides})
