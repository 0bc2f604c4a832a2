"""Size of the HTML report of a 1,083-sample run, and the time to open it in headless Chromium.

    python benchmarks/report_size.py [--opens 5] [--keep DIR]

Makes a run of baseline/history on the built-in benchmark (1,083 samples) in a temporary
directory (its own PERTOOL_CACHE_DIR too), builds `pertool report` of it, and opens the file in
headless Chromium, driven exactly as tests/test_report.py drives it (`pertool.testing.browser`:
Debian's chromium through Playwright's Python API). An open is timed from the navigation until the page's
script has run and two animation frames have passed (the table and charts are drawn); the first
open is in a fresh browser process, the others reload the page. Targets (issue 8): under 5 MB,
under 2 s to open. Exits 1 when a target is missed, 2 when Chromium or Playwright is missing
(`make chromium` installs chromium with `apt-get install -y --no-install-recommends chromium`).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pertool.testing.browser import missing_reason, report_browser

MAX_BYTES = 5_000_000
MAX_SECONDS = 2.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--opens", type=int, default=5, help="times to open the report (default 5)")
    parser.add_argument("--keep", metavar="DIR", help="build in DIR and keep it (default: a temporary dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pertool-report-size-") as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        return measure(root, args.opens)


def measure(root: Path, opens: int) -> int:
    os.environ["PERTOOL_CACHE_DIR"] = str(root / "cache")
    from pertool.cli.main import main as pertool
    from pertool.report.html import write_report

    run = root / "run"
    if not (run / "predictions.jsonl").exists():
        with contextlib.redirect_stdout(io.StringIO()):  # the score table is not what is measured
            code = pertool(["eval", "--model", "baseline/history", "--out", str(run), "--no-progress", "--no-cache"])
        if code:
            return code
    lines = (run / "predictions.jsonl").read_text().count("\n")
    out = root / "report.html"
    start = time.perf_counter()
    size = write_report([run], out)
    built = time.perf_counter() - start

    problem = missing_reason()
    if problem is not None:
        print(f"headless Chromium cannot be driven: {problem}", file=sys.stderr)
        return 2
    times: list[float] = []
    in_page: list[float] = []
    with report_browser() as browser:
        version = browser.version
        for _ in range(max(1, opens)):
            times.append(browser.open(out.as_uri()))
            in_page.append(browser.evaluate("window.pertoolReady") / 1000)
        rows = browser.evaluate("document.querySelectorAll('.browser tbody tr').length")
        charts = browser.evaluate("document.querySelectorAll('svg.chart').length")

    size_ok, time_ok = size < MAX_BYTES, max(times) < MAX_SECONDS
    print(f"run: baseline/history on builtin, {lines} samples ({run})")
    print(f"report: {out}, built in {built:.2f} s")
    print(f"size: {size:,} bytes ({size / 1e6:.2f} MB); target < {MAX_BYTES / 1e6:.0f} MB: "
          f"{'ok' if size_ok else 'MISSED'}")  # fmt: skip
    print(f"open in headless {version} ({rows} table rows, {charts} charts drawn): first {times[0]:.3f} s, "
          f"median {statistics.median(times):.3f} s, max {max(times):.3f} s over {len(times)} opens; "
          f"script done {statistics.median(in_page) * 1000:.0f} ms after navigation start (median); "
          f"target < {MAX_SECONDS:.0f} s: {'ok' if time_ok else 'MISSED'}")  # fmt: skip
    return 0 if size_ok and time_ok else 1


if __name__ == "__main__":
    sys.exit(main())
