"""Generate the built-in benchmark: users, histories, verified queries, splits.

Defaults follow the paper's Table 1: 80 users of whom 6 are untrained; 7,096 train queries and
1,083 test queries (474 from trained users, 609 from untrained ones). Everything is drawn from
one `random.Random(seed)` in a fixed order, so a seed gives byte-identical files.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from pertool.builtin.catalog import Scenario, load_catalog
from pertool.builtin.queries import draft_query, history_for
from pertool.builtin.rules import first_failure
from pertool.builtin.users import User, make_users
from pertool.errors import PertoolError
from pertool.schema import HistoryRecord, Platform, Profile, Sample, Tool

__all__ = ["GeneratorSettings", "Generated", "generate", "GENERATOR_VERSION"]

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

    def check(self) -> None:
        if not 1 <= self.untrained_users < self.users <= 240:
            raise PertoolError("need 1 <= untrained users < users <= 240")
        if min(self.train, self.test_trained, self.test_untrained) < 0:
            raise PertoolError("split sizes must be >= 0")


@dataclass
class Generated:
    settings: GeneratorSettings
    train: list[Sample]
    test: list[Sample]
    rejected: Counter[str] = field(default_factory=Counter)


class _World:
    """Shared, immutable pieces: one Tool/Platform list per scenario, one Profile per user."""

    def __init__(self, scenarios: tuple[Scenario, ...]):
        self.scenarios = scenarios
        self.tools = {s.scenario: [Tool.model_validate(a.tool()) for a in s.apis] for s in scenarios}
        self.platforms = {s.scenario: [Platform(name=p.name, profile=dict(p.profile)) for p in s.platforms]
                          for s in scenarios}  # fmt: skip


def generate(settings: GeneratorSettings = GeneratorSettings()) -> Generated:
    settings.check()
    rng = random.Random(settings.seed)
    world = _World(load_catalog())
    users = make_users(settings.users, world.scenarios, rng)
    people = [_Person(user, world, rng) for user in users]
    trained, untrained = people[: -settings.untrained_users], people[-settings.untrained_users :]
    out = Generated(settings, [], [])
    out.train = _split(trained, settings.train, "train", world, rng, out.rejected)
    out.test = _split(trained, settings.test_trained, "trained", world, rng, out.rejected)
    out.test += _split(untrained, settings.test_untrained, "untrained", world, rng, out.rejected)
    return out


class _Person:
    """A user with a profile (basic features + history) and the items the history mentions."""

    def __init__(self, user: User, world: _World, rng: random.Random):
        self.user = user
        self.seen: dict[str, dict[str, list[str]]] = {}
        history: dict[str, list[HistoryRecord]] = {}
        for scenario in world.scenarios:
            records, self.seen[scenario.scenario] = history_for(user, scenario, rng)
            history[scenario.scenario] = [HistoryRecord(**r) for r in records]
        self.profile = Profile(basic_features=dict(user.features), user_history=history)
        self.queries: set[str] = set()

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
            profile=person.profile, platforms=rng.sample(world.platforms[scenario.scenario], 3),
            tools=world.tools[scenario.scenario], gold_platform=draft.platform, gold_calls=draft.calls,
            extra={"builtin": {"scenario": draft.scenario, "category": draft.category, "need": draft.need}},
        )  # fmt: skip
        failure = first_failure(sample)
        if failure is None:
            person.queries.add(draft.query)
            return sample
        rejected[failure] += 1
    raise PertoolError(f"could not draw a valid query for {person.user_id} in {_MAX_TRIES} tries")
