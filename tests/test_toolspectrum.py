"""ToolSpectrum: loader, parser, metrics, CLI and download: on a data directory the tests build
(support/toolspectrum_fixture.py), and, where it is there, on the public data (`public_toolspectrum`)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from pertool.benchmarks.download import RemoteDataset, download, sha256_verifier
from pertool.benchmarks.registry import TOOLSPECTRUM_REMOTE, TOOLSPECTRUM_SHA256
from pertool.benchmarks.toolspectrum import QualityReport, load_toolspectrum
from pertool.errors import DownloadError
from pertool.kinds import load_benchmark
from pertool.kinds.score import score
from pertool.parsing.render import gold_as_calls
from pertool.parsing.render import render_toolspectrum as toolspectrum_answer
from pertool.parsing.toolspectrum import parse_toolspectrum
from support.cli import run_pertool

PE = "data/dataset_persona_environment.json"


def gold(sample) -> str:
    return toolspectrum_answer(sample.gold_platform, gold_as_calls(sample.gold_calls), "because")


@pytest.fixture(scope="module")
def data_dir(toolspectrum_dir: Path) -> Path:
    return toolspectrum_dir


def raw(root: Path, subset: str) -> list[dict]:
    return json.loads((root / "data" / f"dataset_{subset}.json").read_text())


def test_loads_every_record_with_classes_enums_and_normalised_booleans(data_dir):
    report = QualityReport()
    persona = load_toolspectrum("persona", data_dir, report)
    environment = load_toolspectrum("environment", data_dir, report)
    assert (len(persona), len(environment)) == (len(raw(data_dir, "persona")), len(raw(data_dir, "environment")))
    assert persona[0].id == "persona:0" and environment[-1].id == f"environment:{len(environment) - 1}"
    booleans = 0
    for sample, record in zip(environment, raw(data_dir, "environment")):
        call, wire = sample.gold_calls[0], record["toolCall"]
        assert (sample.gold_platform, call.name, sample.query) == (wire["APP"], wire["API"], record["instruction"])
        assert sample.environment.model_dump() == record["environment"]
        assert set(call.arguments) == set(wire["params"])
        for name, value in wire["params"].items():
            if name.startswith("enable") or name == "increaseColorContrast":  # (bool) parameters
                assert call.arguments[name] == [str(value) == "True"]
                booleans += isinstance(value, str)
            else:
                assert call.arguments[name] == [value]
            assert call.sources[name] == ("environmental" if name in ("resourceLoading", "mediaQuality",
                                          "preferredOrientation", "performanceMode", "enableCaptions",
                                          "enableVoiceOver", "increaseColorContrast") else "required")
        assert sample.extra["evaluation_result"] == record["evaluation_result"]
    assert booleans > 100  # the strings "True"/"False" on bool parameters became booleans
    s = environment[0]
    tool = next(t for t in s.tools if t.name == "getKnowledge")
    assert tool.function.parameters["properties"]["resourceLoading"]["enum"] == ["offline", "online"]
    assert tool.function.parameters["required"] == ["searchQuery"]
    assert {p.name for p in s.platforms} >= {"Zhihu", "Keep", "Tmall"}
    assert any("policy" in p.profile for p in s.platforms)
    # reported, never dropped
    assert report.odd_types == ["Ctrip.rentCar.vehicleModel: type 'syt' read as string"]
    unclassed = [p for p in report.unclassed_params if p.endswith("getKnowledge.resourceLoading")]
    assert unclassed and len(unclassed) == len(report.unclassed_params)
    sample = next(s for s in persona if f"{s.id}: getKnowledge.resourceLoading" in unclassed)
    assert "resourceLoading" in sample.gold_calls[0].arguments and "resourceLoading" not in sample.gold_calls[0].sources
    assert {c for s in persona for c in s.gold_calls[0].sources.values()} == {"required", "personalized"}


def test_persona_environment_subset_and_all(data_dir):
    pe = load_toolspectrum("persona_environment", data_dir)
    assert len(pe) == 24 and sum(s.gold_platform is None for s in pe) == 12
    assert pe[0].profile.basic_features["Age"] == 16 and pe[0].environment is not None
    assert pe[0].gold_calls == [] and pe[1].gold_calls == []  # null, and {"APP": null, ...}
    assert any("policy" in p.profile for p in pe[0].platforms)  # the full toolset has policies
    classes = {c for s in pe for call in s.gold_calls for c in call.sources.values()}
    assert classes == {"required", "personalized", "environmental"}
    assert len(load_benchmark("toolspectrum:all", data_dir)) == 90 + 120 + 24


@pytest.mark.parametrize(("text", "refusal", "repaired", "app"), [
    ('{"APP": "Keep", "API": "a", "params": {"x": 1}, "explanation": "e"}', False, False, "Keep"),
    ('```json\n{"APP": "Keep", "API": "a", "params": {}}\n```', False, True, "Keep"),
    ("Here it is: {'APP': 'Keep', 'API': 'a', 'params': {'x': True, 'y': None}} hope it helps", False, True, "Keep"),
    ("<think>minor</think>null", True, True, None),
    ("null", True, False, None),
    ("None", True, False, None),
    ('{"APP": null, "API": null, "params": null, "explanation": "policy"}', True, False, None),
])
def test_parser(text, refusal, repaired, app):
    p = parse_toolspectrum(text)
    assert p.parse_error is None and p.refusal == refusal and p.repaired == repaired and p.platform == app


@pytest.mark.parametrize("text", ["", "I refuse.", '{"API": "a"}', '{"APP": "Keep", "params": {}}', "{'APP': Keep}"])
def test_parse_failures_are_not_refusals(text):
    p = parse_toolspectrum(text)
    assert p.parse_error is not None and not p.refusal


def test_gold_scores_one_at_every_level(data_dir):
    samples = load_benchmark("toolspectrum:all", data_dir)
    report = score(samples, {s.id: gold(s) for s in samples}, resamples=100)
    for split in ("persona", "environment", "persona_environment", "overall"):
        values = [v for v in report.splits[split].values() if v is not None]
        assert values and all(v == 1.0 for v in values), split
    assert set(report.splits["persona"]) >= {"pp_f1", "rp_param_f1", "pp_param_f1"} and "op_f1" not in report.splits["persona"]
    assert report.splits["environment"]["refusal_recall"] is None  # no gold refusal there
    assert report.intervals["environment"]["op_f1"] == [1.0, 1.0]


def test_all_refusals_and_unparsable_answers(data_dir):
    samples = load_benchmark("toolspectrum:persona_environment", data_dir)
    refusals = score(samples, {s.id: "null" for s in samples}, resamples=0).splits["persona_environment"]
    assert refusals["app_f1"] == refusals["op_f1"] == 0.0
    assert refusals["refusal_recall"] == 1.0 and refusals["refusal_precision"] == pytest.approx(12 / 24)
    assert refusals["accuracy"] == pytest.approx(12 / 24)
    garbage = score(samples, {s.id: "no idea" for s in samples}, resamples=0)
    g = garbage.splits["persona_environment"]
    assert g["format"] == 0.0 and g["refusal_recall"] == 0.0 and g["accuracy"] == 0.0
    assert garbage.errors["persona_environment"]["missed_refusal"] == 12


def _levels_cascade(samples) -> None:
    wrong_app, wrong_rp = {}, {}
    for s in samples:
        call = gold_as_calls(s.gold_calls)[0]
        wrong_app[s.id] = toolspectrum_answer("NoSuchApp", [call])
        required = [p for p, c in s.gold_calls[0].sources.items() if c == "required"]
        broken = call.model_copy(update={"arguments": {**call.arguments, required[0]: "zzz-wrong"}})
        wrong_rp[s.id] = toolspectrum_answer(s.gold_platform, [broken])
    a = score(samples, wrong_app, resamples=0).splits["environment"]
    assert a["app_f1"] == a["api_f1"] == a["op_f1"] == 0.0 and a["op_param_f1"] == 1.0
    r = score(samples, wrong_rp, resamples=0).splits["environment"]
    assert r["app_f1"] == r["api_f1"] == 1.0 and r["rp_f1"] == r["op_f1"] == 0.0 and r["op_param_f1"] == 1.0
    assert 0 < r["rp_param_f1"] < 1


def test_levels_cascade_but_parameter_f1_does_not(data_dir):
    _levels_cascade(load_toolspectrum("environment", data_dir)[:40])


def test_score_cli_json_keys(tmp_path, data_dir):
    samples = load_toolspectrum("environment", data_dir)
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps({"id": s.id, "output": gold(s)}) + "\n" for s in samples[:100]))
    proc = run_pertool("score", "--benchmark", "toolspectrum:environment", "--data-dir", data_dir,
                       "--predictions", preds, "--json", timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    env = data["splits"]["environment"]
    assert set(env) >= {"format", "app_f1", "api_f1", "rp_f1", "op_f1", "rp_param_f1", "pp_param_f1",
                        "op_param_f1", "refusal_precision", "refusal_recall", "refusal_f1", "accuracy"}
    # 100 TP; the 20 unanswered samples are unparsable answers: wrong calls, so FN and FP.
    assert env["app_f1"] == pytest.approx(200 / (200 + 20 + 20), abs=1e-6)
    assert len(data["missing_predictions"]) == 20 and "apps" in data
    table = run_pertool("score", "--benchmark", "toolspectrum:environment", "--data-dir", data_dir,
                        "--predictions", preds, timeout=120).stdout  # fmt: skip
    assert "OP-param" in table and "n/a: undefined" in table


def _remote_for(root: Path, url: str) -> RemoteDataset:
    """The real file list, pinned to the fixture's own hashes."""
    hashes = {rel: hashlib.sha256((root / rel).read_bytes()).hexdigest() for rel in TOOLSPECTRUM_SHA256}
    return RemoteDataset("toolspectrum", url, TOOLSPECTRUM_REMOTE.files, sha256_verifier(hashes))


