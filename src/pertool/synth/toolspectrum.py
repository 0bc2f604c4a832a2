"""ToolSpectrum mode (`environment: true`): the facts a sample rests on, the policies they trip,
and the persona in ToolSpectrum's shape. Pure functions, shared by the environment/policy
generation (stages/environment.py), the ToolSpectrum-mode samples (stages/ts_samples.py) and
the writer (toolspectrum_writer.py).

A fact is one profile feature (found by its words: "age", "Income Level" and "income_level" are
one) or one environment factor. A policy forbids its APIs on its platforms when the sample's
fact has one of the policy's `forbidden` values (compared as normalized text, so 16 == "16"),
or a number in its `threshold` (age < 18: "16", 16 and "16 years" are forbidden).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pertool.synth.records import ApiRecord, EnvironmentRecord, PolicyRecord, Threshold, UserRecord
from pertool.values import normalize_text

__all__ = [
    "FACTORS", "SUBSETS", "PROHIBITIVE", "fact_value", "forbids", "tripped", "refusal_problems", "persona_of",
    "source_of", "quotes", "triggered_rules", "environmental_values", "personalized_values", "key_words",
    "persona_key", "same", "number_of", "threshold_of", "names_app", "states_fact",
]  # fmt: skip

# The factors every generated environment must have (ToolSpectrum's field names).
FACTORS = ("Weather", "Time of Day", "Location", "Date", "Network Condition", "Device Type", "Battery Level")
SUBSETS = ("persona", "environment", "persona_environment")
# Words that make a rule a prohibition (a perk or a reminder is not one).
PROHIBITIVE = re.compile(
    r"\b(not allowed|not permitted|may not|must not|cannot|can not|can't|prohibited|forbidden|"
    r"banned|blocked|refused|denied|disabled|unavailable|no one|not available|are barred)\b",
    re.IGNORECASE,
)
# Persona keys in ToolSpectrum's spelling, by the words of a profile feature's name.
_PERSONA_KEYS = (({"gender", "sex"}, "Gender"), ({"age"}, "Age"),
                 ({"occupation", "profession", "job"}, "Profession"),
                 ({"income"}, "Income Level"), ({"education"}, "Education Background"),
                 ({"height"}, "Height (cm)"), ({"weight"}, "Weight (kg)"))  # fmt: skip


def key_words(name: str) -> tuple[str, ...]:
    """The lower-case words of a feature or factor name ("Income Level", "income_level")."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return tuple(w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w)


def fact_value(fact: str, data: Mapping[str, Any] | None) -> tuple[bool, Any]:
    """(found, value) of a fact in a profile's explicit features or an environment."""
    if not data:
        return False, None
    wanted = key_words(fact)
    for name, value in data.items():
        if key_words(str(name)) == wanted and value is not None and str(value).strip():
            return True, value
    return False, None


def same(a: Any, b: Any) -> bool:
    """Two values alike as normalized text (16 == "16", "Low" == "low")."""
    return normalize_text(str(a)) == normalize_text(str(b))



_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
# A bound stated in words, as a model writes `forbidden` ("under 18", "65 or older", "60+").
_BELOW = re.compile(r"^(?:under|below|less than|younger than|fewer than)\s+(\d+(?:\.\d+)?)$")
_ABOVE = re.compile(r"^(?:over|above|more than|older than)\s+(\d+(?:\.\d+)?)$")
_AT_MOST = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:or|and)\s+(?:under|below|younger|less|fewer)$")
_AT_LEAST = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:\+|(?:or|and)\s+(?:over|above|older|more))$")


