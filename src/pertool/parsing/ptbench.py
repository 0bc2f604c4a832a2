"""Parse PTBench answers: `platform:[f(a=1, b='x'), g()]` and its JSON variant.

Accepted around the answer: the braces of the paper's Figure 7 (`{Platform:[...]}`), a code
fence, a `<think>...</think>` block before it, prose before or after it, a platform name that is
quoted or has spaces. Values must be Python (or JSON) literals, read from the AST: nothing in the
output is ever evaluated. Output longer than `MAX_OUTPUT_CHARS` is refused unread, which bounds
time and memory on hostile input.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from collections.abc import Sequence
from typing import Any

from pertool.parsing.extract import ParseFailure, answer_candidates, balanced_end, strip_reasoning
from pertool.parsing.fast_calls import fast_call_list
from pertool.parsing.literals import NotALiteral, describe, literal_value
from pertool.schema import Call, Prediction
from pertool.values import normalize_text

__all__ = ["MAX_OUTPUT_CHARS", "parse_call_list", "parse_call_list_ast", "parse_ptbench"]

MAX_OUTPUT_CHARS = 200_000
_MAX_ATTEMPTS = 8  # candidate `:[` positions tried per text; bounds work on adversarial prose
_LIST_START = re.compile(r":\s*\[")
_JSON_HINT = re.compile(r"""["']platform["']\s*:""")


def parse_ptbench(output: str | None, sample_id: str = "", platforms: Sequence[str] = ()) -> Prediction:
    """Parse one raw model output into a `Prediction` (never raises on bad output).

    With the sample's `platforms`, prose glued before an unquoted name ("The answer is
    MegaMart:[...]") is cut back to the platform the name ends with.
    """
    raw = output if isinstance(output, str) else ""
    try:
        platform, calls = _parse(raw)
        platform = _known_suffix(platform, platforms)
    except ParseFailure as exc:
        return Prediction(sample_id=sample_id, raw_output=raw, parse_error=str(exc))
    return Prediction(sample_id=sample_id, raw_output=raw, platform=platform, calls=calls)


def _known_suffix(name: str, platforms: Sequence[str]) -> str:
    folded = normalize_text(name)
    if not platforms or folded in {normalize_text(p) for p in platforms}:
        return name
    endings = [p for p in platforms if folded.endswith(" " + normalize_text(p))]
    return max(endings, key=len) if endings else name


def _parse(raw: str) -> tuple[str, list[Call]]:
    if not raw.strip():
        raise ParseFailure("empty output")
    if len(raw) > MAX_OUTPUT_CHARS:
        raise ParseFailure(f"output of {len(raw)} characters exceeds {MAX_OUTPUT_CHARS}")
    first_error: ParseFailure | None = None
    for text in strip_reasoning(raw):
        for candidate in answer_candidates(text):
            try:
                return _parse_answer(candidate.strip())
            except ParseFailure as exc:
                first_error = first_error or exc
    assert first_error is not None
    raise first_error


def _parse_answer(text: str) -> tuple[str, list[Call]]:
    if not text:
        raise ParseFailure("empty answer")
    if _JSON_HINT.search(text):
        obj = _json_answer_object(text)
        if obj is not None:
            return _from_json_answer(obj)
    return _parse_text_format(text)


# --- text format --------------------------------------------------------------------------


def _parse_text_format(text: str) -> tuple[str, list[Call]]:
    error = ParseFailure("no `platform:[...]` call list found")
    for attempt, match in enumerate(_LIST_START.finditer(text)):
        if attempt == _MAX_ATTEMPTS:
            break
        try:
            calls = _calls_at(text, match.end() - 1)
            return _platform_before(text, match.start()), calls
        except ParseFailure as exc:
            error = exc if attempt == 0 else error
    raise error


def _calls_at(text: str, start: int) -> list[Call]:
    # Fast path: the list runs to the last `]` (clean answers, optionally inside braces).
    last = text.rfind("]")
    try:
        return parse_call_list(text[start : last + 1])
    except ParseFailure:
        end = balanced_end(text, start)
        if end is None or end == last:
            raise
        return parse_call_list(text[start : end + 1])


def parse_call_list(source: str) -> list[Call]:
    """Parse `[f(a=1), g()]` into calls; the source must be exactly that list."""
    simple = fast_call_list(source)
    if simple is not None:
        return [Call(name=name, arguments=args) for name, args in simple]
    return parse_call_list_ast(source)


def parse_call_list_ast(source: str) -> list[Call]:
    """The general path: read the list from a Python AST (literals only, nothing evaluated)."""
    tree = _parse_expression(source)
    if not isinstance(tree, ast.List):
        raise ParseFailure(f"expected a list of calls, got {describe(tree)}")
    return [_call(node, i) for i, node in enumerate(tree.elts)]


def _parse_expression(source: str) -> ast.expr:
    try:
        if "\\" not in source:
            return ast.parse(source, mode="eval").body
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences in model strings
            return ast.parse(source, mode="eval").body
    except SyntaxError as exc:
        raise ParseFailure(f"syntax error in the call list: {exc.msg} (column {exc.offset})") from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise ParseFailure(f"call list cannot be parsed: {type(exc).__name__}") from None


def _call(node: ast.expr, index: int) -> Call:
    if not isinstance(node, ast.Call):
        raise ParseFailure(f"item {index} of the call list is not a call: {describe(node)}")
    name = _dotted_name(node.func)
    if name is None:
        raise ParseFailure(f"call {index} has no plain function name: {describe(node.func)}")
    if node.args:
        raise ParseFailure(f"call {name}: positional argument {describe(node.args[0])}; use name=value")
    arguments: dict[str, Any] = {}
    for keyword in node.keywords:
        if keyword.arg is None:  # `**{'class': 1}`: parameters that are not identifiers
            for param, value in _unpacked(keyword.value, name).items():
                if param in arguments:
                    raise ParseFailure(f"call {name}: parameter {param!r} given twice")
                arguments[param] = value
            continue
        if keyword.arg in arguments:
            raise ParseFailure(f"call {name}: parameter {keyword.arg!r} given twice")
        arguments[keyword.arg] = _argument(keyword.value, name, keyword.arg)
    return Call(name=name, arguments=arguments)


def _unpacked(node: ast.expr, name: str) -> dict[str, Any]:
    """The parameters of `**{...}`: a dict literal whose keys are strings, as Python requires."""
    if not isinstance(node, ast.Dict) or not all(
        isinstance(k, ast.Constant) and isinstance(k.value, str) for k in node.keys
    ):
        raise ParseFailure(f"call {name}: `**` unpacking needs a dict literal with string keys: "
                           f"{describe(node)}")
    arguments: dict[str, Any] = {}
    for key, value in zip(node.keys, node.values):
        param = key.value  # type: ignore[union-attr]  # checked above: a str constant
        if param in arguments:
            raise ParseFailure(f"call {name}: parameter {param!r} given twice")
        arguments[param] = _argument(value, name, param)
    return arguments


def _argument(node: ast.expr, name: str, param: str) -> Any:
    try:
        return literal_value(node)
    except NotALiteral as exc:
        raise ParseFailure(f"call {name}, parameter {param}: {exc}") from None
    except RecursionError:
        raise ParseFailure(f"call {name}, parameter {param}: nested too deeply") from None


def _dotted_name(node: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _platform_before(text: str, colon: int) -> str:
    head = text[:colon].rstrip()
    if head[-1:] in ("'", '"'):
        quoted = _quoted_suffix(head)
        if quoted is not None:
            return quoted
    cut = max(head.rfind("\n"), head.rfind("{"), head.rfind(":"), head.rfind("`"))
    name = head[cut + 1 :].strip().strip("*").strip().strip("'\"")
    if not name:
        raise ParseFailure("missing platform name before `:[`")
    return name


def _quoted_suffix(head: str) -> str | None:
    """The string literal that ends `head`, if it is one."""
    quote = head[-1]
    start = head.rfind(quote, 0, len(head) - 1)
    while start > 0 and head[start - 1] == "\\":
        start = head.rfind(quote, 0, start - 1)
    if start < 0:
        return None
    try:
        value = literal_value(_parse_expression(head[start:]))
    except (ParseFailure, NotALiteral):
        return None
    return value if isinstance(value, str) and value.strip() else None


# --- JSON variant ---------------------------------------------------------------------------


def _json_answer_object(text: str) -> dict[str, Any] | None:
    """The first `{...}` object if it loads (as JSON or a Python literal) and has `platform`."""
    start = text.find("{")
    end = balanced_end(text, start) if start >= 0 else None
    if end is None:
        return None
    source = text[start : end + 1]
    try:
        obj = json.loads(source, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        try:
            obj = literal_value(_parse_expression(source))
        except (ParseFailure, NotALiteral, RecursionError):
            return None
    return obj if isinstance(obj, dict) and "platform" in obj else None


def _from_json_answer(obj: dict[str, Any]) -> tuple[str, list[Call]]:
    platform = obj.get("platform")
    if not isinstance(platform, str) or not platform.strip():
        raise ParseFailure("JSON answer: `platform` must be a non-empty string")
    functions = obj.get("functions")
    if not isinstance(functions, list):
        raise ParseFailure("JSON answer: `functions` must be a list")
    return platform.strip(), [_json_call(f, i) for i, f in enumerate(functions)]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _json_call(item: Any, index: int) -> Call:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise ParseFailure(f"JSON answer: functions[{index}] needs a string `name`")
    arguments = item.get("parameters", item.get("arguments", {}))
    if not isinstance(arguments, dict):
        raise ParseFailure(f"JSON answer: functions[{index}].parameters must be an object")
    return Call(name=item["name"], arguments=arguments)
