"""Generate the built-in benchmark: users, histories, verified queries, splits.

Defaults follow the paper's Table 1: 80 users of whom 6 are untrained; 7,096 train queries and
1,083 test queries (474 from trained users, 609 from untrained ones). Everything is drawn from
one `random.Random(seed)` in a fixed order, so a seed gives byte-identical files.

`MINI` is the compact setting for CPU experiments (`builtin-mini`): the same catalog, users,
preferences, rules and verification, with prompts of about 1,000 SmolLM2 tokens at most: each
sample shows only its scenario's part of the profile (the features its functions can use and
its history), one history record per category, 3 functions (the gold ones and distractors)
with short parameter docs, and smaller splits. The compact options draw nothing from the seed
when left at their defaults, so the default generation is unchanged by their existence.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Collection
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from pertool.builtin.catalog import FEATURES, Scenario, load_catalog
from pertool.builtin.queries import RECORDS_PER_CATEGORY, draft_query, history_for
from pertool.builtin.rules import first_failure
from pertool.builtin.users import User, make_users
from pertool.errors import PertoolError
from pertool.schema import GoldCall, HistoryRecord, Platform, Profile, Sample, Tool

__all__ = ["GeneratorSettings", "Generated", "generate", "GENERATOR_VERSION", "MINI"]

GENERATOR_VERSION = "3"
BENCHMARK = "builtin"
_MAX_TRIES = 50  # drafts per emitted sample before giving up on a user


@dataclass(frozen=True)
class GeneratorSettings:
    seed: int = 0
    users: int = 80
    untrained_users: int = 6
    train: int = 7096
    test_trained: int = 474
    test_untrained: int = 609
    # Compact prompts (see MINI). The defaults give the paper-sized prompts.
    profile_scope: Literal["all", "scenario"] = "all"  # scenario: its features and history only
    records_per_category: tuple[int, int] = RECORDS_PER_CATEGORY  # history records, min and max
    tools_per_sample: int = 0  # 0: every function of the scenario; else gold ones + distractors
    tool_docs: Literal["full", "short"] = "full"  # short: no parameter descriptions

    def check(self) -> None:
        if not 1 <= self.untrained_users < self.users <= 240:
            raise PertoolError("need 1 <= untrained users < users <= 240")
        if min(self.train, self.test_trained, self.test_untrained) < 0:
            raise PertoolError("split sizes must be >= 0")
        low, high = self.records_per_category
        if not 1 <= low <= high <= 6:
            raise PertoolError("need 1 <= records per category (min) <= (max) <= 6")
        if self.tools_per_sample < 0:
            raise PertoolError("tools per sample must be >= 0")
        if self.profile_scope not in ("all", "scenario") or self.tool_docs not in ("full", "short"):
            raise PertoolError("profile scope must be all or scenario, tool docs full or short")

    def manifest(self) -> dict[str, Any]:
        """The settings as manifest.json records them: compact options only when set, so that a
        default generation's manifest stays what it was before they existed."""
        compact = {f.name for f in fields(self)[_COMPACT_FROM:]}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()
                if k not in compact or v != _DEFAULTS[k]}  # fmt: skip


_COMPACT_FROM = 6  # index of the first compact option among the fields
_DEFAULTS = asdict(GeneratorSettings())
# builtin-mini: about 1,000 SmolLM2 tokens per prompt at most; sized for a CPU (a few hundred
# training records, a test set of 200, half of it from untrained users).
MINI = GeneratorSettings(users=20, untrained_users=4, train=600, test_trained=100, test_untrained=100,
                         profile_scope="scenario", records_per_category=(1, 1), tools_per_sample=3,
                         tool_docs="short")  # fmt: skip


@dataclass
class Generated:
    settings: GeneratorSettings
    train: list[Sample]
    test: list[Sample]
    rejected: Counter[str] = field(default_factory=Counter)
    profiles: dict[str, Profile] = field(default_factory=dict)  # whole profiles by user id
    # profile_scope "scenario": per scenario, the basic features its samples show
    profile_features: dict[str, list[str]] = field(default_factory=dict)


class _World:
    """Shared, immutable pieces: one Tool/Platform list per scenario, one Profile per user."""

    def __init__(self, scenarios: tuple[Scenario, ...], settings: GeneratorSettings):
        self.scenarios = scenarios
        self.settings = settings
        self.tools = {s.scenario: [Tool.model_validate(_doc(a.tool(), settings.tool_docs)) for a in s.apis]
                      for s in scenarios}  # fmt: skip
        self.platforms = {s.scenario: [Platform(name=p.name, profile=dict(p.profile)) for p in s.platforms]
                          for s in scenarios}  # fmt: skip
        # The basic features a scenario's functions can take from the profile (profile_scope).
        self.features = {s.scenario: {a.source(p)[8:] for a in s.apis for p in a.parameters
                                      if a.source(p).startswith("profile:")} for s in scenarios}  # fmt: skip