def number_of(value: Any) -> float | None:
    """The number a fact's value states (16, "16", "16 years old"); None where it states none."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    match = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)(?:\s+[a-z]+){0,2}\s*", str(value).lower())
    return float(match.group(1)) if match else None


def threshold_of(text: Any) -> Threshold | None:
    """A bound a `forbidden` entry states in words ("under 18" -> < 18); None where it states none."""
    low = " ".join(str(text).lower().replace("years old", "").replace("years", "").split())
    for pattern, op in ((_BELOW, "<"), (_ABOVE, ">"), (_AT_MOST, "<="), (_AT_LEAST, ">=")):
        match = pattern.fullmatch(low)
        if match:
            return Threshold.model_validate({"op": op, "value": float(match.group(1))})
    return None


def forbids(policy: PolicyRecord, value: Any) -> bool:
    if any(same(value, f) for f in policy.forbidden):
        return True
    number = number_of(value) if policy.threshold is not None else None
    return number is not None and policy.threshold is not None and bool(
        _OPS[policy.threshold.op](number, policy.threshold.value))  # fmt: skip


def source_of(spec: Mapping[str, Any]) -> tuple[str, str]:
    """A parameter's declared source: ("query" | "profile" | "environment", feature or factor)."""
    source = str(spec.get("x-source", "query"))
    kind, _, name = source.partition(":")
    return (kind, name) if kind in ("profile", "environment") and name else ("query", "")


Facts = Mapping[str, Any] | None  # a profile's explicit features or a situation (None: not shown)


def tripped(policies: Iterable[PolicyRecord], scenario: str, platform: str, api: str, explicit: Facts,
            environment: Facts) -> list[PolicyRecord]:  # fmt: skip
    """The policies a call of `api` on `platform` breaks, given the sample's persona and situation."""
    out = []
    for policy in policies:
        if policy.scenario != scenario or platform not in policy.platforms or api not in policy.apis:
            continue
        found, value = fact_value(policy.fact, explicit if policy.source == "profile" else environment)
        if found and forbids(policy, value):
            out.append(policy)
    return out


def refusal_problems(policy: PolicyRecord, platforms: Sequence[str], api: str,
                     policies: Iterable[PolicyRecord], explicit: Facts,
                     environment: Facts) -> list[str]:  # fmt: skip
    """Why a refusal resting on `policy` is not grounded (rule names; empty: it is):
    fact_missing (the sample has no such fact), fact_allowed (its value is not forbidden),
    other_app_serves (a platform of the scenario offering the API enforces no policy forbidding it)."""
    found, value = fact_value(policy.fact, explicit if policy.source == "profile" else environment)
    if not found:
        return ["fact_missing"]
    if not forbids(policy, value):
        return ["fact_allowed"]
    policies = list(policies)
    blocked = [p for p in platforms if tripped(policies, policy.scenario, p, api, explicit, environment)]
    return [] if len(blocked) == len(platforms) else ["other_app_serves"]


def quotes(query: str, rule: str, run: int = 5) -> bool:
    """The query quotes the rule: it holds `run` consecutive words of it (or all of a shorter one)."""
    mine = " ".join(re.findall(r"[a-z0-9]+", query.lower()))
    theirs = re.findall(r"[a-z0-9]+", rule.lower())
    n = min(run, len(theirs))
    return n > 0 and any(
        f" {' '.join(theirs[i : i + n])} " in f" {mine} " for i in range(len(theirs) - n + 1)
    )


def _phrase_in(phrase: str, text: str) -> bool:
    words = " ".join(re.findall(r"[a-z0-9]+", phrase.lower()))
    return bool(words) and f" {words} " in f" {' '.join(re.findall(r'[a-z0-9]+', text.lower()))} "


