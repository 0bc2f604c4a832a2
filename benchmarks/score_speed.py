"""Time to parse and score 100k PTBench samples, and peak memory (one core).

    python benchmarks/score_speed.py [--n 100000] [--resamples 1000]

Times are CPU seconds of this process (time.process_time), so another busy core does not
inflate them; run it pinned to one core: `taskset -c 0 python benchmarks/score_speed.py`.
Target (issue 2): at most 3 s to parse and score 100k samples here; the public scripts need
31.4 s on this machine (NOTES.md). Outputs are a mix of gold answers, perturbed answers and
unparsable text, built from the bundled example; bootstrap intervals are timed separately.
"""

from __future__ import annotations

import argparse
import random
import resource
import time

from pertool.kinds import load_benchmark
from pertool.kinds.score import score
from pertool.parsing.render import gold_as_calls, render_ptbench


def workload(n: int, seed: int = 0):
    rng = random.Random(seed)
    base = load_benchmark("example")
    samples, outputs = [], {}
    for i in range(n):
        template = base[i % len(base)]
        split = "trained" if i % 2 else "untrained"
        sample = template.model_copy(update={"id": f"{split}:{i}", "split": split})
        calls = gold_as_calls(sample.gold_calls)
        roll = rng.random()
        if roll < 0.15:
            text = "I would pick " + sample.gold_platform
        elif roll < 0.4 and calls[0].arguments:
            key = next(iter(calls[0].arguments))
            calls[0].arguments[key] = "something else"
            text = render_ptbench(sample.gold_platform, calls)
        elif roll < 0.55:
            text = "```\n{" + render_ptbench("Other", calls) + "}\n```"
        else:
            text = render_ptbench(sample.gold_platform, calls)
        samples.append(sample)
        outputs[sample.id] = text
    return samples, outputs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--resamples", type=int, default=1000)
    args = ap.parse_args()
    samples, outputs = workload(args.n)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    # As `pertool score` runs it: no parse kept per sample (nothing stores or shows them).
    t0 = time.process_time()
    report = score(samples, outputs, resamples=0, keep_parses=False)
    t_score = time.process_time() - t0
    accuracy = report.splits["overall"]["overall"]
    del report
    t0 = time.process_time()
    score(samples, outputs, resamples=args.resamples, keep_parses=False)
    t_with_ci = time.process_time() - t0
    t0 = time.process_time()
    score(samples, outputs, resamples=0, compat="ptbench-official", keep_parses=False)
    t_compat = time.process_time() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # As `pertool eval` scores a run: every parse kept for scores.jsonl and the report.
    t0 = time.process_time()
    score(samples, outputs, resamples=args.resamples)
    t_kept = time.process_time() - t0
    peak_kept = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    print(f"samples: {args.n}  (overall accuracy of the mix: {accuracy:.3f})")
    print(f"parse + score:                       {t_score:6.2f} s   target <= 3 s; public scripts 31.4 s")
    print(f"parse + score + {args.resamples} bootstrap resamples: {t_with_ci:6.2f} s")
    print(f"compat ptbench-official:             {t_compat:6.2f} s")
    print(f"peak RSS: {peak / 1024:.0f} MiB (of which {(peak - rss_before) / 1024:.0f} MiB during scoring)")
    print(f"with every parse kept (as eval, for scores.jsonl): {t_kept:6.2f} s, peak RSS {peak_kept / 1024:.0f} MiB")

if __name__ == "__main__":
    main()
