"""`pertool synth`: PTool's LLM-driven synthesis pipeline, all stages or one at a time."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from pertool.cli.eval_cmd import add_executor_options

if TYPE_CHECKING:
    from pertool.distributed import RaySettings

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
    stats = sub.add_parser("stats", help="figures of a finished pipeline's dataset: shortcuts a model "
                           "could take (history majority, need string), placeholders, two-call share, "
                           "duplicates")  # fmt: skip
    stats.add_argument("--out", required=True, metavar="DIR", help="pipeline directory")
    stats.add_argument("--json", action="store_true", help="print the figures as JSON")
    stats.set_defaults(run=run_stats)
    p.set_defaults(run=lambda args: p.print_help())


def run_stats(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from pertool.synth.stats import dataset_stats, format_stats

    figures = dataset_stats(Path(args.out))
    print(json.dumps(figures, indent=2) if args.json else format_stats(figures))
    return 0


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
    add_executor_options(p)  # per invocation, like --max-concurrency: they change no record
    p.set_defaults(run=run, only=None)


def ray_settings(args: argparse.Namespace) -> RaySettings | None:
    """--executor ray's settings (None: the model runs here); bad values are one line."""
    from pertool.distributed import RaySettings

    if (args.executor or "local") == "local":
        return None
    return RaySettings(address=args.ray_address, replicas=1 if args.replicas is None else args.replicas,
                       replica_cpus=args.replica_cpus, replica_gpus=args.replica_gpus)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    from pertool.cli import signals
    from pertool.cli.checks import check_range, read_prices
    from pertool.errors import PertoolError
    from pertool.locking import FileLock
    from pertool.models.registry import ModelOptions
    from pertool.outpaths import MARKER, check_out_dir
    from pertool.synth.api import run_synthesis
    from pertool.synth.store import PipelineDir, load_config
    from pertool.synth.summary_table import format_synth_summary

    check_range("--max-concurrency", args.max_concurrency, low=1, high=1024)
    out = Path(args.out)
    target = check_out_dir(out, "pipeline")  # a user's directory is refused before anything
    config = load_config(args.config) if args.config else None
    if config is None and not (out / "pipeline.json").exists():
        raise PertoolError(f"{out} has no pipeline yet: give --config FILE")
    prices = read_prices(args.prices) if args.prices else None
    options = ModelOptions(base_url=args.base_url, api_key_env=args.api_key_env)
    ray = ray_settings(args)
    before = PipelineDir(out)  # to tell this run's calls from the totals in summary.json
    summary_before, done_before = before.summary(), [s for s in STAGES if before.done(s)]
    entries_before = {p.name for p in out.iterdir()} if out.is_dir() else set()
    target.make()
    lock = FileLock(out / ".lock")
    lock.acquire_now(f"{out} is being written by another `pertool synth`; wait for it to finish")
    try:
        summary = asyncio.run(run_synthesis(out, args.model, config=config, options=options, only=args.only,
                                            use_cache=not args.no_cache, concurrency=args.max_concurrency,
                                            prices=prices, show_progress=not args.no_progress,
                                            ray=ray))  # fmt: skip
    except PertoolError:  # e.g. a missing API key: a run that made nothing takes back what it wrote
        new = [p for p in out.iterdir() if p.name not in entries_before and p.name not in (MARKER, ".lock")]
        if not any(p.name.startswith(".done-") or (p.suffix == ".jsonl" and p.stat().st_size) for p in new):
            lock.release(remove=True)
            target.discard(new)
        raise
    except KeyboardInterrupt:
        return signals.interrupted(f"finished records are saved. Run the same command again to resume "
                                   f"({out})")  # fmt: skip
    finally:
        lock.release()
    print(format_synth_summary(summary_before, summary, done_before))
    # A ToolSpectrum-mode dataset is scored by the ToolSpectrum scorer, from its own layout.
    ts_mode = PipelineDir(out).config().environment
    spec = f"toolspectrum:all --data-dir {out / 'toolspectrum'}" if ts_mode else f"dataset:{out}"
    print(f"\nsummary: {out / 'summary.json'}; evaluate with --benchmark {spec}")
    return 0
