"""PEToolBench through the kind interface: loading (file, directory, zip), validation errors,
prompts (verbatim; never the answer-revealing metadata), the tolerant parser, pertool's scoring,
the no-history condition, and `pertool eval`/`score`/`train export` end to end. Each test runs on
fixtures the tests write; the `real` tests run on the public file when present."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from pertool.benchmarks.petoolbench import load_petoolbench
from pertool.benchmarks.petoolbench_prompts import TASK_WITHOUT_HISTORY, without_history
from pertool.errors import DataError, PertoolError, SpecError
from pertool.kinds import kind_named, kind_of, load_benchmark
from pertool.kinds.score import score
from pertool.parsing.petoolbench import parse_petoolbench
from pertool.scoring.petoolbench import params_match, resolve_tool, values_match
from support.cli import run_pertool
from support.petoolbench_fixture import CANDIDATES, ENTRIES, write_json, write_zip, zip_bytes
from support.public_data import public_data_dir, require_public_data
from support.rundirs import write_run

KIND = kind_named("petoolbench")
REVEALING = ("func", "apis_same_func", "tool_comb", "api_ground_truth")


@pytest.fixture
def fixture_dir(tmp_path):
    write_json(tmp_path / "pet")
    return tmp_path / "pet"


@pytest.fixture(scope="module")
def real_samples():
    """The public file's 3,000 samples, loaded once for the module (skips without the data)."""
    root = require_public_data("petoolbench")
    start = time.perf_counter()
    samples = load_petoolbench("all", root / "user_entries_test.json.zip")
    return samples, time.perf_counter() - start


@pytest.fixture(scope="module")
def real_entries():
    from pertool.benchmarks.petoolbench import read_entries

    return read_entries(require_public_data("petoolbench") / "user_entries_test.json.zip")


# --- loading ------------------------------------------------------------------------------


def test_samples_ids_and_fields(fixture_dir):
    samples = load_benchmark("petoolbench", fixture_dir)
    assert [s.id for s in samples[:7]] == [*(f"preferred:{i}" for i in range(6)), "ratings:0"]
    assert len(samples) == 18 and {s.split for s in samples} == {"preferred", "ratings", "chronological"}
    first = samples[0]
    assert first.benchmark == "petoolbench" and first.query == ENTRIES[0]["query"]
    assert first.gold_platform == "Power BI Smartable"
    assert first.gold_calls[0].name == "<Data>.<Power BI Smartable>.<GetSamples>"
    assert first.gold_calls[0].arguments == {"page": [1]}
    assert [t.name for t in first.tools] == [c["tool_name"] for c in CANDIDATES]
    schema = first.tools[0].function.parameters
    assert schema["required"] == ["page"] and schema["properties"]["page"]["type"] == "number"
    assert first.extra["instruction"] == ENTRIES[0]["instruction_preferred"]
    assert first.extra["entry_id"] == 23440 and first.extra["metadata"]["tool_comb"] == ENTRIES[0]["tool_comb"]
    assert samples[6].extra["instruction"] == ENTRIES[0]["instruction_ratings"]
    assert samples[1].gold_platform == "Github API Scraper "  # the trailing space is kept
    assert [s.id for s in load_benchmark("petoolbench:ratings", fixture_dir)][-1] == "ratings:5"


def test_every_source_form_loads_the_same(fixture_dir, tmp_path, monkeypatch, isolated_data_dir):
    expected = [s.id for s in load_benchmark("petoolbench", fixture_dir)]
    zipped, _ = write_zip(tmp_path / "zipped")
    for source in (fixture_dir / "user_entries_test.json", zipped, zipped.parent):
        assert [s.id for s in load_benchmark("petoolbench:all", source)] == expected
    monkeypatch.setenv("PERTOOL_DATA_DIR", str(zipped.parent))  # the env variable, no --data-dir
    assert [s.id for s in load_benchmark("petoolbench")] == expected