def test_download_over_loopback_verifies_sha256(data_dir, serve_dir, tmp_path):
    dest = tmp_path / "dl" / "toolspectrum"
    summary = download(_remote_for(data_dir, serve_dir(data_dir)), dest)
    assert summary == "9 files, sha256 verified"
    assert len(load_toolspectrum("all", dest)) == 90 + 120 + 24
    corrupt = tmp_path / "corrupt"
    shutil.copytree(data_dir, corrupt)
    blob = bytearray((corrupt / "data" / "dataset_environment.json").read_bytes())
    blob[100] ^= 1
    (corrupt / "data" / "dataset_environment.json").write_bytes(bytes(blob))
    other = tmp_path / "dl2" / "toolspectrum"
    with pytest.raises(DownloadError, match="dataset_environment.json.*does not match"):
        download(_remote_for(data_dir, serve_dir(corrupt)), other)
    assert not other.exists()


def test_download_command_refuses_files_that_are_not_the_published_ones(data_dir, tmp_path, serve_dir):
    proc = run_pertool("data", "download", "toolspectrum", "--from", serve_dir(data_dir),
                       env={"PERTOOL_DATA_DIR": str(tmp_path / "data")}, timeout=120)  # fmt: skip
    # The fixture's files are not the published ones: refused, nothing kept.
    assert proc.returncode == 2 and "does not match the pinned" in proc.stderr
    assert any(rel in proc.stderr for rel in TOOLSPECTRUM_SHA256)
    assert not (tmp_path / "data" / "toolspectrum" / "data").exists()


