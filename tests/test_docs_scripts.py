"""The documentation's scripts run as plain scripts: the Learn path (docs/
learn_scripts, quick mode) start to finish, and the gallery-only examples."""
import os
import re
import subprocess
import sys

import pytest

import nnc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NNC_HOME = os.path.dirname(os.path.dirname(os.path.abspath(nnc.__file__)))
LEARN = os.path.join(ROOT, "docs", "learn_scripts")
EXAMPLES = os.path.join(ROOT, "examples")

if not os.path.isdir(LEARN):     # a wheel's test run carries tests/ and examples/ only
    pytest.skip("docs/learn_scripts is not in this tree", allow_module_level=True)


def run(path, *args, cwd=None):
    env = dict(os.environ, NNC_DOCS_QUICK="1", MPLBACKEND="Agg",
               PYTHONPATH=NNC_HOME + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, path, *args], capture_output=True, text=True,
                          env=env, timeout=300, cwd=cwd or os.path.dirname(path))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def learn(name):
    return run(os.path.join(LEARN, name))


def test_perceptron_learns_the_gates_but_not_xor():
    out = learn("step1_perceptron.py")
    assert " AND: predictions [0, 0, 0, 1]" in out
    assert "  OR: predictions [0, 1, 1, 1]" in out
    assert "NAND: predictions [1, 1, 1, 0]" in out
    assert "accuracy 100%" not in out.split("XOR:")[1].splitlines()[0]
    assert "XOR from two layers: [0, 1, 1, 0]" in out


def test_learn_steps_2_to_4():
    assert "same as NumPy: True" in learn("step2_sigmoid.py")
    out = learn("step3_network.py")
    by_hand = re.search(r"by hand: +(\[.*\])", out).group(1)
    engine = re.search(r"net.forward: (\[.*\])", out).group(1)
    assert by_hand == engine
    out = learn("step4_cost.py")
    nnc_cost, hand = re.search(r"quadratic cost: nnc (\S+), by hand (\S+)", out).groups()
    assert abs(float(nnc_cost) - float(hand)) < 1e-4


def test_gradient_descent_step_matches_fit():
    out = learn("step5_gradient_descent.py")
    assert float(re.search(r"between the two: (\S+)", out).group(1)) < 1e-12
    assert len(re.findall(r"test accuracy", out)) == 11
    # the optimizer objects: momentum and a schedule that halves the rate
    assert "momentum 0.5, eta 1.5      rates [1.5, 1.5]" in out
    assert "eta 3.0 halved each epoch  rates [3.0, 1.5]" in out


def test_backpropagation_matches_the_four_equations():
    out = learn("step6_backpropagation.py")
    for diff in re.findall(r"= (\d\.\de-\d+)", out):
        assert float(diff) < 1e-12
    fd, bp = re.search(r"finite difference (\S+), backpropagation (\S+)", out).groups()
    assert abs(float(fd) - float(bp)) < 1e-6


def test_mnist_end_to_end_and_improvements():
    out = learn("step7_mnist.py")
    last = int(re.findall(r"Epoch \d+: (\d+) / 10000", out)[-1])
    assert last > 9000
    out = learn("step8_improving.py")
    accs = [float(a) for a in re.findall(r"test accuracy (\d+\.\d+)%", out)]
    assert len(accs) == 6 and min(accs[1:]) > 90
    # early stopping: patience 3 after the best epoch, long before 100 epochs
    stopped, best = map(int, re.search(r"stopped after epoch (\d+) of at most 100; the best "
                                       r"was epoch (\d+)", out).groups())
    assert stopped < 100 and stopped - best == 3
    best_acc, checkpoint_acc = map(float, re.search(
        r"test accuracy: (\d+\.\d+)% \(best epoch\), (\d+\.\d+)% \(the checkpoint", out).groups())
    assert min(best_acc, checkpoint_acc) > 90


def test_figure_examples_save_their_figures(tmp_path):
    pytest.importorskip("matplotlib")
    run(os.path.join(EXAMPLES, "plot_activation_functions.py"), "--out",
        str(tmp_path / "act.png"))
    out = run(os.path.join(EXAMPLES, "plot_mnist_figures.py"), "--epochs", "1",
              "--train-size", "2000", "--out-dir", str(tmp_path))
    assert "test accuracy" in out
    for name in ("act.png", "learning_curves.png", "first_layer_weights.png",
                 "confusion_matrix.png"):
        assert (tmp_path / name).stat().st_size > 5000, name


def test_onnx_example_agrees_with_forward():
    pytest.importorskip("onnxruntime")
    out = run(os.path.join(EXAMPLES, "onnx_export.py"), "--epochs", "1", "--train-size", "2000")
    assert float(re.search(r"net.forward: (\S+)", out).group(1)) < 1e-4


def test_sklearn_example_runs():
    pytest.importorskip("sklearn")
    out = run(os.path.join(EXAMPLES, "sklearn_digits.py"))
    assert float(re.search(r"nnc: test accuracy (\d+\.\d+)%", out).group(1)) > 90
