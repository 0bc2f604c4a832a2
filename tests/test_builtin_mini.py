"""builtin-mini, the compact setting for CPU experiments: the built-in generator, rules and
verification with prompts of about 1,000 SmolLM2 tokens at most, history still decisive, and
the default built-in benchmark unchanged by the compact options."""

from __future__ import annotations

import hashlib
import json
import statistics
from pathlib import Path

import pytest

from pertool.benchmarks.builtin import load_builtin, write_dataset
from pertool.benchmarks.dataset import load_dataset
from pertool.benchmarks.ptbench_prompts import chat_messages
from pertool.builtin.catalog import load_catalog
from pertool.builtin.generate import MINI, GeneratorSettings, generate
from pertool.builtin.rules import first_failure
from pertool.errors import DataError
from pertool.kinds import load_benchmark
from pertool.schema import Sample
from support.cli import run_pertool

# Calibrated on every builtin-mini prompt (seed 0) with SmolLM2's tokenizer and chat template:
# 3.29 to 3.70 characters per token; longest prompt 1,066 tokens (3,693 characters), median 934.
MAX_CHARS = 3_800
MAX_TOKENS = 1_100


@pytest.fixture(scope="module")
def mini(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Sample], list[Sample]]:
    """The cached builtin-mini (generated on first use) and the in-memory generation."""
    cache = tmp_path_factory.mktemp("cache")
    train, test = load_builtin("train", cache, "builtin-mini"), load_builtin("test", cache, "builtin-mini")
    return cache, train, test


def prompt_chars(sample: Sample) -> int:
    return sum(len(m["content"]) for m in chat_messages(sample))


def test_specs_load_the_documented_sizes_from_one_cache(mini, monkeypatch):
    cache, train, test = mini
    assert (len(train), len(test)) == (600, 200)
    assert sum(s.split == "trained" for s in test) == sum(s.split == "untrained" for s in test) == 100
    users = {s.user_id for s in train + test}
    untrained = {s.user_id for s in test if s.split == "untrained"}
    assert (len(users), len(untrained)) == (20, 4)
    assert not untrained & {s.user_id for s in train}
    assert [p.name for p in cache.iterdir() if not p.name.startswith(".")] == ["builtin-mini-v3-seed0"]
    monkeypatch.setenv("PERTOOL_CACHE_DIR", str(cache))
    for spec, expected in (("builtin-mini", test), ("builtin-mini:test", test), ("builtin-mini:train", train)):
        assert [s.model_dump() for s in load_benchmark(spec)] == [s.model_dump() for s in expected], spec
    manifest = json.loads((cache / "builtin-mini-v3-seed0" / "manifest.json").read_text())
    assert manifest["settings"]["tools_per_sample"] == 3 and manifest["settings"]["profile_scope"] == "scenario"


def test_generation_and_the_cached_copy_are_the_same_samples_and_pass_the_rules(mini):
    _, train, test = mini
    generated = generate(MINI)
    assert [s.model_dump() for s in generated.train + generated.test] == [s.model_dump() for s in train + test]
    assert [first_failure(s) for s in train + test] == [None] * 800
    assert generated.rejected["platform_has_evidence"] > 0  # the rules did reject drafts


def test_each_sample_shows_its_scenario_and_three_functions_including_the_gold_ones(mini):
    _, train, test = mini
    catalog = {s.scenario: s for s in load_catalog()}
    for s in train + test:
        scenario = s.extra["builtin"]["scenario"]
        assert list(s.profile.user_history) == [scenario]  # type: ignore[arg-type]
        names = [t.function.name for t in s.tools]
        assert len(names) == 3 and {c.name for c in s.gold_calls} <= set(names)
        order = [a.name for a in catalog[scenario].apis]
        assert names == sorted(names, key=order.index)  # catalog order: position says nothing
        for tool in s.tools:
            assert all("description" not in p for p in tool.function.parameters["properties"].values())
        for call in s.gold_calls:  # profile-sourced values come from the features shown
            for param, source in call.sources.items():
                if source == "profile":
                    assert call.arguments[param][0] in s.profile.basic_features.values()
        # one history record per category of the scenario
        assert len(s.profile.user_history[scenario]) == len(catalog[scenario].categories)  # type: ignore[call-overload]


