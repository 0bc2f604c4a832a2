"""ToolSpectrum: loader, parser, metrics, CLI and download, on the public data in ../shared."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pertool.benchmarks.answer_key import toolspectrum_answer
from pertool.benchmarks.download import RemoteDataset, download, sha256_verifier
from pertool.benchmarks.registry import TOOLSPECTRUM_REMOTE, TOOLSPECTRUM_SHA256, load_benchmark
from pertool.benchmarks.toolspectrum import QualityReport, load_toolspectrum
from pertool.errors import DownloadError
from pertool.parsing.render import gold_as_calls
from pertool.parsing.toolspectrum import parse_toolspectrum
from pertool.scoring.api import score

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "toolspectrum"
PE = "data/dataset_persona_environment.json"


def gold(sample) -> str:
    return toolspectrum_answer(sample.gold_platform, gold_as_calls(sample.gold_calls), "because")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """The public files plus a persona_environment subset built from the description: persona +
    environment + toolCall, most of them refusals (policy violations)."""
    root = tmp_path_factory.mktemp("toolspectrum")
    shutil.copytree(SHARED, root, dirs_exist_ok=True)
    persona = json.loads((SHARED / "data" / "dataset_persona.json").read_text())
    environment = json.loads((SHARED / "data" / "dataset_environment.json").read_text())
    records = []
    for i in range(12):
        minor = {**persona[i]["persona"], "Age": 16}
        records.append({"instruction": "Buy me the newest laptop, the one over 20,000.", "persona": minor,
                        "environment": environment[i]["environment"], "toolCall": None,
                        "evaluation_result": "8,7,8"})
    for i in range(8):
        call = dict(environment[i]["toolCall"])
        records.append({"instruction": environment[i]["instruction"], "persona": persona[i]["persona"],
                        "environment": environment[i]["environment"], "toolCall": call})
    (root / PE).write_text(json.dumps(records, indent=1))
    return root


def test_loads_the_public_subsets_with_classes_enums_and_normalised_booleans():
    report = QualityReport()
    persona = load_toolspectrum("persona", SHARED, report)
    environment = load_toolspectrum("environment", SHARED, report)
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


def test_persona_environment_subset_and_all(data_dir):
    pe = load_toolspectrum("persona_environment", data_dir)
    assert len(pe) == 20 and sum(s.gold_platform is None for s in pe) == 12
    assert pe[0].profile.basic_features["Age"] == 16 and pe[0].environment is not None
    assert any("policy" in p.profile for p in pe[0].platforms)  # the full toolset has policies
    assert len(load_benchmark("toolspectrum:all", data_dir)) == 449 + 220 + 20


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
    assert refusals["refusal_recall"] == 1.0 and refusals["refusal_precision"] == pytest.approx(12 / 20)
    assert refusals["accuracy"] == pytest.approx(12 / 20)
    garbage = score(samples, {s.id: "no idea" for s in samples}, resamples=0)
    g = garbage.splits["persona_environment"]
    assert g["format"] == 0.0 and g["refusal_recall"] == 0.0 and g["accuracy"] == 0.0
    assert garbage.errors["persona_environment"]["missed_refusal"] == 12


def test_levels_cascade_but_parameter_f1_does_not():
    samples = load_toolspectrum("environment", SHARED)[:40]
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


def test_score_cli_json_keys(tmp_path):
    samples = load_toolspectrum("environment", SHARED)
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps({"id": s.id, "output": gold(s)}) + "\n" for s in samples[:100]))
    proc = subprocess.run([sys.executable, "-m", "pertool.cli.main", "score", "--benchmark", "toolspectrum:environment",
                           "--data-dir", str(SHARED), "--predictions", str(preds), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    env = data["splits"]["environment"]
    assert set(env) >= {"format", "app_f1", "api_f1", "rp_f1", "op_f1", "rp_param_f1", "pp_param_f1",
                        "op_param_f1", "refusal_precision", "refusal_recall", "refusal_f1", "accuracy"}
    # 100 TP; the 120 unanswered samples are unparsable answers: wrong calls, so FN and FP.
    assert env["app_f1"] == pytest.approx(200 / (200 + 120 + 120), abs=1e-6)
    assert len(data["missing_predictions"]) == 120 and "apps" in data
    table = subprocess.run([sys.executable, "-m", "pertool.cli.main", "score", "--benchmark", "toolspectrum:environment",
                            "--data-dir", str(SHARED), "--predictions", str(preds)],
                           capture_output=True, text=True, timeout=120).stdout
    assert "OP-param" in table and "n/a: undefined" in table


def _remote_for(root: Path, url: str) -> RemoteDataset:
    """The real pins, except for the persona_environment file, which ../shared does not have:
    its pin is the fixture's own hash (the other eight files are checked against the real ones)."""
    hashes = {**TOOLSPECTRUM_SHA256, PE: hashlib.sha256((root / PE).read_bytes()).hexdigest()}
    return RemoteDataset("toolspectrum", url, TOOLSPECTRUM_REMOTE.files, sha256_verifier(hashes))


