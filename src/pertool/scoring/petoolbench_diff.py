"""The sample browser's diff of a PEToolBench answer, judged by the scorer's own rules: under
pertool's, the tool through `resolve_tool` (a case-folded name is the gold tool) and each
parameter through `values_match` (`""` and null ignored); under `--compat petoolbench-public`,
the exact name and Python `==`. One row for the scored (first) call, which pairs with the gold
whatever the tool (parameters are scored whatever the tool); further calls are shown as ignored,
as the scorer ignores them. The structure is `pertool.scoring.call_diff`'s."""

from __future__ import annotations

from typing import Any

from pertool.parsing.petoolbench import tool_parts
from pertool.schema import Prediction, Sample
from pertool.scoring.call_diff import fmt_value
from pertool.scoring.petoolbench import resolve_tool, values_match

__all__ = ["petoolbench_diff"]


def petoolbench_diff(sample: Sample, prediction: Prediction, *, public: bool) -> dict[str, Any]:
    gold = sample.gold_calls[0]
    want = {k: v[0] for k, v in gold.arguments.items()}
    if not prediction.calls:
        missing = [[k, "missing", "", fmt_value(v), ""] for k, v in want.items()]
        return {"platform": [prediction.platform, sample.gold_platform, False],
                "calls": [{"name": gold.name, "status": "missing", "params": missing}]}  # fmt: skip
    call = prediction.calls[0]
    if public:
        resolved: str | None = call.name
        params = _public_params(call.arguments, want)
    else:
        resolved = resolve_tool(call.name, [t.name for t in sample.tools])
        params = _params(call.arguments, want)
    tool_ok = resolved == gold.name
    provider = _provider(resolved) if resolved is not None else None
    ok = tool_ok and all(p[1] in ("ok", "ignored") for p in params)
    row: dict[str, Any] = {"name": gold.name, "status": "ok" if ok else "diff", "params": params}
    if call.name != gold.name:
        row["predicted"] = call.name
    ignored = [{"name": c.name, "status": "ignored",
                "params": [[k, "ignored", fmt_value(v), "", ""] for k, v in c.arguments.items()]}
               for c in prediction.calls[1:]]  # fmt: skip
    shown = prediction.platform if prediction.platform is not None else _provider(call.name)
    same = provider is not None and provider == sample.gold_platform
    return {"platform": [shown, sample.gold_platform, same], "calls": [row, *ignored]}


def _provider(name: str) -> str | None:
    parts = tool_parts(name)
    return parts[1] if len(parts) == 3 else None


def _blank(value: Any) -> bool:
    return value is None or value == ""


def _params(given: dict[str, Any], want: dict[str, Any]) -> list[list[str]]:
    """pertool's rules (`params_match`): a key blank on a side counts as absent there."""
    rows = []
    for name, gold in want.items():
        value = given.get(name)
        if _blank(gold):
            status = "ignored" if _blank(value) else "extra"
        elif name not in given or _blank(value):
            status = "missing"
        else:
            status = "ok" if values_match(value, gold) else "wrong"
        rows.append([name, status, "" if name not in given else fmt_value(value), fmt_value(gold), ""])
    for name, value in given.items():
        if name not in want:
            rows.append([name, "ignored" if _blank(value) else "extra", fmt_value(value), "", ""])
    return rows


def _public_params(given: dict[str, Any], want: dict[str, Any]) -> list[list[str]]:
    """The public script's rules: the same keys, each value equal under Python `==`."""
    rows = []
    for name, gold in want.items():
        if name not in given:
            rows.append([name, "missing", "", fmt_value(gold), ""])
        else:
            status = "ok" if bool(given[name] == gold) else "wrong"
            rows.append([name, status, fmt_value(given[name]), fmt_value(gold), ""])
    rows += [[name, "extra", fmt_value(v), "", ""] for name, v in given.items() if name not in want]
    return rows