def test_missing_data_and_unknown_settings_are_clear(tmp_path):
    with pytest.raises(SpecError, match="pertool data download petoolbench"):
        load_benchmark("petoolbench")
    with pytest.raises(SpecError, match="no user_entries_test.json or user_entries_test.json.zip there"):
        load_benchmark("petoolbench", tmp_path)
    write_json(tmp_path)
    with pytest.raises(SpecError, match="unknown PEToolBench setting 'wo_history'; use preferred, ratings"):
        load_benchmark("petoolbench:wo_history", tmp_path)


def _broken(path, field, value):
    entries = json.loads(json.dumps(ENTRIES))
    target = entries[2]
    *parents, last = field.split(".")
    for key in parents:
        target = target[int(key) if key.isdigit() else key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return entries


@pytest.mark.parametrize(("field", "value", "message"), [
    ("query", 5, "field query: expected a string, got an integer"),
    ("instruction_ratings", KeyError, "field instruction_ratings: expected a string, got null"),
    ("apis_candidate", "[{", "field apis_candidate: not a JSON-encoded list"),
    ("apis_candidate", '{"a": 1}', "field apis_candidate: expected a list, got an object"),
    ("apis_candidate", '[{"tool_name": 3}]', "field apis_candidate.0.tool_name: expected a string"),
    ("apis_candidate", '[{"tool_name": "x", "required_parameters": [{"name": 1}]}]',
     "field apis_candidate.0.required_parameters.0.name: expected a string"),
    ("api_call_ground_truth", "{}", "field api_call_ground_truth: expected an object, got a string"),
    ("api_call_ground_truth.parameters", "{}", "field api_call_ground_truth.parameters: expected an object"),
    ("api_call_ground_truth.tool_name", None, "field api_call_ground_truth.tool_name: expected a string"),
    ("api_call_ground_truth.tool_name", "<Data>.<Elsewhere>.<GetSamples>",
     "field api_call_ground_truth.tool_name: '<Data>.<Elsewhere>.<GetSamples>' is not among the entry's "
     "candidates (apis_candidate)"),
    ("entry_id", "12", "field entry_id: expected an integer, got a string"),
    ("tool_comb", "a,b", "field tool_comb: expected a list, got a string"),
])  # fmt: skip
def test_a_bad_field_is_one_line_naming_file_index_and_field(tmp_path, field, value, message):
    path = write_json(tmp_path, _broken(tmp_path, field, value))
    with pytest.raises(DataError) as caught:
        load_benchmark("petoolbench", path)
    text = str(caught.value)
    assert "\n" not in text and text.startswith(f"{path}, sample 2, ") and message in text


def test_bad_files_and_zips_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "user_entries_test.json").write_text('{"query": "x"}')
    with pytest.raises(DataError, match="expected a JSON list of entries"):
        load_benchmark("petoolbench", bad)
    (bad / "user_entries_test.json").write_text("[{")
    with pytest.raises(DataError, match="not valid JSON"):
        load_benchmark("petoolbench", bad)
    (bad / "user_entries_test.json").write_text("[]")
    with pytest.raises(DataError, match="user_entries_test.json: the list of entries is empty"):
        load_benchmark("petoolbench", bad)
    (bad / "user_entries_test.json").write_text('[1]')
    with pytest.raises(DataError, match="sample 0: expected an object, got an integer"):
        load_benchmark("petoolbench", bad)
    path, _ = write_zip(tmp_path / "z1", zip_bytes(member="other.json"))
    with pytest.raises(DataError, match="expected one member user_entries_test.json"):
        load_benchmark("petoolbench", path)
    path.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(DataError, match="not a readable zip archive"):
        load_benchmark("petoolbench", path)


def test_zip_member_size_is_capped(tmp_path):
    from pertool.benchmarks.petoolbench import read_zip_member

    path, _ = write_zip(tmp_path)
    with pytest.raises(DataError, match="over 100"):
        read_zip_member(path, limit=100)
    assert json.loads(read_zip_member(path)) == ENTRIES