def names_app(query: str, platforms: Iterable[str]) -> list[str]:
    """The platforms the query names, as written or as words ("ShoppingHub", "shopping hub")."""
    spaced = {p: re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", p) for p in platforms}
    return [p for p, words in spaced.items() if _phrase_in(p, query) or _phrase_in(words, query)]


_GENERIC = {"level", "type", "status", "condition", "of", "the"}  # words too common to point at a fact


def states_fact(query: str, fact: str, value: Any, profile: bool, stated: Iterable[Any] = ()) -> bool:
    """Whether the query states that the fact has this value: a situation's value as a phrase
    ("snowstorm"); a profile's number as a number ("I'm 16"), its other values only next to the
    fact's words ("my income is low"); not where the user states it as a value of the request."""
    text = str(value).strip()
    if not text or any(same(text, s) for s in stated) or not _phrase_in(text, query):
        return False
    if not profile or number_of(text) is not None:
        return True
    return all(_phrase_in(w, query) for w in key_words(fact) if w not in _GENERIC) and any(
        w not in _GENERIC for w in key_words(fact))  # fmt: skip


def triggered_rules(environment: EnvironmentRecord | None, situation: Mapping[str, Any] | None,
                    platforms: Sequence[str]) -> list[str]:  # fmt: skip
    """The platforms the situation's platform rules name (a rule naming an unknown platform is ignored)."""
    if environment is None or not situation:
        return []
    out = []
    for rule in environment.platform_rules:
        if rule.get("platform") in platforms and same(
            situation.get(rule.get("factor", ""), ""), rule.get("value")
        ):
            if rule["platform"] not in out:
                out.append(rule["platform"])
    return out


def environmental_values(api: ApiRecord, situation: Mapping[str, Any] | None) -> dict[str, Any]:
    """The environmental parameters of an API the situation sets, with the values its `x-values` give."""
    out: dict[str, Any] = {}
    for param, spec in (api.function.get("parameters") or {}).get("properties", {}).items():
        kind, factor = source_of(spec)
        if kind != "environment" or not situation or factor not in situation:
            continue
        values = spec.get("x-values") or {}
        hit = next((v for k, v in values.items() if same(k, situation[factor])), None)
        if hit is not None:
            out[param] = hit
    return out


def personalized_values(api: ApiRecord, explicit: Mapping[str, Any]) -> dict[str, Any]:
    """The profile-sourced parameters of an API the profile supplies (inside the enum, if any)."""
    out: dict[str, Any] = {}
    for param, spec in (api.function.get("parameters") or {}).get("properties", {}).items():
        kind, feature = source_of(spec)
        if kind != "profile":
            continue
        found, value = fact_value(feature, explicit)
        if found and (not isinstance(spec.get("enum"), list) or value in spec["enum"]):
            out[param] = value
    return out


def _number(value: Any) -> Any:
    text = str(value).strip()
    return int(text) if re.fullmatch(r"\d{1,3}", text) else value


def persona_key(name: str) -> str:
    """The key a profile feature has in a ToolSpectrum persona ("occupation" -> "Profession")."""
    words = set(key_words(name))
    key = next((k for hints, k in _PERSONA_KEYS if words & hints and len(words) <= 2), None)
    return key or " ".join(w.capitalize() for w in key_words(name))


def persona_of(user: UserRecord, scenarios: Mapping[str, Mapping[str, str]] | None = None,
               apps: bool = True) -> dict[str, Any]:  # fmt: skip
    """The user as a ToolSpectrum persona: demographics under ToolSpectrum's keys (Gender, Age,
    Profession, Income Level, ...), the other explicit features title-cased, and "Preferences":
    free-text sentences of the implicit features and the conditional app preferences. A
    preference names the app by a characteristic only it has, where `scenarios` gives one
    ({scenario: {platform: "<characteristic> is <value>"}}), else by name. Without `apps`, no
    app preference (the user agent's view: it must not name an app, so it is not told one)."""
    persona: dict[str, Any] = {}
    for name, value in user.explicit.items():
        key = persona_key(name)
        persona.setdefault(key, _number(value) if key in ("Age", "Height (cm)", "Weight (kg)") else value)
    sentences = []
    for scenario, prefs in sorted(user.implicit.items()):
        if isinstance(prefs, dict):
            traits = "; ".join(f"{k}: {v}" for k, v in sorted(prefs.items()) if k != "preferred_platform")
            if traits:
                sentences.append(f"In {scenario}: {traits}.")
    for scenario, by_condition in sorted(user.preferences.items() if apps else ()):
        described = (scenarios or {}).get(scenario, {})
        for condition, platform in sorted(by_condition.items()):
            app = f"the app whose {described[platform]}" if platform in described else platform
            what = f"for {condition}" if condition else "otherwise"
            sentences.append(f"In {scenario}, {what}, usually uses {app}.")
    persona["Preferences"] = sentences
    return persona
