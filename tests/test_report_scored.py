"""Run directories carry what was scored (scores.jsonl, metrics.json's benchmark_fingerprint),
and the report renders from it: the parse the scorer used (under --compat ptbench-official the
public script's), never a re-parse; a run whose benchmark changed since is refused; a run of an
older pertool is re-scored once, with a note. Small PTBench-format data written here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from factory import record, write_split_dir
from pertool.cli.main import main
from pertool.errors import PertoolError
from pertool.kinds import gold_text, load_benchmark
from pertool.report.html import build_report
from pertool.report.rundata import load_run
from pertool.runner.fingerprint import benchmark_fingerprint
from pertool.runner.run import EvalConfig, select_samples
from pertool.runner.rundir import RunDir
from pertool.scoring.ptbench_official import official_parse
from support.rundirs import write_run


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_split_dir(tmp_path / "data", [record() for _ in range(3)], [record() for _ in range(2)])


def outputs_for(benchmark: str) -> dict[str, str]:
    samples = load_benchmark(benchmark)
    outputs = {s.id: gold_text(s) for s in samples}
    # pertool's parser reads the answer inside the fences; the public script's wraps the text in
    # braces and fails on the backticks
    outputs["trained:1"] = "```\n" + gold_text(samples[1]) + "\n```"
    outputs["untrained:0"] = gold_text(samples[3]).replace("quantity=2", "quantity=1+1")  # folded there
    return outputs


def test_the_run_directory_holds_what_was_scored(data: Path, tmp_path: Path):
    config = EvalConfig(benchmark=f"ptbench:{data}", model="handmade")
    run = write_run(tmp_path / "run", config, outputs_for(config.benchmark))
    lines = [json.loads(line) for line in (run / "scores.jsonl").read_text().splitlines()]
    assert [line["id"] for line in lines] == [s.id for s in select_samples(config)]
    assert set(lines[0]) == {"id", "split", "prediction", "outcomes", "categories", "counts", "detail"}
    assert lines[0]["outcomes"]["overall"] is True and lines[0]["categories"] == [] and lines[0]["counts"][0] == 1
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["benchmark_fingerprint"] == benchmark_fingerprint(select_samples(config), None)
    assert metrics["benchmark_fingerprint"] != benchmark_fingerprint(select_samples(config), "ptbench-official")


def test_the_browser_shows_the_parse_the_scorer_used(data: Path, tmp_path: Path):
    benchmark = f"ptbench:{data}"
    outputs = outputs_for(benchmark)
    ours = load_run(write_run(tmp_path / "ours", EvalConfig(benchmark=benchmark, model="m"), outputs))
    compat = load_run(write_run(tmp_path / "compat", EvalConfig(benchmark=benchmark, model="m",
                                                                compat="ptbench-official"), outputs))  # fmt: skip
    mine, public = ({v.id: v for v in run.samples} for run in (ours, compat))
    assert mine["trained:1"].parsed == "MegaMart:[placeOrder(productName='paper', quantity=2, address='1 Elm St')]"
    assert mine["trained:1"].correct and public["trained:1"].parsed is None
    assert public["trained:1"].parse_error.startswith("SyntaxError") and public["trained:1"].categories == ("format",)
    key, calls = official_parse(outputs["untrained:0"])
    assert calls[0]["placeOrder"]["quantity"] == 2 and public["untrained:0"].correct  # the public fold
    assert "quantity=2" in public["untrained:0"].parsed
    page = build_report([tmp_path / "compat"])
    assert "SyntaxError" in page and "scoring: ptbench-official" in page


def test_the_report_reads_the_stored_decisions(data: Path, tmp_path: Path):
    config = EvalConfig(benchmark=f"ptbench:{data}", model="m")
    run = write_run(tmp_path / "run", config, outputs_for(config.benchmark))
    # a stored decision that a re-parse would not make (as another scorer version might have
    # written it), with metrics.json's digests consistent: the report shows the stored decision
    scores = run / "scores.jsonl"
    lines = [json.loads(line) for line in scores.read_text().splitlines()]
    first = next(line for line in lines if line["id"] == "trained:0")
    first["prediction"]["platform"] = "StoredPlatform"
    scores.write_text("".join(json.dumps(line) + "\n" for line in lines))
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["scored_files"]["scores.jsonl"] = RunDir.open(run).digest("scores.jsonl")
    (run / "metrics.json").write_text(json.dumps(metrics))
    view = next(v for v in load_run(run).samples if v.id == "trained:0")
    assert view.parsed is not None and view.parsed.startswith("StoredPlatform:")


def test_predictions_edited_after_scoring_are_re_scored_with_a_note(data: Path, tmp_path: Path):
    config = EvalConfig(benchmark=f"ptbench:{data}", model="m")
    run = write_run(tmp_path / "run", config, outputs_for(config.benchmark))
    predictions = run / "predictions.jsonl"
    predictions.write_text(predictions.read_text().replace("MegaMart", "Other", 1))
    loaded = load_run(run)
    view = next(v for v in loaded.samples if v.id == "trained:0")
    assert not view.correct and view.parsed is not None and view.parsed.startswith("Other:")
    assert any("predictions.jsonl changed since the run was scored" in note for note in loaded.notes)


def test_a_changed_benchmark_is_refused_and_an_old_run_rescored(data: Path, tmp_path: Path, capsys):
    config = EvalConfig(benchmark=f"ptbench:{data}", model="m")
    run = write_run(tmp_path / "run", config, outputs_for(config.benchmark))
    file = data / "test_trained_user" / "data.json"
    original = file.read_text()
    file.write_text(original.replace("Order two packs", "Order three packs", 1))
    with pytest.raises(PertoolError, match="benchmark_fingerprint differs"):
        load_run(run)
    assert main(["report", str(run), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(run) in err[0] and "pertool eval --resume" in err[0]
    assert not (tmp_path / "r.html").exists()
    file.write_text(original)
    # a run of an older pertool: no records, no fingerprint; re-scored once, said in a note
    (run / "scores.jsonl").unlink()
    metrics = json.loads((run / "metrics.json").read_text())
    del metrics["benchmark_fingerprint"], metrics["scored_files"]
    (run / "metrics.json").write_text(json.dumps(metrics))
    loaded = load_run(run)
    assert any("older pertool" in note for note in loaded.notes)
    assert loaded.report.splits["overall"] == metrics["splits"]["overall"]


def test_the_same_benchmark_read_from_another_directory_is_not_refused(tmp_path: Path):
    """ToolSpectrum samples keep where their data lives (`extra`); the fingerprint leaves such
    location keys out, so a byte-identical copy under --data-dir is the same benchmark."""
    import shutil

    from pertool.testing.toolspectrum import write_toolspectrum

    write_toolspectrum(tmp_path / "ts", personas=4, environments=4)
    config = EvalConfig(benchmark="toolspectrum:persona", model="m", data_dir=str(tmp_path / "ts"))
    samples = select_samples(config)
    run = write_run(tmp_path / "run", config, {s.id: gold_text(s) for s in samples})
    shutil.copytree(tmp_path / "ts", tmp_path / "moved")
    moved = load_run(run, data_dir=str(tmp_path / "moved"))
    assert moved.report.splits and not moved.notes
    copied = select_samples(config.model_copy(update={"data_dir": str(tmp_path / "moved")}))
    assert copied[0].extra != samples[0].extra  # the location differs, the content does not
    assert benchmark_fingerprint(copied, None) == benchmark_fingerprint(samples, None)


def test_scores_without_kept_parses_are_the_same_numbers(tmp_path: Path):
    """`keep_parses=False` (what `pertool score` asks when nothing shows the parses) changes no
    number, in every kind; only the per-sample parses are left out."""
    from pertool.kinds.score import score
    from pertool.testing.toolspectrum import write_toolspectrum
    from support.petoolbench_fixture import write_json

    write_toolspectrum(tmp_path / "ts", personas=4, environments=4)
    sets = [load_benchmark("example"), load_benchmark("toolspectrum:all", tmp_path / "ts"),
            load_benchmark("petoolbench", write_json(tmp_path / "pet"))]  # fmt: skip
    for samples in sets:
        outputs = {s.id: gold_text(s) if i % 3 else "no answer" for i, s in enumerate(samples)}
        kept = score(samples, outputs, resamples=50)
        lean = score(samples, outputs, resamples=50, keep_parses=False)
        assert lean.to_json() == kept.to_json() and len(lean.scored) == len(kept.scored)
        assert all(s.prediction is None for s in lean.scored)
        assert all(s.prediction is not None for s in kept.scored)
        assert [s.counts for s in lean.scored] == [s.counts for s in kept.scored]
