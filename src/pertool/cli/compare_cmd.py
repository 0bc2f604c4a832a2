"""`pertool compare`: a leaderboard over run directories of one benchmark, with paired tests."""

from __future__ import annotations

import argparse

from pertool.scoring.defaults import DEFAULT_RESAMPLES

HELP = ("leaderboard over runs of the same benchmark (terminal, markdown, LaTeX, CSV), with paired "
        "bootstrap tests against the best run")


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("compare", help=HELP, description=HELP + ". Each run is re-scored from its "
                            "predictions.jsonl against the benchmark named in its config.json.")  # fmt: skip
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories written by `pertool eval`")
    p.add_argument("--format", choices=["terminal", "markdown", "latex", "csv"], default="terminal",
                   help="output format (default terminal)")
    p.add_argument("--metric", help="metric to sort and test by (default: the benchmark's headline metric: "
                   "PTBench overall, ToolSpectrum accuracy, PEToolBench call accuracy)")
    p.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES,
                   help=f"bootstrap resamples for intervals and paired tests (default {DEFAULT_RESAMPLES})")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--alpha", type=float, default=0.05,
                   help="significance level of the paired tests (default 0.05)")
    p.add_argument("--out", metavar="FILE", help="write the table to FILE instead of standard output")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pertool.cli.checks import check_range, check_run_options
    from pertool.fileio import atomic_write_text
    from pertool.outpaths import check_out_file, record_written
    from pertool.report.compare import FORMATS, build_leaderboard, load_runs

    check_run_options(args)  # --resamples, --seed
    check_range("--alpha", args.alpha, low=1e-6, high=0.5)
    if args.out:
        check_out_file(Path(args.out))
    runs = load_runs([Path(p) for p in args.runs], resamples=args.resamples, seed=args.seed)
    board = build_leaderboard(runs, metric=args.metric, resamples=args.resamples, seed=args.seed,
                              alpha=args.alpha)  # fmt: skip
    text = FORMATS[args.format](board)
    if args.out:
        atomic_write_text(Path(args.out), text if text.endswith("\n") else text + "\n")
        record_written(Path(args.out))
    else:
        print(text, end="" if text.endswith("\n") else "\n")
    return 0
