"""`pertool data download NAME`: fetch a public benchmark into the user data dir."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pertool.schema import Sample

HELP = "fetch and manage benchmark data"


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("data", help=HELP, description=HELP)
    sub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    d = sub.add_parser("download", help="download a benchmark (ptbench, toolspectrum, petoolbench) into the "
                       "data dir",
                       description="Download a benchmark's files from its pinned public commit "
                       "into the data dir ($PERTOOL_DATA_DIR, else ~/.local/share/pertool).")
    d.add_argument("name", help="which benchmark: ptbench, toolspectrum or petoolbench")
    d.add_argument("--from", dest="source", metavar="DIR_OR_URL",
                   help="a local directory or base URL with the repository's layout")
    d.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS",
                   help="deadline for the whole download (default 600)")
    d.add_argument("--max-download-mb", type=float, default=500.0, metavar="MB",
                   help="refuse to fetch more than this many megabytes in all (default 500)")
    d.set_defaults(run=run_download)
    e = sub.add_parser("export", help="write a benchmark's test split in another format (ptbench)",
                       description="Write a benchmark's test split in PTBench's layout "
                       "(test_trained_user/, test_untrained_user/). Refusal golds have no PTBench "
                       "form and are left out (counted).")  # fmt: skip
    e.add_argument("--benchmark", required=True, help="benchmark spec, e.g. dataset:DIR or builtin")
    e.add_argument("--format", choices=["ptbench"], default="ptbench", help="output format")
    e.add_argument("--out", required=True, metavar="DIR", help="output directory")
    e.set_defaults(run=run_export)
    p.set_defaults(run=lambda args: p.print_help())


def run_download(args: argparse.Namespace) -> int:
    from pertool.benchmarks.download import Limits, download
    from pertool.cli.checks import check_range
    from pertool.kinds import remote_dataset

    check_range("--timeout", args.timeout, low=0.1, high=7 * 24 * 3600)
    check_range("--max-download-mb", args.max_download_mb, low=0.001, high=1024 * 1024)
    remote, dest = remote_dataset(args.name)
    limits = Limits(deadline_s=args.timeout, max_bytes=int(args.max_download_mb * 1024 * 1024))
    summary = download(remote, dest, args.source, limits)
    print(f"{args.name}: {summary}; saved in {dest}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from pertool.benchmarks.ptbench import write_ptbench
    from pertool.kinds import load_benchmark
    from pertool.outpaths import check_out_dir

    target = check_out_dir(Path(args.out), "ptbench-export")  # a user's directory is refused up front
    samples = [s for s in load_benchmark(args.benchmark) if s.split != "train"]
    kept = [s for s in samples if s.gold_platform is not None]
    files = write_ptbench(kept, target.make())
    print(export_summary(kept, files, args.format, Path(args.out), len(samples) - len(kept)))
    return 0


def export_summary(kept: Sequence[Sample], files: Sequence[Path], fmt: str, out: Path, left_out: int) -> str:
    """What `data export` wrote: format, directory, then one line per split (count and file)."""
    from collections import Counter

    # write_ptbench writes one file per split in the order the splits first appear: the same
    # order as this Counter's keys.
    per_split = Counter(s.split for s in kept)
    lines = [f"exported {len(kept)} samples in {fmt} format to {out}"]
    width = max((len(split) for split in per_split), default=0)
    lines += [f"  {split:<{width}}  {count:>6} samples  {file}"
              for (split, count), file in zip(per_split.items(), files)]  # fmt: skip
    if left_out:
        lines.append(f"{left_out} refusal golds left out (they have no {fmt} form)")
    return "\n".join(lines)
