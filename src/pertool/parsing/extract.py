"""Find the answer inside a model's output: strip reasoning blocks and code fences, and locate
balanced bracket spans, all with regular expressions (linear time, no Python loop per char)."""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["answer_candidates", "balanced_end", "strip_reasoning", "ParseFailure"]

_FENCE = re.compile(r"```[ \t]*[\w+.-]*[ \t]*\n?(.*?)```", re.DOTALL)
# A quoted string (so brackets inside it do not count) or a single bracket character.
_TOKEN = re.compile(r"""'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|[\[\](){}]""")
_PAIRS = {"]": "[", ")": "(", "}": "{"}
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


class ParseFailure(ValueError):
    """Raised inside the parsers; turned into `Prediction.parse_error` at the surface."""


def strip_reasoning(text: str) -> list[str]:
    """Texts to look for the answer in: after the last `</think>` first, then the whole text
    (a value may itself contain the tag). An output that opens a block it never closes has no
    answer."""
    if text.lstrip().startswith(THINK_OPEN) and THINK_CLOSE not in text:
        raise ParseFailure("the output ends inside a <think> block (no answer after it)")
    end = text.rfind(THINK_CLOSE)
    return [text[end + len(THINK_CLOSE) :], text] if end >= 0 else [text]


def answer_candidates(text: str) -> Iterator[str]:
    """The contents of each fenced code block, then the whole text."""
    for match in _FENCE.finditer(text):
        yield match.group(1)
    yield text


def balanced_end(text: str, start: int) -> int | None:
    """Index of the bracket closing the one at `start`, skipping quoted strings; None if none."""
    stack: list[str] = []
    for match in _TOKEN.finditer(text, start):
        token = match.group()
        if token in "[({":
            stack.append(token)
        elif token in _PAIRS:
            if not stack or stack.pop() != _PAIRS[token]:
                return None
            if not stack:
                return match.start()
    return None
