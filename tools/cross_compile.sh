#!/usr/bin/env bash
# Compile-only portability guard for nnc's C: cythonize nnc/*.pyx once, then
# compile the generated C (and with it nnc/_simd.h) to object files for wheel
# targets that cannot run on this machine:
#
#   zig cc (PyPI `ziglang`): aarch64-linux-gnu, x86_64-linux-musl,
#                            x86_64-macos, aarch64-macos   (clang branch)
#   musl-gcc (Debian `musl-tools`): x86_64 GCC without glibc (the GCC branch
#                            that must not take the target_clones/AVX-512 path)
#
# Nothing is linked: the host's Python and NumPy headers are enough for -c
# (CPython's and NumPy's headers are target-neutral for these 64-bit targets,
# which share the LP64 sizes recorded in pyconfig.h/_numpyconfig.h).  An
# intrinsic used outside its guard fails here: an undeclared function
# (-Werror=implicit-function-declaration) or a target-option mismatch.
#
# Usage: tools/cross_compile.sh [TARGET ...]   (default: all of the above;
# names: the zig triples and `musl-gcc`; JOBS=N compilers at a time,
# default nproc).  Needs `python` with Cython, NumPy
# and ziglang, and musl-gcc for that target.  Exit status 1 if any fails.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    TARGETS=(aarch64-linux-gnu x86_64-linux-musl x86_64-macos aarch64-macos musl-gcc)
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nnc-cross.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# Cythonize once, with setup.py's directives, in a copy (the tree's own
# generated .c files are left alone).
mkdir -p "$WORK/nnc"
cp nnc/*.pyx nnc/*.pxd nnc/*.h "$WORK/nnc/"
# a package there, so that `cimport nnc._kernels` finds this tree's .pxd and
# not that of an nnc installed in the environment (an older one fails)
touch "$WORK/nnc/__init__.py"
( cd "$WORK" && python - <<'EOF'
from Cython.Build import cythonize
cythonize(["nnc/_kernels.pyx", "nnc/_engine.pyx"], quiet=True, compiler_directives={
    "language_level": 3, "boundscheck": False, "wraparound": False,
    "cdivision": True, "initializedcheck": False})
EOF
)
PY_INC=$(python -c "import sysconfig; print(sysconfig.get_paths()['include'])")
NP_INC=$(python -c "import numpy; print(numpy.get_include())")
# setup.py's flags for gcc/clang, less OpenMP (zig ships no omp.h; the macOS
# wheels build without it anyway, and the pragmas are then ignored).
FLAGS=(-c -O3 -fno-math-errno -Wall -Wno-unused-function -Wno-unreachable-code
       -Werror=implicit-function-declaration -DNPY_NO_DEPRECATED_API=NPY_1_7_API_VERSION
       -I"$WORK/nnc" -I"$PY_INC" -I"$NP_INC")

# One compiler run per (target, module), up to JOBS at a time.
compile_one() {  # target module
    local target=$1 mod=$2 cc
    if [ "$target" = musl-gcc ]; then
        cc=(musl-gcc -fopenmp)
    else
        cc=(python -m ziglang cc -target "$target" -Wno-unknown-pragmas)
    fi
    if "${cc[@]}" "${FLAGS[@]}" "$WORK/nnc/$mod.c" -o "$WORK/$target.$mod.o" \
            >"$WORK/$target.$mod.log" 2>&1; then
        touch "$WORK/$target.$mod.ok"
    fi
}
JOBS=${JOBS:-$(nproc)}
start=$SECONDS
for target in "${TARGETS[@]}"; do
    for mod in _kernels _engine; do
        while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
        compile_one "$target" "$mod" &
    done
done
wait

failed=()
for target in "${TARGETS[@]}"; do
    ok=1
    for mod in _kernels _engine; do
        if [ ! -e "$WORK/$target.$mod.ok" ]; then
            ok=0
            echo "--- $target: nnc/$mod.c failed to compile:"
            grep -E "error" "$WORK/$target.$mod.log" | head -20 || tail -20 "$WORK/$target.$mod.log"
        fi
    done
    [ $ok = 1 ] && echo "cross-compile $target: ok" || failed+=("$target")
done
echo "cross-compile: ${#TARGETS[@]} targets in $((SECONDS - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "cross-compile FAILED for: ${failed[*]}"
    exit 1
fi
