"""PEToolBench scoring: pertool's rules (docs/petoolbench.md, "Metrics") and the public
script's (`--compat petoolbench-public`), both as per-sample count rows aggregated one way.

Count row of a sample (`COLUMNS`): n, format, tool, param, call, hallucinated. Column sums over
a setting give its metrics (`metrics_from_counts`); the overall column is the mean of the
settings' metrics. Intervals resample entries, not samples: one entry is posed in all three
settings, so its three samples are drawn together.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import numpy as np

from pertool.matching import max_matching
from pertool.parsing.literals import NotALiteral
from pertool.parsing.petoolbench import name_key, parse_petoolbench
from pertool.schema import Call, Prediction, Sample
from pertool.scoring.bootstrap import bootstrap_samples
from pertool.scoring.results import OVERALL, ScoredSample, ScoreReport
from pertool.values import NUMERIC_STRING, bool_of

__all__ = ["COLUMNS", "ERROR_KEYS", "METRIC_KEYS", "PUBLIC_PATTERN", "metrics_from_counts", "params_match",
           "entry_key", "resolve_tool", "score_petoolbench", "values_match"]  # fmt: skip

COLUMNS = ("n", "format", "tool", "param", "call", "hallucinated")
_COL = {c: i for i, c in enumerate(COLUMNS)}
METRIC_KEYS = ("format", "tool_acc", "param_acc", "call_acc", "hallucinated", "param_given_tool")
ERROR_KEYS = ("format", "hallucinated_tool", "wrong_provider", "wrong_function", "param_names",
              "param_values")  # fmt: skip
# The public script's regular expression, character for character (`calculate_scores`).
PUBLIC_PATTERN = re.compile(r'\{.*"tool_name":\s*".*?",\s*"parameters":\s*\{.*?\}\}')
Outcomes = dict[str, "bool | float | None"]
Intervals = dict[str, dict[str, "list[float] | None"]]
_MAX_NUMBER_CHARS = 1000  # a longer numeric string compares as a string (bounded work)


def score_petoolbench(samples: Sequence[Sample], given: Mapping[str, str | Prediction | None], *,
                      compat: str | None, resamples: int, seed: int,
                      keep_parses: bool = True) -> ScoreReport:  # fmt: skip
    public = compat == "petoolbench-public"
    one = _score_public if public else _score_default
    scored = [one(s, given.get(s.id)) if keep_parses else _without_parse(one(s, given.get(s.id)))
              for s in samples]  # fmt: skip
    settings: dict[str, list[int]] = {}
    for i, sample in enumerate(samples):
        settings.setdefault(sample.split, []).append(i)
    splits: dict[str, dict[str, float | None]] = {}
    errors: dict[str, dict[str, int]] = {}
    names = list(settings)
    totals = np.array([np.sum([scored[i].counts for i in ix], axis=0) for ix in settings.values()],
                      dtype=np.float64).reshape(len(names), len(COLUMNS))  # fmt: skip
    for k, (setting, indices) in enumerate(settings.items()):
        splits[setting] = _point(totals[k : k + 1], [setting], public)
        errors[setting] = _errors(scored[i] for i in indices)
    counts = {s: len(ix) for s, ix in settings.items()}
    if settings:
        splits[OVERALL] = _point(totals, names, public)
        errors[OVERALL] = {k: sum(errors[s][k] for s in settings) for k in ERROR_KEYS}
        counts[OVERALL] = len(samples)
    intervals = _intervals(samples, scored, settings, resamples, seed, public)
    return ScoreReport(splits=splits, errors=errors, intervals=intervals, counts=counts, scored=scored)


def metrics_from_counts(totals: np.ndarray, splits: Sequence[str]) -> dict[str, np.ndarray]:
    """The metrics of summed count rows (`COLUMNS`): `totals` has the shape [..., len(splits),
    len(COLUMNS)]. One setting: its metrics (every sample in every denominator;
    `param_given_tool` among the tool-correct samples). Several: the mean of the settings'
    values (a setting where a metric is undefined drops out). NaN where undefined. The one place
    PEToolBench metrics are made from counts: points, intervals, reports and compare."""
    t = np.asarray(totals, dtype=np.float64)
    n, tool = t[..., _COL["n"]], t[..., _COL["tool"]]

    def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)

    per = {"format": ratio(t[..., _COL["format"]], n), "tool_acc": ratio(tool, n),
           "param_acc": ratio(t[..., _COL["param"]], n), "call_acc": ratio(t[..., _COL["call"]], n),
           "hallucinated": ratio(t[..., _COL["hallucinated"]], n),
           "param_given_tool": ratio(t[..., _COL["call"]], tool)}  # fmt: skip
    if len(splits) == 1:
        return {k: v[..., 0] for k, v in per.items()}
    with warnings.catch_warnings():  # a replicate where a metric is undefined in every setting
        warnings.simplefilter("ignore", RuntimeWarning)
        return {k: np.nanmean(v, axis=-1) for k, v in per.items()}


def _point(totals: np.ndarray, splits: Sequence[str], public: bool) -> dict[str, float | None]:
    values = metrics_from_counts(totals, splits)
    return _shown({k: (None if np.isnan(v) else float(v)) for k, v in values.items()}, public)


def _shown(metrics: dict[str, float | None], public: bool) -> dict[str, float | None]:
    if public:  # the public rules have no candidate resolution: no hallucination to tell apart
        return {k: v for k, v in metrics.items() if k != "hallucinated"}
    return metrics


def _without_parse(scored: ScoredSample) -> ScoredSample:
    scored.prediction = None
    return scored


def _errors(scored: Any) -> dict[str, int]:
    counts = dict.fromkeys(ERROR_KEYS, 0)
    for s in scored:
        for category in s.categories:
            counts[category] += 1
    return counts


# --- pertool's rules ----------------------------------------------------------------------


def _score_default(sample: Sample, given: str | Prediction | None) -> ScoredSample:
    prediction = given if isinstance(given, Prediction) else parse_petoolbench(given or "", sample.id)
    gold = sample.gold_calls[0]
    gold_params = {k: v[0] for k, v in gold.arguments.items()}
    if not prediction.parsed or not prediction.calls:
        outcomes: Outcomes = {"format": False, "tool_acc": False, "param_acc": False, "call_acc": False,
                              "hallucinated": False, "param_given_tool": None}  # fmt: skip
        return ScoredSample(sample.id, sample.split, prediction, outcomes, ("format",), (1, 0, 0, 0, 0, 0),
                            prediction.parse_error or "no call")  # fmt: skip
    call = prediction.calls[0]
    resolved = resolve_tool(call.name, [t.name for t in sample.tools])
    tool = resolved == gold.name
    param_ok, param_error = params_match(call.arguments, gold_params)  # whatever the tool, as published
    categories: list[str] = []
    if resolved is None:
        categories.append("hallucinated_tool")
    elif not tool:
        categories.append("wrong_provider" if _same_function(sample, resolved) else "wrong_function")
    if not param_ok:
        categories.append(param_error)
    outcomes = {"format": True, "tool_acc": tool, "param_acc": param_ok, "call_acc": tool and param_ok,
                "hallucinated": resolved is None, "param_given_tool": param_ok if tool else None}  # fmt: skip
    counts = (1, 1, int(tool), int(param_ok), int(tool and param_ok), int(resolved is None))
    notes = []
    if resolved is not None and resolved != call.name:
        notes.append(f"tool name resolved to {resolved!r}")
    if len(prediction.calls) > 1:
        notes.append(f"{len(prediction.calls) - 1} further call(s) ignored")
    return ScoredSample(sample.id, sample.split, prediction, outcomes, tuple(categories), counts,
                        "; ".join(notes))  # fmt: skip


def resolve_tool(name: str, candidates: Sequence[str]) -> str | None:
    """The candidate a predicted name means: the exact name, else the one candidate whose three
    components equal the prediction's after trimming and case-folding; None: hallucinated."""
    if name in candidates:
        return name
    key = name_key(name)
    found = [c for c in candidates if name_key(c) == key]
    return found[0] if len(found) == 1 else None