# --- prompts ------------------------------------------------------------------------------


def _prompt_texts(samples, condition="history"):
    for sample in KIND.ablation_samples(samples, condition):
        yield sample, "\n".join(m["content"] for m in KIND.prompt(sample, "text").messages)


def test_prompt_is_the_instruction_and_the_query_verbatim(fixture_dir):
    sample = load_benchmark("petoolbench:chronological", fixture_dir)[3]
    messages = KIND.prompt(sample, "text").messages
    assert messages == ({"role": "system", "content": ENTRIES[3]["instruction_chronological"]},
                        {"role": "user", "content": ENTRIES[3]["query"]})  # fmt: skip
    with pytest.raises(SpecError, match="native does not apply"):
        KIND.prompt(sample, "native")
    with pytest.raises(PertoolError, match="--chat-format does not apply"):
        KIND.raw_prompt(sample, "llama3")


def _revealing_texts(sample):
    """Distinctive renderings of the metadata a prompt must never carry."""
    meta = sample.extra["metadata"]
    texts = ["tool_comb", "apis_same_func", "api_id", "api_ground_truth", "num_tools_combined"]
    for ascii_only in (True, False):
        texts.append(json.dumps(meta["tool_comb"], ensure_ascii=ascii_only))
        texts.append(json.dumps(meta["apis_same_func"], ensure_ascii=ascii_only)[:200])
        texts.append(json.dumps(meta["api_ground_truth"], ensure_ascii=ascii_only)[:200])
    texts.append(str(meta["tool_comb"]))  # the Python repr
    return texts


def test_no_prompt_carries_the_answer_revealing_fields_fixture(fixture_dir):
    samples = load_benchmark("petoolbench", fixture_dir)
    for condition in KIND.ablation_conditions:
        for sample, text in _prompt_texts(samples, condition):
            assert not [t for t in _revealing_texts(sample) if t in text], sample.id
            assert "ComboOnly" not in text  # the providers only tool_comb names
    assert all(set(REVEALING) <= set(s.extra["metadata"]) for s in samples)


def test_no_history_condition_is_the_public_template_shape(fixture_dir):
    samples = load_benchmark("petoolbench", fixture_dir)
    viewed = KIND.ablation_samples(samples, "no-history")
    assert [s.id for s in viewed] == [s.id for s in samples]
    for before, after in zip(samples, viewed):
        text = after.extra["instruction"]
        assert text.startswith(TASK_WITHOUT_HISTORY + "\nAvailable tools you can call")
        assert "Interaction history" not in text and "earlier request" not in text
        assert text.endswith(before.extra["instruction"].split("\n\nAvailable tools", 1)[1])
        assert after.gold_calls == before.gold_calls
    assert KIND.ablation_samples(samples, "history") == samples
    with pytest.raises(PertoolError, match="does not have the published template's shape"):
        without_history("Your task is something else", "preferred:9")
    with pytest.raises(ValueError, match="known: history, no-history"):
        KIND.ablation_samples(samples, "none")


# --- parsing ------------------------------------------------------------------------------

GOLD = '{"tool_name": "<Data>.<PowerBI>.<GetSamples>", "parameters": {"page": 1}}'


