"""Data and settings shared by the MPI scripts and the tests that check them.

The scripts run under ``mpiexec``; the test process rebuilds the same data
from the same seeds to compute single-process references.
"""
import numpy as np

from nnc import optimizers

N_RANKS = 2
N_FEATURES = 5


def classification(n, seed, n_classes=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, N_FEATURES))
    y = (np.argmax(X[:, :n_classes] + 0.3 * rng.standard_normal((n, n_classes)), axis=1))
    return X, y.astype(np.int64)


def shards(n_per_rank, seed):
    """One (X, y) per rank; rank r's rows come from its own seed."""
    return [classification(n, seed + 101 * r) for r, n in enumerate(n_per_rank)]


def batches(n, bs):
    return [(s, min(s + bs, n)) for s in range(0, n, bs)]


# --- case "sgd": equal shards, plain SGD, two epochs, validation data
SGD = dict(n=(24, 24), seed=1, bs=4, epochs=2,
           net=dict(sizes=[N_FEATURES, 7, 3], dtype="float64", seed=3),
           fit=lambda: dict(optimizer=optimizers.SGD(lr=0.5, l2=1e-3)))  # a fresh optimizer per fit
SGD_VAL = dict(n=(9, 14), seed=50)

# --- case "adam": unequal shards (the epoch ends with the shortest shard),
# a partial last batch, sample weights, Adam with l2, two epochs
ADAM = dict(n=(23, 30), seed=2, bs=4, epochs=2,
            net=dict(sizes=[N_FEATURES, 6, 4, 3], activation="tanh",
                     output_activation="softmax", loss="sparse_categorical_crossentropy",
                     dtype="float64", seed=4),
            fit=lambda: dict(optimizer=optimizers.Adam(lr=0.02, l2=1e-3)))


def adam_weights(n, rank):
    return np.linspace(0.5, 1.5, n) + 0.25 * rank

# --- case "local": local SGD (sync_every=k), equal shards of 6 batches
LOCAL = dict(n=(24, 24), seed=5, bs=4, epochs=2,
             net=dict(sizes=[N_FEATURES, 8, 3], dtype="float64", seed=6),
             fit=lambda: dict(optimizer="sgd", lr=0.5))
LOCAL_K = (3, 4)
