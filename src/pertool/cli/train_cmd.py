"""`pertool train`: SFT exports, LoRA training with the paper's recipe, a tiny offline model."""

from __future__ import annotations

import argparse

from pertool.cli import DATA_DIR_HELP
from pertool.cli.log_to import add_log_to

HELP = "fine-tuning kit: export SFT data, train a LoRA adapter, build a tiny test model"


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("train", help=HELP, description=HELP)
    sub = p.add_subparsers(dest="train_command", metavar="SUBCOMMAND")
    e = sub.add_parser("export", help="write SFT data (TRL, LLaMA-Factory or OpenAI format)",
                       description="Write the evaluator's prompts with the gold answers as SFT data.")
    e.add_argument("--benchmark", required=True, help="benchmark spec, e.g. builtin:train or dataset:DIR")
    e.add_argument("--format", required=True, choices=["trl", "llamafactory", "openai", "hf"],
                   help="output format (hf: a saved Hugging Face `datasets` DatasetDict of the trl records)")
    e.add_argument("--out", required=True, metavar="FILE", help="JSONL file to write (hf: a directory)")
    e.add_argument("--tool-mode", choices=["text", "native"], default="text",
                   help="gold as answer text (default) or as assistant tool_calls with a tools column")
    e.add_argument("--profile-view", default="all", metavar="VIEW",
                   help="what the prompts show of the user: all (default), no-basic, no-history, none; "
                   "ToolSpectrum: persona-only, environment-only; PEToolBench: no-history")
    e.add_argument("--allow-test", action="store_true", help="allow exporting a test split")
    e.add_argument("--limit", type=int, help="only the first N samples")
    e.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)
    e.set_defaults(run=run_export)
    t = sub.add_parser("tiny-model", help="build a tiny random Qwen2-architecture model offline",
                       description="A tiny randomly initialised Qwen2 model with a locally trained "
                       "tokenizer and chat template: for smoke tests, demos and the test suite.")
    t.add_argument("--out", required=True, metavar="DIR", help="output directory")
    t.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    t.set_defaults(run=run_tiny)
    lo = sub.add_parser("lora", help="train a LoRA adapter (TRL + peft; the `train` extra)",
                        description="LoRA SFT with the paper's recipe by default: rank 8, alpha 16, "
                        "lr 1e-4, cosine, warmup ratio 0.1, 1 epoch, all linear modules; loss on "
                        "the assistant turn only.")  # fmt: skip
    lo.add_argument("--base", required=True, metavar="PATH",
                    help="base model directory, or a bundled model's name (e.g. smollm2-135m)")
    lo.add_argument("--data", required=True, metavar="SPEC", help="training benchmark, e.g. builtin:train")
    lo.add_argument("--out", required=True, metavar="DIR", help="output directory (adapter, training.json)")
    lo.add_argument("--config", metavar="FILE", help="YAML/JSON overrides of the recipe")
    lo.add_argument("--max-steps", type=int, help="stop after N optimizer steps")
    lo.add_argument("--limit", type=int, help="train on N samples only: drawn with the recipe's seed, "
                    "stratified by split, as eval's --limit draws them")  # fmt: skip
    lo.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    lo.add_argument("--allow-test", action="store_true", help="allow training on a test split")
    lo.add_argument("--tool-mode", choices=["text", "native"], default="text", help="answer format")
    lo.add_argument("--no-progress", action="store_true",
                    help="no progress line (step, loss, tokens/s, time left) on stderr")  # fmt: skip
    add_log_to(lo)
    lo.set_defaults(run=run_lora)
    p.set_defaults(run=lambda args: p.print_help())


def run_export(args: argparse.Namespace) -> int:
    from collections import Counter
    from pathlib import Path

    from pertool.cli.checks import check_range
    from pertool.kinds import check_settings, kind_of_samples, load_benchmark, view_samples
    from pertool.outpaths import check_out_file, record_written
    from pertool.training.sft import check_trainable, read_dataset_info, write_export

    check_range("--limit", args.limit, low=1, high=10**9)
    if args.format == "hf":
        return run_hf_export(args)
    check_out_file(Path(args.out))  # a user's file is refused before anything is loaded
    if args.format == "llamafactory":
        read_dataset_info(Path(args.out).parent / "dataset_info.json")  # merged into: must be readable
    samples = load_benchmark(args.benchmark, args.data_dir)
    check_trainable(samples, args.allow_test)
    if args.limit is not None:
        samples = samples[: max(0, args.limit)]
    check_settings(kind_of_samples(samples), args.benchmark, tool_mode=args.tool_mode)
    samples = view_samples(samples, args.profile_view)
    files = write_export(samples, Path(args.out), args.format, args.tool_mode)
    record_written(Path(args.out))
    per_split = ", ".join(f"{split} {count}" for split, count in Counter(s.split for s in samples).items())
    print(f"exported {len(samples)} records in {args.format} format ({args.tool_mode} tool mode) to "
          f"{files[0]} ({per_split or 'no samples'})"
          + "".join(f"; also wrote {extra}" for extra in files[1:]))  # fmt: skip
    return 0


