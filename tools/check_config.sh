#!/usr/bin/env bash
# Lint the packaging configuration without building anything (about 30 s):
#   - .github/workflows/*.yml against the GitHub workflow JSON schema
#     (check-jsonschema's vendored copy: works offline once installed),
#   - the same files with actionlint, when an actionlint binary is on PATH,
#   - [tool.cibuildwheel] with cibuildwheel itself (tools/check_cibw_config.py),
#   - tools/*.sh with shellcheck, when it is installed.
# The Python tools go into a throwaway venv; set CHECK_CONFIG_TOOLS to an
# existing venv with check-jsonschema, cibuildwheel and jsonschema to reuse it.
set -euo pipefail
ROOT=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)
cd "$ROOT"
PYTHON=${PYTHON:-python3}

if [ -n "${CHECK_CONFIG_TOOLS:-}" ]; then
    TOOLS=$CHECK_CONFIG_TOOLS
else
    TOOLS=$(mktemp -d "${TMPDIR:-/tmp}/nnc-check-config.XXXXXX")
    trap 'rm -rf "$TOOLS"' EXIT
    "$PYTHON" -m venv "$TOOLS"
    "$TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check \
        check-jsonschema cibuildwheel jsonschema 2>&1 \
        | { grep -v "^WARNING: Location '.*' is ignored" || true; }
fi

echo "== workflows: GitHub workflow schema"
"$TOOLS/bin/check-jsonschema" --builtin-schema vendor.github-workflows .github/workflows/*.yml

echo "== workflows: actionlint"
if command -v actionlint >/dev/null 2>&1; then
    actionlint .github/workflows/*.yml && echo "actionlint: no problems"
else
    echo "actionlint not installed: skipped"
fi

echo "== [tool.cibuildwheel]"
"$TOOLS/bin/python" tools/check_cibw_config.py pyproject.toml

echo "== release tag check script"
version=$("$TOOLS/bin/python" -c 'import runpy; print(runpy.run_path("nnc/_version.py")["__version__"])')
"$TOOLS/bin/python" tools/check_version_tag.py "v$version"
if "$TOOLS/bin/python" tools/check_version_tag.py "v$version.dev-mismatch" 2>/dev/null; then
    echo "check_version_tag.py accepted a wrong tag" >&2
    exit 1
fi

echo "== shell scripts"
if command -v shellcheck >/dev/null 2>&1; then
    shellcheck tools/*.sh && echo "shellcheck: no problems"
else
    echo "shellcheck not installed: skipped"
fi
echo "packaging configuration OK"
