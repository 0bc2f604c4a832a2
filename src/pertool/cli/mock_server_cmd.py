"""`pertool mock-server`: a loopback OpenAI-compatible server that answers gold answers."""

from __future__ import annotations

import argparse

from pertool.cli import DATA_DIR_HELP

HELP = "serve a benchmark's gold answers as an OpenAI-compatible API (tests, dry runs)"


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("mock-server", help=HELP, description=HELP + (
        ". Point `pertool eval --model openai-compatible/mock --base-url URL` at it."))
    p.add_argument("--benchmark", default="example", help="benchmark spec (default: example)")
    p.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default 8000; 0 = any)")
    p.add_argument("--latency", type=float, default=0.0, metavar="S", help="seconds before each answer")
    p.add_argument("--fault-rate", type=float, default=0.0, metavar="R",
                   help="share of requests that fail (429, 500, hang, malformed JSON, disconnect)")
    p.add_argument("--corrupt-rate", type=float, default=0.0, metavar="R",
                   help="share of samples answered with a wrong platform")
    p.add_argument("--hang-s", "--hang", dest="hang_s", type=float, default=None, metavar="S",
                   help="how long a hang fault stays silent before it closes the connection (default "
                   "5 s; below the client's default 120 s timeout, so faults cause retries, not stalls)")
    p.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)
    p.add_argument("--seed", type=int, default=0, help="seed for faults and corruption")
    p.add_argument("--log", metavar="FILE", help="append one JSON line per request")
    p.add_argument("--scripted", action="store_true",
                   help="answer `pertool synth` requests with the scripted LLM (offline pipelines)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from pertool.kinds import load_benchmark
    from pertool.mock_server import DEFAULT_HANG_S, MockServer, MockSettings

    hang_s = DEFAULT_HANG_S if args.hang_s is None else args.hang_s
    check_options(args, hang_s)
    settings = MockSettings(latency_s=args.latency, fault_rate=args.fault_rate,
                            corrupt_rate=args.corrupt_rate, seed=args.seed, hang_s=hang_s,
                            log=Path(args.log) if args.log else None,
                            scripted=args.scripted)  # fmt: skip
    server = MockServer([] if args.scripted else load_benchmark(args.benchmark, args.data_dir), settings)
    url = server.start(port=args.port)
    print(f"serving {args.benchmark} on {url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    print(url, flush=True)
    try:
        import threading

        threading.Event().wait()
    finally:
        server.stop()
    return 0


def check_options(args: argparse.Namespace, hang_s: float) -> None:
    """Rates are shares, delays are finite; a hang must end before the client's default timeout."""
    import math

    from pertool.cli.checks import check_range, check_run_options
    from pertool.errors import PertoolError
    from pertool.models.registry import ModelOptions

    check_range("--port", args.port, low=0, high=65535)
    check_run_options(args)  # --seed
    for option, value in (("--fault-rate", args.fault_rate), ("--corrupt-rate", args.corrupt_rate)):
        if not 0 <= value <= 1:  # also false for NaN
            raise PertoolError(f"{option} must lie between 0 and 1, not {value}")
    if not (math.isfinite(args.latency) and args.latency >= 0):
        raise PertoolError(f"--latency must be 0 or more seconds, not {args.latency}")
    client_timeout = ModelOptions().timeout_s
    if not (math.isfinite(hang_s) and 0 <= hang_s < client_timeout):
        raise PertoolError(f"--hang-s must be at least 0 and below the client's default timeout "
                           f"({client_timeout:g} s), not {hang_s}; to exercise timeouts give the "
                           "client a shorter --timeout instead")  # fmt: skip
