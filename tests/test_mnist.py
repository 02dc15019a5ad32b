"""The tutorials' MNIST run: 784-30-10, sigmoid, quadratic cost, batch 10, eta 3.0.

A correct implementation peaks at 94.7-95.2% test accuracy across seeds
within 30 epochs; the test requires >= 94.5% at the best epoch and stops as
soon as that is reached, to keep CI short.
"""
import math

import numpy as np
import pytest

import nnc

TARGET = 0.945


def test_tutorial_network_reaches_target_accuracy(mnist):
    (X, y), (X_test, y_test) = mnist
    net = nnc.Network([784, 30, 10], seed=0)
    assert net.activations == ("sigmoid", "sigmoid") and net.loss == "quadratic"
    assert net.dtype == np.float32

    def reached(network, epoch, history):
        return history["val_accuracy"][-1] >= TARGET

    h = net.fit(X[:50000], y[:50000], epochs=30, batch_size=10, lr=3.0, verbose=0,
                validation_data=(X_test, y_test), callbacks=[reached])
    best = max(h["val_accuracy"])
    assert best >= TARGET, f"best test accuracy {best:.4f} over {len(h['loss'])} epochs"

    # the history is filled, one entry per epoch run, for every metric
    n = len(h["loss"])
    assert 1 <= n <= 30
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"):
        assert len(h[key]) == n and len(net.history[key]) == n
        assert all(math.isfinite(v) for v in h[key])
    assert h["lr"] == [3.0] * n
    assert all(0 < v < 0.5 for v in h["val_loss"])  # quadratic cost of 10 outputs
    assert h["val_accuracy"][-1] == best  # stopped right when the target was reached
    # training made progress from the first epoch
    assert h["loss"][-1] <= h["loss"][0]
    assert h["accuracy"][0] > 0.8

    # validation scores are those of evaluate() on the final network
    ev = net.evaluate(X_test, y_test)
    assert ev["accuracy"] == pytest.approx(h["val_accuracy"][-1], abs=1e-12)
    assert ev["loss"] == pytest.approx(h["val_loss"][-1], rel=1e-6)
    assert np.mean(net.predict(X_test) == y_test) == pytest.approx(ev["accuracy"], abs=1e-12)
