"""Checks of bench/compare.py's own logic: callgrind output parsing, dump
order, the regression rule, the table, the exit status, the export of a
revision and the worker protocol on the nnc under test.

Only the last test needs valgrind: two callgrind runs of the nnc under test
(no build) agree.  The full two-build comparison is described in
bench/README.md.
"""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import nnc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402

# The directory the nnc under test was imported from (source tree or site-packages).
NNC_HOME = os.path.dirname(os.path.dirname(os.path.abspath(nnc.__file__)))


def test_parse_callgrind_total_reads_the_totals_line():
    text = "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nfn=(1) f\n3 10\ntotals: 123456\n"
    assert compare.parse_callgrind_total(text) == 123456
    assert compare.parse_callgrind_total("events: Ir\nsummary: 77\n") == 77
    with pytest.raises(ValueError, match="totals"):
        compare.parse_callgrind_total("events: Ir\nfn=(1) f\n")


def test_dump_files_are_in_numeric_order(tmp_path):
    prefix = str(tmp_path / "callgrind.base")
    for name in ["callgrind.base", "callgrind.base.log", "callgrind.base.10",
                 "callgrind.base.2", "callgrind.base.1", "callgrind.head.3"]:
        (tmp_path / name).write_text("")
    got = [os.path.basename(p) for p in compare._dump_files(prefix)]
    assert got == ["callgrind.base.1", "callgrind.base.2", "callgrind.base.10"]


def test_regression_rule_is_strictly_above_the_threshold():
    base = {"a": 1000, "b": 1000, "c": 1000, "d": 1000}
    head = {"a": 1050, "b": 1051, "c": 900, "d": 1000}
    assert compare.change_percent(1000, 1051) == pytest.approx(5.1)
    assert compare.regressions(base, head, 5.0) == ["b"]
    assert compare.regressions(base, head, 4.0) == ["a", "b"]
    assert compare.regressions(base, head, 10.0) == []


def test_markdown_table_rows_and_flags():
    base = {"wide float32": 2_000_000, "deep float64": 1_000}
    head = {"wide float32": 2_200_000, "deep float64": 990}
    table = compare.markdown_table(base, head, {"wide float32": 1.0734},
                                   ("main (abc)", "pr (def)"), 5.0, notes=["a note"])
    lines = table.splitlines()
    assert lines[0] == "### nnc benchmark comparison: pr (def) against main (abc)"
    assert "| wide float32 | 2,000,000 | 2,200,000 | +10.00 **regression** | 1.073 |" in lines
    assert "| deep float64 | 1,000 | 990 | -1.00 | – |" in lines
    assert lines[-1] == "- a note"


def test_workload_names_are_checked():
    args = compare._parse_args(["main", "--workloads", "tutorial-float32,predict float64"])
    assert args.workloads == ["tutorial float32", "predict float64"]
    assert args.head is None and args.threshold == 5.0
    with pytest.raises(SystemExit):
        compare._parse_args(["main", "--workloads", "huge float32"])


