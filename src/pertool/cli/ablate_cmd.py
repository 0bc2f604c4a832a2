"""`pertool ablate`: the paper's profile ablation (section 5.3) as run directories, a table and
a chart."""

from __future__ import annotations

import argparse
from pathlib import Path

from pertool.cli.eval_cmd import add_run_options
from pertool.cli.log_to import add_log_to

HELP = ("run the profile ablation (all, no-basic, no-history, none; ToolSpectrum: both, persona-only, "
        "environment-only) and write its table and chart")


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("ablate", help=HELP, description=HELP + ". Each condition is a run directory "
                            "under --out (cached and resumable: run the same command again to finish it); "
                            "the table goes to the terminal, ablation.md and ablation.csv, the chart to "
                            "ablation.svg.")  # fmt: skip
    add_run_options(p, out_help="output directory (default: runs/<time>-ablate-<model>)")
    p.add_argument("--conditions", metavar="LIST",
                   help="comma-separated subset of the conditions (default: all of them)")
    add_log_to(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import sys
    from pathlib import Path

    from pertool.cli import signals
    from pertool.cli.checks import check_run_options
    from pertool.cli.eval_cmd import config_from_args
    from pertool.cli.log_to import log_targets
    from pertool.errors import PertoolError
    from pertool.locking import FileLock
    from pertool.outpaths import check_out_dir
    from pertool.report.ablation import format_terminal, run_ablation, write_outputs
    from pertool.runner.run import default_out_dir

    check_run_options(args)
    targets = log_targets(args)  # an unknown tracker or a missing package: before anything runs
    args.profile_view = None  # set per condition
    config = config_from_args(args)
    out = Path(args.out) if args.out else default_out_dir(f"ablate-{config.model}")
    target = check_out_dir(out, "ablation")  # before anything: a user's directory is refused
    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()] if args.conditions else None

    def started(condition: str, path: Path) -> None:
        if not args.no_progress:
            print(f"{condition}: {path}", file=sys.stderr)

    target.make()
    lock = FileLock(out / ".lock")
    lock.acquire_now(f"{out} is being written by another `pertool ablate`; wait for it to finish")
    try:
        rows = asyncio.run(run_ablation(out, config, conditions=conditions,
                                        show_progress=not args.no_progress, on_start=started))  # fmt: skip
    except PertoolError:
        if not any(p.is_dir() for p in out.iterdir()):  # no condition was started: take it all back
            lock.release(remove=True)
            target.discard()
        raise
    except KeyboardInterrupt:
        return signals.interrupted(f"finished samples are saved. Run the same command (--out {out}) "
                                   "to finish.")  # fmt: skip
    finally:
        lock.release()
    title = f"Profile ablation: {config.model} on {config.benchmark}"
    print(format_terminal(rows, title=f"{title} ({out}):"))
    files = write_outputs(out, rows, title=title)
    print(f"\nwrote {', '.join(str(f) for f in files)}")
    print("paired tests: pertool compare " + " ".join(str(r.path) for r in rows))
    failed = [r.condition for r in rows if _has_errors(r.path / "errors.jsonl")]
    if failed:
        print(f"pertool: warning: some samples failed in {', '.join(failed)}; run the same command again "
              "to retry them", file=sys.stderr)  # fmt: skip
    if targets:  # one tracked run per condition, after every file is written
        from pertool.tracking.publish import log_ablation

        log_ablation(targets, out, [(r.condition, r.path) for r in rows], data_dir=config.data_dir)
    return 0


def _has_errors(file: Path) -> bool:
    from pertool.errors import DataError
    from pertool.fileio import read_file_bytes

    try:
        return file.exists() and bool(read_file_bytes(file).strip())
    except DataError:
        return True  # not readable as a file: worth the warning too
