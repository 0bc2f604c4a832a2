"""`baseline/history` for PEToolBench: the provider this user's history favours, among the
candidates that do what the query asks, found from the query and the prompt alone.

It reads only what the model is shown (the query, the candidate list, the interaction history
inside the setting's instruction), never the answer-revealing metadata (`func`,
`apis_same_func`, `tool_comb`). Steps:

1. The function: the candidate API whose name and description share most words with the query;
   when the history holds the same instruction, that item's API (and its arguments) instead.
2. Its group: every candidate with the same API name (trimmed, case-folded) under any provider.
3. The provider: by the history's evidence, per setting: `preferred` counts each provider's
   calls; `ratings` counts rated-1 calls and sets a rated-0 provider last; `chronological`
   sets the first call's provider last (the prompt says later calls are preferred; the
   published histories put the non-preferred calls first) and prefers the provider seen latest.
   Ties: candidate order.
4. Arguments: those of the same instruction in the history, else each required parameter's
   published default (numbers for NUMBER parameters).
"""

from __future__ import annotations

import json
from typing import Any

from pertool.learners import words
from pertool.parsing.petoolbench import name_key, tool_parts
from pertool.schema import Call, Sample, Tool

__all__ = ["history_answer", "interaction_history"]

_MARKER = "Interaction history is:"


def interaction_history(sample: Sample) -> list[dict[str, Any]]:
    """The history items shown in the sample's instruction (`[]` when there is none or it does
    not decode: the no-history view, a hand-made file)."""
    text = sample.extra.get("instruction")
    if not isinstance(text, str) or _MARKER not in text:
        return []
    start = text.find("[", text.index(_MARKER))
    if start < 0:
        return []
    try:
        items, _ = json.JSONDecoder().raw_decode(text, start)
    except (ValueError, RecursionError):
        return []
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _call_of(item: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    call = item.get("tool_call")
    if isinstance(call, dict) and isinstance(call.get("tool_name"), str):
        params = call.get("parameters")
        return call["tool_name"], params if isinstance(params, dict) else {}
    return None


def _api(name: str) -> str:
    return name_key(name)[-1]


def _provider(name: str) -> str:
    key = name_key(name)
    return key[1] if len(key) == 3 else key[0]


def _provider_scores(sample: Sample, history: list[dict[str, Any]]) -> dict[str, float]:
    scores: dict[str, float] = {}
    for position, item in enumerate(history):
        found = _call_of(item)
        if found is None:
            continue
        provider = _provider(found[0])
        if sample.split == "ratings" and item.get("rating") == 0:
            scores[provider] = scores.get(provider, 0.0) - 1000.0  # the user was not satisfied
        elif sample.split == "chronological":  # the non-preferred calls come first
            scores[provider] = -1000.0 if position == 0 or scores.get(provider, 0.0) < 0 else position + 1.0
        else:
            scores[provider] = scores.get(provider, 0.0) + 1.0
    return scores


def _default_arguments(tool: Tool) -> dict[str, Any]:
    schema = tool.function.parameters
    out: dict[str, Any] = {}
    for name in schema.get("required", []):
        spec = schema.get("properties", {}).get(name, {})
        value = spec.get("default") if isinstance(spec, dict) else None
        if value in (None, ""):
            continue
        if spec.get("type") == "number" and isinstance(value, str):
            try:
                number = float(value)
                value = int(number) if number.is_integer() else number
            except ValueError:
                pass
        out[name] = value
    return out


def history_answer(sample: Sample) -> tuple[str | None, list[Call]]:
    if not sample.tools:
        return None, [Call(name="none")]
    history = interaction_history(sample)
    same = [found for item in history
            if item.get("instruction") == sample.query and (found := _call_of(item))]
    query_words = words(sample.query)
    if same:
        api, arguments = _api(same[-1][0]), dict(same[-1][1])
    else:
        def overlap(tool: Tool) -> int:
            return len(query_words & words(f"{_api(tool.name)} {tool.function.description}"))

        best = max(sample.tools, key=overlap)  # the first on ties: candidate order
        api, arguments = _api(best.name), None
    group = [t for t in sample.tools if _api(t.name) == api] or list(sample.tools)
    scores = _provider_scores(sample, history)
    chosen = max(group, key=lambda t: scores.get(_provider(t.name), 0.0))
    if arguments is None:
        arguments = _default_arguments(chosen)
    parts = tool_parts(chosen.name)
    return (parts[1] if len(parts) == 3 else chosen.name), [Call(name=chosen.name, arguments=arguments)]
