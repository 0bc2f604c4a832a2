"""Time to generate the built-in benchmark with the defaults (7,096 train + 1,083 test), and to
write it in both formats. Target (issue 4): under 10 s here.

    python benchmarks/generate_speed.py [--seed 0]
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

from pertool.benchmarks.builtin import write_dataset
from pertool.benchmarks.dataset import load_dataset
from pertool.builtin.generate import GeneratorSettings, generate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        generated = generate(GeneratorSettings(seed=args.seed))
        t1 = time.perf_counter()
        write_dataset(generated, Path(tmp) / "pertool")
        t2 = time.perf_counter()
        write_dataset(generated, Path(tmp) / "ptbench", "ptbench")
        t3 = time.perf_counter()
        load_dataset(Path(tmp) / "pertool", "test")
        t4 = time.perf_counter()
        digest = hashlib.sha256((Path(tmp) / "pertool" / "test.jsonl").read_bytes()).hexdigest()[:16]
        size = sum(p.stat().st_size for p in (Path(tmp) / "pertool").iterdir()) / 2**20
    print(f"train {len(generated.train)}, test {len(generated.test)}; rejected drafts: {dict(generated.rejected)}")
    print(f"generate:              {t1 - t0:6.2f} s")
    print(f"write pertool format:  {t2 - t1:6.2f} s ({size:.1f} MiB)")
    print(f"generate + write:      {t2 - t0:6.2f} s   target < 10 s")
    print(f"write ptbench format:  {t3 - t2:6.2f} s")
    print(f"load test split:       {t4 - t3:6.2f} s")
    print(f"test.jsonl sha256:     {digest} (same seed, same digest)")


if __name__ == "__main__":
    main()
