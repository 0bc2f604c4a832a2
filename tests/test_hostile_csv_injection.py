"""CSV formula injection (issue 11, part 9): cells starting with `= + - @` (and tab/CR) are escaped
wherever pertool writes CSV; numbers pertool computed stay numbers. The issue's cases: model
names, run names and sample text through `pertool compare --format csv`, and `ablation.csv`."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from pertool.report.csv_cells import FORMULA_START, csv_row, csv_text, number_cell, text_cell
from support.cli import run_pertool

FORMULAS = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1",
            " =1+1", "  -1"]  # fmt: skip


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished oracle run on the example benchmark, copied (and altered) by each test."""
    root = tmp_path_factory.mktemp("csv-template")
    run_pertool("eval", "--benchmark", "example", "--model", "oracle", "--no-progress", "--resamples", "0",
                "--out", root / "run", env={"PERTOOL_CACHE_DIR": str(root / "cache")}, check=True)  # fmt: skip
    return root / "run"


def copy_run(template: Path, dest: Path, *, model: str | None = None, wrong: int = 0) -> Path:
    shutil.copytree(template, dest)
    if model is not None:
        config = json.loads((dest / "config.json").read_text())
        config["model"] = model
        (dest / "config.json").write_text(json.dumps(config))
    lines = (dest / "predictions.jsonl").read_text().splitlines()
    for i in range(wrong):
        lines[i] = json.dumps({**json.loads(lines[i]), "output": "not an answer"})
    (dest / "predictions.jsonl").write_text("".join(x + "\n" for x in lines))
    return dest


def compare_csv(tmp_path: Path, *runs: Path) -> list[dict[str, str]]:
    out = tmp_path / "board.csv"
    run_pertool("compare", "--format", "csv", "--resamples", "50", "--out", out, "--", *runs, check=True)
    with open(out, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(runs)  # no cell broke a row
    return rows


def assert_no_formula(rows: list[dict[str, str]], text_columns: set[str]) -> None:
    for row in rows:
        for column in text_columns & set(row):
            cell = row[column]
            assert not cell.lstrip(" ").startswith(FORMULA_START), (column, cell)


@pytest.mark.parametrize("name", FORMULAS)
def test_text_cells_with_formula_prefixes_get_an_apostrophe(name: str):
    assert text_cell(name) == "'" + name
    assert csv_row([name, -0.5, 3, None]) == ["'" + name, "-0.5", "3", ""]


def test_numbers_stay_numbers_and_strings_stay_text():
    import numpy as np

    assert csv_row([-0.25, np.float64(-1.5), np.int64(-2), True]) == ["-0.25", "-1.5", "-2", "true"]
    assert csv_row(["-0.25", "a=b", "ok"]) == ["'-0.25", "a=b", "ok"]
    assert number_cell(float("nan")) == "nan" and number_cell(float("-inf")) == "'-inf"


def test_csv_text_quotes_carriage_returns_commas_and_quotes():
    text = csv_text([["a\rb", 'say "hi", then', "plain", -1]])
    assert text == '"a\rb","say ""hi"", then",plain,-1\n'
    assert list(csv.reader([text[:-1]])) == [["a\rb", 'say "hi", then', "plain", "-1"]]


def test_compare_escapes_run_names_and_model_names(tmp_path: Path, template: Path):
    runs = [copy_run(template, tmp_path / name.replace("/", "_"), model=model, wrong=i)
            for i, (name, model) in enumerate(zip(FORMULAS, reversed(FORMULAS)))]  # fmt: skip
    rows = compare_csv(tmp_path, *runs)
    assert_no_formula(rows, {"run", "path", "model", "profile_view", "sorted_by"})
    assert {r["run"] for r in rows} == {"'" + name.replace("/", "_") for name in FORMULAS}
    assert {r["model"] for r in rows} == {"'" + model for model in FORMULAS}
    differences = [float(r["diff_vs_best"]) for r in rows if r["diff_vs_best"]]
    assert differences and min(differences) < 0  # negative differences written as plain numbers
    assert all(r["diff_vs_best"] == "" or not r["diff_vs_best"].startswith("'") for r in rows)


def test_compare_escapes_relative_paths(tmp_path: Path, template: Path):
    copy_run(template, tmp_path / "=x" / "run")
    copy_run(template, tmp_path / "-y" / "run", wrong=1)
    out = tmp_path / "board.csv"
    run_pertool("compare", "--format", "csv", "--resamples", "0", "--out", out, "--", "=x/run", "-y/run",
                cwd=tmp_path, check=True)  # fmt: skip
    with open(out, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["path"] for r in rows} == {"'=x/run", "'-y/run"}
    assert {r["run"] for r in rows} == {"'=x/run", "'-y/run"}  # same names: the paths tell them apart


def test_sample_text_with_formulas_does_not_reach_the_csv(tmp_path: Path, template: Path):
    from pertool.benchmarks.registry import EXAMPLE_PREDICTIONS

    data = tmp_path / "bench"
    for split_dir in ("test_trained_user", "test_untrained_user"):
        records = json.loads((EXAMPLE_PREDICTIONS.parent / split_dir / "data.json").read_text())
        for i, record in enumerate(records):
            record["query"] = FORMULAS[i % len(FORMULAS)] + record["query"]
        (data / split_dir).mkdir(parents=True)
        (data / split_dir / "data.json").write_text(json.dumps(records))
    for name in ("=q", "@r"):
        run_pertool("eval", "--benchmark", f"ptbench:{data}", "--model", "oracle", "--no-progress",
                    "--resamples", "0", "--out", tmp_path / name, check=True)  # fmt: skip
    rows = compare_csv(tmp_path, tmp_path / "=q", tmp_path / "@r")
    assert_no_formula(rows, set(rows[0]))  # no cell at all: every number here is non-negative
    assert {r["run"] for r in rows} == {"'=q", "'@r"}


def test_ablation_csv_is_escaped_and_keeps_numbers(tmp_path: Path):
    out = tmp_path / "=ablation"
    run_pertool("ablate", "--benchmark", "example", "--model", "oracle", "--resamples", "20", "--no-progress",
                "--out", out, env={"PERTOOL_CACHE_DIR": str(tmp_path / "cache")}, check=True)  # fmt: skip
    with open(out / "ablation.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows
    assert_no_formula(rows, {"condition", "run_dir"})
    for row in rows:
        assert int(row["n"]) > 0
        assert all(cell == "" or float(cell) >= 0 for key, cell in row.items() if key not in ("condition", "run_dir"))