def test_prompts_stay_near_1000_tokens(mini):
    _, train, test = mini
    chars = [prompt_chars(s) for s in train + test]
    assert max(chars) <= MAX_CHARS
    assert statistics.median(chars) <= 3_400


def test_prompt_length_with_the_real_tokenizer(mini, smollm2_dir):
    from transformers import AutoTokenizer

    _, _, test = mini
    tokenizer = AutoTokenizer.from_pretrained(str(smollm2_dir))
    texts = [tokenizer.apply_chat_template(chat_messages(s), tokenize=False, add_generation_prompt=True)
             for s in test]  # fmt: skip
    lengths = [len(ids) for ids in tokenizer(texts)["input_ids"]]
    assert max(lengths) <= MAX_TOKENS
    assert statistics.median(lengths) <= 1_000
    # the character proxy above is a safe bound: no prompt has fewer than 3.2 characters a token
    assert min(prompt_chars(s) / n for s, n in zip(test, lengths)) >= 3.2


def test_history_is_decisive(mini, tmp_path):
    cache, _, _ = mini
    env = {"PERTOOL_CACHE_DIR": str(cache)}
    metrics = {}
    for view in ("all", "no-history"):
        proc = run_pertool("eval", "--benchmark", "builtin-mini", "--model", "baseline/history", "--json",
                           "--profile-view", view, "--resamples", "0", "--no-progress",
                           "--out", tmp_path / view, env=env, check=True)  # fmt: skip
        metrics[view] = json.loads(proc.stdout)["splits"]["overall"]
    assert metrics["all"]["platform"] >= 0.6
    assert metrics["no-history"]["platform"] <= 0.45  # about chance among 3 platforms
    assert metrics["all"]["overall"] > metrics["no-history"]["overall"]


def test_generate_preset_writes_the_cached_files(mini, tmp_path):
    cache, _, _ = mini
    run_pertool("generate", "--preset", "builtin-mini", "--out", tmp_path / "gen", check=True)
    for name in ("manifest.json", "scenarios.json", "users.json", "train.jsonl", "test.jsonl"):
        assert (tmp_path / "gen" / name).read_bytes() == (cache / "builtin-mini-v3-seed0" / name).read_bytes()
    smaller = run_pertool("generate", "--preset", "builtin-mini", "--train", "10", "--test-trained", "5",
                          "--test-untrained", "5", "--out", tmp_path / "small", check=True)  # fmt: skip
    assert smaller.stdout.startswith("10 train and 10 test samples")
    assert len(load_dataset(tmp_path / "small", "test")[0].tools) == 3


def test_a_row_naming_an_unknown_function_is_refused_with_line_and_field(mini, tmp_path):
    cache, _, _ = mini
    root = tmp_path / "copy"
    root.mkdir()
    for f in (cache / "builtin-mini-v3-seed0").iterdir():
        (root / f.name).write_bytes(f.read_bytes())
    lines = (root / "test.jsonl").read_text().splitlines()
    row = json.loads(lines[1])
    row["tools"][0] = "launchRocket"
    lines[1] = json.dumps(row)
    (root / "test.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as err:
        load_dataset(root, "test")
    assert "line 2" in str(err.value) and "tools[0]" in str(err.value) and "launchRocket" in str(err.value)


# sha256 of the default generation's files (seed 0, pertool format), as before the compact
# options existed. A change to the default generation must bump GENERATOR_VERSION.
DEFAULT_DIGESTS = {
    "manifest.json": "338bb4f859da230e1516ed73525fdac48856e2644725dd197c526a0a5decb959",
    "scenarios.json": "9868b8235a16e4082b0e6cc3cff9f43a6c658157bbaefdad28007406d3f6c1a9",
    "test.jsonl": "726271db5456101d3ebc3520fd807f94e52da38ba8af7a2fbd1c826ae4e98ef9",
    "train.jsonl": "2d770b01fb6aaf18edf069798d1d4712fb7e8951630ac8895ab24ff8a8727748",
    "users.json": "b6a082b6876479c87367b744348768963ead2fc2263e79c442cfd50dffa6a7b3",
}


@pytest.mark.slow
def test_the_default_builtin_is_byte_identical(tmp_path):
    write_dataset(generate(GeneratorSettings()), tmp_path)
    digests = {name: hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() for name in DEFAULT_DIGESTS}
    assert digests == DEFAULT_DIGESTS
