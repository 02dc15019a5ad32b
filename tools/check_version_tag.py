"""Check that a release tag names the version in nnc/_version.py.

Usage::

    python tools/check_version_tag.py v0.1.0

The version has one home, ``nnc/_version.py`` (``nnc.__version__``, which
the build reads too); a release is the tag ``v<version>``.  The file is read
as text, so this runs without building nnc.  Exits 1 on a mismatch.
"""
import re
import sys
from pathlib import Path

VERSION_FILE = Path(__file__).resolve().parent.parent / "nnc" / "_version.py"


def source_version(path=VERSION_FILE):
    match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']\s*$""",
                      Path(path).read_text(), re.M)
    if not match:
        raise SystemExit(f"{path}: no __version__ = '...' line")
    return match.group(1)


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: python tools/check_version_tag.py TAG", file=sys.stderr)
        return 2
    tag = argv[1].removeprefix("refs/tags/")
    version = source_version()
    if tag != f"v{version}":
        print(f"tag {tag!r} does not match nnc/_version.py, which says {version!r}: "
              f"tag v{version} or bump the version", file=sys.stderr)
        return 1
    print(f"tag {tag} matches nnc {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
