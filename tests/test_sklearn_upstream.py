"""scikit-learn's own MLP tests, run against nnc.sklearn's estimators.

The installed scikit-learn ships ``sklearn/neural_network/tests/test_mlp.py``.
This test reads it at test time, changes only its import of
``MLPClassifier``/``MLPRegressor`` to ``nnc.sklearn``, writes it to a
temporary folder and runs it with pytest in a child process.  Every test
must pass except the few deselected below, each for a stated reason: they
read scikit-learn's private attributes, which nnc's estimators do not have.
"""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

sklearn = pytest.importorskip("sklearn")

import nnc  # noqa: E402

UPSTREAM_IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor"
NNC_IMPORT = "from nnc.sklearn import MLPClassifier, MLPRegressor"

#: test name -> why it cannot run against another implementation
DESELECTED = {
    "test_gradient": "calls the private MLPClassifier._loss_grad_lbfgs with scikit-learn's "
                     "own work arrays (nnc's gradient is checked in tests/test_lbfgs.py)",
    "test_learning_rate_warmstart": "reads the private _optimizer.learning_rate "
                                    "(scikit-learn's optimizer object)",
    "test_adaptive_learning_rate": "reads the private _optimizer.learning_rate "
                                   "(scikit-learn's optimizer object)",
}

#: sklearn's conftest gives this fixture (42 unless SKLEARN_TESTS_GLOBAL_RANDOM_SEED says
#: otherwise); its other hooks are for scikit-learn's own tree
CONFTEST = '''
import pytest


@pytest.fixture
def global_random_seed():
    return 42
'''


def upstream_source():
    path = Path(sklearn.__file__).parent / "neural_network" / "tests" / "test_mlp.py"
    if not path.is_file():
        pytest.skip(f"this scikit-learn install has no {path}")
    return path.read_text(encoding="utf-8")


def run_upstream(tmp_path, source, deselected):
    """Run the rewritten file with pytest; return {test id: outcome}."""
    assert source.count(UPSTREAM_IMPORT) == 1, "scikit-learn's test file changed its import"
    (tmp_path / "test_mlp_nnc.py").write_text(source.replace(UPSTREAM_IMPORT, NNC_IMPORT),
                                              encoding="utf-8")
    (tmp_path / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    report = tmp_path / "report.xml"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           f"--junitxml={report}", "test_mlp_nnc.py"]
    cmd += [f"--deselect=test_mlp_nnc.py::{name}" for name in deselected]
    env = dict(os.environ, PYTHONPATH=str(Path(nnc.__file__).resolve().parent.parent),
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run(cmd, check=False, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=1200)
    outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcomes[case.get("name")] = kinds[0] if kinds else "passed"
    return outcomes, proc.stdout[-6000:] + proc.stderr[-3000:]


def test_sklearn_test_mlp_passes_on_nnc_estimators(tmp_path):
    source = upstream_source()
    outcomes, log = run_upstream(tmp_path, source, DESELECTED)
    failed = {name: kind for name, kind in outcomes.items()
              if kind in ("failure", "error")}
    assert not failed, f"scikit-learn's tests failed on nnc: {failed}\n{log}"
    # the only skips allowed are scikit-learn's own for missing optional packages
    for name, kind in outcomes.items():
        if kind == "skipped":
            assert "preserve_feature_names" in name, f"{name} skipped:\n{log}"
    passed = [name for name, kind in outcomes.items() if kind == "passed"]
    assert len(passed) >= 50, log
    # the deselected tests really were left out, and nothing else was
    ran = {name.split("[")[0] for name in outcomes}
    upstream = {line[4:line.index("(")] for line in source.splitlines()
                if line.startswith("def test_")}
    assert ran == upstream - set(DESELECTED), log