def _same_function(sample: Sample, predicted: str) -> bool:
    """Whether a wrong candidate does the gold's job through another provider (its function
    group, from the entry's metadata; without it, the same API name in the same category)."""
    group = sample.extra.get("metadata", {}).get("apis_same_func")
    if isinstance(group, list):
        names = {f"<{a.get('category_name')}>.<{a.get('tool_name')}>.<{a.get('api_name')}>"
                 for a in group if isinstance(a, dict)}  # fmt: skip
        return predicted in names
    mine, gold = name_key(predicted), name_key(sample.gold_calls[0].name)
    return len(mine) == 3 and len(gold) == 3 and (mine[0], mine[2]) == (gold[0], gold[2])


def params_match(predicted: Mapping[str, Any], gold: Mapping[str, Any]) -> tuple[bool, str]:
    """(match, error category): keys holding "" or null are ignored on both sides; then the
    same key names and every value equal under `values_match`."""
    mine = {k: v for k, v in predicted.items() if not _blank(v)}
    want = {k: v for k, v in gold.items() if not _blank(v)}
    if mine.keys() != want.keys():
        return False, "param_names"
    if all(values_match(mine[k], want[k]) for k in want):
        return True, ""
    return False, "param_values"


def _blank(value: Any) -> bool:
    return value is None or value == ""


