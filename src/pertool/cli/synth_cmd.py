"""`pertool synth`: PTool's LLM-driven synthesis pipeline, all stages or one at a time."""

from __future__ import annotations

import argparse

HELP = "synthesize personalized tool-use data with an LLM (PTool), resumable stage by stage"
STAGES = ("tools", "features", "users", "histories", "queries", "solutions", "verify", "dataset")


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("synth", help=HELP, description=HELP + ". `run` runs every stage not yet "
                            "done; each stage is also a command of its own.")  # fmt: skip
    sub = p.add_subparsers(dest="synth_command", metavar="STAGE")
    run = sub.add_parser("run", help="run all stages (resumes where a previous run stopped)")
    run.add_argument("--config", required=True, metavar="FILE", help="YAML config (see examples/)")
    _common(run)
    for stage in STAGES:
        s = sub.add_parser(stage, help=f"run only the `{stage}` stage")
        s.add_argument("--config", metavar="FILE", help="needed only if DIR was not started yet")
        _common(s)
        s.set_defaults(only=[stage])
    p.set_defaults(run=lambda args: p.print_help())


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model spec, e.g. openai/gpt-4o-mini or "
                   "openai-compatible/scripted --base-url URL")  # fmt: skip
    p.add_argument("--out", required=True, metavar="DIR", help="pipeline directory")
    p.add_argument("--base-url", help="server URL for openai-compatible/")
    p.add_argument("--api-key-env", metavar="VAR", help="NAME of the variable holding the key")
    p.add_argument("--max-concurrency", type=int, default=8, help="requests in flight (default 8)")
    p.add_argument("--no-cache", action="store_true", help="bypass the response cache")
    p.add_argument("--prices", metavar="FILE", help='JSON {"input": USD/1M tokens, "output": ...}')
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=run, only=None)


def run(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    from pertool.cli.checks import check_range, read_prices
    from pertool.errors import PertoolError
    from pertool.models.registry import ModelOptions
    from pertool.synth.api import run_synthesis
    from pertool.synth.store import load_config

    check_range("--max-concurrency", args.max_concurrency, low=1, high=1024)
    out = Path(args.out)
    config = load_config(args.config) if args.config else None
    if config is None and not (out / "pipeline.json").exists():
        raise PertoolError(f"{out} has no pipeline yet: give --config FILE")
    prices = read_prices(args.prices) if args.prices else None
    options = ModelOptions(base_url=args.base_url, api_key_env=args.api_key_env)
    try:
        summary = asyncio.run(run_synthesis(out, args.model, config=config, options=options, only=args.only,
                                            use_cache=not args.no_cache, concurrency=args.max_concurrency,
                                            prices=prices, show_progress=not args.no_progress))  # fmt: skip
    except KeyboardInterrupt:
        print(f"\npertool: interrupted; run the same command again to resume ({out})")
        return 130
    print(f"{'stage':<11}{'calls':>7}{'cached':>8}{'tokens in':>11}{'tokens out':>11}{'cost':>9}"
          f"{'accepted':>10}  rejected")  # fmt: skip
    for stage, s in summary.items():
        rejected = ", ".join(f"{k} {v}" for k, v in s["rejected"].items()) or "-"
        print(f"{stage:<11}{s['calls']:>7}{s['cached']:>8}{s['input_tokens']:>11}{s['output_tokens']:>11}"
              f"{s['cost']:>9.4f}{s['accepted']:>10}  {rejected}")  # fmt: skip
    print(f"\nsummary: {out / 'summary.json'}; evaluate with --benchmark dataset:{out}")
    return 0
