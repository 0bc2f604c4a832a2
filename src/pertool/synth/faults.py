"""Where the scripted LLM answers wrongly on purpose, so an offline run exercises every rejection
path of the back stages (issue 14), not only acceptance.

The users of each block of USERS (user-<n> with n % USERS = 0, 1, ...) carry FAULTS in order,
PER_USER each, at their queries 0, 2, 4 (so a config of 5 or more queries per user meets them
all): a run of 8 or more users meets every fault exactly once (the test run of 10 users with 8
queries each answers about a quarter of its queries wrongly), 10 or more users also one whose
histories never reveal a preference (NO_HISTORY_USER); a large run of 6 queries per user has
about len(FAULTS) / (USERS * 6) = 19 % wrong answers.
A fault is a pure function of the key, so the scripted LLM stays a pure function of its inputs
(the response cache and zero-call re-runs rely on that).
"""

from __future__ import annotations

import re

__all__ = ["FAULTS", "NO_HISTORY_USER", "USERS", "fault_at", "user_number"]

# In the order of the stages that give them; each name is the reason it should be rejected for.
FAULTS = (
    # queries.write (the user agent)
    "missing_value", "value_not_in_query", "placeholder_value", "invalid_value", "states_profile",
    "duplicate_query", "reveals_profile",
    # solutions.solve (the assistant)
    "bad_arguments", "required_missing", "profile_value_in_query", "format", "unexpected_refusal",
    "unknown_platform", "platform_not_targeted", "unknown_tool", "intended_api_missing", "enum_violation",
    # solutions.solve, then solutions.annotate (a value from nowhere put down to the situation)
    "environment_value_not_in_environment",
    # verify.judge (a judge too strict on a good sample)
    "judge:parameters", "judge:hallucination", "judge:solves",
    # added later, kept last so that the slots above stay where they were:
    "names_platform",  # queries.write: the text names a platform
    "unexpected_call",  # solutions.solve: a call the query was not written for (repeated)
)  # fmt: skip
USERS = 20
PER_USER = 3
# Users n % USERS == NO_HISTORY_USER carry no fault above (those fill the slots of users 0-7):
# their histories never reveal the preference, so the histories stage rejects every batch and
# the queries stage plans their queries without asking for them ("no_history").
NO_HISTORY_USER = 9
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
    user, query = int(match.group(1)), int(match.group(2))
    if query % 2 or query >= 2 * PER_USER:
        return None
    step = (user % USERS) * PER_USER + query // 2
    return FAULTS[step] if step < len(FAULTS) else None
