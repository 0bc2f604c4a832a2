"""`pertool eval`: run a model on a benchmark, write a run directory, print the scores."""

from __future__ import annotations

import argparse
import json
import sys

from pertool.cli import DATA_DIR_HELP
from pertool.cli.log_to import add_log_to
from pertool.scoring.defaults import DEFAULT_RESAMPLES

HELP = ("run a model on a benchmark (concurrent, cached, resumable) and score it; with no "
        "arguments, baseline/history on the built-in test split")

# Options saved in config.json; with --resume they come from there and may not be given again
# (--no-cache may: it makes this resume ask the model again without reading or writing the cache).
_CONFIG_OPTIONS = (
    "benchmark", "model", "base_url", "api_key_env", "adapter", "vllm_args", "llamacpp_args", "tool_mode",
    "chat_format", "temperature", "max_tokens", "limit", "compat", "timeout", "max_attempts", "backoff_cap",
    "batch_size", "prices", "resamples", "seed", "profile_view", "data_dir", "train", "deadline",
    "max_response_mb",
)  # fmt: skip


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("eval", help=HELP, description=HELP + ". Model specs: openai/<model>, "
                            "openai-compatible/<model> (--base-url), litellm/<provider>/<model>, "
                            "hf/<path>, vllm/<path>, llamacpp/<name or path.gguf>, oracle, "
                            "replay/<predictions.jsonl>.")  # fmt: skip
    add_run_options(p, out_help="run directory (default: runs/<time>-<model>)")
    p.add_argument("--resume", metavar="DIR",
                   help="finish an interrupted run; settings come from its config.json")
    p.add_argument("--json", action="store_true", help="print metrics as JSON instead of tables")
    p.add_argument("--profile-view", choices=["all", "no-basic", "no-history", "none", "persona-only",
                                              "environment-only"],
                   help="what the model sees of the user (ablation; default all; persona-only and "
                   "environment-only are ToolSpectrum's conditions; on PEToolBench no-history hides the "
                   "interaction history)")  # fmt: skip
    add_executor_options(p)
    add_log_to(p)
    p.set_defaults(run=run)


# Where the model runs; changes no result, so a resume may change these (like --max-concurrency).
_EXECUTOR_OPTIONS = ("executor", "ray_address", "replicas", "replica_cpus", "replica_gpus")


def add_executor_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--executor", choices=["local", "ray"],
                   help="where the model runs: local (default, this process) or ray (replica actors on a "
                   "Ray cluster; extra `ray`); the driver writes the run directory either way")  # fmt: skip
    p.add_argument("--ray-address", metavar="ADDR",
                   help="Ray cluster to join (HOST:PORT, ray://HOST:PORT, or auto: RAY_ADDRESS or the "
                   "cluster running here; default: start a local Ray for this run)")  # fmt: skip
    p.add_argument("--replicas", type=int, help="model replicas, one Ray actor each (default 1)")
    p.add_argument("--replica-cpus", type=float, metavar="F", help="CPUs reserved per replica")
    p.add_argument("--replica-gpus", type=float, metavar="F", help="GPUs per replica (1: an hf/ model each)")


