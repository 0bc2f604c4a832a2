"""ToolSpectrum mode (`environment: true`): the facts a sample rests on, the policies they trip,
and the persona in ToolSpectrum's shape. Pure functions, shared by the environment/policy
generation (stages/environment.py), the ToolSpectrum-mode samples (stages/ts_samples.py) and
the writer (toolspectrum_writer.py).

A fact is one profile feature (found by its words: "age", "Income Level" and "income_level" are
one) or one environment factor. A policy forbids its APIs on its platforms when the sample's
fact has one of the policy's `forbidden` values (compared as normalized text, so 16 == "16").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pertool.synth.records import ApiRecord, EnvironmentRecord, PolicyRecord, UserRecord
from pertool.values import normalize_text

__all__ = [
    "FACTORS", "SUBSETS", "PROHIBITIVE", "fact_value", "forbids", "tripped", "refusal_problems", "persona_of",
    "source_of", "quotes", "triggered_rules", "environmental_values", "personalized_values", "key_words",
    "persona_key", "same",
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



def forbids(policy: PolicyRecord, value: Any) -> bool:
    return any(same(value, f) for f in policy.forbidden)


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


def persona_of(user: UserRecord, scenarios: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, Any]:
    """The user as a ToolSpectrum persona: demographics under ToolSpectrum's keys (Gender, Age,
    Profession, Income Level, ...), the other explicit features title-cased, and "Preferences":
    free-text sentences of the implicit features and the conditional app preferences. A
    preference names the app by a characteristic only it has, where `scenarios` gives one
    ({scenario: {platform: "<characteristic> is <value>"}}), else by name."""
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
    for scenario, by_condition in sorted(user.preferences.items()):
        described = (scenarios or {}).get(scenario, {})
        for condition, platform in sorted(by_condition.items()):
            app = f"the app whose {described[platform]}" if platform in described else platform
            what = f"for {condition}" if condition else "otherwise"
            sentences.append(f"In {scenario}, {what}, usually uses {app}.")
    persona["Preferences"] = sentences
    return persona
