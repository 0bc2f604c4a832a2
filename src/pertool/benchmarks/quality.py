"""Golds that can never match, found when a benchmark is loaded (kept and scored, reported).

    empty_accepted        a gold argument whose list of accepted values is empty
    not_finite            NaN or an infinity among a gold argument's accepted values
    platform_not_offered  the gold platform is not among the sample's platforms
    tool_not_offered      a gold call names a tool the sample does not offer

`pertool score` and `pertool eval` print the count as a warning and give the lists under
"quality" in --json (and metrics.json). Refusal golds (no platform) are not checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from pertool.schema import Sample
from pertool.values import normalize_text, not_finite

__all__ = ["GoldQuality", "gold_quality", "quality_warning"]


@dataclass
class GoldQuality:
    empty_accepted: list[str] = field(default_factory=list)  # "<id>: call.param"
    not_finite: list[str] = field(default_factory=list)  # "<id>: call.param"
    platform_not_offered: list[str] = field(default_factory=list)  # "<id>: platform"
    tool_not_offered: list[str] = field(default_factory=list)  # "<id>: call"

    def count(self) -> int:
        """Samples with at least one gold that can never match."""
        return len({entry.split(": ", 1)[0] for f in fields(self) for entry in getattr(self, f.name)})

    def to_json(self) -> dict[str, Any]:
        lists = {f.name: getattr(self, f.name) for f in fields(self)}
        return {"golds_that_never_match": self.count(), **lists}


def gold_quality(samples: Sequence[Sample]) -> GoldQuality:
    report = GoldQuality()
    for sample in samples:
        if sample.gold_platform is None:
            continue
        offered = {normalize_text(p.name) for p in sample.platforms}
        if normalize_text(sample.gold_platform) not in offered:
            report.platform_not_offered.append(f"{sample.id}: {sample.gold_platform}")
        tools = {t.name for t in sample.tools}
        for call in sample.gold_calls:
            if call.name not in tools:
                report.tool_not_offered.append(f"{sample.id}: {call.name}")
            for param, accepted in call.arguments.items():
                if not accepted:
                    report.empty_accepted.append(f"{sample.id}: {call.name}.{param}")
                elif any(not_finite(value) for value in accepted):
                    report.not_finite.append(f"{sample.id}: {call.name}.{param}")
    return report


def quality_warning(report_json: dict[str, Any]) -> str | None:
    """The warning line for a score report's "quality" section, or None when all golds can match."""
    quality = report_json.get("quality") or {}
    count = quality.get("golds_that_never_match", 0)
    if not count:
        return None
    kinds = ", ".join(f"{n.replace('_', ' ')} {len(quality[n])}" for n in _KINDS if quality.get(n))
    return (f"pertool: warning: {count} samples have a gold that can never match ({kinds}); "
            'see "quality" in --json')


_KINDS = ("empty_accepted", "not_finite", "platform_not_offered", "tool_not_offered")
