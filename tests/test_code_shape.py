"""The shape of nnc's Python code: short functions, typed public API, stubs
that match the compiled modules.

Read from the source with ``ast`` (nothing is imported for the first two), so
a file that cannot run here is still measured.
"""
import ast
import enum
import inspect
import pathlib

import pytest

import nnc
from nnc import _engine, _kernels

PACKAGE = pathlib.Path(nnc.__file__).parent
MAX_LINES = 80

#: functions allowed to be longer than MAX_LINES for now, each by name
#: ("module.py:Class.method") and for a reason given here; the test fails while
#: an entry names a function that is short enough, or gone.  Empty: keep it so.
KNOWN_LONG: set[str] = set()

#: public modules whose public functions may still lack annotations (by file
#: name, each for a reason given here); the test fails once such a module is
#: fully annotated.  Empty: keep it so.
UNTYPED_MODULES: set[str] = set()


def _sources():
    return sorted(PACKAGE.glob("*.py"))


def _functions(tree):
    """(qualified name, node) of every function and method, nested ones included."""
    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield prefix + child.name, child
                yield from walk(child, prefix + child.name + ".")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, prefix + child.name + ".")
            else:
                yield from walk(child, prefix)
    yield from walk(tree, "")


def _length(node):
    """Lines from the ``def`` (decorators not counted) to the last line of the body."""
    return node.end_lineno - node.lineno + 1


def long_functions():
    found = {}
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for name, node in _functions(tree):
            if _length(node) > MAX_LINES:
                found[f"{path.name}:{name}"] = _length(node)
    return found


def test_no_function_is_longer_than_80_lines():
    found = long_functions()
    new = {name: n for name, n in found.items() if name not in KNOWN_LONG}
    assert not new, (f"functions longer than {MAX_LINES} lines (split them into steps "
                     f"that each do one job): {new}")


def test_known_long_functions_are_still_long():
    # an entry of KNOWN_LONG that no longer applies must be removed, so the
    # allow-list only shrinks
    stale = sorted(KNOWN_LONG - set(long_functions()))
    assert not stale, f"remove from KNOWN_LONG (now at most {MAX_LINES} lines or gone): {stale}"


def test_the_length_measure():
    tree = ast.parse("def f(x):\n" + "    x += 1\n" * (MAX_LINES - 2) + "    return x\n")
    [(name, node)] = list(_functions(tree))
    assert (name, _length(node)) == ("f", MAX_LINES)
    tree = ast.parse("class A:\n    def g(self):\n        def h():\n            pass\n")
    assert [name for name, _ in _functions(tree)] == ["A.g", "A.g.h"]


def _is_public(name):
    return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))


def untyped_public_functions(path):
    """Public functions and methods of public classes with a parameter or the
    return value not annotated."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    missing = []

    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and _is_public(child.name):
                a = child.args
                params = a.posonlyargs + a.args + a.kwonlyargs + [p for p in (a.vararg, a.kwarg) if p]
                bare = [p.arg for p in params if p.annotation is None]
                if bare[:1] in (["self"], ["cls"]) and not isinstance(node, ast.Module):
                    bare = bare[1:]
                if bare or child.returns is None:
                    missing.append(prefix + child.name)
            elif isinstance(child, ast.ClassDef) and not child.name.startswith("_"):
                walk(child, prefix + child.name + ".")
    walk(tree, "")
    return missing


@pytest.mark.parametrize("path", [p for p in _sources() if not p.name.startswith("_")],
                         ids=lambda p: p.name)
def test_public_api_is_annotated(path):
    missing = untyped_public_functions(path)
    if path.name in UNTYPED_MODULES:
        assert missing, f"{path.name} is fully annotated now: remove it from UNTYPED_MODULES"
    else:
        assert not missing, f"{path.name}: public functions without type hints: {missing}"


def test_untyped_function_is_found(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("class A:\n    def f(self, x: int) -> int: ...\n    def g(self, x): ...\n"
                    "def h(y: int): ...\ndef _private(z): ...\n")
    assert untyped_public_functions(path) == ["A.g", "h"]


def test_package_is_marked_typed():
    assert (PACKAGE / "py.typed").is_file()


# -- the .pyi stubs of the compiled modules ------------------------------------
def _stub_names(module):
    tree = ast.parse((PACKAGE / f"{module.__name__.rsplit('.', 1)[1]}.pyi").read_text(encoding="utf-8"))
    names = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            names[node.name] = node
    return names


@pytest.mark.parametrize("module", [_kernels, _engine], ids=lambda m: m.__name__)
def test_stubs_name_what_the_compiled_module_defines(module):
    public = {name for name, value in vars(module).items()
              if not name.startswith("_") and getattr(value, "__module__", None) == module.__name__}
    assert public == set(_stub_names(module))


@pytest.mark.parametrize("module", [_kernels, _engine], ids=lambda m: m.__name__)
def test_stub_classes_name_what_the_compiled_classes_define(module):
    for name, node in _stub_names(module).items():
        value = getattr(module, name)
        if not isinstance(node, ast.ClassDef) or issubclass(value, enum.Enum):
            continue
        stub = {item.name for item in node.body if isinstance(item, ast.FunctionDef)}
        stub |= {item.target.id for item in node.body if isinstance(item, ast.AnnAssign)}
        runtime = {key for key in vars(value) if not key.startswith("_")}
        assert {key for key in stub if not key.startswith("_")} == runtime, name


@pytest.mark.parametrize("module", [_kernels, _engine], ids=lambda m: m.__name__)
def test_stub_enums_match_the_cpdef_enums(module):
    for name, node in _stub_names(module).items():
        value = getattr(module, name)
        if not (isinstance(value, type) and issubclass(value, enum.Enum)):
            continue
        stub = {t.id: ast.literal_eval(s.value) for s in node.body if isinstance(s, ast.Assign)
                for t in s.targets}
        assert stub == {m.name: int(m) for m in value}, name


def _stub_functions(module):
    """(runtime object, stub node) of the stub's functions and class methods."""
    for name, node in _stub_names(module).items():
        value = getattr(module, name)
        if isinstance(node, ast.FunctionDef):
            yield f"{name}", value, node
        else:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and not item.decorator_list \
                        and item.name != "__init__":  # a slot wrapper: no signature to compare
                    yield f"{name}.{item.name}", getattr(value, item.name), item


def _stub_parameters(node):
    a = node.args
    defaults = [None] * (len(a.args) - len(a.defaults)) + list(a.defaults)
    out = [(p.arg, "POSITIONAL_OR_KEYWORD", d is not None) for p, d in zip(a.args, defaults, strict=True)]
    out += [(p.arg, "KEYWORD_ONLY", d is not None) for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True)]
    return out


@pytest.mark.parametrize("module", [_kernels, _engine], ids=lambda m: m.__name__)
def test_stub_signatures_match_the_compiled_functions(module):
    checked = 0
    for name, value, node in _stub_functions(module):
        sig = inspect.signature(value)
        runtime = [(p.name, p.kind.name, p.default is not p.empty) for p in sig.parameters.values()]
        assert _stub_parameters(node) == runtime, name
        checked += 1
    assert checked >= 8
