"""Build nnc's Cython extensions.

Flags are chosen per compiler so that the same file builds with gcc and
clang (Linux, macOS) and MSVC (Windows); OpenMP is used where the compiler
has it and skipped otherwise (the kernels then run on one thread, and BLAS
still threads its products).  No ``-march=native``: wheels must run on any
CPU of their platform.
"""
import os
import sys

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _openmp_flags(compiler_type):
    if os.environ.get("NNC_NO_OPENMP"):
        return [], []
    if compiler_type == "msvc":
        return ["/openmp"], []
    if sys.platform == "darwin":
        # Apple clang has no OpenMP runtime by default: build without it.
        return [], []
    return ["-fopenmp"], ["-fopenmp"]


class BuildExt(build_ext):
    """Add optimisation and OpenMP flags that suit the compiler in use."""

    def build_extensions(self):
        ctype = self.compiler.compiler_type
        omp_compile, omp_link = _openmp_flags(ctype)
        if ctype == "msvc":
            opt = ["/O2"]
        else:
            opt = ["-O3", "-fno-math-errno", "-Wno-unused-function",
                   "-Wno-unreachable-code"]
        for ext in self.extensions:
            ext.extra_compile_args = opt + omp_compile
            ext.extra_link_args = omp_link
        super().build_extensions()


def _extension(name):
    return Extension(
        f"nnc.{name}",
        [f"nnc/{name}.pyx"],
        include_dirs=[numpy.get_include()],
        depends=["nnc/_simd.h", "nnc/_dense.h", "nnc/_fpmode.h", "nnc/_kernels.pxd"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )


setup(
    ext_modules=cythonize(
        [_extension("_kernels"), _extension("_engine")],
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
    cmdclass={"build_ext": BuildExt},
)
