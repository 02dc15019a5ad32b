"""Optimizers and learning-rate schedules.

The update rules themselves run inside the engine (``nnc/_kernels.pyx``);
this module resolves the names and hyper-parameters users pass to ``fit``
into the engine's codes, and computes the learning rate of each epoch.
"""

from nnc._validation import check_choice, check_float, check_int

#: name -> engine code (see the OPT_* enum in _engine.pyx)
CODES = {"sgd": 0, "momentum": 1, "nesterov": 2, "adam": 3, "rmsprop": 4}

#: default learning rate of each optimizer when fit(lr=None)
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.1, "nesterov": 0.1, "adam": 0.001, "rmsprop": 0.001}

#: how many state buffers (of the size of the parameters) each one keeps
N_STATES = {"sgd": 0, "momentum": 1, "nesterov": 1, "adam": 2, "rmsprop": 1}


def resolve(optimizer, momentum=0.0, nesterov=False):
    """Map ``fit``'s optimizer arguments to a canonical name.

    ``optimizer="sgd"`` with a non-zero ``momentum`` becomes classical
    momentum, or Nesterov's when ``nesterov=True``.
    """
    if not isinstance(optimizer, str):
        raise TypeError(f"optimizer must be a string, got {type(optimizer).__name__}")
    name = optimizer.lower()
    if name not in CODES:
        raise ValueError(f"unknown optimizer {optimizer!r}; expected one of {sorted(CODES)}")
    check_float("momentum", momentum, 0.0, 1.0, high_open=True)
    if name == "sgd" and momentum > 0:
        name = "nesterov" if nesterov else "momentum"
    return name


class Schedule:
    """Learning rate as a function of the epoch (0-based).

    Parameters
    ----------
    kind : {"constant", "step", "exponential", "invscaling"}
        ``step``: ``lr * gamma ** (epoch // step_size)``;
        ``exponential``: ``lr * gamma ** epoch``;
        ``invscaling``: ``lr / (epoch + 1) ** power_t`` (scikit-learn's name).
    """

    KINDS = ("constant", "step", "exponential", "invscaling")

    def __init__(self, kind="constant", gamma=0.1, step_size=10, power_t=0.5):
        self.kind = check_choice("kind", kind, self.KINDS)
        self.gamma = check_float("gamma", gamma, 0.0, low_open=True)
        self.step_size = check_int("step_size", step_size, 1)
        self.power_t = check_float("power_t", power_t, 0.0)

    def __call__(self, lr, epoch):
        if self.kind == "step":
            return lr * self.gamma ** (epoch // self.step_size)
        if self.kind == "exponential":
            return lr * self.gamma ** epoch
        if self.kind == "invscaling":
            return lr / (epoch + 1) ** self.power_t
        return lr

    def __repr__(self):
        return (f"Schedule({self.kind!r}, gamma={self.gamma}, step_size={self.step_size}, "
                f"power_t={self.power_t})")


def as_schedule(schedule):
    """None, a name, a Schedule or a callable ``f(lr, epoch) -> lr``."""
    if schedule is None:
        return Schedule("constant")
    if isinstance(schedule, str):
        return Schedule(check_choice("schedule", schedule, Schedule.KINDS))
    if callable(schedule):
        return schedule
    raise TypeError("schedule must be None, a name, a Schedule or a callable f(lr, epoch)")