@pytest.mark.parametrize(("output", "repaired"), [
    (GOLD, False),
    ("  " + GOLD + "\n", False),
    ("<think>the user wants {page}</think>\n" + GOLD, True),
    ("```json\n" + GOLD + "\n```", True),
    ("Sure! Here is the call: " + GOLD + " Hope this helps {really}.", True),
    ('{\n  "tool_name": "<Data>.<PowerBI>.<GetSamples>",\n  "parameters": {\n    "page": 1\n  }\n}', False),
    ("[" + GOLD + "]", True),
    ('{"call": ' + GOLD + "}", True),
    ("{'tool_name': '<Data>.<PowerBI>.<GetSamples>', 'parameters': {'page': 1}}", True),
    ('{"tool_name": "<Data>.<PowerBI>.<GetSamples>", "parameters": "{\\"page\\": 1}"}', True),
    ('{"parameters": {"page": 1}, "tool_name": "<Data>.<PowerBI>.<GetSamples>"}', False),
])  # fmt: skip
def test_parser_tolerates_what_models_write(output, repaired):
    prediction = parse_petoolbench(output, "s")
    assert prediction.parsed, prediction.parse_error
    assert prediction.calls[0].name == "<Data>.<PowerBI>.<GetSamples>"
    assert prediction.calls[0].arguments == {"page": 1} and prediction.platform == "PowerBI"
    assert prediction.repaired is repaired


def test_parser_edge_cases():
    assert parse_petoolbench('{"tool_name": "<A>.<B>.<C>"}').calls[0].arguments == {}
    assert parse_petoolbench('{"tool_name": "<A>.<B>.<C>", "parameters": null}').calls[0].arguments == {}
    assert parse_petoolbench('{"tool_name": "<A>.<B>.<C>", "parameters": ""}').calls[0].arguments == {}
    two = parse_petoolbench('{"tool_name": "a", "parameters": {}}\n{"tool_name": "b", "parameters": {"x": 1}}')
    assert [c.name for c in two.calls] == ["a", "b"]
    for bad, reason in [("", "empty output"), ("   ", "empty output"), ("no json here", 'no {"tool_name"'), ("{unclosed", "no complete"),
                        ('{"tool": "x"}', 'no {"tool_name"'), ('{"tool_name": 5}', "must be a string"),
                        ('{"tool_name": "a", "parameters": [1]}', '"parameters" must be an object'),
                        ('{"tool_name": "a", "parameters": "page=1"}', "neither JSON nor a Python literal"),
                        ("<think>still thinking {", "ends inside a <think> block"),
                        ("{'tool_name': __import__('os').system('x')}", "not a literal")]:  # fmt: skip
        prediction = parse_petoolbench(bad)
        assert not prediction.parsed and reason in prediction.parse_error, (bad, prediction.parse_error)


@pytest.mark.parametrize("hostile", [
    "{" * 150_000,
    "[" * 100_000 + "]" * 100_000,
    '{"a": ' * 50_000 + "1" + "}" * 50_000,
    "x" * 300_000,
    ("{ prose } " * 20_000) + GOLD,
    '{"tool_name": "' + "a" * 190_000 + '"}',
    "(" * 5_000 + ")" * 5_000,
])  # fmt: skip
def test_parser_is_bounded_on_hostile_input(hostile):
    start = time.perf_counter()
    prediction = parse_petoolbench(hostile)
    assert time.perf_counter() - start < 2.0
    assert prediction.raw_output == hostile  # never raises; the output is kept


# --- scoring ------------------------------------------------------------------------------


@pytest.mark.parametrize(("predicted", "gold", "equal"), [
    ("10", 10, True), (10.0, 10, True), ("10.0", "10", False), (" KS ", "KS", True), ("ks", "KS", False),
    (True, "true", True), (True, 1, False), ("false", False, True), ("1", True, False),
    ("['AgeAppropriate:Teens', 'Size:TWIN']", "['AgeAppropriate:Teens', 'Size:TWIN']", True),
    (["Size:TWIN", "AgeAppropriate:Teens"], "['AgeAppropriate:Teens', 'Size:TWIN']", True),
    ('["AgeAppropriate:Teens"]', "['AgeAppropriate:Teens', 'Size:TWIN']", False),
    ({"a": "1"}, '{"a": 1}', True), (None, None, True), (None, "x", False), ("[unclosed", "[unclosed", True),
    # integral values (ids, UPCs) exactly; a tolerance only between two non-integral values
    ("194574942221", 194574942300, False), ("194574942221", 194574942221, True),
    (194574942221.0, "194574942221", True), (10**400, "1e400", True), (10**400, 10**400 + 1, False),
    (0.1, "0.1", True), (0.1 + 0.2, 0.3, True), (2.9999999999, "3", False), ("0.5", 1, False),
    # non-finite numbers match nothing, and hostile magnitudes neither crash nor match
    (1e400, 5, False), (float("inf"), float("inf"), False), (float("nan"), "nan", False),
    ("1e999", 194574942221, False), (10**400, 5, False), ("1e99999999999999999999999", 1, False),
    ("1e-99999999999999999999999", 0.5, False), (["1e400"], [5], False),
], ids=lambda value: repr(value)[:24])  # fmt: skip
def test_value_rules(predicted, gold, equal):
    assert values_match(predicted, gold) is equal
    assert values_match(gold, predicted) is equal  # symmetric


