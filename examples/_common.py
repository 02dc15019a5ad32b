"""Shared plumbing of the example scripts: options, data, per-epoch reporting.

With ``NNC_DOCS_QUICK=1`` in the environment (the documentation build sets
it) the examples default to a few epochs on fewer images, so the whole
gallery runs in minutes; options given on the command line still win.
"""
import argparse
import os
import time

import nnc

#: True when the documentation build runs the examples (few epochs, fewer images).
QUICK = os.environ.get("NNC_DOCS_QUICK", "0").strip() not in ("", "0")
QUICK_EPOCHS, QUICK_TRAIN_SIZE = 5, 20000


def title(doc):
    """The first non-empty line of a module docstring (the gallery's title).

    sphinx-gallery runs the scripts with an empty ``__doc__``.
    """
    return next((line.strip() for line in (doc or "").splitlines() if line.strip()), None)


def parser(description, epochs, train_size=50000, threads=1):
    """Options every example accepts, so tests can run them quickly."""
    if QUICK:
        epochs, train_size = min(epochs, QUICK_EPOCHS), min(train_size, QUICK_TRAIN_SIZE)
    p = argparse.ArgumentParser(description=title(description))
    p.add_argument("--epochs", type=int, default=epochs, help=f"default {epochs}")
    p.add_argument("--train-size", type=int, default=train_size,
                   help=f"training images used, from the start of the set (default {train_size})")
    p.add_argument("--seed", type=int, default=0)
    # One thread by default: with mini-batches of 10 the matrices are small, and
    # on a shared 2-core machine a second thread mostly waits for the first.
    p.add_argument("--threads", type=int, default=threads, help=f"default {threads}")
    p.add_argument("--quiet", action="store_true", help="print the result line only")
    return p


def mnist(train_size):
    (X, y), (X_test, y_test) = nnc.datasets.load_mnist()
    return (X[:train_size], y[:train_size]), (X_test, y_test)


def train_and_report(name, net, train, test, published, quiet=False, **fit_kwargs):
    """Train with the test set scored after each epoch (as the tutorials do),
    print one line per epoch and a final line with the result beside the
    published number."""
    (X, y), (X_test, y_test) = train, test
    n_test = X_test.shape[0]

    def report(network, epoch, history):
        if not quiet:
            acc = history["val_accuracy"][-1]
            print(f"Epoch {epoch + 1}: {round(acc * n_test)} / {n_test} test images "
                  f"({acc:.2%}), {history['seconds'][-1]:.2f} s", flush=True)

    if not quiet:
        arch = "-".join(str(s) for s in net.sizes)
        print(f"{name}: {arch} {net.activations[0]}/{net.activations[-1]}, {net.loss}, "
              f"{X.shape[0]:,} training images", flush=True)
    started = time.perf_counter()
    history = net.fit(X, y, validation_data=(X_test, y_test), verbose=0,
                      callbacks=[report], **fit_kwargs)
    seconds = time.perf_counter() - started
    accs = history["val_accuracy"]
    best = max(range(len(accs)), key=accs.__getitem__)
    print(f"{name}: test accuracy {accs[-1]:.2%} after {len(accs)} epochs "
          f"(best {accs[best]:.2%} at epoch {best + 1}); published {published}; "
          f"training time {seconds:.1f} s")
    return history
