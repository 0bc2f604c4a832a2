"""PEToolBench's prompts: the setting's instruction as the system message, the query as the user
message, both verbatim (the instruction strings are the published template already rendered).

The `no-history` ablation condition rewrites an instruction into the public no-history
template (`FORMAT_ENTRY_INPUT_WO_HISTORY` of the benchmark's prompts/prompt_template.py): the
same text without the preference clause, the history sentence and the history block. Rendering
that template with the entry's `apis_candidate` gives the same bytes for all 3,000 published
instructions (checked when this was written; tests check the structure).
"""

from __future__ import annotations

from typing import Any

from pertool.errors import PertoolError
from pertool.schema import Sample

__all__ = ["HISTORY_INTRO", "TASK_WITH_HISTORY", "TASK_WITHOUT_HISTORY", "messages", "without_history"]

TASK_WITH_HISTORY = ("\nYour task is to use a tool that not only meets real-time user instructions but also "
                     "aligns with user preferences.\n")  # fmt: skip
TASK_WITHOUT_HISTORY = "\nYour task is to use a tool that meets real-time user instructions."
HISTORY_INTRO = "\nInteraction history is:\n"
_TOOLS_INTRO = "\nAvailable tools you can call with input parameters are listed here:\n"


def messages(sample: Sample) -> list[dict[str, Any]]:
    return [{"role": "system", "content": sample.extra["instruction"]},
            {"role": "user", "content": sample.query}]  # fmt: skip


def without_history(instruction: str, where: str = "") -> str:
    """The instruction as the no-history template renders it: the task sentence without
    preferences, then everything from the candidate list on. The history is one line of JSON,
    so it ends at the first newline after its heading."""
    start = instruction.find(HISTORY_INTRO)
    end = instruction.find("\n", start + len(HISTORY_INTRO)) if start >= 0 else -1
    if not instruction.startswith(TASK_WITH_HISTORY) or end < 0 or \
            not instruction.startswith("\n" + _TOOLS_INTRO, end):  # fmt: skip
        raise PertoolError(f"{where or 'an instruction'} does not have the published template's shape (task "
                           "sentence, history line, candidate list); cannot render it without history")
    return TASK_WITHOUT_HISTORY + instruction[end + 1 :]
