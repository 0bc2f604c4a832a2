"""The `pertool` command. Each subcommand lives in its own module and imports what it needs
only when it runs, so `pertool --help` answers at once."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from pertool.cli import (
    ablate_cmd,
    audit_cmd,
    compare_cmd,
    data_cmd,
    eval_cmd,
    generate_cmd,
    mock_server_cmd,
    models_cmd,
    prompt_cmd,
    report_cmd,
    score_cmd,
    synth_cmd,
    train_cmd,
    view_cmd,
)
from pertool.versions import __version__

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    """Option errors as one line like every other refusal (argparse prints the usage too)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"pertool: error: {' '.join(message.split())} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pertool",
        description="Personalized tool invocation for LLMs: evaluate, synthesize, fine-tune.",
    )
    parser.add_argument("--version", action="version", version=f"pertool {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (eval_cmd, score_cmd, generate_cmd, synth_cmd, train_cmd, data_cmd, models_cmd, prompt_cmd,
                   mock_server_cmd, audit_cmd, compare_cmd, ablate_cmd, report_cmd, view_cmd):  # fmt: skip
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 0
    from pertool.cli import signals
    from pertool.errors import PertoolError

    signals.install()
    try:
        return int(args.run(args) or 0)
    except PertoolError as exc:
        print(f"pertool: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pertool: interrupted", file=sys.stderr)
        return signals.exit_code()
    except BrokenPipeError:  # `pertool score | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
