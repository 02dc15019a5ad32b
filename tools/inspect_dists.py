"""Check what nnc's sdist and wheels contain against the files git tracks.

Usage::

    python tools/inspect_dists.py --source REPO [--sdist SDIST] [--wheel WHEEL ...]

``REPO`` is a git checkout (the clean clone the distributions were built
from); its tracked files are the reference, so a new module, test or data
file is covered without editing this script.  Standard library only.

The sdist must hold every tracked file under ``nnc/``, ``tests/`` and
``examples/`` (the Cython sources, the bundled MNIST files and their
attribution included) and
the top-level files needed to build and describe the package, and no built
or generated file.  A wheel must hold every tracked file of the package
(Python modules, ``.pyx``/``.pxd`` sources, data), one compiled extension
per ``.pyx`` module, the licence, the ``nnc`` console script and the
version of ``nnc/_version.py``; and no generated C file, no test and no
bytecode.  Prints a short report; exits 1 if anything is wrong.
"""
import argparse
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

SDIST_TOP_LEVEL = ("PKG-INFO", "pyproject.toml", "setup.py", "MANIFEST.in",
                   "README.md", "LICENSE", "CHANGELOG.md")
#: folders whose tracked files all belong in the sdist (examples: the tests run them)
SDIST_TREES = ("nnc", "tests", "examples")
#: files that are built or generated and must never ship
BUILT = re.compile(r"(\.(so|pyd|dll|dylib|o|obj|pyc|pyo)$)|(^|/)__pycache__/|(^|/)build/")


def tracked_files(repo, *paths):
    out = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--", *paths],
                         check=True, capture_output=True, text=True).stdout
    return sorted(p for p in out.split("\0") if p)


def source_version(repo):
    text = (Path(repo) / "nnc" / "_version.py").read_text()
    match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", text, re.M)
    if not match:
        raise SystemExit("nnc/_version.py has no __version__ = '...' line")
    return match.group(1)


def generated_c(name, pyx_modules):
    """True for a C file that cythonize writes next to a tracked .pyx."""
    path = PurePosixPath(name)
    return path.suffix in (".c", ".cpp") and str(path.with_suffix("")) in pyx_modules


def fmt_size(n):
    return f"{n / 2**20:.2f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


class Report:
    def __init__(self, title):
        self.title = title
        self.errors = []
        self.notes = []

    def error(self, msg):
        self.errors.append(msg)

    def note(self, msg):
        self.notes.append(msg)

    def show(self):
        print(f"--- {self.title}")
        for msg in self.notes:
            print(f"    {msg}")
        for msg in self.errors:
            print(f"    ERROR: {msg}")
        print(f"    {'OK' if not self.errors else f'{len(self.errors)} problem(s)'}")
        return not self.errors


def check_sdist(path, repo, version, pyx_modules):
    rep = Report(f"sdist {Path(path).name} ({fmt_size(Path(path).stat().st_size)})")
    expected_name = f"nnc-{version}.tar.gz"
    if Path(path).name != expected_name:
        rep.error(f"file name is {Path(path).name}, expected {expected_name}")
    with tarfile.open(path) as tar:
        members = [m for m in tar.getmembers() if m.isfile()]
    prefix = f"nnc-{version}/"
    names = set()
    for m in members:
        if not m.name.startswith(prefix):
            rep.error(f"{m.name} is outside {prefix}")
            continue
        names.add(m.name[len(prefix):])
    for name in SDIST_TOP_LEVEL:
        if name not in names:
            rep.error(f"missing {name}")
    wanted = tracked_files(repo, *SDIST_TREES)
    missing = [f for f in wanted if f not in names]
    for f in missing:
        rep.error(f"tracked file missing: {f}")
    for name in sorted(names):
        if BUILT.search(name):
            rep.error(f"built file shipped: {name}")
        elif generated_c(name, pyx_modules):
            rep.error(f"generated C file shipped: {name}")
    n_tests = sum(1 for n in names if re.fullmatch(r"tests/(.*/)?test_[^/]*\.py", n))
    n_data = sum(1 for n in names if n.startswith("nnc/data/"))
    rep.note(f"{len(names)} files: {len(wanted) - len(missing)}/{len(wanted)} tracked "
             f"files of {', '.join(SDIST_TREES)}; {n_tests} test modules, {n_data} data files")
    if n_tests == 0:
        rep.error("no test modules (tests/test_*.py)")
    return rep.show()


