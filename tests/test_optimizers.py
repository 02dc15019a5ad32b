"""nnc.optimizers: the optimizer objects, their configs, names and state."""
import pickle

import numpy as np
import pytest

import nnc
from nnc import optimizers as O


def data(n=40, d=6, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.integers(0, k, n)


def make_net(seed=1, dtype="float64", **kw):
    return nnc.Network([6, 5, 3], activation="tanh", output_activation="softmax",
                       loss="categorical_crossentropy", dtype=dtype, seed=seed, **kw)


OPTIMIZERS = [
    lambda: O.SGD(lr=0.3),
    lambda: O.SGD(lr=0.2, momentum=0.8, l2=0.01),
    lambda: O.SGD(lr=0.1, momentum=0.5, nesterov=True, schedule="invscaling"),
    lambda: O.Adam(lr=0.01, beta1=0.8, beta2=0.99, epsilon=1e-7,
                   schedule=O.Schedule("step", gamma=0.5, step_size=2)),
    lambda: O.RMSprop(lr=0.005, rho=0.8, epsilon=1e-6, l2=0.001),
]


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_get_config_round_trips(make):
    opt = make()
    config = opt.get_config()
    again = type(opt).from_config(config)
    assert type(again) is type(opt)
    assert again.get_config() == config
    assert again.iterations == 0 and again.states == []
    # the config is plain data (a Schedule is described by its own config)
    assert pickle.loads(pickle.dumps(config)) == config


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_from_config_trains_like_the_original(make):
    X, y = data()
    a, b = make_net(), make_net()
    opt = make()
    a.fit(X, y, epochs=3, batch_size=8, optimizer=opt, verbose=0)
    b.fit(X, y, epochs=3, batch_size=8, optimizer=type(opt).from_config(opt.get_config()),
          verbose=0)
    np.testing.assert_array_equal(a.params, b.params)


@pytest.mark.parametrize("name,cls,expected", [
    ("sgd", O.SGD, dict(lr=0.1, momentum=0.0, nesterov=False)),
    ("momentum", O.SGD, dict(lr=0.1, momentum=0.9, nesterov=False)),
    ("nesterov", O.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("adam", O.Adam, dict(lr=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8)),
    ("RMSprop", O.RMSprop, dict(lr=0.001, rho=0.9, epsilon=1e-8)),
])
def test_get_maps_names_to_objects(name, cls, expected):
    opt = O.get(name)
    assert type(opt) is cls
    assert {k: opt.get_config()[k] for k in expected} == expected
    assert O.get(name, lr=0.5).lr == 0.5
    assert O.get(name, lr=None).lr == expected["lr"]  # None: the default
    same = cls()
    assert O.get(same) is same


def test_get_refuses_unknown_names_and_types():
    with pytest.raises(ValueError, match="unknown optimizer 'adamw'"):
        O.get("adamw")
    with pytest.raises(TypeError, match="optimizer must be"):
        O.get(3)
    with pytest.raises(TypeError, match="beta1"):
        O.get("sgd", beta1=0.9)


@pytest.mark.parametrize("name,make", [
    ("sgd", lambda: O.SGD(lr=0.5)), ("momentum", lambda: O.SGD(lr=0.5, momentum=0.9)),
    ("nesterov", lambda: O.SGD(lr=0.5, momentum=0.9, nesterov=True)),
    ("adam", lambda: O.Adam(lr=0.5)), ("rmsprop", lambda: O.RMSprop(lr=0.5)),
])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_name_is_exactly_the_object(name, make, dtype):
    X, y = data()
    a, b = make_net(dtype=dtype), make_net(dtype=dtype)
    ha = a.fit(X, y, epochs=2, batch_size=8, optimizer=name, lr=0.5, verbose=0)
    hb = b.fit(X, y, epochs=2, batch_size=8, optimizer=make(), verbose=0)
    np.testing.assert_array_equal(a.params, b.params)
    assert ha["loss"] == hb["loss"]
    assert a.optimizer.get_config() == b.optimizer.get_config()
    assert a.optimizer.iterations == b.optimizer.iterations == 2 * 5
    for sa, sb in zip(a.optimizer.states, b.optimizer.states, strict=True):
        np.testing.assert_array_equal(sa, sb)


def test_state_is_laid_out_like_the_parameters_and_allocated_lazily():
    X, y = data()
    net = make_net(dtype="float32")
    adam = O.Adam(lr=0.01)
    assert adam.states == [] and adam.iterations == 0
    net.fit(X, y, epochs=1, batch_size=10, optimizer=adam, verbose=0)
    assert net.optimizer is adam and adam.iterations == 4
    m, v = adam.states
    for s in (m, v):
        assert s.shape == net.params.shape and s.dtype == np.float32
        assert s.flags.c_contiguous and s.flags.writeable and s.any()
    assert (v >= 0).all()
    assert O.SGD().build(net.params) == []
    assert len(O.SGD(momentum=0.5).build(net.params)) == 1
    assert len(O.RMSprop().build(net.params)) == 1
    # handed to a network of another size or dtype: fresh zeroed state
    other = nnc.Network([6, 4, 3], dtype="float64")
    states = adam.build(other.params)
    assert adam.iterations == 0 and all(s.shape == other.params.shape for s in states)
    assert all(s.dtype == np.float64 and not s.any() for s in states)


def test_fit_without_optimizer_continues_and_partial_fit_keeps_the_state():
    X, y = data()
    whole, parts = make_net(), make_net()
    # (shuffle=False: each fit call draws its dropout seed from the generator)
    kw = dict(batch_size=8, shuffle=False, verbose=0)
    whole.fit(X, y, epochs=3, optimizer=O.RMSprop(lr=0.01), **kw)
    parts.fit(X, y, epochs=1, optimizer=O.RMSprop(lr=0.01), **kw)
    opt = parts.optimizer
    parts.partial_fit(X, y, **kw)
    parts.fit(X, y, **kw)  # optimizer=None: continue as well
    assert parts.optimizer is opt and opt.iterations == whole.optimizer.iterations == 15
    np.testing.assert_array_equal(parts.params, whole.params)


def test_lr_without_optimizer_sets_the_current_optimizers_rate():
    X, y = data()
    net = make_net()
    h = net.fit(X, y, epochs=1, batch_size=8, lr=0.7, verbose=0)  # a new SGD
    assert type(net.optimizer) is O.SGD and net.optimizer.lr == 0.7 and h["lr"] == [0.7]
    adam = O.Adam(lr=0.01)
    net.fit(X, y, batch_size=8, optimizer=adam, verbose=0)
    h = net.partial_fit(X, y, batch_size=8, lr=0.002, verbose=0)
    assert net.optimizer is adam and adam.lr == 0.002 and h["lr"] == [0.002]
    assert adam.iterations == 10


def test_schedule_counts_the_epochs_of_every_fit():
    X, y = data()
    net = make_net()
    opt = O.SGD(lr=1.0, schedule=O.Schedule("exponential", gamma=0.5))
    h1 = net.fit(X, y, epochs=2, batch_size=8, optimizer=opt, verbose=0)
    h2 = net.partial_fit(X, y, epochs=2, batch_size=8, verbose=0)
    assert h1["lr"] + h2["lr"] == [1.0, 0.5, 0.25, 0.125]
    assert O.SGD(schedule=lambda lr, e: lr / (e + 1)).learning_rate(3) == pytest.approx(0.025)


def test_hyper_parameters_are_checked_again_when_used():
    X, y = data()
    net = make_net()
    opt = O.Adam()
    opt.beta2 = 1.0
    with pytest.raises(ValueError, match="beta2 must be < 1"):
        net.fit(X, y, optimizer=opt, verbose=0)
    assert net.optimizer is None
    opt.beta2 = np.float32(0.99)  # NumPy scalars are numbers too
    net.fit(X, y, optimizer=opt, verbose=0)
    assert type(opt.beta2) is float


def test_pickled_optimizer_owns_writeable_state():
    X, y = data()
    net = make_net()
    net.fit(X, y, epochs=1, batch_size=8, optimizer="adam", verbose=0)
    again = pickle.loads(pickle.dumps(net.optimizer))
    assert again.iterations == net.optimizer.iterations
    for s, t in zip(again.states, net.optimizer.states, strict=True):
        np.testing.assert_array_equal(s, t)
        assert s.flags.writeable and s.flags.owndata and not np.shares_memory(s, t)


def test_take_state_only_from_the_same_rule():
    X, y = data()
    net = make_net()
    net.fit(X, y, epochs=1, batch_size=8, optimizer=O.SGD(momentum=0.9), verbose=0)
    old = net.optimizer
    same = O.SGD(lr=0.01, momentum=0.5)
    assert same.take_state(old) and same.iterations == old.iterations
    assert same.states[0] is old.states[0]
    assert not O.SGD(momentum=0.9, nesterov=True).take_state(old)
    assert not O.Adam().take_state(old) and not O.SGD().take_state(None)


def test_repr_names_the_hyper_parameters():
    assert repr(O.Adam(lr=0.01)) == "Adam(lr=0.01, beta1=0.9, beta2=0.999, epsilon=1e-08, l2=0.0)"
    assert "momentum=0.9" in repr(O.get("nesterov"))
