"""Render calls in PTBench's answer format; `parse_ptbench(render_ptbench(p, c))` gives back
(p, c). Used to write gold answers as training targets, native tool calls as answers, and to
test the parser.

An argument whose name is not a Python identifier (`first-name`) or is a keyword (`class`) is
written the way Python itself spells it, `f(a=1, **{'class': 'x'})`, which the parser reads
back. A function name must be a (dotted) identifier; anything that cannot be written raises
`ValueError`."""

from __future__ import annotations

import json
import keyword
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pertool.schema import Call, GoldCall
from pertool.values import not_finite

__all__ = ["render_ptbench", "render_toolspectrum", "render_value", "gold_as_calls", "writable_name"]

# Written bare only when the parser reads it back unchanged (it strips quotes, `*` and spaces).
_BARE_PLATFORM = re.compile(r"[^\s:'\"{}\[\]`*]+\Z")
_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\Z")


def render_ptbench(platform: str, calls: Iterable[Call]) -> str:
    """`platform:[f(a=1), g()]`; a platform name with spaces or special characters is quoted."""
    name = platform if _BARE_PLATFORM.match(platform) and " " not in platform else repr(platform)
    return f"{name}:[{', '.join(_render_call(c) for c in calls)}]"


def gold_as_calls(gold: Iterable[GoldCall]) -> list[Call]:
    """The first accepted value of every gold argument, as calls. NaN and infinities cannot be
    written, so an argument that accepts nothing else is left out (no answer can match it; the
    loader's quality report lists it)."""
    calls = []
    for g in gold:
        firsts = {k: next((x for x in v if not not_finite(x)), _NONE) for k, v in g.arguments.items()}
        calls.append(Call(name=g.name, arguments={k: x for k, x in firsts.items() if x is not _NONE}))
    return calls


_NONE = object()


def writable_name(name: str) -> bool:
    """Whether `name` can be written as the function of a Python call: `f`, `api.search`."""
    return bool(_DOTTED.match(name)) and not any(keyword.iskeyword(part) for part in name.split("."))


def _render_call(call: Call) -> str:
    if not writable_name(call.name):
        raise ValueError(f"function name {call.name!r} cannot be written as a Python call")
    plain = {k: v for k, v in call.arguments.items() if _plain_parameter(k)}
    args = [f"{k}={render_value(v)}" for k, v in plain.items()]
    other = {k: v for k, v in call.arguments.items() if k not in plain}
    if other:
        args.append(f"**{render_value(other)}")
    return f"{call.name}({', '.join(args)})"


def _plain_parameter(name: Any) -> bool:
    return isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)


def render_value(value: Any) -> str:
    """A Python literal for a JSON-like value."""
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} cannot be written as a literal")
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(render_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{render_value(k)}: {render_value(v)}" for k, v in value.items()) + "}"
    raise ValueError(f"cannot render a value of type {type(value).__name__}")


def render_toolspectrum(app: str | None, calls: Sequence[Call], explanation: str = "") -> str:
    """A ToolSpectrum answer object; `app` None (or no call) is a refusal."""
    if app is None or not calls:
        return json.dumps({"APP": None, "API": None, "params": None, "explanation": explanation})
    return json.dumps({"APP": app, "API": calls[0].name, "params": calls[0].arguments,
                       "explanation": explanation}, ensure_ascii=False)  # fmt: skip
