"""Random and mutated strings for fuzzing the answer parsers (tests/test_parsing.py runs a few
thousand; benchmarks/parser_fuzz.py as many as asked)."""

from __future__ import annotations

import random
import string

__all__ = ["ALPHABET", "SEEDS", "fuzz_text", "mutate"]

SEEDS = [
    "MegaMart:[f(a=1, b='x'), g()]",
    '{"platform": "P", "functions": [{"name": "f", "parameters": {"a": [1, {"b": null}]}}]}',
    "<think>x</think>```\n{Green Table:[f(a=-1.5, b=[1,2], c={'k': 'v'})]}\n```",
]
ALPHABET = string.printable + "[](){}:'\"`<>/\\ñ中\x00"


def mutate(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 6)):
        op = rng.random()
        pos = rng.randint(0, len(chars))
        if op < 0.4:
            chars.insert(pos, rng.choice(ALPHABET))
        elif op < 0.7 and chars:
            del chars[min(pos, len(chars) - 1)]
        elif chars:
            chars[min(pos, len(chars) - 1)] = rng.choice(ALPHABET)
    return "".join(chars)


def fuzz_text(rng: random.Random, i: int) -> str:
    """The i-th fuzz input: every third one random characters, the others a mutated seed."""
    if i % 3 == 0:
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 80)))
    return mutate(rng, rng.choice(SEEDS))
