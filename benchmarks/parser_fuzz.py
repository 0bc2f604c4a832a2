"""Fuzz the PTBench parsers with many random and mutated strings (the suite runs a few thousand).

    python benchmarks/parser_fuzz.py [--count 100000] [--seed 0]

Prints how many inputs parsed, the slowest input's time, and fails loudly on any exception.
Both our parser and the compatibility parser (`--compat ptbench-official`) are exercised.
"""

from __future__ import annotations

import argparse
import random
import time

from pertool.parsing.ptbench import parse_ptbench
from pertool.schema import GoldCall, Sample
from pertool.scoring.ptbench_official import score_sample_official
from pertool.testing.fuzz import fuzz_text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    sample = Sample(id="trained:0", benchmark="ptbench", split="trained", query="q",
                    gold_platform="MegaMart", gold_calls=[GoldCall(name="f", arguments={"a": [1]})])
    parsed = compat_parsed = 0
    slowest = (0.0, "")
    start = time.perf_counter()
    for i in range(args.count):
        text = fuzz_text(rng, i)
        t0 = time.perf_counter()
        parsed += parse_ptbench(text).parse_error is None
        compat_parsed += score_sample_official(sample, text).format
        elapsed = time.perf_counter() - t0
        if elapsed > slowest[0]:
            slowest = (elapsed, text)
    total = time.perf_counter() - start
    print(f"{args.count} inputs in {total:.1f} s, no exception")
    print(f"parsed: {parsed} (pertool), {compat_parsed} (compat)")
    print(f"slowest input: {slowest[0] * 1e3:.2f} ms: {slowest[1][:60]!r}")


if __name__ == "__main__":
    main()
