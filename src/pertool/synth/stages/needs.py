"""How a query states a need without quoting the platform characteristic it points to.

A stated need decides the target platform (stages/queries.py). Quoted verbatim ("price level
should be low") it lets a string rule on the platforms' characteristics find the gold platform,
so the user agent is given `need.phrasings` instead: a few declared ways a person says that
need without its value ("I want to keep the cost down" for a low price level), one of which the
query must contain word for word (rule `need_not_stated`). The assistant is never shown them.

PHRASINGS declares them per kind of characteristic (price, speed, quality, style: a
characteristic is of a kind when its name has one of the kind's words) and value (with a few
synonyms: "budget" prices are low ones). A characteristic or value the table does not know has
no paraphrase: its one phrasing is "<characteristic> should be <value>", verbatim (extend the
table for a config whose platforms have other characteristics). A declared phrasing that still
says the value as a word is left out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["PHRASINGS", "phrasings", "stated_phrasing"]

# kind -> the words naming it in a characteristic's name
KINDS: dict[str, frozenset[str]] = {
    "price": frozenset({"price", "prices", "pricing", "cost", "costs", "budget", "fee", "fees"}),
    "speed": frozenset({"speed", "delivery", "turnaround", "waiting", "wait"}),
    "quality": frozenset({"quality"}),
    "style": frozenset({"style", "look", "design", "aesthetic", "vibe"}),
}
# kind -> ((values, synonyms first), phrasings); no phrasing names a value of its kind.
PHRASINGS: dict[str, tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]] = {
    "price": (
        (("low", "budget", "cheap", "inexpensive"),
         ("I want to keep the cost down", "the cheaper the better", "I'm watching my spending")),
        (("moderate", "medium", "mid-range", "average"),
         ("something reasonably priced", "nothing too pricey and nothing bargain-bin",
          "a middle-of-the-road price is fine")),
        (("high", "premium", "expensive"),
         ("money is no object", "I don't mind paying more", "I'm happy to splurge")),
    ),
    "speed": (
        (("fast", "quick", "same-day", "instant"),
         ("I need it quickly", "the sooner the better", "I'm in a hurry")),
        (("average", "moderate", "normal", "standard"),
         ("a regular turnaround is fine", "ordinary timing works for me", "it doesn't need to be rushed")),
        (("slow",), ("I'm in no hurry at all", "it can take its time", "waiting a while is fine")),
    ),
    "quality": (
        (("excellent", "high", "top"),
         ("I want the very best quality", "first-rate quality matters most", "only the finest will do")),
        (("decent", "good", "average"),
         ("solid, dependable quality is enough", "acceptable quality is fine", "reasonable quality will do")),
        (("basic", "low"),
         ("nothing fancy, just the essentials", "bare-bones is fine", "just something simple that works")),
    ),
    "style": (
        (("minimalist",),
         ("a clean, uncluttered feel", "a pared-back look", "as little clutter as possible")),
        (("playful",), ("something fun and cheerful", "a lighthearted feel", "a bit of whimsy")),
        (("premium", "luxury"), ("something upscale", "a luxurious feel", "a touch of elegance")),
        (("classic",), ("a timeless, traditional feel", "something time-tested", "old-school charm")),
        (("trendy",),
         ("something fashionable and current", "whatever is in vogue right now", "the latest look")),
        (("family-friendly",),
         ("something suitable for kids", "something the whole family can enjoy", "safe for my children")),
    ),
}  # fmt: skip


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.casefold()))


def _says(word: str, text: str) -> bool:
    """`word` occurs in `text` as whole words, case aside."""
    needle = word.strip()
    return bool(needle) and re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", text, re.IGNORECASE) is not None


def phrasings(characteristic: str, value: str) -> list[str]:
    """The ways a query may state the need for `value` of `characteristic` (never empty)."""
    named = _words(characteristic)
    wanted = " ".join(str(value).casefold().split())
    for kind, rows in PHRASINGS.items():
        if not named & KINDS[kind]:
            continue
        for values, said in rows:
            if wanted in values:
                kept = [p for p in said if not _says(str(value), p)]
                if kept:
                    return kept
    return [f"{characteristic} should be {value}"]


def stated_phrasing(options: Sequence[str], text: str) -> str | None:
    """The first of `options` the text contains (case and spacing aside), or None."""
    flat = " ".join(text.casefold().split())
    return next((p for p in options if " ".join(p.casefold().split()) in flat), None)
