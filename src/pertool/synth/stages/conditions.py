"""Conditional preferences (paper Definition 3.1) and declared parameter sources, shared by the
back stages (histories, queries, solutions, verify, dataset) and `pertool synth stats`.

A scenario's conditions are its API categories (`ApiRecord.category`); a user prefers one
platform per scenario and condition (`UserRecord.preferences`, "" the default). Where a
parameter's value comes from is declared on the API parameter (`x-source`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from pertool.synth.records import ApiRecord, UserRecord

__all__ = ["LEGACY_PREFERRED", "conditions_of", "declared_source", "majority_platform", "preferred_for"]

LEGACY_PREFERRED = "preferred_platform"  # the one preference per scenario of pipelines before issue 14


def conditions_of(apis: Iterable[ApiRecord]) -> list[str]:
    """The distinct categories of a scenario's APIs, sorted."""
    return sorted({api.category for api in apis})


def preferred_for(user: UserRecord, scenario: str, condition: str) -> str | None:
    """The platform the user prefers in the scenario under the condition: its own entry, else the
    scenario's default (""), else a single implicit `preferred_platform`; None if none is known."""
    prefs = user.preferences.get(scenario, {})
    found = prefs.get(condition) or prefs.get("")
    if found:
        return found
    legacy = (user.implicit.get(scenario) or {}).get(LEGACY_PREFERRED) if isinstance(
        user.implicit.get(scenario), dict) else None  # fmt: skip
    return str(legacy) if legacy else None


def declared_source(spec: dict[str, Any]) -> tuple[str, str] | None:
    """(kind, name) of a parameter's `x-source`: ("query", ""), ("profile", feature) or
    ("environmental", factor); None where the spec declares none (hand-written APIs)."""
    source = str(spec.get("x-source") or "").strip() if isinstance(spec, dict) else ""
    if source == "query":
        return "query", ""
    kind, _, name = source.partition(":")
    if kind == "profile" and name.strip():
        return "profile", name.strip()
    if kind == "environment" and name.strip():
        return "environmental", name.strip()
    return None


def majority_platform(platforms: Sequence[str]) -> str | None:
    """The platform used most often (ties: the first to reach the count), or None: the counting
    rule the issue measures the data against."""
    counts = Counter(platforms)
    if not counts:
        return None
    top = max(counts.values())
    return next(p for p in platforms if counts[p] == top)
