"""The examples in nnc's docstrings are real doctests: each public module's
examples run and must print what the docstring says.  And every parameter of
the public API is documented (numpydoc's PR01, as the docs build checks it)."""
import doctest
import importlib
import importlib.util

import pytest

MODULES = ["nnc", "nnc.network", "nnc.perceptron", "nnc.optimizers", "nnc.callbacks",
           "nnc.training", "nnc.lbfgs", "nnc.model", "nnc.io", "nnc.datasets", "nnc.downloads",
           "nnc.images", "nnc.activations", "nnc.losses", "nnc.kernels", "nnc.plot",
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


def _public_objects():
    """Full names of the objects the API reference documents: the package's
    top-level names and each reference module's public classes (with the
    methods and properties they define) and functions."""
    import inspect
    import os
    import sys
    docs = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")
    if not os.path.isfile(os.path.join(docs, "_ext.py")):
        # the wheel check runs a copy of tests/ alone; the source tree's run checks this
        pytest.skip("the docs source (docs/_ext.py, its list of modules) is not beside tests/")
    sys.path.insert(0, docs)
    try:
        import _ext
    finally:
        sys.path.remove(docs)
    names = ["nnc.load"]
    classes = [("nnc", "Network"), ("nnc", "Perceptron"), ("nnc", "DivergenceError")]
    for modname in _ext.MODULES:
        if modname in NEEDS and importlib.util.find_spec(NEEDS[modname]) is None:
            continue
        module = importlib.import_module(modname)
        cls_names, exc_names, fn_names = _ext._public_members(module)
        classes += [(modname, n) for n in cls_names + exc_names]
        names += [f"{modname}.{n}" for n in fn_names]
    for modname, cname in classes:
        names.append(f"{modname}.{cname}")
        cls = getattr(importlib.import_module(modname), cname)
        for attr, value in vars(cls).items():
            if not attr.startswith("_") and (inspect.isfunction(value) or isinstance(
                    value, (classmethod, staticmethod, property))):
                names.append(f"{modname}.{cname}.{attr}")
    return _ext, names


def test_every_public_parameter_is_documented():
    """numpydoc's PR01, as the docs build checks it, without building the site."""
    import re
    validate = pytest.importorskip("numpydoc.validate").validate
    _ext, names = _public_objects()
    pending = [re.compile(p) for p in _ext.PR01_PENDING]
    missing = {}
    for name in names:
        if any(p.search(name) for p in pending):
            continue
        errors = [msg for code, msg in validate(name)["errors"] if code == "PR01"]
        if errors:
            missing[name] = errors
    assert len(names) > 150
    assert not missing, missing
