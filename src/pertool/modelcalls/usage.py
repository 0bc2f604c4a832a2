"""What model calls used: answers from the model and from the cache, tokens, cost, latency,
retries. One way to count (`Usage.add`), two fixed views of it:

- `eval_json`: metrics.json's `usage`. It describes the run's answers wherever they came from
  (tokens and cost of a cached answer are what it took when first asked), so a run served from
  the cache shows the same tokens as the run that paid for them, with `requests` 0.
- `stage_json`: a synthesis stage's counters in summary.json. They describe what the pipeline
  paid: tokens and cost of the model's answers only (a resumed stage already counted the answers
  it now finds in the cache).

Cost is added per answer, at the prices of the run that added it, so a resume with other prices
does not reprice what was counted before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pertool.models.base import Completion

__all__ = ["Usage", "answer_cost"]


def answer_cost(input_tokens: int, output_tokens: int, prices: Mapping[str, float] | None) -> float:
    """USD for one answer; `prices` in USD per million tokens: {"input": .., "output": ..}."""
    if not prices:
        return 0.0
    return (input_tokens * prices.get("input", 0.0) + output_tokens * prices.get("output", 0.0)) / 1e6


@dataclass
class Usage:
    calls: int = 0  # answers the model gave (cache misses that reached it)
    cached: int = 0  # answers the response cache gave
    input_tokens: int = 0  # of the model's answers
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    cached_input_tokens: int = 0  # of the cache's answers, as counted when first asked
    cached_output_tokens: int = 0
    cached_cost_usd: float = 0.0
    retries: int = 0  # the backend's retries (read from it by the owner of the backend)

    def add(self, completion: Completion, prices: Mapping[str, float] | None = None) -> None:
        """Count one answer."""
        self.add_counts(completion.input_tokens, completion.output_tokens, completion.latency_s,
                        cached=completion.cached, prices=prices)  # fmt: skip

    def add_counts(self, input_tokens: int, output_tokens: int, latency_s: float, *, cached: bool,
                   prices: Mapping[str, float] | None = None) -> None:  # fmt: skip
        """Count one answer given by its numbers (a predictions.jsonl record's)."""
        cost = answer_cost(input_tokens, output_tokens, prices)
        if cached:
            self.cached += 1
            self.cached_input_tokens += input_tokens
            self.cached_output_tokens += output_tokens
            self.cached_cost_usd += cost
        else:
            self.calls += 1
            self.input_tokens += input_tokens
            self.output_tokens += output_tokens
            self.cost_usd += cost
            self.latency_s += latency_s

    @classmethod
    def of_records(cls, records: Iterable[Mapping[str, Any]], prices: Mapping[str, float] | None = None,
                   *, retries: int = 0) -> Usage:  # fmt: skip
        """The usage of a run directory's answers (predictions.jsonl records, checked on reading)."""
        usage = cls(retries=retries)
        for r in records:
            usage.add_counts(int(r.get("input_tokens", 0)), int(r.get("output_tokens", 0)),
                             float(r.get("latency_s", 0.0)), cached=bool(r.get("cached")),
                             prices=prices)  # fmt: skip
        return usage

    def eval_json(self, *, priced: bool) -> dict[str, Any]:
        """metrics.json's `usage`: every answer's tokens; `cost_usd` only when prices were given."""
        out: dict[str, Any] = {
            "input_tokens": self.input_tokens + self.cached_input_tokens,
            "output_tokens": self.output_tokens + self.cached_output_tokens,
            "requests": self.calls,
            "cached": self.cached,
        }
        if priced:
            out["cost_usd"] = round(self.cost_usd + self.cached_cost_usd, 6)
        out["retries"] = self.retries
        return out

    def stage_json(self) -> dict[str, Any]:
        """A synthesis stage's counters (summary.json): what the model was paid for."""
        return {"calls": self.calls, "cached": self.cached, "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens, "cost": round(self.cost_usd, 6)}  # fmt: skip

    def resume_stage(self, counts: Mapping[str, Any]) -> None:
        """Start from the counters `stage_json` wrote (summary.json, checked on reading)."""
        self.calls, self.cached = counts.get("calls", 0), counts.get("cached", 0)
        self.input_tokens, self.output_tokens = counts.get("input_tokens", 0), counts.get("output_tokens", 0)
        self.cost_usd = counts.get("cost", 0.0)
