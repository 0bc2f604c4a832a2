"""Friction found on the adversarial pass (issue 11, part 10): the mock server's hang is a short
bounded delay, exports and synth re-runs say what they did, output files share one permission
rule, ToolSpectrum metrics keep full precision in JSON, one default of bootstrap resamples, and
the ToolSpectrum table explains its columns. Real files, real subprocesses, real loopback HTTP."""

from __future__ import annotations

import inspect
import json
import math
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pertool.fileio import atomic_write_bytes, atomic_write_text, make_temp_dir
from pertool.mock_server import DEFAULT_HANG_S, FAULTS, MockServer, MockSettings
from pertool.models.registry import ModelOptions
from pertool.scoring.defaults import DEFAULT_RESAMPLES
from support.cli import PERTOOL, run_pertool

ROOT = Path(__file__).resolve().parents[1]
SYNTH_CONFIG = ROOT / "examples" / "synth-small.yaml"


# ---------------------------------------------------------------------------------------------
# A tiny ToolSpectrum data directory (persona subset), built here so nothing needs ../shared
# ---------------------------------------------------------------------------------------------

APIS = {
    "Keep": {"desc": "Fitness plans.", "APIs": {"createHealthPlan": {
        "desc": "Creates a workout plan.",
        "required_arguments": {"equipment (list)": "Equipment to use."},
        "personalized_arguments": {"level (str)": "Difficulty. Available values: ['easy', 'hard']."}}}},
    "Maoyan": {"desc": "Movie tickets.", "policy": ["Minors may not buy 18+ tickets."], "APIs": {"buyTicket": {
        "desc": "Buys a ticket.", "required_arguments": {"movie (str)": "The movie."},
        "personalized_arguments": {"seat (str)": "Seat. Available values: ['aisle', 'middle']."}}}},
}  # fmt: skip
PERSONA = {"Gender": "Female", "Age": 30, "Preferences": ["Likes aisle seats and easy workouts."]}
RECORDS = [
    {"instruction": "Plan a workout with bands.", "persona": PERSONA,
     "toolCall": {"APP": "Keep", "API": "createHealthPlan", "params": {"equipment": ["bands"], "level": "easy"}}},
    {"instruction": "Buy a ticket for Up.", "persona": PERSONA,
     "toolCall": {"APP": "Maoyan", "API": "buyTicket", "params": {"movie": "Up", "seat": "aisle"}}},
    {"instruction": "Plan a workout with weights.", "persona": PERSONA,
     "toolCall": {"APP": "Keep", "API": "createHealthPlan", "params": {"equipment": ["weights"], "level": "easy"}}},
    {"instruction": "Buy an 18+ ticket for my 12-year-old.", "persona": PERSONA, "toolCall": None},
]  # fmt: skip
# Right, right, wrong app, right refusal: app_f1 = 2*2 / (2*2 + 1 + 1) = 2/3, accuracy 3/4.
ANSWERS = [json.dumps(RECORDS[0]["toolCall"]), json.dumps(RECORDS[1]["toolCall"]),
           json.dumps({"APP": "Maoyan", "API": "buyTicket", "params": {"movie": "weights"}}), "null"]  # fmt: skip
TEMPLATE = ("Instruction: <INSTRUCTION_PLACEHOLDER>\nPersona: <PERSONA_PLACEHOLDER>\n"
            "Toolset: <TOOLSET_PLACEHOLDER>\nAnswer with one JSON object or null.")  # fmt: skip


def tiny_toolspectrum(root: Path) -> Path:
    for sub in ("data", "api", "prompts"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "data" / "dataset_persona.json").write_text(json.dumps(RECORDS))
    (root / "api" / "API_description_persona.json").write_text(json.dumps(APIS))
    (root / "prompts" / "prompt_call_api_persona.txt").write_text(TEMPLATE)
    return root


def predictions_file(path: Path) -> Path:
    path.write_text("".join(json.dumps({"id": f"persona:{i}", "output": a}) + "\n" for i, a in enumerate(ANSWERS)))
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"PERTOOL_CACHE_DIR": str(tmp_path / "cache"), "PERTOOL_DATA_DIR": str(tmp_path / "data")}


# ---------------------------------------------------------------------------------------------
# 1. The mock server's hang fault: a short bounded delay, below the client's default timeout
# ---------------------------------------------------------------------------------------------


