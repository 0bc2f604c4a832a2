"""`pertool data download NAME`: fetch a public benchmark into the user data dir."""

from __future__ import annotations

import argparse

HELP = "fetch and manage benchmark data"


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("data", help=HELP, description=HELP)
    sub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    d = sub.add_parser("download", help="download a benchmark (ptbench, toolspectrum) into the data dir",
                       description="Download a benchmark's files from its pinned public commit "
                       "into the data dir ($PERTOOL_DATA_DIR, else ~/.local/share/pertool).")
    d.add_argument("name", choices=["ptbench", "toolspectrum"], help="which benchmark")
    d.add_argument("--from", dest="source", metavar="DIR_OR_URL",
                   help="a local directory or base URL with the repository's layout")
    d.set_defaults(run=run_download)
    p.set_defaults(run=lambda args: p.print_help())


def run_download(args: argparse.Namespace) -> int:
    from pertool.benchmarks.download import download
    from pertool.benchmarks.registry import remote_dataset

    remote, dest = remote_dataset(args.name)
    summary = download(remote, dest, args.source)
    print(f"{args.name}: {summary}; saved in {dest}")
    return 0
