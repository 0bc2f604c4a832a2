"""Stage `dataset`: the accepted query/solution pairs as samples of the built-in benchmark's
schema, split into trained and untrained users, written into the pipeline directory itself
(so `dataset:DIR` loads it) and summarised in manifest.json.

Splits: `untrained_users` users drawn at random (seeded) only appear in the test split
(`untrained`); each trained user's queries go to the test split (`trained`) with probability
`test_share`, otherwise to `train`; the draw is seeded. No query text (normalized) is in both
train and test: a trained user's test query that train also has moves to train (still accepted:
counted in manifest.json as "moved_to_train", not as a rejection), and train samples repeating
an untrained user's query are dropped (each counted as rejected "duplicate_across_splits"). A
refusal gold (a policy-violating instruction) keeps
`gold_platform` null. Platforms are listed in the sample's `platform_order`; `extra.synth`
carries the query's condition and stated need.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pertool.benchmarks.dataset import write_samples
from pertool.schema import Environment, GoldCall, HistoryRecord, Platform, Profile, Sample, Tool
from pertool.synth.pipeline import StageContext
from pertool.synth.records import (
    ApiRecord,
    PlatformRecord,
    QueryRecord,
    SolutionRecord,
    UserRecord,
    VerdictRecord,
)
from pertool.synth.records import HistoryRecord as SynthHistory
from pertool.synth.stages.queries import normalized_query

__all__ = ["run", "BENCHMARK"]

BENCHMARK = "synth"
_SOURCES = {"query": "query", "profile": "profile", "environmental": "environmental"}


async def run(ctx: StageContext) -> None:
    d = ctx.dir
    users = d.read("users", UserRecord)
    queries = d.read("queries", QueryRecord)
    solutions = d.read("solutions", SolutionRecord)
    verdicts = d.read("verdicts", VerdictRecord)
    platforms, tools = _scenarios(d.read("platforms", PlatformRecord), d.read("apis", ApiRecord))
    profiles = _profiles(users, d.read("histories", SynthHistory))
    rng = ctx.rng
    untrained = set(rng.sample(sorted(users), min(ctx.config.untrained_users, len(users))))
    chosen: dict[str, list[QueryRecord]] = {"train": [], "trained": [], "untrained": []}
    for key in sorted(queries):
        verdict, solution, query = verdicts.get(key), solutions.get(key), queries[key]
        if verdict is None or solution is None or not verdict.accepted:
            continue
        split = "untrained" if query.user in untrained else (
            "trained" if rng.random() < ctx.config.test_share else "train")
        chosen[split].append(query)
    moved, dropped = _separate(chosen)
    if dropped:
        ctx.stats.rejected["duplicate_across_splits"] += dropped
    splits: dict[str, list[Sample]] = {}
    for split, picked in chosen.items():
        splits[split] = [_sample(f"{split}:{i}", split, q, solutions[q.key], profiles, platforms, tools)
                         for i, q in enumerate(sorted(picked, key=lambda q: q.key))]  # fmt: skip
        ctx.stats.accepted += len(splits[split])
    manifest = {"benchmark": BENCHMARK, "config": ctx.config.model_dump(mode="json"),
                "counts": {k: len(v) for k, v in splits.items()}, "moved_to_train": moved}  # fmt: skip
    write_samples(splits["train"], splits["trained"] + splits["untrained"], ctx.dir.path, "pertool", manifest)
    if ctx.config.environment:  # ToolSpectrum mode (ts): also ToolSpectrum's own layout
        from pertool.synth.toolspectrum_writer import write_toolspectrum

        write_toolspectrum(ctx.dir)
    ctx.save()


def _separate(chosen: dict[str, list[QueryRecord]]) -> tuple[int, int]:
    """Keep every query text out of train or out of test: a trained user's test query that train
    has too moves to train; train queries an untrained user's test query repeats are dropped.
    Returns how many were moved, then how many dropped."""
    train = {normalized_query(q.query) for q in chosen["train"]}
    moving = [q for q in chosen["trained"] if normalized_query(q.query) in train]
    chosen["trained"] = [q for q in chosen["trained"] if q not in moving]
    chosen["train"] += moving
    held = {normalized_query(q.query) for q in chosen["untrained"] + chosen["trained"]}
    kept = [q for q in chosen["train"] if normalized_query(q.query) not in held]
    dropped = len(chosen["train"]) - len(kept)
    chosen["train"] = kept
    return len(moving), dropped


def _scenarios(
    platforms: dict[str, PlatformRecord], apis: dict[str, ApiRecord]
) -> tuple[dict[str, list[Platform]], dict[str, list[Tool]]]:
    by_platform: dict[str, list[Platform]] = defaultdict(list)
    for record in platforms.values():
        profile: dict[str, Any] = dict(record.characteristics)
        if record.policy:
            profile["policy"] = list(record.policy)
        by_platform[record.scenario].append(Platform(name=record.name, profile=profile))
    by_tool: dict[str, list[Tool]] = defaultdict(list)
    for api in apis.values():
        by_tool[api.scenario].append(Tool.model_validate({"type": "function", "function": api.function}))
    return dict(by_platform), dict(by_tool)


def _profiles(users: dict[str, UserRecord], histories: dict[str, SynthHistory]) -> dict[str, Profile]:
    history: dict[str, dict[str, list[HistoryRecord]]] = defaultdict(lambda: defaultdict(list))
    for key in sorted(histories):
        h = histories[key]
        history[h.user][h.scenario].append(HistoryRecord(platform=h.platform, action=h.action))
    # The model sees the explicit features and the history; implicit ones stay hidden.
    return {key: Profile(basic_features=dict(u.explicit), user_history=dict(history[key]))
            for key, u in users.items()}  # fmt: skip


def _sample(sample_id: str, split: str, query: QueryRecord, solution: SolutionRecord,
            profiles: dict[str, Profile], platforms: dict[str, list[Platform]],
            tools: dict[str, list[Tool]]) -> Sample:  # fmt: skip
    calls = [GoldCall(name=c.name, arguments={k: [v] for k, v in c.arguments.items()},
                      sources={k: _SOURCES[s] for k, s in c.sources.items()})  # type: ignore[misc]
             for c in solution.calls]  # fmt: skip
    order = {name: i for i, name in enumerate(query.platform_order)}
    shown = sorted(platforms.get(query.scenario, []), key=lambda p: order.get(p.name, len(order)))
    return Sample(
        id=sample_id, benchmark=BENCHMARK, split=split, user_id=query.user, query=query.query,
        profile=profiles[query.user], platforms=shown,
        tools=tools.get(query.scenario, []),
        environment=Environment.model_validate(query.environment) if query.environment else None,
        gold_platform=solution.platform, gold_calls=calls if solution.platform is not None else [],
        extra={"scenario": query.scenario, "synth": {"query": query.key, "target": query.platform,
                                                    "violates_policy": query.violates_policy,
                                                    "condition": query.condition, "need": query.need}},
    )  # fmt: skip