def _doc(spec: dict[str, Any], docs: str) -> dict[str, Any]:
    """A function spec with short docs: parameter descriptions dropped (types and enums stay)."""
    if docs == "full":
        return spec
    params = spec["function"]["parameters"]
    properties = {name: {k: v for k, v in p.items() if k != "description"}
                  for name, p in params["properties"].items()}  # fmt: skip
    return {**spec, "function": {**spec["function"], "parameters": {**params, "properties": properties}}}


def generate(settings: GeneratorSettings = GeneratorSettings()) -> Generated:
    settings.check()
    rng = random.Random(settings.seed)
    world = _World(load_catalog(), settings)
    users = make_users(settings.users, world.scenarios, rng)
    people = [_Person(user, world, rng) for user in users]
    trained, untrained = people[: -settings.untrained_users], people[-settings.untrained_users :]
    out = Generated(settings, [], [], profiles={p.user_id: p.profile for p in people})
    if settings.profile_scope == "scenario":
        out.profile_features = {s: [f for f in FEATURES if f in world.features[s]] for s in world.features}
    out.train = _split(trained, settings.train, "train", world, rng, out.rejected)
    out.test = _split(trained, settings.test_trained, "trained", world, rng, out.rejected)
    out.test += _split(untrained, settings.test_untrained, "untrained", world, rng, out.rejected)
    return out


class _Person:
    """A user with a profile (basic features + history) and the items the history mentions."""

    def __init__(self, user: User, world: _World, rng: random.Random):
        self.user = user
        self.world = world
        self.seen: dict[str, dict[str, list[str]]] = {}
        history: dict[str, list[HistoryRecord]] = {}
        for scenario in world.scenarios:
            records, self.seen[scenario.scenario] = history_for(user, scenario, rng,
                                                                world.settings.records_per_category)
            history[scenario.scenario] = [HistoryRecord(**r) for r in records]
        self.profile = Profile(basic_features=dict(user.features), user_history=history)
        self.queries: set[str] = set()
        self._scoped: dict[str, Profile] = {}

    def profile_for(self, scenario: str) -> Profile:
        """What a sample of `scenario` shows of the user (one shared object per scenario)."""
        if self.world.settings.profile_scope == "all":
            return self.profile
        if scenario not in self._scoped:
            self._scoped[scenario] = scoped_profile(self.profile, scenario, self.world.features[scenario])
        return self._scoped[scenario]

    @property
    def user_id(self) -> str:
        return f"user-{self.user.index:03d}"


def _split(people: list[_Person], count: int, split: str, world: _World, rng: random.Random,
           rejected: Counter[str]) -> list[Sample]:  # fmt: skip
    """`count` samples, dealt round-robin over `people`."""
    samples = []
    for index in range(count):
        person = people[index % len(people)]
        samples.append(_verified_sample(person, f"{split}:{index}", split, world, rng, rejected))
    return samples


def _verified_sample(person: _Person, sample_id: str, split: str, world: _World, rng: random.Random,
                     rejected: Counter[str]) -> Sample:  # fmt: skip
    for _ in range(_MAX_TRIES):
        scenario = rng.choice(world.scenarios)
        draft = draft_query(person.user, scenario, person.seen[scenario.scenario], rng)
        if draft.query in person.queries:
            rejected["duplicate_query"] += 1
            continue
        sample = Sample(
            id=sample_id, benchmark=BENCHMARK, split=split, user_id=person.user_id, query=draft.query,
            profile=person.profile_for(scenario.scenario),
            platforms=rng.sample(world.platforms[scenario.scenario], 3),
            tools=_tools_shown(world.tools[scenario.scenario], draft.calls, world.settings, rng),
            gold_platform=draft.platform, gold_calls=draft.calls,
            extra={"builtin": {"scenario": draft.scenario, "category": draft.category, "need": draft.need}},
        )  # fmt: skip
        failure = first_failure(sample)
        if failure is None:
            person.queries.add(draft.query)
            return sample
        rejected[failure] += 1
    raise PertoolError(f"could not draw a valid query for {person.user_id} in {_MAX_TRIES} tries")


def _tools_shown(tools: list[Tool], calls: list[GoldCall], settings: GeneratorSettings,
                 rng: random.Random) -> list[Tool]:  # fmt: skip
    """All of the scenario's functions, or (tools_per_sample) the gold ones and distractors
    drawn from the rest, in catalog order so that position says nothing."""
    if not settings.tools_per_sample:
        return tools
    gold = {c.name for c in calls}
    others = [t.function.name for t in tools if t.function.name not in gold]
    shown = gold | set(rng.sample(others, max(0, min(len(others), settings.tools_per_sample - len(gold)))))
    return [t for t in tools if t.function.name in shown]


def scoped_profile(profile: Profile, scenario: str, features: Collection[str]) -> Profile:
    """The part of a profile that concerns one scenario: the basic features its functions can
    use (in the profile's order) and its history."""
    history = profile.user_history
    if isinstance(history, dict):
        history = {scenario: history.get(scenario, [])}
    return Profile(basic_features={k: v for k, v in profile.basic_features.items() if k in features},
                   user_history=history)
