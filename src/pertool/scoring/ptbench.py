"""PTBench metrics (paper Appendix A.1) and error taxonomy (Figure 4), with correct meanings.

Per sample, after parsing: the platform must match (case- and space-insensitive); calls are
matched to gold calls by name regardless of order (repeated names paired by a maximum
matching, so a duplicated call is an extra call, not a free pass); T-name needs every
predicted call matched and every gold call predicted; T-param adds that each matched pair has
the same parameter names; T-value adds that each value is accepted (`pertool.values`).
Query/profile-parameter accuracy counts each gold parameter at most once.

Error category, one per parsable sample, first match wins: tool_wrong (a gold call missing AND
an extra call), tool_missing (a gold call not predicted), tool_excessive (an extra call),
param_missing, param_excessive, param_value. `platform` errors are counted on their own.
"""

from __future__ import annotations

from pertool.matching import max_matching
from pertool.schema import Call, GoldCall, Prediction, Sample
from pertool.scoring.results import SampleResult
from pertool.values import accepts, normalize_text

__all__ = ["score_sample", "match_calls"]


def score_sample(sample: Sample, prediction: Prediction) -> SampleResult:
    query_total, profile_total = _provenance_counts(sample.gold_calls)
    if not prediction.parsed:
        return SampleResult(sample_id=sample.id, split=sample.split, format=False,
                            query_total=query_total, profile_total=profile_total,
                            errors=("format",), detail=prediction.parse_error or "")  # fmt: skip

    platform_ok = _same_platform(prediction.platform, sample.gold_platform)
    pairs, missing, extra = match_calls(sample.gold_calls, prediction.calls)
    param_missing = param_extra = value_wrong = False
    query_correct = profile_correct = 0
    for gold, call in pairs:
        args = call.arguments
        param_extra |= not args.keys() <= gold.arguments.keys()
        for name, accepted in gold.arguments.items():
            if name not in args:
                param_missing = True
            elif not accepts(accepted, args[name]):
                value_wrong = True
            else:
                source = gold.sources.get(name)
                query_correct += source == "query"
                profile_correct += source == "profile"

    tool_name = not missing and not extra
    tool_param = tool_name and not param_missing and not param_extra
    tool_value = tool_param and not value_wrong
    category = _category(missing, extra, param_missing, param_extra, value_wrong)
    errors = tuple(c for c in (category, None if platform_ok else "platform") if c)
    return SampleResult(
        sample_id=sample.id,
        split=sample.split,
        query_total=query_total,
        profile_total=profile_total,
        format=True,
        platform=platform_ok,
        tool_name=tool_name,
        tool_param=tool_param,
        tool_value=tool_value,
        overall=platform_ok and tool_value,
        query_correct=query_correct,
        profile_correct=profile_correct,
        errors=errors,
    )


def match_calls(
    gold: list[GoldCall], predicted: list[Call]
) -> tuple[list[tuple[GoldCall, Call]], list[GoldCall], list[Call]]:
    """Pair predicted calls with gold calls of the same name: (pairs, unmatched gold, extra).

    Among calls sharing a name, pairs whose values are all accepted are matched first (a
    maximum matching), then the rest in order, so the best pairing is always found.
    """
    gold_names = {g.name for g in gold}
    by_name = {c.name: c for c in predicted}
    if len(gold_names) == len(gold) and len(by_name) == len(predicted):
        # Common case, no repeated names: pairing by name is the whole story.
        pairs: list[tuple[GoldCall, Call]] = [(g, by_name[g.name]) for g in gold if g.name in by_name]
        missing: list[GoldCall] = [g for g in gold if g.name not in by_name]
        return pairs, missing, [c for c in predicted if c.name not in gold_names]
    pairs = []
    used_pred: set[int] = set()
    missing = []
    for name in dict.fromkeys(g.name for g in gold):
        g_idx = [i for i, g in enumerate(gold) if g.name == name]
        p_idx = [j for j, c in enumerate(predicted) if c.name == name]
        exact = [[k for k, j in enumerate(p_idx) if _exact(gold[i], predicted[j])] for i in g_idx]
        owner = max_matching(exact, len(p_idx))
        paired_gold = {g_idx[i] for i in owner if i is not None}
        free_pred = [p_idx[k] for k, i in enumerate(owner) if i is None]
        for k, i in enumerate(owner):
            if i is not None:
                pairs.append((gold[g_idx[i]], predicted[p_idx[k]]))
                used_pred.add(p_idx[k])
        for i in g_idx:
            if i in paired_gold:
                continue
            if free_pred:
                j = free_pred.pop(0)
                pairs.append((gold[i], predicted[j]))
                used_pred.add(j)
            else:
                missing.append(gold[i])
    extra = [c for j, c in enumerate(predicted) if j not in used_pred]
    return pairs, missing, extra


def _exact(gold: GoldCall, call: Call) -> bool:
    return gold.arguments.keys() == call.arguments.keys() and all(
        accepts(v, call.arguments[k]) for k, v in gold.arguments.items()
    )


def _same_platform(predicted: str | None, gold: str | None) -> bool:
    if predicted is None or gold is None:
        return predicted is gold
    return normalize_text(predicted) == normalize_text(gold)


def _provenance_counts(gold: list[GoldCall]) -> tuple[int, int]:
    sources = [s for g in gold for p, s in g.sources.items() if p in g.arguments]
    return sources.count("query"), sources.count("profile")


def _category(missing: list, extra: list, p_missing: bool, p_extra: bool, wrong: bool) -> str | None:
    if missing and extra:
        return "tool_wrong"
    if missing:
        return "tool_missing"
    if extra:
        return "tool_excessive"
    if p_missing:
        return "param_missing"
    if p_extra:
        return "param_excessive"
    if wrong:
        return "param_value"
    return None
