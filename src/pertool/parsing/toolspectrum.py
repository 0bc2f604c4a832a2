"""Parse ToolSpectrum answers: one JSON object `{"APP", "API", "params", "explanation"}`.

A refusal is `"APP": null` (or APP, API and params all null) or a bare `null` / `None`. An
answer that is exactly one JSON object (or a bare null) is clean; one that needed repair (code
fences, prose around it, a think block, single quotes, Python booleans or None) parses with
`repaired=True`. A parse failure is never a refusal: it is a format failure.
"""

from __future__ import annotations

import ast
import json
import warnings
from typing import Any

from pertool.parsing.extract import ParseFailure, answer_candidates, balanced_end, strip_reasoning
from pertool.parsing.literals import NotALiteral, literal_value
from pertool.parsing.ptbench import MAX_OUTPUT_CHARS
from pertool.schema import Call, Prediction

__all__ = ["parse_toolspectrum"]

_NULLS = ("null", "none")


def parse_toolspectrum(output: str | None, sample_id: str = "") -> Prediction:
    raw = output if isinstance(output, str) else ""
    try:
        obj, repaired = _answer_object(raw)
        return _prediction(sample_id, raw, obj, repaired)
    except ParseFailure as exc:
        return Prediction(sample_id=sample_id, raw_output=raw, parse_error=str(exc))


def _answer_object(raw: str) -> tuple[dict[str, Any] | None, bool]:
    """The answer object (None for a bare null) and whether it needed repair."""
    text = raw.strip()
    if not text:
        raise ParseFailure("empty output")
    if len(raw) > MAX_OUTPUT_CHARS:
        raise ParseFailure(f"output of {len(raw)} characters exceeds {MAX_OUTPUT_CHARS}")
    if text.lower() in _NULLS:
        return None, False
    try:
        value = json.loads(text)
        if isinstance(value, dict):
            return value, False
    except (ValueError, RecursionError):
        pass
    error: ParseFailure | None = None
    for body in strip_reasoning(raw):
        for candidate in answer_candidates(body):
            stripped = candidate.strip()
            if stripped.lower().rstrip(".") in _NULLS:
                return None, True
            try:
                return _first_object(stripped), True
            except ParseFailure as exc:
                error = error or exc
    raise error or ParseFailure("no answer object found")


_MAX_OBJECTS = 8  # `{` positions tried per text (prose may hold braces before the answer)


def _first_object(text: str) -> dict[str, Any]:
    """The first `{...}` in the text that is an answer object (one with an "APP" key)."""
    error = ParseFailure("no complete {...} object in the output")
    start = text.find("{")
    for _ in range(_MAX_OBJECTS):
        if start < 0:
            break
        try:
            value = _object_at(text, start)
            if "APP" in value:
                return value
            error = ParseFailure('the answer has no "APP" key')
        except ParseFailure as exc:
            error = exc
        start = text.find("{", start + 1)
    raise error


def _object_at(text: str, start: int) -> dict[str, Any]:
    end = balanced_end(text, start)
    if end is None:
        raise ParseFailure("no complete {...} object in the output")
    source = text[start : end + 1]
    try:
        value = json.loads(source)
    except (ValueError, RecursionError):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                value = literal_value(ast.parse(source, mode="eval").body)
        except (SyntaxError, ValueError, NotALiteral, RecursionError, MemoryError) as exc:
            raise ParseFailure(f"the answer object is neither JSON nor a Python literal ({exc})") from None
    if not isinstance(value, dict):
        raise ParseFailure("the answer is not an object")
    return value


def _prediction(sample_id: str, raw: str, obj: dict[str, Any] | None, repaired: bool) -> Prediction:
    if obj is None or ("APP" in obj and _is_null(obj["APP"])):
        return Prediction(sample_id=sample_id, raw_output=raw, refusal=True, repaired=repaired)
    if "APP" not in obj:
        raise ParseFailure('the answer has no "APP" key')
    app, api, params = obj.get("APP"), obj.get("API"), obj.get("params")
    if not isinstance(app, str) or not app.strip():
        raise ParseFailure('"APP" must be an app name or null')
    if not isinstance(api, str) or not api.strip():
        raise ParseFailure('"API" must be an API name when "APP" is set')
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ParseFailure('"params" must be an object')
    return Prediction(sample_id=sample_id, raw_output=raw, platform=app.strip(),
                      calls=[Call(name=api.strip(), arguments=params)], repaired=repaired)  # fmt: skip


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in _NULLS)
