"""Validate pyproject.toml's [tool.cibuildwheel] section with cibuildwheel itself.

Run with a Python that has cibuildwheel installed (it is a developer tool, not
a dependency of nnc)::

    python tools/check_cibw_config.py [path/to/pyproject.toml]

Checks the section against the JSON schema that cibuildwheel ships, then asks
cibuildwheel which wheels it would build on each platform and with which test
requirements, and checks that the set of builds is the one nnc promises:
CPython 3.10-3.13 on manylinux x86_64/aarch64, musllinux x86_64, macOS
x86_64/arm64 and Windows AMD64.  Exits non-zero on any mismatch.
"""
import json
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

PYTHONS = ("cp310", "cp311", "cp312", "cp313")
EXPECTED = {
    "linux": {f"{py}-{plat}" for py in PYTHONS for plat in (
        "manylinux_x86_64", "manylinux_aarch64", "musllinux_x86_64")},
    "macos": {f"{py}-{plat}" for py in PYTHONS for plat in ("macosx_x86_64", "macosx_arm64")},
    "windows": {f"{py}-win_amd64" for py in PYTHONS},
}


def _schema_errors(section):
    import jsonschema

    schema_text = resources.files("cibuildwheel").joinpath(
        "resources", "cibuildwheel.schema.json").read_text()
    schema = json.loads(schema_text)
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}"
            for e in validator.iter_errors(section)]


def _identifiers(project_dir, platform):
    proc = subprocess.run(
        [sys.executable, "-m", "cibuildwheel", "--print-build-identifiers",
         "--platform", platform, str(project_dir)],
        capture_output=True, text=True, cwd=project_dir,
    )
    if proc.returncode != 0:
        print(proc.stdout + proc.stderr)
        return None
    return set(proc.stdout.split())


def _print_test_requires(project_dir, platform, identifiers):
    """Show the test requirements that overrides resolve to for each build.

    This uses cibuildwheel's internal options API, which may change between
    releases, so a failure here is reported but not fatal.
    """
    try:
        from cibuildwheel.options import CommandLineArguments, compute_options

        args = CommandLineArguments(
            platform=platform, archs=None, output_dir=Path("wheelhouse"), only=None,
            config_file="", package_dir=project_dir, print_build_identifiers=False,
            allow_empty=False, debug_traceback=False, enable=[], clean_cache=False)
        options = compute_options(platform, args, env={})
        for ident in sorted(identifiers):
            reqs = options.build_options(ident).test_requires
            print(f"    {ident}: test-requires {' '.join(reqs)}")
    except Exception as exc:  # internal API drift: informational only
        print(f"    (could not resolve per-build options: {exc!r})")


def main(argv):
    pyproject = Path(argv[1] if len(argv) > 1 else "pyproject.toml").resolve()
    section = tomllib.loads(pyproject.read_text())["tool"]["cibuildwheel"]
    failures = _schema_errors(section)
    for err in failures:
        print("schema:", err)
    if not failures:
        print("schema: [tool.cibuildwheel] is valid against cibuildwheel's schema")
    for platform, expected in EXPECTED.items():
        got = _identifiers(pyproject.parent, platform)
        if got is None:
            failures.append(platform)
            print(f"{platform}: cibuildwheel rejected the configuration")
            continue
        status = "ok" if got == expected else "MISMATCH"
        print(f"{platform}: {len(got)} builds, {status}")
        _print_test_requires(pyproject.parent, platform, got)
        if got != expected:
            failures.append(platform)
            print("    missing:", sorted(expected - got))
            print("    unexpected:", sorted(got - expected))
    if failures:
        print("FAILED")
        return 1
    print("cibuildwheel configuration OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
