"""What the shallow learners see of a sample: its context as named string fields (environment,
persona, quartile bins of numbers, the BMI class, words of the Preferences), plus the words of a
text. Fitted on contexts only, never on gold. Shared by the shortcut audit (`pertool.audit`) and
the rule baseline (`baseline/rules`)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pertool.schema import Sample
from pertool.values import normalize_text

__all__ = ["API_FIELD", "MISSING", "PREFERENCES", "FeatureSpace", "context_key", "value_key", "words"]

API_FIELD = "API"
PREFERENCES = "Preferences"
MISSING = "(missing)"
_PREFERENCE_PREFIX = "Preferences: "
_VOCABULARY_SIZE = 40
# Words of the preference paragraphs that say nothing about the user.
_GENERIC = frozenset(
    "are has have their they them this often such who which when while also than into over more most "
    "very other others its being been were was will just about through across each every both tend "
    "tends user users individual person someone likely frequently regularly".split()
)


_WORD = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_STOP = frozenset("a an the for to of and or in on at by my me i it is be with from as this that "
                  "please can you would like want need some get".split())  # fmt: skip


def words(text: str) -> set[str]:
    """The content words of a text, lower-cased, camelCase split, stop words dropped."""
    return {w for w in _WORD.findall(_CAMEL.sub(" ", text).lower()) if w not in _STOP}


# --- values -------------------------------------------------------------------------------


def _canonical(value: Any) -> Any:
    """A form in which values `accepts` treats as equal mostly look equal (hashable via JSON)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        text = normalize_text(value)
        return {"true": True, "false": False}.get(text, text)
    if isinstance(value, (int, float)):
        return float(value) if isinstance(value, float) and not value.is_integer() else int(value)
    if isinstance(value, (list, tuple)):
        items = [_canonical(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, default=str))
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    return str(value)


def value_key(value: Any) -> str:
    """A canonical JSON dump of a value: the key under which (possibly unhashable) values count."""
    return json.dumps(_canonical(value), sort_keys=True, default=str, ensure_ascii=False)


# --- features -----------------------------------------------------------------------------


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _bmi(persona: Mapping[str, Any]) -> float | None:
    height, weight = persona.get("Height (cm)"), persona.get("Weight (kg)")
    if isinstance(height, (int, float)) and isinstance(weight, (int, float)) and height > 0:
        return float(weight) / (float(height) / 100) ** 2
    return None


def _bmi_class(bmi: float | None) -> str:
    if bmi is None:
        return MISSING
    return "underweight" if bmi < 18.5 else "normal" if bmi < 25 else "overweight" if bmi < 30 else "obese"


def _quartile(value: Any, cuts: Sequence[float]) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"q{sum(float(value) >= c for c in cuts)}"
    return MISSING


def _preference_words(persona: Mapping[str, Any]) -> set[str]:
    prefs = persona.get(PREFERENCES)
    texts = prefs if isinstance(prefs, list) else [prefs] if isinstance(prefs, str) else []
    return {w for t in texts if isinstance(t, str) for w in words(t) if len(w) > 2 and w not in _GENERIC}


def _environment(sample: Sample) -> dict[str, Any]:
    return sample.environment.model_dump() if sample.environment is not None else {}


@dataclass(frozen=True)
class FeatureSpace:
    """Which fields a sample is described by. Fitted on samples' contexts only (never on gold)."""

    environment_fields: tuple[str, ...]
    persona_fields: tuple[str, ...]
    cuts: dict[str, tuple[float, ...]]  # numeric field -> quartile cut points
    vocabulary: tuple[str, ...]  # Preferences words used as present/absent fields
    with_bmi: bool = False

    @classmethod
    def fit(cls, samples: Iterable[Sample], vocabulary_size: int = _VOCABULARY_SIZE) -> FeatureSpace:
        env_fields: dict[str, None] = {}
        persona_fields: dict[str, None] = {}
        numbers: dict[str, list[float]] = {}
        non_numeric: set[str] = set()
        documents = Counter[str]()
        n_with_prefs = 0
        with_bmi = False
        for sample in samples:
            persona = sample.profile.basic_features
            for source, names in ((_environment(sample), env_fields), (persona, persona_fields)):
                for name, value in source.items():
                    if name == PREFERENCES or isinstance(value, (list, dict)):
                        continue
                    names.setdefault(name)
                    if _is_number(value):
                        numbers.setdefault(name, []).append(float(value))
                    elif value is not None:
                        non_numeric.add(name)
            if PREFERENCES in persona:
                n_with_prefs += 1
                documents.update(_preference_words(persona))
            with_bmi = with_bmi or _bmi(persona) is not None
        cuts = {}
        for name, values in numbers.items():
            if name in non_numeric or len(set(values)) <= 4:
                continue
            ordered = sorted(values)
            points = sorted({ordered[len(ordered) * q // 4] for q in (1, 2, 3)})
            cuts[name] = tuple(points)
        # informative: present in some users and absent in most (not in nearly all, not rare)
        lo, hi = max(2, 0.03 * n_with_prefs), 0.5 * n_with_prefs
        ranked = sorted((w for w, c in documents.items() if lo <= c <= hi), key=lambda w: (-documents[w], w))
        return cls(tuple(env_fields), tuple(persona_fields), cuts, tuple(ranked[:vocabulary_size]), with_bmi)

    def fields(self, with_api: bool = True) -> list[str]:
        names = [*self.environment_fields]
        for name in self.persona_fields:
            names.append(name)
            if name in self.cuts:
                names.append(f"{name} (quartile)")
        for name in self.environment_fields:
            if name in self.cuts:
                names.append(f"{name} (quartile)")
        if self.with_bmi:
            names.append("BMI (class)")
        if with_api:
            names.append(API_FIELD)
        names.extend(_PREFERENCE_PREFIX + w for w in self.vocabulary)
        return names

    def features(self, sample: Sample, api: str | None) -> dict[str, str]:
        """Field -> value as a string (`(missing)` where the sample lacks the field)."""
        persona = sample.profile.basic_features
        out: dict[str, str] = {}
        sources = ((self.environment_fields, _environment(sample)), (self.persona_fields, persona))
        for names, source in sources:
            for name in names:
                value = source.get(name)
                out[name] = MISSING if value is None else value_key(value)
                if name in self.cuts:
                    out[f"{name} (quartile)"] = _quartile(value, self.cuts[name])
        if self.with_bmi:
            out["BMI (class)"] = _bmi_class(_bmi(persona))
        out[API_FIELD] = api if api is not None else MISSING
        present = _preference_words(persona)
        for word in self.vocabulary:
            out[_PREFERENCE_PREFIX + word] = "yes" if word in present else "no"
        return out


def context_key(sample: Sample) -> str:
    """What identifies a sample's context: its persona and environment (instructions aside).

    ToolSpectrum reuses each persona and environment across several samples; holding them out
    together keeps a rule from passing by recognizing a context it saw (say, by its Date)."""
    return value_key([sample.profile.basic_features, _environment(sample)])
