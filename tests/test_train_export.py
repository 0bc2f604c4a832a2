"""SFT exports: formats, loading with `datasets`, chat templates rendering the tools, and the
refusal to export a test split."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from support.cli import run_pertool


def export(tmp_path: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PERTOOL_CACHE_DIR": str(tmp_path / "cache")}
    proc = run_pertool("train", "export", *args, env=env, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


@pytest.mark.parametrize("benchmark", ["builtin", "builtin:test", "example"])
def test_test_splits_are_refused_without_allow_test(tmp_path, benchmark):
    out = tmp_path / "x.jsonl"
    proc = export(tmp_path, "--benchmark", benchmark, "--format", "trl", "--out", str(out), check=False)
    assert proc.returncode == 2 and "test split" in proc.stderr and "--allow-test" in proc.stderr
    assert not out.exists()
    export(tmp_path, "--benchmark", benchmark, "--format", "trl", "--out", str(out), "--allow-test")
    assert out.exists()


def test_trl_text_mode_is_the_evaluator_prompt_plus_the_gold(tmp_path):
    from pertool.benchmarks.ptbench_prompts import chat_messages
    from pertool.kinds import gold_text, load_benchmark

    out = tmp_path / "trl.jsonl"
    export(tmp_path, "--benchmark", "builtin:train", "--limit", "40", "--format", "trl", "--out", str(out))
    records = lines(out)
    samples = load_benchmark("builtin:train")
    assert len(records) == 40
    assert records[0]["messages"] == [*chat_messages(samples[0]),
                                      {"role": "assistant", "content": gold_text(samples[0])}]


def test_exports_load_with_datasets_and_templates_render_the_tools(tmp_path):
    from datasets import load_dataset
    from transformers import AutoTokenizer

    from pertool.training.tiny_model import build_tiny_model

    tokenizer = AutoTokenizer.from_pretrained(build_tiny_model(tmp_path / "tiny"))
    trl = tmp_path / "trl.jsonl"
    export(tmp_path, "--benchmark", "builtin:train", "--limit", "40", "--format", "trl", "--tool-mode", "native", "--out", str(trl))
    data = load_dataset("json", data_files=str(trl), split="train")
    row = data[0]
    assert row["messages"][-1]["tool_calls"] and row["tools"]
    rendered = tokenizer.apply_chat_template(row["messages"], tools=row["tools"], tokenize=False)
    tool_name = row["tools"][0]["function"]["name"]
    assert tool_name in rendered and "platform" in rendered

    lf = tmp_path / "lf" / "train.jsonl"
    lf.parent.mkdir()
    export(tmp_path, "--benchmark", "builtin:train", "--limit", "40", "--format", "llamafactory", "--tool-mode", "native",
           "--out", str(lf))
    info = json.loads((lf.parent / "dataset_info.json").read_text())
    assert info["train"]["formatting"] == "sharegpt" and info["train"]["columns"]["tools"] == "tools"
    row = load_dataset("json", data_files=str(lf), split="train")[0]
    assert [t["from"] for t in row["conversations"]][0] == "human"
    assert any(t["from"] == "function_call" for t in row["conversations"])
    tools = json.loads(row["tools"])
    messages = [{"role": "system", "content": row["system"]}, {"role": "user", "content": row["conversations"][0]["value"]}]
    rendered = tokenizer.apply_chat_template(messages, tools=[{"type": "function", "function": t} for t in tools],
                                             tokenize=False)
    assert tools[0]["name"] in rendered

    oa = tmp_path / "openai.jsonl"
    export(tmp_path, "--benchmark", "builtin:train", "--limit", "40", "--format", "openai", "--tool-mode", "native", "--out", str(oa))
    first = lines(oa)[0]
    call = first["messages"][-1]["tool_calls"][0]
    assert call["type"] == "function" and isinstance(call["function"]["arguments"], str)
    assert "platform" in json.loads(call["function"]["arguments"])


def test_profile_view_applies_to_the_export(tmp_path):
    out = tmp_path / "nb.jsonl"
    export(tmp_path, "--benchmark", "builtin:train", "--limit", "40", "--format", "trl", "--profile-view", "no-basic", "--out", str(out))
    system = lines(out)[0]["messages"][0]["content"]
    assert "'basic_features': {}" in system and "user_history" in system