def add_run_options(p: argparse.ArgumentParser, *, out_help: str) -> None:
    """The benchmark, model, backend, sampling and scoring options of a run (`eval`, `ablate`)."""
    p.add_argument("--benchmark", help="benchmark spec (default: builtin, the built-in test split): "
                   "builtin[:train], builtin-mini[:train], dataset:DIR, example, ptbench[:PATH], "
                   "toolspectrum:SUBSET, petoolbench[:SETTING]")
    p.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)
    p.add_argument("--model", help="model spec (default: baseline/history), e.g. openai/gpt-4o")
    p.add_argument("--out", metavar="DIR", help=out_help)
    p.add_argument("--limit", type=int, help="only N samples: a sample drawn with --seed, stratified "
                   "by split (proportional), in the benchmark's order")
    p.add_argument("--max-concurrency", type=int, help="requests in flight at once (default 8)")
    p.add_argument("--order", choices=["prefix", "file", "shuffled"],
                   help="order requests are sent in: prefix (default) puts prompts that share a prefix "
                   "together, for a server's prefix cache; file keeps the benchmark's order; shuffled is "
                   "a seeded random order (--seed), a baseline for measuring the cache. Changes no "
                   "result")  # fmt: skip
    p.add_argument("--base-url", help="server URL for openai-compatible/ (e.g. http://127.0.0.1:8000/v1)")
    p.add_argument("--api-key-env", metavar="VAR", help="NAME of the environment variable holding the key")
    p.add_argument("--adapter", metavar="PATH", help="LoRA adapter for hf/ and vllm/")
    p.add_argument("--vllm-args", help="extra flags for `vllm serve`, as one string")
    p.add_argument("--llamacpp-args", help="extra flags for llama-cpp-python's server (llamacpp/), as one "
                   "string, e.g. --llamacpp-args=\"--n_ctx 4096\"")  # fmt: skip
    p.add_argument("--tool-mode", choices=["text", "native"], help="answer format (default text)")
    p.add_argument("--chat-format", help="send raw text in this chat format (qwen, llama3, ...)")
    p.add_argument("--temperature", type=float, help="default 0 (0.1 with --compat)")
    p.add_argument("--max-tokens", type=int, help="default 512 (128 with --compat ptbench-official, 256 with "
                   "--compat petoolbench-public)")
    p.add_argument("--compat", choices=["ptbench-official", "petoolbench-public"],
                   help="the public scripts' settings and scoring")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the response cache")
    p.add_argument("--timeout", type=float, help="longest silence from the server, seconds (default 120)")
    p.add_argument("--deadline", type=float, metavar="SECONDS",
                   help="longest whole attempt, headers and body (default twice --timeout)")
    p.add_argument("--max-response-mb", type=float, metavar="MB",
                   help="refuse a larger answer, a per-sample error (default 32)")
    p.add_argument("--max-attempts", type=int, help="attempts per request (default 6)")
    p.add_argument("--backoff-cap", type=float, help="longest wait between attempts, seconds (default 30)")
    p.add_argument("--batch-size", type=int, help="batch size of local backends (default 8; vllm-batch/: "
                   "requests per Ray Dataset, best in the hundreds)")  # fmt: skip
    p.add_argument("--train", metavar="SPEC", help="training benchmark for learned baselines "
                   "(baseline/rules; default: k-fold cross-fitting on the evaluated benchmark)")
    p.add_argument("--prices", metavar="FILE",
                   help='JSON {"input": USD per 1M tokens, "output": USD per 1M tokens} for the cost')
    p.add_argument("--resamples", type=int,
                   help=f"bootstrap resamples for the 95%% intervals (default {DEFAULT_RESAMPLES}; 0: none)")
    p.add_argument("--seed", type=int, help="seed of the bootstrap and of --limit's sample (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    from pertool.cli import signals
    from pertool.cli.checks import check_run_config, check_run_options
    from pertool.cli.log_to import log_targets
    from pertool.errors import PertoolError
    from pertool.report.terminal import format_report
    from pertool.runner.progress import retries_text
    from pertool.runner.run import default_out_dir, load_config, run_eval
    from pertool.runner.rundir import RunDir
    from pertool.urls import restore_base_url

    check_run_options(args)
    targets = log_targets(args)  # an unknown tracker or a missing package: before anything runs
    if args.resume:
        given = [f"--{o.replace('_', '-')}" for o in _CONFIG_OPTIONS
                 if o != "base_url" and getattr(args, o) not in (None, False)]  # fmt: skip
        given += ["--out"] if args.out else []
        if given:
            raise PertoolError(f"--resume takes its settings from config.json; drop {', '.join(given)}")
        run_dir = RunDir.open(Path(args.resume))
        run_dir.lock()
        try:
            config = load_config(run_dir)
            check_run_config(config, str(run_dir.path / "config.json"))
            # config.json keeps --base-url without credentials: they come back only from the user
            config.options["base_url"] = restore_base_url(config.options.get("base_url"), args.base_url)
        except BaseException:
            run_dir.unlock()
            raise
        if args.max_concurrency:
            config.max_concurrency = args.max_concurrency
        if args.order:  # this resume only, like --max-concurrency: the order changes no result
            config.order = args.order
        if args.no_cache:  # this resume only; config.json keeps the run's setting
            config.use_cache = False
        for name in _EXECUTOR_OPTIONS:  # this resume only, like --max-concurrency
            if getattr(args, name) is not None:
                setattr(config, name, getattr(args, name))
    else:
        config = config_from_args(args)
        run_dir = RunDir.create(Path(args.out) if args.out else default_out_dir(config.model),
                                config.model_dump(mode="json"), lock=True)  # fmt: skip
    try:
        report = asyncio.run(run_eval(run_dir, config, show_progress=not args.no_progress))
    except Exception:  # PertoolError, or a bug: either way an early failure leaves nothing behind
        predictions = run_dir.path / "predictions.jsonl"
        if not args.resume and (not predictions.exists() or predictions.stat().st_size == 0):
            run_dir.discard()  # nothing was run: take back what this run wrote, nothing else
        raise
    except KeyboardInterrupt:
        return signals.interrupted(f"finished samples are saved. Resume with:\n"
                                   f"  pertool eval --resume {run_dir.path}")
    finally:
        run_dir.unlock()
    metrics = json.loads((run_dir.path / "metrics.json").read_text(encoding="utf-8"))
    from pertool.benchmarks.quality import quality_warning

    if quality_warning(metrics):
        print(quality_warning(metrics), file=sys.stderr)
    failed = len(metrics["failed"])
    overflow = metrics["context_overflow"]
    too_long = overflow_line(overflow, report.answered + len(report.no_answer), metrics["context_window"])
    if (failed or overflow) and not report.answered:  # no table of zeros: nothing was answered
        errors = run_dir.path / "errors.jsonl"
        if not failed:  # asking again cannot help: every prompt is too long for the model
            print(f"pertool: error: {too_long}", file=sys.stderr)
            print(f"  ({errors}; shorter prompts, a smaller --max-tokens or a model with a larger window "
                  "would fit)", file=sys.stderr)  # fmt: skip
            return 1
        total = failed + overflow
        print(f"pertool: error: {total} of {total} requests failed; see errors.jsonl", file=sys.stderr)
        if overflow:
            print(f"  ({too_long})", file=sys.stderr)
        print(f"  ({errors}; retry with `pertool eval --resume {run_dir.path}`)", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        print(format_report(report, title=f"{config.model} on {config.benchmark} ({run_dir.path}):"))
        usage = metrics["usage"]
        cost = f", cost ${usage['cost_usd']:.4f}" if "cost_usd" in usage else ""
        retried = retries_text(usage["retries"]) if isinstance(usage.get("retries"), int) else ""
        print(f"\ntokens: {usage['input_tokens']} in, {usage['output_tokens']} out; "
              f"{usage['requests']} requests, {usage['cached']} from cache{cost}"
              + (f"; {retried}" if retried else ""))  # fmt: skip
    if overflow:
        print(f"pertool: warning: {too_long}", file=sys.stderr)
    if failed:
        print(f"pertool: warning: {failed} samples got no answer (see "
              f"{run_dir.path / 'errors.jsonl'}); retry them with `pertool eval --resume {run_dir.path}`",
              file=sys.stderr)  # fmt: skip
    if targets:  # after every file of the run is written; a failure is a warning
        from pertool.tracking.publish import log_eval

        log_eval(targets, run_dir.path, data_dir=config.data_dir)
    return 0


def overflow_line(overflow: int, total: int, window: int | None) -> str:
    """'3 of 40 samples did not fit the model's context window (8192 tokens); see errors.jsonl'."""
    size = f" ({window} tokens)" if window else ""
    return f"{overflow} of {total} samples did not fit the model's context window{size}; see errors.jsonl"


def config_from_args(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from dataclasses import asdict, replace
    from pathlib import Path

    from pydantic import ValidationError

    from pertool.errors import PertoolError
    from pertool.models.registry import ModelOptions
    from pertool.runner.run import EvalConfig, compat_sampling

    options = ModelOptions()
    overrides = {"base_url": args.base_url, "api_key_env": args.api_key_env, "adapter": args.adapter,
                 "vllm_args": args.vllm_args, "llamacpp_args": args.llamacpp_args, "timeout_s": args.timeout,
                 "max_attempts": args.max_attempts,
                 "backoff_cap_s": args.backoff_cap, "batch_size": args.batch_size, "train": args.train,
                 "deadline_s": args.deadline, "max_response_mb": args.max_response_mb,
                 "data_dir": str(Path(args.data_dir).resolve()) if args.data_dir else None}  # fmt: skip
    options = replace(options, **{k: v for k, v in overrides.items() if v is not None})
    sampling = compat_sampling(args.compat)
    from pertool.cli.checks import read_prices

    prices = read_prices(args.prices) if args.prices else None
    fields = {
        "benchmark": args.benchmark or "builtin", "model": args.model or "baseline/history",
        "options": asdict(options), "tool_mode": args.tool_mode or "text",
        "profile_view": args.profile_view or "all", "chat_format": args.chat_format,
        "data_dir": str(Path(args.data_dir).resolve()) if args.data_dir else None,
        "temperature": args.temperature if args.temperature is not None else sampling["temperature"],
        "max_tokens": args.max_tokens if args.max_tokens is not None else sampling["max_tokens"],
        "limit": args.limit,
        "max_concurrency": args.max_concurrency or 8, "order": args.order or "prefix", "compat": args.compat,
        "use_cache": not args.no_cache,
        "resamples": args.resamples if args.resamples is not None else DEFAULT_RESAMPLES,
        "seed": args.seed or 0, "prices": prices,
        **{name: getattr(args, name) for name in _EXECUTOR_OPTIONS if getattr(args, name, None) is not None},
    }  # fmt: skip
    try:
        return EvalConfig.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        option = "--" + str(first["loc"][0]).replace("_", "-")
        raise PertoolError(f"{option}: {first['msg']}") from None
