"""A scores.jsonl count row of the wrong width is bad input: `pertool report` and `pertool
compare` stop with one line naming the file and the line, not a numpy traceback. (A scores.jsonl
that changed since the run was scored, per metrics.json's digest, is re-scored with a note
instead: tested in test_report_scored.py; here the digest is made to match, as a scorer bug
would leave it.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pertool.runner.rundir import RunDir
from support.cli import run_pertool


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("width")
    good, bad = root / "good", root / "bad"
    run_pertool("eval", "--model", "oracle", "--benchmark", "example", "--out", good, "--resamples", "50",
                check=True)  # fmt: skip
    shutil.copytree(good, bad)
    scores = bad / "scores.jsonl"
    lines = scores.read_text().splitlines()
    row = json.loads(lines[2])
    row["counts"] = row["counts"][:-2]
    lines[2] = json.dumps(row)
    scores.write_text("\n".join(lines) + "\n")
    metrics = json.loads((bad / "metrics.json").read_text())
    metrics["scored_files"]["scores.jsonl"] = RunDir.open(bad).digest("scores.jsonl")
    (bad / "metrics.json").write_text(json.dumps(metrics))
    return good, bad


@pytest.mark.parametrize("command", ["report", "compare"])
def test_a_short_count_row_is_named(runs: tuple[Path, Path], command: str, tmp_path: Path):
    good, bad = runs
    args = ("report", bad, "--out", tmp_path / "r.html") if command == "report" else ("compare", good, bad)
    proc = run_pertool(*args, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith("pertool: error: ") and "scores.jsonl, line 3, field counts" in lines[0]
    assert "expected 11 counts" in lines[0] and "found 9" in lines[0]
    assert not (tmp_path / "r.html").exists()


def test_the_untouched_run_still_loads(runs: tuple[Path, Path], tmp_path: Path):
    good, _ = runs
    proc = run_pertool("compare", good, good, "--format", "csv", timeout=60)
    assert proc.returncode == 0, proc.stderr
