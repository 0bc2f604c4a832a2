"""The records PTool's stages read and write (one JSON line each, in the pipeline directory).

    config            SynthConfig (YAML): scenarios, sizes, thresholds, options
    platforms.jsonl   PlatformRecord    stage `tools`
    apis.jsonl        ApiRecord         stage `tools` (leaves of the functionality tree)
    features.jsonl    FeatureRecord     stage `features` (the feature tree, explicit / implicit)
    users.jsonl       UserRecord        stage `users` (values assigned top-down, k_l per layer)
    chains.jsonl      ChainRecord       stage `tools` (pairs of APIs one request can need together)
    environments.jsonl EnvironmentRecord stage `tools`, ToolSpectrum mode (factors per scenario)
    policies.jsonl    PolicyRecord      stage `tools`, ToolSpectrum mode (prohibitions, checkable)
    histories.jsonl   HistoryRecord     stage `histories` (role-played behaviour, per condition)
    queries.jsonl     QueryRecord       stage `queries` (user agent)
    solutions.jsonl   SolutionRecord    stage `solutions` (assistant agent + provenance annotation)
    verdicts.jsonl    VerdictRecord     stage `verify` (rules, then the LLM judge)
    *_rejections.jsonl RejectionRecord  working files: keys a stage rejected for good (resume)
    dataset/          the accepted samples, in the built-in benchmark's format (stage `dataset`)

Every record has a stable `key`: a stage resumes by skipping keys it already wrote.

Where a value comes from is declared once, on the API parameter (`x-source`, see ApiRecord):
"query" (the user states it), "profile:<feature>" (an explicit profile feature, named by what it
is: "home address", not "delivery_address"), or "environment:<factor>" (a factor of the
situation, ToolSpectrum mode). Preferences are conditional (paper Definition 3.1): a user
prefers a platform per scenario AND condition, where a scenario's conditions are its API
categories (the functionality tree's first level, `ApiRecord.category`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ApiRecord", "FeatureRecord", "HistoryRecord", "PlatformRecord", "QueryRecord", "SolutionRecord",
    "SynthConfig", "UserRecord", "VerdictRecord", "ScenarioConfig", "CallRecord", "ChainRecord",
    "EnvironmentRecord", "PolicyRecord", "RejectionRecord", "Threshold",
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
    environment: bool = False  # ToolSpectrum mode: demographics, environments, policies, refusals
    chain_share: float = Field(0.2, ge=0.0, le=1.0)  # queries needing two calls, where chains exist
    need_share: float = Field(0.2, ge=0.0, le=1.0)  # queries whose stated need decides the platform
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
    """A leaf API. Each property of `function.parameters` declares `x-source` ("query",
    "profile:<feature name>" or "environment:<factor name>") and `examples` (a few realistic
    values: for a query parameter, the range the user agent chooses within). An environmental
    parameter also has `x-values` {factor value: parameter value}: what each situation implies."""

    key: str  # "<scenario>/<name>"
    scenario: str
    path: list[str]  # the functionality tree path that led to this leaf
    function: dict[str, Any]  # an OpenAI function spec: name, description, parameters
    merged_from: list[str] = Field(default_factory=list)  # near-duplicates folded into this one

    @property
    def category(self) -> str:
        """The API's condition: its first-level functionality ("" for a one-level tree)."""
        return self.path[0] if self.path else ""


class ChainRecord(_Record):
    """Two APIs of one scenario a single request can need in order (search, then order): the
    second takes the first's `shared` query parameters with the same values."""

    key: str  # "<scenario>/<first name>+<second name>"
    scenario: str
    apis: list[str]  # the ApiRecord keys, in call order (two)
    shared: list[str] = Field(default_factory=list)  # parameter names both calls state alike


