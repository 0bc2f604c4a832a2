"""Shared checks of loaded records: pydantic errors and type mismatches become one `DataError`
line naming the file, the line or sample, and the field."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from pertool.errors import DataError

__all__ = ["Fail", "check_unique_ids", "expect", "one_line", "validate"]

M = TypeVar("M", bound=BaseModel)
Fail = Callable[[str, str], DataError]  # (field, message) -> the error to raise
_MAX_MESSAGE = 200


def one_line(text: str) -> str:
    """A message fit for one error line: newlines folded, length cut."""
    text = " ".join(str(text).split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def validate(model: type[M], value: Any, fail: Fail, field: str) -> M:
    """`model.model_validate(value)`; the first problem raises `fail(field.path, message)`."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join([field, *(str(p) for p in first["loc"])]).strip(".")
        raise fail(where, one_line(first["msg"])) from None
    except RecursionError:
        raise fail(field, "nested too deeply") from None


def expect(value: Any, kind: type | tuple[type, ...], fail: Fail, field: str) -> Any:
    """`value` if it is of `kind` (a bool is not an int here), else `fail`."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join(_NAMES.get(k, k.__name__) for k in kinds)
        raise fail(field, f"expected {names}, got {_NAMES.get(type(value), type(value).__name__)}")
    return value


_NAMES = {dict: "an object", list: "a list", str: "a string", int: "an integer", float: "a number",
          bool: "a boolean", type(None): "null"}  # fmt: skip


def check_unique_ids(ids: Iterable[tuple[str, str]]) -> None:
    """Duplicate sample ids are an error: `(id, where)` pairs, `where` naming line or index."""
    seen: dict[str, str] = {}
    for sample_id, where in ids:
        if sample_id in seen:
            raise DataError(where, f"duplicate sample id {sample_id!r} (first at {seen[sample_id]})")
        seen[sample_id] = where
