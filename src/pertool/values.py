"""Is a predicted parameter value one of the accepted gold values?

The one place that decides equality of values, used by every scorer (the compatibility modes,
which must reproduce the public scripts' own rules, are the only exception). The rules:

- strings: case-insensitive, whitespace collapsed and trimmed ("New  York " == "new york");
- numbers by value whatever their JSON type: 20 == 20.0 == "20" (a number against a numeric
  string). Two strings are compared as strings, so "007" and "7" stay different: identifiers
  such as phone numbers and zip codes are strings whose leading zeros matter;
- booleans: True == "true" == "True" (never True == 1: a flag is not a count);
- None only equals None;
- lists (and tuples) are compared order-free, element by element, as multisets;
- dicts need the same keys and recursively equal values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from pertool.matching import max_matching

__all__ = ["NUMERIC_STRING", "accepts", "bool_of", "values_equal", "normalize_text", "not_finite"]

# A string that spells a number (decimal, optional sign and exponent, spaces around).
NUMERIC_STRING = re.compile(r"\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*\Z")
_WS = re.compile(r"\s+")


@lru_cache(maxsize=65536)  # gold strings are compared again and again
def normalize_text(text: str) -> str:
    """Case-fold and collapse whitespace: the canonical form strings are compared in."""
    return _WS.sub(" ", text).strip().casefold()


def accepts(accepted: Iterable[Any], predicted: Any) -> bool:
    """True when `predicted` equals any of the `accepted` values."""
    return any(values_equal(predicted, gold) for gold in accepted)


def values_equal(a: Any, b: Any) -> bool:
    """Equality of two parameter values under the rules of this module (symmetric)."""
    if type(a) is type(b) and a == b:  # fast path: identical values are equal under every rule
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return bool_of(a) is not None and bool_of(a) == bool_of(b)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str) and isinstance(b, str):
        return a == b or normalize_text(a) == normalize_text(b)
    if _is_number(a) or _is_number(b):
        x, y = _number_of(a), _number_of(b)
        return x is not None and y is not None and _numbers_close(x, y)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return _multiset_equal(list(a), list(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(values_equal(a[k], b[k]) for k in a)
    return False


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _number_of(x: Any) -> float | int | None:
    if _is_number(x):
        return x
    if isinstance(x, str) and NUMERIC_STRING.match(x):
        text = x.strip()
        try:
            return int(text)
        except ValueError:
            return float(text)
    return None


def _numbers_close(x: float | int, y: float | int) -> bool:
    if isinstance(x, int) and isinstance(y, int):
        return x == y
    return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9)


def bool_of(x: Any) -> bool | None:
    """A boolean, or the string "true"/"false" (any case, spaces around), as a bool; else None."""
    if isinstance(x, bool):
        return x
    if isinstance(x, str):
        return {"true": True, "false": False}.get(x.strip().lower())
    return None


def _multiset_equal(a: list[Any], b: list[Any]) -> bool:
    """Order-free equality: a perfect matching between equal elements."""
    if len(a) != len(b):
        return False
    edges = [[j for j, y in enumerate(b) if values_equal(x, y)] for x in a]
    return None not in max_matching(edges, len(b))


def not_finite(value: Any, depth: int = 0) -> bool:
    """Whether a value holds NaN or an infinity (at any depth up to 50)."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if depth > 50:
        return False
    children: Iterable[Any] = ()
    if isinstance(value, dict):
        children = value.values()
    elif isinstance(value, list):
        children = value
    return any(not_finite(v, depth + 1) for v in children)
