"""nnc.Perceptron: Rosenblatt's rule, convergence, XOR, persistence."""
import pickle

import numpy as np
import pytest

import nnc
from nnc.perceptron import Perceptron

X2 = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])


@pytest.mark.parametrize("name, y", [("AND", [0, 0, 0, 1]), ("OR", [0, 1, 1, 1]),
                                     ("NAND", [1, 1, 1, 0])])
def test_learns_two_input_gates(name, y):
    p = Perceptron(2, seed=0)
    history = p.fit(X2, y, epochs=50)
    assert p.predict(X2).tolist() == y, name
    assert history["errors"][-1] == 0 and p.score(X2, y) == 1.0
    assert len(history["errors"]) < 50      # stopped once an epoch was clean


def test_learns_not():
    p = Perceptron(1)
    p.fit([[0], [1]], [1, 0], epochs=10)
    assert p.predict([[0], [1]]).tolist() == [1, 0]
    assert p.weights[0][0, 0] < 0 < p.biases[0][0]


def test_update_rule_by_hand():
    # AND from zero weights, lr=0.5, samples in order: the first mistake is
    # (1,1) -> 0 (z = 0 is not > 0): w += 0.5*(1-0)*[1,1], b += 0.5.
    p = Perceptron(2, lr=0.5)
    p.fit(X2, [0, 0, 0, 1], epochs=1, stop_when_converged=False)
    np.testing.assert_array_equal(p.weights[0], [[0.5, 0.5]])
    np.testing.assert_array_equal(p.biases[0], [0.5])
    assert p.history["errors"] == [1]
    # second epoch: (0,0) gives z=0.5 > 0 -> 1, wrong: b -= 0.5 -> 0;
    # (0,1) gives 0.5 -> 1, wrong: w -= 0.5*[0,1], b -= 0.5
    p.fit(X2[:2], [0, 0], epochs=1)
    np.testing.assert_array_equal(p.weights[0], [[0.5, 0.0]])
    np.testing.assert_array_equal(p.biases[0], [-0.5])


def test_converges_on_separable_random_data_within_the_theorem_bound():
    rng = np.random.default_rng(1)
    w_true = rng.normal(size=5)
    X = rng.normal(size=(400, 5))
    margin = X @ w_true + 0.3
    keep = np.abs(margin) > 0.5 * np.linalg.norm(w_true)   # a clear margin
    X, y = X[keep], (margin[keep] > 0).astype(int)
    p = Perceptron(5, seed=0)
    history = p.fit(X, y, epochs=1000, shuffle=True)
    assert history["errors"][-1] == 0
    np.testing.assert_array_equal(p.predict(X), y)
    # Novikoff: mistakes <= (R / gamma)^2 with the augmented inputs [x, 1]
    Xa = np.hstack([X, np.ones((len(X), 1))])
    wa = np.append(w_true, 0.3)
    gamma = np.min(np.abs(Xa @ wa)) / np.linalg.norm(wa)
    R = np.max(np.linalg.norm(Xa, axis=1))
    assert sum(history["errors"]) <= (R / gamma) ** 2


def test_never_fits_xor():
    p = Perceptron(2, seed=0)
    history = p.fit(X2, [0, 1, 1, 0], epochs=200, shuffle=True)
    assert len(history["errors"]) == 200
    assert min(history["errors"]) > 0
    assert p.score(X2, [0, 1, 1, 0]) <= 0.75


def test_several_outputs_are_independent_units():
    Y = np.array([[0, 0, 1], [0, 1, 1], [0, 1, 1], [1, 1, 0]])   # AND, OR, NAND
    p = Perceptron(2, n_outputs=3)
    p.fit(X2, Y, epochs=50)
    np.testing.assert_array_equal(p.predict(X2), Y)
    assert p.weights[0].shape == (3, 2) and p.biases[0].shape == (3,)
    assert p.sizes == (2, 3) and p.n_layers == 1 and p.activations == ("step",)
    np.testing.assert_array_equal(p.forward(X2), Y.astype(float))


def test_params_is_the_flat_buffer_behind_the_views():
    p = Perceptron(3, n_outputs=2, dtype="float32")
    assert p.params.dtype == np.float32 and p.params.shape == (3 * 2 + 2,)
    p.weights[0][1, 2] = 7
    p.biases[0][0] = -1
    assert p.params[2 * 2 + 1] == 7 and p.params[6] == -1


def test_save_and_load_round_trip(tmp_path):
    p = Perceptron(2, n_outputs=1, dtype="float32", seed=3)
    p.fit(X2, [0, 1, 1, 1], epochs=20)
    path = tmp_path / "or.npz"
    p.save(path, metadata={"gate": "OR"})
    config = nnc.io.read_config(path)
    assert config["kind"] == "perceptron"
    assert config["network"]["sizes"] == [2, 1]
    q = nnc.load(path)
    assert isinstance(q, Perceptron) and q.dtype == np.float32
    np.testing.assert_array_equal(q.params, p.params)
    assert q.history == p.history and q.metadata == {"gate": "OR"}
    assert q.predict(X2).tolist() == [0, 1, 1, 1]
    assert p.get_config() == {"n_inputs": 2, "n_outputs": 1, "dtype": "float32",
                              "seed": 3, "lr": 1.0}
    assert config["network"] == {"sizes": [2, 1], "activation": ["step"], "dtype": "float32",
                                 "seed": 3, "lr": 1.0}
    assert Perceptron.from_config(p.get_config()).get_config() == p.get_config()


def test_pickle_keeps_views_live():
    p = Perceptron(2)
    p.fit(X2, [0, 0, 0, 1], epochs=20)
    q = pickle.loads(pickle.dumps(p))
    q.weights[0][...] = 0
    assert not q.params[:2].any() and p.params[:2].any()


@pytest.mark.parametrize("kwargs, exc, word", [
    ({"n_inputs": 0}, ValueError, "n_inputs"),
    ({"n_inputs": 2, "n_outputs": 0}, ValueError, "n_outputs"),
    ({"n_inputs": 2, "lr": 0}, ValueError, "lr"),
    ({"n_inputs": 2, "dtype": "int32"}, ValueError, "dtype"),
    ({"n_inputs": 2.5}, TypeError, "n_inputs"),
])
def test_bad_constructor_arguments(kwargs, exc, word):
    with pytest.raises(exc, match=word):
        Perceptron(**kwargs)


def test_bad_fit_arguments():
    p = Perceptron(2)
    with pytest.raises(ValueError, match="0 and 1"):
        p.fit(X2, [0, 2, 1, 1])
    with pytest.raises(ValueError, match="shape"):
        p.fit(X2, [0, 1, 1])
    with pytest.raises(ValueError, match="features"):
        p.fit(X2[:, :1], [0, 1, 1, 1])
    with pytest.raises(ValueError, match="NaN"):
        p.fit([[0, np.nan]], [0])
    with pytest.raises(ValueError, match="epochs"):
        p.fit(X2, [0, 1, 1, 1], epochs=-1)
    with pytest.raises(ValueError, match="layer"):
        p.forward(X2, layer=2)