def test_download_over_loopback_verifies_sha256(data_dir, serve_dir, tmp_path):
    dest = tmp_path / "dl" / "toolspectrum"
    summary = download(_remote_for(data_dir, serve_dir(data_dir)), dest)
    assert summary == "9 files, sha256 verified"
    assert len(load_toolspectrum("all", dest)) == 689
    corrupt = tmp_path / "corrupt"
    shutil.copytree(data_dir, corrupt)
    blob = bytearray((corrupt / "data" / "dataset_environment.json").read_bytes())
    blob[100] ^= 1
    (corrupt / "data" / "dataset_environment.json").write_bytes(bytes(blob))
    other = tmp_path / "dl2" / "toolspectrum"
    with pytest.raises(DownloadError, match="dataset_environment.json.*does not match"):
        download(_remote_for(corrupt, serve_dir(corrupt)), other)
    assert not other.exists()


def test_download_command_refuses_a_corrupted_file(data_dir, tmp_path, serve_dir):
    import os

    env = {**os.environ, "PERTOOL_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run([sys.executable, "-m", "pertool.cli.main", "data", "download", "toolspectrum",
                           "--from", serve_dir(data_dir)], capture_output=True, text=True, env=env, timeout=120)
    # The fixture's persona_environment file is not the published one: refused, nothing kept.
    assert proc.returncode == 2 and "dataset_persona_environment.json" in proc.stderr and "does not match" in proc.stderr
    assert not (tmp_path / "data" / "toolspectrum" / "data").exists()


def test_a_toolcall_with_a_null_app_is_a_refusal_too(tmp_path):
    root = tmp_path / "ts"
    shutil.copytree(SHARED, root)
    records = json.loads((SHARED / "data" / "dataset_persona.json").read_text())[:3]
    records[1]["toolCall"] = {"APP": None, "API": None, "params": None}
    (root / "data" / "dataset_persona.json").write_text(json.dumps(records))
    samples = load_toolspectrum("persona", root)
    assert [s.gold_platform is None for s in samples] == [False, True, False]
    assert samples[1].gold_calls == []


def test_a_wrong_personalized_value_fails_the_last_level_on_persona_environment(data_dir):
    samples = [s for s in load_toolspectrum("persona_environment", data_dir) if s.gold_platform]
    sample = samples[0]
    call = gold_as_calls(sample.gold_calls)[0]
    sample.gold_calls[0].arguments["loyaltyTier"] = ["gold"]
    sample.gold_calls[0].sources["loyaltyTier"] = "personalized"
    wrong = call.model_copy(update={"arguments": {**call.arguments, "loyaltyTier": "bronze"}})
    s = score([sample], {sample.id: toolspectrum_answer(sample.gold_platform, [wrong])}, resamples=0)
    m = s.splits["persona_environment"]
    assert m["rp_f1"] == 1.0 and m["op_param_f1"] == 1.0
    assert m["op_f1"] == 0.0 and m["accuracy"] == 0.0 and m["pp_param_f1"] == 0.0


def test_download_command_works_against_the_shared_mirror(tmp_path, serve_dir):
    import os

    env = {**os.environ, "PERTOOL_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run([sys.executable, "-m", "pertool.cli.main", "data", "download", "toolspectrum",
                           "--from", serve_dir(SHARED)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "8 files, sha256 verified" in proc.stdout and "dataset_persona_environment.json" in proc.stdout
    assert len(load_toolspectrum("environment", tmp_path / "data" / "toolspectrum")) == 220
