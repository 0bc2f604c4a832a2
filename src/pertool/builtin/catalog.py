"""The built-in catalog: scenarios -> platforms -> APIs, written by us as package data.

One JSON file per scenario in `pertool/data/builtin/`. Every platform of a scenario offers the
same 24 functions (functionally overlapping, as in PTBench), so the platform is a choice the
model must make from the user, not something the function name gives away: 5 scenarios x 3
platforms x 24 APIs = 360 platform APIs.

Each API parameter says where its gold value comes from (`x-source`):

    item / category          the query's item and its category (drawn per query)
    pool:<name>              a value drawn from the scenario's pool <name>, stated in the query
    profile:<feature>        the user's basic feature <feature>, never stated in the query
    optional                 never part of a gold answer

`phrasings` are query templates with `{placeholders}` for the query-sourced parameters (by
source name: {item}, {category}, {<pool name>}) and an optional `{need}` slot where a stated need
("today", "as cheap as possible") goes. `x-source` annotations are stripped from the specs that
models see.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["FEATURES", "NEEDS", "SCENARIOS", "Api", "Chain", "Scenario", "load_catalog"]

SCENARIOS = ("shopping", "takeout", "entertainment", "work", "travel")
NEEDS = ("price", "speed", "quality")
# Basic features every built-in user has; `profile:<feature>` sources must name one of these.
FEATURES = (
    "name", "username", "age", "gender", "occupation", "home_address", "work_address", "home_city",
    "phone", "email", "payment_method", "language", "dietary_needs", "seat_preference",
    "room_preference", "music_genre", "movie_genre", "cuisine", "company", "team", "manager_email",
    "calendar", "loyalty_id", "shoe_size", "clothing_size",
)  # fmt: skip
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Category(_Strict):
    items: list[str] = Field(min_length=6)
    keywords: list[str] = Field(default_factory=list)


class PlatformSpec(_Strict):
    name: str
    profile: dict[str, str]
    # 1 (low) .. 3 (high). price: 1 is cheapest. Each platform is the best on exactly one need.
    traits: dict[str, int]

    @model_validator(mode="after")
    def _needs(self) -> PlatformSpec:
        if set(self.traits) != set(NEEDS) or not all(1 <= v <= 3 for v in self.traits.values()):
            raise ValueError(f"{self.name}: traits must rate {NEEDS} from 1 to 3")
        return self


class Api(_Strict):
    name: str
    description: str
    parameters: dict[str, dict[str, Any]]
    required: list[str] = Field(default_factory=list)
    phrasings: list[str] = Field(min_length=3)

    def source(self, param: str) -> str:
        return str(self.parameters[param]["x-source"])

    def gold_params(self) -> list[str]:
        return [p for p in self.parameters if self.source(p) != "optional"]

    def tool(self) -> dict[str, Any]:
        """The OpenAI function spec a model sees (no x- annotations)."""
        properties = {p: {k: v for k, v in spec.items() if not k.startswith("x-")}
                      for p, spec in self.parameters.items()}  # fmt: skip
        return {"type": "function", "function": {
            "name": self.name, "description": self.description,
            "parameters": {"type": "object", "properties": properties, "required": self.required}}}


class Chain(_Strict):
    """A natural multi-call solution (search then order): the calls share query values."""

    calls: list[str] = Field(min_length=2)
    phrasings: list[str] = Field(min_length=2)


class Scenario(_Strict):
    scenario: str
    categories: dict[str, Category] = Field(min_length=4)
    platforms: list[PlatformSpec] = Field(min_length=3, max_length=3)
    needs: dict[str, list[str]]
    pools: dict[str, list[Any]]
    apis: list[Api] = Field(min_length=24, max_length=24)
    chains: list[Chain] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        names = [a.name for a in self.apis]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.scenario}: duplicate API names")
        if set(self.needs) != set(NEEDS):
            raise ValueError(f"{self.scenario}: needs must cover {NEEDS}")
        for need in NEEDS:
            best = [p.name for p in self.platforms if p.traits[need] == _best(need)]
            if len(best) != 1:
                raise ValueError(f"{self.scenario}: need {need} must single out one platform, got {best}")
        for api in self.apis:
            self._check_api(api)
        for chain in self.chains:
            unknown = [c for c in chain.calls if c not in names]
            if unknown:
                raise ValueError(f"{self.scenario}: chain names unknown APIs {unknown}")
        return self

    def _check_api(self, api: Api) -> None:
        where = f"{self.scenario}.{api.name}"
        query_sources = set()
        for param, spec in api.parameters.items():
            source = spec.get("x-source")
            if not isinstance(source, str):
                raise ValueError(f"{where}.{param}: missing x-source")
            if source.startswith("profile:") and source[8:] not in FEATURES:
                raise ValueError(f"{where}.{param}: unknown profile feature {source[8:]!r}")
            if source.startswith("pool:") and source[5:] not in self.pools:
                raise ValueError(f"{where}.{param}: unknown pool {source[5:]!r}")
            if source.startswith("pool:"):
                query_sources.add(source[5:])
            elif source in ("item", "category"):
                query_sources.add(source)
            elif source != "optional" and not source.startswith("profile:"):
                raise ValueError(f"{where}.{param}: unknown x-source {source!r}")
            if spec.get("type") not in ("string", "integer", "number", "boolean"):
                raise ValueError(f"{where}.{param}: unsupported type {spec.get('type')!r}")
        for phrasing in api.phrasings:
            slots = set(_PLACEHOLDER.findall(phrasing)) - {"need"}
            if slots != query_sources:
                raise ValueError(f"{where}: phrasing {phrasing!r} must name exactly {sorted(query_sources)}")
        if not set(api.required) <= set(api.parameters):
            raise ValueError(f"{where}: required names unknown parameters")


def _best(need: str) -> int:
    return 1 if need == "price" else 3


@cache
def load_catalog() -> tuple[Scenario, ...]:
    folder = resources.files("pertool") / "data" / "builtin"
    return tuple(Scenario.model_validate(json.loads((folder / f"{name}.json").read_text("utf-8")))
                 for name in SCENARIOS)  # fmt: skip
