"""What the answers_records and exit_codes classes share: a tiny PTBench-format benchmark and
an eval against the stub server (no test module imported)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hostile import pertool

__all__ = ["GOLD", "bench", "evaluate", "raw_answer", "records"]

GOLD = "MegaMart:[placeOrder(productName='paper', quantity=2, address='1 Elm St')]"


def _record(platform: str, query: str) -> dict[str, Any]:
    args = {"productName": ["paper"], "quantity": [2], "address": ["1 Elm St"]}
    return {
        "user_profile": {"basic_features": {"username": "ann", "home_location": "1 Elm St"},
                         "user_history": {"shopping": [{"platform": platform, "action": "bought pens"}]}},
        "platforms": [{"name": platform, "profile": {"price": "mid"}}, {"name": "Other", "profile": {}}],
        "tools": [{"type": "function", "function": {
            "name": "placeOrder", "description": "order",
            "parameters": {"type": "object", "properties": {p: {"type": "string"} for p in args},
                           "required": list(args)}}}],
        "query": query, "answer": [platform, [{"placeOrder": args}]],
        "query_params": ["productName", "quantity"], "profile_params": ["address"],
    }  # fmt: skip


def bench(work: Path, n: int = 2) -> Path:
    """n trained and n untrained samples (distinct queries) under work/bench."""
    root = work / "bench"
    for split, platform, query in (("test_trained_user", "MegaMart", "Order {} packs of paper."),
                                   ("test_untrained_user", "Other", "Buy {} pens.")):  # fmt: skip
        (root / split).mkdir(parents=True, exist_ok=True)
        data = [_record(platform, query.format(i)) for i in range(n)]
        (root / split / "data.json").write_text(json.dumps(data), encoding="utf-8")
    return root


def evaluate(work: Path, url: str, out: Path, *extra: str, timeout: float = 60) -> Any:
    return pertool("eval", "--benchmark", f"ptbench:{work / 'bench'}", "--model", "openai-compatible/m",
                   "--base-url", url, "--out", out, "--no-progress", "--max-attempts", "1",
                   "--backoff-cap", "0", *extra, timeout=timeout)  # fmt: skip


def raw_answer(content_json: str) -> Any:
    """A 200 answer whose content is written exactly as given (JSON escapes included)."""
    from pertool.testing.openai_stub import Reply

    body = ('{"choices":[{"message":{"role":"assistant","content":' + content_json + '}}],'
            '"usage":{"prompt_tokens":3,"completion_tokens":2}}')  # fmt: skip
    return Reply(raw=body.encode())


def records(file: Path) -> list[dict[str, Any]]:
    """A JSONL file's records, split on "\\n" only."""
    return [json.loads(line) for line in file.read_text(encoding="utf-8").split("\n") if line.strip()]


def pertool_here(*args: str | Path) -> Any:
    """`pertool ARGS` in this process (no interpreter start: for the many quick refusals), as a
    CompletedProcess with its exit code and captured output."""
    import contextlib
    import io
    import subprocess

    from pertool.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
        except Exception:  # noqa: BLE001 - a traceback is what the case reports
            import traceback

            traceback.print_exc()
            code = 1
    return subprocess.CompletedProcess(list(map(str, args)), code, out.getvalue(), err.getvalue())