def test_a_toolcall_with_a_null_app_is_a_refusal_too(tmp_path, data_dir):
    root = tmp_path / "ts"
    shutil.copytree(data_dir, root)
    records = raw(data_dir, "persona")[:3]
    records[1]["toolCall"] = {"APP": None, "API": None, "params": None}
    (root / "data" / "dataset_persona.json").write_text(json.dumps(records))
    samples = load_toolspectrum("persona", root)
    assert [s.gold_platform is None for s in samples] == [False, True, False]
    assert samples[1].gold_calls == []


def test_a_wrong_personalized_value_fails_the_last_level_on_persona_environment(data_dir):
    samples = [s for s in load_toolspectrum("persona_environment", data_dir) if s.gold_platform]
    sample = next(s for s in samples if "personalized" in s.gold_calls[0].sources.values())
    call = gold_as_calls(sample.gold_calls)[0]
    sample.gold_calls[0].arguments["loyaltyTier"] = ["gold"]
    sample.gold_calls[0].sources["loyaltyTier"] = "personalized"
    wrong = call.model_copy(update={"arguments": {**call.arguments, "loyaltyTier": "bronze"}})
    s = score([sample], {sample.id: toolspectrum_answer(sample.gold_platform, [wrong])}, resamples=0)
    m = s.splits["persona_environment"]
    assert m["rp_f1"] == 1.0 and m["op_param_f1"] == 1.0
    assert m["op_f1"] == 0.0 and m["accuracy"] == 0.0
    assert 0 < m["pp_param_f1"] < 1  # the sample's other personalized values are right


