"""A `Sample` as one row of a `datasets` table with declared features, and back.

Identity fields are typed strings. The nested records (profile, environment, platforms, tools,
gold calls, extra) are JSON text: their values are heterogeneous (a ToolSpectrum argument's
accepted values mix strings, numbers and booleans; open records carry fields other samples lack),
and Arrow needs one type per column, so typed structs would coerce `1` to `"1"` or fill absent
keys with nulls. JSON text keeps every value, `1` apart from `1.0` and `true`, key order and NaN.
Three derived name lists (platform, tool and gold-call names) are typed for browsing and
filtering; loading ignores them.
"""

from __future__ import annotations

import json
from typing import Any

from pertool.errors import DataError
from pertool.schema import Sample

__all__ = ["JSON_FIELDS", "STRING_FIELDS", "benchmark_features", "row_of", "sample_of"]

# user_id and gold_platform may be null
STRING_FIELDS = ("id", "benchmark", "split", "user_id", "query", "gold_platform")
JSON_FIELDS = ("profile", "environment", "platforms", "tools", "gold_calls", "extra")
NAME_LISTS = ("platform_names", "tool_names", "gold_call_names")


def benchmark_features(datasets: Any) -> Any:
    """The declared `datasets.Features` of a benchmark export (column order as in the table)."""
    string, names = datasets.Value("string"), datasets.List(datasets.Value("string"))
    columns: dict[str, Any] = {"position": datasets.Value("int64")}
    columns |= {field: string for field in STRING_FIELDS}
    columns |= {field: names for field in NAME_LISTS}
    columns |= {field: string for field in JSON_FIELDS}
    return datasets.Features(columns)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=True)


def row_of(sample: Sample, position: int) -> dict[str, Any]:
    """`position` is the sample's place in the source benchmark (splits may interleave)."""
    data = sample.model_dump()
    row: dict[str, Any] = {"position": position}
    row |= {field: data[field] for field in STRING_FIELDS}
    row["platform_names"] = [p.name for p in sample.platforms]
    row["tool_names"] = [t.name for t in sample.tools]
    row["gold_call_names"] = [c.name for c in sample.gold_calls]
    row |= {field: None if data[field] is None else _json(data[field]) for field in JSON_FIELDS}
    return row


def sample_of(row: dict[str, Any], where: str, index: int) -> Sample:
    """The sample a row holds, validated as any loaded sample is; a bad row is a DataError."""
    record: dict[str, Any] = {field: row.get(field) for field in STRING_FIELDS}
    for field in JSON_FIELDS:
        text = row.get(field)
        if text is None:
            continue  # environment: none; the model's default otherwise
        if not isinstance(text, str):
            raise DataError(where, f"expected JSON text, got {type(text).__name__}", index=index, field=field)
        try:
            record[field] = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(where, f"not valid JSON ({exc.msg})", index=index, field=field) from None
    try:
        return Sample.model_validate(record)
    except ValueError as exc:  # pydantic's ValidationError: name the first problem only
        errors: list[dict[str, Any]] = getattr(exc, "errors", lambda: [])()
        first = errors[0] if errors else {"loc": (), "msg": str(exc).splitlines()[0]}
        field = ".".join(map(str, first["loc"]))
        raise DataError(where, str(first["msg"]), index=index, field=field) from None