def test_the_default_hang_ends_well_before_the_default_client_timeout():
    assert MockSettings().hang_s == DEFAULT_HANG_S
    assert 0 < DEFAULT_HANG_S <= 10 < ModelOptions().timeout_s


def test_a_hang_is_silence_for_hang_s_then_a_closed_connection(tmp_path: Path):
    from pertool.kinds import load_benchmark
    from pertool.runner.task import Task

    samples = load_benchmark("example")
    log = tmp_path / "mock.log"
    server = MockServer(samples, MockSettings(fault_rate=1.0, hang_s=0.4, seed=5, log=log))
    url = server.start()
    body = {"model": "mock", "messages": list(Task().request(samples[0]).messages)}
    durations = []
    try:
        with httpx.Client(timeout=10) as client:
            for _ in range(12):
                started = time.monotonic()
                try:
                    client.post(f"{url}/chat/completions", json=body)
                except httpx.HTTPError:
                    pass  # a hang or a disconnect: the connection was closed without an answer
                durations.append(time.monotonic() - started)
    finally:
        server.stop()
    faults = [json.loads(line)["fault"] for line in log.read_text().splitlines()]
    assert len(faults) == 12 and set(faults) <= set(FAULTS)
    hangs = [d for d, f in zip(durations, faults) if f == "hang"]
    assert hangs, f"seed 5 drew no hang in 12 faults: {faults}"
    assert all(0.4 <= d < 3 for d in hangs), hangs  # the configured delay, then the end
    assert all(d < 3 for d in durations)


