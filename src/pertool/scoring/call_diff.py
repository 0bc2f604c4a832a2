"""The sample browser's diff of a PTBench-shaped answer (PTBench and ToolSpectrum): the platform,
then each gold call (matched or missing), then extra calls; per call each parameter as ok, wrong
(value not accepted), missing or extra. Calls pair up as the PTBench scorer pairs them
(`match_calls`) and values are judged by the same `accepts`, so the browser agrees with the score.

The structure (the browser's `diffTable` reads it): `{"platform": [predicted, gold, same],
"refusal": [predicted refused, gold refuses] (only when either refuses), "calls": [{"name",
"status": ok|diff|missing|extra|ignored, "params": [[name, status, predicted, accepted, source],
...], "predicted": the predicted name where it differs from "name" (optional)}, ...]}`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pertool.parsing.render import render_value
from pertool.schema import Call, GoldCall, Prediction, Sample
from pertool.scoring.ptbench import match_calls
from pertool.values import accepts, normalize_text

__all__ = ["accepted_text", "browser_calls_text", "browser_gold_text", "fmt_value", "ptbench_diff"]


def fmt_value(value: Any) -> str:
    """A value as a Python literal where possible (never raises)."""
    try:
        return render_value(value)
    except (ValueError, RecursionError):
        try:
            return json.dumps(value, ensure_ascii=False, default=str)
        except (ValueError, RecursionError):
            return repr(value)


def accepted_text(values: Sequence[Any]) -> str:
    """A gold argument's accepted values, `|`-separated."""
    return " | ".join(fmt_value(v) for v in values) if values else "(any)"


def browser_calls_text(platform: str | None, calls: Sequence[Call]) -> str:
    """A PTBench-shaped parse as the sample browser shows it: `platform:[name(k=v), ...]`."""
    body = ", ".join(f"{c.name}({', '.join(f'{k}={fmt_value(v)}' for k, v in c.arguments.items())})"
                     for c in calls)  # fmt: skip
    return f"{platform if platform is not None else '?'}:[{body}]"


def browser_gold_text(sample: Sample) -> str:
    """A PTBench-shaped gold as the sample browser shows it, with every accepted value."""
    if sample.gold_platform is None:
        return "refusal (APP: null)"
    body = ", ".join(f"{g.name}({', '.join(f'{k}={accepted_text(v)}' for k, v in g.arguments.items())})"
                     for g in sample.gold_calls)  # fmt: skip
    return f"{sample.gold_platform}:[{body}]"


def _same_platform(predicted: str | None, gold: str | None) -> bool:
    if predicted is None or gold is None:
        return predicted is gold
    return normalize_text(predicted) == normalize_text(gold)


def ptbench_diff(sample: Sample, prediction: Prediction) -> dict[str, Any]:
    """Parsed vs gold under the PTBench-shaped rules (see the module docstring)."""
    out: dict[str, Any] = {"platform": [prediction.platform, sample.gold_platform,
                                        _same_platform(prediction.platform, sample.gold_platform)]}
    if prediction.refusal or sample.gold_platform is None:
        out["refusal"] = [prediction.refusal, sample.gold_platform is None]
        if prediction.refusal or not prediction.calls:
            out["calls"] = [_gold_only(g, "missing") for g in sample.gold_calls]
            return out
    pairs, missing, extra = match_calls(sample.gold_calls, prediction.calls)
    paired = {id(g): c for g, c in pairs}
    unmatched = {id(g) for g in missing}
    calls = []
    for gold in sample.gold_calls:
        if id(gold) in unmatched:
            calls.append(_gold_only(gold, "missing"))
        elif id(gold) in paired:
            calls.append(_pair(gold, paired[id(gold)]))
    for call in extra:
        calls.append({"name": call.name, "status": "extra",
                      "params": [[k, "extra", fmt_value(v), "", ""] for k, v in call.arguments.items()]})
    out["calls"] = calls
    return out


def _gold_only(gold: GoldCall, status: str) -> dict[str, Any]:
    params = [[k, "missing", "", accepted_text(v), gold.sources.get(k, "")]
              for k, v in gold.arguments.items()]  # fmt: skip
    return {"name": gold.name, "status": status, "params": params}


def _pair(gold: GoldCall, call: Call) -> dict[str, Any]:
    params = []
    for name, accepted in gold.arguments.items():
        source = gold.sources.get(name, "")
        if name not in call.arguments:
            params.append([name, "missing", "", accepted_text(accepted), source])
        else:
            value = call.arguments[name]
            status = "ok" if accepts(accepted, value) else "wrong"
            params.append([name, status, fmt_value(value), accepted_text(accepted), source])
    for name, value in call.arguments.items():
        if name not in gold.arguments:
            params.append([name, "extra", fmt_value(value), "", ""])
    status = "ok" if all(p[1] == "ok" for p in params) else "diff"
    return {"name": call.name, "status": status, "params": params}
