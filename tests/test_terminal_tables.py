"""The terminal tables of every benchmark kind keep their column titles apart (PEToolBench's
error titles, such as "Hallucinated tool", are longer than a column) and keep each value under
its title."""

from __future__ import annotations

import re

import pytest

from pertool.kinds import kind_of_samples, load_benchmark
from pertool.kinds.score import score
from pertool.report.terminal import format_report
from pertool.testing.toolspectrum import write_toolspectrum
from support.petoolbench_fixture import write_json


def _samples(kind: str, tmp_path):
    if kind == "petoolbench":
        return load_benchmark("petoolbench", write_json(tmp_path / "pet"))
    if kind == "toolspectrum":
        return load_benchmark("toolspectrum", write_toolspectrum(tmp_path / "ts", personas=2, environments=2))
    return load_benchmark("example")


def _check_table(lines: list[str], header_at: int, titles: list[str]) -> None:
    header = lines[header_at]
    pattern = r"\s+".join(re.escape(t) for t in titles) + r"\Z"
    assert re.search(r"\s" + pattern, header), (titles, header)  # titles in order, each after a space
    ends = [header.index(t) + len(t) for t in titles]  # right-aligned columns end where titles do
    for line in lines[header_at + 1 :]:
        if not line.strip() or line.startswith(("split (n)", "errors")):
            break
        assert len(line.rstrip()) <= ends[-1], (line, header)
        assert all(end >= len(line) or line[end] == " " for end in ends), (line, header)  # no spill-over


@pytest.mark.parametrize("kind", ["petoolbench", "toolspectrum", "ptbench"])
def test_column_titles_never_run_together(kind, tmp_path):
    samples = _samples(kind, tmp_path)
    benchmark = kind_of_samples(samples)
    assert benchmark.name == kind
    report = score(samples, {}, resamples=20)  # every answer empty: every error category counted
    lines = format_report(report).splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("split (n)")]
    assert len(starts) == len(benchmark.metric_tables)
    for at, table in zip(starts, benchmark.metric_tables):
        _check_table(lines, at, list(table.values()))
    errors_at = next(i for i, line in enumerate(lines) if line.startswith("errors"))
    shown = [t for k, t in benchmark.error_titles.items() if any(k in e for e in report.errors.values())]
    assert len(shown) >= 4
    _check_table(lines, errors_at, shown)