def values_match(a: Any, b: Any) -> bool:
    """Numbers and numeric strings by value (integral values exactly, so that ids and UPCs
    never match a nearby number; two non-integral values within a relative 1e-9; a non-finite
    number matches nothing); booleans only with booleans or "true"/"false"; strings trimmed,
    case-sensitive; a string holding a list or dict literal structurally; lists order-free,
    dicts key by key."""
    if _not_finite(a) or _not_finite(b):
        return False
    if type(a) is type(b) and a == b:
        return True
    a, b = _structure(a), _structure(b)
    if isinstance(a, bool) or isinstance(b, bool):
        x, y = bool_of(a), bool_of(b)
        return x is not None and x == y
    if a is None or b is None:
        return a is None and b is None
    if _is_number(a) or _is_number(b):
        return _numbers_match(_number(a), _number(b))
    if isinstance(a, str) and isinstance(b, str):
        return a.strip() == b.strip()
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return False
        edges = [[j for j, y in enumerate(b) if values_match(x, y)] for x in a]
        return None not in max_matching(edges, len(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(values_match(a[k], b[k]) for k in a)
    return False


def _structure(value: Any) -> Any:
    """A string holding a list or dict literal (JSON or Python) as that value; else unchanged."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if len(text) < 2 or (text[0], text[-1]) not in (("[", "]"), ("{", "}")) or len(text) > 100_000:
        return value
    import ast

    from pertool.parsing.literals import literal_value

    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        pass
    try:
        return literal_value(ast.parse(text, mode="eval").body)
    except (SyntaxError, ValueError, NotALiteral, RecursionError, MemoryError):
        return value


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _not_finite(x: Any) -> bool:
    return isinstance(x, float) and not math.isfinite(x)


def _number(x: Any) -> Decimal | None:
    """A finite number or numeric string, exactly (Decimal: no float rounding, no overflow)."""
    if _is_number(x):
        return Decimal(x) if not _not_finite(x) else None
    if isinstance(x, str) and len(x) <= _MAX_NUMBER_CHARS and NUMERIC_STRING.match(x):
        try:
            return Decimal(x.strip())
        except ArithmeticError:  # an exponent past Decimal's range
            return None
    return None


def _numbers_match(p: Decimal | None, q: Decimal | None) -> bool:
    """Equal values; two non-integral values may differ by a relative 1e-9 (float noise such as
    0.1 + 0.2), which an integral value never gets: `194574942221` is a product id."""
    if p is None or q is None:
        return False
    if p == q:
        return True
    try:
        if p == p.to_integral_value() or q == q.to_integral_value():
            return False
    except ArithmeticError:
        return False
    x, y = float(p), float(q)
    return math.isfinite(x) and math.isfinite(y) and abs(x - y) <= 1e-9 * max(abs(x), abs(y))


# --- the public script's rules (--compat petoolbench-public) --------------------------------


def _score_public(sample: Sample, given: str | Prediction | None) -> ScoredSample:
    """`calculate_scores` for one record: an empty response is skipped, then the regex's
    leftmost match is decoded by `json.loads`; the tool is right iff its name equals the gold
    name, the parameters iff they equal the gold object under Python `==` (whatever the tool).
    A skipped record stays in the denominator."""
    raw = given.raw_output if isinstance(given, Prediction) else (given or "")
    gold = sample.gold_calls[0]
    gold_params = {k: v[0] for k, v in gold.arguments.items()}
    response, why = _public_parse(raw)
    if response is None:
        prediction = Prediction(sample_id=sample.id, raw_output=raw, parse_error=why)
        outcomes: Outcomes = {"format": False, "tool_acc": False, "param_acc": False, "call_acc": False,
                              "hallucinated": None, "param_given_tool": None}  # fmt: skip
        return ScoredSample(sample.id, sample.split, prediction, outcomes, ("format",), (1, 0, 0, 0, 0, 0),
                            why)  # fmt: skip
    # The match guarantees both keys at the top level whenever json.loads succeeds; `.get`
    # guards anyway (the script would stop with a KeyError, not score).
    name, params = response.get("tool_name"), response.get("parameters")
    tool = bool(name == gold.name)
    param = bool(params == gold_params)
    shown = Call(name=str(name), arguments=params if isinstance(params, dict) else {})
    prediction = Prediction(sample_id=sample.id, raw_output=raw, calls=[shown])
    categories: list[str] = []
    if not tool:
        candidates = [t.name for t in sample.tools]
        if name not in candidates:
            categories.append("hallucinated_tool")
        else:
            categories.append("wrong_provider" if _same_function(sample, str(name)) else "wrong_function")
    if not param:
        names_equal = isinstance(params, dict) and params.keys() == gold_params.keys()
        categories.append("param_values" if names_equal else "param_names")
    outcomes = {"format": True, "tool_acc": tool, "param_acc": param, "call_acc": tool and param,
                "hallucinated": None, "param_given_tool": param if tool else None}  # fmt: skip
    counts = (1, 1, int(tool), int(param), int(tool and param), 0)
    return ScoredSample(sample.id, sample.split, prediction, outcomes, tuple(categories), counts,
                        "public rules: regex match decoded")  # fmt: skip


def _public_parse(raw: str) -> tuple[dict[str, Any] | None, str]:
    if not raw:
        return None, "empty response (skipped by the public script, counted wrong)"
    match = PUBLIC_PATTERN.search(raw)
    if match is None:
        return None, "no match of the public script's pattern"
    try:
        value = json.loads(match.group(0))
    except (ValueError, RecursionError):
        return None, "the public script's match is not valid JSON"
    if not isinstance(value, dict):
        return None, "the public script's match is not an object"
    return value, ""


# --- intervals ----------------------------------------------------------------------------


def _intervals(samples: Sequence[Sample], scored: Sequence[ScoredSample], settings: Mapping[str, list[int]],
               resamples: int, seed: int, public: bool) -> Intervals:
    """95% percentile-bootstrap intervals, drawing entries with replacement: each replicate
    weighs every entry by how often it was drawn, in every setting at once (the generic
    `bootstrap_samples`, which compare and reports use too, so their intervals are these)."""
    if not samples:
        return {}
    clusters = [entry_key(sample) for sample in samples]
    out = bootstrap_samples([s.counts for s in scored], [s.split for s in scored], clusters,
                            metrics_from_counts, width=len(COLUMNS), split_names=list(settings),
                            resamples=resamples, seed=seed)  # fmt: skip
    if public:  # the public rules tell no hallucination apart
        return {split: {k: v for k, v in iv.items() if k != "hallucinated"} for split, iv in out.items()}
    return out


def entry_key(sample: Sample) -> str:
    """The entry a sample poses (its three settings share it): the unit PEToolBench resamples."""
    return str(sample.extra.get("entry_id", sample.user_id or sample.id))
