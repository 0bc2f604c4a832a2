"""The records PTool's stages read and write (one JSON line each, in the pipeline directory).

    config            SynthConfig (YAML): scenarios, sizes, thresholds, options
    platforms.jsonl   PlatformRecord    stage `tools`
    apis.jsonl        ApiRecord         stage `tools` (leaves of the functionality tree)
    features.jsonl    FeatureRecord     stage `features` (the feature tree, explicit / implicit)
    users.jsonl       UserRecord        stage `users` (values assigned top-down, k_l per layer)
    histories.jsonl   HistoryRecord     stage `histories` (role-played behaviour)
    queries.jsonl     QueryRecord       stage `queries` (user agent)
    solutions.jsonl   SolutionRecord    stage `solutions` (assistant agent + provenance annotation)
    verdicts.jsonl    VerdictRecord     stage `verify` (rules, then the LLM judge)
    dataset/          the accepted samples, in the built-in benchmark's format (stage `dataset`)

Every record has a stable `key`: a stage resumes by skipping keys it already wrote.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ApiRecord", "FeatureRecord", "HistoryRecord", "PlatformRecord", "QueryRecord", "SolutionRecord",
    "SynthConfig", "UserRecord", "VerdictRecord", "ScenarioConfig", "CallRecord",
]  # fmt: skip


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScenarioConfig(_Record):
    name: str
    description: str = ""
    platforms: int = Field(2, ge=1, le=6)


class SynthConfig(_Record):
    """What to synthesize. Sizes default to a small run; the paper's are in docs/synthesis.md."""

    scenarios: list[ScenarioConfig] = Field(min_length=1)
    tree_depth: int = Field(2, ge=1, le=4)  # depth of the functionality refinement
    branching: int = Field(2, ge=1, le=6)  # children asked for per functionality node
    feature_threshold: int = Field(4, ge=2)  # max nodes per feature-tree level
    users_per_layer: list[int] = Field(default_factory=lambda: [2, 2])  # k_l, top-down
    history_per_scenario: int = Field(3, ge=1)
    queries_per_user: int = Field(4, ge=1)
    untrained_users: int = Field(1, ge=0)
    test_share: float = Field(0.3, ge=0.0, le=1.0)  # of trained users' queries
    environment: bool = False  # ToolSpectrum-style environment factors and app policies
    judge_cutoff: int = Field(8, ge=1, le=10)  # minimum of the judge's three 1-10 scores
    seed: int = 0
    temperature: float = 0.0
    max_tokens: int = 1024


class PlatformRecord(_Record):
    key: str  # "<scenario>/<name>"
    scenario: str
    name: str
    characteristics: dict[str, str]  # e.g. price level, speed, quality, content style
    policy: list[str] = Field(default_factory=list)  # app policies (environment option)


class ApiRecord(_Record):
    key: str  # "<scenario>/<name>"
    scenario: str
    path: list[str]  # the functionality tree path that led to this leaf
    function: dict[str, Any]  # an OpenAI function spec: name, description, parameters
    merged_from: list[str] = Field(default_factory=list)  # near-duplicates folded into this one


class FeatureRecord(_Record):
    key: str  # "<layer>/<name>"
    name: str
    kind: Literal["explicit", "implicit"]
    layer: int  # 0 = root level (fewest, broadest nodes)
    children: list[str] = Field(default_factory=list)
    values: list[str] = Field(default_factory=list)


class UserRecord(_Record):
    key: str  # "user-<nnn>"
    explicit: dict[str, Any]  # observable basic features (name, address, phone, ...)
    implicit: dict[str, Any]  # latent preferences (price sensitivity, platform affinities, ...)


class HistoryRecord(_Record):
    key: str  # "<user>/<scenario>/<i>"
    user: str
    scenario: str
    platform: str
    action: str


class QueryRecord(_Record):
    key: str  # "<user>/<i>"
    user: str
    scenario: str
    platform: str  # the target platform the user agent was given
    apis: list[str]
    query: str
    environment: dict[str, Any] | None = None
    violates_policy: bool = False


class CallRecord(_Record):
    name: str
    arguments: dict[str, Any]
    sources: dict[str, Literal["query", "profile", "environmental"]] = Field(default_factory=dict)


class SolutionRecord(_Record):
    key: str  # the query's key
    platform: str | None  # None: a refusal
    calls: list[CallRecord]
    annotated_by: dict[str, Literal["evidence", "llm"]] = Field(default_factory=dict)


class VerdictRecord(_Record):
    key: str  # the query's key
    accepted: bool
    reasons: list[str] = Field(default_factory=list)  # why rejected (rule names, judge scores)
    scores: dict[str, int] = Field(default_factory=dict)  # the judge's 1-10 scores
