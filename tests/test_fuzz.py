"""A short coverage-guided fuzzing run of every parser (tests/fuzz_parsers.py).

Each target is fuzzed for ``$NNC_FUZZ_SECONDS`` seconds (default 10) from
seeds that are real model and IDX files; every input must end in success or
a ValueError/OSError with a message, within 10 s and 2 GB.  For a longer run
see the docstring of tests/fuzz_parsers.py.
"""
import os
import re
import subprocess
import sys

import pytest

import nnc

pytest.importorskip("atheris")  # from PyPI; the test extra installs it

HERE = os.path.dirname(os.path.abspath(__file__))
NNC_HOME = os.path.dirname(os.path.dirname(os.path.abspath(nnc.__file__)))
SECONDS = int(os.environ.get("NNC_FUZZ_SECONDS", "10"))


@pytest.mark.parametrize("target", ["load", "read_config", "parse_idx", "load_idx"])
def test_fuzz_parser(tmp_path, target):
    env = dict(os.environ, PYTHONPATH=NNC_HOME + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, os.path.join(HERE, "fuzz_parsers.py"), target,
         "--seconds", str(SECONDS), "--corpus", str(tmp_path / "corpus")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=SECONDS + 600)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-6000:]
    summary = re.search(rf"^{target}: (\d+) runs in (\d+) s, coverage (\d+), corpus (\d+), OK$",
                        proc.stdout, re.M)
    assert summary, proc.stdout + proc.stderr[-3000:]
    runs, coverage = int(summary.group(1)), int(summary.group(3))
    assert runs >= 100 and coverage > 10, summary.group(0)
    # the seeds are real files: the fuzzer starts from inputs that parse
    assert len(os.listdir(tmp_path / "corpus")) >= 4
    assert not [n for n in os.listdir(tmp_path) if re.match(r"(crash|oom|timeout)-", n)]
