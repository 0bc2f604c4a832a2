"""Rule-based verification, applied before a sample is emitted (PTool's first tier).

Each rule returns None when the sample passes, else a short reason. A sample failing any rule
is never emitted; the generator counts rejections per rule and reports them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pertool.schema import Sample

__all__ = ["RULES", "first_failure"]

_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "number": (int, float),
                                       "boolean": (bool,)}  # fmt: skip


def _tools(sample: Sample) -> dict[str, dict[str, Any]]:
    return {t.function.name: t.function.parameters for t in sample.tools}


def calls_exist_and_typecheck(sample: Sample) -> str | None:
    tools = _tools(sample)
    for call in sample.gold_calls:
        if call.name not in tools:
            return f"unknown function {call.name}"
        properties = tools[call.name].get("properties", {})
        for param, accepted in call.arguments.items():
            spec = properties.get(param)
            if spec is None:
                return f"{call.name}.{param} is not a parameter"
            for value in accepted:
                types = _TYPES.get(spec.get("type", ""), ())
                if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
                    return f"{call.name}.{param}: {value!r} is not of type {spec.get('type')}"
                if "enum" in spec and value not in spec["enum"]:
                    return f"{call.name}.{param}: {value!r} is not in the enum"
    return None


def required_present(sample: Sample) -> str | None:
    tools = _tools(sample)
    for call in sample.gold_calls:
        missing = set(tools[call.name].get("required", [])) - set(call.arguments)
        if missing:
            return f"{call.name} lacks required {sorted(missing)}"
    return None


def profile_values_from_profile(sample: Sample) -> str | None:
    """Profile-sourced values are profile values and do not occur in the query, not even as a
    substring (the strict reading, the one an independent checker would apply)."""
    profile_values = {str(v).casefold() for v in sample.profile.basic_features.values()}
    query = sample.query.casefold()
    for call in sample.gold_calls:
        for param, source in call.sources.items():
            if source != "profile":
                continue
            value = str(call.arguments[param][0]).casefold()
            if value not in profile_values:
                return f"{call.name}.{param} is not a profile value"
            if value in query:
                return f"{call.name}.{param} is stated in the query"
    return None


def query_values_in_query(sample: Sample) -> str | None:
    query = sample.query.casefold()
    for call in sample.gold_calls:
        for param, source in call.sources.items():
            if source == "query" and str(call.arguments[param][0]).casefold() not in query:
                return f"{call.name}.{param} does not occur in the query"
    return None


def platform_has_evidence(sample: Sample) -> str | None:
    """A need stated in the query, or a history record of the query's category on the gold
    platform (the history mentions items of each category)."""
    context = sample.extra.get("builtin", {})
    if context.get("need") is not None:
        return None
    history = sample.profile.user_history
    records = history.get(context.get("scenario", ""), []) if isinstance(history, dict) else history
    if not sample.gold_platform or not any(r.platform == sample.gold_platform for r in records):
        return "no history record on the gold platform"
    return None


RULES: dict[str, Callable[[Sample], str | None]] = {
    "calls_exist_and_typecheck": calls_exist_and_typecheck,
    "required_present": required_present,
    "profile_values_from_profile": profile_values_from_profile,
    "query_values_in_query": query_values_in_query,
    "platform_has_evidence": platform_has_evidence,
}


def first_failure(sample: Sample) -> str | None:
    """The name of the first rule the sample fails, or None. The sample's context (scenario,
    category, stated need) is in `sample.extra["builtin"]`."""
    for name, rule in RULES.items():
        if rule(sample) is not None:
            return name
    return None