def test_parameter_and_tool_rules():
    assert params_match({"limit": "10"}, {"limit": "10", "skip": ""}) == (True, "")
    assert params_match({"limit": 10, "skip": None}, {"limit": "10"}) == (True, "")
    assert params_match({"limit": 10, "extra": 1}, {"limit": 10}) == (False, "param_names")
    assert params_match({"limit": 11}, {"limit": 10}) == (False, "param_values")
    names = ["<Data>.<Github API Scraper >.<Get Repos>", "<Data>.<PowerBI>.<GetSamples>"]
    assert resolve_tool("<data>.<github api scraper>.<get repos>", names) == names[0]
    assert resolve_tool("< Data >.<PowerBI>.<GetSamples >", names) == names[1]
    assert resolve_tool("<Data>.<Power BI>.<GetSamples>", names) is None
    twins = ["<A>.<B>.<C>", "<A>.<b>.<C>"]  # two candidates fold together: only the exact name counts
    assert resolve_tool("<A>.<B>.<C>", twins) == twins[0] and resolve_tool("<a>.<b>.<c>", twins) is None


def _gold_outputs(samples):
    return {s.id: KIND.gold_text(s) for s in samples}


@pytest.mark.parametrize("compat", [None, "petoolbench-public"])
def test_gold_answers_score_one_on_fixtures(fixture_dir, compat):
    samples = load_benchmark("petoolbench", fixture_dir)
    report = score(samples, _gold_outputs(samples), compat=compat, resamples=50)
    for split in ("preferred", "ratings", "chronological", "overall"):
        metrics = report.splits[split]
        assert all(metrics[k] == 1.0 for k in ("format", "tool_acc", "param_acc", "call_acc", "param_given_tool"))
        assert metrics.get("hallucinated", 0.0) == 0.0
    assert report.mode == (compat or "pertool") and len(report.scored) == 18
    assert all(s.correct and s.counts[:5] == (1, 1, 1, 1, 1) for s in report.scored)


