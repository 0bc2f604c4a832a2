"""The `pertool` command, run as a real subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from factory import record, write_split_dir
from support.cli import run_pertool

COMMANDS = [[], ["score"], ["data"], ["data", "download"], ["prompt"]]


def run(*args, env=None, check=False):
    proc = run_pertool(*args, env=env, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "root")
def test_help_on_every_command(command):
    proc = run(*command, "--help", check=True)
    assert "usage: pertool" in proc.stdout


def test_help_does_not_import_heavy_modules():
    code = ("import sys; from pertool.cli.main import build_parser; build_parser();"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'pydantic', 'numpy', 'torch', 'transformers'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_score_default_prints_the_table():
    out = run("score", check=True).stdout
    lines = out.splitlines()
    header = lines[1].split()
    assert header[:3] == ["split", "(n)", "Format"]
    assert header[3:] == ["Platform", "Query", "Profile", "T-name", "T-param", "T-value", "Overall"]
    assert any(line.startswith("overall (8)") for line in lines)
    assert "95% CI" in out and "T-wrong" in out


def test_score_json_shape(tmp_path):
    root = write_split_dir(tmp_path / "bench", [record(), record()], [record()])
    preds = tmp_path / "p.jsonl"
    good = "MegaMart:[placeOrder(productName='paper', quantity=2, address='1 Elm St')]"
    preds.write_text("\n".join(json.dumps(r) for r in [
        {"id": "trained:0", "output": good},
        {"id": "untrained:0", "output": "MegaMart:[placeOrder(productName='pen', quantity=2)]"},
        {"id": "ghost:1", "output": good},
    ]) + "\n")
    proc = run("score", "--benchmark", f"ptbench:{root}", "--predictions", str(preds), "--json", check=True)
    data = json.loads(proc.stdout)
    assert set(data["splits"]) == {"trained", "untrained", "overall"}
    assert set(data["splits"]["overall"]) == {"format", "platform", "query_param", "profile_param",
                                              "tool_name", "tool_param", "tool_value", "overall"}
    assert set(data["errors"]["trained"]) >= {"tool_wrong", "tool_missing", "tool_excessive",
                                             "param_missing", "param_excessive", "param_value", "platform"}
    assert data["splits"]["trained"]["overall"] == 0.5
    assert data["splits"]["untrained"]["query_param"] == 0.5
    assert data["errors"]["untrained"]["param_missing"] == 1
    assert data["splits"]["overall"]["overall"] == pytest.approx(1 / 3)
    lo, hi = data["intervals"]["overall"]["overall"]
    assert 0 <= lo <= 1 / 3 <= hi <= 1
    assert data["missing_predictions"] == ["trained:1"]
    assert data["unknown_predictions"] == ["ghost:1"]
    assert "trained:1" in proc.stderr and "ghost:1" in proc.stderr

    compat = json.loads(run("score", "--benchmark", f"ptbench:{root}", "--predictions", str(preds),
                            "--json", "--compat", "ptbench-official", check=True).stdout)
    assert compat["mode"] == "ptbench-official"
    assert compat["errors"]["untrained"]["param_excessive"] == 1  # the public label


@pytest.mark.parametrize(("content", "message"), [
    ('{"id": "trained:0", "output": "x"}\nnot json\n', "line 2"),
    ('{"output": "x"}\n', "line 1"),
    ('{"id": "trained:0"}\n', "output"),
    ('{"id": "trained:0", "output": 5}\n', "must be a string"),
])
def test_bad_predictions_file(tmp_path, content, message):
    preds = tmp_path / "p.jsonl"
    preds.write_text(content)
    proc = run("score", "--benchmark", "example", "--predictions", str(preds))
    assert proc.returncode == 2
    assert str(preds) in proc.stderr and message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_benchmark_and_missing_predictions():
    proc = run("score", "--benchmark", "ptbench:/nonexistent/dir", "--predictions", "/dev/null")
    assert proc.returncode == 2 and "no such file" in proc.stderr
    proc = run("score", "--benchmark", "ptbench:/x")
    assert proc.returncode == 2 and "--predictions FILE is required" in proc.stderr


def test_download_command_over_loopback(tmp_path, serve_dir):
    root = write_split_dir(tmp_path / "mirror", [record()] * 474, [record()] * 609)
    env = {**os.environ, "PERTOOL_DATA_DIR": str(tmp_path / "data")}
    # Right counts, wrong bytes: only the pinned commit's files are accepted (git blob ids);
    # acceptance itself is tested in test_download.py with a test's own ids.
    proc = run("data", "download", "ptbench", "--from", serve_dir(root), env=env)
    assert proc.returncode == 2 and "does not match the pinned commit's" in proc.stderr
    assert not Path(tmp_path / "data").exists()
    offline = run("data", "download", "ptbench", "--from", "http://127.0.0.1:9/", env=env)
    assert offline.returncode == 2 and "cannot reach" in offline.stderr


def test_prompt_command():
    out = run("prompt", "--id", "trained:0", check=True).stdout
    messages = json.loads(out)
    assert [m["role"] for m in messages] == ["system", "user"]
    raw = run("prompt", "--id", "trained:0", "--chat-format", "llama3", check=True).stdout
    assert raw.startswith("<|start_header_id|>system")
    assert run("prompt", "--id", "nope:1").returncode == 2


def test_predictions_not_utf8(tmp_path):
    preds = tmp_path / "p.jsonl"
    preds.write_bytes(b'{"id": "trained:0", "output": "x"}\n{"id": "trained:1", "output": "\xff"}\n')
    proc = run("score", "--predictions", str(preds))
    assert proc.returncode == 2 and "line 2" in proc.stderr and "UTF-8" in proc.stderr


def test_duplicate_ids_keep_the_last_and_are_reported(tmp_path):
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"id": "trained:0", "output": "x"}\n{"id": "trained:0", "output": null}\n')
    proc = run("score", "--predictions", str(preds), "--json", check=True)
    assert json.loads(proc.stdout)["duplicate_predictions"] == ["trained:0"]
    assert "more than once" in proc.stderr
