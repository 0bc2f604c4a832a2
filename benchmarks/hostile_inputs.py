"""Run every hostile-input case class and print cases tried and failures per class (target: 0).

    python benchmarks/hostile_inputs.py [--only CLASS] [--verbose]

Classes are the modules of benchmarks/hostile/ (one failure class each, see its docstring).
Each case runs in a fresh temporary directory with its own data and cache directories, so no
case sees another's files or the user's.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import hostile  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="run only this class (repeatable)")
    parser.add_argument("--verbose", action="store_true", help="print each failure's reason")
    args = parser.parse_args()
    names = sorted(m.name for m in pkgutil.iter_modules(hostile.__path__) if not m.name.startswith("_"))
    if args.only:
        names = [n for n in names if n in args.only]
    total_cases = total_failures = 0
    print(f"{'class':<22} {'cases':>6} {'failures':>9} {'seconds':>8}")
    for name in names:
        module = importlib.import_module(f"hostile.{name}")
        failures: list[tuple[str, str]] = []
        started = time.perf_counter()
        for case in module.CASES:
            with tempfile.TemporaryDirectory(prefix=f"hostile-{name}-") as tmp:
                root = Path(tmp)
                os.environ["PERTOOL_DATA_DIR"] = str(root / "data")
                os.environ["PERTOOL_CACHE_DIR"] = str(root / "cache")
                work = root / "work"
                work.mkdir()
                try:
                    case.run(work)
                except BaseException as exc:  # noqa: BLE001 - a case's failure is what we count
                    if isinstance(exc, KeyboardInterrupt):
                        raise
                    reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                    failures.append((case.name, reason))
                    if args.verbose:
                        traceback.print_exc()
        seconds = time.perf_counter() - started
        print(f"{name:<22} {len(module.CASES):>6} {len(failures):>9} {seconds:>8.1f}")
        for case_name, reason in failures:
            print(f"    FAIL {case_name}: {reason}")
        total_cases += len(module.CASES)
        total_failures += len(failures)
    print(f"{'total':<22} {total_cases:>6} {total_failures:>9}")
    return 1 if total_failures else 0


if __name__ == "__main__":
    sys.exit(main())