def test_categories_outcomes_and_counts(fixture_dir):
    samples = load_benchmark("petoolbench:preferred", fixture_dir)
    outputs = {
        "preferred:0": '{"tool_name": "<Data>.<PowerBI>.<GetSamples>", "parameters": {"page": 1}}',  # provider
        "preferred:1": '{"tool_name": "<data>.<github api scraper>.<get repos>", "parameters": {"user": "x"}}',
        "preferred:2": '{"tool_name": "<Travel>.<flight aggregator>.<flight>", "parameters": {"limit": 10}}',
        "preferred:3": '{"tool_name": "<Shop>.<Nowhere>.<Buy>", "parameters": {}}',
        "preferred:4": "I cannot help with that.",
        "preferred:5": '{"tool_name": "<Travel>.<flight aggregator>.<flight>", "parameters": {"from": "BER"}}',
    }  # fmt: skip
    report = score(samples, outputs, resamples=0)
    by_id = {s.sample_id: s for s in report.scored}
    assert by_id["preferred:0"].categories == ("wrong_provider",)
    assert by_id["preferred:0"].outcomes["param_acc"] is True and by_id["preferred:0"].counts == (1, 1, 0, 1, 0, 0)
    assert by_id["preferred:1"].categories == ("param_values",) and "resolved to" in by_id["preferred:1"].detail
    assert by_id["preferred:1"].outcomes["tool_acc"] is True
    assert by_id["preferred:2"].categories == ("wrong_function",)  # "10" for 10, "" left out: params right
    assert by_id["preferred:3"].categories == ("hallucinated_tool", "param_names")
    assert by_id["preferred:4"].categories == ("format",) and by_id["preferred:4"].prediction.parse_error
    assert by_id["preferred:5"].categories == ("param_names",)
    metrics = report.splits["preferred"]
    assert metrics == {"format": 5 / 6, "tool_acc": 2 / 6, "param_acc": 2 / 6, "call_acc": 0.0,
                       "hallucinated": 1 / 6, "param_given_tool": 0.0}  # fmt: skip
    assert report.errors["preferred"] == {"format": 1, "hallucinated_tool": 1, "wrong_provider": 1,
                                          "wrong_function": 1, "param_names": 2, "param_values": 1}  # fmt: skip
    totals = [sum(col) for col in zip(*(s.counts for s in report.scored))]
    from_counts = KIND.metrics_from_counts(np.array([totals], dtype=float), ["preferred"])
    assert {k: float(v) for k, v in from_counts.items()} == metrics  # the count rows give every metric


def test_hostile_numbers_neither_crash_scoring_nor_score(fixture_dir):
    """An answer of 1e999 (inf), a 400-digit integer or a nearby number for a large id scores
    wrong and never stops scoring; the exact id scores right."""
    sample = load_benchmark("petoolbench:preferred", fixture_dir)[0]
    gold = sample.gold_calls[0].model_copy(update={"arguments": {"page": ["194574942221"]}})
    sample = sample.model_copy(update={"gold_calls": [gold]})
    answer = json.dumps({"tool_name": gold.name, "parameters": {"page": "VALUE"}})
    for value, right in (("1e999", False), ("1" + "0" * 400, False), ("194574942300", False),
                         ("194574942221", True), ('"194574942221"', True)):  # fmt: skip
        report = score([sample], {sample.id: answer.replace('"VALUE"', value)}, resamples=0)
        assert report.scored[0].outcomes["param_acc"] is right, value


def test_overall_is_the_mean_of_settings_and_intervals_resample_entries(fixture_dir):
    samples = load_benchmark("petoolbench", fixture_dir)
    gold = _gold_outputs(samples)
    outputs = {i: (g if i.startswith("preferred") or i.endswith((":0", ":1", ":2")) else "") for i, g in gold.items()}
    report = score(samples, outputs, resamples=400, seed=3)
    assert report.splits["preferred"]["call_acc"] == 1.0 and report.splits["ratings"]["call_acc"] == 0.5
    assert report.splits["overall"]["call_acc"] == pytest.approx((1.0 + 0.5 + 0.5) / 3)
    low, high = report.intervals["overall"]["call_acc"]
    assert low < report.splits["overall"]["call_acc"] < high
    assert report.intervals["preferred"]["call_acc"] == [1.0, 1.0]
    assert report.counts == {"preferred": 6, "ratings": 6, "chronological": 6, "overall": 18}
    again = score(samples, outputs, resamples=400, seed=3)
    assert again.intervals == report.intervals  # seeded


