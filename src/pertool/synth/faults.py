"""Where the scripted LLM answers wrongly on purpose, so an offline run exercises every rejection
path of the back stages (issue 14), not only acceptance.

A query "user-<n>/<i>" has the slot 8n + i. The j-th wrong answer of FAULTS is given at the
slots s with s % PERIOD == j * GAP: a run of 10 users with 8 queries each (80 slots) meets every
one exactly once (about a quarter of its queries answered wrongly); users 10-19 get none, 20-29
all again, so a large run has about len(FAULTS) / (PERIOD / GAP) = 12 % wrong answers.
A fault is a pure function of the key, so the scripted LLM stays a pure function of its inputs
(the response cache and zero-call re-runs rely on that).
"""

from __future__ import annotations

import re

__all__ = ["FAULTS", "fault_at", "user_number"]

# In the order of the stages that give them; each name is the reason it should be rejected for.
FAULTS = (
    # queries.write (the user agent)
    "missing_value", "value_not_in_query", "placeholder_value", "invalid_value", "states_profile",
    "duplicate_query", "reveals_profile",
    # solutions.solve (the assistant)
    "bad_arguments", "required_missing", "profile_value_in_query", "format", "unexpected_refusal",
    "unknown_platform", "platform_not_targeted", "unknown_tool", "intended_api_missing",
    # verify.judge (a judge too strict on a good sample)
    "judge:parameters", "judge:hallucination", "judge:solves",
)  # fmt: skip
GAP = 4
PERIOD = 160
_KEY = re.compile(r"^user-(\d+)/(\d+)$")


def user_number(key: str) -> int | None:
    """n of "user-<n>" or "user-<n>/<i>"; None for another key."""
    match = re.match(r"^user-(\d+)(?:/|$)", key)
    return int(match.group(1)) if match else None


def fault_at(key: str) -> str | None:
    """The wrong answer planned for the query `key`, or None (answer right)."""
    match = _KEY.match(key)
    if not match:
        return None
    step, rest = divmod((int(match.group(1)) * 8 + int(match.group(2))) % PERIOD, GAP)
    return FAULTS[step] if rest == 0 and step < len(FAULTS) else None
