"""The package-level Python API."""

import pytest

import pertool


def test_load_and_score_from_the_package_root():
    samples = pertool.load_benchmark("example")
    outputs = {s.id: pertool.render_ptbench(s.gold_platform, [
        pertool.Call(name=g.name, arguments={k: v[0] for k, v in g.arguments.items()})
        for g in s.gold_calls]) for s in samples}
    report = pertool.score(samples, outputs, resamples=200)
    assert report.splits["overall"]["overall"] == 1.0
    assert report.intervals["overall"]["overall"] == [1.0, 1.0]
    assert set(report.to_json()) >= {"splits", "errors", "intervals"}


def test_parsed_predictions_are_accepted_too():
    samples = pertool.load_benchmark("example")
    predictions = [pertool.parse_ptbench("nothing", s.id) for s in samples]
    report = pertool.score(samples, predictions, resamples=0)
    assert report.splits["overall"]["format"] == 0.0
    assert report.missing_predictions == []


def test_unknown_attribute():
    with pytest.raises(AttributeError):
        pertool.nope  # noqa: B018


def test_evaluate_runs_an_eval_from_python(tmp_path):
    import json

    report = pertool.evaluate("example", "oracle", out=tmp_path / "oracle", resamples=0)
    assert isinstance(report, pertool.ScoreReport)
    assert all(value == 1.0 for value in report.splits["overall"].values())
    saved = json.loads((tmp_path / "oracle" / "metrics.json").read_text())
    assert saved["splits"]["overall"]["overall"] == 1.0
    assert json.loads((tmp_path / "oracle" / "config.json").read_text())["model"] == "oracle"

    limited = pertool.evaluate("builtin", "baseline/random", out=tmp_path / "random", limit=12, resamples=0)
    lines = (tmp_path / "random" / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == 12 and limited.counts["overall"] == 12
    overall = limited.splits["overall"]["overall"]
    assert overall is not None and 0.0 <= overall < 1.0


def test_evaluate_refuses_bad_input_and_leaves_nothing_behind(tmp_path):
    with pytest.raises(pertool.SpecError, match="unknown model spec 'nope/x'"):
        pertool.evaluate("example", "nope/x", out=tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
    with pytest.raises(pertool.PertoolError, match="limit"):
        pertool.evaluate("example", "oracle", out=tmp_path / "bad", limit=0)
    (tmp_path / "mine.txt").write_text("user data")
    with pytest.raises(pertool.PertoolError):
        pertool.evaluate("example", "oracle", out=tmp_path / "mine.txt")
    assert (tmp_path / "mine.txt").read_text() == "user data"


@pytest.mark.slow  # mypy reads the modules the API names (about 8 s)
def test_the_api_is_typed_for_type_checkers(tmp_path):
    """mypy sees the lazily exported names (real imports under TYPE_CHECKING, `py.typed`)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "use_api.py"
    script.write_text(
        "import pertool\n"
        "report: pertool.ScoreReport = pertool.evaluate('example', 'oracle', out='x', limit=3)\n"
        "samples: list[pertool.Sample] = pertool.load_benchmark('example')\n"
        "headline: float | None = report.splits['overall']['overall']\n"
        "wrong: int = pertool.evaluate('example', 'oracle')\n"  # a ScoreReport is not an int
    )
    src = str(Path(pertool.__file__).resolve().parents[1])
    env = {**os.environ, "MYPYPATH": src}
    proc = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary", "--follow-imports", "silent",
                           "--cache-dir", str(tmp_path / "mypy-cache"), str(script)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)  # fmt: skip
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]  # the script's own only
    assert len(errors) == 1, proc.stdout + proc.stderr
    assert "use_api.py:5:" in errors[0] and '"ScoreReport"' in errors[0], errors
    assert (Path(src) / "pertool" / "py.typed").is_file()
