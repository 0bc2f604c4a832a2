"""Python literals from an AST, never by evaluating anything.

Accepted: strings, numbers (with a leading sign), booleans, None, lists, tuples and sets (all
become lists), dicts, and the JSON spellings `true`, `false`, `null` that models often write.
Anything else (names, calls, arithmetic, comprehensions, f-strings, ...) raises
`NotALiteral`, whose message quotes the offending expression.
"""

from __future__ import annotations

import ast
import math
from typing import Any

__all__ = ["NotALiteral", "literal_value", "describe"]

_JSON_NAMES: dict[str, Any] = {"true": True, "false": False, "null": None}
_MAX_QUOTE = 60


class NotALiteral(ValueError):
    """An expression that is not a plain data literal."""


def describe(node: ast.AST) -> str:
    """A short, quoted rendering of an expression for error messages."""
    try:
        text = ast.unparse(node)
    except Exception:  # unparse can fail on pathological trees; the type name still helps
        text = type(node).__name__
    if len(text) > _MAX_QUOTE:
        text = text[: _MAX_QUOTE - 3] + "..."
    return f"{type(node).__name__} `{text}`"


def literal_value(node: ast.AST) -> Any:
    """The data value of a literal expression node."""
    if isinstance(node, ast.Constant):
        return _constant(node)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = node.operand
        value = inner.value if isinstance(inner, ast.Constant) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return -value if isinstance(node.op, ast.USub) else value
        raise NotALiteral(f"not a literal: {describe(node)}")
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return [literal_value(e) for e in node.elts]
    if isinstance(node, ast.Dict):
        return _dict(node)
    if isinstance(node, ast.Name) and node.id in _JSON_NAMES:
        return _JSON_NAMES[node.id]
    raise NotALiteral(f"not a literal: {describe(node)}")


def _constant(node: ast.Constant) -> Any:
    value = node.value
    if isinstance(value, float) and not math.isfinite(value):
        raise NotALiteral(f"not a finite number: {describe(node)}")
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise NotALiteral(f"unsupported constant: {describe(node)}")


def _dict(node: ast.Dict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key_node, value_node in zip(node.keys, node.values):
        if key_node is None:
            raise NotALiteral(f"not a literal: dict unpacking `**{ast.unparse(value_node)}`")
        key = literal_value(key_node)
        if isinstance(key, (list, dict)):
            raise NotALiteral(f"unhashable dict key: {describe(key_node)}")
        # JSON objects have string keys; 1 and "1" would collide after a round trip anyway.
        out[key if isinstance(key, str) else _json_key(key)] = literal_value(value_node)
    return out


def _json_key(key: Any) -> str:
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)
