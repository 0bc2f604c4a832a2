"""Difficulty of the built-in test split: naive platform rules and the baselines, per profile view.

    python benchmarks/builtin_difficulty.py [--seed 0]

Prints the platform accuracy of naive rules (first listed platform, the user's most used platform
overall in the scenario) and the Table-2 metrics of oracle, baseline/random and baseline/history
under each profile view. docs/builtin-benchmark.md quotes these figures.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter

from pertool.answerers import create_model
from pertool.benchmarks.views import PROFILE_VIEWS, apply_profile_view
from pertool.builtin.generate import GeneratorSettings, generate
from pertool.kinds.score import score
from pertool.models.registry import ModelOptions
from pertool.runner.task import Task
from pertool.schema import Sample
from pertool.scoring.results import METRIC_KEYS


def naive_rules(samples: list[Sample]) -> dict[str, float]:
    first = most_used = 0
    for s in samples:
        first += s.platforms[0].name == s.gold_platform
        history = s.profile.user_history[s.extra["builtin"]["scenario"]]  # type: ignore[index]
        most_used += Counter(r.platform for r in history).most_common(1)[0][0] == s.gold_platform
    return {"first listed platform": first / len(samples), "most used platform overall": most_used / len(samples)}


async def outputs(model: str, samples: list[Sample]) -> dict[str, str]:
    backend = create_model(model, ModelOptions(), samples)
    task = Task()
    completions = await asyncio.gather(*(backend.complete(task.request(s)) for s in samples))
    return {s.id: c.text for s, c in zip(samples, completions)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    test = generate(GeneratorSettings(seed=args.seed)).test
    needs = sum(s.extra["builtin"]["need"] is not None for s in test)
    print(f"test samples: {len(test)} ({needs} state a need that decides the platform)")
    for rule, accuracy in naive_rules(test).items():
        print(f"platform accuracy of '{rule}': {accuracy:.3f}")
    print("\n| model | view | " + " | ".join(METRIC_KEYS) + " |")
    print("|---|---|" + "---|" * len(METRIC_KEYS))
    for model in ("oracle", "baseline/random", "baseline/history"):
        for view in PROFILE_VIEWS if model == "baseline/history" else ("all",):
            viewed = apply_profile_view(test, view)
            report = score(viewed, asyncio.run(outputs(model, viewed)), resamples=0)
            overall = report.splits["overall"]
            print(f"| {model} | {view} | " + " | ".join(f"{overall[k]:.3f}" for k in METRIC_KEYS) + " |")


if __name__ == "__main__":
    main()
