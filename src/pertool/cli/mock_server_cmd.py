"""`pertool mock-server`: a loopback OpenAI-compatible server that answers gold answers."""

from __future__ import annotations

import argparse

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
    p.add_argument("--hang", type=float, default=150.0, metavar="S",
                   help="how long a hang lasts (default 150 s, past the client's default 120 s timeout)")
    p.add_argument("--data-dir", metavar="DIR", help="ToolSpectrum data directory")
    p.add_argument("--seed", type=int, default=0, help="seed for faults and corruption")
    p.add_argument("--log", metavar="FILE", help="append one JSON line per request")
    p.add_argument("--scripted", action="store_true",
                   help="answer `pertool synth` requests with the scripted LLM (offline pipelines)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from pertool.benchmarks.registry import load_benchmark
    from pertool.mock_server import MockServer, MockSettings

    settings = MockSettings(latency_s=args.latency, fault_rate=args.fault_rate,
                            corrupt_rate=args.corrupt_rate, seed=args.seed, hang_s=args.hang,
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
