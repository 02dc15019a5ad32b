"""The examples in nnc's docstrings are real doctests: each public module's
examples run and must print what the docstring says."""
import doctest
import importlib

import pytest

MODULES = ["nnc", "nnc.network", "nnc.perceptron", "nnc.optimizers", "nnc.io", "nnc.datasets",
           "nnc.downloads", "nnc.activations", "nnc.losses", "nnc.kernels", "nnc.plot",
           "nnc.distributed", "nnc.onnx", "nnc.cli", "nnc.sklearn"]
# Modules whose import needs an optional dependency.
NEEDS = {"nnc.sklearn": "sklearn"}


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    if name in NEEDS:
        pytest.importorskip(NEEDS[name])
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name, globs={}):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples " \
                               f"in {name} failed (output above)"


def test_the_package_example_is_run():
    """The front-page example trains a network: it must not be skipped."""
    import nnc
    tests = doctest.DocTestFinder().find(nnc, "nnc", globs={})
    examples = [ex for t in tests if t.name == "nnc" for ex in t.examples]
    assert any("net.fit(" in ex.source and not ex.options for ex in examples)