def check_wheel(path, repo, version, pyx_modules):
    rep = Report(f"wheel {Path(path).name} ({fmt_size(Path(path).stat().st_size)})")
    if not Path(path).name.startswith(f"nnc-{version}-"):
        rep.error(f"file name does not start with nnc-{version}-")
    with zipfile.ZipFile(path) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        names = {i.filename for i in infos}
        dist_info = f"nnc-{version}.dist-info"
        metadata = zf.read(f"{dist_info}/METADATA").decode() \
            if f"{dist_info}/METADATA" in names else ""
        entry_points = zf.read(f"{dist_info}/entry_points.txt").decode() \
            if f"{dist_info}/entry_points.txt" in names else ""
    if not metadata:
        rep.error(f"no {dist_info}/METADATA")
    elif not re.search(rf"^Version: {re.escape(version)}$", metadata, re.M):
        rep.error(f"METADATA does not say Version: {version}")
    if not re.search(r"^nnc\s*=\s*nnc\.cli:main\s*$", entry_points, re.M):
        rep.error("no console script nnc = nnc.cli:main in entry_points.txt")
    if not any(re.fullmatch(rf"{dist_info}/(licenses/)?LICENSE", n) for n in names):
        rep.error("no LICENSE in the dist-info")

    package_files = [f for f in tracked_files(repo, "nnc")
                     if not generated_c(f, pyx_modules)]
    for f in package_files:
        if f not in names:
            rep.error(f"tracked package file missing: {f}")
    ext_suffix = re.compile(r"\.(cpython-[^/]*\.so|cp\d+-[^/]*\.pyd|abi3\.so|so|pyd)$")
    extensions = sorted(n for n in names if ext_suffix.search(n) and not n.startswith("nnc.libs/"))
    for module in sorted(pyx_modules):
        if not any(n.startswith(module + ".") for n in extensions):
            rep.error(f"no compiled extension for {module}.pyx")
    for name in sorted(names):
        if name.startswith("tests/"):
            rep.error(f"test file in the wheel: {name}")
        elif generated_c(name, pyx_modules):
            rep.error(f"generated C file shipped: {name}")
        elif re.search(r"\.py[co]$|(^|/)__pycache__/", name):
            rep.error(f"bytecode shipped: {name}")
    libs = sorted(n for n in names if n.startswith("nnc.libs/"))
    rep.note(f"{len(names)} files; extensions: "
             + ", ".join(f"{PurePosixPath(n).name} ({fmt_size(i.file_size)})"
                         for i in infos for n in [i.filename] if n in extensions))
    rep.note("grafted libraries: " + (", ".join(PurePosixPath(n).name for n in libs) or "none"))
    return rep.show()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", required=True, help="git checkout the dists were built from")
    parser.add_argument("--sdist", help="path of the .tar.gz")
    parser.add_argument("--wheel", action="append", default=[], help="path of a .whl")
    args = parser.parse_args(argv)
    repo = Path(args.source)
    version = source_version(repo)
    pyx_modules = {f[:-len(".pyx")] for f in tracked_files(repo, "nnc") if f.endswith(".pyx")}
    if not pyx_modules:
        raise SystemExit("no tracked .pyx module under nnc/")
    print(f"nnc {version}; Cython modules: {', '.join(sorted(pyx_modules))}")
    ok = True
    if args.sdist:
        ok &= check_sdist(args.sdist, repo, version, pyx_modules)
    for wheel in args.wheel:
        ok &= check_wheel(wheel, repo, version, pyx_modules)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