def _start_mock_cli(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([*PERTOOL, "mock-server", "--port", "0", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()


@pytest.mark.slow
def test_a_dry_run_with_faults_and_default_settings_does_not_stall(tmp_path: Path, env: dict[str, str]):
    """The issue's case: a dry run at fault rate 0.2 used to sit silent for 122 s (a 150 s hang
    against a 120 s client timeout). With the default hang it retries within seconds."""
    proc, url = _start_mock_cli("--benchmark", "builtin", "--fault-rate", "0.2", "--seed", "3")
    try:
        assert url.startswith("http://127.0.0.1:")
        started = time.monotonic()
        result = run_pertool("eval", "--benchmark", "builtin", "--model", "openai-compatible/mock",
                             "--base-url", url, "--limit", "40", "--no-cache", "--no-progress", "--json",
                             "--backoff-cap", "1", "--resamples", "0", "--out", tmp_path / "run",
                             env=env, timeout=120)  # fmt: skip
        elapsed = time.monotonic() - started
    finally:
        _stop(proc)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == 40
    assert elapsed < 4 * DEFAULT_HANG_S + 20, elapsed  # a few hangs, each a few seconds


def test_the_old_hang_option_is_still_accepted():
    proc, url = _start_mock_cli("--hang", "0.3")
    try:
        assert url.startswith("http://127.0.0.1:")
    finally:
        _stop(proc)


@pytest.mark.parametrize("option", [
    ["--hang-s", "150"], ["--hang-s", "120"], ["--hang-s", "-1"], ["--hang-s", "nan"], ["--hang-s", "inf"],
    ["--fault-rate", "1.5"], ["--fault-rate", "-0.1"], ["--corrupt-rate", "nan"], ["--latency", "-2"],
])  # fmt: skip
def test_mock_server_options_out_of_range_are_one_line_errors(option: list[str]):
    proc = run_pertool("mock-server", "--port", "0", *option, timeout=30)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("pertool: error:")]
    assert len(errors) == 1 and option[0] in errors[0], proc.stderr


# ---------------------------------------------------------------------------------------------
# 2. Exports print what they wrote; a synth re-run says it made 0 calls
# ---------------------------------------------------------------------------------------------


def test_data_export_prints_format_path_and_counts_per_split(tmp_path: Path, env: dict[str, str]):
    out = tmp_path / "export"
    proc = run_pertool("data", "export", "--benchmark", "example", "--out", out, env=env, check=True)
    files = sorted(out.glob("*/data.json"))
    assert len(files) == 2
    text = proc.stdout
    total = 0
    for file in files:
        count = len(json.loads(file.read_text()))
        total += count
        split = file.parent.name.removeprefix("test_").removesuffix("_user")
        line = next(x for x in text.splitlines() if str(file) in x)
        assert split in line and f"{count} samples" in line, text
    assert f"exported {total} samples in ptbench format to {out}" in text


def test_data_export_counts_the_refusals_it_leaves_out(tmp_path: Path, env: dict[str, str]):
    data = tiny_toolspectrum(tmp_path / "ts")
    out = tmp_path / "export"
    proc = run_pertool("data", "export", "--benchmark", "toolspectrum:persona", "--out", out,
                       env={**env, "PERTOOL_DATA_DIR": str(data)}, check=True)  # fmt: skip
    written = json.loads((out / "test_persona_user" / "data.json").read_text())
    assert len(written) == 3
    assert "exported 3 samples in ptbench format" in proc.stdout
    assert "persona" in proc.stdout and "3 samples" in proc.stdout
    assert "1 refusal golds left out" in proc.stdout


def test_train_export_prints_format_path_and_counts(tmp_path: Path, env: dict[str, str]):
    out = tmp_path / "sft" / "train.jsonl"
    proc = run_pertool("train", "export", "--benchmark", "example", "--allow-test", "--format", "llamafactory",
                       "--out", out, "--limit", "6", env=env, check=True)  # fmt: skip
    assert len(out.read_text().splitlines()) == 6
    assert (f"exported 6 records in llamafactory format (text tool mode) to {out} (trained 4, untrained 2)"
            in proc.stdout)
    assert f"also wrote {out.parent / 'dataset_info.json'}" in proc.stdout


@pytest.fixture
def scripted_url() -> Iterator[str]:
    server = MockServer([], MockSettings(scripted=True))
    url = server.start()
    yield url
    server.stop()


def _synth_tools(url: str, out: Path, env: dict[str, str]) -> str:
    proc = run_pertool("synth", "tools", "--config", SYNTH_CONFIG, "--model", "openai-compatible/scripted",
                       "--base-url", url, "--out", out, "--no-progress", env=env, check=True)  # fmt: skip
    return proc.stdout


def _this_run(stdout: str) -> tuple[int, int]:
    line = next(x for x in stdout.splitlines() if x.startswith("this run:"))
    words = line.split()
    return int(words[2]), int(words[words.index("to") + 3].rstrip(","))


def test_a_synth_rerun_says_it_made_no_calls(tmp_path: Path, env: dict[str, str], scripted_url: str):
    first = _synth_tools(scripted_url, tmp_path / "p1", env)
    calls, cached = _this_run(first)
    assert calls > 0 and cached == 0
    total = json.loads((tmp_path / "p1" / "summary.json").read_text())["tools"]["calls"]
    assert total == calls

    again = _synth_tools(scripted_url, tmp_path / "p1", env)  # finished: nothing asked again
    assert _this_run(again) == (0, 0)
    assert "every stage was already done" in again
    assert "(done before)" in again
    tools_row = next(x for x in again.splitlines() if x.startswith("tools"))
    assert tools_row.split()[1:4] == ["0", "0", str(total)]  # this run 0/0, all runs `total`

    fresh = _synth_tools(scripted_url, tmp_path / "p2", env)  # a new pipeline, same response cache
    assert _this_run(fresh) == (0, calls)


def test_synth_summary_table_counts_only_this_run():
    from pertool.synth.summary_table import format_synth_summary

    before = {"tools": {"calls": 5, "cached": 1, "accepted": 4, "rejected": {}}}
    after = {"tools": {"calls": 5, "cached": 1, "accepted": 4, "rejected": {}},
             "features": {"calls": 3, "cached": 2, "input_tokens": 10, "output_tokens": 4, "cost": 0.5,
                          "accepted": 5, "rejected": {"duplicate": 1}}}  # fmt: skip
    text = format_synth_summary(before, after, ["tools"])
    assert "this run: 3 calls to the model, 2 answers from the cache" in text
    assert "every stage was already done" not in text
    features = next(x for x in text.splitlines() if x.startswith("features"))
    assert features.split()[:4] == ["features", "3", "2", "3"] and "duplicate 1" in features


# ---------------------------------------------------------------------------------------------
# 3. Output files get the same permissions
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def umask() -> Iterator:
    """Set the process umask for a test (children inherit it) and restore it afterwards."""
    old = os.umask(0o022)

    def set_umask(value: int) -> None:
        os.umask(value)

    yield set_umask
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002, 0o077])
def test_atomic_writes_get_the_permissions_of_a_plain_open(tmp_path: Path, umask, mask: int):
    umask(mask)
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic = tmp_path / "atomic.txt"
    atomic_write_text(atomic, "x")
    atomic_write_bytes(tmp_path / "new" / "atomic.bin", b"y", durable=False)
    assert _mode(atomic) == _mode(plain) == 0o666 & ~mask
    assert _mode(tmp_path / "new" / "atomic.bin") == 0o666 & ~mask
    atomic_write_text(atomic, "rewritten")  # a rewrite, too
    assert _mode(atomic) == 0o666 & ~mask and atomic.read_text() == "rewritten"
    made = make_temp_dir(tmp_path, ".stage-")
    plain_dir = tmp_path / "plain-dir"
    plain_dir.mkdir()
    assert _mode(made) == _mode(plain_dir) == 0o777 & ~mask
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]  # no leftovers


