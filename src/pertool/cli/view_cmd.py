"""`pertool view`: a local web app over a directory of runs, on 127.0.0.1."""

from __future__ import annotations

import argparse

HELP = ("browse a directory of runs in a local web app: leaderboard, reports, answers side by side, "
        "live progress")


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("view", help=HELP, description=HELP + ". Serves on 127.0.0.1 only; Ctrl-C stops "
                            "it. Runs still being written show their progress and partial scores; the page "
                            "updates itself.")  # fmt: skip
    p.add_argument("runs_dir", nargs="?", default="runs", metavar="RUNS_DIR",
                   help="the directory holding run directories (default: ./runs, where `pertool eval` "
                   "writes)")  # fmt: skip
    p.add_argument("--port", type=int, default=0,
                   help="port to listen on (default: a free one, printed)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from pertool.cli.checks import check_range
    from pertool.errors import PertoolError
    from pertool.viewer.server import make_server

    check_range("--port", args.port, low=0, high=65535)
    root = Path(args.runs_dir)
    if not root.is_dir():
        default = ""
        if args.runs_dir == "runs":
            default = " (the default; give RUNS_DIR, or run `pertool eval` here first)"
        raise PertoolError(f"runs directory {root} does not exist or is not a directory{default}")
    try:
        server = make_server(root, args.port)
    except OSError as exc:
        raise PertoolError(f"cannot listen on 127.0.0.1:{args.port} ({exc.strerror or exc}); "
                           "choose another --port or leave it out for a free one") from None  # fmt: skip
    try:
        print(f"pertool view: serving {root} at {server.url} (Ctrl-C stops)", flush=True)
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("pertool view: stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0
