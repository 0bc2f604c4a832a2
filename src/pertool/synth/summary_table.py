"""The table `pertool synth` prints at the end: what this run asked (calls to the model, answers
from the cache) beside the pipeline's totals over all its runs (summary.json).

summary.json accumulates across runs and resumes, so a re-run of a finished pipeline would
otherwise show the first run's calls as if it had made them again; the "this run" columns are
the difference between the summary before and after the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["format_synth_summary"]


def _count(stage: Mapping[str, Any] | None, key: str) -> int:
    value = (stage or {}).get(key, 0)
    return value if isinstance(value, int) else 0


def format_synth_summary(before: Mapping[str, Any], after: Mapping[str, Any],
                         done_before: Iterable[str] = ()) -> str:  # fmt: skip
    """`before`/`after`: summary.json's content around the run; `done_before`: the stages that
    were already finished (and so skipped) when the run started."""
    skipped = set(done_before)
    head = (f"{'':<11}{'this run':>15}   {'all runs of this pipeline'}\n"
            f"{'stage':<11}{'calls':>7}{'cached':>8}   {'calls':>7}{'tokens in':>12}{'tokens out':>12}"
            f"{'cost':>9}{'accepted':>10}  rejected")  # fmt: skip
    lines = [head]
    calls = cached = 0
    for stage, s in after.items():
        new_calls = _count(s, "calls") - _count(before.get(stage), "calls")
        new_cached = _count(s, "cached") - _count(before.get(stage), "cached")
        calls, cached = calls + new_calls, cached + new_cached
        rejected = ", ".join(f"{k} {v}" for k, v in s.get("rejected", {}).items()) or "-"
        note = "  (done before)" if stage in skipped else ""
        cost = float(s.get("cost", 0) or 0)
        lines.append(f"{stage:<11}{new_calls:>7}{new_cached:>8}   {_count(s, 'calls'):>7}"
                     f"{_count(s, 'input_tokens'):>12}{_count(s, 'output_tokens'):>12}"
                     f"{cost:>9.4f}{_count(s, 'accepted'):>10}  {rejected}{note}")  # fmt: skip
    reason = " (every stage was already done)" if after and skipped >= set(after) else ""
    lines += ["", f"this run: {calls} {'call' if calls == 1 else 'calls'} to the model, "
              f"{cached} {'answer' if cached == 1 else 'answers'} from the cache{reason}"]  # fmt: skip
    return "\n".join(lines)
