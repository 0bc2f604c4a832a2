"""Extraction of required parameters from a ToolSpectrum instruction, for `baseline/rules`:
an extractor per (API, parameter), chosen by its accuracy on training samples."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from pertool.learners import value_key
from pertool.schema import Sample, Tool
from pertool.values import accepts

__all__ = ["NO_VALUE", "ExtractorChoice", "tool_properties"]


class _NoValue:
    def __repr__(self) -> str:
        return "<no value>"


NO_VALUE: Any = _NoValue()


def tool_properties(tool: Tool) -> dict[str, Any]:
    props = tool.function.parameters.get("properties", {})
    return props if isinstance(props, dict) else {}


# --- required parameters ------------------------------------------------------------------

_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10, "single": 1, "a pair of": 2, "couple of": 2}  # fmt: skip
_NUMBER = re.compile(r"(?<![\w.:/-])-?\d+(?:,\d{3})*(?:\.\d+)?(?![\w:/]|-\d)")
_COUNT = re.compile(r"\b(\d+|" + "|".join(_NUMBER_WORDS) + r"|an?)\s+(?!minutes?\b|hours?\b|kg\b|pounds?\b)"
                    r"(?:[a-z-]+\s+){0,3}?(?:tickets?|items?|pieces?|packs?|units?|bottles?|boxes?|books?|"
                    r"people|persons?|guests?|shares?|copies|pairs?|bags?|sets?|seats?|[a-z]+s)\b", re.I)
_QUOTED = re.compile(r"[\"“']([^\"”']{2,}?)[.,]?[\"”'](?!\w)")
_IDENT = re.compile(r"\b[A-Za-z]+_\d+\b")
_COORDS = re.compile(r"-?\d{1,3}\.\d+\s*,\s*-?\d{1,3}\.\d+")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?")
_DIMENSIONS = re.compile(r"\d+(?:\.\d+)?\s*[x×*]\s*\d+(?:\.\d+)?\s*[x×*]\s*\d+(?:\.\d+)?")
_WEIGHT = re.compile(r"(\d+(?:\.\d+)?)\s*(kg|kilograms?|pounds?|lbs?|g)\b", re.I)
_END = r"(?=\s*(?:[.?!;](?:\s+[A-Z(]|\s*$)|\?|$|,?\s+(?:and|on|at|for|with|using|departing|by|so|which|" \
       r"then|before|after|in order|via|to pick|to drop|could|can|please|how|I'?ll|I)\b))"
_CUES = {"from": r"\bfrom\s+", "to": r"\bto\s+(?:the same location\b)?", "at": r"\bat\s+", "in": r"\bin\s+",
         "off_at": r"\b(?:drop(?:\s+it)?\s+off|dropoff|drop-off)\s+(?:at|in)\s+",
         "up_at": r"\bpick(?:\s+it)?\s*(?:-|\s)?up\s+(?:at|in|from)\s+",
         "ship_to": r"\b(?:shipped|ship|deliver(?:ed)?|send)\s+(?:it\s+|them\s+)?to\s+",
         "located": r"\blocated\s+(?:at|in)\s+"}  # fmt: skip


def _number(text: str) -> int | float:
    text = text.replace(",", "")
    value = float(text)
    return int(value) if value.is_integer() and "." not in text else value


def _numbers(query: str) -> list[int | float]:
    masked = _COORDS.sub(" ", _ISO.sub(" ", _IDENT.sub(" ", query)))
    return [_number(m) for m in _NUMBER.findall(masked)]


def _after(query: str, cue: str) -> Any:
    match = re.search(_CUES[cue] + r"(.+?)" + _END, query)
    if not match:
        return NO_VALUE
    span = match.group(1).strip(" ,.")
    if cue == "from":
        span = re.split(r"\s+to\s+", span)[0].strip(" ,.")
    return span if len(span) > 1 else NO_VALUE


def _mentioned(query: str, options: Iterable[Any]) -> Any:
    """The longest option mentioned in the query (as whole words, case-insensitively)."""
    lowered = query.lower()
    best: Any = NO_VALUE
    best_len = 0
    for option in options:
        text = str(option).strip().lower()
        if len(text) < 2 or len(text) <= best_len:
            continue
        variants = {text, text.replace("_", " "), text.rstrip("s")}
        if any(re.search(r"(?<!\w)" + re.escape(v) + r"(?!\w)", lowered) for v in variants if len(v) > 1):
            best, best_len = option, len(text)
    return best


def _mentioned_all(query: str, options: Iterable[Any]) -> Any:
    lowered = query.lower()
    found = []
    for option in options:
        text = str(option).strip().lower()
        for variant in {text, text.replace("_", " ")}:
            where = re.search(r"(?<!\w)" + re.escape(variant) + r"(?!\w)", lowered)
            if where and len(variant) > 1:
                found.append((where.start(), option))
                break
    return [o for _, o in sorted(found, key=lambda t: t[0])] if found else NO_VALUE


def _count(query: str) -> Any:
    match = _COUNT.search(query)
    if not match:
        return NO_VALUE
    token = match.group(1).lower()
    if token in ("a", "an"):
        return 1
    return _NUMBER_WORDS.get(token) or _number(token)


def _package(query: str) -> Any:
    dims, weight = _DIMENSIONS.search(query), _WEIGHT.search(query)
    if not dims and not weight:
        return NO_VALUE
    out: dict[str, Any] = {}
    if weight:
        kilograms = weight.group(2).lower().startswith("k")
        out["weight"] = _number(weight.group(1)) if kilograms else weight.group(0)
    if dims:
        out["dimensions"] = re.sub(r"\s*[×*]\s*|\s*x\s*", "x", dims.group(0))
    return out


def _extract(kind: str, query: str, spec: dict[str, Any], seen: Sequence[Any], constant: Any) -> Any:
    """The value one extractor reads from the instruction (`NO_VALUE` where it finds nothing)."""
    if kind == "enum":
        return _mentioned(query, spec.get("enum") or [])
    if kind == "seen":
        return _mentioned(query, [v for v in seen if isinstance(v, str)])
    if kind == "seen_list":
        elements = {e for v in seen if isinstance(v, list) for e in v if isinstance(e, str)}
        return _mentioned_all(query, sorted(elements))
    if kind == "quoted":
        match = _QUOTED.search(query)
        return match.group(1).strip() if match else NO_VALUE
    if kind == "ident":
        match = _IDENT.search(query)
        return match.group(0) if match else NO_VALUE
    if kind == "coords":
        match = _COORDS.search(query)
        return match.group(0) if match else NO_VALUE
    if kind == "iso":
        match = _ISO.search(query)
        return match.group(0) if match else NO_VALUE
    if kind in ("number", "number2", "number_last"):
        numbers = _numbers(query)
        index = {"number": 0, "number2": 1, "number_last": -1}[kind]
        return numbers[index] if len(numbers) > max(index, 0) or (index == -1 and numbers) else NO_VALUE
    if kind == "count":
        return _count(query)
    if kind == "count_or_1":
        found = _count(query)
        return 1 if found is NO_VALUE else found
    if kind == "package":
        return _package(query)
    if kind == "constant":
        return constant
    if kind.startswith("after_"):
        return _after(query, kind[len("after_"):])
    raise ValueError(kind)


_KINDS = ("enum", "seen", "seen_list", "quoted", "ident", "coords", "iso", "count", "count_or_1", "number",
          "number2", "number_last", "package", *(f"after_{c}" for c in _CUES), "constant")  # fmt: skip


class ExtractorChoice:
    """Per (API, param) and per param: how often each extractor reads the gold value."""

    def __init__(self) -> None:
        self.hits: dict[tuple[str, str], Counter[str]] = {}  # extractor read the gold value
        self.fired: dict[tuple[str, str], Counter[str]] = {}  # extractor read some value
        self.seen: dict[str, list[Any]] = {}
        self.values: dict[tuple[str, str], Counter[str]] = {}
        self.examples: dict[tuple[str, str], dict[str, Any]] = {}
        self._pending: list[tuple[Sample, Tool, str, Sequence[Any]]] = []
        self._done = False

    def observe(self, sample: Sample, tool: Tool, param: str, accepted: Sequence[Any]) -> None:
        self._pending.append((sample, tool, param, accepted))
        self.seen.setdefault(param, []).append(accepted[0])
        key = (tool.name, param)
        self.values.setdefault(key, Counter())[value_key(accepted[0])] += 1
        self.examples.setdefault(key, {}).setdefault(value_key(accepted[0]), accepted[0])

    def _constant(self, api: str, param: str) -> Any:
        counts = self.values.get((api, param))
        if not counts:
            return NO_VALUE
        top = max(counts.values())
        return self.examples[(api, param)][min(k for k, c in counts.items() if c == top)]

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        for sample, tool, param, accepted in self._pending:
            spec = tool_properties(tool).get(param, {})
            # the sample's own value must not help read it: leave it out of `seen` and `constant`
            seen = list(self.seen.get(param, []))
            if accepted[0] in seen:
                seen.remove(accepted[0])
            constant = self._constant_without(tool.name, param, accepted[0])
            for kind in _KINDS:
                value = _extract(kind, sample.query, spec, seen, constant)
                hit = value is not NO_VALUE and accepts(accepted, value)
                for key in ((tool.name, param), ("*", param)):
                    self.hits.setdefault(key, Counter())[kind] += hit
                    self.fired.setdefault(key, Counter())[kind] += value is not NO_VALUE
        self._pending = []

    def _constant_without(self, api: str, param: str, value: Any) -> Any:
        counts = Counter(self.values.get((api, param), Counter()))
        counts[value_key(value)] -= 1
        counts = Counter({k: c for k, c in counts.items() if c > 0})
        if not counts:
            return NO_VALUE
        top = max(counts.values())
        return self.examples[(api, param)][min(k for k, c in counts.items() if c == top)]

    def kinds(self, api: str, param: str, spec: dict[str, Any]) -> list[str]:
        """Extractors to try in turn: the one reading most training values first, then any other
        that is right at least half the times it reads something; else a guess by type."""
        self._finish()
        for key in ((api, param), ("*", param)):
            hits, fired = self.hits.get(key, Counter()), self.fired.get(key, Counter())
            if hits and max(hits.values()) > 0:
                ranked = sorted((k for k in _KINDS if hits[k] > 0), key=lambda k: (-hits[k], _KINDS.index(k)))
                return ranked[:1] + [k for k in ranked[1:] if hits[k] * 2 >= fired[k]]
        if "enum" in spec:
            return ["enum"]
        if spec.get("type") in ("integer", "number"):
            return ["count" if "count" in param.lower() else "number"]
        return ["quoted"] if spec.get("type") == "string" else []

    def extract(self, sample: Sample, tool: Tool, param: str) -> Any:
        spec = tool_properties(tool).get(param, {})
        seen, constant = self.seen.get(param, []), self._constant(tool.name, param)
        for kind in self.kinds(tool.name, param, spec):
            value = _extract(kind, sample.query, spec, seen, constant)
            if value is not NO_VALUE:
                return value
        return NO_VALUE