def run_hf_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pertool.hfdata.need import datasets_module
    from pertool.hfdata.sft import export_sft
    from pertool.kinds import check_settings, export_source, kind_of_samples, load_benchmark, view_samples
    from pertool.outpaths import check_out_dir
    from pertool.training.sft import check_trainable, sft_conversation, to_format

    target = check_out_dir(Path(args.out), "hf-sft", reuse=False)  # as `data export --format hf`
    datasets_module()
    samples = load_benchmark(args.benchmark, args.data_dir)
    check_trainable(samples, args.allow_test)
    if args.limit is not None:
        samples = samples[: max(0, args.limit)]
    kind = kind_of_samples(samples)
    check_settings(kind, args.benchmark, tool_mode=args.tool_mode)
    samples = view_samples(samples, args.profile_view)
    records = [to_format(*sft_conversation(s, args.tool_mode), "trl") for s in samples]
    source, license_note = export_source(args.benchmark)
    out = target.make()
    try:
        counts = export_sft(samples, records, out, source=source, kind=kind.name, license_note=license_note,
                            tool_mode=args.tool_mode)  # fmt: skip
    except BaseException:
        target.discard()
        raise
    per_split = ", ".join(f"{split} {count}" for split, count in counts.items())
    print(f"exported {len(samples)} records in hf format ({args.tool_mode} tool mode) to {out} "
          f"({per_split}); load with datasets.load_from_disk")  # fmt: skip
    return 0


def run_tiny(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pertool.cli.checks import check_run_options
    from pertool.errors import PertoolError
    from pertool.outpaths import check_out_dir

    check_run_options(args)  # --seed
    target = check_out_dir(Path(args.out), "tiny-model")  # never over a user's (model) directory
    try:
        from pertool.training.tiny_model import build_tiny_model
    except ImportError:
        raise PertoolError("the tiny model needs the `hf` extra: pip install 'pertool[hf]'") from None
    path = build_tiny_model(target.make(), seed=args.seed)
    print(f"tiny Qwen2 model written to {path}")
    return 0


def run_lora(args: argparse.Namespace) -> int:
    import shlex
    from pathlib import Path

    from pertool.cli import signals
    from pertool.cli.checks import check_range
    from pertool.cli.log_to import log_targets
    from pertool.errors import PertoolError
    from pertool.locking import FileLock
    from pertool.outpaths import check_out_dir
    from pertool.training.lora import train_lora

    check_range("--limit", args.limit, low=1, high=10**9)
    check_range("--max-steps", args.max_steps, low=1, high=10**9)
    targets = log_targets(args)  # an unknown tracker or a missing package: before anything runs
    target = check_out_dir(Path(args.out), "lora")  # a user's directory is refused up front
    base = _base_model(args.base)  # a bundled name: its checkpoint, prepared now if need be
    target.make()
    lock = FileLock(Path(args.out) / ".lock")
    lock.acquire_now(f"{args.out} is being written by another `pertool train lora`; wait for it to finish")
    try:
        result = train_lora(base, args.data, args.out, config_file=args.config, max_steps=args.max_steps,
                            limit=args.limit, resume=args.resume, allow_test=args.allow_test,
                            tool_mode=args.tool_mode, show_progress=not args.no_progress)  # fmt: skip
    except PertoolError:
        lock.release(remove=True)
        target.discard()  # only the marker and a directory left empty: checkpoints stay
        raise
    except KeyboardInterrupt:
        command = ["pertool", "train", "lora", "--base", args.base, "--data", args.data, "--out", args.out]
        for option, value in (("--config", args.config), ("--max-steps", args.max_steps),
                              ("--limit", args.limit), ("--tool-mode", args.tool_mode)):  # fmt: skip
            command += [option, str(value)] if value is not None else []
        command += ["--allow-test"] if args.allow_test else []
        return signals.interrupted("saved checkpoints are kept. Resume with:\n  "
                                   + shlex.join([*command, "--resume"]))
    finally:
        lock.release()
    losses = result["loss_history"]
    first, last = (losses[0]["loss"], losses[-1]["loss"]) if losses else (float("nan"), float("nan"))
    print(f"adapter written to {args.out} ({result['steps']} steps, loss {first:.3f} -> {last:.3f}); "
          f"evaluate with: pertool eval --model hf/{args.base} --adapter {args.out}")
    if targets:  # the losses per logged step and the final figures, after training.json is written
        from pertool.tracking.publish import log_training

        log_training(targets, Path(args.out), result)
    return 0


def _base_model(base: str) -> str:
    """`--base`: a model directory, or a bundled model's name (`pertool models list`)."""
    import sys

    from pertool.models.bundled import resolve_hf_path

    return resolve_hf_path(base, report=lambda line: print(line, file=sys.stderr, flush=True))
