"""Each example script runs (1 epoch, few images) and prints its result line."""
import os
import re
import subprocess
import sys

import pytest

import nnc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where the nnc under test was imported from (the source tree in development,
# site-packages in CI): child processes must import the same one.
NNC_HOME = os.path.dirname(os.path.dirname(os.path.abspath(nnc.__file__)))
EXAMPLES = os.path.join(ROOT, "examples")

RESULT = {
    "tutorial_network.py": r"^tutorial_network: test accuracy (\d+\.\d+)% after 1 epochs "
                           r"\(best \d+\.\d+% at epoch 1\); published ~95% .*; training time "
                           r"\d+\.\d s$",
    "tutorial_100.py": r"^tutorial_100: test accuracy (\d+\.\d+)% after 1 epochs .*"
                       r"published 96\.59%; training time \d+\.\d s$",
    "tutorial_network2.py": r"^tutorial_network2: test accuracy (\d+\.\d+)% after 1 epochs .*"
                            r"published ~98%; training time \d+\.\d s$",
    "best_mnist.py": r"^best_mnist: test accuracy (\d+\.\d+)% \(\d+ / 10000\), training time "
                     r"\d+\.\d s \(CPU \d+\.\d s; 1 epochs on 3,000 images\)$",
}


def _run(script, *args):
    env = dict(os.environ, PYTHONPATH=NNC_HOME + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, script), *args],
                          capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()


@pytest.mark.parametrize("script", sorted(RESULT))
def test_example_runs_and_reports(script):
    # best_mnist (Adam) learns fast; the tutorials' plain SGD needs more steps
    size = "3000" if script == "best_mnist.py" else "20000"
    lines = _run(script, "--epochs", "1", "--train-size", size, "--threads", "1")
    match = re.match(RESULT[script], lines[-1])
    assert match, lines[-1]
    assert 30.0 < float(match.group(1)) <= 100.0          # trained: far above chance
    assert re.match(r"^Epoch 1: ", lines[-2])              # a line per epoch before it


def test_quiet_prints_only_the_result():
    lines = _run("tutorial_network.py", "--epochs", "1", "--train-size", "1000", "--quiet",
                 "--threads", "1")
    assert len(lines) == 1 and lines[0].startswith("tutorial_network: test accuracy")


def test_best_mnist_shift_images():
    sys.path.insert(0, EXAMPLES)
    try:
        from best_mnist import shift_images
    finally:
        sys.path.remove(EXAMPLES)
    import numpy as np
    X = np.arange(2 * 784, dtype=np.float32).reshape(2, 784) + 1
    rng = np.random.default_rng(5)
    out = shift_images(X, rng, 2)
    rng = np.random.default_rng(5)
    dys, dxs = rng.integers(-2, 3, 2), rng.integers(-2, 3, 2)
    for i in range(2):
        img, got = X[i].reshape(28, 28), out[i].reshape(28, 28)
        for r in range(28):
            for c in range(28):
                rr, cc = r - dys[i], c - dxs[i]
                want = img[rr, cc] if 0 <= rr < 28 and 0 <= cc < 28 else 0.0
                assert got[r, c] == want