def test_kind_members(fixture_dir):
    samples = load_benchmark("petoolbench", fixture_dir)
    assert kind_of(samples[0]) is KIND and KIND.headline == "call_acc" and KIND.is_test(samples[0])
    assert set(KIND.metric_titles) == {"format", "tool_acc", "param_acc", "call_acc", "hallucinated",
                                       "param_given_tool"}  # fmt: skip
    assert set(KIND.category_titles) == set(KIND.error_titles)
    assert json.loads(KIND.gold_text(samples[2])) == {"tool_name": "<Entertainment>.<👋 Demo Project_v12>.<Get Products>",
                                                      "parameters": {"limit": "10", "skip": ""}}  # fmt: skip
    assert "\n" not in KIND.gold_text(samples[2])
    assert KIND.prefix_key(samples[0]) == ("petoolbench", ENTRIES[0]["instruction_preferred"], ENTRIES[0]["query"])
    breakdowns = KIND.breakdowns()
    assert breakdowns["category"](samples[0]) == "<Data>"
    assert breakdowns["same-function group"](samples[0]) == "2 providers"
    with pytest.raises(PertoolError, match="no native mode"):
        KIND.gold_tool_calls(samples[0])


# --- the CLI, end to end ------------------------------------------------------------------


def test_eval_with_the_oracle_then_score_and_export(fixture_dir, tmp_path):
    env = {"PERTOOL_CACHE_DIR": str(tmp_path / "cache")}
    run = tmp_path / "run"
    run_pertool("eval", "--benchmark", "petoolbench:preferred", "--model", "oracle", "--limit", "4",
                "--data-dir", fixture_dir, "--out", run, "--resamples", "0", env=env, check=True)  # fmt: skip
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["splits"]["preferred"]["call_acc"] == 1.0 and metrics["counts"]["preferred"] == 4
    for compat in ([], ["--compat", "petoolbench-public"]):
        scored = run_pertool("score", "--benchmark", "petoolbench:preferred", "--data-dir", fixture_dir,
                             "--predictions", run / "predictions.jsonl", "--json", "--resamples", "0",
                             *compat, env=env, check=True)  # fmt: skip
        report = json.loads(scored.stdout)
        assert report["splits"]["preferred"]["tool_acc"] == 4 / 6  # 2 samples have no prediction
        assert report["mode"] == (compat[-1] if compat else "pertool")
    out = tmp_path / "sft.jsonl"
    refused = run_pertool("train", "export", "--benchmark", "petoolbench", "--data-dir", fixture_dir,
                          "--format", "openai", "--out", out, env=env)  # fmt: skip
    assert refused.returncode == 2 and "--allow-test" in refused.stderr
    run_pertool("train", "export", "--benchmark", "petoolbench", "--data-dir", fixture_dir, "--format",
                "openai", "--out", out, "--allow-test", env=env, check=True)  # fmt: skip
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 18
    messages = records[0]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    assert messages[0]["content"] == ENTRIES[0]["instruction_preferred"]
    assert json.loads(messages[2]["content"])["tool_name"] == ENTRIES[0]["api_call_ground_truth"]["tool_name"]


# --- the public file ----------------------------------------------------------------------


def test_real_file_loads_fast_with_the_documented_counts(real_samples):
    samples, seconds = real_samples
    assert len(samples) == 3000 and seconds < 10  # about 1.5 s from the zip on 2 cores
    assert samples[126].query == "I want to get a list of Power BI samples from page 1."
    assert samples[126].gold_calls[0].arguments == {"page": [1]} and samples[126].extra["entry_id"] == 23440
    assert {len(s.tools) for s in samples} == {10, 11}
    assert sum(not s.gold_calls[0].arguments for s in samples[:1000]) == 291
    assert sum(s.gold_platform == "Github API Scraper " for s in samples[:1000]) == 50


@pytest.mark.parametrize("compat", [None, "petoolbench-public"])
def test_real_gold_answers_score_one(real_samples, compat):
    samples, _ = real_samples
    report = score(samples, _gold_outputs(samples), compat=compat, resamples=0)
    for split in ("preferred", "ratings", "chronological", "overall"):
        assert {k: v for k, v in report.splits[split].items() if k != "hallucinated"} == {
            "format": 1.0, "tool_acc": 1.0, "param_acc": 1.0, "call_acc": 1.0, "param_given_tool": 1.0}
    assert all(s.correct for s in report.scored)