@pytest.fixture
def fake_pipeline(monkeypatch, tmp_path):
    """compare.main with the builds and measurements replaced by canned counts."""
    counts = {"base": {}, "head": {}}
    monkeypatch.setattr(compare.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(compare, "export_tree", lambda rev, dest: f"label-{rev}")
    monkeypatch.setattr(compare, "build_tree", lambda tree, jobs: 0.0)
    monkeypatch.setattr(compare, "write_data", lambda tree, d: "synthetic")
    monkeypatch.setattr(compare, "_valgrind_version", lambda: "test")
    monkeypatch.setattr(
        compare, "callgrind_counts",
        lambda tree, data, workloads, prefix, collect: (
            lambda: dict(counts[os.path.basename(tree)])))
    monkeypatch.setattr(compare, "wall_ratios",
                        lambda trees, data, workloads, rounds, min_time:
                        {w: 1.0 for w in workloads})
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return counts


def test_exit_status_and_summary(fake_pipeline, tmp_path, capsys):
    w = ["wide float32", "deep float32"]
    fake_pipeline["base"].update({w[0]: 1000, w[1]: 5000})
    fake_pipeline["head"].update({w[0]: 1040, w[1]: 5000})
    summary = tmp_path / "summary.md"
    argv = ["main", "--workloads", ",".join(w), "--summary", str(summary)]
    assert compare.main(argv) == 0
    assert "| wide float32 | 1,000 | 1,040 | +4.00 | 1.000 |" in capsys.readouterr().out
    assert "+4.00" in summary.read_text()

    fake_pipeline["head"][w[1]] = 5300  # +6%
    assert compare.main(argv + ["--json", str(tmp_path / "r.json")]) == 1
    assert "regression above 5% in: deep float32" in capsys.readouterr().err
    assert compare.main(argv + ["--threshold", "7"]) == 0


def test_a_failed_build_exits_2(fake_pipeline, monkeypatch, capsys):
    def broken(tree, jobs):
        raise RuntimeError(f"build in {tree} failed:\nerror: boom")
    monkeypatch.setattr(compare, "build_tree", broken)
    assert compare.main(["main", "--no-wall"]) == 2
    assert "error: boom" in capsys.readouterr().err


def _git_checkout():
    try:
        subprocess.run(["git", "rev-parse", "HEAD"], cwd=compare.ROOT, check=True,
                       capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return False
    return os.path.isdir(os.path.join(compare.ROOT, "nnc"))


@pytest.mark.skipif(not _git_checkout(), reason="needs a git checkout of nnc")
def test_export_tree_of_a_commit(tmp_path):
    label = compare.export_tree("HEAD", str(tmp_path / "t"))
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=compare.ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    assert label == f"HEAD ({sha[:10]})"
    for f in ("setup.py", "nnc/_engine.pyx", "nnc/_simd.h", "bench/compare.py"):
        assert os.path.isfile(tmp_path / "t" / f)
    with pytest.raises(RuntimeError, match="no-such-revision-xyz"):
        compare.export_tree("no-such-revision-xyz", str(tmp_path / "u"))


def test_synthetic_data_when_the_tree_has_no_mnist(tmp_path):
    assert compare.write_data(str(tmp_path), str(tmp_path / "d")) == "synthetic (81% zeros)"
    X = np.load(tmp_path / "d" / "X.npy")
    y = np.load(tmp_path / "d" / "y.npy")
    assert X.shape == (compare.N_SAMPLES, 784) and X.dtype == np.float64
    assert 0.15 < np.mean(X != 0) < 0.23
    assert y.shape == (compare.N_SAMPLES,) and 0 <= y.min() and y.max() < 10


def test_every_workload_runs_in_a_worker(tmp_path):
    """The workloads fit today's API, and the worker protocol answers: each
    workload is timed by a worker process importing the nnc under test."""
    data = str(tmp_path / "d")
    compare.write_data(str(tmp_path), data)
    worker = compare.Worker(NNC_HOME, data)
    try:
        for w in compare.WORKLOADS:
            assert worker.time(w, 1) > 0
    finally:
        worker.close()
    assert worker.proc.returncode == 0


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind")
def test_callgrind_counts_of_the_nnc_under_test_repeat(tmp_path):
    """End to end on the smallest workload, without building anything: the
    --toggle-collect patterns match this engine (non-zero counts), the dumps
    split the workloads, and the same workload run twice in one valgrind
    process counts the same within 1% (in practice to the instruction).
    (Separate runs of two builds: see bench/README.md, measured the same.)"""
    data = str(tmp_path / "d")
    compare.write_data(compare.ROOT, data)
    w = ["tutorial float32", "wide float32"]
    counts = compare.callgrind_counts(NNC_HOME, data, w + w[:1], str(tmp_path / "cg"))()
    assert set(counts) == set(w)  # the repeated workload's name appears once
    raw = [compare.parse_callgrind_total(open(p).read())
           for p in compare._dump_files(str(tmp_path / "cg"))[1:4]]
    assert raw[0] > 1_000_000  # 32 SGD steps of 784-30-10: millions of instructions
    assert raw[1] > 5 * raw[0] / 4  # wide's two steps are not tutorial's
    assert abs(raw[2] - raw[0]) <= 0.01 * raw[0]
