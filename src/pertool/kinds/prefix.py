"""Pieces of a prompt-order sort key (`BenchmarkKind.prefix_key`)."""

from __future__ import annotations

import json
from typing import Any

from pertool.schema import Sample

__all__ = ["canonical_json", "user_key"]


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def user_key(sample: Sample) -> str:
    """The profile's identity: its user id (one profile per user in a benchmark, under any
    profile view), else the profile itself."""
    if sample.user_id is not None:
        return "id:" + sample.user_id
    return "profile:" + canonical_json(sample.profile.model_dump(mode="json"))
