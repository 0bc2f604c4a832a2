"""The data model every part of pertool shares.

A benchmark adapter turns its source format into `Sample`s; a parser turns model output into a
`Prediction`; scorers read both. Everything here round-trips through JSON without loss:
source-specific fields a model does not name are kept (``extra="allow"`` or `Sample.extra`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Call",
    "Environment",
    "FunctionSpec",
    "GoldCall",
    "HistoryRecord",
    "Platform",
    "Prediction",
    "Profile",
    "Provenance",
    "Sample",
    "Tool",
]

# Where the value of a gold parameter comes from. PTBench labels parameters query- or
# profile-sourced; ToolSpectrum classes them required, personalized or environmental.
Provenance = Literal["query", "profile", "personalized", "environmental", "required"]


class _Open(BaseModel):
    """A record that keeps fields it does not declare (source formats grow new ones)."""

    model_config = ConfigDict(extra="allow")


class FunctionSpec(_Open):
    """An OpenAI function description: name, description, JSON-schema parameters."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class Tool(_Open):
    """A tool as OpenAI's `tools=` takes it: ``{"type": "function", "function": {...}}``."""

    type: str = "function"
    function: FunctionSpec

    @property
    def name(self) -> str:
        return self.function.name


class Platform(_Open):
    """An app or platform; `profile` holds its characteristics (price level, speed, ...)."""

    name: str
    profile: dict[str, Any] | str = Field(default_factory=dict)


class HistoryRecord(_Open):
    """One past action of the user on a platform."""

    platform: str = ""
    action: str = ""


class Profile(_Open):
    """What the assistant knows of the user: explicit features and behaviour history."""

    basic_features: dict[str, Any] = Field(default_factory=dict)
    user_history: dict[str, list[HistoryRecord]] | list[HistoryRecord] = Field(
        default_factory=dict
    )


class Environment(_Open):
    """The situation of the request (weather, network, battery, ...), one field per factor."""


class GoldCall(BaseModel):
    """One expected call. Each argument holds the LIST of accepted values."""

    name: str
    arguments: dict[str, list[Any]] = Field(default_factory=dict)
    # Provenance per argument name; an argument without an entry has an unknown source.
    sources: dict[str, Provenance] = Field(default_factory=dict)


class Sample(BaseModel):
    """One personalized tool-invocation test case, whatever benchmark it comes from."""

    id: str
    benchmark: str
    split: str
    user_id: str | None = None
    query: str
    profile: Profile = Field(default_factory=Profile)
    environment: Environment | None = None
    platforms: list[Platform] = Field(default_factory=list)
    tools: list[Tool] = Field(default_factory=list)
    # None means the gold answer is a refusal (ToolSpectrum policy violations).
    gold_platform: str | None = None
    gold_calls: list[GoldCall] = Field(default_factory=list)
    # Fields of the source format that have no place above, kept for lossless export.
    extra: dict[str, Any] = Field(default_factory=dict)


class Call(BaseModel):
    """One predicted call: a function name and its argument values."""

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Prediction(BaseModel):
    """A parsed model answer. `parse_error` set means the output did not parse."""

    sample_id: str
    raw_output: str
    platform: str | None = None
    calls: list[Call] = Field(default_factory=list)
    refusal: bool = False
    parse_error: str | None = None
    # The answer parsed only after repair (prose or fences around it, Python instead of JSON
    # spelling): counted apart so that strict format accuracy stays honest.
    repaired: bool = False

    @property
    def parsed(self) -> bool:
        return self.parse_error is None
