"""`pertool report`: a self-contained HTML report (tables, charts, sample browser) of runs."""

from __future__ import annotations

import argparse

HELP = "write one self-contained HTML report (tables, charts, sample browser) of run directories"


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("report", help=HELP, description=HELP + ". Each run is re-scored from its "
                            "predictions.jsonl against the benchmark named in its config.json; the file "
                            "needs no network to open.")  # fmt: skip
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories written by `pertool eval`")
    p.add_argument("--out", metavar="FILE.html",
                   help="where to write (default: RUN_DIR/report.html for one run, else ./report.html)")
    p.add_argument("--data-dir", metavar="DIR",
                   help="ToolSpectrum or PEToolBench data (as eval's --data-dir), when the one in "
                   "config.json has moved")  # fmt: skip
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pertool.outpaths import check_out_file, record_written
    from pertool.report.html import write_report

    runs = [Path(d) for d in args.run_dirs]
    if args.out:
        out = Path(args.out)
    else:
        out = runs[0] / "report.html" if len(runs) == 1 else Path("report.html")
    check_out_file(out, option="--out" if args.out else "the default report file")
    size = write_report(runs, out, data_dir=args.data_dir)
    record_written(out)
    print(f"wrote {out} ({size / 1e6:.1f} MB, {len(runs)} run{'s' if len(runs) != 1 else ''})")
    return 0
