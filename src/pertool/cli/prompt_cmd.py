"""`pertool prompt`: show the prompt a model gets for one sample."""

from __future__ import annotations

import argparse
import json

HELP = "print the prompt of one sample (chat messages, or raw text in a chat format)"


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("prompt", help=HELP, description=HELP)
    p.add_argument("--benchmark", default="example", help="benchmark spec (default: example)")
    p.add_argument("--id", required=True, help="sample id, e.g. trained:0")
    p.add_argument("--data-dir", metavar="DIR", help="ToolSpectrum data directory")
    p.add_argument("--chat-format", help="qwen, llama3, mistral, deepseek-r1, hammer or xlam; "
                   "default: the chat messages as JSON")
    p.add_argument("--profile-view", choices=["all", "no-basic", "no-history", "none"], default="all",
                   help="what the model sees of the user (default all)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pertool.benchmarks.ptbench_prompts import chat_messages, raw_prompt
    from pertool.benchmarks.registry import load_benchmark
    from pertool.benchmarks.views import apply_profile_view
    from pertool.errors import PertoolError

    loaded = load_benchmark(args.benchmark, args.data_dir)
    samples = {s.id: s for s in apply_profile_view(loaded, args.profile_view)}
    if args.id not in samples:
        raise PertoolError(f"no sample {args.id!r} in {args.benchmark} ({len(samples)} samples)")
    sample = samples[args.id]
    if sample.benchmark == "toolspectrum":
        from pertool.benchmarks.toolspectrum_prompts import toolspectrum_prompt

        print(toolspectrum_prompt(sample))
    elif args.chat_format:
        try:
            print(raw_prompt(sample, args.chat_format))
        except ValueError as exc:
            raise PertoolError(str(exc)) from None
    else:
        print(json.dumps(chat_messages(sample), indent=2, ensure_ascii=False))
    return 0