@pytest.mark.slow
def test_every_output_of_a_session_has_one_permission_rule(tmp_path: Path, umask, env: dict[str, str]):
    """eval (run dir, response cache), report, compare --out, data and train exports (and the
    built-in benchmark's cache they generate), all under umask 027: files 0640, directories
    0750, nothing private."""
    umask(0o027)
    work = tmp_path / "work"
    work.mkdir(mode=0o750)
    run = work / "run"
    run_pertool("eval", "--benchmark", "example", "--model", "oracle", "--no-progress", "--resamples", "0",
                "--out", run, env=env, check=True)  # fmt: skip
    run_pertool("report", run, "--out", work / "report.html", env=env, check=True)
    run_pertool("compare", run, "--format", "csv", "--resamples", "0", "--out", work / "board.csv",
                env=env, check=True)  # fmt: skip
    run_pertool("data", "export", "--benchmark", "example", "--out", work / "export", env=env, check=True)
    run_pertool("train", "export", "--benchmark", "builtin:train", "--format", "trl", "--limit", "5",
                "--out", work / "sft.jsonl", env=env, check=True)  # fmt: skip
    cache = Path(env["PERTOOL_CACHE_DIR"])
    paths = [p for root in (work, cache) for p in root.rglob("*")]
    assert any(p.name == "metrics.json" for p in paths) and any(p.suffix == ".html" for p in paths)
    assert any(p.is_dir() and p.name.startswith("builtin-") for p in paths)
    wrong = {str(p): oct(_mode(p)) for p in paths
             if _mode(p) != (0o750 if p.is_dir() else 0o640)}  # fmt: skip
    assert not wrong, wrong


def test_the_response_cache_is_created_like_any_file(tmp_path: Path, umask):
    from pertool.modelcalls.cache import ResponseCache

    umask(0o002)
    cache = ResponseCache(tmp_path / "c" / "responses.sqlite3")
    cache.close()
    assert _mode(tmp_path / "c" / "responses.sqlite3") == 0o664


# ---------------------------------------------------------------------------------------------
# 4. ToolSpectrum metrics in JSON at full precision (as PTBench's)
# ---------------------------------------------------------------------------------------------


def test_toolspectrum_metrics_keep_full_precision_in_json(tmp_path: Path, env: dict[str, str]):
    data = tiny_toolspectrum(tmp_path / "ts")
    proc = run_pertool("score", "--benchmark", "toolspectrum:persona", "--data-dir", data, "--predictions",
                       predictions_file(tmp_path / "p.jsonl"), "--json", env=env, check=True)  # fmt: skip
    metrics = json.loads(proc.stdout)["splits"]["persona"]
    assert metrics["app_f1"] == 2 / 3  # not 0.666667
    assert metrics["accuracy"] == 0.75
    apps = json.loads(proc.stdout)["apps"]
    assert all(v is None or isinstance(v, float) for m in apps.values() for v in m.values())


def test_intervals_keep_full_precision():
    import numpy as np

    from pertool.scoring.bootstrap import bootstrap_totals

    intervals = bootstrap_totals({"s": [(1,), (1,)]}, lambda t: {"third": t[:, 0] / 6.0}, resamples=20)
    assert intervals["s"]["third"] == [1 / 3, 1 / 3]  # rounding would give 0.333333
    assert not math.isclose(1 / 3, round(1 / 3, 6), rel_tol=1e-12) and np.isfinite(1 / 3)


# ---------------------------------------------------------------------------------------------
# 5. One default number of bootstrap resamples
# ---------------------------------------------------------------------------------------------