# --- on the public data (skipped without it; required where .ci/run finds ../shared) ---------------


def test_public_subsets_load_with_classes_enums_and_normalised_booleans(public_toolspectrum):
    report = QualityReport()
    persona = load_toolspectrum("persona", public_toolspectrum, report)
    environment = load_toolspectrum("environment", public_toolspectrum, report)
    assert (len(persona), len(environment)) == (449, 220)
    assert persona[0].id == "persona:0" and environment[-1].id == "environment:219"
    s = environment[0]
    call = s.gold_calls[0]
    assert s.gold_platform == "Zhihu" and call.name == "getKnowledge"
    assert call.arguments["enableCaptions"] == [False]  # the string "False" on a bool parameter
    assert call.sources["resourceLoading"] == "environmental" and call.sources["searchQuery"] == "required"
    assert s.environment.model_dump()["Network Condition"] == "Wifi"
    tool = next(t for t in s.tools if t.name == "getKnowledge")
    assert tool.function.parameters["properties"]["resourceLoading"]["enum"] == ["offline", "online"]
    assert {p.name for p in s.platforms} >= {"Zhihu", "Keep", "Ctrip"}
    assert report.unclassed_params and report.odd_types  # reported, never dropped
    assert "resourceLoading" in persona[13].gold_calls[0].arguments


def test_public_gold_scores_one_and_levels_cascade(public_toolspectrum):
    samples = [*load_toolspectrum("persona", public_toolspectrum), *load_toolspectrum("environment", public_toolspectrum)]
    report = score(samples, {s.id: gold(s) for s in samples}, resamples=0)
    for split in ("persona", "environment", "overall"):
        values = [v for v in report.splits[split].values() if v is not None]
        assert values and all(v == 1.0 for v in values), split
    _levels_cascade(load_toolspectrum("environment", public_toolspectrum)[:40])


def test_public_download_command_works_against_the_shared_mirror(tmp_path, serve_dir, public_toolspectrum):
    proc = run_pertool("data", "download", "toolspectrum", "--from", serve_dir(public_toolspectrum),
                       env={"PERTOOL_DATA_DIR": str(tmp_path / "data")}, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "8 files, sha256 verified" in proc.stdout and "dataset_persona_environment.json" in proc.stdout
    assert len(load_toolspectrum("environment", tmp_path / "data" / "toolspectrum")) == 220
