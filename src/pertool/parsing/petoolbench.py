"""Parse PEToolBench answers: one JSON object `{"tool_name": "<C>.<P>.<API>", "parameters": {...}}`.

Tolerated (the answer then counts as `repaired`): a `<think>` block, code fences, prose around
the object, JSON spread over several lines, the object inside a list or another object, a Python
dict instead of JSON (read from the AST by pertool's literal parser, never evaluated), and
`parameters` given as a string holding the object (the prompt asks for "JSON string format").
An absent or null `parameters` is `{}`. Further calls after the first are kept in
`Prediction.calls` (scoring uses the first and counts the rest). Output longer than
`MAX_OUTPUT_CHARS` is refused unread, and at most `_MAX_STARTS` `{` positions are tried per
text, so hostile input costs bounded time.
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

__all__ = ["parse_petoolbench", "MAX_CALLS", "name_key", "tool_parts"]

_MAX_STARTS = 8  # `{` positions tried per text (prose may hold braces before the answer)
MAX_CALLS = 8  # calls kept from one answer (the first is scored, the rest counted)


def parse_petoolbench(output: str | None, sample_id: str = "") -> Prediction:
    """A model's answer as a `Prediction` whose first call is the answer (never raises)."""
    raw = output if isinstance(output, str) else ""
    try:
        calls, repaired = _calls(raw)
    except ParseFailure as exc:
        return Prediction(sample_id=sample_id, raw_output=raw, parse_error=str(exc))
    provider = _provider(calls[0].name)
    return Prediction(sample_id=sample_id, raw_output=raw, platform=provider, calls=calls, repaired=repaired)


def tool_parts(name: str) -> tuple[str, ...]:
    """`<Category>.<Provider>.<API>` -> its three components (untrimmed); another shape -> (name,)."""
    if name.startswith("<") and name.endswith(">"):
        parts = tuple(name[1:-1].split(">.<"))
        if len(parts) == 3:
            return parts
    return (name,)


def name_key(name: str) -> tuple[str, ...]:
    """A tool name's components trimmed and case-folded: how pertool's rules compare names
    (`<Github API Scraper >` and `<github api scraper>` are the same provider)."""
    return tuple(part.strip().casefold() for part in tool_parts(name.strip()))


def _provider(name: str) -> str | None:
    parts = tool_parts(name.strip())
    return parts[1].strip() if len(parts) == 3 else None


def _calls(raw: str) -> tuple[list[Call], bool]:
    text = raw.strip()
    if not text:
        raise ParseFailure("empty output")
    if len(raw) > MAX_OUTPUT_CHARS:
        raise ParseFailure(f"output of {len(raw)} characters exceeds {MAX_OUTPUT_CHARS}")
    if text.startswith("{") and text.endswith("}"):  # the asked-for format: one JSON object
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            value = None
        if isinstance(value, dict) and isinstance(value.get("tool_name"), str):
            call, decoded = _call(value)
            return [call], decoded
    error: ParseFailure | None = None
    for body in strip_reasoning(raw):
        for candidate in answer_candidates(body):
            try:
                return _scan(candidate), True
            except ParseFailure as exc:
                error = error or exc
    raise error or ParseFailure('no {"tool_name": ...} object found')


def _scan(text: str) -> list[Call]:
    """Every call object in the text, in order (at most MAX_CALLS), scanning `{` positions."""
    calls: list[Call] = []
    error = ParseFailure('no {"tool_name": ...} object found')
    start = text.find("{")
    tries = 0
    while start >= 0 and tries < _MAX_STARTS and len(calls) < MAX_CALLS:
        tries += 1
        end = balanced_end(text, start)
        if end is None:
            error = ParseFailure("no complete {...} object in the output")
            start = text.find("{", start + 1)
            continue
        try:
            value = _value(text[start : end + 1])
        except ParseFailure as exc:
            error = exc
            value = None
        if isinstance(value, dict) and isinstance(value.get("tool_name"), str):
            try:
                calls.append(_call(value)[0])
                start = text.find("{", end + 1)  # past this call: its parameters are not calls
                continue
            except ParseFailure as exc:
                error = exc
        elif isinstance(value, dict) and "tool_name" in value:
            error = ParseFailure('"tool_name" must be a string')
        start = text.find("{", start + 1)  # inside it: a wrapper object may hold the call
    if not calls:
        raise error
    return calls


def _value(source: str) -> Any:
    try:
        return json.loads(source)
    except (ValueError, RecursionError):
        pass
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return literal_value(ast.parse(source, mode="eval").body)
    except (SyntaxError, ValueError, NotALiteral, RecursionError, MemoryError) as exc:
        raise ParseFailure(f"an object is neither JSON nor a Python literal ({exc})") from None


def _call(obj: dict[str, Any]) -> tuple[Call, bool]:
    """The call of an answer object, and whether `parameters` had to be decoded from a string."""
    params = obj.get("parameters")
    decoded = False
    if params is None:
        params = {}
    elif isinstance(params, str):
        text = params.strip()
        params = _value(text) if text else {}
        decoded = True
    if not isinstance(params, dict):
        raise ParseFailure('"parameters" must be an object')
    return Call(name=obj["tool_name"], arguments=params), decoded
