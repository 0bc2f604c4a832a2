"""Prefix-friendly order: samples whose prompts share a prefix are sent one after another (for a
server's prefix cache), results unchanged. `--order prefix` (default) or `file`; config.json keeps
it, and a run directory from before the option resumes in file order, as it ran."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pertool.kinds import load_benchmark
from pertool.runner.order import prefix_key, send_order
from pertool.runner.run import EvalConfig, load_config, select_samples
from pertool.runner.rundir import RunDir
from pertool.runner.task import Task
from support.cli import run_pertool
from support.openai_stub import Reply, StubServer, chat


def rendered(messages: Any) -> str:
    return json.dumps(messages, ensure_ascii=False)


def shared_prefix(texts: list[str]) -> int:
    """Characters each prompt shares with the one sent before it, summed: what a prefix cache saves."""
    return sum(len(os.path.commonprefix([a, b])) for a, b in zip(texts, texts[1:]))


def profile_part(messages: list[dict[str, Any]]) -> str:
    system = messages[0]["content"]
    return system[: system.index("Here is some platforms")]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One cache directory for the module's pertool runs: the built-in benchmark is generated once."""
    return {"PERTOOL_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}


def evaluate(tmp_path: Path, cache: dict[str, str], out: str, *extra: str, model: str = "baseline/history") -> Any:
    return run_pertool("eval", "--model", model, "--out", tmp_path / out, "--no-progress", *extra, env=cache,
                       check=True)  # fmt: skip


def test_the_server_receives_prompts_sharing_a_prefix_one_after_another(tmp_path, cache):
    samples = select_samples(EvalConfig(benchmark="builtin", model="m", limit=40))
    task = Task()
    file_order = [rendered(task.request(s).messages) for s in samples]
    received: dict[str, list[str]] = {}
    for order in ("prefix", "file", "shuffled"):
        with StubServer(lambda body, request: Reply(json=chat("none"))) as server:
            evaluate(tmp_path, cache, f"run-{order}", "--benchmark", "builtin", "--limit", "40", "--no-cache",
                     "--max-concurrency", "1", "--base-url", server.url, "--order", order,
                     model="openai-compatible/m")  # fmt: skip
            received[order] = [rendered(body["messages"]) for body in server.bodies()]
        assert json.loads((tmp_path / f"run-{order}" / "config.json").read_text())["order"] == order
    assert received["file"] == file_order
    assert sorted(received["prefix"]) == sorted(file_order) and received["prefix"] != file_order
    assert received["prefix"] == [rendered(task.request(s).messages) for s in send_order(samples, "prefix")]
    # The measuring baseline: a seeded permutation, neither the file's order nor the prefix's.
    assert received["shuffled"] == [rendered(task.request(s).messages) for s in send_order(samples, "shuffled", 0)]
    assert sorted(received["shuffled"]) == sorted(file_order)
    assert received["shuffled"] not in (file_order, received["prefix"])
    assert send_order(samples, "shuffled", 1) != send_order(samples, "shuffled", 0)
    # Each user's prompts (same profile, the system prompt's start) arrive together...
    users = [profile_part(json.loads(text)) for text in received["prefix"]]
    runs = [u for i, u in enumerate(users) if i == 0 or users[i - 1] != u]
    assert len(runs) == len(set(users)) < len(users)
    # ...and share as much with their predecessor as the sort of the rendered prompts would give.
    best, got, before = shared_prefix(sorted(file_order)), shared_prefix(received["prefix"]), shared_prefix(file_order)
    assert got >= 0.99 * best and got > 5 * before


def scores_of(run):
    """metrics.json without the digests of the files as scored (predictions.jsonl holds the
    answers in the order they arrived, so its digest follows the order)."""
    metrics = json.loads((run / "metrics.json").read_text())
    del metrics["scored_files"]
    return metrics


def test_the_order_changes_no_result(tmp_path, cache):
    for order in ("prefix", "file"):
        evaluate(tmp_path, cache, f"run-{order}", "--limit", "100", "--order", order)
    prefix, file = (tmp_path / "run-prefix", tmp_path / "run-file")
    assert scores_of(prefix) == scores_of(file)
    assert (prefix / "scores.jsonl").read_text() == (file / "scores.jsonl").read_text()
    metrics = json.loads((prefix / "metrics.json").read_text())
    assert 0 < metrics["splits"]["overall"]["overall"] < 1  # right and wrong answers, not all alike

    def outputs(run: Path) -> list[tuple[str, str]]:
        lines = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
        return [(r["id"], r["output"]) for r in lines]

    assert sorted(outputs(prefix)) == sorted(outputs(file)) and outputs(prefix) != outputs(file)


@pytest.mark.slow  # renders the 1,083 prompts: 3-12 s on 2 busy cores
def test_the_key_groups_the_builtin_prompts_as_rendering_them_would():
    """On the 1,083 built-in samples the cheap key (no prompt rendered) keeps 99% of the prefix
    a sort of the rendered prompts shares, in the ToolSpectrum layout as well."""
    samples = load_benchmark("builtin", None)
    task = Task()
    texts = {s.id: rendered(task.request(s).messages) for s in samples}
    by_key = [texts[s.id] for s in sorted(samples, key=prefix_key)]
    assert shared_prefix(by_key) >= 0.99 * shared_prefix(sorted(texts.values()))


def test_toolspectrum_prompts_are_grouped_too(toolspectrum_dir):
    samples = load_benchmark("toolspectrum:all", str(toolspectrum_dir))
    task = Task()
    texts = {s.id: rendered(task.request(s).messages) for s in samples}
    by_key = [texts[s.id] for s in send_order(samples, "prefix")]
    file_order = [texts[s.id] for s in samples]
    assert shared_prefix(by_key) >= 0.99 * shared_prefix(sorted(file_order)) > shared_prefix(file_order)


def test_a_run_from_before_the_option_resumes_in_file_order(tmp_path, cache):
    evaluate(tmp_path, cache, "run", "--limit", "12")
    run = tmp_path / "run"
    before = scores_of(run)
    config = json.loads((run / "config.json").read_text())
    assert config["order"] == "prefix"
    del config["order"]  # as written by an older pertool
    (run / "config.json").write_text(json.dumps(config))
    lines = (run / "predictions.jsonl").read_text().splitlines(keepends=True)
    (run / "predictions.jsonl").write_text("".join(lines[:5]))
    assert load_config(RunDir.open(run)).order == "file"
    run_pertool("eval", "--resume", run, "--no-progress", env=cache, check=True)
    assert "order" not in json.loads((run / "config.json").read_text())  # config.json is never rewritten
    assert scores_of(run) == before
    # --order may be given to a resume, like --max-concurrency: it changes no result.
    (run / "predictions.jsonl").write_text("".join(lines[:5]))
    run_pertool("eval", "--resume", run, "--order", "prefix", "--no-progress", env=cache, check=True)
    assert scores_of(run) == before


def test_a_wrong_order_is_one_line(tmp_path):
    proc = run_pertool("eval", "--order", "random", "--out", tmp_path / "run")
    assert proc.returncode == 2 and "--order: invalid choice: 'random'" in proc.stderr
    assert not (tmp_path / "run").exists()
