"""`pertool synth stats`: what a finished pipeline's dataset lets a shortcut get away with, and
what it contains (issue 14's figures): samples per split; how often the gold platform is the
user's most used platform of the scenario in the history (the counting rule), with and without
a stated need; how often it is the most used platform within the query's CONDITION (the
history records of its category, from the pipeline's histories.jsonl: by design the preference
per context is learnable from that context's history, which is what a model must do, so this
is the shortcut the data really allows; n/a where the directory holds no histories); how often
a string rule on the need gets it (the platform whose characteristic value the query says);
placeholder query values (the queries stage's own rule, `queries.is_placeholder`); two-call
samples; repeated queries within a user and across train and test; refusals."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from pertool.benchmarks.dataset import load_dataset
from pertool.errors import PertoolError
from pertool.schema import Sample
from pertool.synth.records import HistoryRecord
from pertool.synth.stages.conditions import majority_platform
from pertool.synth.stages.queries import is_placeholder, mentions, normalized_query
from pertool.synth.store import PipelineDir

__all__ = ["dataset_stats", "format_stats"]


def dataset_stats(directory: Path) -> dict[str, Any]:
    """The figures of the dataset a pipeline wrote into `directory`."""
    if not (directory / "test.jsonl").is_file():
        raise PertoolError(f"{directory} has no dataset yet (test.jsonl); run `pertool synth run` to the end")
    train, test = load_dataset(directory, "train"), load_dataset(directory, "test")
    samples = train + test
    answered = [s for s in samples if s.gold_platform is not None]
    with_need = [s for s in answered if _need(s)]
    without = [s for s in answered if not _need(s)]
    per_user = Counter((s.user_id, normalized_query(s.query)) for s in samples)
    seen_in_train = {normalized_query(s.query) for s in train}
    by_condition = _condition_histories(directory)

    def condition_majority(sample: Sample) -> bool:
        key = (str(sample.user_id), str(sample.extra.get("scenario", "")), _condition(sample))
        return majority_platform(by_condition.get(key, [])) == sample.gold_platform

    return {
        "samples": dict(Counter(s.split for s in samples)),
        "gold_is_history_majority": {"all": _share(answered, _is_majority),
                                     "without_need": _share(without, _is_majority),
                                     "with_need": _share(with_need, _is_majority)},  # fmt: skip
        "gold_is_condition_majority": {"all": _share(answered, condition_majority, by_condition),
                                       "without_need": _share(without, condition_majority, by_condition),
                                       "with_need": _share(with_need, condition_majority, by_condition)},
        "need_rule": _share(with_need, lambda s: _need_rule(s) == s.gold_platform),
        "placeholder_values": sum(_placeholders(s) for s in samples),
        "two_call_share": _share(samples, lambda s: len(s.gold_calls) >= 2)["share"],
        "duplicate_queries": {
            "within_user": sum(n - 1 for n in per_user.values()),
            "train_test": sum(normalized_query(s.query) in seen_in_train for s in test),
        },
        "refusals": sum(s.gold_platform is None for s in samples),
    }


def _need(sample: Sample) -> dict[str, Any] | None:
    need = (sample.extra.get("synth") or {}).get("need")
    return need if isinstance(need, dict) else None


def _condition(sample: Sample) -> str:
    return str((sample.extra.get("synth") or {}).get("condition") or "")


def _condition_histories(directory: Path) -> dict[tuple[str, str, str], list[str]]:
    """(user, scenario, condition) -> the platforms of those history records, in key order."""
    if not (directory / "histories.jsonl").is_file():
        return {}
    found: dict[tuple[str, str, str], list[str]] = {}
    records = PipelineDir(directory).read("histories", HistoryRecord)
    for key in sorted(records):  # the order the dataset lists them in
        h = records[key]
        found.setdefault((h.user, h.scenario, h.condition), []).append(h.platform)
    return found


def _share(samples: list[Sample], test: Any, known: Any = True) -> dict[str, Any]:
    if not known:  # the figure cannot be computed here
        return {"hits": None, "of": len(samples), "share": None}
    hits = sum(bool(test(s)) for s in samples)
    return {"hits": hits, "of": len(samples), "share": round(hits / len(samples), 4) if samples else None}


def _history(sample: Sample) -> list[str]:
    history = sample.profile.user_history
    records = history.get(str(sample.extra.get("scenario", "")), []) if isinstance(history, dict) else history
    return [r.platform for r in records]


def _is_majority(sample: Sample) -> bool:
    return majority_platform(_history(sample)) == sample.gold_platform


def _need_rule(sample: Sample) -> str | None:
    """The one platform with a characteristic value the query says (None: none or several)."""
    said = [p.name for p in sample.platforms if isinstance(p.profile, dict) and any(
        isinstance(v, str) and mentions(v, sample.query) for k, v in p.profile.items() if k != "policy")]
    return said[0] if len(said) == 1 else None


def _placeholders(sample: Sample) -> int:
    specs: dict[str, dict[str, Any]] = {t.function.name: t.function.parameters.get("properties") or {}
                                        for t in sample.tools}  # fmt: skip
    return sum(is_placeholder(value, param, specs.get(call.name, {}).get(param) or {})
               for call in sample.gold_calls for param, values in call.arguments.items()
               if call.sources.get(param) == "query" for value in values[:1])  # fmt: skip


def format_stats(stats: dict[str, Any]) -> str:
    def pct(part: dict[str, Any]) -> str:
        share = part["share"]
        return "n/a" if share is None else f"{100 * share:.1f}% ({part['hits']} of {part['of']})"

    majority, dup = stats["gold_is_history_majority"], stats["duplicate_queries"]
    within = stats["gold_is_condition_majority"]
    two = stats["two_call_share"]
    lines = [
        "samples: " + ", ".join(f"{k} {v}" for k, v in sorted(stats["samples"].items())),
        f"gold platform = history-majority platform: {pct(majority['all'])}",
        f"  without a stated need: {pct(majority['without_need'])}",
        f"  with a stated need: {pct(majority['with_need'])}",
        f"gold platform = history-majority within the query's condition: {pct(within['all'])}",
        f"  without a stated need: {pct(within['without_need'])}",
        f"  with a stated need: {pct(within['with_need'])}",
        f"need-string rule gets the gold platform: {pct(stats['need_rule'])}",
        f"placeholder query values: {stats['placeholder_values']}",
        f"two-call samples: {'n/a' if two is None else f'{100 * two:.1f}%'}",
        f"duplicate queries: {dup['within_user']} within a user, {dup['train_test']} in both train and test",
        f"refusals: {stats['refusals']}",
    ]
    return "\n".join(lines)