def test_one_default_number_of_resamples_in_the_python_api():
    import pertool
    from pertool.report.compare import build_leaderboard, load_runs, paired_bootstrap
    from pertool.runner.run import EvalConfig
    from pertool.scoring import bootstrap

    assert bootstrap.DEFAULT_RESAMPLES == DEFAULT_RESAMPLES
    for fn in (pertool.score, bootstrap.bootstrap_intervals, bootstrap.bootstrap_totals, build_leaderboard,
               load_runs, paired_bootstrap):  # fmt: skip
        default = inspect.signature(fn).parameters["resamples"].default
        assert default == DEFAULT_RESAMPLES, fn
    assert EvalConfig(benchmark="example", model="oracle").resamples == DEFAULT_RESAMPLES


@pytest.mark.parametrize("command", ["eval", "score", "compare", "ablate"])
def test_every_command_states_the_same_default(command: str):
    proc = run_pertool(command, "--help", check=True)
    help_text = " ".join(proc.stdout.split())
    assert "--resamples" in help_text and f"(default {DEFAULT_RESAMPLES}" in help_text


def test_eval_score_and_report_use_the_default(tmp_path: Path, env: dict[str, str]):
    from pertool.report.rundata import load_run

    run = tmp_path / "run"
    evaluated = run_pertool("eval", "--benchmark", "example", "--model", "oracle", "--no-progress", "--json",
                            "--out", run, env=env, check=True)  # fmt: skip
    assert json.loads((run / "config.json").read_text())["resamples"] == DEFAULT_RESAMPLES
    scored = run_pertool("score", "--predictions", run / "predictions.jsonl", "--json", env=env, check=True)
    from_eval, from_score = json.loads(evaluated.stdout), json.loads(scored.stdout)
    assert from_eval["intervals"] == from_score["intervals"] and from_score["intervals"]
    # A run directory from before config.json recorded resamples: the report uses the default too.
    config = json.loads((run / "config.json").read_text())
    del config["resamples"]
    (run / "config.json").write_text(json.dumps(config))
    assert load_run(run).report.intervals == {k: v for k, v in from_score["intervals"].items()}


# ---------------------------------------------------------------------------------------------
# 6. The ToolSpectrum table explains its columns
# ---------------------------------------------------------------------------------------------


def test_the_toolspectrum_terminal_table_has_a_legend(tmp_path: Path, env: dict[str, str]):
    from pertool.kinds import kind_named

    kind = kind_named("toolspectrum")
    TOOLSPECTRUM_LEGEND, TOOLSPECTRUM_TABLES, COUNT_TITLES = kind.legend, kind.metric_tables, kind.error_titles

    data = tiny_toolspectrum(tmp_path / "ts")
    proc = run_pertool("score", "--benchmark", "toolspectrum:persona", "--data-dir", data, "--predictions",
                       predictions_file(tmp_path / "p.jsonl"), env=env, check=True)  # fmt: skip
    legend = proc.stdout[proc.stdout.index("columns:"):]
    explained = " ".join(name for name, _ in TOOLSPECTRUM_LEGEND)
    for title in [t for table in TOOLSPECTRUM_TABLES for t in table.values()] + list(COUNT_TITLES.values()):
        # every column title is named in the legend (RP-param etc. through "RP/PP/OP-param")
        parts = title.replace("-param", "").replace("Refuse-", "").split("/")
        assert any(p in explained for p in parts), title
    for name, meaning in TOOLSPECTRUM_LEGEND:
        assert name in legend and meaning in legend


def test_the_html_report_explains_the_toolspectrum_columns(tmp_path: Path, env: dict[str, str]):
    from pertool.kinds import kind_named

    TOOLSPECTRUM_LEGEND = kind_named("toolspectrum").legend

    data = tiny_toolspectrum(tmp_path / "ts")
    run = tmp_path / "run"
    run_pertool("eval", "--benchmark", "toolspectrum:persona", "--data-dir", data, "--model", "oracle",
                "--no-progress", "--out", run, env=env, check=True)  # fmt: skip
    run_pertool("report", run, "--out", tmp_path / "r.html", env=env, check=True)
    page = (tmp_path / "r.html").read_text()
    assert '<dl class="legend">' in page
    from html import escape

    for name, meaning in TOOLSPECTRUM_LEGEND:
        assert f"<dt>{escape(name)}</dt><dd>{escape(meaning)}</dd>" in page
