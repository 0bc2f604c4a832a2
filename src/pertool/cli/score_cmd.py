"""`pertool score`: score a predictions file against a benchmark."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pertool.cli import DATA_DIR_HELP
from pertool.scoring.defaults import DEFAULT_RESAMPLES

HELP = "score model outputs (JSONL of {id, output}) against a benchmark"


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("score", help=HELP, description=HELP + (
        ". With no arguments, scores the bundled example predictions on the bundled example."))
    p.add_argument("--benchmark", default="example",
                   help="benchmark spec: example (default), builtin[:train], builtin-mini[:train], "
                   "dataset:DIR, ptbench[:PATH], toolspectrum:SUBSET, petoolbench[:SETTING]")
    p.add_argument("--predictions", metavar="FILE",
                   help='JSONL lines {"id": "<split>:<index>", "output": "<model text>"}')
    p.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)
    p.add_argument("--compat", choices=["ptbench-official", "petoolbench-public"],
                   help="reproduce the public PTBench (ptbench-official) or PEToolBench (petoolbench-public) "
                   "scripts' numbers, defects included")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--samples", action="store_true",
                   help="with --json, include the per-sample outcomes")
    p.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES,
                   help=f"bootstrap resamples for the 95%% intervals (default {DEFAULT_RESAMPLES}; 0: none)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pertool.benchmarks.registry import EXAMPLE_PREDICTIONS
    from pertool.cli.checks import check_run_options
    from pertool.errors import PertoolError
    from pertool.kinds import load_benchmark
    from pertool.kinds.score import score
    from pertool.predictions import read_predictions
    from pertool.report.terminal import format_report

    check_run_options(args)
    if args.predictions is None:
        bundled = {"example": EXAMPLE_PREDICTIONS}.get(args.benchmark)  # predictions pertool ships
        if bundled is None:
            raise PertoolError("--predictions FILE is required with --benchmark " + args.benchmark)
        args.predictions = str(bundled)
    samples = load_benchmark(args.benchmark, args.data_dir)
    predictions = read_predictions(args.predictions)
    failed, overflows = _no_answer(Path(args.predictions))
    report = score(samples, predictions.outputs, compat=args.compat, resamples=args.resamples,
                   seed=args.seed, no_answer=failed, context_overflow=overflows,
                   keep_parses=bool(args.json and args.samples))  # fmt: skip
    report.duplicate_predictions = predictions.duplicates
    _warn(report)
    if report.no_answer and args.json:  # the tables say it themselves
        print(f"pertool: warning: {report.answered_line()}", file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_json(with_samples=args.samples), indent=2))
    else:
        mode = "public-script compatibility" if args.compat else "pertool rules"
        print(format_report(report, title=f"{args.benchmark} scored with {mode}:"))
    return 0


def _no_answer(predictions: Path) -> tuple[set[str], set[str]]:
    """A run's predictions file: the samples whose request failed (its errors.jsonl) have no
    answer, and are left out of the metrics as `pertool eval` does. Returns (failed ids, those
    of them whose prompt did not fit the model's context window)."""
    from pertool.runner.rundir import CONFIG, ERRORS, PREDICTIONS, RunDir

    run = predictions.parent
    if predictions.name != PREDICTIONS or not (run / CONFIG).is_file() or not (run / ERRORS).is_file():
        return set(), set()
    run_dir = RunDir(run)
    return run_dir.failed_ids(), set(run_dir.context_overflows())


def _warn(report) -> None:  # type: ignore[no-untyped-def]
    for label, ids in (
        ("samples without a prediction (scored as unparsable)", report.missing_predictions),
        ("prediction ids that match no sample (ignored)", report.unknown_predictions),
        ("ids predicted more than once (the last line counts)", report.duplicate_predictions),
    ):
        if ids:
            shown = ", ".join(ids[:5]) + (f", ... ({len(ids)} in all)" if len(ids) > 5 else "")
            print(f"pertool: warning: {len(ids)} {label}: {shown}", file=sys.stderr)
    from pertool.benchmarks.quality import quality_warning

    warning = quality_warning(report.extra)
    if warning:
        print(warning, file=sys.stderr)