def test_real_prompts_never_carry_the_revealing_fields(real_samples):
    samples, _ = real_samples
    for condition in KIND.ablation_conditions:
        for sample, text in _prompt_texts(samples, condition):
            leaked = [t for t in _revealing_texts(sample) if t in text]
            assert not leaked, (condition, sample.id, leaked[0][:80])


def test_real_no_history_prompts_have_the_template_shape(real_samples, real_entries):
    samples, _ = real_samples
    viewed = KIND.ablation_samples(samples, "no-history")
    for sample in viewed:
        entry = real_entries[int(sample.id.split(":")[1])]
        assert sample.extra["instruction"].startswith(TASK_WITHOUT_HISTORY + "\nAvailable tools you can call "
                                                      "with input parameters are listed here:\n"
                                                      + entry["apis_candidate"] + "\n\nGenerate your tool call")


def test_public_data_lookup_is_the_shared_one():
    found = public_data_dir("petoolbench")
    assert found is None or (found / "user_entries_test.json.zip").is_file()


# --- the report's sample browser ----------------------------------------------------------


@pytest.mark.parametrize("compat", [None, "petoolbench-public"])
def test_the_browser_diff_agrees_with_the_scorer(fixture_dir, tmp_path, compat):
    """A case-folded tool name and a padded value score right under pertool's rules: the diff
    shows the gold call matched, nothing missing or extra (the PTBench diff showed the gold call
    missing and an extra call); a second call is shown ignored, as scored. Under the public
    rules the same answer is wrong, and the diff says so."""
    from pertool.report.rundata import load_run
    from pertool.runner.run import EvalConfig

    samples = load_benchmark("petoolbench:preferred", fixture_dir)
    outputs = _gold_outputs(samples)
    outputs["preferred:1"] = '{"tool_name": "<data>.<github api scraper>.<get repos>", "parameters": {"user": " octocat "}}'
    outputs["preferred:2"] = ('{"tool_name": "<entertainment>.<👋 demo project_v12>.<get products>", '
                              '"parameters": {"limit": 10}}')  # fmt: skip
    outputs["preferred:3"] = "[" + outputs["preferred:3"] + ', {"tool_name": "x", "parameters": {"a": 1}}]'
    config = EvalConfig(benchmark="petoolbench:preferred", data_dir=str(fixture_dir), model="m", compat=compat)
    run = load_run(write_run(tmp_path / "run", config, outputs))
    views = {v.id: v for v in run.samples}
    for view in views.values():  # the diff's verdict is the scorer's, sample by sample
        assert (view.diff is None) == (view.parsed is None), view.id
        assert view.diff is None or (view.diff["calls"][0]["status"] == "ok") == view.correct, view.id
    statuses = {i: [(c["status"], [p[1] for p in c["params"]]) for c in v.diff["calls"]]
                for i, v in views.items() if v.diff is not None}  # fmt: skip
    if compat is None:
        assert views["preferred:1"].correct and views["preferred:2"].correct
        assert statuses["preferred:1"] == [("ok", ["ok"])]
        assert statuses["preferred:2"] == [("ok", ["ok", "ignored"])]  # "skip": "" is ignored, as scored
        assert views["preferred:1"].diff["calls"][0]["predicted"] == "<data>.<github api scraper>.<get repos>"
        assert views["preferred:1"].diff["platform"][2] is True
        assert statuses["preferred:3"][1][0] == "ignored"
    else:
        assert not views["preferred:1"].correct and statuses["preferred:1"] == [("diff", ["wrong"])]
        assert statuses["preferred:2"] == [("diff", ["wrong", "missing"])]  # 10 != "10"; "skip" absent
        assert views["preferred:3"].diff is None  # a list on one line: no public match
    assert all(s != "missing" and s != "extra" for i in ("preferred:1", "preferred:2") if compat is None
               for status, params in statuses[i] for s in (status, *params))  # fmt: skip