class EnvironmentRecord(_Record):
    """ToolSpectrum mode: the situation factors of one scenario and how they steer it."""

    key: str  # the scenario
    factors: dict[str, list[str]]  # e.g. "Weather": ["sunny", "snowstorm"], "Battery Level": [...]
    # A situation that decides the app: {"factor", "value", "platform"}; the rest leave it to the user.
    platform_rules: list[dict[str, str]] = Field(default_factory=list)
    # The environmental API parameters every API of the scenario takes (added by `ts`): name ->
    # a JSON-schema property with "x-source": "environment:<factor>" and "x-values".
    parameters: dict[str, dict[str, Any]] = Field(default_factory=dict)


class Threshold(BaseModel):
    """A numeric limit on a fact: the policy forbids the values `op` `value` (age < 18)."""

    model_config = ConfigDict(extra="forbid")
    op: Literal["<", "<=", ">", ">="]
    value: float


class PolicyRecord(_Record):
    """ToolSpectrum mode: a prohibition of some platforms, checkable against one fact."""

    key: str  # "<scenario>/<platform>/<i>"
    scenario: str
    platforms: list[str]  # the platforms that enforce it (a refusal needs every one offering the API)
    text: str  # the rule as the platform states it
    fact: str  # the profile feature or environment factor it tests ("age", "Battery Level")
    source: Literal["profile", "environment"]
    forbidden: list[Any]  # the fact's values under which the APIs are refused
    apis: list[str]  # the function names it restricts
    # ts3: a numeric fact's forbidden range (age < 18), besides or instead of `forbidden`
    threshold: Threshold | None = None


class FeatureRecord(_Record):
    """A node of the feature tree, named by what it is ("home address", "price sensitivity").
    Values are top-down: a root's `values`; a child's values generated for each of its parent's
    values (`values_by_parent`), so a profile never contradicts itself."""

    key: str  # "<layer>/<name>"
    name: str
    kind: Literal["explicit", "implicit"]
    layer: int  # 0 = root level (fewest, broadest nodes)
    children: list[str] = Field(default_factory=list)
    values: list[str] = Field(default_factory=list)
    parent: str | None = None  # the parent feature's name (None at layer 0)
    values_by_parent: dict[str, list[str]] = Field(default_factory=dict)  # parent value -> values


class UserRecord(_Record):
    key: str  # "user-<nnn>"
    explicit: dict[str, Any]  # observable basic features (name, home address, age, occupation, ...)
    implicit: dict[str, Any]  # latent preferences per scenario (price sensitivity, urgency, ...)
    # Conditional platform preferences (paper Definition 3.1): scenario -> condition -> platform,
    # one entry per category of the scenario's APIs; "" is the default for anything else.
    preferences: dict[str, dict[str, str]] = Field(default_factory=dict)


class HistoryRecord(_Record):
    key: str  # "<user>/<scenario>/<i>"
    user: str
    scenario: str
    platform: str
    action: str
    condition: str = ""  # the category the action belongs to (role-played per condition)


class QueryRecord(_Record):
    key: str  # "<user>/<i>"
    user: str
    scenario: str
    platform: str  # the target platform the user agent was given
    apis: list[str]  # ApiRecord keys, in call order (two for a chain)
    query: str
    environment: dict[str, Any] | None = None
    violates_policy: bool = False
    condition: str = ""  # the category whose preference decides the platform
    need: dict[str, str] | None = None  # a stated need that decides: {characteristic, value, phrasing}
    values: dict[str, Any] = Field(default_factory=dict)  # query values the user agent chose
    platform_order: list[str] = Field(default_factory=list)  # as shown to the model (shuffled)
    subset: str = ""  # ToolSpectrum mode: persona, environment or persona_environment
    policy: str = ""  # ToolSpectrum mode: the PolicyRecord key a refusal rests on


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


class RejectionRecord(_Record):
    """A key a stage rejected for good, with the reasons counted for it: a resumed run neither
    asks it again nor counts it twice."""

    key: str
    reasons: list[str] = Field(default_factory=list)
