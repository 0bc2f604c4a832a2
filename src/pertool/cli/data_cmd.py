"""`pertool data download NAME`: fetch a public benchmark into the user data dir."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pertool.cli import DATA_DIR_HELP

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
    e = sub.add_parser("export", help="write a benchmark in another format (ptbench, hf)",
                       description="ptbench: a benchmark's test split in PTBench's layout "
                       "(test_trained_user/, test_untrained_user/); refusal golds have no PTBench "
                       "form and are left out (counted). hf: any benchmark, every sample it loads, as a "
                       "saved Hugging Face `datasets` DatasetDict (one split per benchmark split, typed "
                       "features, a dataset card); `--benchmark hf:DIR` loads it back.")  # fmt: skip
    e.add_argument("--benchmark", required=True, help="benchmark spec, e.g. dataset:DIR or builtin")
    e.add_argument("--format", choices=["ptbench", "hf"], default="ptbench", help="output format")
    e.add_argument("--out", required=True, metavar="DIR", help="output directory")
    e.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)
    e.add_argument("--push-to-hub", metavar="REPO",
                   help="hf: also upload the dataset to the Hugging Face Hub as REPO (user/name), with "
                   "the Hub's own login (HF_TOKEN or `hf auth login`)")  # fmt: skip
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
    from pertool.errors import PertoolError
    from pertool.kinds import load_benchmark
    from pertool.outpaths import check_out_dir

    if args.format == "hf":
        return run_hf_export(args)
    if args.push_to_hub:
        raise PertoolError("--push-to-hub applies to --format hf only")
    target = check_out_dir(Path(args.out), "ptbench-export")  # a user's directory is refused up front
    samples = [s for s in load_benchmark(args.benchmark, args.data_dir) if s.split != "train"]
    kept = [s for s in samples if s.gold_platform is not None]
    files = write_ptbench(kept, target.make())
    print(export_summary(kept, files, args.format, Path(args.out), len(samples) - len(kept)))
    return 0


def run_hf_export(args: argparse.Namespace) -> int:
    from pertool.hfdata.benchmark import export_benchmark, push_export
    from pertool.hfdata.need import datasets_module
    from pertool.kinds import export_source, kind_of, kind_of_samples, load_benchmark
    from pertool.outpaths import check_out_dir

    # a user's directory, or an earlier export, is refused up front: `save_to_disk` would leave
    # an earlier export's other splits beside the new ones
    target = check_out_dir(Path(args.out), "hf-export", reuse=False)
    datasets_module()  # a missing extra is said before anything is loaded or written
    samples = load_benchmark(args.benchmark, args.data_dir)
    kind = kind_of_samples(samples)
    source, license_note = export_source(args.benchmark)
    out = target.make()
    try:
        counts = export_benchmark(samples, args.benchmark, out, kind=kind.name, license_note=license_note,
                                  source=source,
                                  location_keys=lambda s: kind_of(s).location_keys)  # fmt: skip
    except BaseException:
        target.discard()  # only the marker and directories left empty: nothing of the user's
        raise
    lines = [f"exported {sum(counts.values())} samples in hf format to {out} ({kind.name} kind)"]
    width = max(len(split) for split in counts)
    lines += [f"  {split:<{width}}  {count:>6} samples" for split, count in counts.items()]
    lines.append(f"load it with: pertool eval --benchmark hf:{out}  (or datasets.load_from_disk)")
    print("\n".join(lines), flush=True)
    if args.push_to_hub:
        print(f"pushed to {push_export(out, args.push_to_hub)}")
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
